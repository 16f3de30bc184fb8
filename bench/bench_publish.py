"""Publish benchmarks: render throughput of the pure core, and the handler's cold import.

(a) ``parse_source`` + ``Theme.article_page`` over a generated corpus (1,000-word articles from
    ../shared/bench/gen_corpus.py), one core, articles per CPU second, median of 9 runs. Interleaved
    with it, on the same bodies: the pipeline with the Markdown rendered beforehand (what is left
    around the Markdown); ``render_markdown`` alone (cmark-gfm, heading ids, text, lead, nh3,
    link marking); and cmarkgfm alone (its own ``github_flavored_markdown_to_html`` with the same
    extensions and options: parse + render to HTML, nothing else), which bounds what any
    pipeline built on it can reach.
(b) Importing functions/publish/app.py vs ``import boto3``, each in a fresh interpreter
    (timed around the import statement only), median of 7, and their ratio. The core the handler
    imports on its first event (``chainpress.publishing``) is shown too: it is deferred, not free,
    and so is the first render (loading cmark-gfm).
(c) ``render_markdown`` on 1 MiB of pathological Markdown (deep nesting, brackets, emphasis
    markers, big tables, footnotes, repeated headings, raw HTML ...): CPU seconds, median of 3,
    or the limit that refuses it (markdown.MAX_NESTING, markdown.MAX_HTML_CHARS).

Usage: python bench/bench_publish.py [--articles 300] [--runs 9] [--imports 7] [--limits 3]
(CHAINPRESS_SHARED=/path/to/shared when the checkout does not sit beside shared/.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from unittest import mock

import cmarkgfm
from cmarkgfm.cmark import Options

from chainpress import content
from chainpress.content import parse_source
from chainpress.markdown import MarkdownLimitError, RenderedBody, render_markdown
from chainpress.model import Article
from chainpress.render import Theme
from chainpress.settings import Category, SiteSettings

ROOT = Path(__file__).resolve().parents[1]
# ../shared sits beside the checkout (for developers and CI alike); CHAINPRESS_SHARED names it
# for a checkout elsewhere (a git worktree).
SHARED = Path(os.environ.get("CHAINPRESS_SHARED") or ROOT.parent / "shared")
GEN_CORPUS = SHARED / "bench" / "gen_corpus.py"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # every corpus article is in the past: live


def generate(count: int, folder: Path) -> list[tuple[str, bytes]]:
    subprocess.run([sys.executable, str(GEN_CORPUS), str(count), str(folder)], check=True)
    files = sorted(folder.rglob("*.md"))
    return [(f"articles/{f.relative_to(folder).as_posix()}", f.read_bytes()) for f in files]


def corpus_settings(sources: list[tuple[str, bytes]]) -> SiteSettings:
    # The corpus uses categories the default settings do not know: declare them, as a site would.
    keys = set()
    for _, data in sources:
        found = re.search(rb"^category:\s*\"?([\w-]+)", data, re.MULTILINE)
        if found:
            keys.add(found.group(1).decode())
    return SiteSettings(categories=tuple(Category(k, k.title()) for k in sorted(keys)))


def render_all(sources: list[tuple[str, bytes]], settings: SiteSettings, theme: Theme) -> int:
    done: list[Article] = []
    for key, data in sources:
        parsed = parse_source(key, data, settings=settings, now=NOW)
        theme.article_page(
            parsed.article,
            parsed.body.html,
            previous=done[-1] if done else None,
            next=None,
            related=done[-5:],
        )
        done.append(parsed.article)
    return len(done)


def cmarkgfm_alone(text: str) -> str:
    """cmark-gfm by itself, as the site uses it: GitHub's extensions, footnotes, raw HTML kept."""
    options = (
        Options.CMARK_OPT_UNSAFE
        | Options.CMARK_OPT_FOOTNOTES
        | Options.CMARK_OPT_TABLE_PREFER_STYLE_ATTRIBUTES
    )
    return str(cmarkgfm.github_flavored_markdown_to_html(text, options=options))


def bench_render(count: int, runs: int) -> tuple[dict[str, float], int, int]:
    """Articles per second (median of ``runs``): the pipeline, then each Markdown renderer."""
    with tempfile.TemporaryDirectory() as tmp:
        sources = generate(count, Path(tmp))
    settings = corpus_settings(sources)
    theme = Theme(settings)
    words = [len(data.split()) for _, data in sources]
    bodies = [data.decode().split("\n---\n", 1)[1] for _, data in sources]
    render_all(sources[:5], settings, theme)  # compile templates once, as a warm container has

    # The rest of the pipeline: the same calls with each body's Markdown rendered beforehand
    # (render_markdown answers from a dict), i.e. what any parser would still have around it.
    rendered = {
        body: render_markdown(body, site_url=settings.base_url, link_schemes=settings.link_schemes)
        for body in bodies
    }

    def precomputed(text: str, **_: object) -> RenderedBody:
        return rendered[text]

    def rest_of_pipeline() -> int:
        with mock.patch.object(content, "render_markdown", precomputed):
            return render_all(sources, settings, theme)

    cases: dict[str, Callable[[], object]] = {
        "pipeline": lambda: render_all(sources, settings, theme),
        "rest": rest_of_pipeline,
    }
    site_url, schemes = settings.base_url, settings.link_schemes
    cases["render_markdown alone"] = lambda: [
        render_markdown(body, site_url=site_url, link_schemes=schemes) for body in bodies
    ]
    cases[f"cmarkgfm {version('cmarkgfm')} alone"] = lambda: [cmarkgfm_alone(b) for b in bodies]
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):  # interleaved, so machine noise hits every case alike
        for name, case in cases.items():
            # CPU time of this (single-threaded) process: on a shared machine, wall time would
            # also count the turns other processes take on the core.
            start = time.process_time()
            case()
            rates[name].append(len(sources) / (time.process_time() - start))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return medians, len(sources), int(statistics.median(words))


def import_time(statement: str, cwd: Path) -> float:
    code = (
        "import time\n"
        "start = time.perf_counter()\n"
        f"{statement}\n"
        "print(time.perf_counter() - start)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_TRACE")}
    env.update(
        POWERTOOLS_SERVICE_NAME="publish",
        POWERTOOLS_METRICS_NAMESPACE="chainpress",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def bench_imports(runs: int) -> dict[str, float]:
    cases = {
        "import boto3": ("import boto3", ROOT),
        "import functions/publish/app.py": ("import app", ROOT / "functions" / "publish"),
        "import chainpress.publishing (first event)": ("import chainpress.publishing", ROOT),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):  # interleaved, so machine noise hits every case alike
        for name, (statement, cwd) in cases.items():
            times[name].append(import_time(statement, cwd))
    return {name: statistics.median(values) for name, values in times.items()}


MiB = 1024 * 1024


def _mib(unit: str) -> str:
    return (unit * (MiB // len(unit.encode()) + 1))[:MiB]


def pathological() -> dict[str, str]:
    footnotes = "".join(f"Claim[^{n}] {'word ' * 40}\n\n[^{n}]: Source.\n\n" for n in range(4000))
    return {
        "1 MiB of '>' (nesting)": ">" * MiB,
        "5,000 nested quotes, one per line": "".join("> " * i + "x\n" for i in range(1, 5000))[
            :MiB
        ],
        "1 MiB of '['": "[" * MiB,
        "'[a](' repeated": _mib("[a]("),
        "'*a_' repeated (emphasis markers)": _mib("*a_"),
        "'~a' repeated (strikethrough)": _mib("~a"),
        "'`a``' repeated (code spans)": _mib("`a``"),
        "3-column table, 80,000 rows": "| a | b | c |\n|---|---|---|\n" + _mib("| 1 | 2 | 3 |\n"),
        "1,000-column table, 250 rows": "|"
        + "a|" * 1000
        + "\n|"
        + "-|" * 1000
        + "\n"
        + ("|" + "x|" * 1000 + "\n") * 250,
        "4,000 footnotes with text": _mib(footnotes),
        "'[^a]' repeated (one footnote)": _mib("[^a] ") + "\n\n[^a]: x\n",
        "'## Update' repeated (same headings)": _mib("## Update\n\n"),
        "'## a {#x}' repeated (same custom id)": _mib("## a {#x}\n"),
        "'<b>x</b>' repeated (raw HTML)": _mib("<b>x</b> "),
        "'<div>' blocks (raw HTML nesting)": _mib("<div>\n\n"),
        "'<!--' lines (unclosed comments)": _mib("<!--\n"),
        "'www.a.com' repeated (autolinks)": _mib("www.a.com "),
        "'[a]' with a definition (links)": "[a]: /u\n\n" + _mib("[a] "),
        "'- [ ] a' repeated (task list)": _mib("- [ ] a\n"),
    }


def bench_limits(runs: int) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, source in pathological().items():
        times: list[float] = []
        outcome = ""
        for _ in range(runs):
            start = time.process_time()
            try:
                render_markdown(source)
            except MarkdownLimitError as exc:
                outcome = f" (refused: {str(exc).split(' (')[0]})"
            times.append(time.process_time() - start)
        results[name] = f"{statistics.median(times):.2f} s{outcome}"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--limits", type=int, default=3)
    args = parser.parse_args()

    rates, count, words = bench_render(args.articles, args.runs)
    imports = bench_imports(args.imports)
    boto3_ms = imports["import boto3"] * 1000
    handler_ms = imports["import functions/publish/app.py"] * 1000

    print("| measure | value |")
    print("|---|---|")
    rate = rates.pop("pipeline")
    rest = rates.pop("rest")
    print(
        f"| parse + render article page ({count} articles, median {words} words; "
        f"median of {args.runs}, one core, CPU time) | {rate:,.0f} articles/s "
        f"({1000 / rate:.2f} ms each) |"
    )
    print(
        "| the same with each body's Markdown rendered beforehand (front matter, counts, page) | "
        f"{rest:,.0f} articles/s ({1000 / rest:.2f} ms each; {rate / rest:.0%} of the "
        "pipeline's time) |"
    )
    for name, alone in rates.items():
        what = "everything markdown.py does" if name.startswith("render") else "nothing else"
        print(
            f"| {name}: Markdown -> HTML of the same bodies, {what} | "
            f"{alone:,.0f} articles/s ({1000 / alone:.2f} ms each; "
            f"{rate / alone:.0%} of the pipeline's time) |"
        )
    for name, seconds in imports.items():
        print(f"| {name} (median of {args.imports}, fresh interpreter) | {seconds * 1000:.0f} ms |")
    print(f"| handler import / boto3 import | {handler_ms / boto3_ms:.2f}x (budget 1.5x) |")
    if args.limits:
        print()
        print(f"| 1 MiB source | render_markdown, CPU (median of {args.limits}) |")
        print("|---|---|")
        for name, result in bench_limits(args.limits).items():
            print(f"| {name} | {result} |")


if __name__ == "__main__":
    main()
