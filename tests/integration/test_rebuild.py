"""The rebuild handler under moto: publish through the real publish handler, read the articles
table's stream with ``dynamodbstreams``, deliver the records the way Lambda's event source
mapping would (FilterCriteria applied, batches), and check the site bucket and CloudFront."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.model import Article, pad_sequencer
from chainpress.ports import HTML, ArticleChange, Paging, SourceState, body_key
from chainpress.rebuilding import RebuildPorts, rebuild_all, rebuild_changes
from chainpress_dev.memory import InMemoryArticleStore, InMemoryHotLists, InMemorySiteWriter
from functions.publish import app as publish_app
from functions.rebuild import app as rebuild_app
from functions.rerender import app as rerender_app
from tests.support.aws import create_distribution, create_stack, set_function_environment
from tests.support.events import load_event
from tests.support.faults import error_answer, inject
from tests.support.lambda_context import Context
from tests.support.rerender import work_queue

CARD = re.compile(r'<h2 class="card-title"><a href="/articles/([^/"]+)/"')
LISTINGS = ("index.html", "category/bitcoin/index.html", "tag/etf/index.html")


def source(
    title: str, day: int, *, category: str = "bitcoin", tags: str = "[ETF]", **extra: str
) -> bytes:
    lines = [f"title: {title}", f"date: 2024-03-{day:02d} 08:00", f"category: {category}"]
    lines += [f"tags: {tags}", *(f"{k}: {v}" for k, v in extra.items())]
    return ("---\n" + "\n".join(lines) + f"\n---\n\nBody of {title}.\n").encode()


class Stack:
    """Buckets, table and stream of template.yaml in moto; both handlers wired like Lambda."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.content = names["ContentBucket"]
        self.bucket = names["SiteBucket"]
        self.table = names["ArticlesTable"]
        self.s3 = clients.s3()
        self.sequence = 0x0062C4D4A1B2C3D4E5
        ddb = clients.dynamodb()
        self.stream_arn = ddb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self.streams = clients.dynamodbstreams()
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        self.iterators = {
            shard["ShardId"]: self.streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
            for shard in shards["Shards"]
        }

    # -- the editor and the publish function ------------------------------------------------
    def _event(self, name: str, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = load_event(name)
        record = event["Records"][0]
        record["s3"]["bucket"].update(name=self.content, arn=f"arn:aws:s3:::{self.content}")
        record["s3"]["object"].update(obj, key=quote_plus(key, safe="/"))
        return event

    def _sequencer(self) -> str:
        self.sequence += 1
        return f"{self.sequence:X}"

    def upload(self, slug: str, data: bytes) -> None:
        key = f"articles/{slug}.md"
        answer = self.s3.put_object(Bucket=self.content, Key=key, Body=data)
        obj = {"versionId": answer["VersionId"], "sequencer": self._sequencer(), "size": len(data)}
        publish_app.lambda_handler(self._event("s3_article_put.json", key, obj), Context())

    def remove(self, slug: str) -> None:
        key = f"articles/{slug}.md"
        answer = self.s3.delete_object(Bucket=self.content, Key=key)
        obj = {"versionId": answer["VersionId"], "sequencer": self._sequencer()}
        publish_app.lambda_handler(self._event("s3_article_delete.json", key, obj), Context())

    # -- the stream and the rebuild function ------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """New stream records in Lambda's shape, through the template's FilterCriteria."""
        found: list[dict[str, Any]] = []
        for shard, iterator in list(self.iterators.items()):
            answer = self.streams.get_records(ShardIterator=iterator)
            self.iterators[shard] = answer["NextShardIterator"]
            for raw in answer["Records"]:
                record = dict(raw, eventSourceARN=self.stream_arn)
                stream = dict(record["dynamodb"])
                created = stream.get("ApproximateCreationDateTime")
                if isinstance(created, dt.datetime):
                    stream["ApproximateCreationDateTime"] = int(created.timestamp())
                record["dynamodb"] = stream
                pk = stream["Keys"]["pk"]["S"]
                if pk.startswith("article#") or pk == "site":
                    found.append(record)
        return found

    def rebuild(self, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        batch = self.records() if records is None else records
        result: dict[str, Any] = rebuild_app.lambda_handler({"Records": batch}, Context())
        return result

    # -- the site bucket ---------------------------------------------------------------------
    def objects(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = self.get(item["Key"]) or b""
        return found

    def get(self, key: str) -> bytes | None:
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return body

    def text(self, key: str) -> str:
        data = self.get(key)
        assert data is not None, key
        return data.decode()

    def slugs(self, key: str) -> list[str]:
        data = self.get(key)
        return CARD.findall(data.decode()) if data else []


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        clients.reset()
        names = create_stack()
        set_function_environment(monkeypatch, names)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "chainpress")
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "rebuild")
        yield Stack(names)
    clients.reset()


def test_sample_event_rebuilds_only_from_the_table(stack: Stack) -> None:
    # The sample batch names articles the table does not hold: nothing may come from images.
    result = stack.rebuild(load_event("ddb_stream_batch.json")["Records"])
    assert result == {"batchItemFailures": []}
    assert stack.get("articles/bitcoin-etf-inflows/index.html") is None
    assert "bitcoin-etf-inflows" not in stack.text("index.html")


def test_publish_shows_the_article_everywhere_and_delete_removes_it(stack: Stack) -> None:
    stack.upload("first", source("First", 1))
    stack.upload("second", source("Second", 2, tags="[ETF, Mining]"))
    assert stack.rebuild() == {"batchItemFailures": []}
    for key in (*LISTINGS, "tag/mining/index.html"):
        assert "second" in stack.slugs(key), key
    assert "/articles/second/" in stack.text("sitemaps/articles-1.xml")
    assert "/articles/second/" in stack.text("feed.xml")
    assert "/tag/mining/" in stack.text("sitemaps/tags-1.xml")
    assert "/tag/mining/" in stack.text("sitemap/index.html")

    stack.remove("second")
    stack.rebuild()
    everything = stack.objects()
    for key, data in everything.items():
        if not key.startswith("_internal/"):
            assert b"/articles/second/" not in data, key
    assert stack.get("tag/mining/index.html") is None
    assert stack.slugs("index.html") == ["first"]


def test_category_change_moves_the_article_and_fixes_neighbours(stack: Stack) -> None:
    for day, slug in ((1, "a"), (2, "b"), (3, "c"), (4, "d")):
        stack.upload(slug, source(slug.upper(), day))
    stack.rebuild()
    page_b = stack.text("articles/b/index.html")
    assert 'href="/articles/a/" rel="prev"' in page_b
    assert 'href="/articles/c/" rel="next"' in page_b

    stack.upload("c", source("C", 3, category="wallet"))
    stack.rebuild()
    assert "c" not in stack.slugs("category/bitcoin/index.html")
    assert stack.slugs("category/wallet/index.html") == ["c"]
    page_b = stack.text("articles/b/index.html")  # b and d are neighbours now
    assert 'href="/articles/d/" rel="next"' in page_b
    assert 'href="/articles/b/" rel="prev"' in stack.text("articles/d/index.html")
    assert "No more" in stack.text("articles/c/index.html")


def test_a_draft_never_appears(stack: Stack) -> None:
    stack.upload("live", source("Live", 1))
    stack.upload("secret", source("Secret", 2, draft="true"))
    stack.rebuild()
    for key, data in stack.objects().items():
        assert b"secret" not in data.lower(), key


def test_replayed_or_reordered_batches_give_byte_identical_sites(stack: Stack) -> None:
    for day in (1, 2, 3):
        stack.upload(f"base{day}", source(f"Base {day}", day * 2))
    stack.rebuild()
    stack.upload("new", source("New", 9, tags="[ETF, Fresh]"))
    first = stack.records()
    stack.upload("base2", source("Base 2 edited", 4, category="wallet"))
    stack.remove("base1")
    second = stack.records()
    before = stack.objects()  # every commit is in; no batch has been rebuilt yet

    def run(*batches: list[dict[str, Any]]) -> dict[str, bytes]:
        for key in set(stack.objects()) - set(before):
            stack.s3.delete_object(Bucket=stack.bucket, Key=key)
        for key, data in before.items():
            stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=data)
        for batch in batches:
            assert stack.rebuild(batch) == {"batchItemFailures": []}
        return stack.objects()

    forward = run(first, second)
    assert forward == run(second, first)
    assert forward == run(first, second, first, second)
    assert b"/articles/new/" in forward["index.html"]
    assert b"/articles/base1/" not in forward["index.html"]


def invalidations(distribution: str) -> list[list[str]]:
    """Paths of every invalidation the distribution accepted, oldest first."""
    cloudfront = clients.cloudfront()
    listing = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    batches = [
        cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])["Invalidation"]
        for item in listing.get("Items", [])
    ]
    batches.sort(key=lambda b: b["CreateTime"])
    return [sorted(b["InvalidationBatch"]["Paths"]["Items"]) for b in batches]


def test_cloudfront_invalidation_by_default_is_the_changed_article_pages_only(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    distribution = create_distribution(stack.bucket)
    stack.upload("one", source("One", 1))
    stack.rebuild()  # no distribution yet: nothing to invalidate
    assert invalidations(distribution) == []

    monkeypatch.setenv("DISTRIBUTION_ID", distribution)
    stack.upload("two", source("Two", 2))
    before = stack.objects()
    stack.rebuild()
    after = stack.objects()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert "index.html" in changed  # listings changed too: they expire within a minute
    # A new article: its own URL was never cached; its neighbour's "next" link changed.
    assert invalidations(distribution) == [["/articles/one/index.html"]]
    for key in ("index.html", "category/bitcoin/index.html", "feed.xml", "sitemap.xml"):
        head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
        assert "s-maxage=30" in head["CacheControl"], key
        assert "stale-while-revalidate" in head["CacheControl"], key
    assert (
        "s-maxage=86400"
        in stack.s3.head_object(Bucket=stack.bucket, Key="articles/two/index.html")["CacheControl"]
    )

    stack.upload("one", source("One, corrected", 1))  # an edit: its page and its neighbour's
    stack.rebuild()
    assert invalidations(distribution)[-1] == [
        "/articles/one/index.html",
        "/articles/two/index.html",
    ]


def test_cloudfront_invalidation_in_exact_mode_has_every_changed_path(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    distribution = create_distribution(stack.bucket)
    monkeypatch.setenv("DISTRIBUTION_ID", distribution)
    monkeypatch.setenv("INVALIDATION_MODE", "exact")
    stack.upload("one", source("One", 1))
    stack.rebuild()
    stack.upload("two", source("Two", 2))
    records = stack.records()
    before = stack.objects()
    stack.rebuild(records)
    after = stack.objects()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    expected = sorted("/" + k for k in changed if not k.startswith("_internal/"))
    paths = invalidations(distribution)[-1]
    assert paths == expected
    assert "/index.html" in paths
    assert "/articles/one/index.html" in paths

    monkeypatch.setenv("INVALIDATION_WILDCARD_THRESHOLD", "3")
    stack.upload("three", source("Three", 3))
    stack.rebuild()
    assert invalidations(distribution)[-1] == ["/*"]


def pending_paths(stack: Stack) -> set[str]:
    answer = clients.dynamodb().query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "cdn#pending"}},
        ConsistentRead=True,
    )
    return {item["path"]["S"] for item in answer["Items"]}


def test_throttled_invalidations_are_sent_by_the_next_batch_or_the_schedule(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    distribution = create_distribution(stack.bucket)
    monkeypatch.setenv("DISTRIBUTION_ID", distribution)
    for day, slug in ((1, "a"), (2, "b"), (3, "c")):
        stack.upload(slug, source(slug.upper(), day))
    stack.rebuild()
    settled = len(invalidations(distribution))

    def busy(request: dict[str, Any]) -> Any:
        return error_answer("TooManyInvalidationsInProgress", "Your request contains too many")

    with inject(clients.cloudfront(), "CreateInvalidation", busy) as refused:
        stack.upload("b", source("B, corrected", 2))  # its page and both neighbours
        assert stack.rebuild() == {"batchItemFailures": []}  # the batch does not fail
        stack.upload("d", source("D", 4))  # a new article: its neighbour c
        assert stack.rebuild() == {"batchItemFailures": []}
        assert len(refused) == 2
    assert len(invalidations(distribution)) == settled  # nothing reached CloudFront ...
    expected = {f"/articles/{slug}/index.html" for slug in "abc"}
    assert pending_paths(stack) == expected  # ... and nothing was forgotten
    result = rebuild_app.lambda_handler({"action": "flush-invalidations"}, Context())
    assert result["invalidated"] == sorted(expected)
    assert invalidations(distribution)[-1] == sorted(expected)
    assert pending_paths(stack) == set()


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the killed run
def test_a_fault_between_the_page_writes_and_the_invalidation_loses_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    distribution = create_distribution(stack.bucket)
    monkeypatch.setenv("DISTRIBUTION_ID", distribution)
    for day, slug in ((1, "a"), (2, "b")):
        stack.upload(slug, source(slug.upper(), day))
    stack.rebuild()
    stack.upload("c", source("C", 3))
    records = stack.records()

    class Died(BaseException):
        """The function is killed (timeout): nothing catches this."""

    def die(*args: object, **kwargs: object) -> None:
        raise Died

    # Every page is written, then the function dies before its invalidation request.
    with monkeypatch.context() as patch:
        patch.setattr("chainpress.rebuilding.flush", die)
        with pytest.raises(Died):
            stack.rebuild(records)
    assert "c" in stack.slugs("index.html")  # the pages are there ...
    assert pending_paths(stack) == {"/articles/b/index.html"}  # ... and so is the record
    # Lambda delivers the batch again: every page is now byte-identical, nothing is written,
    # and the recorded path is invalidated all the same.
    assert stack.rebuild(records) == {"batchItemFailures": []}
    assert invalidations(distribution)[-1] == ["/articles/b/index.html"]
    assert pending_paths(stack) == set()


def test_site_record_and_manual_action_rebuild_everything(stack: Stack) -> None:
    # A full re-render runs on the work queue (tests/integration/test_rerender.py): the stream
    # consumer and the manual action only start it.
    rerender_app.rerender_ports.cache_clear()
    queue = work_queue(stack.names, report=lambda message: None)
    stack.upload("one", source("One", 1))
    stack.rebuild()
    settings = "name: Renamed Circle\n"
    answer = stack.s3.put_object(Bucket=stack.content, Key="site.yaml", Body=settings.encode())
    obj = {"versionId": answer["VersionId"], "sequencer": stack._sequencer(), "size": len(settings)}
    publish_app.lambda_handler(stack._event("s3_settings_put.json", "site.yaml", obj), Context())
    records = stack.records()
    assert any(r["dynamodb"]["Keys"]["pk"]["S"] == "site" for r in records)
    stack.rebuild(records)
    assert queue.drain()
    for key in ("index.html", "articles/one/index.html", "404.html", "archive/index.html"):
        assert "Renamed Circle" in stack.text(key), key
    stack.s3.delete_object(Bucket=stack.bucket, Key="tag/etf/index.html")
    result = rebuild_app.lambda_handler({"action": "rebuild-all"}, Context())
    assert result["started"] is True
    assert stack.get("tag/etf/index.html") is None  # not rendered by the action itself
    assert queue.drain()
    assert stack.get("tag/etf/index.html") is not None
    with pytest.raises(ValueError, match="unknown action"):
        rebuild_app.lambda_handler({"action": "nope"}, Context())
    rerender_app.rerender_ports.cache_clear()


def test_a_failed_rebuild_fails_every_record_and_a_bad_record_fails_alone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.upload("one", source("One", 1))
    records = stack.records()
    bad = dict(records[0], dynamodb=dict(records[0]["dynamodb"], NewImage={"pk": {"S": "x"}}))
    bad["dynamodb"]["SequenceNumber"] = "1"
    result = stack.rebuild([bad, *records])
    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert "one" in stack.slugs("index.html")  # the readable records were rebuilt

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("S3 is down")

    monkeypatch.setattr("chainpress.rebuilding.rebuild_changes", broken)
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):  # every record failed: Lambda retries the batch
        stack.rebuild(records)


# -- bulk import: many commits at once, rebuilt in batches -------------------------------------


def bulk_articles(count: int, seed: int) -> list[Article]:
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    return [
        Article(
            slug=f"bulk-{i:04d}",
            title=f"Bulk {i}",
            date=start + dt.timedelta(minutes=rng.randrange(0, 500_000)),
            source_key=f"articles/bulk-{i:04d}.md",
            content_hash=str(i),
            category=rng.choice(["bitcoin", "wallet", "exchange"]),
            tags=tuple(rng.sample(["etf", "mining", "defi", "nft", "dao"], rng.randint(0, 2))),
        )
        for i in range(count)
    ]


def listing_members(slugs_of: Any, key_prefix: str, pages: int) -> set[str]:
    found: set[str] = set()
    for k in range(1, pages + 1):
        found |= set(slugs_of(f"{key_prefix}page/{k}/index.html"))
    return found


def test_bulk_import_writes_each_listing_page_a_handful_of_times() -> None:
    store = InMemoryArticleStore()
    site = InMemorySiteWriter()
    ports = RebuildPorts(store, site, InMemoryHotLists())
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    rebuild_all(ports, now)
    articles = bulk_articles(1000, seed=7)
    changes: list[tuple[Article | None, Article | None]] = []
    for article in articles:  # all committed before any rebuild runs, as in a bulk upload
        store.commit(
            ArticleChange(SourceState(article.source_key, pad_sequencer("1")), article, None)
        )
        site.write(body_key(article.slug), b"<p>x</p>", HTML, "x")
        changes.append((None, article))
    site.writes.clear()
    for start in range(0, len(changes), 100):
        rebuild_changes(changes[start : start + 100], ports, now)
    counts: dict[str, int] = {}
    for key in site.writes:
        counts[key] = counts.get(key, 0) + 1
    listing_pages = {
        k: n for k, n in counts.items() if not k.startswith(("articles/", "_internal"))
    }
    assert max(listing_pages.values()) <= 3, sorted(listing_pages.items(), key=lambda kv: -kv[1])[
        :5
    ]

    def slugs_of(key: str) -> list[str]:
        data = site.read(key)
        return CARD.findall(data.decode()) if data else []

    for listing in store.listings():
        members = {a.slug for a in store.iter_listing(listing)}
        prefix = "" if listing == "home" else f"{listing}/"
        pages = store.head(listing).pages  # fewer than count / 20: imported in any order
        assert listing_members(slugs_of, prefix, pages) == members, listing
        assert site.read(f"{prefix}page/{pages + 1}/index.html") is None
    shards = store.head("sitemap").pages
    urls = sum(site.text(f"sitemaps/articles-{n}.xml").count("<url>") for n in range(1, shards + 1))
    assert urls == 1000


def test_bulk_import_through_the_stream(stack: Stack) -> None:
    # 40 articles, not 100: moto deep-copies the whole table in every transact_write_items, so
    # commits cost O(table) each (100 of them take minutes). Small pages keep many pages.
    store = DynamoArticleStore(stack.table, clients.dynamodb())
    store.commit_site(SourceState("site.yaml", pad_sequencer("1")), yaml_text="page_size: 5\n")
    stack.rebuild()  # the settings record: a full rebuild of the empty site
    articles = bulk_articles(40, seed=3)
    for article in articles:
        source = SourceState(article.source_key, pad_sequencer("1"))
        store.commit(ArticleChange(source, article, None, paging=Paging(page_size=5)))
        stack.s3.put_object(Bucket=stack.bucket, Key=body_key(article.slug), Body=b"<p>x</p>")
    records = stack.records()
    assert len(records) == 40  # one article# record each: incremental rebuilds only
    for start in range(0, len(records), 10):
        assert stack.rebuild(records[start : start + 10]) == {"batchItemFailures": []}
    for listing in store.listings():
        members = {a.slug for a in store.iter_listing(listing)}
        prefix = "" if listing == "home" else f"{listing}/"
        pages = store.head(listing).pages
        assert listing_members(stack.slugs, prefix, pages) == members, listing
        assert stack.get(f"{prefix}page/{pages + 1}/index.html") is None
    assert stack.text("sitemaps/articles-1.xml").count("<url>") == 40
    for article in articles:
        assert stack.get(f"articles/{article.slug}/index.html") is not None
