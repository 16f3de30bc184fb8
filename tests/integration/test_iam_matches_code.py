"""Each function's IAM policy in template.yaml allows every AWS action its code calls, and
nothing it never calls (beyond a short, explained list).

The handlers run their real scenarios on moto while every botocore API call is recorded, then the
calls are mapped to IAM actions and compared with ``function_policy_actions``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote_plus

import botocore.client
import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress_dev.local.template import function_policy_actions, load_template
from functions.publish import app as publish_app
from functions.rebuild import app as rebuild_app
from functions.rerender import app as rerender_app
from functions.trending import app as trending_app
from functions.views import app as views_app
from tests.support.aws import create_distribution, create_stack
from tests.support.events import load_event
from tests.support.images import png
from tests.support.lambda_context import Context
from tests.support.paths import ROOT
from tests.support.rerender import work_queue

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

# Granted but not called by our code, on purpose:
EXPECTED_EXTRAS = {
    # A HEAD of a missing key answers 404 (not 403) only with ListBucket.
    "s3:ListBucket",
    # The failure destinations: Lambda itself sends with the function's role.
    "sqs:SendMessage",
}


# What Lambda's SQS event source does with the function's role (SAM grants these through
# AWSLambdaSQSQueueExecutionRole); the local event source makes the same calls in this process.
SQS_EVENT_SOURCE = {
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "GetQueueAttributes",
}


def iam_actions(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions one API call needs."""
    if service == "sqs":
        if operation in SQS_EVENT_SOURCE:
            return set()
        return {"sqs:SendMessage" if operation == "SendMessageBatch" else f"sqs:{operation}"}
    if service == "s3":
        versioned = "VersionId" in params
        if operation in {"GetObject", "HeadObject"}:
            return {"s3:GetObjectVersion" if versioned else "s3:GetObject"}
        if operation == "ListObjectsV2":
            return {"s3:ListBucket"}
        if operation == "ListObjectVersions":
            return {"s3:ListBucketVersions"}
        return {f"s3:{operation}"}
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            kinds = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
            }
            return {f"dynamodb:{kinds[k]}" for item in params["TransactItems"] for k in item}
        if operation == "TransactGetItems":
            return {"dynamodb:GetItem"}
        return {f"dynamodb:{operation}"}
    return {f"{service}:{operation}"}


class Recorder:
    def __init__(self) -> None:
        self.actions: set[str] = set()

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.endpoint_prefix
            self.actions |= iam_actions(service, operation, params)
            return original(client, operation, params)

        return call


@dataclasses.dataclass
class Stack:
    names: dict[str, str]
    sequence: int = 0x10

    def s3_event(self, name: str, key: str, data: bytes | None) -> dict[str, Any]:
        s3 = clients.s3()
        bucket = self.names["ContentBucket"]
        if data is None:
            answer = s3.delete_object(Bucket=bucket, Key=key)
        else:
            answer = s3.put_object(Bucket=bucket, Key=key, Body=data)
        self.sequence += 1
        event = load_event(name)
        record = event["Records"][0]
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["object"].update(
            key=quote_plus(key, safe="/"),
            versionId=answer["VersionId"],
            sequencer=f"{self.sequence:X}",
            size=len(data or b""),
        )
        return event

    def stream_records(self) -> list[dict[str, Any]]:
        table = clients.dynamodb().describe_table(TableName=self.names["ArticlesTable"])
        streams = clients.dynamodbstreams()
        arn = table["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records += streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        return [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"].startswith("article#")]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        clients.reset()
        names = create_stack()
        env = {
            "CONTENT_BUCKET": "ContentBucket",
            "SITE_BUCKET": "SiteBucket",
            "ARTICLES_TABLE": "ArticlesTable",
            "VIEWS_TABLE": "ViewsTable",
            "RERENDER_QUEUE_URL": "RerenderQueue",
            "PREVIEW_KEY_SECRET": "PreviewKey",
        }
        for var, logical in env.items():
            monkeypatch.setenv(var, names[logical])
        monkeypatch.setenv("DISTRIBUTION_ID", create_distribution(names["SiteBucket"]))
        monkeypatch.setenv("ORIGIN_SECRET_ARN", names["OriginVerifySecret"])
        for cached in (views_app.ports, trending_app.ports, rerender_app.rerender_ports):
            cached.cache_clear()
        yield Stack(names)
        for cached in (views_app.ports, trending_app.ports, rerender_app.rerender_ports):
            cached.cache_clear()
    clients.reset()


def article(title: str, date: str, extra: str = "") -> bytes:
    return (
        f"---\ntitle: {title}\ndate: {date}\ncategory: bitcoin\ntags: [ETF, 链圈]\n{extra}---\n\n"
        f"{title} body text. ![chart](/media/chart.png)\n"
    ).encode()


def run_recorded(scenario: Callable[[], None]) -> set[str]:
    recorder = Recorder()
    with pytest.MonkeyPatch.context() as patch:
        original = botocore.client.BaseClient._make_api_call
        patch.setattr(botocore.client.BaseClient, "_make_api_call", recorder.wrap(original))
        scenario()
    return recorder.actions


def granted(logical_id: str) -> set[str]:
    return function_policy_actions(load_template(ROOT / "template.yaml"), logical_id)


def check(logical_id: str, called: set[str]) -> None:
    allowed = granted(logical_id)
    assert called - allowed == set(), f"{logical_id} calls actions its role lacks"
    assert allowed - called - EXPECTED_EXTRAS == set(), f"{logical_id} is granted unused actions"


def publish_scenario(stack: Stack) -> Callable[[], None]:
    def scenario() -> None:
        deliver = publish_app.lambda_handler
        deliver(stack.s3_event("s3_settings_put.json", "site.yaml", b"name: Test\n"), Context())
        theme = b"{% extends 'base.html' %}"
        deliver(stack.s3_event("s3_article_put.json", "theme/404.html", theme), Context())
        # A real image: its WebP variants and record are written (and its users read).
        chart = png(1000, 500)
        deliver(stack.s3_event("s3_media_put.json", "media/chart.png", chart), Context())
        key = "articles/2024/链圈 news.md"
        deliver(stack.s3_event("s3_article_put.json", key, article("A", "2024-05-01")), Context())
        other = article("B", "2024-05-02", "aliases: [/old/b/]\n")
        deliver(stack.s3_event("s3_article_put.json", "articles/b.md", other), Context())
        third = article("D", "2024-05-03")
        deliver(stack.s3_event("s3_article_put.json", "articles/d.md", third), Context())
        deliver(
            stack.s3_event("s3_article_put.json", "articles/c.md", b"no front matter"), Context()
        )
        # A draft: a signed preview (the key is read from Secrets Manager), then published.
        # (No category or tags: it relates to nothing, so the relink steps below stay two.)
        draft = b"---\ntitle: E\ndate: 2024-05-04\ndraft: true\n---\n\nE.\n"
        deliver(stack.s3_event("s3_article_put.json", "articles/e.md", draft), Context())
        live = draft.replace(b"draft: true\n", b"")
        deliver(stack.s3_event("s3_article_put.json", "articles/e.md", live), Context())
        deliver(stack.s3_event("s3_article_delete.json", key, None), Context())
        deliver(stack.s3_event("s3_article_delete.json", "media/chart.png", None), Context())
        deliver(stack.s3_event("s3_article_delete.json", "theme/404.html", None), Context())

    return scenario


def test_publish_role_matches_its_calls(stack: Stack) -> None:
    check("PublishFunction", run_recorded(publish_scenario(stack)))


def test_rebuild_role_matches_its_calls(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_scenario(stack)()
    records = stack.stream_records()
    assert records, "publishing produced no stream records"
    # A page of the removed article still there (a late write): rebuild takes it down.
    clients.s3().put_object(
        Bucket=stack.names["SiteBucket"], Key="articles/链圈-news/index.html", Body=b"stale"
    )
    # Two pages link the removed article, one per step: a cursor is left, then removed.
    # (Records written before related lists were computed at render time kept a reverse index,
    # ``relatedby#<A>`` items; the rebuild still serves it.)
    for linking in ("b", "d"):
        item = {"pk": {"S": "relatedby#链圈-news"}, "sk": {"S": linking}}
        clients.dynamodb().put_item(TableName=stack.names["ArticlesTable"], Item=item)
    monkeypatch.setenv("RELINK_LIMIT", "1")

    def relink_records() -> list[dict[str, Any]]:
        return [r for r in stack.stream_records() if r["dynamodb"]["Keys"]["sk"]["S"] == "relink"]

    def batch(records: list[dict[str, Any]]) -> Callable[[], None]:
        def scenario() -> None:
            result = rebuild_app.lambda_handler({"Records": records}, Context())
            assert result["batchItemFailures"] == []

        return scenario

    def rebuild_all() -> None:
        rebuild_app.lambda_handler({"action": "rebuild-all"}, Context())
        rebuild_app.lambda_handler({"action": "flush-invalidations"}, Context())

    called = run_recorded(batch(records))
    steps = relink_records()  # moto: an UpdateItem that creates an item gives two INSERTs
    assert {r["eventName"] for r in steps} == {"INSERT"}
    called |= run_recorded(batch(steps))
    assert relink_records()[-1]["eventName"] == "REMOVE"  # done: the cursor is gone
    called |= run_recorded(rebuild_all)
    check("RebuildFunction", called)

    # The runs rebuild-all started, worked through by the rerender function; a page of the
    # removed article is there again (a late write): the re-render takes it down.
    clients.s3().put_object(
        Bucket=stack.names["SiteBucket"], Key="articles/链圈-news/index.html", Body=b"stale"
    )
    queue = work_queue(stack.names, report=lambda message: None)

    def rerender() -> None:
        assert queue.drain()

    check("RerenderFunction", run_recorded(rerender))
    assert queue.events > 3


def test_views_and_trending_roles_match_their_calls(stack: Stack) -> None:
    key = "articles/live.md"
    publish_app.lambda_handler(
        stack.s3_event("s3_article_put.json", key, article("Live", "2024-05-01")), Context()
    )
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    publish_app.lambda_handler(
        stack.s3_event("s3_article_put.json", "articles/soon.md", article("Soon", future)),
        Context(),
    )

    secret = clients.secretsmanager().get_secret_value(SecretId=stack.names["OriginVerifySecret"])[
        "SecretString"
    ]
    views_app._read_secret.cache_clear()

    def from_cloudfront(name: str) -> dict[str, Any]:
        event = load_event(name)
        event["headers"]["x-origin-verify"] = secret  # the Distribution's OriginCustomHeaders
        return event

    def views_scenario() -> None:
        post = from_cloudfront("api_view_post.json")
        post["rawPath"] = post["requestContext"]["http"]["path"] = "/api/views/live"
        post["pathParameters"] = {"slug": "live"}
        for _ in range(3):
            assert views_app.lambda_handler(post, Context())["statusCode"] == 200
        get = from_cloudfront("api_views_get.json")
        get["rawQueryString"] = "slugs=live,other"
        get["queryStringParameters"] = {"slugs": "live,other"}
        assert views_app.lambda_handler(get, Context())["statusCode"] == 200
        hot = views_app.lambda_handler(from_cloudfront("api_hot_get.json"), Context())
        assert hot["statusCode"] == 200

    check("ViewsFunction", run_recorded(views_scenario))
    # Viewed, then taken down: trending closes its counters (UpdateItem on the views table;
    # commits no longer update items, so nothing else would show that this grant is used).
    publish_app.lambda_handler(stack.s3_event("s3_article_delete.json", key, None), Context())

    time.sleep(2.5)  # the scheduled article's time comes

    def trending_scenario() -> None:
        trending_app.lambda_handler(load_event("schedule_trending.json"), Context())

    check("TrendingFunction", run_recorded(trending_scenario))
