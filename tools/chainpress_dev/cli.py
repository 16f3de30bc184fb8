"""The ``chainpress`` command.

``chainpress build CONTENT_DIR OUT_DIR [--base-url URL]`` exports the site to a folder with no
AWS at all: the in-memory store, a folder writer, and the very use cases the Lambda functions
run (parse, commit, ``rebuilding.rebuild_all``). CONTENT_DIR is laid out like the content
bucket (``articles/``, ``media/``, ``site.yaml``, ``theme/``); a folder without ``articles/``
(a Hugo-style content dir) is read as ``articles/`` (Markdown and the page bundles' files).
Every page the theme links to is written: the hot page too, empty (views need the API).
Warnings (unknown front matter fields...) are printed; errors make the exit status 1.

A second build reuses what the first one parsed: ``OUT_DIR/_internal/build-index.json`` keeps,
per source, its content hash and article record, next to the rendered bodies in
``_internal/bodies/``. Unchanged sources skip Markdown entirely, so a theme-only change re-runs
templates only; unchanged pages are not rewritten (the folder writer compares bytes), and
outputs of the previous build that this one no longer produces are removed.

``chainpress dev [...]`` starts the local stack (``chainpress_dev.local.stack``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

from chainpress import __version__
from chainpress.content import (
    ContentError,
    bundle_file_problem,
    bundle_owners,
    media_content_type,
    parse_source,
    slug_taken_message,
)
from chainpress.model import Article, Problem, pad_sequencer
from chainpress.ports import (
    CACHE_PAGE,
    HTML,
    INTERNAL_PREFIX,
    ArticleChange,
    Paging,
    SlugTaken,
    SourceState,
    body_key,
)
from chainpress.publishing import (
    MEDIA_CACHE,
    page_key,
    route,
    write_article_page,
)
from chainpress.rebuilding import RebuildPorts, RebuildReport, rebuild_all
from chainpress.responsive import ImageInfo, is_image_key, variant_key
from chainpress.settings import SETTINGS_KEY, SettingsError, SiteSettings
from chainpress.site import load_site
from chainpress.trending import HOT_PAGE_KEY
from chainpress.views import WINDOWS
from chainpress_dev.folder import FolderSiteWriter
from chainpress_dev.memory import InMemoryArticleStore, InMemoryHotLists, InMemorySearchPostings

__all__ = ["BuildResult", "Progress", "build_site", "main"]

INDEX_KEY = f"{INTERNAL_PREFIX}build-index.json"
INDEX_VERSION = 2
CACHE_BODY = "public, max-age=300, s-maxage=86400"
_SEQ = pad_sequencer("1")  # one build is one event per source
_OTHER_PREFIXES = ("media/", "theme/")  # beside articles in a content folder
PARALLEL_FROM = 64  # fewer sources than this: a process pool costs more than it saves


class Progress:
    """A one-line progress bar on a terminal (nothing when output is not a terminal)."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self._drawn = 0.0

    def step(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        width = 30
        done = min(self.done, self.total)
        filled = width * done // self.total
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r{self.label:<8} [{bar}] {done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.done = max(self.done, self.total)
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


@dataclasses.dataclass(slots=True)
class BuildResult:
    articles: int = 0  # sources that became article records
    parsed: int = 0  # ... of which went through Markdown
    reused: int = 0  # ... of which were taken from the previous build
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    report: RebuildReport | None = None
    pruned: int = 0
    seconds: float = 0.0


def _sources(content_dir: Path) -> Iterator[tuple[str, Path]]:
    """(content-bucket key, file) for every file, in key order."""
    bucket_layout = (content_dir / "articles").is_dir()
    found: list[tuple[str, Path]] = []
    # os.walk, not rglob: it follows a symlinked folder (e.g. articles -> a corpus elsewhere).
    for folder, subfolders, files in os.walk(content_dir, followlinks=True):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]  # .git
        for name in files:
            if name.startswith("."):
                continue  # editor backups, .DS_Store
            path = Path(folder, name)
            key = path.relative_to(content_dir).as_posix()
            if not bucket_layout and not (key == SETTINGS_KEY or key.startswith(_OTHER_PREFIXES)):
                key = f"articles/{key}"  # Markdown and the page bundles' files beside it
            found.append((key, path))
    yield from sorted(found)


def _fingerprint(settings_text: str) -> str:
    """What a cached parse depends on besides the source: the parser code and the settings
    (categories validate, base URL and time zone shape the body and dates)."""
    digest = hashlib.sha256(f"{__version__}\0{settings_text}\0".encode())
    package = resources.files("chainpress")
    for module in ("content.py", "markdown.py", "model.py", "settings.py"):
        digest.update(package.joinpath(module).read_bytes())
    return digest.hexdigest()


def _load_index(writer: FolderSiteWriter) -> dict[str, Any]:
    raw = writer.read(INDEX_KEY)
    if raw is None:
        return {}
    try:
        index = json.loads(raw)
    except ValueError:
        return {}
    return index if isinstance(index, dict) and index.get("version") == INDEX_VERSION else {}


def _settings_text(content_dir: Path, base_url: str | None) -> str:
    path = content_dir / SETTINGS_KEY
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if base_url is None:
        return text
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{SETTINGS_KEY} must be a mapping of settings")
    data["base_url"] = base_url
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# A parse outcome: the article, its body HTML and warnings, or the errors for the editor.
_Parsed = tuple[Article, str, list[str]] | list[str]


def _lines(key: str, problems: Iterable[Problem]) -> list[str]:
    """``key:line: message`` for each problem, as compilers print them."""
    return [f"{key}{f':{p.line}' if p.line else ''}: {p.message}" for p in problems]


def _parse_one(job: tuple[str, bytes, SiteSettings, dt.datetime]) -> tuple[str, _Parsed]:
    key, data, settings, now = job
    try:
        parsed = parse_source(key, data, settings=settings, now=now)
    except ContentError as exc:
        return key, _lines(key, exc.problems)
    return key, (parsed.article, parsed.body.html, _lines(key, parsed.warnings))


def _parse_all(
    todo: list[tuple[str, bytes]], settings: SiteSettings, now: dt.datetime, jobs: int
) -> Iterator[tuple[str, _Parsed]]:
    work = [(key, data, settings, now) for key, data in todo]
    if jobs <= 1 or len(work) < PARALLEL_FROM:
        yield from map(_parse_one, work)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_parse_one, work, chunksize=32)


# What forked render workers share with the parent (set just before the pool starts).
_SHARED: tuple[InMemoryArticleStore, FolderSiteWriter] | None = None


def _render_chunk(slugs: list[str]) -> list[tuple[str, bool]]:
    """Write the pages of ``slugs`` (live articles) in a worker; (key, bytes changed) each."""
    assert _SHARED is not None
    store, writer = _SHARED
    _, theme = load_site(store.get_site())
    found = store.get_articles(slugs)
    return [
        (page_key(slug), write_article_page(writer, theme, store, found[slug])) for slug in slugs
    ]


def _article_pages(
    store: InMemoryArticleStore,
    writer: FolderSiteWriter,
    jobs: int,
    progress: Progress,
    meanwhile: Callable[[], None],
) -> Iterator[tuple[str, bool]]:
    """Every article page: live ones rendered (in forked workers when there are many), the
    others removed. Workers inherit the store and the writer: nothing is pickled but slugs.
    ``meanwhile`` (the listings and sitemaps) runs in this process while the workers render."""
    global _SHARED
    live: list[str] = []
    for article in store.scan_articles():
        if article.is_listed:
            live.append(article.slug)
        elif writer.delete(page_key(article.slug)):
            yield page_key(article.slug), True
    live.sort()
    chunks = [live[i : i + 100] for i in range(0, len(live), 100)]
    fork = "fork" in multiprocessing.get_all_start_methods()
    _SHARED = (store, writer)
    try:
        if jobs <= 1 or not fork or len(live) < PARALLEL_FROM:
            meanwhile()
            outcomes: Iterator[list[tuple[str, bool]]] = map(_render_chunk, chunks)
            for outcome in outcomes:
                progress.step(len(outcome))
                yield from outcome
            return
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            outcomes = pool.map(_render_chunk, chunks)  # every chunk submitted: workers start
            meanwhile()
            for outcome in outcomes:
                for key, _ in outcome:
                    writer.keep(key)  # written by a worker: the parent's writer never saw it
                progress.step(len(outcome))
                yield from outcome
    finally:
        _SHARED = None


def build_site(
    content_dir: Path,
    out_dir: Path,
    *,
    base_url: str | None = None,
    now: dt.datetime | None = None,
    stream: TextIO | None = None,
    jobs: int = 1,
) -> BuildResult:
    """Build CONTENT_DIR into OUT_DIR (see the module docstring)."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    result = BuildResult()
    store = InMemoryArticleStore()
    writer = FolderSiteWriter(out_dir)
    previous = _load_index(writer)

    settings_text = _settings_text(content_dir, base_url)
    SiteSettings.from_yaml(settings_text)  # fail early, with the settings' own message
    sources = list(_sources(content_dir))
    themes = {k.removeprefix("theme/"): p for k, p in sources if k.startswith("theme/")}
    store.commit_site(SourceState(SETTINGS_KEY, _SEQ), yaml_text=settings_text)
    for name, path in sorted(themes.items()):
        store.commit_site(
            SourceState(f"theme/{name}", _SEQ),
            theme_name=name,
            theme_text=path.read_text(encoding="utf-8"),
        )
    settings, _ = load_site(store.get_site())
    paging = Paging.of(settings)

    fingerprint = _fingerprint(settings_text)
    cached: dict[str, Any] = {}
    if previous.get("fingerprint") == fingerprint:
        cached = previous.get("sources", {})
    index_sources: dict[str, Any] = {}
    articles = [(k, p) for k, p in sources if k.startswith("articles/") and k.endswith(".md")]
    progress = Progress("parse", len(articles), stream)
    # Pass 1: what the previous build already parsed (same bytes, same parser and settings).
    reused: dict[str, Article] = {}
    todo: list[tuple[str, bytes]] = []
    digests: dict[str, str] = {}
    for key, path in articles:
        data = path.read_bytes()
        digests[key] = hashlib.sha256(data).hexdigest()
        entry = cached.get(key)
        if isinstance(entry, dict) and entry.get("sha256") == digests[key]:
            candidate = Article.from_item(entry["item"])
            if candidate.status == "live" and writer.exists(body_key(candidate.slug)):
                reused[key] = candidate
                writer.keep(body_key(candidate.slug))
                result.warnings += [str(w) for w in entry.get("warnings", [])]
                progress.step()
                continue
        todo.append((key, data))
    # Pass 2: Markdown for the rest, on every core (parsing is pure and per file).
    parsed: dict[str, _Parsed] = {}
    for key, outcome in _parse_all(todo, settings, now, jobs):
        parsed[key] = outcome
        progress.step()
    progress.close()

    # Pass 3: commit oldest first, like publish events one after another (related lists
    # are chosen from what is already published, so the order must not depend on the pool).
    # Date order also gives full pages: a page opens when an article arrives at the newest
    # end of a full last page (paging.py), and an older one joins the page covering its date.
    ready: list[tuple[str, str, Article, str | None, list[str]]] = []
    for key, _ in articles:
        if key in reused:
            warned = [str(w) for w in cached[key].get("warnings", [])]
            ready.append((reused[key].sort_key, key, reused[key], None, warned))
            result.reused += 1
            continue
        outcome = parsed[key]
        if isinstance(outcome, list):
            result.errors += outcome
            continue
        parsed_article, parsed_body, warned = outcome
        result.warnings += warned
        ready.append((parsed_article.sort_key, key, parsed_article, parsed_body, warned))
        result.parsed += 1
    published: dict[str, Article] = {}  # source key -> its committed article
    for _, key, article, body, warnings in sorted(ready, key=lambda entry: entry[:2]):
        article = dataclasses.replace(article, related=())  # chosen when rendered
        status = {"live": "published"}.get(article.status, article.status)
        source = SourceState(key, _SEQ, slug=article.slug, status=status)
        previous_record = store.get_article(article.slug)
        try:
            store.commit(
                ArticleChange(source=source, new=article, previous=previous_record, paging=paging)
            )
        except SlugTaken as exc:
            result.errors.append(f"{key}: {slug_taken_message(exc.slug, exc.owner, key)}")
            continue
        result.articles += 1
        published[key] = article
        if body is not None and article.status in ("live", "scheduled"):
            writer.write(body_key(article.slug), body.encode("utf-8"), HTML, CACHE_BODY)
        item = dataclasses.replace(article, related=()).to_item()
        index_sources[key] = {"sha256": digests[key], "item": item, "warnings": warnings}

    keys = {key for key, _ in sources}
    for key, path in sources:
        if key.startswith("media/"):
            _copy_image_or_file(store, writer, key, key, path.read_bytes(), result)
        elif route(key) == "bundle":
            _bundle_file(key, path, keys, published, writer, result, store)

    pages = sum(store.head(name).pages + 3 for name in store.listings())
    render = Progress("render", pages + result.articles, stream)
    # Site search: every term file from the articles (chainpress.search), as publishes leave it.
    ports = RebuildPorts(store, writer, InMemoryHotLists(), search=InMemorySearchPostings())
    listings: list[RebuildReport] = []

    def listings_and_sitemaps() -> None:
        # Counted per write here only: forked workers must not draw the bar (their pages are
        # counted per chunk as they come back).
        writer.on_output = render.step
        listings.append(rebuild_all(ports, now, articles=False))
        writer.on_output = None

    # The theme links every page to /hot/: without the views API it has nothing to list yet.
    _, theme = load_site(store.get_site())
    hot = theme.hot_page(lists={window: [] for window in WINDOWS})
    writer.write(HOT_PAGE_KEY, hot.encode("utf-8"), HTML, CACHE_PAGE)

    # Article pages, most of the site, on every core; the listings and sitemaps meanwhile here.
    article_pages = list(_article_pages(store, writer, jobs, render, listings_and_sitemaps))
    report = listings[0]
    for key, wrote in article_pages:
        if wrote:
            report.written.append(key)
        else:
            report.unchanged += 1
    result.report = report
    render.close()

    # Outputs of the previous build that this one did not produce: deleted articles, tags...
    for key in sorted(set(previous.get("outputs", [])) - writer.seen - {INDEX_KEY}):
        result.pruned += int(writer.delete(key))
    index = {
        "version": INDEX_VERSION,
        "fingerprint": fingerprint,
        "sources": index_sources,
        "outputs": sorted(writer.seen),
    }
    text = json.dumps(index, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    writer.write(INDEX_KEY, text.encode("utf-8"), "application/json", "no-store")
    result.seconds = time.perf_counter() - started
    return result


def _bundle_file(
    key: str,
    path: Path,
    keys: set[str],
    published: dict[str, Article],
    writer: FolderSiteWriter,
    result: BuildResult,
    store: InMemoryArticleStore,
) -> None:
    """Copy a page bundle's file under its article (as the publish function does)."""
    owner = next(((i, inside) for i, inside in bundle_owners(key) if i in keys), None)
    article = published.get(owner[0]) if owner else None
    if owner is None or article is None or article.status not in ("live", "scheduled"):
        result.warnings.append(f"{key}: not published: no live page bundle (index.md) holds it")
        return
    problem = bundle_file_problem(owner[1])
    if problem is not None:
        result.errors.append(f"{key}: {problem}")
        return
    target = f"articles/{article.slug}/{owner[1]}"
    _copy_image_or_file(store, writer, key, target, path.read_bytes(), result)


def _copy_image_or_file(
    store: InMemoryArticleStore,
    writer: FolderSiteWriter,
    key: str,
    target: str,
    data: bytes,
    result: BuildResult,
) -> None:
    """Copy a media or bundle file to ``target``; an image also gets its WebP variants and
    its record, as the publish function makes them, so pages get the same srcset."""
    if is_image_key(target):
        from chainpress.images import ImageError, process_image

        try:
            image = process_image(data)
        except ImageError as exc:
            if not exc.serve_original:  # too large: not copied
                result.errors.append(f"{key}: {exc.message}")
                return
            result.warnings.append(f"{key}: {exc.message}")  # copied as it is
        else:
            for variant in image.variants:
                name = variant_key(target, variant.width)
                writer.write(name, variant.data, "image/webp", MEDIA_CACHE)
            widths = tuple(variant.width for variant in image.variants)
            store.put_image(ImageInfo(target, image.width, image.height, widths))
    writer.write(target, data, media_content_type(key), MEDIA_CACHE)


def _build(args: argparse.Namespace) -> int:
    content_dir: Path = args.content_dir
    if not content_dir.is_dir():
        print(f"chainpress: {content_dir} is not a folder", file=sys.stderr)
        return 2
    try:
        result = build_site(content_dir, args.out_dir, base_url=args.base_url, jobs=args.jobs)
    except SettingsError as exc:
        print(f"chainpress: {SETTINGS_KEY}: {exc}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    report = result.report or RebuildReport()
    print(
        f"{result.articles} articles ({result.parsed} parsed, {result.reused} reused), "
        f"{len(report.written)} files written, {report.unchanged} unchanged, "
        f"{len(report.deleted) + result.pruned} removed in {result.seconds:.1f} s",
        file=sys.stderr,
    )
    return 1 if result.errors else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chainpress", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="export the site to a folder (no AWS)")
    build.add_argument("content_dir", type=Path, help="content folder (like the content bucket)")
    build.add_argument("out_dir", type=Path, help="output folder")
    build.add_argument("--base-url", help="absolute site URL, e.g. https://news.example.com")
    build.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that parse Markdown (default: one per CPU)",
    )
    commands.add_parser("dev", help="run the local stack (arguments go to it)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["dev"]:
        # Imported only here: the local stack pulls in moto and the HTTP server.
        from chainpress_dev.local import stack

        code: int = stack.main(args_list[1:])
        return code
    args = _parser().parse_args(args_list)
    return _build(args)


if __name__ == "__main__":
    sys.exit(main())
