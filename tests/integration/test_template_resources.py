"""create_resources builds template.yaml's buckets and tables in moto exactly as declared."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.template import (
    TemplateError,
    create_resources,
    filter_matches,
    physical_name,
    stream_filter_patterns,
    template,
)

NAMES = {
    "ContentBucket": "chainpress-content",
    "SiteBucket": "chainpress-site",
    "ArticlesTable": "chainpress-articles",
    "ViewsTable": "chainpress-views",
}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "s3": boto3.client("s3", region_name="us-east-1"),
            "dynamodb": boto3.client("dynamodb", region_name="us-east-1"),
            "streams": boto3.client("dynamodbstreams", region_name="us-east-1"),
        }


@pytest.fixture
def names(aws: dict[str, Any]) -> dict[str, str]:
    return create_resources(aws["s3"], aws["dynamodb"], template())


def test_names_are_derived_from_logical_ids(names: dict[str, str]) -> None:
    assert names == NAMES
    assert physical_name("ContentBucket", "test") == "test-content"
    assert physical_name("SiteOriginAccessControl") == "chainpress-site-origin-access-control"


def test_content_bucket_versioned_private_encrypted(
    aws: dict[str, Any], names: dict[str, str]
) -> None:
    s3 = aws["s3"]
    content = names["ContentBucket"]
    assert s3.get_bucket_versioning(Bucket=content)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=content)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    assert rule["Status"] == "Enabled"
    # Versioning works the way publish relies on: each write has its own version id.
    first = s3.put_object(Bucket=content, Key="articles/a.md", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=content, Key="articles/a.md", Body=b"two")["VersionId"]
    assert first != second
    old = s3.get_object(Bucket=content, Key="articles/a.md", VersionId=first)
    assert old["Body"].read() == b"one"


def test_site_bucket_not_versioned(aws: dict[str, Any], names: dict[str, str]) -> None:
    status = aws["s3"].get_bucket_versioning(Bucket=names["SiteBucket"]).get("Status")
    assert status in (None, "")


@pytest.mark.parametrize("bucket", ["ContentBucket", "SiteBucket"])
def test_buckets_blocked_and_encrypted(
    aws: dict[str, Any], names: dict[str, str], bucket: str
) -> None:
    s3 = aws["s3"]
    block = s3.get_public_access_block(Bucket=names[bucket])["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = s3.get_bucket_encryption(Bucket=names[bucket])["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def _keys(description: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]]


def test_articles_table(aws: dict[str, Any], names: dict[str, str]) -> None:
    dynamodb = aws["dynamodb"]
    table = dynamodb.describe_table(TableName=names["ArticlesTable"])["Table"]
    assert _keys(table) == [("pk", "HASH"), ("sk", "RANGE")]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert not table.get("GlobalSecondaryIndexes")
    assert table["SSEDescription"]["Status"] == "ENABLED"
    ttl = dynamodb.describe_time_to_live(TableName=names["ArticlesTable"])
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    backups = dynamodb.describe_continuous_backups(TableName=names["ArticlesTable"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_views_table(aws: dict[str, Any], names: dict[str, str]) -> None:
    dynamodb = aws["dynamodb"]
    table = dynamodb.describe_table(TableName=names["ViewsTable"])["Table"]
    assert _keys(table) == [("pk", "HASH"), ("sk", "RANGE")]
    assert not table.get("StreamSpecification", {}).get("StreamEnabled", False)
    ttl = dynamodb.describe_time_to_live(TableName=names["ViewsTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_stream_filter_on_real_records(aws: dict[str, Any], names: dict[str, str]) -> None:
    """moto's stream records, filtered with the template's pattern: only article#/site pass."""
    dynamodb, streams = aws["dynamodb"], aws["streams"]
    table = names["ArticlesTable"]
    for pk, sk in [
        ("article#hello", "article"),
        ("source#articles/hello.md", "source"),
        ("list#home", "2024-01-01#hello"),
        ("head#home", "head"),
        ("site", "settings"),
    ]:
        dynamodb.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": sk}})
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert len(records) == 5
    (pattern,) = stream_filter_patterns(template(), "RebuildFunction")
    passed = [r["dynamodb"]["Keys"]["pk"]["S"] for r in records if filter_matches(pattern, r)]
    assert passed == ["article#hello", "site"]


def test_create_resources_is_idempotent(aws: dict[str, Any], names: dict[str, str]) -> None:
    again = create_resources(aws["s3"], aws["dynamodb"], template())
    assert again == names
    listed = {b["Name"] for b in aws["s3"].list_buckets()["Buckets"]}
    assert listed == {names["ContentBucket"], names["SiteBucket"]}


def test_unknown_property_refused(aws: dict[str, Any]) -> None:
    data = copy.deepcopy(template())
    data["Resources"]["SiteBucket"]["Properties"]["WebsiteConfiguration"] = {
        "IndexDocument": "index.html"
    }
    with pytest.raises(TemplateError, match="WebsiteConfiguration"):
        create_resources(aws["s3"], aws["dynamodb"], data)


def test_unresolvable_intrinsic_refused(aws: dict[str, Any]) -> None:
    data = copy.deepcopy(template())
    data["Resources"]["ViewsTable"]["Properties"]["BillingMode"] = {
        "Fn::If": ["Prod", "PAY_PER_REQUEST", "PROVISIONED"]
    }
    with pytest.raises(TemplateError, match="ViewsTable"):
        create_resources(aws["s3"], aws["dynamodb"], data)
