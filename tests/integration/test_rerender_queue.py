"""Full re-renders on moto, through the real handlers: a theme upload goes publish -> articles
table stream -> rebuild (starts a run, returns) -> the SQS work queue -> rerender, delivered by
the template's SQS event source (BatchSize, ReportBatchItemFailures, redrive to the DLQ)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Iterator
from importlib import resources
from typing import Any
from urllib.parse import quote_plus

import botocore.client
import pytest
from moto import mock_aws

import chainpress.rerender
from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.aws.runs import DynamoRerenderRuns
from chainpress.aws.views_store import DynamoHotLists
from chainpress.model import Article, pad_sequencer
from chainpress.paging import Paging
from chainpress.ports import ArticleChange, Run, SourceState, body_key
from chainpress.rebuilding import RebuildPorts, rebuild_all
from chainpress.settings import SiteSettings
from chainpress_dev.local.endpoint import speed_up_moto
from chainpress_dev.local.sqs import SqsEventSource
from chainpress_dev.memory import InMemorySiteWriter
from functions.publish import app as publish_app
from functions.rebuild import app as rebuild_app
from functions.rerender import app as rerender_app
from tests.support.aws import create_distribution, create_stack
from tests.support.events import load_event
from tests.support.lambda_context import Context
from tests.support.rerender import work_queue

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

BASE = resources.files("chainpress").joinpath("theme/templates/base.html").read_text()
SETTINGS = (
    b"name: Fan-out Circle\npage_size: 5\ncategories:\n  - bitcoin: Bitcoin\n  - wallet: Wallet\n"
)


def theme(version: str) -> bytes:
    return BASE.replace("</body>", f"<!-- theme {version} --></body>").encode()


def bulk_articles(count: int) -> list[Article]:
    rng = random.Random(11)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    return [
        Article(
            slug=f"bulk-{i:03d}",
            title=f"Bulk story {i}",
            date=start + dt.timedelta(minutes=rng.randrange(0, 500_000)),
            source_key=f"articles/bulk-{i:03d}.md",
            content_hash=str(i),
            category=rng.choice(["bitcoin", "wallet", "exchange"]),
            tags=tuple(rng.sample(["etf", "mining", "defi", "nft"], rng.randint(0, 2))),
            status="draft" if i % 25 == 0 else "live",
        )
        for i in range(count)
    ]


class Stack:
    """template.yaml's buckets, tables and queues in moto, and the handlers wired like Lambda."""

    def __init__(self, names: dict[str, str], distribution: str) -> None:
        self.names = names
        self.distribution = distribution
        self.s3 = clients.s3()
        self.ddb = clients.dynamodb()
        self.table = names["ArticlesTable"]
        self.bucket = names["SiteBucket"]
        self.runs = DynamoRerenderRuns(self.table, self.ddb)
        self.queue: SqsEventSource = work_queue(names, report=lambda message: None)
        self.sequence = 0x10
        streams = clients.dynamodbstreams()
        arn = self.ddb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self.streams, self.stream_arn = streams, arn
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.iterators = {
            s["ShardId"]: streams.get_shard_iterator(
                StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for s in shards
        }

    def load(self, articles: list[Article]) -> None:
        """Articles committed as publish commits them (oldest first, sitemap shards of 50 so
        that a few hundred make several), each body in the site bucket; the stream so far is
        read and dropped: bulk loading is not what is tested."""
        store = DynamoArticleStore(self.table, self.ddb)
        paging = dataclasses.replace(Paging.of(SiteSettings.from_yaml(SETTINGS)), shard_size=50)
        for article in sorted(articles, key=lambda a: a.sort_key):
            status = "published" if article.status == "live" else article.status
            source = SourceState(article.source_key, pad_sequencer("1"), article.slug, status)
            store.commit(ArticleChange(source, article, None, paging=paging))
            body = f"<p>{article.title}</p>".encode()
            self.s3.put_object(Bucket=self.bucket, Key=body_key(article.slug), Body=body)
        self.records()

    def upload(self, key: str, data: bytes) -> None:
        """An editor's upload, and the publish function's handling of its S3 event."""
        content = self.names["ContentBucket"]
        answer = self.s3.put_object(Bucket=content, Key=key, Body=data)
        self.sequence += 1
        event = load_event("s3_settings_put.json" if key == "site.yaml" else "s3_article_put.json")
        record = event["Records"][0]
        record["s3"]["bucket"].update(name=content, arn=f"arn:aws:s3:::{content}")
        record["s3"]["object"].update(
            key=quote_plus(key, safe="/"),
            versionId=answer["VersionId"],
            sequencer=f"{self.sequence:X}",
            size=len(data),
        )
        publish_app.lambda_handler(event, Context())

    def records(self) -> list[dict[str, Any]]:
        """New stream records the rebuild function's filter lets through, in Lambda's shape."""
        found: list[dict[str, Any]] = []
        for shard, iterator in list(self.iterators.items()):
            while True:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = answer["NextShardIterator"]
                for raw in answer["Records"]:
                    stream = dict(raw["dynamodb"])
                    stream["ApproximateCreationDateTime"] = int(
                        stream["ApproximateCreationDateTime"].timestamp()
                    )
                    if stream["Keys"]["pk"]["S"].startswith("article#") or stream["Keys"]["pk"][
                        "S"
                    ] in ("site",):
                        found.append(dict(raw, dynamodb=stream, eventSourceARN=self.stream_arn))
                if not answer["Records"]:
                    break
            self.iterators[shard] = iterator
        return found

    def rebuild(self) -> dict[str, Any]:
        result: dict[str, Any] = rebuild_app.lambda_handler({"Records": self.records()}, Context())
        return result

    def run(self) -> Run:
        run = self.runs.get()
        assert run is not None
        return run

    def objects(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                found[key] = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return found

    def html_pages(self) -> dict[str, bytes]:
        """Every public HTML page (not the private article bodies)."""
        objects = self.objects().items()
        return {k: v for k, v in objects if k.endswith(".html") and not k.startswith("_internal/")}

    def invalidations(self) -> list[list[str]]:
        cloudfront = clients.cloudfront()
        listing = cloudfront.list_invalidations(DistributionId=self.distribution)
        paths = []
        for item in listing["InvalidationList"].get("Items", []):
            done = cloudfront.get_invalidation(DistributionId=self.distribution, Id=item["Id"])
            paths.append(done["Invalidation"]["InvalidationBatch"]["Paths"]["Items"])
        return paths


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    speed_up_moto()  # moto sorts the whole table for every Query otherwise
    with mock_aws():
        clients.reset()
        rerender_app.rerender_ports.cache_clear()
        names = create_stack()
        for name, logical in (
            ("CONTENT_BUCKET", "ContentBucket"),
            ("SITE_BUCKET", "SiteBucket"),
            ("ARTICLES_TABLE", "ArticlesTable"),
            ("VIEWS_TABLE", "ViewsTable"),
            ("RERENDER_QUEUE_URL", "RerenderQueue"),
        ):
            monkeypatch.setenv(name, names[logical])
        distribution = create_distribution(names["SiteBucket"])
        monkeypatch.setenv("DISTRIBUTION_ID", distribution)
        # Small chunks: a few hundred articles make dozens of work items and a tree of them.
        for name, value in (
            ("RERENDER_CHUNK_ARTICLES", "20"),
            ("RERENDER_LISTING_PAGES", "4"),
            ("RERENDER_SHARDS", "2"),
            ("SITEMAP_SHARD_SIZE", "50"),
            ("RERENDER_MAX_RECEIVES", "3"),
        ):
            monkeypatch.setenv(name, value)
        site = Stack(names, distribution)
        site.upload("site.yaml", SETTINGS)
        site.rebuild()
        assert site.queue.drain()  # the first run: the empty site
        yield site
        rerender_app.rerender_ports.cache_clear()
    clients.reset()


def serial_site(stack: Stack) -> dict[str, bytes]:
    """What ``rebuild_all`` renders from the same table and bodies (in memory)."""
    site = InMemorySiteWriter()
    for key, data in stack.objects().items():
        if key.startswith("_internal/bodies/"):
            site.write(key, data, "text/html", "x")
    store = DynamoArticleStore(stack.table, stack.ddb)
    hot = DynamoHotLists(stack.names["ViewsTable"], stack.ddb)
    rebuild_all(RebuildPorts(store, site, hot, shard_size=50), dt.datetime.now(dt.UTC))
    return {key: stored.data for key, stored in site.objects.items()}


def test_a_theme_upload_rerenders_every_page_through_the_fanout(stack: Stack) -> None:
    stack.load(bulk_articles(200))
    before = len(stack.invalidations())
    stack.upload("theme/base.html", theme("v1"))
    assert stack.rebuild() == {"batchItemFailures": []}
    assert stack.run().state == "running"

    assert stack.queue.drain()
    run = stack.run()
    assert (run.state, run.number, run.failed) == ("done", 2, ())
    assert run.done == run.total > 40  # dozens of chunks
    pages = stack.html_pages()
    assert len(pages) > 250
    assert all(b"<!-- theme v1 -->" in data for data in pages.values())
    assert stack.objects() == serial_site(stack)  # byte-identical to the serial rebuild
    assert stack.invalidations()[before:] == [["/*"]]  # one invalidation for the run


def test_a_chunk_that_fails_once_is_retried_and_the_site_converges(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.load(bulk_articles(60))
    real = chainpress.rerender.write_article_page
    failures: list[str] = []

    def flaky(site: Any, theme_: Any, store: Any, article: Article) -> bool:
        if article.slug == "bulk-037" and not failures:
            failures.append(article.slug)
            raise RuntimeError("S3 is having a moment")
        return real(site, theme_, store, article)

    monkeypatch.setattr(chainpress.rerender, "write_article_page", flaky)
    stack.upload("theme/base.html", theme("v1"))
    stack.rebuild()
    assert stack.queue.drain()
    assert failures == ["bulk-037"]
    assert stack.queue.failed_messages == 1  # reported alone, delivered again
    run = stack.run()
    assert (run.state, run.failed, run.done) == ("done", (), run.total)
    assert b"theme v1" in stack.objects()["articles/bulk-037/index.html"]
    assert stack.objects() == serial_site(stack)


def test_a_second_theme_upload_during_the_run_coalesces_into_one_more_run(stack: Stack) -> None:
    stack.load(bulk_articles(60))
    stack.upload("theme/base.html", theme("v1"))
    stack.rebuild()
    first = stack.run()
    stack.queue.poll_once(batches=3)  # the run is under way
    stack.upload("theme/base.html", theme("v2"))
    stack.rebuild()
    assert stack.run().run_id == first.run_id
    assert stack.run().pending

    assert stack.queue.drain()
    run = stack.run()
    assert (run.number, run.state, run.pending) == (first.number + 1, "done", False)
    pages = stack.html_pages()
    assert all(b"<!-- theme v2 -->" in data for data in pages.values())


def test_the_stream_consumer_only_starts_the_run(stack: Stack) -> None:
    stack.load(bulk_articles(30))
    stack.upload("site.yaml", SETTINGS.replace(b"Fan-out", b"Renamed"))
    records = stack.records()
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append(f"{client.meta.service_model.service_name}:{operation}")
        return original(client, operation, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
        assert rebuild_app.lambda_handler({"Records": records}, Context()) == {
            "batchItemFailures": []
        }
    # One conditional write of the run record and one message: no page is rendered here.
    assert calls == ["dynamodb:UpdateItem", "sqs:SendMessageBatch"]
    assert b"Renamed" not in stack.objects()["index.html"]
    assert stack.queue.outstanding() == 1
    assert stack.queue.drain()
    assert b"Renamed" in stack.objects()["index.html"]


def test_a_chunk_that_keeps_failing_goes_to_the_dead_letter_queue_and_a_redrive_finishes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.load(bulk_articles(30))
    real = chainpress.rerender.handle_item

    def broken(body: str, ports: Any, now: dt.datetime) -> Any:
        if json.loads(body)["kind"] == "shards":
            raise RuntimeError("bug in the shard builder")
        return real(body, ports, now)

    monkeypatch.setattr(chainpress.rerender, "handle_item", broken)
    stack.upload("theme/base.html", theme("v1"))
    stack.rebuild()
    assert stack.queue.drain()
    sqs = clients.sqs()
    dead = stack.names["RerenderDeadLetterQueue"]
    (message,) = sqs.receive_message(QueueUrl=dead, AttributeNames=["All"])["Messages"]
    item = json.loads(message["Body"])
    assert item["kind"] == "shards"
    # Delivered maxReceiveCount (3) times, then moved; this receive from the DLQ is the 4th.
    assert message["Attributes"]["ApproximateReceiveCount"] == "4"
    run = stack.run()
    assert run.state == "running"
    assert run.failed == (item["id"],)
    assert run.done == run.total - 1

    # The operator fixes the cause and redrives the DLQ: the run finishes.
    monkeypatch.setattr(chainpress.rerender, "handle_item", real)
    sqs.send_message(QueueUrl=stack.names["RerenderQueue"], MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=dead, ReceiptHandle=message["ReceiptHandle"])
    assert stack.queue.drain()
    run = stack.run()
    assert (run.state, run.failed) == ("done", ())
    assert stack.objects() == serial_site(stack)


def test_the_sample_sqs_event_is_handled_and_a_last_attempt_is_recorded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("sqs_rerender_batch.json")
    # Items of a run that is not the current one are acknowledged and skipped.
    assert rerender_app.lambda_handler(event, Context()) == {"batchItemFailures": []}

    started = rebuild_app.lambda_handler({"action": "rebuild-all"}, Context())
    assert started["started"] is True
    for record in event["Records"]:
        body = json.loads(record["body"])
        record["body"] = json.dumps({**body, "run": started["run"]})

    def broken(*args: object) -> None:
        raise RuntimeError("DynamoDB is throttling")

    monkeypatch.setattr(chainpress.rerender, "handle_item", broken)
    event["Records"][1]["attributes"]["ApproximateReceiveCount"] = "3"  # its last attempt
    with pytest.raises(Exception, match="All records failed"):
        rerender_app.lambda_handler(event, Context())
    assert stack.run().failed == ("segment:3-3",)  # the first record will be tried again
