"""The scheduled job (every 5 minutes): publish articles whose time has come, fold recent view
buckets into hot lists, and render the static hot page. Pure: receives its ports and ``now``.

Order: due articles first (a newly live article is then eligible everywhere at once), then the
hot lists. Every step is level-triggered: running the job twice, or late, gives the same state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from chainpress.model import Article
from chainpress.ports import (
    CACHE_PAGE,
    HTML,
    ArticleChange,
    ArticleConflict,
    ArticleStore,
    HotItem,
    Paging,
    SiteWriter,
    SlugTaken,
    SourceState,
    StaleEvent,
    StatusReports,
)
from chainpress.preview import preview_key
from chainpress.publishing import status_report, write_article_page
from chainpress.render import Theme
from chainpress.site import load_site
from chainpress.views import WINDOWS, HotKey, HotListWriter, ViewBuckets, fold_hot

__all__ = ["HOT_PAGE_KEY", "TrendingReport", "publish_due", "refresh_hot", "run_trending"]

_log = logging.getLogger(__name__)

HOT_PAGE_KEY = "hot/index.html"
_DUE_PAGE = 100  # scheduled articles read per page (oldest first)


@dataclasses.dataclass(frozen=True, slots=True)
class TrendingReport:
    published: tuple[str, ...]  # slugs that went live in this run
    skipped: tuple[str, ...]  # due, but changed by a concurrent publish (it wins; next run)
    lists: int  # hot lists written
    hot_page_written: bool


def publish_due(
    store: ArticleStore,
    writer: SiteWriter,
    reports: StatusReports,
    theme: Theme,
    now: dt.datetime,
) -> tuple[list[str], list[str]]:
    """Flip every scheduled article whose date is <= ``now`` to live, write its page, and tell
    the editor (the source's status report says "published" with the URL, no longer
    "scheduled").

    Each flip is one store commit (the same transaction as a publish: article, source state and
    listing membership together), guarded by the source's sequencer (unchanged; equal passes) and
    by the record being what we read. A publish racing with us wins: we skip, and the next run
    sees its result. The listing pages follow from the table stream (rebuild function)."""
    published: list[str] = []
    skipped: list[str] = []
    after: str | None = None
    while True:
        batch = store.oldest("scheduled", _DUE_PAGE, after=after)
        for member in batch:
            if member.date > now:
                return published, skipped  # oldest first: nothing later is due either
            after = member.sort_key
            went_live = _go_live(store, member.slug, now, Paging.of(theme.settings))
            if went_live is None:
                skipped.append(member.slug)
                continue
            live, source = went_live
            published.append(live.slug)
            write_article_page(writer, theme, store, live)
            if member.preview:  # live now: its signed preview goes (chainpress.preview)
                writer.delete(preview_key(member.preview))
            report = status_report(
                source.key,
                source.version_id,
                source.status,
                now,
                url=live.url,
                warnings=source.warnings,
            )
            reports.write_status(source.key, report)
        if len(batch) < _DUE_PAGE:
            return published, skipped


def _go_live(
    store: ArticleStore, slug: str, now: dt.datetime, paging: Paging
) -> tuple[Article, SourceState] | None:
    current = store.get_article(slug)
    if current is None or current.status != "scheduled" or current.date > now:
        return None
    source = store.get_source(current.source_key)
    if source is None or source.slug != slug:
        _log.warning("scheduled article %r has no matching source state; left as is", slug)
        return None
    live = dataclasses.replace(current, status="live", updated=now, preview="")
    state = dataclasses.replace(source, status="published")
    try:
        store.commit(ArticleChange(source=state, new=live, previous=current, paging=paging))
    except (StaleEvent, ArticleConflict, SlugTaken) as exc:
        _log.info("scheduled article %r changed under us (%s); next run", slug, exc)
        return None
    return live, state


def refresh_hot(
    store: ArticleStore,
    buckets: ViewBuckets,
    hot_writer: HotListWriter,
    writer: SiteWriter,
    theme: Theme,
    now: dt.datetime,
) -> tuple[dict[HotKey, list[HotItem]], bool]:
    """Fold the hour buckets of the longest window into one list per window x category (so
    GET /api/hot is one read), store them, and render ``hot/index.html``. The fold streams
    (views.fold_hot): its memory does not grow with the number of articles viewed."""
    categories = [c.key for c in theme.settings.categories]

    def close(slugs: Sequence[str]) -> None:
        # Views counted this hour for an article that is no longer live (removed, back to
        # draft): close its counters, so its next view is checked again and refused.
        _log.info("closing view counters of unlisted articles: %s", list(slugs))
        buckets.close_counters(slugs)

    folded = fold_hot(buckets, store, now, categories=categories, close=close)
    lists = folded.lists
    hot_writer.put_all(lists, now)
    page = theme.hot_page(lists={window: lists[(window, None)] for window in WINDOWS})
    written = writer.write(HOT_PAGE_KEY, page.encode("utf-8"), HTML, CACHE_PAGE)
    return lists, written


def run_trending(
    *,
    store: ArticleStore,
    buckets: ViewBuckets,
    hot_writer: HotListWriter,
    writer: SiteWriter,
    reports: StatusReports,
    now: dt.datetime,
) -> TrendingReport:
    _settings, theme = load_site(store.get_site())
    published, skipped = publish_due(store, writer, reports, theme, now)
    lists, written = refresh_hot(store, buckets, hot_writer, writer, theme, now)
    return TrendingReport(
        published=tuple(published),
        skipped=tuple(skipped),
        lists=len(lists),
        hot_page_written=written,
    )
