"""Build the AWS resources tests need from template.yaml itself (no drift from production)."""

from __future__ import annotations

from chainpress.aws import clients
from chainpress.local.template import create_resources, load_template
from tests.support.paths import ROOT


def create_stack() -> dict[str, str]:
    """Create every bucket and table of template.yaml in the current (moto) endpoint;
    returns logical ID -> physical name."""
    template = load_template(ROOT / "template.yaml")
    return create_resources(clients.s3(), clients.dynamodb(), template)
