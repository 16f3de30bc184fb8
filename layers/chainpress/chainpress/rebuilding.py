"""Rebuild use cases: regenerate what a batch of article changes touched, or the whole site.

Pure: receives its ports (article store, site writer, hot lists, CDN), never imports boto3.
Which pages, and how each is built, is pages.py; this module runs them:

* **Level-triggered.** Stream images only say *where to look*; every page is rebuilt from the
  table as it is now, and writers skip identical bytes. A batch replayed, or two batches run in
  reverse order, leave the same site.
* **Convergence** (docs/architecture.md): the pages of one listing are planned and built
  between two reads of the listing head; if its ``version`` moved meanwhile (a commit raced
  us), they are planned and built again, so the last write reflects a state at least as new as
  the racing commit. Bounded: that commit's own stream record triggers another rebuild anyway.
* **CDN** (chainpress.invalidation): every page a CDN may hold for long is recorded as pending
  in a durable queue BEFORE it is written or deleted, and the batch ends with one invalidation
  request for what is pending (its own paths and any left by earlier runs), ``/*`` past
  ``wildcard_threshold``. By default (``invalidation_mode="articles"``) only pages with a long
  shared lifetime are invalidated (article pages: changed neighbours, edited articles);
  listings, feeds and sitemaps expire within a minute (``ports.CACHE_PAGE``). ``"exact"``
  invalidates every changed public page. Paths are the CloudFront cache keys ``/<key>``
  (``/category/x/index.html``): the viewer-request function rewrites ``/x/`` to
  ``/x/index.html`` before the cache lookup, so ``/x/`` itself is never cached. A refused
  request (throttled, too many in progress) leaves the paths pending for the next batch or the
  schedule (``flush_invalidations``); it never fails the batch. No distribution, no queue.

**Search and IndexNow.** With ``RebuildPorts.search`` set, a batch also updates the site
search postings and term files of exactly the terms its changes touched (chainpress.search);
with ``RebuildPorts.indexnow``, it then announces the changed article URLs in one POST
(chainpress.indexnow). A failed search write raises like a failed page write (the batch is
retried, which is safe); an IndexNow failure never fails the batch (its URLs stay pending).

Related lists are NOT refreshed by ``rebuild_all``: ``Article.related`` is part of the record,
so refreshing it means one transactional write per article, each echoing back through the
stream as a new rebuild, from the function that is supposed to derive pages from the table.
Related articles that are no longer live are dropped at render time
(``publishing.render_article_page``); re-publishing an article chooses its list afresh.

**No page links a page that is gone.** The table keeps a reverse related index
(``relatedby#<A>`` items, written in the commit of every B whose related list holds A). When A
is deleted, unpublished, renamed (its old slug is retired), re-dated, retitled or comes back,
the pages of the articles linking A are re-rendered (A dropped, or shown as it is now), at most
``relink_limit`` of them per batch. The rest continue in later bounded steps: the rebuild
stores a cursor in the table (``ArticleStore.set_relink``, an ``article#<A>`` item whose
stream record brings the next step to this function), and removes it when done.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable, Sequence

from chainpress.indexnow import IndexNow, IndexNowReport, changed_urls, flush_indexnow, notify
from chainpress.invalidation import (
    InMemoryInvalidationQueue,
    InvalidationMode,
    RecordingWriter,
    flush,
)
from chainpress.model import Article
from chainpress.pages import (
    NUMBERED,
    BuildContext,
    Built,
    Change,
    ListingPlan,
    Output,
    Page,
    all_listing_pages,
    build,
    build_order,
    full_site_pages,
    plan_listing,
    public_path,
    split_article_pages,
    summary_pages,
    touched_listings,
)
from chainpress.ports import (
    INTERNAL_PREFIX,
    ArticleStore,
    CdnInvalidator,
    HotLists,
    InvalidationQueue,
    SiteWriter,
    body_key,
)
from chainpress.publishing import alias_keys, page_key, settle_alias, write_article_page
from chainpress.search import (
    SEARCH_PREFIX,
    IndexReport,
    SearchPostings,
    rebuild_index,
    update_index,
)
from chainpress.site import load_site
from chainpress.sitemaps import SHARD_SIZE

__all__ = [
    "DEFAULT_WILDCARD_THRESHOLD",
    "RebuildPorts",
    "RebuildReport",
    "flush_invalidations",
    "invalidation_paths",
    "rebuild_all",
    "rebuild_changes",
    "rebuild_summaries",
]

_log = logging.getLogger(__name__)

DEFAULT_WILDCARD_THRESHOLD = 50
# Pages linking a changed article re-rendered per batch (the rest: later steps, see above).
DEFAULT_RELINK_LIMIT = 100
# Plan/build rounds per listing while its head keeps moving (see "Convergence" above).
MAX_RENDERS = 3


@dataclasses.dataclass(frozen=True, slots=True)
class RebuildPorts:
    store: ArticleStore
    site: SiteWriter
    hot: HotLists
    cdn: CdnInvalidator | None = None  # None: no distribution, nothing to invalidate
    wildcard_threshold: int = DEFAULT_WILDCARD_THRESHOLD
    shard_size: int = SHARD_SIZE  # unused: shard boundaries are kept in the table
    relink_limit: int = DEFAULT_RELINK_LIMIT
    # Paths still to invalidate, recorded before the pages change (DynamoDB in Lambda).
    invalidations: InvalidationQueue = dataclasses.field(default_factory=InMemoryInvalidationQueue)
    invalidation_mode: InvalidationMode = "articles"
    # False: batches only record; the schedule sends (one request a minute, however many
    # publishes: with a low wildcard threshold, one "/*" a minute at most).
    flush_each_batch: bool = True
    # Site search postings (chainpress.search); None: no search index is kept.
    search: SearchPostings | None = None
    search_workers: int = 1  # term files written at once (Lambda: 8; clients are thread-safe)
    # IndexNow (chainpress.indexnow); None: off (no key set).
    indexnow: IndexNow | None = None


@dataclasses.dataclass(slots=True)
class RebuildReport:
    full: bool = False
    written: list[str] = dataclasses.field(default_factory=list)  # keys whose bytes changed
    deleted: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0  # pages rendered whose bytes were already there
    invalidated: list[str] = dataclasses.field(default_factory=list)  # paths sent to the CDN
    deferred: int = 0  # paths left pending: the CDN refused them (sent again later)
    oldest_pending: int = 0  # seconds the oldest deferred path has waited
    cdn_error: str = ""  # why the pending paths were not sent ("": they were, or none)
    indexnow: IndexNowReport = dataclasses.field(default_factory=IndexNowReport)

    @property
    def pages_written(self) -> int:
        """Public pages written (private bodies and records, search term files are not pages)."""
        return sum(
            1 for key in self.written if not key.startswith((INTERNAL_PREFIX, SEARCH_PREFIX))
        )


class _Session:
    """Applies built outputs through the writer and remembers what actually changed."""

    def __init__(self, site: SiteWriter) -> None:
        self.site = site
        self.written: dict[str, None] = {}  # ordered sets
        self.deleted: dict[str, None] = {}
        self.unchanged = 0

    def apply(self, built: Built) -> list[bool]:
        """Write or delete each output; True where the site changed."""
        return [self.put(key, output) for key, output in built]

    def put(self, key: str, output: Output | None) -> bool:
        if output is None:
            return self.delete(key)
        wrote = self.site.write(key, output.data, output.content_type, output.cache_control)
        return self.record(key, wrote)

    def record(self, key: str, wrote: bool) -> bool:
        if wrote:
            self.written[key] = None
        else:
            self.unchanged += 1
        return wrote

    def delete(self, key: str) -> bool:
        gone = self.site.delete(key)
        if gone:
            self.deleted[key] = None
        return gone


def _context(ports: RebuildPorts, now: dt.datetime) -> BuildContext:
    settings, theme = load_site(ports.store.get_site())
    site: SiteWriter = ports.site
    if ports.cdn is not None:  # pages a CDN may hold are recorded before they change
        site = RecordingWriter(
            ports.site,
            ports.invalidations,
            mode=ports.invalidation_mode,
            threshold=ports.wildcard_threshold,
            at=int(now.timestamp()),
        )
    return BuildContext(
        ports.store, site, ports.hot, settings, theme, now, shard_size=ports.shard_size
    )


def _build_pages(ctx: BuildContext, session: _Session, pages: Iterable[Page]) -> None:
    queue = sorted(pages, key=build_order)
    seen = set(queue)
    index = 0
    while index < len(queue):
        page = queue[index]
        index += 1
        built = build(page, ctx)
        changed = session.apply(built)
        numbered = page.kind in NUMBERED and page.number > 0
        if numbered and built[0][1] is None and changed[0]:
            # A page past the end was still there (the collection emptied and started again):
            # the next one may be as well. Existing pages are contiguous.
            following = dataclasses.replace(page, number=page.number + 1)
            if following not in seen:
                seen.add(following)
                queue.append(following)


def _converge(
    ctx: BuildContext, session: _Session, guard: str, plan: Callable[[], ListingPlan]
) -> set[Page]:
    """Plan and build the pages guarded by ``guard`` until its head stops moving under us."""
    summaries: set[Page] = set()
    for _ in range(MAX_RENDERS):
        ctx.refresh(guard)
        version = ctx.reader(guard).version
        planned = plan()
        summaries |= planned.summaries
        _build_pages(ctx, session, planned.pages)
        if ctx.store.head(guard).version == version:
            break
    return summaries


def _write_articles(
    ctx: BuildContext,
    session: _Session,
    slugs: Sequence[str],
    *,
    drop_bodies: bool = False,
    quiet: bool = False,
) -> None:
    """Article pages through the shared renderer (it re-checks its own neighbour listing).
    Articles that are not live have no page (publish deletes it too: this converges).
    ``quiet``: written without recording a CDN invalidation (``pages.ArticlePages.quiet``;
    in ``exact`` mode they are recorded all the same)."""
    current = ctx.store.get_articles(slugs)
    writer = ctx.site
    if quiet and isinstance(writer, RecordingWriter) and writer.mode != "exact":
        writer = writer.site
    for slug in slugs:
        article = current.get(slug)
        if article is not None and article.is_listed:
            session.record(
                page_key(slug), write_article_page(writer, ctx.theme, ctx.store, article)
            )
        else:
            _settle_aliases(ctx, session, [page_key(slug)])  # an alias may claim its URL
            if drop_bodies and (article is None or article.status not in ("live", "scheduled")):
                # Its stored body too (publish deletes it, but a publish retried after its
                # commit no longer knows the slug it retired).
                session.delete(body_key(slug))


def _settle_aliases(ctx: BuildContext, session: _Session, keys: Iterable[str]) -> None:
    """Alias keys (and pages of articles no longer live) as the table's claims say: the
    owner's redirect, or nothing (``publishing.settle_alias``)."""
    for key in sorted(set(keys)):
        kind, changed = settle_alias(ctx.site, ctx.store, ctx.settings, key)
        if kind == "redirect":
            session.record(key, changed)
        elif changed:
            session.deleted[key] = None


def invalidation_paths(keys: Iterable[str], threshold: int) -> list[str]:
    """CDN paths for changed site keys: ``/<key>``, or one ``/*`` past ``threshold``."""
    paths = sorted({public_path(k) for k in keys if not k.startswith(INTERNAL_PREFIX)})
    return ["/*"] if len(paths) > threshold else paths


def _finish(
    ports: RebuildPorts, session: _Session, *, full: bool, also: Iterable[str] = ()
) -> RebuildReport:
    report = RebuildReport(
        full=full,
        written=list(session.written),
        deleted=list(session.deleted),
        unchanged=session.unchanged,
    )
    if isinstance(session.site, RecordingWriter):
        session.site.note(also)  # before the batch succeeds: a retry re-derives them anyway
    if ports.flush_each_batch:
        _flush_into(report, ports)
    return report


def _flush_into(report: RebuildReport, ports: RebuildPorts, *, in_batch: bool = True) -> None:
    """Send what is pending. In a batch the pages are written and the paths recorded: nothing
    the CDN (or the queue) does now may fail it; what is not sent stays pending. The schedule
    lets a failing queue raise, so that it shows as function errors (RebuildErrorsAlarm)."""
    if ports.cdn is None:
        return
    try:
        done = flush(ports.invalidations, ports.cdn, threshold=ports.wildcard_threshold)
    except Exception as exc:  # the queue itself failed: the records are still there
        if not in_batch:
            raise
        _log.exception("pending CDN invalidations not flushed; the next batch or schedule will")
        report.cdn_error = f"{type(exc).__name__}: {exc}"
        return
    report.invalidated = list(done.invalidated)
    report.deferred = done.deferred
    report.oldest_pending = done.oldest_pending
    report.cdn_error = done.error


def flush_invalidations(ports: RebuildPorts) -> RebuildReport:
    """The schedule's action: send the invalidations earlier runs could not (CloudFront
    throttled them, or a run died between its page writes and its request)."""
    report = RebuildReport()
    _flush_into(report, ports, in_batch=False)
    if ports.indexnow is not None:  # URLs an earlier batch could not send to IndexNow
        settings, _ = load_site(ports.store.get_site())
        report.indexnow = flush_indexnow(ports.indexnow, settings, ports.site)
    return report


def _republished(changes: Iterable[Change]) -> list[str]:
    """Pages of changed articles that were live before: a CDN may hold the old bytes (publish
    rewrote or deleted them, so the rebuild itself may find nothing left to write)."""
    keys = []
    for old, new in changes:
        if old is not None and old != new and old.is_listed:
            keys.append(page_key(old.slug))
    return keys


def _relink_targets(changes: Iterable[Change]) -> list[str]:
    """Articles whose linking pages show them differently now: no longer live, live again,
    retitled or re-dated (related blocks show title, link and date). A brand-new article is
    nobody's related article yet."""
    slugs: set[str] = set()
    for old, new in changes:
        if old is None or not (old.is_listed or (new is not None and new.is_listed)):
            continue
        if (
            new is None
            or old.is_listed != new.is_listed
            or old.title != new.title
            or old.date != new.date
        ):
            slugs.add(old.slug)
    return sorted(slugs)


def _relink(
    ctx: BuildContext,
    session: _Session,
    ports: RebuildPorts,
    targets: Sequence[tuple[str, str, bool]],
    done: set[str],
) -> None:
    """Re-render the pages linking each target ``(slug, after, continued)``, at most
    ``relink_limit`` in all; a target with more left gets a cursor for a later step."""
    budget = ports.relink_limit
    for slug, after, continued in targets:
        if budget <= 0:
            ports.store.set_relink(slug, after)  # all of it in a later step
            continue
        found = ports.store.linking(slug, after, budget + 1)
        step = found[:budget]
        _write_articles(ctx, session, [s for s in step if s not in done])
        done.update(step)
        budget -= len(step)
        if len(found) > len(step):
            ports.store.set_relink(slug, step[-1] if step else after)
        elif continued:
            ports.store.clear_relink(slug)


def rebuild_changes(
    changes: Sequence[tuple[Article | None, Article | None]],
    ports: RebuildPorts,
    now: dt.datetime,
    *,
    relinks: Sequence[tuple[str, str]] = (),
) -> RebuildReport:
    """Regenerate every page the ``(old, new)`` record images may have changed; ``relinks``
    are ``(slug, after)`` cursors of relink steps left by earlier batches."""
    pairs: list[Change] = [(old, new) for old, new in changes if old is not None or new is not None]
    ctx = _context(ports, now)
    session = _Session(ctx.site)
    for listing in touched_listings(pairs):
        plan = functools.partial(plan_listing, ctx, listing, pairs)
        _converge(ctx, session, listing, plan)
    articles = split_article_pages(ctx.store, pairs)
    slugs = sorted(page.name for page in articles.pages)
    quiet = {page.name for page in articles.quiet}
    _write_articles(ctx, session, [slug for slug in slugs if slug not in quiet], drop_bodies=True)
    _write_articles(ctx, session, sorted(quiet), quiet=True)
    _settle_aliases(ctx, session, [k for pair in pairs for a in pair for k in alias_keys(a)])
    targets = [(slug, after, True) for slug, after in relinks]
    targets += [(slug, "", False) for slug in _relink_targets(pairs)]
    if targets:
        _relink(ctx, session, ports, targets, set(slugs))
    if ports.search is not None:
        indexed = update_index(pairs, ports.search, ctx.site, workers=ports.search_workers)
        _index_into(session, indexed)
    # Pages whose window held an article at a place it left: a CDN copy may link it.
    forced = [page_key(page.name) for page in sorted(articles.forced)]
    report = _finish(ports, session, full=False, also=_republished(pairs) + forced)
    if ports.indexnow is not None:  # last: the pages are there before engines are told
        urls = changed_urls(pairs, ctx.settings)
        report.indexnow = notify(ports.indexnow, urls, ctx.settings, ports.site, _epoch(now))
    return report


def _epoch(now: dt.datetime) -> int:
    return int(now.timestamp())


def _index_into(session: _Session, report: IndexReport) -> None:
    """Search term files written or deleted count as site changes of the batch."""
    session.written.update(dict.fromkeys(report.written))
    session.deleted.update(dict.fromkeys(report.deleted))
    session.unchanged += report.unchanged


def rebuild_all(ports: RebuildPorts, now: dt.datetime, *, articles: bool = True) -> RebuildReport:
    """Every page of the site (settings or theme changed, or on demand). Templates run again on
    the stored article bodies (never Markdown); identical bytes are not rewritten.

    ``articles=False`` leaves the article pages (most of a site) to the caller: the static
    build renders them on every core with ``publishing.write_article_page``.
    """
    ctx = _context(ports, now)
    session = _Session(ctx.site)
    listings, others = full_site_pages(ctx)
    for listing in listings:
        plan = functools.partial(_whole_listing, ctx, listing)
        _converge(ctx, session, listing, plan)
    if articles:
        records = list(ctx.store.scan_articles())
        _write_articles(ctx, session, sorted(article.slug for article in records))
        # Redirects show the settings (canonical URL, language): rendered again too.
        _settle_aliases(ctx, session, [k for a in records if a.is_listed for k in alias_keys(a)])
    _build_pages(ctx, session, others)
    if ports.search is not None:
        live = (article for article in ctx.store.scan_articles() if article.is_listed)
        _index_into(session, rebuild_index(live, ports.search, ctx.site))
    return _finish(ports, session, full=True)


def _whole_listing(ctx: BuildContext, listing: str) -> ListingPlan:
    return ListingPlan(pages=all_listing_pages(ctx, listing))


def rebuild_summaries(ports: RebuildPorts, now: dt.datetime) -> RebuildReport:
    """The pages that sum up listings and months (``/archive/``, ``/sitemap/`` and its tag
    pages, ``sitemaps/pages.xml``, ``sitemaps/tags-K.xml``), from the listing index and the
    month heads: no article is read. Batches keep them up to date (level-triggered); this is
    a repair, run on a schedule."""
    ctx = _context(ports, now)
    session = _Session(ctx.site)
    _build_pages(ctx, session, summary_pages(ctx))
    return _finish(ports, session, full=False)
