"""Build the AWS resources tests need from template.yaml itself (no drift from production)."""

from __future__ import annotations

from typing import Any

from chainpress.aws import clients
from chainpress_dev.local.template import create_resources, load_template
from tests.support.paths import ROOT


def create_stack() -> dict[str, str]:
    """Create every bucket, table and queue of template.yaml in the current (moto) endpoint;
    returns logical ID -> physical name (a queue's URL)."""
    template = load_template(ROOT / "template.yaml")
    return create_resources(
        clients.s3(),
        clients.dynamodb(),
        template,
        sqs_client=clients.sqs(),
        secrets_client=clients.secretsmanager(),
    )


# Function environment variable -> logical ID of the resource it names (what the template sets).
FUNCTION_ENVIRONMENT = (
    ("CONTENT_BUCKET", "ContentBucket"),
    ("SITE_BUCKET", "SiteBucket"),
    ("ARTICLES_TABLE", "ArticlesTable"),
    ("VIEWS_TABLE", "ViewsTable"),
    ("RERENDER_QUEUE_URL", "RerenderQueue"),
)


def set_function_environment(monkeypatch: Any, names: dict[str, str], **extra: str) -> None:
    """The handlers' environment for the stack ``names`` (no CDN unless ``extra`` names one)."""
    for name, logical in FUNCTION_ENVIRONMENT:
        monkeypatch.setenv(name, names[logical])
    monkeypatch.setenv("DISTRIBUTION_ID", "")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def create_distribution(site_bucket: str) -> str:
    """A CloudFront distribution in moto (invalidations complete at once); returns its id."""
    config = {
        "CallerReference": "chainpress-test",
        "Comment": "",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "site",
                    "DomainName": f"{site_bucket}.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "site",
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
    }
    answer = clients.cloudfront().create_distribution(DistributionConfig=config)
    return str(answer["Distribution"]["Id"])
