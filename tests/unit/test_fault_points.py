"""A fault at EVERY AWS call of one publish and of one rebuild batch, then Lambda's retry: the
site, the table and the CDN end up as if nothing had failed.

The in-memory adapters count each AWS request they stand for (``calls``); here that counter
raises at the N-th request of the run instead (before the request takes effect, which is also
"the function died right after request N-1"). A refused CloudFront request raises what the
CloudFront adapter raises (``CdnUnavailable``); anything else a plain error, which Lambda
retries: the publish event is delivered again, the stream batch is retried, and the one-minute
schedule flushes pending invalidations. Afterwards, compared with a run without faults: every
page, listing entry and redirect is there with the same bytes, the table holds the same
records, every path the clean run invalidated was invalidated (or ``/*`` was), and nothing is
left pending.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
from typing import Any

import pytest

from chainpress.invalidation import WILDCARD, InMemoryInvalidationQueue
from chainpress.model import Article, pad_sequencer
from chainpress.ports import CdnUnavailable
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress.rebuilding import RebuildPorts, flush_invalidations, rebuild_changes
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryCdn,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
Change = tuple[Article | None, Article | None]


class InjectedFault(RuntimeError):
    pass


class Plan:
    """Counts requests across every adapter; raises at request number ``fail_at``."""

    def __init__(self) -> None:
        self.count = 0
        self.fail_at: int | None = None
        self.hit: str = ""

    def tick(self, owner: str, api: str) -> None:
        self.count += 1
        if self.count == self.fail_at:
            self.fail_at = None
            self.hit = f"{owner}.{api}"
            if owner == "cdn":
                raise CdnUnavailable(f"injected fault at {api}", transient=True)
            raise InjectedFault(f"injected fault at {owner}.{api} (request {self.count})")


class FaultyCalls(collections.Counter[str]):
    """An adapter's request counter that asks ``plan`` before each request is counted."""

    def __init__(self, plan: Plan, owner: str, counts: dict[str, int]) -> None:
        super().__init__(counts)
        self.plan = plan
        self.owner = owner

    def __setitem__(self, api: str, value: int) -> None:
        if value > self.get(api, 0):
            self.plan.tick(self.owner, api)
        super().__setitem__(api, value)


@dataclasses.dataclass
class World:
    content: InMemoryContentSource
    site: InMemorySiteWriter
    store: InMemoryArticleStore
    queue: InMemoryInvalidationQueue
    cdn: InMemoryCdn
    seq: int = 0

    def arm(self, plan: Plan) -> None:
        for owner in ("content", "site", "store", "queue", "cdn"):
            adapter = getattr(self, owner)
            adapter.calls = FaultyCalls(plan, owner, dict(adapter.calls))

    def publish_ports(self) -> PublishPorts:
        return PublishPorts(self.content, self.site, self.store, self.queue, pause=lambda s: None)

    def rebuild_ports(self) -> RebuildPorts:
        return RebuildPorts(
            self.store, self.site, InMemoryHotLists(), cdn=self.cdn, invalidations=self.queue
        )

    def event(self, key: str, data: bytes) -> SourceEvent:
        self.seq += 1
        version = self.content.put(key, data)
        return SourceEvent(key, version, pad_sequencer(f"{self.seq:X}"), "created")

    def publish(self, event: SourceEvent) -> list[Change]:
        """Deliver ``event`` (again and again while it raises: Lambda's retries); returns the
        stream batch its commits produced (old and new images of the changed records)."""
        before = dict(self.store.articles)
        for _ in range(5):
            try:
                publish_event(event, self.publish_ports(), NOW)
                break
            except InjectedFault:
                continue
        else:
            pytest.fail("publish never succeeded")
        slugs = set(before) | set(self.store.articles)
        return [
            (before.get(s), self.store.articles.get(s))
            for s in sorted(slugs)
            if before.get(s) != self.store.articles.get(s)
        ]

    def rebuild(self, batch: list[Change]) -> None:
        for _ in range(5):
            try:
                rebuild_changes(batch, self.rebuild_ports(), NOW)
                break
            except InjectedFault:
                continue  # the batch's records are reported failed: Lambda retries them
        else:
            pytest.fail("rebuild never succeeded")
        for _ in range(5):  # the one-minute schedule
            try:
                flush_invalidations(self.rebuild_ports())
                break
            except InjectedFault:
                continue

    def outcome(self) -> dict[str, Any]:
        return {
            "site": {
                k: (v.data, v.content_type, v.cache_control) for k, v in self.site.objects.items()
            },
            "articles": dict(self.store.articles),
            "members": copy.deepcopy(self.store.members),
            "sources": {k: dataclasses.replace(v) for k, v in self.store.sources.items()},
            "reports": {k: v["status"] for k, v in self.content.reports.items()},
        }


def article(title: str, day: int, category: str, extra: str = "") -> bytes:
    front = f"title: {title}\ndate: 2024-05-{day:02d} 08:00\ncategory: {category}\n"
    return f"---\n{front}tags: [ETF, L2]\n{extra}---\n\nBody of {title}.\n".encode()


def base_world() -> World:
    world = World(
        InMemoryContentSource(),
        InMemorySiteWriter(),
        InMemoryArticleStore(),
        InMemoryInvalidationQueue(),
        InMemoryCdn(),
    )
    world.rebuild(world.publish(world.event("site.yaml", b"page_size: 2\n")))
    for n in range(1, 7):
        extra = "slug: old-name\n" if n == 3 else ""
        key = f"articles/a{n}.md"
        category = "bitcoin" if n % 2 else "ethereum"
        world.rebuild(world.publish(world.event(key, article(f"A{n}", n, category, extra))))
    world.cdn.requests.clear()
    world.cdn.references.clear()
    assert world.queue.entries == {}
    return world


# The publish under test: a live article renamed (its old URL kept as an alias), retitled and
# moved to the other category: its page, the redirect, both categories' listings, the
# neighbours on both sides and the related lists linking it all change.
# (An alias of the old URL itself is issue 14 item 5, another piece of work: /2024/a3/ here.)
RENAMED = article("A3 renamed", 3, "ethereum", "slug: new-name\naliases: [/2024/a3/]\n")


@pytest.fixture(scope="module")
def base() -> World:
    return base_world()


def run(base: World, *, publish_fault: int | None, rebuild_fault: int | None) -> tuple[World, Plan]:
    world = copy.deepcopy(base)
    plan = Plan()
    world.arm(plan)
    event = world.event("articles/a3.md", RENAMED)
    plan.fail_at = publish_fault
    batch = world.publish(event)
    published_at = plan.count
    plan.fail_at = None if rebuild_fault is None else published_at + rebuild_fault
    world.rebuild(batch)
    return world, plan


@pytest.fixture(scope="module")
def reference(base: World) -> tuple[World, int, int]:
    """The clean run, and how many requests its publish and its rebuild (+ flush) make."""
    world = copy.deepcopy(base)
    plan = Plan()
    world.arm(plan)
    batch = world.publish(world.event("articles/a3.md", RENAMED))
    publish_calls = plan.count
    world.rebuild(batch)
    return world, publish_calls, plan.count - publish_calls


def check_same(world: World, reference: World, where: str) -> None:
    got, want = world.outcome(), reference.outcome()
    missing = sorted(set(want["site"]) - set(got["site"]))
    assert missing == [], f"{where}: pages missing {missing}"
    extra = sorted(set(got["site"]) - set(want["site"]))
    assert extra == [], f"{where}: pages left behind {extra}"
    differ = sorted(k for k in want["site"] if got["site"][k] != want["site"][k])
    assert differ == [], f"{where}: pages differ {differ}"
    for part in ("articles", "members", "reports"):
        assert got[part] == want[part], f"{where}: {part} differ"
    invalidated = world.cdn.paths
    if WILDCARD not in invalidated:
        lost = sorted(reference.cdn.paths - invalidated)
        assert lost == [], f"{where}: never invalidated {lost}"
    assert world.queue.entries == {}, f"{where}: left pending {sorted(world.queue.entries)}"


def test_the_clean_run_changes_what_the_scenario_says(reference: tuple[World, int, int]) -> None:
    world, publish_calls, rebuild_calls = reference
    assert "articles/new-name/index.html" in world.site.objects
    redirect = world.site.objects["2024/a3/index.html"].data.decode()
    assert "/articles/new-name/" in redirect
    assert "articles/old-name/index.html" not in world.site.objects
    assert "/articles/old-name/index.html" in world.cdn.paths  # the old page is gone
    assert publish_calls > 10
    assert rebuild_calls > 20


def test_a_fault_at_every_request_of_a_publish_then_retry(
    base: World, reference: tuple[World, int, int]
) -> None:
    clean, publish_calls, _ = reference
    hits = collections.Counter[str]()
    for n in range(1, publish_calls + 1):
        world, plan = run(base, publish_fault=n, rebuild_fault=None)
        assert plan.hit, f"publish request {n} was never reached"
        hits[plan.hit.split(".")[0]] += 1
        check_same(world, clean, f"publish fault at request {n} ({plan.hit})")
    assert sum(hits.values()) == publish_calls


def test_a_fault_at_every_request_of_a_rebuild_batch_then_retry(
    base: World, reference: tuple[World, int, int]
) -> None:
    clean, _, rebuild_calls = reference
    hits = collections.Counter[str]()
    for n in range(1, rebuild_calls + 1):
        world, plan = run(base, publish_fault=None, rebuild_fault=n)
        assert plan.hit, f"rebuild request {n} was never reached"
        hits[plan.hit.split(".")[0]] += 1
        check_same(world, clean, f"rebuild fault at request {n} ({plan.hit})")
    assert hits["cdn"] >= 1  # the CreateInvalidation request itself failed once too
