"""Publish use cases: one content-bucket event becomes records, pages and a status report.

Pure: receives its ports (content source, site writer, article store), never imports boto3.

Order matters. The table is committed first (one transaction, guarded by the event's
sequencer), THEN the bytes are written. A retry of the same event re-applies the same commit
(equal sequencer is allowed) and rewrites identical bytes (writers skip them), so retries
converge; a stale event (lower sequencer) changes nothing at all. Bad input never raises: it
becomes an ``error`` status (message and line) and leaves the live page, body and record
byte-identical. AWS errors do raise, so Lambda retries the event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import html
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from chainpress.aliases import alias_key, claimed_slug
from chainpress.content import (
    MAX_SOURCE_BYTES,
    ContentError,
    bundle_file_problem,
    bundle_folder,
    bundle_owners,
    media_content_type,
    media_disposition,
    parse_source,
    slug_taken_message,
)
from chainpress.invalidation import MAX_PATHS_PER_REQUEST, RecordingWriter
from chainpress.linkcheck import check_links
from chainpress.model import (
    ARTICLE_PREFIX,
    MAX_TRANSLATIONS,
    RELATED_NEIGHBOURS,
    Article,
    Problem,
    format_time,
    related_listings,
    shorten,
    tag_key,
    translation_listing,
)
from chainpress.ports import (
    CACHE_ARTICLE,
    HTML,
    ArticleChange,
    ArticleConflict,
    ArticleStore,
    ContentSource,
    InvalidationQueue,
    Paging,
    SiteWriter,
    SlugTaken,
    SourceState,
    StaleEvent,
    body_key,
)
from chainpress.preview import CACHE_PREVIEW, PreviewSigner, expires_of, preview_key, preview_page
from chainpress.render import Theme, ThemeError, href
from chainpress.responsive import (
    WIDTHS,
    ImageInfo,
    cover_key,
    image_keys,
    is_image_key,
    is_variant_key,
    responsive_html,
    variant_key,
)
from chainpress.retry import backoff_delay
from chainpress.settings import SETTINGS_KEY, SettingsError, SiteSettings, category_key
from chainpress.site import load_site
from chainpress.themecheck import check_theme

__all__ = [
    "MEDIA_CACHE",
    "PublishOutcome",
    "PublishPorts",
    "SourceEvent",
    "alias_key",
    "alias_keys",
    "choose_related",
    "page_key",
    "publish_event",
    "related_articles",
    "render_article_page",
    "route",
    "settle_alias",
    "status_report",
    "translations_of",
    "write_alias_pages",
    "write_article_page",
]

EventKind = Literal["created", "removed"]
Route = Literal["article", "bundle", "media", "settings", "theme", "ignored"]

MEDIA_PREFIX = "media/"

# S3 keys are at most 1,024 bytes, and a source's report is ``_status/<key>.json``: longer keys
# are refused, their report written under ``_status/_too-long/<sha256 of the key>.json``.
MAX_KEY_BYTES = 1024 - len("_status/") - len(".json")
TOO_LONG_PREFIX = "_too-long/"
# site.yaml and each theme template are stored as one table item each (DynamoDB: 400 KB).
MAX_SITE_TEXT_BYTES = 256 * 1024
THEME_PREFIX = "theme/"

# Media keys are not content-hashed, and a re-upload under the same key is not invalidated on
# the CDN by anyone: a week is long enough to be cheap, short enough for a fix to show up.
MEDIA_CACHE = "public, max-age=604800"

# A page bundle's files are listed (one request per 1,000) and copied when its article goes up,
# moves or comes down: a bounded cost per publish, whatever the size of the site.
MAX_BUNDLE_FILES = 1000
# A bundle file is read whole into the function's memory (1 GB): larger ones belong in media/.
MAX_BUNDLE_FILE_BYTES = 100 * 1024 * 1024

RELATED_LIMIT = 5

# A page is re-rendered while its neighbour listing keeps moving under it (see
# docs/architecture.md, "Why pages converge"); a newer event for the same key is caught up on.
# Both loops are bounded: the stream-triggered rebuild converges anything left.
_MAX_RENDERS = 3
_MAX_CATCH_UP = 3
# A commit refused because what it read changed before it committed (a concurrent publish
# moved a listing head it writes, another file took the slug, a concurrent event for the same
# article): read again and plan again, after a jittered pause (full jitter, so concurrent
# publishers spread out), this many times in all (at most ~9 s of pauses); then the event fails
# and Lambda retries it. Every publish writes head#home, so a bulk import does contend here.
MAX_PLANS = 10
_REPLAN_BASE = 0.05
_REPLAN_CAP = 2.0


@dataclasses.dataclass(frozen=True, slots=True)
class SourceEvent:
    """One S3 record, already decoded by the handler."""

    key: str  # unquoted: "articles/2022/链圈 news.md"
    version_id: str  # "" on an unversioned bucket (read the latest)
    sequencer: str  # padded with model.pad_sequencer: compares as text
    kind: EventKind
    size: int = 0  # bytes, from the event (0: unknown); an oversized upload is not even read


@dataclasses.dataclass(frozen=True, slots=True)
class PublishPorts:
    content: ContentSource
    site: SiteWriter
    store: ArticleStore
    # Where pages a CDN may hold are noted before they change (None: no CDN).
    invalidations: InvalidationQueue | None = None
    pause: Callable[[float], None] = time.sleep  # between re-plans (tests pass a fake)
    # Signs draft/scheduled previews (None: no previews, e.g. the static build).
    preview: PreviewSigner | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What one event did; the handler logs it and turns it into metrics."""

    key: str
    route: Route
    # published | draft | scheduled | removed | error | pending (as in the status report), or
    # stale (a newer event was applied: nothing changed) | ignored (not a content key).
    status: str
    slug: str = ""
    url: str = ""
    written: tuple[str, ...] = ()  # site-bucket keys whose bytes changed
    deleted: tuple[str, ...] = ()
    error: str = ""  # the first error (errors[0])
    line: int | None = None
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    # A newer event for the same key committed while this one was writing; its state was
    # re-applied so that our late writes cannot leave older bytes behind.
    caught_up: bool = False


@dataclasses.dataclass(slots=True)
class _Writes:
    """Collects what actually changed in the site bucket."""

    site: SiteWriter
    written: list[str] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)

    def write(
        self, path: str, data: bytes, content_type: str, cache_control: str, disposition: str = ""
    ) -> None:
        if disposition:
            written = self.site.write(path, data, content_type, cache_control, disposition)
        else:
            written = self.site.write(path, data, content_type, cache_control)
        if written:
            self.written.append(path)

    def delete(self, path: str) -> None:
        if self.site.delete(path):
            self.deleted.append(path)


class _BadInput(Exception):
    """Internal: an upload that cannot be applied (becomes an ``error`` status)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# --------------------------------------------------------------------------------------------
# Shared helpers (rebuild and trending use these too)


def page_key(slug: str) -> str:
    """Site-bucket key of an article page."""
    return f"{ARTICLE_PREFIX}/{slug}/index.html"


def _neighbour_listing(article: Article) -> str:
    return f"category/{article.category}" if article.category else "home"


def choose_related(
    article: Article, candidates: Iterable[Article], limit: int = RELATED_LIMIT
) -> tuple[str, ...]:
    """Slugs of related live articles: same category or shared tags; most shared tags first,
    then newest. Tags compare by their URL key, so "Layer 2" and "layer-2" are one tag."""
    own_tags = {tag_key(t) for t in article.tags}
    scored: dict[str, tuple[int, dt.datetime, Article]] = {}
    for candidate in candidates:
        if candidate.slug == article.slug or not candidate.is_listed:
            continue
        shared = len(own_tags & {tag_key(t) for t in candidate.tags})
        same_category = bool(article.category) and candidate.category == article.category
        if shared or same_category:
            scored[candidate.slug] = (shared, candidate.date, candidate)
    ranked = sorted(scored.values(), key=lambda s: (-s[0], -s[1].timestamp(), s[2].slug))
    return tuple(item.slug for _, _, item in ranked[:limit])


def render_article_page(theme: Theme, store: ArticleStore, article: Article, body_html: str) -> str:
    """The article page, with its neighbours (in its category listing, or ``home`` when it has
    none) and its related articles read from the store. Only live articles are linked."""
    listing = _neighbour_listing(article)
    older = store.newest(listing, 1, before=article.sort_key)
    newer = store.oldest(listing, 1, after=article.sort_key)
    related = related_articles(store, article)
    keys = article_image_keys(article, body_html)
    images = store.get_images(keys) if keys else {}
    return theme.article_page(
        article,
        responsive_html(body_html, article.url, images),
        previous=older[0] if older else None,
        next=newer[0] if newer else None,
        related=related,
        translations=translations_of(store, article),
        images=images,
    )


def article_image_keys(article: Article, body_html: str) -> list[str]:
    """Site keys of the local images an article page shows (its body's, then its cover)."""
    keys = image_keys(body_html, article.url)
    cover = cover_key(article.cover)
    if cover is not None and cover not in keys:
        keys.append(cover)
    return keys


def related_articles(store: ArticleStore, article: Article) -> list[Article]:
    """The related articles a page shows: of the ``RELATED_NEIGHBOURS`` articles on each side
    of ``article`` (by date) in its category and each tag listing, those sharing most tags,
    then the newest (``choose_related``). A function of the listings as they are, whatever the
    order articles arrived in; two short reads per listing, whatever the size of the site. The
    rebuild re-renders the neighbours of an article that comes, goes or changes
    (``pages.article_pages``), so every page's list stays current."""
    key = article.sort_key
    candidates: dict[str, Article] = {}
    for listing in related_listings(article):
        near = store.newest(listing, RELATED_NEIGHBOURS, before=key)
        near += store.oldest(listing, RELATED_NEIGHBOURS, after=key)
        candidates.update((a.slug, a) for a in near)
    chosen = choose_related(article, candidates.values())
    return [candidates[slug] for slug in chosen]


def translations_of(store: ArticleStore, article: Article) -> list[Article]:
    """The other live articles sharing ``article``'s translation key (one listing read); empty
    when it has no key or no live translation."""
    if not article.translation_key:
        return []
    members = store.newest(translation_listing(article.translation_key), MAX_TRANSLATIONS)
    return [member for member in members if member.is_listed and member.slug != article.slug]


def _write_page(
    writer: SiteWriter, theme: Theme, store: ArticleStore, article: Article, body_html: str
) -> bool:
    # Re-render while the neighbour listing moves under us: the last write then reflects a
    # state at least as new as any commit it raced with.
    listing = _neighbour_listing(article)
    wrote = False
    for _ in range(_MAX_RENDERS):
        version = store.head(listing).version
        page = render_article_page(theme, store, article, body_html).encode("utf-8")
        wrote = writer.write(page_key(article.slug), page, HTML, CACHE_ARTICLE) or wrote
        if store.head(listing).version == version:
            break
    return wrote


def write_article_page(
    writer: SiteWriter, theme: Theme, store: ArticleStore, article: Article
) -> bool:
    """(Re)write ``articles/<slug>/index.html`` from the stored body. False when the bytes were
    already there, or when there is no stored body (nothing to render)."""
    body = writer.read(body_key(article.slug))
    if body is None:
        return False
    return _write_page(writer, theme, store, article, body.decode("utf-8"))


def _redirect_page(settings: SiteSettings, article: Article) -> bytes:
    target = href(article.url)
    canonical = html.escape(settings.absolute(target))
    title = html.escape(article.title)
    language = article.language or settings.language
    page = (
        "<!doctype html>\n"
        f'<html lang="{html.escape(language)}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        '<meta name="robots" content="noindex">\n'
        f'<link rel="canonical" href="{canonical}">\n'
        f'<meta http-equiv="refresh" content="0; url={html.escape(target)}">\n'
        "</head>\n<body>\n"
        f'<p>This article has moved: <a href="{html.escape(target)}">{title}</a></p>\n'
        "</body>\n</html>\n"
    )
    return page.encode("utf-8")


def alias_keys(article: Article | None) -> set[str]:
    """Every site key ``article``'s aliases name (claimed or not: ``settle_alias`` decides)."""
    if article is None:
        return set()
    keys = (alias_key(alias, article.slug) for alias in article.aliases)
    return {key for key in keys if key is not None}


def settle_alias(
    writer: SiteWriter, store: ArticleStore, settings: SiteSettings, key: str
) -> tuple[str, bool]:
    """Make site key ``key`` (an alias's, or the page of an article that is no longer live)
    what the table says it is: a live article's own page is left to its writer (``"page"``);
    else the redirect to the key's owner (``"redirect"``: of the live articles claiming the
    key, the one with the oldest sort key; see chainpress.aliases); else nothing
    (``"gone"``). Returns that, and whether the site changed. One query and at most two
    reads, whatever the order the claims were made in."""
    slug = claimed_slug(key)
    if slug is not None:
        own = store.get_article(slug)
        if own is not None and own.is_listed:
            return "page", False
    owner_slug = store.alias_owner(key)
    owner = store.get_article(owner_slug) if owner_slug else None
    if owner is not None and owner.is_listed:
        return "redirect", writer.write(key, _redirect_page(settings, owner), HTML, CACHE_ARTICLE)
    return "gone", writer.delete(key)


def write_alias_pages(
    writer: SiteWriter, store: ArticleStore, settings: SiteSettings, article: Article
) -> list[str]:
    """Settle every alias key of ``article`` (the redirect of whichever live article owns it);
    returns the keys whose bytes changed (written or deleted)."""
    return [
        key for key in sorted(alias_keys(article)) if settle_alias(writer, store, settings, key)[1]
    ]


# --------------------------------------------------------------------------------------------
# The use case


def route(key: str) -> Route:
    """What a content-bucket key is (see docs/architecture.md, "Content bucket")."""
    if key.startswith(f"{ARTICLE_PREFIX}/") and key.lower().endswith(".md"):
        return "article"
    if key.startswith(f"{ARTICLE_PREFIX}/") and not key.endswith("/"):
        # Anything else under articles/ may be a page bundle's file; hidden files
        # (.DS_Store, .gitkeep) are not content.
        hidden = any(part.startswith(".") for part in key.split("/"))
        return "ignored" if hidden else "bundle"
    if key.startswith(MEDIA_PREFIX) and len(key) > len(MEDIA_PREFIX) and not key.endswith("/"):
        return "media"
    if key == SETTINGS_KEY:
        return "settings"
    name = key.removeprefix(THEME_PREFIX)
    if key.startswith(THEME_PREFIX) and "/" not in name and name.endswith(".html"):
        return "theme"
    return "ignored"


def publish_event(record: SourceEvent, ports: PublishPorts, now: dt.datetime) -> PublishOutcome:
    """Apply one content-bucket event. Never raises on bad input; raises on AWS errors."""
    kind = route(record.key)
    if kind == "ignored":
        return PublishOutcome(key=record.key, route=kind, status="ignored")
    if len(record.key.encode("utf-8")) > MAX_KEY_BYTES:
        return _key_too_long(kind, record, ports, now)
    outcome = _apply_planned(kind, record, ports, now)
    if outcome.status == "stale":
        return outcome
    # Writes happen after the commit, so a newer event for this key may have committed AND
    # written while we rendered; ours would then have landed last, with older bytes. Re-apply
    # whatever state is now committed (its own writes are identical, hence skipped).
    written, deleted = list(outcome.written), list(outcome.deleted)
    seq = record.sequencer
    caught_up = False
    for _ in range(_MAX_CATCH_UP):
        current = ports.store.get_source(record.key)
        if current is None or current.seq <= seq:
            break
        caught_up = True
        seq = current.seq
        newer = SourceEvent(
            key=record.key,
            version_id=current.version_id,
            sequencer=current.seq,
            kind="removed" if current.status == "removed" else "created",
        )
        again = _apply_planned(kind, newer, ports, now)
        written += again.written
        deleted += again.deleted
    return dataclasses.replace(
        outcome, written=tuple(written), deleted=tuple(deleted), caught_up=caught_up
    )


def _key_too_long(
    kind: Route, record: SourceEvent, ports: PublishPorts, now: dt.datetime
) -> PublishOutcome:
    """A key whose report key would exceed S3's 1,024 bytes (and the table's key sizes): refused
    before anything is read or stored; the report goes to a key named by the key's hash."""
    size = len(record.key.encode("utf-8"))
    report_key = f"{TOO_LONG_PREFIX}{hashlib.sha256(record.key.encode('utf-8')).hexdigest()}"
    message = (
        f"the file's key is {size:,} bytes long (UTF-8): at most {MAX_KEY_BYTES:,}; "
        "use a shorter folder or file name"
    )
    report = status_report(record.key, record.version_id, "error", now, error=message)
    ports.content.write_status(report_key, report)
    return PublishOutcome(
        key=record.key, route=kind, status="error", error=message, errors=(Problem(message),)
    )


def _apply_planned(
    kind: Route, record: SourceEvent, ports: PublishPorts, now: dt.datetime
) -> PublishOutcome:
    """``_apply``, read and planned again when its commit finds the record changed under it
    (the commit is the first write, so nothing was written yet). Bounded: the last conflict
    propagates and Lambda retries the event later."""
    for attempt in range(MAX_PLANS):
        try:
            return _apply(kind, record, ports, now)
        except ArticleConflict:
            if attempt + 1 == MAX_PLANS:
                raise
            ports.pause(backoff_delay(attempt, base=_REPLAN_BASE, cap=_REPLAN_CAP))
    raise AssertionError("unreachable")  # pragma: no cover


def _apply(
    kind: Route, record: SourceEvent, ports: PublishPorts, now: dt.datetime
) -> PublishOutcome:
    state = ports.store.get_source(record.key)
    if state is not None and state.seq > record.sequencer:
        # Checked here to skip the read and render; the commit's condition is the real guard.
        return PublishOutcome(key=record.key, route=kind, status="stale")
    try:
        if kind == "article":
            return _article(record, state, ports, now)
        if kind == "bundle":
            return _bundle_file(record, ports, now)
        if kind == "media":
            return _media(record, state, ports, now)
        return _site(kind, record, state, ports, now)
    except StaleEvent:
        return PublishOutcome(key=record.key, route=kind, status="stale")


def status_report(
    key: str,
    version_id: str,
    status: str,
    now: dt.datetime,
    *,
    url: str = "",
    error: str = "",
    line: int | None = None,
    errors: Sequence[Problem] = (),
    warnings: Sequence[Problem] = (),
    preview: str = "",
) -> dict[str, object]:
    """The editor-facing report for one source key (stored beside the upload as JSON):
    ``errors`` lists every problem that stopped it (``error`` is the first, kept for readers
    of the older shape), ``warnings`` what was published anyway but deserves a look.
    A draft or scheduled article's report also has ``preview_url`` (the signed preview page's
    path) and ``preview_expires``."""
    problems = list(errors) or ([Problem(error, line)] if error else [])
    report: dict[str, object] = {
        "key": key,
        "version_id": version_id,
        "status": status,
        "url": url,
        "error": problems[0].as_dict() if problems else None,
        "errors": [problem.as_dict() for problem in problems],
        "warnings": [warning.as_dict() for warning in warnings],
        "at": format_time(now),
    }
    expires = expires_of(preview) if preview else None
    if expires is not None:
        report["preview_url"] = preview
        report["preview_expires"] = format_time(expires)
    return report


def _report(
    ports: PublishPorts,
    record: SourceEvent,
    now: dt.datetime,
    status: str,
    *,
    url: str = "",
    error: str = "",
    line: int | None = None,
    errors: Sequence[Problem] = (),
    warnings: Sequence[Problem] = (),
    preview: str = "",
) -> None:
    report = status_report(
        record.key,
        record.version_id,
        status,
        now,
        url=url,
        error=error,
        line=line,
        errors=errors,
        warnings=warnings,
        preview=preview,
    )
    ports.content.write_status(record.key, report)


def _state(
    record: SourceEvent,
    status: str,
    slug: str = "",
    error: str = "",
    line: int | None = None,
    warnings: Sequence[Problem] = (),
    waiting: str = "",
) -> SourceState:
    return SourceState(
        key=record.key,
        seq=record.sequencer,
        version_id=record.version_id,
        slug=slug,
        status=status,
        error=shorten(error),  # stored in the table: never an unbounded echo of the input
        line=line,
        warnings=tuple(warnings),
        waiting=waiting,
    )


def _waited(state: SourceState | None) -> str:
    return state.waiting if state is not None else ""


def _read_text(ports: PublishPorts, record: SourceEvent) -> str:
    data = ports.content.read(record.key, record.version_id or None, limit=MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise _BadInput(f"file is too large: more than {MAX_SOURCE_BYTES:,} bytes (1 MiB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _BadInput(f"{record.key} is not UTF-8 text", line) from exc


# -- articles ---------------------------------------------------------------------------------


def _article(
    record: SourceEvent, state: SourceState | None, ports: PublishPorts, now: dt.datetime
) -> PublishOutcome:
    if record.kind == "removed":
        return _remove_article(record, state, ports, now)
    store = ports.store
    data = b""
    if record.size <= MAX_SOURCE_BYTES:
        data = ports.content.read(record.key, record.version_id or None, MAX_SOURCE_BYTES + 1)
    settings, theme = load_site(store.get_site())
    if record.size > MAX_SOURCE_BYTES or len(data) > MAX_SOURCE_BYTES:
        # Only MAX_SOURCE_BYTES + 1 bytes were read: enough to know, never the whole upload.
        message = (
            f"file is too large: more than {MAX_SOURCE_BYTES:,} bytes (1 MiB); "
            "put images beside it (a page bundle) or in media/ rather than inline"
        )
        return _article_error(record, state, ports, now, [Problem(message)])
    try:
        parsed = parse_source(record.key, data, settings=settings, now=now)
    except ContentError as exc:
        return _article_error(record, state, ports, now, exc.problems, exc.warnings)

    article = parsed.article
    warnings = parsed.warnings
    previous = store.get_article(article.slug)
    if previous is not None and previous.source_key != record.key and previous.status != "removed":
        taken = Problem(slug_taken_message(article.slug, previous.source_key, record.key))
        return _article_error(record, state, ports, now, [taken], warnings)
    own_previous = previous if previous is not None and previous.source_key == record.key else None

    retired: Article | None = None
    if state is not None and state.slug and state.slug != article.slug:
        old = store.get_article(state.slug)
        if old is not None and old.source_key == record.key and old.status != "removed":
            retired = old

    # Related articles are chosen when a page is rendered (``related_articles``), from the
    # listings as they are then: the record keeps none (it would depend on arrival order).
    article = dataclasses.replace(article, related=())
    article, timed = _dated_by_versions(article, record, ports, now, own_previous)
    preview = _preview_path(ports.preview, record, article, own_previous, now)
    article = dataclasses.replace(article, preview=preview)
    if own_previous is not None and own_previous.status != "removed":
        # A source without a date is dated ``now`` by the parser: keep the date it was first
        # published with, so that a re-delivered event (or an edit) does not move the article.
        if article.date == now:
            article = dataclasses.replace(article, date=own_previous.date)
        # "updated" tells readers when the text last changed: the front matter's (lastmod...)
        # when it has one; else unchanged source bytes keep it, so a re-delivered event
        # produces the very same record (and page).
        if article.updated is None and not timed:
            same_text = own_previous.content_hash == article.content_hash
            updated = own_previous.updated if same_text else now
            article = dataclasses.replace(article, updated=updated)

    # Broken internal links, images and anchors: warnings, the page is published anyway.
    warnings += check_links(
        body_html=parsed.body.html,
        source_text=data.decode("utf-8-sig", "replace"),
        article=article,
        source_key=record.key,
        settings=settings,
        store=store,
        content=ports.content,
        site=ports.site,
    )
    status = {"live": "published"}.get(article.status, article.status)
    # A category site.yaml does not list (yet): published under its own key, and again when a
    # site.yaml listing it is (``_publish_waiting``), so the order of the uploads does not matter.
    listed = {category.key for category in settings.categories}
    waiting = article.category if article.category and article.category not in listed else ""
    source = _state(record, status, article.slug, warnings=warnings, waiting=waiting)
    # Where the bundle's files are published (a bundle index's article, while live or held).
    was_at = _placement(own_previous) or _placement(retired)
    now_at = _placement(article)
    if article.status in ("live", "scheduled"):
        # The page is rendered before anything is committed: a theme that cannot render it
        # (an editor's template failing on this article, or over budget) is this upload's
        # error report, and the live site and table stay as they were.
        try:
            render_article_page(theme.strict(), store, article, parsed.body.html)
        except ThemeError as exc:
            message = f"the site's theme cannot render this article's page: {exc.message}"
            return _article_error(record, state, ports, now, [Problem(message)], warnings)
    redelivered = state == source
    if not (redelivered and previous == article and retired is None):
        try:
            store.commit(
                ArticleChange(
                    source=source,
                    new=article,
                    previous=previous,
                    retired=retired,
                    paging=Paging.of(settings),
                    was_waiting=_waited(state),
                )
            )
        except SlugTaken as exc:  # another file took the slug between our read and commit
            taken = Problem(slug_taken_message(exc.slug, exc.owner, record.key))
            return _article_error(record, state, ports, now, [taken], warnings)

    was_live = any(a is not None and a.is_listed for a in (own_previous, retired))
    site = _cdn_guarded(ports, now) if was_live else ports.site
    writes = _Writes(site)
    # Alias keys it named before or names now, and pages it no longer has: each becomes what
    # the table says (a redirect of the key's owner, or nothing): see chainpress.aliases.
    settle = alias_keys(own_previous) | alias_keys(retired) | alias_keys(article)
    if retired is not None:
        settle.add(page_key(retired.slug))
        writes.delete(body_key(retired.slug))
    if article.status in ("live", "scheduled"):
        writes.write(body_key(article.slug), parsed.body.html.encode("utf-8"), HTML, CACHE_ARTICLE)
        # Before the page reads the images' records: an image processed meanwhile finds this
        # article among its users and renders it again (see "Responsive images" below).
        image_users = article_image_keys(article, parsed.body.html)
        if image_users:
            store.add_image_users(article.slug, image_users)
    else:
        writes.delete(body_key(article.slug))
    if article.status == "live":
        if _write_page(site, theme, store, article, parsed.body.html):
            writes.written.append(page_key(article.slug))
    else:
        # Draft or scheduled: the page goes down (trending publishes a scheduled one later),
        # unless another live article claims its URL as an alias.
        settle.add(page_key(article.slug))
    _settle(writes, store, settings, settle)
    if bundle_folder(record.key) is not None and (
        was_at != now_at or redelivered or _images_deferred(ports, record.key, now_at)
    ):
        # The bundle's files follow the article (a retry re-copies them: writes are skipped
        # when the bytes are there already).
        warnings += _move_bundle(ports, writes, record.key, was_at, now_at, now)
    _write_preview(
        ports, theme, record.key, article, parsed.body.html, (own_previous, retired), writes
    )

    # A scheduled article's report already names the URL it will have.
    url = article.url if article.status in ("live", "scheduled") else ""
    _report(ports, record, now, status, url=url, warnings=warnings, preview=preview)
    return PublishOutcome(
        key=record.key,
        route="article",
        status=status,
        slug=article.slug,
        url=url,
        written=tuple(writes.written),
        deleted=tuple(writes.deleted),
        warnings=warnings,
    )


def _preview_path(
    signer: PreviewSigner | None,
    record: SourceEvent,
    article: Article,
    own_previous: Article | None,
    now: dt.datetime,
) -> str:
    """The preview URL path of a draft or scheduled article ("" for a live one, or without a
    key). A re-delivered event (same slug and version, not expired) keeps the URL it gave."""
    if signer is None or article.status not in ("draft", "scheduled"):
        return ""
    version = record.version_id or article.content_hash
    kept = own_previous.preview if own_previous is not None else ""
    if kept and signer.valid(kept, article.slug, version, now):
        return kept
    return signer.path(article.slug, version, now)


def _write_preview(
    ports: PublishPorts,
    theme: Theme,
    index_key: str,
    article: Article,
    body_html: str,
    before: Iterable[Article | None],
    writes: _Writes,
) -> None:
    """Write the article's preview page (if it has one) and delete the previews its source
    had before (an older draft, the scheduled version that is now live). A page bundle's files
    are copied beside its preview page (so ``img/x.png`` resolves there too) and deleted with
    it. Never through the CDN recorder: previews are never cached, so never invalidated."""
    previews = _Writes(ports.site)
    old = sorted({a.preview for a in before if a is not None and a.preview} - {article.preview})
    expires = expires_of(article.preview) if article.preview else None
    files: list[tuple[str, str]] = []
    if (old or expires is not None) and bundle_folder(index_key) is not None:
        listed, _ = _bundle_files(ports.content, index_key)
        files = [(key, inside) for key, inside in listed if bundle_file_problem(inside) is None]
    for path in old:
        _delete_preview(previews, path, [inside for _, inside in files])
    if expires is not None:
        page = theme.article_page(article, body_html, previous=None, next=None, related=[])
        data = preview_page(page, expires)
        previews.write(preview_key(article.preview), data, HTML, CACHE_PREVIEW)
        folder = preview_key(article.preview).removesuffix("index.html")
        for key, inside in files:
            content = ports.content.read_current(key, MAX_BUNDLE_FILE_BYTES + 1)
            if content is not None and len(content) <= MAX_BUNDLE_FILE_BYTES:
                previews.write(folder + inside, content, media_content_type(key), CACHE_PREVIEW)
    writes.written += previews.written
    writes.deleted += previews.deleted


def _delete_preview(writes: _Writes, path: str, files: Iterable[str] = ()) -> None:
    """Delete the preview page at ``path`` and the bundle files copied beside it."""
    key = preview_key(path)
    writes.delete(key)
    for inside in files:
        writes.delete(key.removesuffix("index.html") + inside)


def _settle(writes: _Writes, store: ArticleStore, settings: SiteSettings, keys: set[str]) -> None:
    for key in sorted(keys):
        kind, changed = settle_alias(writes.site, store, settings, key)
        if changed:
            (writes.written if kind == "redirect" else writes.deleted).append(key)


def _dated_by_versions(
    article: Article,
    record: SourceEvent,
    ports: PublishPorts,
    now: dt.datetime,
    own_previous: Article | None,
) -> tuple[Article, bool]:
    """Dates the front matter leaves out, from the key's S3 versions (one request), so that
    they do not depend on the order events arrive in: an undated article is first published
    when its oldest version was uploaded (or earlier, as its record says: old versions
    expire); without ``updated:``, an edit (a version with older ones kept) is updated when
    it was uploaded, and a first version is not updated. Unknown times leave the article as
    parsed (the caller falls back to the time the event is applied: second value False)."""
    if not record.version_id:
        return article, False
    times = ports.content.version_times(record.key, record.version_id)
    live = own_previous if own_previous is not None and own_previous.status != "removed" else None
    if article.date == now and times.first is not None:
        first = min(times.first, live.date) if live is not None else times.first
        article = dataclasses.replace(article, date=first)
    if article.updated is None and times.applied is not None:
        if times.edited:
            updated = times.applied if times.applied > article.date else None
        else:  # the first version (or a re-delivery of it: keep what the record says)
            same = live is not None and live.content_hash == article.content_hash
            updated = live.updated if same and live is not None else None
        return dataclasses.replace(article, updated=updated), True
    return article, article.updated is not None


def _cdn_guarded(ports: PublishPorts, now: dt.datetime) -> SiteWriter:
    """The site writer for an article that was live: a CDN may hold its pages for a day, so
    each one is recorded as pending invalidation before it is rewritten or deleted (the
    rebuild function sends the request; see chainpress.invalidation). A new article needs
    none of this: its URL was never cached."""
    if ports.invalidations is None:
        return ports.site
    return RecordingWriter(
        ports.site,
        ports.invalidations,
        mode="articles",
        threshold=MAX_PATHS_PER_REQUEST,
        at=int(now.timestamp()),
    )


def _article_error(
    record: SourceEvent,
    state: SourceState | None,
    ports: PublishPorts,
    now: dt.datetime,
    errors: Sequence[Problem],
    warnings: Sequence[Problem] = (),
) -> PublishOutcome:
    # Only the source state changes: the slug it last published stays its own, and the live
    # page, body and record are not touched.
    slug = state.slug if state is not None else ""
    first = errors[0]
    source = _state(record, "error", slug, error=first.message, line=first.line)
    if state != source:
        change = ArticleChange(source=source, new=None, previous=None, was_waiting=_waited(state))
        ports.store.commit(change)
    _report(ports, record, now, "error", errors=errors, warnings=warnings)
    return PublishOutcome(
        key=record.key,
        route="article",
        status="error",
        slug=slug,
        error=first.message,
        line=first.line,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def _remove_article(
    record: SourceEvent, state: SourceState | None, ports: PublishPorts, now: dt.datetime
) -> PublishOutcome:
    store = ports.store
    slug = state.slug if state is not None else ""
    previous = store.get_article(slug) if slug else None
    if previous is not None and previous.source_key != record.key:
        previous = None  # the slug belongs to another file now: not ours to remove
    removed = None
    if previous is not None:
        removed = dataclasses.replace(previous, status="removed", related=(), preview="")
    source = _state(record, "removed", slug)
    if not (state == source and previous == removed):
        change = ArticleChange(source, removed, previous, was_waiting=_waited(state))
        store.commit(change)

    writes = _Writes(_cdn_guarded(ports, now) if previous and previous.is_listed else ports.site)
    if previous is not None:
        writes.delete(body_key(slug))
        settings, _ = load_site(store.get_site())
        _settle(writes, store, settings, {page_key(slug), *alias_keys(previous)})
        if previous.preview:
            inside: list[str] = []
            if bundle_folder(record.key) is not None:
                inside = [path for _, path in _bundle_files(ports.content, record.key)[0]]
            previews = _Writes(ports.site)  # never cached by the CDN: not recorded
            _delete_preview(previews, previous.preview, inside)
            writes.deleted += previews.deleted
        if bundle_folder(record.key) is not None:  # also on a retry: the record is ours
            _move_bundle(ports, writes, record.key, slug, None, now)
    _report(ports, record, now, "removed")
    return PublishOutcome(
        key=record.key,
        route="article",
        status="removed",
        slug=slug,
        written=(),
        deleted=tuple(writes.deleted),
    )


# -- page bundles -----------------------------------------------------------------------------


def _placement(article: Article | None) -> str | None:
    """The slug a bundle's files are published under while ``article`` is its index's record:
    a live or held (scheduled) article's; None for drafts and removed articles."""
    if article is None or article.status not in ("live", "scheduled"):
        return None
    return article.slug


def _bundle_key(slug: str, inside: str) -> str:
    return f"{ARTICLE_PREFIX}/{slug}/{inside}"


def _bundle_files(content: ContentSource, index_key: str) -> tuple[list[tuple[str, str]], bool]:
    """The bundle's files now in the content bucket, as (key, path inside the bundle), and
    whether there were more than MAX_BUNDLE_FILES. Markdown files are articles of their own,
    and a folder below with its own index.md is another bundle."""
    folder = bundle_folder(index_key) or ""
    branch = index_key.endswith("/_index.md")  # Hugo's branch bundle: only the files beside it
    keys = content.list_keys(folder, limit=MAX_BUNDLE_FILES + 1, recursive=not branch)
    truncated = len(keys) > MAX_BUNDLE_FILES
    keys = keys[:MAX_BUNDLE_FILES]
    present = {*keys, index_key}  # when the index.md was just deleted too
    files = []
    for key in keys:
        if route(key) != "bundle":
            continue
        owner = next((c for c in bundle_owners(key) if c[0] in present), None)
        if owner is not None and owner[0] == index_key:
            files.append((key, owner[1]))
    return files, truncated


def _move_bundle(
    ports: PublishPorts,
    writes: _Writes,
    index_key: str,
    was_at: str | None,
    now_at: str | None,
    now: dt.datetime,
) -> tuple[Problem, ...]:
    """Publish the bundle's files under ``now_at`` (None: nowhere), remove them from ``was_at``
    when it moved, and tell each file's editor where it is; returns warnings for the index."""
    files, truncated = _bundle_files(ports.content, index_key)
    images: list[str] = []  # processed: their users are rendered again once, at the end
    deferred = 0
    started = time.monotonic()
    for key, inside in files:
        problem = bundle_file_problem(inside)
        if problem is not None:
            ports.content.write_status(key, status_report(key, "", "error", now, error=problem))
            continue
        if was_at is not None and was_at != now_at:
            writes.delete(_bundle_key(was_at, inside))
            if is_image_key(inside):
                _drop_image(ports, writes, _bundle_key(was_at, inside))
        if now_at is None:
            pending = Problem(f"waiting for {index_key} to be published (it is not live)")
            report = status_report(key, "", "pending", now, warnings=[pending])
        else:
            data = ports.content.read_current(key, MAX_BUNDLE_FILE_BYTES + 1)
            if data is None:  # deleted since the listing: its own event cleans up
                continue
            if len(data) > MAX_BUNDLE_FILE_BYTES:
                report = status_report(key, "", "error", now, error=_TOO_LARGE)
            else:
                target = _bundle_key(now_at, inside)
                # Variants cost ~0.5-5 s an image: a bounded number and time per publish.
                spent = time.monotonic() - started
                budget = len(images) < MAX_BUNDLE_IMAGES and spent < MAX_BUNDLE_IMAGE_SECONDS
                image = _image_problem(ports, writes, target, data, images, make=budget)
                if image is None or image.serve_original:
                    disposition = media_disposition(key, bundle=True)
                    writes.write(target, data, media_content_type(key), MEDIA_CACHE, disposition)
                if image is _DEFERRED:
                    deferred += 1
                    report = status_report(key, "", "published", now, url="/" + target)
                elif image is not None:
                    url = "/" + target if image.serve_original else ""
                    report = status_report(key, "", "error", now, url=url, error=image.message)
                else:
                    report = status_report(key, "", "published", now, url="/" + target)
        ports.content.write_status(key, report)
    _rerender_users(ports, writes, images, now)
    warnings: tuple[Problem, ...] = ()
    if deferred:
        message = (
            f"{deferred} {_DEFERRED_WORDS} (at most {MAX_BUNDLE_IMAGES}, or "
            f"{MAX_BUNDLE_IMAGE_SECONDS:.0f} s of work, per publish): "
            f"upload {index_key.rsplit('/', 1)[-1]} again to make the next ones"
        )
        warnings = (Problem(message),)
    if not truncated:
        return warnings
    folder = bundle_folder(index_key)
    message = (
        f"{folder} holds more than {MAX_BUNDLE_FILES:,} files: only the first "
        f"{MAX_BUNDLE_FILES:,} (in key order) were checked; move large sets of files to media/"
    )
    return (*warnings, Problem(message))


_TOO_LARGE = (
    f"file is too large for a page bundle (more than {MAX_BUNDLE_FILE_BYTES // 2**20} MiB): "
    "put it in media/"
)


def _bundle_owner(store: ArticleStore, key: str) -> tuple[str, str, Article | None] | None:
    """(index key, path inside, its article if live or held) of the bundle ``key`` belongs to:
    the nearest index file the table knows (and that was not removed)."""
    for index_key, inside in bundle_owners(key):
        state = store.get_source(index_key)
        if state is None or state.status == "removed":
            continue
        article = store.get_article(state.slug) if state.slug else None
        if article is not None and (article.source_key != index_key or not _placement(article)):
            article = None
        return index_key, inside, article
    return None


def _bundle_file(record: SourceEvent, ports: PublishPorts, now: dt.datetime) -> PublishOutcome:
    """A file under ``articles/`` that is not Markdown: published under its bundle's article
    (level-triggered: whatever the key holds now, so events may come in any order)."""
    key = record.key
    owner = _bundle_owner(ports.store, key)
    data = ports.content.read_current(key, MAX_BUNDLE_FILE_BYTES + 1)
    writes = _Writes(ports.site)
    article = owner[2] if owner is not None else None
    if owner is None or article is None:
        warnings: tuple[Problem, ...] = ()
        status = "removed"
        if data is not None:
            status = "pending"
            if owner is None:
                message = (
                    "not part of a page bundle (yet): it is published with the article when an "
                    "index.md is put beside it (or above it); files for any article go to media/"
                )
            else:
                message = f"waiting for {owner[0]} to be published (it is not live)"
            warnings = (Problem(message),)
        _report(ports, record, now, status, warnings=warnings)
        return PublishOutcome(key=key, route="bundle", status=status, warnings=warnings)
    inside = owner[1]
    problem = bundle_file_problem(inside)
    if problem is None and data is not None and len(data) > MAX_BUNDLE_FILE_BYTES:
        problem = _TOO_LARGE
    if problem is not None:
        _report(ports, record, now, "error", error=problem)
        return PublishOutcome(
            key=key, route="bundle", status="error", error=problem, errors=(Problem(problem),)
        )
    target = _bundle_key(article.slug, inside)
    images: list[str] = []
    error = ""
    if data is None:
        writes.delete(target)
        status, url = "removed", ""
        if is_image_key(target):
            images += _drop_image(ports, writes, target)
    else:
        status, url = "published", "/" + target
        image = _image_problem(ports, writes, target, data, images)
        if image is None or image.serve_original:
            disposition = media_disposition(key, bundle=True)
            writes.write(target, data, media_content_type(key), MEDIA_CACHE, disposition)
        else:
            writes.delete(target)
            url = ""
        if image is not None:
            status, error = "error", image.message
    _rerender_users(ports, writes, images, now)
    _report(ports, record, now, status, url=url, error=error)
    return PublishOutcome(
        key=key,
        route="bundle",
        status=status,
        slug=article.slug,
        url=url,
        error=error,
        errors=(Problem(error),) if error else (),
        written=tuple(writes.written),
        deleted=tuple(writes.deleted),
    )


# -- media ----------------------------------------------------------------------------------------


def _commit_source(ports: PublishPorts, state: SourceState | None, source: SourceState) -> None:
    # The source state orders events per key (a late older upload must not win). A re-delivered
    # event finds its own state already there: nothing to write.
    if state != source:
        ports.store.commit(ArticleChange(source=source, new=None, previous=None))


def _media(
    record: SourceEvent, state: SourceState | None, ports: PublishPorts, now: dt.datetime
) -> PublishOutcome:
    parts = record.key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        # S3 keys are literal, but a CDN or browser would normalise such a URL elsewhere.
        message = "media keys may not contain empty, '.' or '..' path segments"
        _commit_source(ports, state, _state(record, "error", error=message))
        _report(ports, record, now, "error", error=message)
        return PublishOutcome(key=record.key, route="media", status="error", error=message)

    status = "removed" if record.kind == "removed" else "published"
    _commit_source(ports, state, _state(record, status))
    writes = _Writes(ports.site)
    images: list[str] = []
    error = ""
    if record.kind == "removed":
        writes.delete(record.key)
        url = ""
        if is_image_key(record.key):
            images += _drop_image(ports, writes, record.key)
    else:
        data = ports.content.read(record.key, record.version_id or None)
        url = "/" + record.key
        image = _image_problem(ports, writes, record.key, data, images)
        if image is None or image.serve_original:
            disposition = media_disposition(record.key)
            writes.write(record.key, data, media_content_type(record.key), MEDIA_CACHE, disposition)
        else:
            writes.delete(record.key)
            url = ""
        if image is not None:
            status, error = "error", image.message
            _commit_source(ports, _state(record, "published"), _state(record, status, error=error))
    _rerender_users(ports, writes, images, now)
    _report(ports, record, now, status, url=url, error=error)
    return PublishOutcome(
        key=record.key,
        route="media",
        status=status,
        url=url,
        error=error,
        errors=(Problem(error),) if error else (),
        written=tuple(writes.written),
        deleted=tuple(writes.deleted),
    )


# -- site settings and theme overrides --------------------------------------------------------


def _site(
    kind: Route,
    record: SourceEvent,
    state: SourceState | None,
    ports: PublishPorts,
    now: dt.datetime,
) -> PublishOutcome:
    """``site.yaml`` or ``theme/<name>.html``: validated, then stored in the table; the stream
    makes the rebuild function regenerate the site. Invalid uploads keep the old version.

    The text is stored in the same transaction as the source state, so when a re-delivered
    event finds its own state stored, the text is there too: it is not written again (an
    unchanged site record must not trigger another full rebuild)."""
    store = ports.store
    name = record.key.removeprefix(THEME_PREFIX) if kind == "theme" else None
    if record.kind == "removed":
        source = _state(record, "removed")
        if state != source and name is None:
            store.commit_site(source, yaml_text="")  # back to the defaults
        elif state != source:
            store.commit_site(source, theme_name=name, theme_text=None)
        if name is None:
            _publish_waiting(ports, now)
        _report(ports, record, now, "removed")
        return PublishOutcome(key=record.key, route=kind, status="removed")
    deleted: list[str] = []  # pages of categories site.yaml dropped
    try:
        text = _read_text(ports, record)
        if len(text.encode("utf-8")) > MAX_SITE_TEXT_BYTES:
            # Stored as one table item (400 KB at most, with its other attributes).
            raise _BadInput(
                f"{record.key} is too large: more than {MAX_SITE_TEXT_BYTES // 1024} KiB"
            )
        source = _state(record, "published")
        if name is None:
            _check_settings(text)
            _check_settings_theme(ports, text, now)
            if state != source:
                deleted = _retire_categories(ports, text, now)
            if state != source:
                store.commit_site(source, yaml_text=text)
            _publish_waiting(ports, now)  # also on a retry: the commit may have been all it did
        else:
            _check_override(ports, name, text, now)
            if state != source:
                store.commit_site(source, theme_name=name, theme_text=text)
    except _BadInput as exc:
        source = _state(record, "error", error=exc.message, line=exc.line)
        if state != source:
            store.commit_site(source)
        _report(ports, record, now, "error", error=exc.message, line=exc.line)
        return PublishOutcome(
            key=record.key, route=kind, status="error", error=exc.message, line=exc.line
        )
    _report(ports, record, now, "published")
    return PublishOutcome(key=record.key, route=kind, status="published", deleted=tuple(deleted))


def _retire_categories(ports: PublishPorts, text: str, now: dt.datetime) -> list[str]:
    """A site.yaml that drops categories: refused while a dropped category still has published
    articles (its pages would stay up as an unlisted category); an empty one's listing pages
    and feed are deleted here, each recorded for CDN invalidation first (``_cdn_guarded``).
    The full re-render the new settings start redraws the navigation of every page."""
    old, _ = load_site(ports.store.get_site())
    new = SiteSettings.from_yaml(text)
    kept = {c.key for c in new.categories}
    dropped = [c.key for c in old.categories if c.key not in kept]
    if not dropped:
        return []
    heads = ports.store.heads([f"category/{key}" for key in dropped])
    busy = [(key, heads[f"category/{key}"].count) for key in dropped]
    busy = [(key, count) for key, count in busy if count > 0]
    if busy:
        listed = "; ".join(
            f"'{key}' still has {count:,} published article{'s' if count != 1 else ''} "
            f"(/category/{key}/)"
            for key, count in busy
        )
        raise _BadInput(
            f"site.yaml removes categories that are in use: {listed}. Move those articles to "
            "another category (their front matter 'category:') or unpublish them, then upload "
            "site.yaml again; or keep the categories in site.yaml. Nothing was changed."
        )
    writes = _Writes(_cdn_guarded(ports, now))
    for key in dropped:
        head = heads[f"category/{key}"]
        writes.delete(f"category/{key}/index.html")
        writes.delete(f"category/{key}/feed.xml")
        number = 1
        # Every numbered page it had, and on past the end while pages are still found.
        while True:
            before = len(writes.deleted)
            writes.delete(f"category/{key}/page/{number}/index.html")
            if number > head.pages and len(writes.deleted) == before:
                break
            number += 1
    return writes.deleted


def _publish_waiting(ports: PublishPorts, now: dt.datetime) -> None:
    """Publish again, from the version last applied, every article that waits for a category
    the settings now list (by key or label: ``SiteSettings.find_category``). Its waiting item
    goes in the same commit. One query per listed category, then one publish per waiting
    article: a cost that follows the articles waiting, not the size of the site."""
    settings, _ = load_site(ports.store.get_site())
    found: set[tuple[str, str]] = set()
    for category in settings.categories:
        for key in {category.key, category_key(category.label)} - {""}:
            found.update((key, source) for source in ports.store.waiting(key))
    for key, source in sorted(found):
        state = ports.store.get_source(source)
        if state is None or state.waiting != key or route(source) != "article":
            continue
        event = SourceEvent(source, state.version_id, state.seq, "created")
        _apply_planned("article", event, ports, now)


def _check_settings(text: str) -> None:
    try:
        SiteSettings.from_yaml(text)
    except SettingsError as exc:
        mark = getattr(exc.__cause__, "problem_mark", None) or getattr(
            exc.__cause__, "context_mark", None
        )
        line = int(mark.line) + 1 if mark is not None else None  # marks count from 0
        raise _BadInput(str(exc), line) from exc


@functools.cache
def _bundled_templates() -> frozenset[str]:
    return frozenset(Theme(SiteSettings()).env.list_templates())


def _check_override(ports: PublishPorts, name: str, text: str, now: dt.datetime) -> None:
    """An uploaded template must replace a bundled one, and the theme with it must render the
    site's real pages (chainpress.themecheck) within budget."""
    if name not in _bundled_templates():
        known = ", ".join(sorted(_bundled_templates()))
        raise _BadInput(f"theme/{name} does not replace a theme template (one of: {known})")
    site = ports.store.get_site()
    settings, _ = load_site(site)
    try:
        check_theme(ports.store, ports.site, settings, {**site.theme, name: text}, now)
    except ThemeError as exc:
        raise _BadInput(f"theme/{name} was not published: {exc.message}", exc.line) from exc


def _check_settings_theme(ports: PublishPorts, text: str, now: dt.datetime) -> None:
    """New settings must not break the current theme (a template reading
    ``site.categories[8]`` and a site.yaml with two categories)."""
    site = ports.store.get_site()
    try:
        check_theme(ports.store, ports.site, SiteSettings.from_yaml(text), site.theme, now)
    except ThemeError as exc:
        raise _BadInput(
            "site.yaml was not published: the current theme cannot render the site with "
            f"these settings: {exc.message}"
        ) from exc


# -- responsive images ----------------------------------------------------------------------------
#
# Level-triggered, whichever comes first. An article publish records the images its page shows
# (``imageuse#<key>`` items) and THEN renders, reading the images' records; an image's
# processing writes its record and THEN reads its users and renders each live one again. With
# consistent reads, at least one side sees the other's write, so a page never stays without the
# srcset of an image that was processed. Replacing or deleting an image renders its users too.

WEBP = "image/webp"
# Articles rendered again when one image changes (the first ones in slug order; the others get
# its srcset the next time they are rendered, as does every listing card showing it).
MAX_IMAGE_USERS = 100
# Images of a page bundle processed by one publish of its index (the rest: the next publish),
# and the time after which it starts no more (a 50-megapixel PNG takes ~3-5 s): well inside the
# function's 120 s timeout.
MAX_BUNDLE_IMAGES = 40
MAX_BUNDLE_IMAGE_SECONDS = 45.0


@dataclasses.dataclass(frozen=True, slots=True)
class _ImageProblem:
    message: str
    serve_original: bool


_DEFERRED = _ImageProblem("", serve_original=True)  # not processed in this publish (budget)
_DEFERRED_WORDS = "images of the bundle are published as uploaded, without resized variants yet"


def _images_deferred(ports: PublishPorts, index_key: str, slug: str | None) -> bool:
    """Images of the bundle published under ``slug`` that have no record yet (left by a
    publish that reached MAX_BUNDLE_IMAGES, or refused): this publish of the index makes the
    next ones. One listing and one batched read."""
    if slug is None:
        return False
    files, _ = _bundle_files(ports.content, index_key)
    keys = [_bundle_key(slug, inside) for _, inside in files if is_image_key(inside)]
    return bool(keys) and len(ports.store.get_images(keys)) < len(keys)


def _image_problem(
    ports: PublishPorts,
    writes: _Writes,
    key: str,
    data: bytes,
    processed: list[str],
    *,
    make: bool = True,
) -> _ImageProblem | None:
    """Make the WebP variants of the image published at site key ``key`` (not of other files)
    and record its size; the key is added to ``processed`` when its record changed. Returns
    the problem for the report: the original is then served only if that is safe. With
    ``make`` False an image not processed yet is left for later (``_DEFERRED``)."""
    if is_variant_key(key):
        name = key.rsplit("/", 1)[-1]
        message = f"{name}: names ending in .<width>w.webp are kept for the resized variants"
        return _ImageProblem(message, serve_original=False)
    if not is_image_key(key):
        return None
    from chainpress.images import ImageError, process_image  # Pillow: only where images are made

    digest = hashlib.sha256(data).hexdigest()
    known = ports.store.get_images([key]).get(key)
    if known is not None and known.sha256 == digest:
        return None  # the same bytes again (a retry, a re-delivered event): already done
    if not make:
        return _DEFERRED
    try:
        result = process_image(data)
    except ImageError as exc:
        processed += _drop_image(ports, writes, key)
        return _ImageProblem(exc.message, exc.serve_original)
    made = {variant.width for variant in result.variants}
    for variant in result.variants:
        writes.write(variant_key(key, variant.width), variant.data, WEBP, MEDIA_CACHE)
    for width in WIDTHS:
        if width not in made:
            writes.delete(variant_key(key, width))
    info = ImageInfo(key, result.width, result.height, tuple(sorted(made)), digest)
    ports.store.put_image(info)
    processed.append(key)
    return None


def _drop_image(ports: PublishPorts, writes: _Writes, key: str) -> list[str]:
    """Forget the image at site key ``key`` (record first, then its variants); returns [key]
    when it had a record (its users must be rendered again)."""
    had = bool(ports.store.get_images([key]))
    if had:
        ports.store.delete_image(key)
    for width in WIDTHS:
        writes.delete(variant_key(key, width))
    return [key] if had else []


def _rerender_users(
    ports: PublishPorts, writes: _Writes, keys: Sequence[str], now: dt.datetime
) -> None:
    """Render again, once each, the live articles that show any of the images ``keys``."""
    slugs: dict[str, None] = {}
    for key in dict.fromkeys(keys):
        slugs.update(dict.fromkeys(ports.store.image_users(key, MAX_IMAGE_USERS)))
    if not slugs:
        return
    _, theme = load_site(ports.store.get_site())
    site = _cdn_guarded(ports, now)
    for article in ports.store.get_articles(list(slugs)).values():
        if article.is_listed and write_article_page(site, theme, ports.store, article):
            writes.written.append(page_key(article.slug))
