#!/usr/bin/env python3
"""Full re-render fanned out over the work queue (``chainpress.rerender``): the AWS requests and
the peak Python memory of EVERY invocation, at N = 1,000 ... 1,000,000 articles.

    python bench/bench_fanout.py [--sizes 1000,10000,100000,1000000] [--trace-every 10]

In-memory ports (``chainpress_dev.memory``): each adapter counts, in ``calls``, the requests its
AWS twin would send (GetItem, Query, Scan, BatchGetItem, TransactWriteItems, GetObject, HEAD,
PUT, SendMessageBatch, CreateInvalidation ...). The work queue is simulated the way Lambda's SQS
event source drives ``functions/rerender``: batches of up to ``BATCH_SIZE`` messages, each batch
one invocation, ``CONCURRENCY`` invocations at a time. Time is simulated at ``MS_PER_CALL`` per
request (no AWS here): an invocation lasts ``calls x 15 ms``; the messages it sends become
visible when it ends; the estimated wall time is when the last invocation ends.

Per invocation: requests (sum of every adapter's ``calls``) and peak memory (``tracemalloc``
peak above what was allocated before it started; the fake table and site are built before
tracing starts, and so is the fake's segment index, which DynamoDB has for free).

Honest limits: the article template is the real one; the site writer keeps a digest per page
instead of the bytes (the fake bucket would otherwise hold every page of the site in this
process, which a Lambda never does). Listing items build their pages with ``pages.build``: with
today's ``ListingReader`` an old page of a listing is read from the newest end (O(N) reads), so
listing and finish items grow with N until the pagination change (page boundaries in the table)
lands; the table says which rows depend on it.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import gc
import hashlib
import heapq
import json
import math
import random
import sqlite3
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from chainpress.model import Article
from chainpress.paging import Paging
from chainpress.rebuilding import RebuildPorts
from chainpress.rerender import Limits, RerenderPorts, WorkItem, handle_item, start_rerender
from chainpress.settings import SiteSettings
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryCdn,
    InMemoryHotLists,
    InMemoryRerenderRuns,
    InMemorySiteWriter,
    InMemoryWorkQueue,
    StoredObject,
)

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 4  # template.yaml: RerenderFunction's SQS event BatchSize
CONCURRENCY = 100  # template.yaml: ScalingConfig.MaximumConcurrency
MS_PER_CALL = 15.0
NOW = dt.datetime(2025, 1, 15, tzinfo=dt.UTC)
CATEGORIES = ["bitcoin", "ethereum", "exchange", "wallet", "metaverse", "defi", "nft", "policy",
              "markets"]  # fmt: skip
SITE_YAML = "name: Perf News\nbase_url: https://news.example.com\ncategories:\n" + "".join(
    f"  - {c}: {c.title()}\n" for c in CATEGORIES
)
TAGS = [f"tag-{i:03d}" for i in range(200)]
BODY = (
    "<p>" + " ".join(["The market rallied as traders weighed the news."] * 90) + "</p>\n"
).encode()
# Listing and finish items read listings by position: O(N) until page boundaries are stored.
DEPENDS_ON_PAGINATION = {"listing", "shards", "finish"}


class DigestSiteWriter(InMemorySiteWriter):
    """The fake bucket, keeping a digest per page (bodies are one shared value). Digests live
    in SQLite: its memory is not Python's, so the bucket growing by a million keys (and its
    dict resizing midway through some invocation) is not counted as that invocation's memory."""

    def __init__(self) -> None:
        super().__init__()
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE TABLE site (path TEXT PRIMARY KEY, digest BLOB)")

    def _digest(self, path: str) -> bytes | None:
        row = self.db.execute("SELECT digest FROM site WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def write(self, path: str, data: bytes, content_type: str, cache_control: str) -> bool:
        self.calls["HeadObject"] += 1
        digest = hashlib.sha256(data).digest()
        if self._digest(path) == digest:
            return False
        self.calls["PutObject"] += 1
        self.db.execute("INSERT OR REPLACE INTO site VALUES (?, ?)", (path, digest))
        if path.startswith("_internal/sitemaps/"):  # read back by the sitemap index
            self.objects[path] = StoredObject(data, content_type, cache_control)
        return True

    def delete(self, path: str) -> bool:
        self.calls["HeadObject"] += 1
        if self._digest(path) is None:
            return False
        self.db.execute("DELETE FROM site WHERE path = ?", (path,))
        self.objects.pop(path, None)
        self.calls["DeleteObject"] += 1
        return True

    def pages(self) -> int:
        query = "SELECT COUNT(*) FROM site WHERE path NOT LIKE '\\_internal/%' ESCAPE '\\'"
        return int(self.db.execute(query).fetchone()[0])

    def read(self, path: str) -> bytes | None:
        self.calls["GetObject"] += 1
        if path.startswith("_internal/bodies/"):
            return BODY
        stored = self.objects.get(path)
        return stored.data if stored else None


def bulk_load(store: InMemoryArticleStore, n: int) -> None:
    """N live articles over two years (9 categories, 0-4 of 200 tags), loaded as if published
    one after another oldest first (``InMemoryArticleStore.load``: the state those commits
    leave, page boundaries and listing index included, without N transactions)."""
    rng = random.Random(n)
    store.site = dataclasses.replace(store.site, yaml_text=SITE_YAML)
    start = NOW - dt.timedelta(days=730)
    articles = []
    for i in range(n):
        slug = f"article-{i:07d}"
        articles.append(
            Article(
                slug=slug,
                title=f"Synthetic headline number {i}",
                date=start + dt.timedelta(seconds=rng.randrange(0, 730 * 86400)),
                source_key=f"articles/{slug}.md",
                content_hash=str(i),
                author="Alice Chen",
                category=rng.choice(CATEGORIES),
                tags=tuple(rng.sample(TAGS, rng.randint(0, 4))),
                summary="Traders weighed the news as the market rallied for a third session.",
                related=(f"article-{(i * 7919 + 1) % n:07d}",),
            )
        )
    articles.sort(key=lambda a: a.sort_key)
    store.load(articles, Paging.of(SiteSettings.from_yaml(SITE_YAML)))


@dataclasses.dataclass
class Invocation:
    kinds: list[str]
    calls: int
    peak: int  # bytes
    seconds: float


def run(n: int, trace_every: int) -> dict[str, Any]:
    print(f"fanout: N={n:,}: loading ...", file=sys.stderr, flush=True)
    store = InMemoryArticleStore()
    bulk_load(store, n)
    site = DigestSiteWriter()
    hot, cdn = InMemoryHotLists(), InMemoryCdn()
    runs, queue = InMemoryRerenderRuns(), InMemoryWorkQueue()
    limits = Limits()
    ports = RerenderPorts(RebuildPorts(store, site, hot, cdn), runs, queue, limits)
    adapters = (store, site, hot, cdn, runs, queue)
    # The fake's segment index (DynamoDB has it for free), built before anything is measured.
    total = math.ceil(store.head("home").count / limits.chunk_articles)
    store._segments(total)
    gc.collect()
    gc.freeze()  # the fake table is not the invocations' garbage

    def calls() -> int:
        return sum(sum(a.calls.values()) for a in adapters)

    start_rerender(ports, "bench", NOW)
    ready: list[tuple[float, int, str]] = []
    order = 0

    def take_sent(at: float) -> None:
        nonlocal order
        while queue.messages:
            heapq.heappush(ready, (at, order, queue.messages.popleft()))
            order += 1

    take_sent(0.0)
    workers = [0.0] * CONCURRENCY
    invocations: list[Invocation] = []
    began = time.perf_counter()
    last_note = began
    while ready:
        free = heapq.heappop(workers)
        at = max(free, ready[0][0])
        batch = [heapq.heappop(ready)[2]]
        while ready and len(batch) < BATCH_SIZE and ready[0][0] <= at:
            batch.append(heapq.heappop(ready)[2])
        traced = len(invocations) % trace_every == 0 or any(
            WorkItem.parse(b).kind != "segment" for b in batch
        )
        before = calls()
        if traced:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        cpu = time.perf_counter()
        for body in batch:
            handle_item(body, ports, NOW)
        cpu = time.perf_counter() - cpu
        peak = 0
        if traced:
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
        used = calls() - before
        kinds = [WorkItem.parse(b).kind for b in batch]
        invocations.append(Invocation(kinds, used, peak, cpu))
        end = at + used * MS_PER_CALL / 1000
        heapq.heappush(workers, end)
        take_sent(end)
        if time.perf_counter() - last_note > 30:
            last_note = time.perf_counter()
            print(f"  {len(invocations):,} invocations ...", file=sys.stderr, flush=True)
    gc.unfreeze()
    wall = max(workers)
    final = runs.run
    assert final is not None, "no run"
    assert final.state == "done", final
    assert final.done == final.total, final
    assert cdn.requests == [["/*"]], cdn.requests
    pages = site.pages()

    def largest(pick: set[str] | None, field: str) -> Invocation:
        chosen = [i for i in invocations if pick is None or set(i.kinds) <= pick]
        return max(chosen, key=lambda i: getattr(i, field))

    per_kind: dict[str, dict[str, int]] = {}
    for inv in invocations:
        for kind in set(inv.kinds):
            entry = per_kind.setdefault(kind, {"calls": 0, "peak": 0, "invocations": 0})
            entry["calls"] = max(entry["calls"], inv.calls)
            entry["peak"] = max(entry["peak"], inv.peak)
            entry["invocations"] += 1
    independent = {"plan", "segment", "group"}
    totals: collections.Counter[str] = collections.Counter()
    for adapter in adapters:
        totals.update(adapter.calls)
    return {
        "n": n,
        "pages": pages,
        "items": final.total + 1,  # + the finish item
        "invocations": len(invocations),
        "calls_total": sum(i.calls for i in invocations),
        "calls_by_api": dict(totals),
        "largest_calls": dataclasses.asdict(largest(None, "calls")),
        "largest_peak": dataclasses.asdict(largest(None, "peak")),
        "largest_calls_independent": dataclasses.asdict(largest(independent, "calls")),
        "largest_peak_independent": dataclasses.asdict(largest(independent, "peak")),
        "per_kind": per_kind,
        "wall_s": wall,
        "cpu_s": time.perf_counter() - began,
    }


def markdown(results: list[dict[str, Any]]) -> str:
    header = ["full re-render", *(f"N = {r['n']:,}" for r in results)]
    mib = 1024 * 1024

    def row(label: str, fn: Any) -> list[str]:
        return [label, *(fn(r) for r in results)]

    rows = [
        row("pages written", lambda r: f"{r['pages']:,}"),
        row("work items / invocations", lambda r: f"{r['items']:,} / {r['invocations']:,}"),
        row("AWS requests, total", lambda r: f"{r['calls_total']:,}"),
        row("AWS requests per article", lambda r: f"{r['calls_total'] / r['n']:.2f}"),
        row(
            "largest invocation: requests (its items)",
            lambda r: f"{r['largest_calls']['calls']:,} ({_kinds(r['largest_calls'])})",
        ),
        row(
            "largest invocation: peak memory, MiB (its items)",
            lambda r: f"{r['largest_peak']['peak'] / mib:.1f} ({_kinds(r['largest_peak'])})",
        ),
        row(
            "largest plan/segment/group invocation: requests",
            lambda r: f"{r['largest_calls_independent']['calls']:,}",
        ),
        row(
            "largest plan/segment/group invocation: peak MiB",
            lambda r: f"{r['largest_peak_independent']['peak'] / mib:.1f}",
        ),
    ]
    for kind in ("segment", "listing", "shards", "finish"):
        rows.append(
            row(
                f"largest {kind} invocation: requests / peak MiB",
                lambda r, k=kind: (
                    f"{r['per_kind'][k]['calls']:,} / {r['per_kind'][k]['peak'] / mib:.1f}"
                    if k in r["per_kind"]
                    else "-"
                ),
            )
        )
    rows += [
        row(
            f"estimated wall time, {CONCURRENCY} at a time, {MS_PER_CALL:g} ms/request",
            lambda r: _duration(r["wall_s"]),
        ),
        row("this process: CPU time of the simulation", lambda r: _duration(r["cpu_s"])),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _kinds(invocation: dict[str, Any]) -> str:
    return "+".join(sorted(set(invocation["kinds"])))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument(
        "--trace-every",
        type=int,
        default=10,
        help="at N >= 1,000,000, trace the memory of every k-th segment-only invocation "
        "(every other invocation, and all of them below 10^6, are traced)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    results = []
    for n in args.sizes.split(","):
        big = int(n) >= 1_000_000
        results.append(run(int(n), args.trace_every if big else 1))
        print(markdown(results[-1:]), file=sys.stderr, flush=True)  # each size as it ends
    table = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"fanout-{stamp}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"fanout-{stamp}.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
