#!/usr/bin/env python3
"""AWS requests per publish as the site grows: 1,000 to 1,000,000 articles.

    python bench/bench_calls.py [--sizes 1000,10000,100000,1000000]

For each size N, an N-article site is loaded into the in-memory adapters (``InMemoryArticleStore
.load``: exactly the state of N commits one after another, oldest first, in seconds) — one
article every 10 minutes, so a bigger site is an older one publishing at the same rate: 9
categories, 0-4 of 200 tags, related lists of the 5 previous articles of the category. The
summary pages are built (``rebuild_summaries``). Then each operation runs as in production:
``publishing.publish_event`` (the publish function) and ``rebuilding.rebuild_changes`` on its
stream batch (the rebuild function), and the requests the AWS adapters would send are read
from the in-memory ``.calls`` counters (tests/integration/test_call_counts.py checks that they
equal the requests DynamoArticleStore, S3SiteWriter and S3ContentSource send on moto):

* new article (existing tags), new article with a new tag, edit (title and text) of an
  article from the middle of the site, delete of the oldest article, backdate (an article from
  the middle moved to the first month), first article of a new month.

Also the peak Python memory (tracemalloc) of one publish + rebuild, and the time to load each
site. Nothing is written into the repository: results go to ``--out`` (default
``bench/results``, git-ignored) as JSON and Markdown, and the Markdown table is printed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import gc
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from chainpress.model import Article, pad_sequencer
from chainpress.ports import HTML, body_key
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress.rebuilding import RebuildPorts, rebuild_changes, rebuild_summaries
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryCdn,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
    StoredObject,
    total_calls,
)

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ["bitcoin", "ethereum", "exchange", "wallet", "metaverse", "defi", "nft", "policy",
              "markets"]  # fmt: skip
SITE_YAML = "name: Perf News\nbase_url: https://news.example.com\ncategories:\n" + "".join(
    f"  - {c}: {c.title()}\n" for c in CATEGORIES
)
_TAG_WORDS = (
    "layer2 stablecoin etf mining staking airdrop dao custody regulation sec cftc hack bridge "
    "oracle rollup zk lending dex cex gaming memecoin rwa tokenization cbdc lightning ordinals "
    "restaking solana cardano polkadot avalanche tron ripple tether usdc binance coinbase "
    "kraken okx bybit"
)
TAGS = [a + b for b in ("", "-news", "-analysis", "-asia", "-europe") for a in _TAG_WORDS.split()]
STEP = dt.timedelta(minutes=10)  # one article every 10 minutes, whatever the size
BODY = "<p>" + " ".join(["The market rallied as traders weighed the news."] * 90) + "</p>\n"
OPERATIONS = [
    "new article",
    "new article, new tag",
    "edit (title and text)",
    "delete the oldest",
    "backdate to the first month",
    "first article of a new month",
]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def synthetic(n: int, newest: dt.datetime) -> list[Article]:
    """n live articles, one every STEP up to ``newest``; related: the 5 previous articles of
    the same category (what publish would have chosen from its newest candidates)."""
    rng = random.Random(n)
    previous: dict[str, collections.deque[str]] = {
        c: collections.deque(maxlen=5) for c in CATEGORIES
    }
    summary = "Traders weighed the news as the market rallied for a third session."
    found = []
    for i in range(n):
        slug = f"article-{i:07d}"
        category = rng.choice(CATEGORIES)
        found.append(
            Article(
                slug=slug,
                title=f"Synthetic headline number {i}",
                date=newest - (n - 1 - i) * STEP,
                source_key=f"articles/{slug}.md",
                content_hash=str(i),
                author="Alice Chen",
                category=category,
                tags=tuple(rng.sample(TAGS, rng.randint(0, 4))),
                summary=summary,
                related=tuple(reversed(previous[category])),
            )
        )
        previous[category].append(slug)
    return found


def source_text(article: Article, title: str | None = None, text: str = "") -> bytes:
    front = (
        f"title: {title or article.title}\ndate: {article.date:%Y-%m-%d %H:%M}\n"
        f"category: {article.category}\ntags: [{', '.join(article.tags)}]\nauthor: Bob Martin\n"
    )
    body = "\n\n".join([f"The market **rallied** as traders weighed the [news](/x/). {text}"] * 40)
    return f"---\n{front}---\n\n{body}\n".encode()


@dataclasses.dataclass
class Site:
    content: InMemoryContentSource
    site: InMemorySiteWriter
    store: InMemoryArticleStore
    hot: InMemoryHotLists
    cdn: InMemoryCdn
    now: dt.datetime
    seq: int = 1

    @property
    def adapters(self) -> tuple[Any, ...]:
        return self.content, self.site, self.store, self.hot, self.cdn

    def event(self, key: str, data: bytes | None) -> collections.Counter[str]:
        """One publish (or removal) and the rebuild of its stream batch: the AWS calls."""
        slug = key.removeprefix("articles/").removesuffix(".md")
        before = self.store.articles.get(slug)  # the stream's old image (not counted)
        version = self.content.put(key, data) if data is not None else ""
        self.seq += 1
        kind = "created" if data is not None else "removed"
        event = SourceEvent(key, version, pad_sequencer(f"{self.seq:X}"), kind)  # type: ignore[arg-type]
        counted = total_calls(*self.adapters)
        publish_event(event, PublishPorts(self.content, self.site, self.store), self.now)
        ports = RebuildPorts(self.store, self.site, self.hot, self.cdn)
        rebuild_changes([(before, self.store.articles.get(slug))], ports, self.now)
        return total_calls(*self.adapters) - counted


def load_site(n: int) -> tuple[Site, float]:
    now = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    started = time.perf_counter()
    articles = synthetic(n, now - dt.timedelta(hours=1))
    store = InMemoryArticleStore()
    store.site = dataclasses.replace(store.site, yaml_text=SITE_YAML)
    store.load(articles)
    site = InMemorySiteWriter()
    body = StoredObject(BODY.encode(), HTML, "x")
    site.objects.update((body_key(a.slug), body) for a in articles)  # every stored body
    seconds = time.perf_counter() - started
    built = Site(InMemoryContentSource(), site, store, InMemoryHotLists(), InMemoryCdn(), now)
    rebuild_summaries(RebuildPorts(store, site, built.hot), now)
    return built, seconds


def operations(site: Site) -> dict[str, collections.Counter[str]]:
    store = site.store
    home = store.sorted_keys["home"]
    members = store.members["home"]

    def two_tags(start: int) -> Article:
        """From position ``start`` on, the first article with two tags: alike at every N."""
        return next(members[k] for k in home[start:] if len(members[k].tags) == 2)

    oldest = two_tags(0)
    middle = two_tags(len(home) // 2)
    moved = two_tags(home.index(middle.sort_key) + 1)
    tags = sorted((t for t in store.head_of if t.startswith("tag/")), key=str)[:3]
    existing = [name.removeprefix("tag/") for name in tags]
    found: dict[str, collections.Counter[str]] = {}

    def new(j: int, when: dt.datetime, tags: list[str]) -> bytes:
        article = Article(
            f"breaking-{j}", f"Breaking story {j}", when, "", "", category="bitcoin",
            tags=tuple(tags),
        )  # fmt: skip
        return source_text(article)

    found["new article"] = site.event(
        "articles/breaking-1.md", new(1, site.now - dt.timedelta(minutes=5), existing)
    )
    found["new article, new tag"] = site.event(
        "articles/breaking-2.md",
        new(2, site.now - dt.timedelta(minutes=4), [*existing[:2], "brand-new-tag"]),
    )
    found["edit (title and text)"] = site.event(
        middle.source_key, source_text(middle, title=middle.title + ", updated", text="More.")
    )
    found["delete the oldest"] = site.event(oldest.source_key, None)
    first_month = dataclasses.replace(moved, date=oldest.date + dt.timedelta(minutes=7))
    found["backdate to the first month"] = site.event(moved.source_key, source_text(first_month))
    next_month = dt.datetime(site.now.year, site.now.month % 12 + 1, 1, 9, tzinfo=dt.UTC)
    site.now = next_month + dt.timedelta(minutes=10)
    found["first article of a new month"] = site.event(
        "articles/breaking-3.md", new(3, next_month, existing)
    )
    return found


def peak_memory(site: Site) -> int:
    """Peak Python memory (bytes) allocated by one publish + rebuild (a new article)."""
    newest = site.store.members["home"][site.store.sorted_keys["home"][-1]]
    when = newest.date + dt.timedelta(minutes=1)
    article = Article("peak", "Peak story", when, "", "", category="bitcoin", tags=("etf",))
    data = source_text(article)
    gc.collect()
    tracemalloc.start()
    try:
        site.event("articles/peak.md", data)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(sizes: list[int]) -> tuple[dict[str, Any], str]:
    results: dict[str, Any] = {}
    for n in sizes:
        print(f"calls: N={n:,}: loading ...", file=sys.stderr, flush=True)
        site, seconds = load_site(n)
        gc.collect()
        gc.freeze()  # the loaded site is not the publish's memory: keep GC scans flat
        counted = operations(site)
        peak = peak_memory(site)
        gc.unfreeze()
        results[str(n)] = {
            "load_seconds": seconds,
            "calls": {op: dict(calls) for op, calls in counted.items()},
            "peak_bytes": peak,
        }
        print(f"calls: N={n:,}: loaded in {seconds:.1f} s", file=sys.stderr, flush=True)
        del site
        gc.collect()
    first, last = str(sizes[0]), str(sizes[-1])
    rows = []
    for op in OPERATIONS:
        totals = [sum(results[str(n)]["calls"][op].values()) for n in sizes]
        ratio = totals[-1] / totals[0]
        rows.append([op, *(str(t) for t in totals), f"{ratio:.2f}x"])
    peaks = [results[str(n)]["peak_bytes"] / 2**20 for n in sizes]
    rows.append(
        ["peak Python memory of one publish + rebuild, MiB", *(f"{p:.1f}" for p in peaks),
         f"{peaks[-1] / peaks[0]:.2f}x"]
    )  # fmt: skip
    rows.append(
        ["(setup) load N articles into the in-memory store, s",
         *(f"{results[str(n)]['load_seconds']:.1f}" for n in sizes), ""]
    )  # fmt: skip
    header = ["AWS calls per publish + rebuild", *(f"N = {n:,}" for n in sizes),
              f"N = {int(last):,} / N = {int(first):,}"]  # fmt: skip
    detail_rows = []
    for op in OPERATIONS:
        calls = results[last]["calls"][op]
        detail_rows.append([op, ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))])
    detail = markdown_table([f"by API at N = {int(last):,}", "requests"], detail_rows)
    return results, markdown_table(header, rows) + "\n\n" + detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results, table = run(sizes)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {"at": dt.datetime.now(dt.UTC).isoformat(), "sizes": sizes, "results": results}
    (args.out / f"calls-{stamp}.json").write_text(json.dumps(payload, indent=2))
    (args.out / f"calls-{stamp}.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
