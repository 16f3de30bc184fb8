"""Full re-renders fanned out over a work queue (chainpress.rerender), on in-memory ports: the
same site as the serial ``rebuild_all``, bounded work per item, counts that survive redelivery,
coalesced triggers, failures that hold the run until redriven."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from importlib import resources

import pytest

import chainpress_dev.memory
from chainpress.model import Article, pad_sequencer
from chainpress.ports import HTML, ArticleChange, SourceState, body_key
from chainpress.rebuilding import RebuildPorts, rebuild_all
from chainpress.rerender import (
    ItemReport,
    Limits,
    RerenderPorts,
    WorkItem,
    handle_item,
    record_failure,
    start_rerender,
)
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryCdn,
    InMemoryHotLists,
    InMemoryRerenderRuns,
    InMemorySiteWriter,
    InMemoryWorkQueue,
)

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
SETTINGS = (
    "name: Fan-out News\npage_size: 5\ncategories:\n  - bitcoin: Bitcoin\n  - wallet: Wallet\n"
    "  - empty: Nothing here yet\n"
)
BASE = resources.files("chainpress").joinpath("theme/templates/base.html").read_text()
THEME = {"base.html": BASE.replace("</body>", "<!-- theme v1 --></body>")}
# Small enough that a 150-article site needs continuations, splits and groups.
SMALL = Limits(
    chunk_articles=7, scan_requests=3, scan_items=20, listing_pages=3, shards=2, fanout=2
)


def articles(n: int, seed: int = 5) -> list[Article]:
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    found = []
    for i in range(n):
        status = rng.choice(["live"] * 8 + ["draft", "removed"])
        date = start + dt.timedelta(hours=rng.randrange(0, 20_000))
        if i % 37 == 0:
            status, date = "scheduled", NOW + dt.timedelta(days=3)
        found.append(
            Article(
                slug=f"story-{i:03d}",
                title=f"Story {i}",
                date=date,
                source_key=f"articles/story-{i:03d}.md",
                content_hash=str(i),
                category=rng.choice(["bitcoin", "wallet", "exchange"]),
                tags=tuple(rng.sample(["etf", "mining", "defi", "nft"], rng.randint(0, 2))),
                status=status,
                related=(f"story-{(i + 1) % n:03d}",),
            )
        )
    return found


def site_of(n: int) -> tuple[InMemoryArticleStore, InMemorySiteWriter]:
    """A table of ``n`` articles and a site bucket holding only their bodies."""
    store = InMemoryArticleStore()
    store.site = dataclasses.replace(store.site, yaml_text=SETTINGS, theme=THEME)
    site = InMemorySiteWriter()
    for article in articles(n):
        source = SourceState(article.source_key, pad_sequencer("1"), slug=article.slug)
        store.commit(ArticleChange(source=source, new=article, previous=None))
        site.write(body_key(article.slug), f"<p>{article.title}</p>".encode(), HTML, "x")
    return store, site


def fanout_ports(
    store: InMemoryArticleStore, site: InMemorySiteWriter, limits: Limits = SMALL
) -> RerenderPorts:
    rebuild = RebuildPorts(store, site, InMemoryHotLists(), InMemoryCdn(), shard_size=20)
    return RerenderPorts(rebuild, InMemoryRerenderRuns(), InMemoryWorkQueue(), limits)


def drain(ports: RerenderPorts, *, deliveries: int = 1) -> list[ItemReport]:
    """Deliver every queued message (each ``deliveries`` times) until the queue is empty."""
    queue = ports.queue
    assert isinstance(queue, InMemoryWorkQueue)
    reports = []
    while queue.messages:
        body = queue.messages.popleft()
        for _ in range(deliveries):
            reports.append(handle_item(body, ports, NOW))
    return reports


@pytest.fixture(autouse=True)
def small_scan_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    # A few items per Scan request, so that segments need several requests and continuations.
    monkeypatch.setattr(chainpress_dev.memory, "ITEMS_PER_PAGE", 12)


def serial_digest(n: int) -> str:
    store, site = site_of(n)
    rebuild_all(RebuildPorts(store, site, InMemoryHotLists(), shard_size=20), NOW)
    return site.digest()


def test_the_fanout_renders_exactly_the_site_rebuild_all_renders() -> None:
    store, site = site_of(150)
    ports = fanout_ports(store, site)
    start = start_rerender(ports, "test:1", NOW)
    assert start.started
    reports = drain(ports)

    assert site.digest() == serial_digest(150)
    kinds = {r.kind for r in reports}
    assert kinds == {"plan", "segment", "listing", "shards", "months", "group", "finish"}
    assert any(r.id.startswith("segment:") and "+" in r.id for r in reports)  # continuations
    run = ports.runs.get()
    assert run is not None
    assert (run.state, run.done, run.total, run.failed) == ("done", run.total, len(reports) - 1, ())
    cdn = ports.rebuild.cdn
    assert isinstance(cdn, InMemoryCdn)
    assert cdn.requests == [["/*"]]  # one invalidation for the whole run
    assert site.read("category/empty/index.html") is not None  # a settings category, no head


def test_no_item_does_more_than_its_limits() -> None:
    store, site = site_of(150)
    ports = fanout_ports(store, site)
    queue = ports.queue
    assert isinstance(queue, InMemoryWorkQueue)
    start_rerender(ports, "test:1", NOW)
    while queue.messages:
        before = queue.calls["SendMessageBatch"]
        report = handle_item(queue.messages.popleft(), ports, NOW)
        assert queue.calls["SendMessageBatch"] - before <= 1, report
        assert report.children <= SMALL.fanout, report
        # It stops after the Scan request that reached the chunk.
        assert report.articles < SMALL.chunk_articles + SMALL.scan_items, report
        assert report.scan_requests <= SMALL.scan_requests, report


def test_every_message_delivered_twice_changes_nothing() -> None:
    store, site = site_of(80)
    ports = fanout_ports(store, site)
    start_rerender(ports, "test:1", NOW)
    reports = drain(ports, deliveries=2)
    assert site.digest() == serial_digest(80)
    assert {r.outcome for r in reports} >= {"done", "skipped-done"}
    run = ports.runs.get()
    assert run is not None
    assert run.state == "done"
    assert run.done == run.total
    cdn = ports.rebuild.cdn
    assert isinstance(cdn, InMemoryCdn)
    assert cdn.requests == [["/*"]]


def test_a_trigger_during_a_run_coalesces_into_exactly_one_more_run() -> None:
    store, site = site_of(60)
    ports = fanout_ports(store, site)
    queue = ports.queue
    assert isinstance(queue, InMemoryWorkQueue)
    first = start_rerender(ports, "site-record:1", NOW)
    for _ in range(4):
        handle_item(queue.messages.popleft(), ports, NOW)
    # New settings arrive while the run is going, twice.
    store.site = dataclasses.replace(store.site, yaml_text=SETTINGS.replace("Fan-out", "Renamed"))
    for trigger in ("site-record:2", "site-record:3"):
        again = start_rerender(ports, trigger, NOW)
        assert not again.started
        assert again.run.run_id == first.run.run_id
        assert again.run.pending
    reports = drain(ports)
    plans = [r for r in reports if r.kind == "plan" and r.outcome == "done"]
    assert len(plans) == 1  # the second run's plan (the first was taken before)
    finishes = [r for r in reports if r.kind == "finish" and r.finished]
    assert len(finishes) == 2
    assert finishes[0].next_run
    assert not finishes[1].next_run
    run = ports.runs.get()
    assert run is not None
    assert (run.number, run.state, run.pending) == (2, "done", False)
    assert b"Renamed News" in (site.read("index.html") or b"")
    assert b"Fan-out News" not in (site.read("articles/story-001/index.html") or b"")


def test_a_retried_trigger_finds_the_run_it_started() -> None:
    store, site = site_of(20)
    ports = fanout_ports(store, site)
    first = start_rerender(ports, "stream:42", NOW)
    again = start_rerender(ports, "stream:42", NOW)
    assert again.started
    assert again.run.run_id == first.run.run_id
    drain(ports)
    run = ports.runs.get()
    assert run is not None
    assert run.number == 1
    assert run.state == "done"


def test_a_failed_item_holds_the_run_until_it_is_redriven() -> None:
    store, site = site_of(40)
    ports = fanout_ports(store, site)
    queue = ports.queue
    assert isinstance(queue, InMemoryWorkQueue)
    start_rerender(ports, "test:1", NOW)
    dead_letters: list[str] = []
    while queue.messages:
        body = queue.messages.popleft()
        if WorkItem.parse(body).kind == "shards" and not dead_letters:
            record_failure(ports, body)  # its last attempt failed: off to the DLQ
            dead_letters.append(body)
            continue
        handle_item(body, ports, NOW)
    run = ports.runs.get()
    assert run is not None
    assert run.state == "running"
    assert run.done == run.total - 1
    assert run.failed == (WorkItem.parse(dead_letters[0]).id,)
    # The operator redrives the dead-letter queue: the run finishes.
    queue.messages.extend(dead_letters)
    drain(ports)
    run = ports.runs.get()
    assert run is not None
    assert run.state == "done"
    assert run.failed == ()


def test_a_run_with_failed_items_is_superseded_by_the_next_trigger() -> None:
    store, site = site_of(20)
    ports = fanout_ports(store, site)
    queue = ports.queue
    assert isinstance(queue, InMemoryWorkQueue)
    old = start_rerender(ports, "test:1", NOW)
    plan = queue.messages.popleft()
    record_failure(ports, plan)
    new = start_rerender(ports, "test:2", NOW)
    assert new.started
    assert new.run.run_id != old.run.run_id
    assert new.run.number == 2
    assert handle_item(plan, ports, NOW).outcome == "skipped-stale"  # a redriven old item
    drain(ports)
    assert site.digest() == serial_digest(20)
