"""Concurrent publishes into one category, against a moto server that handles one request at a
time (as DynamoDB serialises the writes of one item), with the refusals moto never makes by
itself injected: ``TransactionConflict`` (every publish updates ``head#home``: DynamoDB cancels
one of two overlapping transactions) and a failed article condition (the record changed between
read and commit: the publish reads and plans again)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.model import pad_sequencer
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress_dev.memory import InMemoryContentSource, InMemorySiteWriter
from tests.support.aws import create_stack
from tests.support.faults import inject, json_request, transaction_cancelled
from tests.support.moto_server import serialised_moto_server

ARTICLES = 50
TAGS = ["etf", "mining", "defi"]
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with serialised_moto_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        clients.reset()
        try:
            yield create_stack()
        finally:
            clients.reset()


def source(i: int, tags: list[str]) -> bytes:
    front = (
        f"title: Bulk story {i}\ndate: 2024-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}\n"
        f"category: bitcoin\ntags: [{', '.join(tags)}]\n"
    )
    return f"---\n{front}---\n\nBody of story {i}.\n".encode()


def test_fifty_concurrent_publishes_into_one_category_all_land(
    server: dict[str, str],
) -> None:
    dynamodb = clients.dynamodb()
    rng = random.Random(12)
    tags_of = {i: rng.sample(TAGS, rng.randint(1, 2)) for i in range(ARTICLES)}
    # The table is what is under test; sources and pages stay in memory (fewer requests).
    content, site = InMemoryContentSource(), InMemorySiteWriter()
    events = []
    for i in range(ARTICLES):
        key = f"articles/bulk-{i:02d}.md"
        version = content.put(key, source(i, tags_of[i]))
        events.append(SourceEvent(key, version, pad_sequencer(f"{i + 1:X}"), "created"))
    pauses: list[float] = []  # the waits asked for, slept a tenth of (the jitter still spreads
    # the racing publishers; the bounds themselves are a unit test's)

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds / 10)

    ports = PublishPorts(
        content=content,
        site=site,
        store=DynamoArticleStore(server["ArticlesTable"], dynamodb, sleep=pause),
        pause=pause,
    )

    lock = threading.Lock()
    calls = {"n": 0}

    def refuse(request: dict[str, Any]) -> Any:
        """Every fifth transaction is cancelled as a conflict on head#home; every seventh as a
        failed article condition (the first time a given article commits). Racing publishes
        also fail each other's head conditions on their own (the heads they planned from moved)."""
        items = json_request(request)["TransactItems"]
        with lock:
            calls["n"] += 1
            n = calls["n"]
        keys = [next(iter(action.values())).get("Key") or next(iter(action.values()))["Item"]
                for action in items]  # fmt: skip
        pks = [k["pk"]["S"] for k in keys]
        if n % 7 == 0 and len(pks) > 1 and pks[1].startswith("article#"):
            return transaction_cancelled(
                ["None", "ConditionalCheckFailed"] + ["None"] * (len(pks) - 2)
            )
        if n % 5 == 0 and "head#home" in pks:
            return transaction_cancelled(
                ["TransactionConflict" if pk == "head#home" else "None" for pk in pks]
            )
        return None

    with (
        inject(dynamodb, "TransactWriteItems", refuse) as injected,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):
        outcomes = list(pool.map(lambda e: publish_event(e, ports, NOW), events))

    assert [o.status for o in outcomes] == ["published"] * ARTICLES
    codes = [a[1]["CancellationReasons"] for a in injected]
    conflicts = sum(any(r["Code"] == "TransactionConflict" for r in c) for c in codes)
    replans = sum(any(r["Code"] == "ConditionalCheckFailed" for r in c) for c in codes)
    assert conflicts >= 8, conflicts
    assert replans >= 3, replans
    # Each refusal, injected or met (a racing publish moved a head: its condition failed), was
    # followed by a jittered pause.
    assert len(pauses) >= len(injected)

    store = ports.store
    slugs = {f"bulk-{i:02d}" for i in range(ARTICLES)}
    for listing, expected in [
        ("home", slugs),
        ("category/bitcoin", slugs),
        *[
            (f"tag/{t}", {f"bulk-{i:02d}" for i in range(ARTICLES) if t in tags_of[i]})
            for t in TAGS
        ],
    ]:
        members = {a.slug for a in store.iter_listing(listing)}
        assert members == expected, listing
        assert store.head(listing).count == len(expected), listing
    assert {k for k in site.objects if k.startswith("articles/")} == {
        f"articles/{slug}/index.html" for slug in slugs
    }
