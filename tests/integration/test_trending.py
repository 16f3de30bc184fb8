"""The trending job through its handler, on moto: hot lists rank recent views; scheduled
articles go live when their time has come (controlled clock everywhere)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.aws.s3 import S3SiteWriter
from chainpress.aws.views_store import DynamoViewCounter
from chainpress.model import Article, pad_sequencer
from chainpress.ports import HTML, ArticleChange, SourceState, body_key
from chainpress.trending import HOT_PAGE_KEY
from chainpress.views import hour_key
from functions.trending import app as trending
from functions.views import app as views_api
from tests.support.aws import create_stack
from tests.support.events import load_event
from tests.support.lambda_context import Context

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

NOW = dt.datetime(2024, 5, 3, 12, 30, tzinfo=dt.UTC)


@dataclasses.dataclass
class Stack:
    names: dict[str, str]
    store: DynamoArticleStore
    site: S3SiteWriter

    def counter(self) -> DynamoViewCounter:
        return DynamoViewCounter(
            self.names["ViewsTable"], self.names["ArticlesTable"], clients.dynamodb(), read_ttl=0
        )


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        clients.reset()
        names = create_stack()
        for var, logical in [
            ("VIEWS_TABLE", "ViewsTable"),
            ("ARTICLES_TABLE", "ArticlesTable"),
            ("SITE_BUCKET", "SiteBucket"),
            ("CONTENT_BUCKET", "ContentBucket"),
        ]:
            monkeypatch.setenv(var, names[logical])
        trending.ports.cache_clear()
        views_api.ports.cache_clear()
        yield Stack(
            names,
            DynamoArticleStore(names["ArticlesTable"], clients.dynamodb()),
            S3SiteWriter(names["SiteBucket"], clients.s3()),
        )
        trending.ports.cache_clear()
        views_api.ports.cache_clear()
    clients.reset()


def make(
    slug: str, *, date: dt.datetime, status: str = "live", category: str = "bitcoin"
) -> Article:
    return Article(
        slug=slug,
        title=f"Title {slug}",
        date=date,
        source_key=f"articles/{slug}.md",
        content_hash=f"h-{slug}",
        category=category,
        tags=("etf",),
        status=status,  # type: ignore[arg-type]
    )


def publish(stack: Stack, article: Article) -> None:
    """What the publish function leaves behind: records, listings and the rendered body."""
    status = "scheduled" if article.status == "scheduled" else "published"
    source = SourceState(
        key=article.source_key, seq=pad_sequencer("0A"), version_id="v1", slug=article.slug,
        status=status,
    )  # fmt: skip
    stack.store.commit(ArticleChange(source=source, new=article, previous=None))
    body = f"<p>Body of {article.slug}</p>".encode()
    stack.site.write(body_key(article.slug), body, HTML, "no-store")


def status_report(stack: Stack, key: str) -> dict[str, Any] | None:
    """The editor-facing report beside the upload, as an S3 client reads it."""
    try:
        got = clients.s3().get_object(
            Bucket=stack.names["ContentBucket"], Key=f"_status/{key}.json"
        )
    except clients.s3().exceptions.NoSuchKey:
        return None
    report: dict[str, Any] = json.loads(got["Body"].read())
    return report


def run_at(when: dt.datetime) -> dict[str, Any]:
    with mock.patch.object(trending, "now", return_value=when):
        result: dict[str, Any] = trending.lambda_handler(
            load_event("schedule_trending.json"), Context()
        )
    return result


def hot(**params: str) -> list[tuple[str, int]]:
    event = load_event("api_hot_get.json")
    event["queryStringParameters"] = params
    answer = views_api.lambda_handler(event, Context())
    assert answer["statusCode"] == 200, answer
    return [(i["slug"], i["views"]) for i in json.loads(answer["body"])["items"]]


def test_hot_lists_rank_recent_views_not_all_time(stack: Stack) -> None:
    day = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    publish(stack, make("evergreen", date=day))
    publish(stack, make("breaking", date=day, category="ethereum"))
    publish(stack, make("steady", date=day))
    counter = stack.counter()
    views = [
        ("evergreen", NOW - dt.timedelta(days=10), 60),  # most views all-time, all old
        ("evergreen", NOW - dt.timedelta(days=3), 3),
        ("steady", NOW - dt.timedelta(days=2), 20),  # in 7 days only
        ("steady", NOW - dt.timedelta(hours=5), 2),
        ("breaking", NOW - dt.timedelta(minutes=40), 6),  # the last hour
        ("breaking", NOW - dt.timedelta(minutes=5), 4),
    ]
    for slug, at, n in views:
        for _ in range(n):
            assert counter.add(slug, at) is not None
    assert counter.totals(["evergreen", "breaking"]) == {"evergreen": 63, "breaking": 10}

    report = run_at(NOW)
    assert report["hot_page_written"]
    assert report["published"] == []

    assert hot(window="24h") == [("breaking", 10), ("steady", 2)]
    assert hot(window="7d") == [("steady", 22), ("breaking", 10), ("evergreen", 3)]
    assert hot(window="24h", category="bitcoin") == [("steady", 2)]
    assert hot(window="7d", category="ethereum") == [("breaking", 10)]
    assert hot(window="24h", category="wallet") == []  # written empty, from site settings
    page = stack.site.read(HOT_PAGE_KEY)
    assert page is not None
    assert b"Title breaking" in page
    assert b"Title evergreen" in page

    # A day later the same buckets fall out of 24 h: lists follow the clock, not the totals.
    run_at(NOW + dt.timedelta(days=1))
    assert hot(window="24h") == []
    assert hot(window="7d") == [("steady", 22), ("breaking", 10), ("evergreen", 3)]


def test_hot_lists_leave_out_articles_that_are_no_longer_live(stack: Stack) -> None:
    day = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    gone = make("gone", date=day)
    publish(stack, gone)
    publish(stack, make("kept", date=day))
    counter = stack.counter()
    for slug in ["gone", "gone", "kept"]:
        counter.add(slug, NOW)
    source = SourceState(
        key=gone.source_key, seq=pad_sequencer("0B"), slug="gone", status="removed"
    )
    removed = dataclasses.replace(gone, status="removed")
    stack.store.commit(ArticleChange(source=source, new=removed, previous=gone))
    run_at(NOW)
    assert hot(window="24h") == [("kept", 1)]


def test_scheduled_article_goes_live_only_once_its_time_has_come(stack: Stack) -> None:
    publish(stack, make("older", date=NOW - dt.timedelta(days=1)))
    due = NOW + dt.timedelta(hours=2)
    scheduled = make("future-post", date=due, status="scheduled")
    publish(stack, scheduled)
    store, page_key = stack.store, "articles/future-post/index.html"

    def listed(listing: str) -> list[str]:
        return [a.slug for a in store.newest(listing, 10)]

    assert listed("home") == ["older"]
    assert listed("scheduled") == ["future-post"]

    report = run_at(NOW + dt.timedelta(hours=1))  # an hour early: nothing changes
    assert report["published"] == []
    assert listed("home") == ["older"]
    assert listed("category/bitcoin") == ["older"]
    assert stack.site.read(page_key) is None
    assert status_report(stack, scheduled.source_key) is None  # publish's own report stands
    # The POST of a view is refused while it is held: views never create items for it.
    assert stack.counter().add("future-post", NOW) is None

    report = run_at(due + dt.timedelta(minutes=3))
    assert report["published"] == ["future-post"]
    assert listed("home") == ["future-post", "older"]
    assert listed("category/bitcoin") == ["future-post", "older"]
    assert listed("tag/etf") == ["future-post", "older"]
    assert listed("scheduled") == []
    live = store.get_article("future-post")
    assert live is not None
    assert live.status == "live"
    assert live.date == due
    source = store.get_source(scheduled.source_key)
    assert source is not None
    assert (source.seq, source.status) == (pad_sequencer("0A"), "published")
    page = stack.site.read(page_key)
    assert page is not None
    assert b"Title future-post" in page
    assert b"Body of future-post" in page
    assert stack.counter().add("future-post", due) == 1
    # The editor reads that it is out, and where (not "scheduled" any more).
    assert status_report(stack, scheduled.source_key) == {
        "key": "articles/future-post.md",
        "version_id": "v1",
        "status": "published",
        "url": "/articles/future-post/",
        "error": None,
        "errors": [],
        "warnings": [],
        "at": "2024-05-03T14:33:00Z",
    }

    # Level-triggered: running again changes nothing.
    version = store.head("home").version
    assert run_at(due + dt.timedelta(minutes=8))["published"] == []
    assert store.head("home").version == version


def test_a_newer_edit_of_a_scheduled_article_wins_over_the_job(stack: Stack) -> None:
    due = NOW - dt.timedelta(minutes=1)
    scheduled = make("racy", date=due, status="scheduled")
    publish(stack, scheduled)
    # The editor turns it into a draft (a newer event) just before the job runs.
    draft = dataclasses.replace(scheduled, status="draft", content_hash="h2")
    source = SourceState(
        key=scheduled.source_key, seq=pad_sequencer("0C"), slug="racy", status="draft"
    )
    stack.store.commit(ArticleChange(source=source, new=draft, previous=scheduled))
    assert run_at(NOW)["published"] == []
    got = stack.store.get_article("racy")
    assert got is not None
    assert got.status == "draft"
    assert [a.slug for a in stack.store.newest("home", 10)] == []


def test_hour_bucket_keys_follow_the_controlled_clock(stack: Stack) -> None:
    publish(stack, make("a", date=dt.datetime(2024, 4, 1, tzinfo=dt.UTC)))
    stack.counter().add("a", NOW)
    items = clients.dynamodb().scan(TableName=stack.names["ViewsTable"])["Items"]
    buckets = {
        (i["pk"]["S"].split("#")[1], i["sk"]["S"])
        for i in items
        if i["pk"]["S"].startswith("bucket#")
    }
    assert buckets == {(hour_key(NOW)[:8], f"{hour_key(NOW)[8:]}#a")}


def test_a_removed_article_stops_counting_after_the_next_run_and_resumes_if_back(
    stack: Stack,
) -> None:
    day = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    article = make("pulled", date=day)
    publish(stack, article)
    counter = stack.counter()
    for _ in range(30):  # opens most of the 20 shards
        counter.add("pulled", NOW)
    source = SourceState(article.source_key, pad_sequencer("0B"), slug="pulled", status="removed")
    removed = dataclasses.replace(article, status="removed")
    stack.store.commit(ArticleChange(source=source, new=removed, previous=article))

    run_at(NOW + dt.timedelta(minutes=5))  # sees this hour's views of an unlisted article
    for _ in range(30):
        assert counter.add("pulled", NOW + dt.timedelta(minutes=6)) is None
    assert counter.totals(["pulled"]) == {"pulled": 30}

    source = SourceState(article.source_key, pad_sequencer("0C"), slug="pulled", status="published")
    stack.store.commit(ArticleChange(source=source, new=article, previous=removed))
    assert counter.add("pulled", NOW + dt.timedelta(minutes=7)) == 31  # reopened, total kept


def test_rollups_and_hour_buckets_are_read_back_in_pages_in_slug_order(stack: Stack) -> None:
    from chainpress.aws.views_store import DynamoViewBuckets, bucket_pk, bucket_sk
    from chainpress.views import RollupRow, bucket_partition

    table, client = stack.names["ViewsTable"], clients.dynamodb()
    buckets = DynamoViewBuckets(table, client)
    hour = hour_key(NOW)
    # 1,200 articles counted in this hour, several shards each: partitions hold > 1 page.
    counts: dict[str, int] = {}
    puts = []
    for i in range(1200):
        slug = f"链圈-{i:04d}"
        for shard in range(i % 3 + 1):
            item = {
                "pk": {"S": bucket_pk(hour[:8], bucket_partition(slug, shard))},
                "sk": {"S": bucket_sk(hour, slug)},
                "views": {"N": str(shard + 1)},
            }
            puts.append({"PutRequest": {"Item": item}})
            counts[slug] = counts.get(slug, 0) + shard + 1
    for start in range(0, len(puts), 25):
        client.batch_write_item(RequestItems={table: puts[start : start + 25]})
    rows = list(buckets.hour_rows(hour))
    assert [slug for slug, _ in rows] == sorted(slug for slug, _ in rows)
    summed: dict[str, int] = {}
    for slug, views in rows:
        summed[slug] = summed.get(slug, 0) + views
    assert summed == counts

    closed = "2024050301"
    rollup = [
        RollupRow(f"s{i:05d}-{'链' * 150}", i + 1, "bitcoin", 1_714_550_400, True)
        for i in range(2500)
    ]
    assert buckets.rolled_up([closed]) == set()
    buckets.save_rollup(closed, iter(rollup))
    items = [
        item
        for page in client.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"rollup#{closed}"}},
        )
        for item in page["Items"]
    ]
    # Rows of long slugs: split by size (items hold 400 KB), not only every 1,000 rows.
    assert len(items) - 1 > 3
    assert all(len(i["rows"]["S"].encode()) < 400_000 for i in items if "rows" in i)
    assert DynamoViewBuckets(table, client).rolled_up([closed, "2024050302"]) == {closed}
    assert list(DynamoViewBuckets(table, client).rollup_rows(closed)) == rollup
