"""Which pages a change touches, and building each of them from the store (pure).

Every generated page is a function of the articles table (Pelican/Lektor style: pages as
functions of an index). This module answers two questions, never looking at more of the
table than the answer needs:

* ``plan_listing`` / ``article_pages`` / ``affected_pages``: given the ``(old, new)`` images of
  changed article records, which pages may now differ. Only the images' *listings* and *sort
  keys* are used, to find positions in the listings as they are **now**; page content always
  comes from the store, never from the event payload, so replaying a batch, or two batches in
  either order, converges on the same site.
* ``build``: the bytes of one page, read from the store (``None``: the key must not exist).

Pagination (docs/architecture.md): numbered page K of a listing holds the members at 0-based
positions ``[(K-1)*P, K*P)`` counted from the OLDEST, ``pages = ceil(count / P)``, and the front
page shows the newest P. A numbered page depends only on its members and on whether it is the
newest numbered page (its "newer" link goes to the front page), so:

* an article appended at the newest end changes the front page and the last numbered page,
  plus the previous last page when the append opens a new page (its "newer" link moves);
* an article inserted or removed at position p (backdated, deleted, re-dated, category change)
  shifts every member after it: numbered pages from the one holding position p-1 to the end
  change. That is inherent to oldest-first numbering and costs O(count - p), not O(count);
* an edited article that keeps its place changes only the page that holds it (and the front
  page / feed when it is among the newest).
Pages past the end are deleted by probing upward (page K+1, K+2, ... until one is absent), so
shrinking listings never leave stale pages behind. Sitemap shards follow the same rule.

Writes for ONE new article appended at the newest end (the common publish), with T tags and
a category, when no new tag or month appears, whatever the number N of articles::

    public pages written = 10 + 2*T  (+1 per listing whose append opens a new numbered page)
    objects written      = 11 + 2*T  (the shard's private lastmod record too)

    home front + last home page + /feed.xml                  3
    category front + last category page + category feed     3
    each tag: front + last tag page                          2*T
    sitemaps/articles-<last>.xml (+ its _internal record)    1 (+1)
    /sitemap.xml + sitemaps/news.xml                         2
    the category neighbour whose "next" link now points here 1
    the article page itself: rendered, but publish already wrote the same bytes   0

N does not appear: O(1) pages, and every read is near the newest end of a listing. Two
exceptions scale with N, by design of the sitemap layout: the last shard is rebuilt whole
(min(N, shard size) URLs read and written: 1,000 by default, so bounded; the sitemaps.org
maximum of 50,000 would dominate a publish past a few thousand articles), and the index reads
one small private lastmod record per shard (N / shard size of them). Invalidated CDN paths are the
public keys among those writes (see rebuilding.py).

Summary pages need every listing or every article (O(N) reads), so they are NOT rebuilt per
publish (see ``SUMMARY_PAGES``): ``/archive/`` (every article by month), ``/sitemap/`` (every
category and tag with counts) and ``sitemaps/pages.xml`` (every listing front page). They are
rebuilt by a full rebuild, by ``rebuild_summaries`` (schedule it), and by an incremental
rebuild only when their *shape* changes: a tag/category listing appears or empties, a month
appears or empties, or an article leaves the site (so no title of a removed article lingers).
Between those, their counts and the current month may lag behind the listings.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chainpress import sitemaps
from chainpress.feeds import FEED_SIZE, FEED_TYPE, rss
from chainpress.model import ARTICLE_PREFIX, Article, format_time, listings_of, tag_key
from chainpress.ports import (
    CACHE_PAGE,
    CACHE_STATIC,
    HTML,
    INTERNAL_PREFIX,
    ArticleStore,
    HotItem,
    HotLists,
    SiteWriter,
)
from chainpress.render import Theme, absolute_url, href
from chainpress.settings import Category, SiteSettings

__all__ = [
    "HOME",
    "SUMMARY_PAGES",
    "BuildContext",
    "Built",
    "Change",
    "ListingPlan",
    "ListingReader",
    "Output",
    "Page",
    "affected_pages",
    "all_listing_pages",
    "article_pages",
    "build",
    "full_site_pages",
    "listing_key",
    "listing_page_count",
    "plan_listing",
    "sitemap_shard_count",
    "touched_listings",
    "unguarded_pages",
]

Change = tuple[Article | None, Article | None]

HOME = "home"
SCHEDULED = "scheduled"  # held articles: a listing with no pages
HOT_WINDOW = "24h"  # the home page's hot block
HOME_PAGES_TITLE = "All articles"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

PageKind = Literal[
    "listing",  # a listing's front page (number 0) or numbered page K
    "feed",  # RSS of home or a category
    "article",  # an article page (rendered by publishing.write_article_page)
    "shard",  # sitemaps/articles-N.xml (+ its private lastmod record)
    "sitemap-index",
    "news-sitemap",
    "pages-sitemap",
    "html-sitemap",
    "archive",
    "robots",
    "not-found",
    "static",
]

# Pages that list every listing or every article (see the module docstring).

# Build order inside a group: shards before the index that reads their lastmod records.
_ORDER = {"shard": 1, "news-sitemap": 1, "sitemap-index": 2}


@dataclasses.dataclass(frozen=True, order=True, slots=True)
class Page:
    """One generated output, identified by what it is (not by bytes)."""

    kind: PageKind
    listing: str = ""  # listing name for listing/feed pages ("home", "category/x", "tag/y")
    number: int = 0  # numbered page K (0: front page), or shard N
    name: str = ""  # article slug, or static asset key

    @property
    def key(self) -> str:
        """Site-bucket key of the page."""
        if self.kind == "listing":
            return listing_key(self.listing, self.number)
        if self.kind == "feed":
            return "feed.xml" if self.listing == HOME else f"{self.listing}/feed.xml"
        if self.kind == "article":
            return f"{ARTICLE_PREFIX}/{self.name}/index.html"
        if self.kind == "shard":
            return shard_key(self.number)
        return _FIXED_KEYS.get(self.kind, self.name)

    @property
    def guard(self) -> str:
        """The listing whose head ``version`` tells whether this page may be stale ("" none)."""
        if self.kind in ("listing", "feed"):
            return self.listing
        if self.kind in ("shard", "sitemap-index", "news-sitemap"):
            return HOME
        return ""


SUMMARY_PAGES: frozenset[Page] = frozenset(
    {Page("pages-sitemap"), Page("html-sitemap"), Page("archive")}
)

_FIXED_KEYS = {
    "sitemap-index": "sitemap.xml",
    "news-sitemap": "sitemaps/news.xml",
    "pages-sitemap": "sitemaps/pages.xml",
    "html-sitemap": "sitemap/index.html",
    "archive": "archive/index.html",
    "robots": "robots.txt",
    "not-found": "404.html",
}


def listing_base(listing: str) -> str:
    """URL path of a listing's front page: ``/`` for home, ``/category/x/``, ``/tag/y/``."""
    return "/" if listing == HOME else f"/{listing}/"


def listing_key(listing: str, number: int) -> str:
    """``index.html`` / ``page/K/index.html`` under the listing's folder."""
    folder = "" if listing == HOME else f"{listing}/"
    return f"{folder}index.html" if number == 0 else f"{folder}page/{number}/index.html"


def shard_key(number: int) -> str:
    return f"sitemaps/articles-{number}.xml"


def shard_meta_key(number: int) -> str:
    """Private record of a shard's URL count and lastmod: the index reads these instead of
    every shard (written with the shard, from the same members, so it is never staler)."""
    return f"{INTERNAL_PREFIX}sitemaps/articles-{number}.json"


def _pages(count: int, size: int) -> int:
    return math.ceil(count / size) if count > 0 else 0


def _has_feed(listing: str) -> bool:
    return listing == HOME or listing.startswith("category/")


@dataclasses.dataclass(frozen=True, slots=True)
class Output:
    data: bytes
    content_type: str
    cache_control: str


# What building one page produces: (key, bytes to write, or None: the key must not exist).
Built = list[tuple[str, Output | None]]


# ------------------------------------------------------------------------------------------
# Reading listings by position


class ListingReader:
    """One listing as read at one moment: its head, and members by 0-based position.

    Reads start at the newest end (where publishes happen) and are cached, so the front page,
    the last numbered page, the feed and positions of new articles share one query. A page in
    the middle is read around an *anchor* (a changed article whose position is known), never
    by walking from either end.
    """

    def __init__(self, store: ArticleStore, listing: str, probe: int) -> None:
        self.store = store
        self.listing = listing
        head = store.head(listing)
        self.version = head.version
        self.count = max(head.count, 0)
        self.probe = probe  # members read from the newest end to locate a sort key
        self._tail: list[Article] = []  # the newest members, oldest first
        self._keys: list[str] = []  # sort keys of the newest len(_keys) members (lazily)
        self._complete = self.count == 0
        self._positions: dict[str, int] = {}

    def tail(self, n: int) -> list[Article]:
        """The newest ``n`` members, oldest first."""
        n = min(max(n, 0), self.count)
        missing = n - len(self._tail)
        if missing > 0 and not self._complete:
            before = self._tail[0].sort_key if self._tail else None
            more = self.store.newest(self.listing, missing, before=before)
            more.reverse()
            self._tail[:0] = more
            if len(more) < missing:
                # Fewer members than the head counted (a commit raced our head read): the
                # members are the truth; the version re-check makes the caller run again.
                self.count = len(self._tail)
                self._complete = True
            elif len(self._tail) >= self.count:
                self._complete = True
        return self._tail[max(0, len(self._tail) - n) :]

    def position(self, sort_key: str) -> int:
        """0-based position of ``sort_key`` (where it is, or would be, in the listing)."""
        known = self._positions.get(sort_key)
        if known is not None:
            return known
        tail = self.tail(self.probe)
        keys = self._sort_keys()
        if tail and (self._complete or sort_key >= keys[0]):
            offset = self.count - len(self._tail)
            position = offset + bisect.bisect_left(keys, sort_key)
        elif not tail:
            position = 0
        else:
            # Far from the newest end: count what lies before it (cheap for old positions).
            position = self.store.count_before(self.listing, sort_key)
        self._positions[sort_key] = position
        return position

    def _sort_keys(self) -> list[str]:
        """Sort keys of every cached member (computed once: a whole listing may be cached)."""
        missing = len(self._tail) - len(self._keys)
        if missing > 0:
            self._keys[:0] = [sort_key(a) for a in self._tail[:missing]]
        return self._keys

    def range(self, start: int, stop: int) -> list[Article]:
        """Members at positions ``[start, stop)``, oldest first."""
        start, stop = max(start, 0), min(stop, self.count)
        if start >= stop:
            return []
        anchor = self._anchor(start, stop)
        cached_from = self.count - len(self._tail)
        far = self.count - start > 2 * (stop - start)
        if start < cached_from and anchor is not None and far:
            return self._around(anchor[0], anchor[1], start, stop)
        self.tail(self.count - start)
        cached_from = self.count - len(self._tail)
        stop = min(stop, self.count)
        return self._tail[max(start - cached_from, 0) : max(stop - cached_from, 0)]

    def _anchor(self, start: int, stop: int) -> tuple[str, int] | None:
        for key, position in sorted(self._positions.items(), key=lambda kv: kv[1]):
            if start <= position <= stop:
                return key, position
        return None

    def _around(self, key: str, position: int, start: int, stop: int) -> list[Article]:
        older = (
            self.store.newest(self.listing, position - start, before=key)
            if position > start
            else []
        )
        older.reverse()
        if position >= stop:
            return older[: stop - start]
        if older:
            after: str | None = older[-1].sort_key
        elif position == 0:
            after = None
        else:
            previous = self.store.newest(self.listing, 1, before=key)
            after = previous[0].sort_key if previous else None
        return older + self.store.oldest(self.listing, stop - position, after=after)


# ------------------------------------------------------------------------------------------
# The build context: settings, theme, ports and per-listing readers


class BuildContext:
    """Everything a builder needs. Readers are cached per listing until ``refresh``."""

    def __init__(
        self,
        store: ArticleStore,
        site: SiteWriter,
        hot: HotLists,
        settings: SiteSettings,
        theme: Theme,
        now: dt.datetime,
        *,
        shard_size: int = sitemaps.SHARD_SIZE,
    ) -> None:
        self.store = store
        self.site = site
        self.hot = hot
        self.settings = settings
        self.theme = theme
        self.now = now
        self.shard_size = shard_size
        self.zone = _zone(settings.timezone)
        self._readers: dict[str, ListingReader] = {}
        self._hot: list[HotItem] | None = None
        self._news: list[Article] | None = None
        self._counts: dict[str, tuple[int, str]] | None = None
        self.shard_lastmod: dict[int, dt.datetime | None] = {}

    @property
    def page_size(self) -> int:
        return self.settings.page_size

    def reader(self, listing: str) -> ListingReader:
        reader = self._readers.get(listing)
        if reader is None:
            probe = max(2 * self.page_size, FEED_SIZE + 2)
            reader = self._readers[listing] = ListingReader(self.store, listing, probe)
        return reader

    def refresh(self, listing: str) -> None:
        """Forget what was read of ``listing`` (its head moved: read it again)."""
        self._readers.pop(listing, None)
        if listing == HOME:
            self._news = None
            self.shard_lastmod.clear()
        self._counts = None

    def hot_items(self) -> list[HotItem]:
        if self._hot is None:
            self._hot = self.hot.get(HOT_WINDOW)
        return self._hot

    def news_articles(self) -> list[Article]:
        """Home members of the last 48 hours, newest first (at most NEWS_MAX_URLS)."""
        if self._news is None:
            reader = self.reader(HOME)
            cutoff = self.now - sitemaps.NEWS_WINDOW
            n = min(64, sitemaps.NEWS_MAX_URLS)
            while True:
                tail = reader.tail(n)
                if len(tail) < n or tail[0].date < cutoff or n >= sitemaps.NEWS_MAX_URLS:
                    break
                n = min(n * 4, sitemaps.NEWS_MAX_URLS)
            self._news = [a for a in reversed(tail) if a.date >= cutoff]
        return self._news

    def listing_counts(self) -> dict[str, tuple[int, str]]:
        """Every category and tag listing: (members, label). O(listings) reads: summaries only."""
        if self._counts is None:
            counts: dict[str, tuple[int, str]] = {}
            names = set(self.store.listings()) | {
                f"category/{c.key}" for c in self.settings.categories
            }
            for listing in sorted(names):
                if not listing.startswith(("category/", "tag/")):
                    continue
                count = max(self.store.head(listing).count, 0)
                if listing.startswith("category/"):
                    label = self.settings.category_label(listing.removeprefix("category/"))
                elif count:
                    label = _tag_label(listing, self.store.newest(listing, 1))
                else:
                    label = ""
                counts[listing] = (count, label)
            self._counts = counts
        return self._counts


def sort_key(article: Article) -> str:
    """``Article.sort_key``, minus strftime (see sitemaps.w3c_time): full rebuilds need one
    per member of every listing."""
    return f"{sitemaps.w3c_time(article.date)}#{article.slug}"


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def month_label(date: dt.datetime, zone: dt.tzinfo) -> str:
    """Archive month of a date, in the site's time zone (as pages show dates)."""
    local = date.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def month_bounds(label: str, zone: dt.tzinfo) -> tuple[str, str]:
    """Sort-key bounds ``[start, end)`` of a month: keys are ``<UTC ISO date>#<slug>``."""
    year, month = (int(part) for part in label.split("-"))
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return format_time(start), format_time(end)


def _tag_label(listing: str, members: Iterable[Article]) -> str:
    """A tag's label as written by its authors (the listing only has the URL key)."""
    key = listing.removeprefix("tag/")
    for article in members:
        for tag in article.tags:
            if tag_key(tag) == key:
                return tag
    return key


# ------------------------------------------------------------------------------------------
# Which pages a change touches


@dataclasses.dataclass(slots=True)
class ListingPlan:
    pages: set[Page] = dataclasses.field(default_factory=set)
    summaries: set[Page] = dataclasses.field(default_factory=set)


def touched_listings(changes: Iterable[Change]) -> list[str]:
    """Listings any image of the changes belongs to (the held ``scheduled`` one has no pages)."""
    names: set[str] = set()
    for old, new in changes:
        names |= listings_of(old) | listings_of(new)
    names.discard(SCHEDULED)
    return sorted(names)


def _summaries() -> set[Page]:
    return {Page("html-sitemap"), Page("pages-sitemap")}


def plan_listing(ctx: BuildContext, listing: str, changes: Sequence[Change]) -> ListingPlan:
    """Pages of ``listing`` (and, for home, the sitemaps) that ``changes`` may have changed,
    located in the listing as it is now."""
    plan = ListingPlan()
    reader = ctx.reader(listing)
    size = ctx.page_size
    shard_size = ctx.shard_size
    count = reader.count
    moved_from: int | None = None  # first numbered page whose members shifted
    shard_from: int | None = None
    front = feed = False
    added = 0
    left = False
    months: dict[str, int] = {}  # month -> articles this batch added to it (home only)
    for old, new in changes:
        was = old is not None and listing in listings_of(old)
        now_in = new is not None and listing in listings_of(new)
        if not (was or now_in):
            continue
        if was and now_in and old is not None and new is not None and old.sort_key == new.sort_key:
            if old == new:
                continue  # an identical write: nothing to show differently
            # Same place, new data: only the page holding it (and the newest views).
            position = reader.position(new.sort_key)
            plan.pages.add(Page("listing", listing, position // size + 1))
            front = front or position >= count - size
            feed = feed or position >= count - FEED_SIZE
            if listing == HOME:
                plan.pages.add(Page("shard", number=position // shard_size + 1))
            continue
        front = True
        added += int(now_in and not was)
        left = left or (was and not now_in)
        for article, member in ((old, was), (new, now_in)):
            if article is None or not member:
                continue
            position = reader.position(article.sort_key)
            # Members from `position` on shift by one. The page holding position-1 changes
            # too when `position` starts a page: it may stop (or start) being the newest
            # numbered page, whose "newer" link goes to the front page.
            first = max(position - 1, 0) // size + 1
            moved_from = first if moved_from is None else min(moved_from, first)
            shard = position // shard_size + 1
            shard_from = shard if shard_from is None else min(shard_from, shard)
            feed = feed or position >= count - FEED_SIZE - 1
        if listing == HOME:
            if was and old is not None:
                months.setdefault(month_label(old.date, ctx.zone), 0)
            if now_in and new is not None:
                label = month_label(new.date, ctx.zone)
                moved_month = not was or old is None or month_label(old.date, ctx.zone) != label
                months[label] = months.get(label, 0) + int(moved_month)

    if front:
        plan.pages.add(Page("listing", listing, 0))
    if moved_from is not None:
        last = _pages(reader.count, size)
        # One past the end: deleting it (if it exists) starts the probe for stale pages.
        plan.pages.update(Page("listing", listing, k) for k in range(moved_from, last + 2))
    if feed and _has_feed(listing):
        plan.pages.add(Page("feed", listing))
    if listing == HOME:
        if shard_from is not None:
            last = _pages(reader.count, shard_size)
            plan.pages.update(Page("shard", number=n) for n in range(shard_from, last + 2))
        if plan.pages:
            # News drops articles as they age past 48 hours: refresh it with any home change.
            plan.pages.update({Page("news-sitemap"), Page("sitemap-index")})
        if left or _month_set_changed(ctx, months):
            plan.summaries.add(Page("archive"))
    elif moved_from is not None and (reader.count == 0 or reader.count <= added):
        # The listing may just have appeared or emptied: the sitemaps that list listings.
        plan.summaries |= _summaries()
    return plan


def _month_set_changed(ctx: BuildContext, months: dict[str, int]) -> bool:
    """Whether a month of the archive may have appeared (all its members are new) or emptied."""
    for label, added in sorted(months.items()):
        start, end = month_bounds(label, ctx.zone)
        members = ctx.store.oldest(HOME, added + 1, after=start)
        in_month = sum(1 for a in members if a.sort_key < end)
        if in_month == 0 or in_month <= added:
            return True
    return False


def _neighbour_listing(article: Article) -> str:
    # Same rule as publishing.render_article_page: previous/next within the category.
    return f"category/{article.category}" if article.category else HOME


def _shows_differently(old: Article | None, new: Article | None) -> bool:
    """Whether a neighbour's page would show this article differently (previous/next links
    carry its title and URL, and depend on its place in the neighbour listing)."""
    if old is None or new is None:
        return True
    return (
        old.sort_key != new.sort_key
        or old.title != new.title
        or old.is_listed != new.is_listed
        or _neighbour_listing(old) != _neighbour_listing(new)
    )


def article_pages(store: ArticleStore, changes: Sequence[Change]) -> set[Page]:
    """The changed articles' own pages, and the neighbours whose previous/next link moved.

    A page links its predecessor and successor in its neighbour listing (its category, or
    home when it has none). So when an article enters or leaves a place, the members right
    before and after it, at its old place (they now point at each other) and at its new one
    (they now point at it), change if that listing is *their* neighbour listing: always in
    its category, and in home only for articles without a category.
    """
    pages: set[Page] = set()
    for old, new in changes:
        if old == new:
            continue
        for image in (old, new):
            if image is not None:
                pages.add(Page("article", name=image.slug))
        if not _shows_differently(old, new):
            continue
        for image in (old, new):
            if image is None or not image.is_listed:
                continue
            for listing in {_neighbour_listing(image), HOME}:
                for neighbour in store.newest(listing, 1, before=image.sort_key) + store.oldest(
                    listing, 1, after=image.sort_key
                ):
                    if neighbour.slug != image.slug and _neighbour_listing(neighbour) == listing:
                        pages.add(Page("article", name=neighbour.slug))
    return pages


def affected_pages(ctx: BuildContext, changes: Sequence[Change]) -> list[Page]:
    """Every page a batch of changes may have changed, de-duplicated and sorted."""
    pages: set[Page] = set()
    for listing in touched_listings(changes):
        plan = plan_listing(ctx, listing, changes)
        pages |= plan.pages | plan.summaries
    pages |= article_pages(ctx.store, changes)
    return sorted(pages)


def all_listing_pages(ctx: BuildContext, listing: str) -> set[Page]:
    """Every page of a listing, for a full rebuild (plus one past the end: the stale probe)."""
    reader = ctx.reader(listing)
    last = _pages(reader.count, ctx.page_size)
    pages = {Page("listing", listing, k) for k in range(last + 2)}
    if _has_feed(listing):
        pages.add(Page("feed", listing))
    if listing == HOME:
        shards = _pages(reader.count, ctx.shard_size)
        pages |= {Page("shard", number=n) for n in range(1, shards + 2)}
        pages |= {Page("sitemap-index"), Page("news-sitemap")}
    return pages


def full_site_pages(ctx: BuildContext) -> tuple[list[str], set[Page]]:
    """For a full rebuild: the listings to rebuild (each with ``all_listing_pages``) and the
    pages guarded by no listing (summaries, robots, 404, static assets). Article pages are
    enumerated by the caller (``ArticleStore.scan_articles``)."""
    listings = set(ctx.store.listings()) | {f"category/{c.key}" for c in ctx.settings.categories}
    listings.add(HOME)
    listings.discard(SCHEDULED)
    return sorted(listings), unguarded_pages(ctx)


def unguarded_pages(ctx: BuildContext) -> set[Page]:
    """The pages no listing guards: summaries, robots, 404, static assets (full rebuilds)."""
    others = set(SUMMARY_PAGES) | {Page("robots"), Page("not-found")}
    others |= {Page("static", name=key) for key in ctx.theme.static_files()}
    return others


def listing_page_count(ctx: BuildContext, listing: str) -> int:
    """Numbered pages of ``listing`` as it is now (its front page not counted)."""
    return _pages(ctx.reader(listing).count, ctx.page_size)


def sitemap_shard_count(ctx: BuildContext) -> int:
    """``sitemaps/articles-N.xml`` shards of the site as it is now."""
    return _pages(ctx.reader(HOME).count, ctx.shard_size)


def build_order(page: Page) -> tuple[int, Page]:
    return _ORDER.get(page.kind, 0), page


# ------------------------------------------------------------------------------------------
# Builders: one page's bytes, from the store


def build(page: Page, ctx: BuildContext) -> Built:
    """The outputs of ``page`` as the store is now."""
    if page.kind == "listing":
        return [(page.key, _listing(ctx, page.listing, page.number))]
    if page.kind == "feed":
        return [(page.key, _feed(ctx, page.listing))]
    if page.kind == "shard":
        return _shard(ctx, page.number)
    if page.kind == "sitemap-index":
        return _sitemap_index(ctx)
    if page.kind == "news-sitemap":
        return [(page.key, _news(ctx))]
    if page.kind == "pages-sitemap":
        return [(page.key, _pages_sitemap(ctx))]
    if page.kind == "html-sitemap":
        return [(page.key, _html_sitemap(ctx))]
    if page.kind == "archive":
        return [(page.key, _archive(ctx))]
    if page.kind == "robots":
        return [(page.key, _robots(ctx))]
    if page.kind == "not-found":
        return [(page.key, _html(ctx.theme.not_found_page()))]
    if page.kind == "static":
        data, content_type = ctx.theme.static_files()[page.name]
        return [(page.key, Output(data, content_type, CACHE_STATIC))]
    raise ValueError(f"{page.kind} pages are written by publishing.write_article_page")


def _html(text: str) -> Output:
    return Output(text.encode("utf-8"), HTML, CACHE_PAGE)


def _listing_title(ctx: BuildContext, listing: str, members: Sequence[Article]) -> str:
    if listing == HOME:
        return HOME_PAGES_TITLE
    if listing.startswith("category/"):
        return ctx.settings.category_label(listing.removeprefix("category/"))
    return _tag_label(listing, members)


def _is_settings_category(ctx: BuildContext, listing: str) -> bool:
    key = listing.removeprefix("category/")
    return listing.startswith("category/") and any(c.key == key for c in ctx.settings.categories)


def _feed_path(listing: str) -> str | None:
    return f"/{listing}/feed.xml" if listing.startswith("category/") else None


def _listing(ctx: BuildContext, listing: str, number: int) -> Output | None:
    reader = ctx.reader(listing)
    size = ctx.page_size
    base = listing_base(listing)
    if number == 0:
        newest = reader.tail(size)[::-1]
        pages = _pages(reader.count, size)
        if listing == HOME:
            return _html(ctx.theme.home_page(articles=newest, pages=pages, hot=ctx.hot_items()))
        if reader.count == 0 and not _is_settings_category(ctx, listing):
            return None  # a tag (or unknown category) with no articles has no page
        return _html(
            ctx.theme.listing_page(
                title=_listing_title(ctx, listing, newest),
                path=base,
                articles=newest,
                page=None,
                pages=pages,
                base_path=base,
                feed_path=_feed_path(listing),
            )
        )
    members = reader.range((number - 1) * size, number * size)
    pages = _pages(reader.count, size)
    if number > pages or not members:
        return None
    shown = members[::-1]  # newest first on every page, like the front page
    return _html(
        ctx.theme.listing_page(
            title=_listing_title(ctx, listing, shown),
            path=f"{base}page/{number}/",
            articles=shown,
            page=number,
            pages=pages,
            base_path=base,
            feed_path=_feed_path(listing),
        )
    )


def _feed(ctx: BuildContext, listing: str) -> Output | None:
    reader = ctx.reader(listing)
    items = reader.tail(FEED_SIZE)[::-1]
    settings = ctx.settings
    if listing == HOME:
        title, description = settings.name, settings.description
    else:
        if reader.count == 0 and not _is_settings_category(ctx, listing):
            return None
        label = settings.category_label(listing.removeprefix("category/"))
        title = f"{label} - {settings.name}"
        description = f"{label}: the latest from {settings.name}"
    data = rss(
        settings,
        title=title,
        link_path=listing_base(listing),
        feed_path=f"/{Page('feed', listing).key}",
        description=description,
        articles=items,
    )
    return Output(data, FEED_TYPE, CACHE_PAGE)


def _shard(ctx: BuildContext, number: int) -> Built:
    reader = ctx.reader(HOME)
    size = ctx.shard_size
    members = reader.range((number - 1) * size, number * size)
    if number > _pages(reader.count, size) or not members:
        ctx.shard_lastmod[number] = None
        return [(shard_key(number), None), (shard_meta_key(number), None)]
    lastmod = max(sitemaps.lastmod_of(a) for a in members)
    ctx.shard_lastmod[number] = lastmod
    meta = json.dumps({"urls": len(members), "lastmod": format_time(lastmod)}, sort_keys=True)
    data = sitemaps.article_urlset(ctx.settings, members)
    return [
        (shard_key(number), Output(data, sitemaps.SITEMAP_TYPE, CACHE_PAGE)),
        (shard_meta_key(number), Output(meta.encode("utf-8"), JSON, CACHE_PAGE)),
    ]


def _shard_lastmod(ctx: BuildContext, number: int, extra: Built) -> dt.datetime | None:
    """A shard's lastmod: built in this run, else from its private record, else rebuilt."""
    if number in ctx.shard_lastmod:
        return ctx.shard_lastmod[number]
    raw = ctx.site.read(shard_meta_key(number))
    if raw is not None:
        try:
            return dt.datetime.fromisoformat(str(json.loads(raw)["lastmod"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            pass  # unreadable: rebuild the shard below
    extra.extend(_shard(ctx, number))
    return ctx.shard_lastmod.get(number)


def _sitemap_index(ctx: BuildContext) -> Built:
    reader = ctx.reader(HOME)
    settings = ctx.settings
    extra: Built = []
    entries: list[sitemaps.UrlEntry] = []
    for number in range(1, _pages(reader.count, ctx.shard_size) + 1):
        lastmod = _shard_lastmod(ctx, number, extra)
        entries.append(sitemaps.UrlEntry(absolute_url(settings, f"/{shard_key(number)}"), lastmod))
    news = ctx.news_articles()
    if news:
        newest = max(sitemaps.lastmod_of(a) for a in news)
        entries.append(sitemaps.UrlEntry(absolute_url(settings, "/sitemaps/news.xml"), newest))
    # pages.xml is always there (it lists at least the home page); it carries no lastmod:
    # its entries are front pages whose content changes with every publish.
    entries.append(sitemaps.UrlEntry(absolute_url(settings, "/sitemaps/pages.xml")))
    data = sitemaps.sitemap_index(entries)
    return [*extra, ("sitemap.xml", Output(data, sitemaps.SITEMAP_TYPE, CACHE_PAGE))]


def _news(ctx: BuildContext) -> Output | None:
    news = ctx.news_articles()
    if not news:
        return None  # the schema needs at least one URL; the index drops news.xml too
    data = sitemaps.news_sitemap(
        (sitemaps.news_entry(ctx.settings, a) for a in news),
        name=ctx.settings.name,
        language=ctx.settings.language,
    )
    return Output(data, sitemaps.SITEMAP_TYPE, CACHE_PAGE)


def _visible_listings(ctx: BuildContext) -> list[tuple[str, int, str]]:
    """Category and tag listings that have a front page: (listing, count, label)."""
    shown = []
    for listing, (count, label) in ctx.listing_counts().items():
        if count > 0 or _is_settings_category(ctx, listing):
            shown.append((listing, count, label))
    return shown


def _pages_sitemap(ctx: BuildContext) -> Output:
    settings = ctx.settings
    paths = ["/", "/archive/", "/sitemap/"]
    paths += [listing_base(listing) for listing, _, _ in _visible_listings(ctx)]
    entries = [sitemaps.UrlEntry(absolute_url(settings, p)) for p in paths]
    return Output(sitemaps.urlset(entries), sitemaps.SITEMAP_TYPE, CACHE_PAGE)


def _html_sitemap(ctx: BuildContext) -> Output:
    settings = ctx.settings
    order = {f"category/{c.key}": i for i, c in enumerate(settings.categories)}
    categories: list[tuple[Category, int]] = []
    tags: list[tuple[str, str, int]] = []
    for listing, count, label in _visible_listings(ctx):
        if listing.startswith("category/"):
            categories.append((Category(listing.removeprefix("category/"), label), count))
        else:
            tags.append((label, listing.removeprefix("tag/"), count))
    # Settings order for categories (as in the navigation), then any others by key.
    categories.sort(key=lambda c: (order.get(f"category/{c[0].key}", len(order)), c[0].key))
    tags.sort(key=lambda t: (t[0].casefold(), t[1]))
    return _html(ctx.theme.sitemap_page(categories=categories, tags=tags))


def _archive(ctx: BuildContext) -> Output:
    reader = ctx.reader(HOME)
    months: dict[str, list[Article]] = {}
    for article in reversed(reader.tail(reader.count)):  # newest first
        months.setdefault(month_label(article.date, ctx.zone), []).append(article)
    return _html(ctx.theme.archive_page(months=list(months.items())))


def _robots(ctx: BuildContext) -> Output:
    text = (
        "User-agent: *\n"
        "Disallow: /api/\n"
        f"Disallow: /{INTERNAL_PREFIX}\n"
        f"Sitemap: {absolute_url(ctx.settings, '/sitemap.xml')}\n"
    )
    return Output(text.encode("utf-8"), TEXT, CACHE_PAGE)


def public_path(key: str) -> str:
    """The URL path CloudFront caches a site key under (percent-encoded, leading slash)."""
    return href("/" + key)
