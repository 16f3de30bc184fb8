"""template.yaml for tests: the same loader and resource builder the local stack uses."""

from __future__ import annotations

from typing import Any

from chainpress_dev.local.template import (
    S3Subscription,
    TemplateError,
    create_resources,
    filter_matches,
    function_policy_actions,
    function_policy_statements,
    load_template,
    parse_template,
    physical_name,
    s3_subscriptions,
    stream_filter_patterns,
)
from tests.support.paths import ROOT

TEMPLATE_PATH = ROOT / "template.yaml"


def template() -> dict[str, Any]:
    """A fresh copy of template.yaml (short tags in their long form)."""
    return load_template(TEMPLATE_PATH)


__all__ = [
    "TEMPLATE_PATH",
    "S3Subscription",
    "TemplateError",
    "create_resources",
    "filter_matches",
    "function_policy_actions",
    "function_policy_statements",
    "load_template",
    "parse_template",
    "physical_name",
    "s3_subscriptions",
    "stream_filter_patterns",
    "template",
]
