"""The in-memory adapters count exactly the AWS requests their AWS twins send.

bench/bench_calls.py reports the calls of a publish at a million articles from the in-memory
``.calls`` counters (a million-item moto table is out of reach). That is only credible if, for
the same sequence, the counters equal what ``DynamoArticleStore``, ``S3SiteWriter`` and
``S3ContentSource`` really send: here every request botocore makes on moto is counted by
operation (``before-call`` event hooks) and compared, step by step, for a publish and the
rebuild of its stream batch."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.aws.s3 import S3ContentSource, S3SiteWriter
from chainpress.aws.views_store import DynamoHotLists
from chainpress.model import Article, pad_sequencer
from chainpress.ports import ArticleStore, ContentSource, SiteWriter
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress.rebuilding import RebuildPorts, rebuild_all, rebuild_changes
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
    total_calls,
)
from tests.support.aws import create_stack

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
Batch = list[tuple[Article | None, Article | None]]


def source(title: str, date: str, category: str, tags: str) -> bytes:
    front = f"title: {title}\ndate: {date}\ncategory: {category}\ntags: {tags}\n"
    return f"---\n{front}---\n\nBody of {title}.\n".encode()


class Newsroom:
    """One set of ports (AWS on moto, or in memory) and a way to count their requests.
    ``put`` (upload a source) and ``peek`` (read a record for the batch's images) are the
    test's own bookkeeping: they are not counted."""

    def __init__(
        self,
        content: ContentSource,
        site: SiteWriter,
        store: ArticleStore,
        rebuild: RebuildPorts,
        put: Callable[[str, bytes], str],
        peek: Callable[[str], Article | None],
        counted: Callable[[], collections.Counter[str]],
    ) -> None:
        self.publish_ports = PublishPorts(content, site, store)
        self.rebuild_ports = rebuild
        self.put = put
        self.peek = peek
        self.counted = counted
        self.seq = 0

    @contextlib.contextmanager
    def measure(self, into: dict[str, int]) -> Iterator[None]:
        before = self.counted()
        yield
        into.update(self.counted() - before)

    def event(self, key: str, data: bytes | None) -> tuple[dict[str, int], dict[str, int]]:
        """Publish (or remove) ``key``, then rebuild its stream batch: the calls of each."""
        slug = key.removeprefix("articles/").removesuffix(".md")
        old = self.peek(slug)
        version = self.put(key, data) if data is not None else ""
        self.seq += 1
        kind = "created" if data is not None else "removed"
        event = SourceEvent(key, version, pad_sequencer(f"{self.seq:X}"), kind)  # type: ignore[arg-type]
        publishing: dict[str, int] = {}
        with self.measure(publishing):
            publish_event(event, self.publish_ports, NOW)
        rebuilding: dict[str, int] = {}
        with self.measure(rebuilding):
            rebuild_changes([(old, self.peek(slug))], self.rebuild_ports, NOW)
        return publishing, rebuilding


def memory_room(uploaded: Callable[[str], dt.datetime]) -> Newsroom:
    content, site, store, hot = (
        InMemoryContentSource(), InMemorySiteWriter(), InMemoryArticleStore(), InMemoryHotLists(),
    )  # fmt: skip
    ports = RebuildPorts(store, site, hot)
    rebuild_all(ports, NOW)
    return Newsroom(
        content, site, store, ports,
        # Uploaded when the same upload was on moto (the rooms run in step): the dates and
        # "updated" times the versions give are the same in both, whatever the clock did.
        put=lambda key, data: content.put(key, data, at=uploaded(key)),
        peek=store.articles.get,
        counted=lambda: total_calls(content, site, store, hot),
    )  # fmt: skip


@pytest.fixture
def rooms() -> Iterator[tuple[Newsroom, Newsroom]]:
    with mock_aws():
        clients.reset()
        names = create_stack()
        s3, dynamodb = clients.s3(), clients.dynamodb()
        calls: collections.Counter[str] = collections.Counter()

        def count(model: Any, **kwargs: Any) -> None:
            calls[model.name] += 1

        for client in (s3, dynamodb):
            client.meta.events.register("before-call", count)
        content = S3ContentSource(names["ContentBucket"], s3)
        site = S3SiteWriter(names["SiteBucket"], s3)
        store = DynamoArticleStore(names["ArticlesTable"], dynamodb)
        ports = RebuildPorts(store, site, DynamoHotLists(names["ViewsTable"], dynamodb))
        rebuild_all(ports, NOW)
        # Bookkeeping goes through clients without the counting hook.
        region = dynamodb.meta.region_name
        quiet = DynamoArticleStore(names["ArticlesTable"], boto3.client("dynamodb", region))
        quiet_s3 = boto3.client("s3", region)

        def put(key: str, data: bytes) -> str:
            answer = quiet_s3.put_object(Bucket=names["ContentBucket"], Key=key, Body=data)
            return str(answer["VersionId"])

        room = Newsroom(content, site, store, ports, put, quiet.get_article, calls.copy)

        def uploaded(key: str) -> dt.datetime:
            head = quiet_s3.head_object(Bucket=names["ContentBucket"], Key=key)
            return head["LastModified"]

        yield memory_room(uploaded), room
    clients.reset()


STEPS: list[tuple[str, bytes | None]] = [
    ("articles/a.md", source("A", "2024-05-01 08:00", "bitcoin", "[ETF, Lonely]")),
    ("articles/b.md", source("B", "2024-05-02 08:00", "ethereum", "[ETF]")),  # relates A
    ("articles/c.md", source("C", "2024-05-03 08:00", "bitcoin", "[Fresh]")),  # a new tag
    ("articles/b.md", source("B, edited", "2024-05-02 08:00", "ethereum", "[ETF]")),
    ("articles/c.md", source("C", "2024-03-03 08:00", "bitcoin", "[Fresh]")),  # backdated
    ("articles/d.md", source("D", "2024-06-01 08:00", "wallet", "[ETF]")),  # a new month
    ("articles/a.md", None),  # deleted: B's page drops it
]


def test_memory_counters_equal_the_requests_sent_to_aws(rooms: tuple[Newsroom, Newsroom]) -> None:
    memory, aws = rooms
    for key, data in STEPS:
        expected = aws.event(key, data)
        counted = memory.event(key, data)
        assert counted == expected, key
    assert expected[1]["Query"] > 0  # the last rebuild read and wrote something
    assert expected[1]["PutObject"] > 0
