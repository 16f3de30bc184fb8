#!/usr/bin/env python3
"""Site search: index writes per publish, and index bytes a query fetches, at 1,000 to 100,000
articles.

    python bench/bench_search.py [--sizes 1000,10000,100000]

Each site has N live articles, one every 10 minutes, half English and half Chinese. English
titles (8-12 words) and summaries (25 words) draw from a 20,000-word vocabulary, Chinese ones
(12-20 and 50 characters) from 3,500 characters, both Zipf-distributed (the weight of the word
of rank r is 1/r), plus 0-3 of 200 tags: common terms ("bitcoin", "比特") hold thousands of
articles, so their term files are at the cap (``search.TERM_LIMIT``, newest first).

The index is loaded as N publishes leave it (each term's postings, newest first; the loader
keeps the newest 2 x TERM_LIMIT of each, which is all a term file ever reads), the term files
of the measured articles and queries are written, then each operation runs through
``search.update_index`` exactly as the rebuild function runs it, counting the requests the
AWS adapters would send (``InMemorySearchPostings``: BatchWriteItem, Query; ``InMemorySiteWriter``:
HeadObject, PutObject, DeleteObject):

* new article (English, Chinese), edit of an article's title from the middle of the site,
  delete of an old article;
* queries: the exact title of 200 random articles (English and Chinese), 200 two-word English
  queries and 200 four-character Chinese queries drawn from the same distributions: bytes of
  the term files the page fetches (at most ``MAX_QUERY_TERMS`` files), median and maximum.

Results go to ``--out`` (default ``bench/results``, git-ignored); the Markdown table is printed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import itertools
import json
import random
import statistics
import sys
import time
from pathlib import Path

from chainpress.model import Article
from chainpress.ports import CACHE_PAGE
from chainpress.search import (
    JSON_TYPE,
    MAX_QUERY_TERMS,
    TERM_LIMIT,
    postings_of,
    render_term,
    term_key,
    tokenize,
    update_index,
)
from chainpress_dev.memory import (
    InMemorySearchPostings,
    InMemorySiteWriter,
    StoredObject,
    total_calls,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=10)
_SYLLABLES = [a + b for a in "bcdfghklmnprstvwz" for b in ("a", "e", "i", "o", "u", "ar", "en")]
COMMON = [
    "bitcoin",
    "ethereum",
    "market",
    "price",
    "etf",
    "exchange",
    "wallet",
    "token",
    "stablecoin",
    "crypto",
    "blockchain",
    "regulation",
    "trading",
    "network",
    "fees",
    "defi",
    "mining",
    "staking",
    "layer",
    "upgrade",
    "investors",
    "funds",
]


def vocabulary(rng: random.Random) -> tuple[list[str], list[str]]:
    words = list(COMMON)
    seen = set(words)
    while len(words) < 20_000:
        word = "".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    chars = [chr(0x4E00 + i) for i in rng.sample(range(0x9FA5 - 0x4E00), 3_500)]
    return words, chars


class Zipf:
    def __init__(self, items: list[str], rng: random.Random) -> None:
        self.items = items
        self.cumulative = list(itertools.accumulate(1 / (r + 1) for r in range(len(items))))
        self.rng = rng

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.items, cum_weights=self.cumulative, k=k)


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        words, chars = vocabulary(self.rng)
        self.words, self.chars = Zipf(words, self.rng), Zipf(chars, self.rng)
        self.tags = [f"tag{t}" for t in range(200)]

    def article(self, i: int) -> Article:
        rng = self.rng
        if i % 2:
            title = " ".join(self.words.draw(rng.randint(8, 12))).capitalize()
            summary = " ".join(self.words.draw(25)) + "."
        else:
            title = "".join(self.chars.draw(rng.randint(12, 20)))
            summary = "".join(self.chars.draw(50)) + "。"
        return Article(
            slug=f"article-{i:07d}",
            title=title,
            date=T0 + i * STEP,
            source_key=f"articles/{i}.md",
            content_hash=str(i),
            tags=tuple(rng.sample(self.tags, rng.randint(0, 3))),
            summary=summary,
        )


class LoadedPostings(InMemorySearchPostings):
    """The postings of N publishes, newest 2 x TERM_LIMIT of each term kept (all a term file
    reads, with room for the deletes measured)."""

    def load(self, articles: list[Article]) -> None:
        keep: dict[str, collections.deque[tuple[str, object]]] = collections.defaultdict(
            lambda: collections.deque(maxlen=2 * TERM_LIMIT)
        )
        for article in articles:  # oldest first
            for (term, sort_key), posting in postings_of(article).items():
                keep[term].append((sort_key, posting))
        for term, found in keep.items():
            self.terms[term].update(found)  # type: ignore[arg-type]


def run(n: int) -> dict[str, object]:
    corpus = Corpus(n)
    started = time.perf_counter()
    articles = [corpus.article(i) for i in range(n)]
    postings, site = LoadedPostings(), InMemorySiteWriter()
    postings.load(articles)
    load_s = time.perf_counter() - started
    rng = random.Random(7)

    queries: list[tuple[str, str]] = []
    for article in rng.sample(articles, 200):
        queries.append(("exact title", article.title))
    for _ in range(200):
        queries.append(("2 English words", " ".join(corpus.words.draw(2))))
        queries.append(("4 Chinese characters", "".join(corpus.chars.draw(4))))
    # The measured articles have the same text at every N (only the site around them grows).
    fixed = Corpus(0)
    new_zh, new_en = (
        dataclasses.replace(fixed.article(i), date=T0 + (n + i) * STEP) for i in (0, 1)
    )
    middle = dataclasses.replace(fixed.article(3), date=articles[n // 2].date, slug="middle")
    oldest = dataclasses.replace(fixed.article(5), date=T0 - STEP, slug="oldest")
    postings.load([oldest, middle])
    edited = dataclasses.replace(middle, title=fixed.article(7).title)
    operations = {
        "new article (English)": [(None, new_en)],
        "new article (Chinese)": [(None, new_zh)],
        "edit: new title": [(middle, edited)],
        "delete an old article": [(oldest, None)],
    }
    # The term files as publishes left them, for every term measured (not counted).
    wanted = {t for _, q in queries for t in tokenize(q)}
    for changes in operations.values():
        for old, new in changes:
            wanted |= {term for term, _ in postings_of(old)} | {t for t, _ in postings_of(new)}
    for term in wanted:
        data = render_term(term, postings.newest(term, TERM_LIMIT))
        if data is not None:
            site.objects[term_key(term)] = _stored(data)

    rows: dict[str, dict[str, int]] = {}
    for name, changes in operations.items():
        before = total_calls(postings, site)
        report = update_index(changes, postings, site)
        calls = total_calls(postings, site) - before
        rows[name] = {
            "terms": report.terms,
            "files_written": len(report.written) + len(report.deleted),
            "writes": calls["PutObject"] + calls["DeleteObject"] + calls["BatchWriteItem"],
            "requests": sum(calls.values()),
        }
    fetched: dict[str, list[int]] = collections.defaultdict(list)
    for kind, query in queries:
        terms = list(dict.fromkeys(tokenize(query)))[:MAX_QUERY_TERMS]
        size = 0
        for term in terms:
            stored = site.objects.get(term_key(term))
            size += len(stored.data) if stored is not None else 0
        fetched[kind].append(size)
    return {
        "n": n,
        "load_s": round(load_s, 1),
        "operations": rows,
        "bytes": {
            kind: {"median": int(statistics.median(s)), "max": max(s)}
            for kind, s in fetched.items()
        },
    }


def _stored(data: bytes) -> StoredObject:
    return StoredObject(data, JSON_TYPE, CACHE_PAGE)


def markdown(results: list[dict[str, object]]) -> str:
    sizes = [f"{r['n']:,}" for r in results]
    lines = ["| measure | " + " | ".join(sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for name in results[0]["operations"]:  # type: ignore[attr-defined]
        cells = []
        for r in results:
            row = r["operations"][name]  # type: ignore[index]
            cells.append(
                f"{row['writes']} writes ({row['files_written']} files) / {row['requests']} req"
            )
        lines.append(f"| {name}: index writes / requests | " + " | ".join(cells) + " |")
    for kind in results[0]["bytes"]:  # type: ignore[attr-defined]
        cells = []
        for r in results:
            b = r["bytes"][kind]  # type: ignore[index]
            cells.append(f"{b['median'] / 1000:.1f} KB (max {b['max'] / 1000:.1f} KB)")
        lines.append(f"| query, {kind}: bytes fetched, median (max) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        results.append(run(n))
        print(f"N={n:,}: loaded in {results[-1]['load_s']} s", file=sys.stderr, flush=True)
    table = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search.json").write_text(json.dumps(results, indent=1))
    (args.out / "search.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
