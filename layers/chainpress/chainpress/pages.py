"""Which pages a change touches, and building each of them from the store (pure).

Every generated page is a function of the articles table (Pelican/Lektor style: pages as
functions of an index). This module answers two questions, never looking at more of the
table than the answer needs:

* ``plan_listing`` / ``article_pages`` / ``affected_pages``: given the ``(old, new)`` images of
  changed article records, which pages may now differ. Only the images' *listings* and *sort
  keys* are used, to find their pages in the listings as they are **now**; page content always
  comes from the store, never from the event payload, so replaying a batch, or two batches in
  either order, converges on the same site.
* ``build``: the bytes of one page, read from the store (``None``: the key must not exist).
  A page reads its head, its own boundaries and its own members: O(page), wherever it is.

Pagination does not shift (``paging.py``; docs/architecture.md). Numbered page K of a listing
holds the members in ``[start_K, start_{K+1})``, where the boundaries are kept in the table:
page 1 starts below every date, and page K+1 starts at the article that found page K full when
it arrived at the newest end. The front page shows the newest ``page_size``. What a reader sees:

* **Pages keep their articles.** A new article never moves an old one to another page, so old
  pages keep their bytes (and their CDN cache) for good: ``/page/3/`` holds the same articles
  next year, plus or minus the ones edited, deleted or backdated into it.
* **Short or long pages, never a missing article or a duplicate.** Every member sorts into
  exactly one range. A delete leaves its page one shorter (an emptied page says so and keeps
  its links); a backdated article, or one that changes category, joins the page covering its
  date, which may then hold more than ``page_size``.
* A listing that empties starts again from page 1 (its old pages are deleted).

So the pages a change touches are bounded whatever N:

* an article appended at the newest end changes the front page and the last numbered page,
  plus the previous last page when it opened a new page (its "newer" link moves);
* an article deleted, backdated, re-dated or moved to another category changes the one page
  covering its old date and the one covering its new date, the front page only when it is
  (or was) among the newest, and its neighbours;
* an edit in place changes the page holding it (and the front page / feed when it is among
  the newest).

Writes for ONE new article appended at the newest end (the common publish), with T tags and
a category, when no new tag or month appears, whatever the number N of articles::

    public pages written = 12 + 2*T  (+1 per listing whose append opens a new numbered page)

    home front + last home page + /feed.xml                  3
    category front + last category page + category feed     3
    each tag: front + last tag page                          2*T
    sitemaps/articles-<last>.xml, /sitemap.xml, news.xml     3
    /archive/ (month counts) + the month's page              2
    the category neighbour whose "next" link now points here 1
    older articles nearest it in its category and tags (related lists), at most
      RELATED_NEIGHBOURS (2) per listing, the category neighbour already counted   <= 2*(1+T)-1
      (written, not invalidated: ``ArticlePages.quiet``)
    the article page itself: rendered, but publish already wrote the same bytes   0

Sitemap shards are pages of the same kind over home (``paging.SHARD_SIZE`` URLs each; the last
one is rebuilt whole), and ``/sitemap.xml`` reads every shard's URL count and lastmod from one
item (the sitemap head), never one record per shard. The archive is monthly pages
(``/archive/YYYY/MM/``, paged by ``paging.MONTH_PAGE_SIZE``) under an index of months whose
counts are the month heads. The HTML sitemap ``/sitemap/`` lists the categories and pages of
tags (``/sitemap/tags/K/`` and ``sitemaps/tags-K.xml``, ``paging.INDEX_PAGE_SIZE`` tags each,
in order of first use): level-triggered, each tag page keeps a private record of the tags it
shows, and a batch that touches a tag compares the tag's presence in the table (its count)
with that record, rebuilding the page (and ``/sitemap/``, ``sitemaps/pages.xml``) when they
differ, whichever batch saw the tag appear. Nothing shows counts that change on every publish
except ``/archive/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Literal

from chainpress import sitemaps
from chainpress.feeds import FEED_SIZE, FEED_TYPE, rss
from chainpress.model import (
    ARTICLE_PREFIX,
    MAX_TRANSLATIONS,
    RELATED_NEIGHBOURS,
    Article,
    has_pages,
    listings_of,
    related_listings,
    tag_key,
    translation_listing,
)
from chainpress.paging import (
    HOME,
    SENTINEL,
    SITEMAP,
    TAG_INDEX,
    IndexEntry,
    ListingHead,
    month_bounds,
    month_collection,
    month_label,
    zone,
)
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
from chainpress.render import Theme, absolute_url, archive_path, href, sitemap_tags_path
from chainpress.responsive import ImageInfo, cover_key
from chainpress.settings import Category, SiteSettings

__all__ = [
    "HOME",
    "ArticlePages",
    "BuildContext",
    "Built",
    "Change",
    "ListingPlan",
    "ListingReader",
    "Output",
    "Page",
    "PagedReader",
    "affected_pages",
    "all_listing_pages",
    "article_pages",
    "build",
    "full_site_pages",
    "listing_key",
    "listing_page_count",
    "month_page_count",
    "plan_listing",
    "sitemap_shard_count",
    "split_article_pages",
    "summary_pages",
    "touched_listings",
    "unguarded_pages",
]

Change = tuple[Article | None, Article | None]

HOT_WINDOW = "24h"  # the home page's hot block
HOME_PAGES_TITLE = "All articles"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

PageKind = Literal[
    "listing",  # a listing's front page (number 0) or numbered page K
    "feed",  # RSS of home or a category
    "article",  # an article page (rendered by publishing.write_article_page)
    "shard",  # sitemaps/articles-K.xml
    "sitemap-index",
    "news-sitemap",
    "pages-sitemap",  # sitemaps/pages.xml: home, archive, sitemap, category front pages
    "tags-sitemap",  # sitemaps/tags-K.xml: the tags of tag-index page K
    "html-sitemap",  # /sitemap/ (number 0) or /sitemap/tags/K/
    "archive",  # /archive/: the months
    "month",  # /archive/YYYY/MM/ (listing "YYYY-MM", number K >= 1)
    "robots",
    "not-found",
    "search",  # /search/ (chainpress.search)
    "static",
]

# Pages guarded by the home head: they derive from home members or from the listing index,
# whose every change (a tag appearing, a month emptying) is also a change of home.
_HOME_GUARDED = frozenset(
    {"shard", "sitemap-index", "news-sitemap", "pages-sitemap", "tags-sitemap", "html-sitemap",
     "archive", "month"}
)  # fmt: skip
# Numbered pages: past the last one, a page that is still there starts a probe for more.
NUMBERED = frozenset({"listing", "shard", "month"})


@dataclasses.dataclass(frozen=True, order=True, slots=True)
class Page:
    """One generated output, identified by what it is (not by bytes)."""

    kind: PageKind
    listing: str = ""  # listing name ("home", "category/x", "tag/y"), or month "YYYY-MM"
    number: int = 0  # numbered page K (0: front page), shard K, tag-index page K
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
        if self.kind == "tags-sitemap":
            return f"sitemaps/tags-{self.number}.xml"
        if self.kind == "html-sitemap" and self.number:
            return sitemap_tags_path(self.number).lstrip("/") + "index.html"
        if self.kind == "month":
            return archive_path(self.listing, self.number).lstrip("/") + "index.html"
        return _FIXED_KEYS.get(self.kind, self.name)

    @property
    def guard(self) -> str:
        """The listing whose head ``version`` tells whether this page may be stale ("" none)."""
        if self.kind in ("listing", "feed"):
            return self.listing
        return HOME if self.kind in _HOME_GUARDED else ""


_FIXED_KEYS = {
    "sitemap-index": "sitemap.xml",
    "news-sitemap": "sitemaps/news.xml",
    "pages-sitemap": "sitemaps/pages.xml",
    "html-sitemap": "sitemap/index.html",
    "archive": "archive/index.html",
    "robots": "robots.txt",
    "not-found": "404.html",
    "search": "search/index.html",
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


def tags_record_key(number: int) -> str:
    """Private record of the tags tag-index page ``number`` shows (written with the page)."""
    return f"{INTERNAL_PREFIX}sitemap/tags-{number}.json"


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
# Reading paged collections


class PagedReader:
    """One paged collection as read at one moment: its head, its page boundaries (cached),
    and the members of one page at a time (``members``: the listing it pages; ``low``/
    ``high`` clip a month to its dates)."""

    def __init__(
        self,
        store: ArticleStore,
        name: str,
        members: str,
        low: str = SENTINEL,
        high: str | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.members = members
        self.low = low
        self.high = high
        self.head: ListingHead = store.head(name)
        self.version = self.head.version
        self.count = max(self.head.count, 0)
        self.pages = self.head.pages if self.count else 0
        self.epoch = self.head.epoch
        self._starts: dict[int, str] = {1: SENTINEL}
        if self.pages:
            self._starts[self.pages] = self.head.last_start

    def start(self, number: int) -> str:
        """Where page ``number`` starts (one query for a page before the last, then cached)."""
        if number not in self._starts:
            found = self.store.page_starts(self.name, self.epoch, number, number + 1)
            self._starts.update(found)
            self._starts.setdefault(number, SENTINEL)  # a race: the caller's guard re-runs
        return self._starts[number]

    def stop(self, number: int) -> str | None:
        return None if number >= self.pages else self.start(number + 1)

    def page_of(self, key: str) -> int:
        if self.pages == 0:
            return 1
        if key >= self.head.last_start:
            return self.pages
        return self.store.page_of(self.name, self.epoch, key)

    def opened_by(self, number: int, key: str) -> bool:
        """Whether page ``number`` was opened by the article with sort key ``key``."""
        return number >= 2 and self.start(number) == key

    def page(self, number: int) -> list[Article]:
        """Members of page ``number``, oldest first (its boundaries: at most one query)."""
        if not 1 <= number <= self.pages:
            return []
        start, stop = max(self.start(number), self.low), self.stop(number)
        if self.high is not None and (stop is None or stop > self.high):
            stop = self.high
        if stop is not None and stop <= start:
            return []
        return self.store.between(self.members, start, stop)


class ListingReader(PagedReader):
    """A listing: pages, plus its newest members (front page, feed), read once from the
    newest end and cached."""

    def __init__(self, store: ArticleStore, listing: str, probe: int) -> None:
        super().__init__(store, listing, listing)
        self.listing = listing
        self.probe = probe  # members read from the newest end at once
        self._tail: list[Article] = []  # the newest members, oldest first
        self._complete = self.count == 0

    def tail(self, n: int) -> list[Article]:
        """The newest ``n`` members, oldest first."""
        n = min(max(n, 0), self.count)
        missing = n - len(self._tail)
        if missing > 0 and not self._complete:
            missing = max(missing, self.probe - len(self._tail))
            before = self._tail[0].sort_key if self._tail else None
            more = self.store.newest(self.listing, missing, before=before)
            more.reverse()
            self._tail[:0] = more
            if len(more) < missing:
                # Fewer members than the head counted (a commit raced our head read): the
                # members are the truth; the version re-check makes the caller run again.
                self.count = len(self._tail)
                self._complete = True
        return self._tail[max(0, len(self._tail) - n) :]

    def threshold(self, n: int) -> str:
        """Sort key of the ``n``-th newest member: keys >= it are among the newest ``n``."""
        tail = self.tail(n)
        return tail[0].sort_key if len(tail) >= n else SENTINEL

    def page(self, number: int) -> list[Article]:
        last = self.head.last_count
        if number == self.pages and last + 1 <= max(self.probe, len(self._tail)):
            # The last page is the newest ``last_count`` members: usually already read.
            tail = self.tail(last + 1)
            start = self.head.last_start
            if len(tail) == last + 1 and tail[0].sort_key < start:
                return tail[1:]
            if len(tail) <= last:  # the whole listing is on this page
                return [a for a in tail if a.sort_key >= start]
        return super().page(number)


# ------------------------------------------------------------------------------------------
# The build context: settings, theme, ports and per-collection readers


class BuildContext:
    """Everything a builder needs. Readers are cached per listing until ``refresh``.

    ``shard_size`` is accepted for compatibility and unused: shard boundaries are kept in the
    table (``paging.Paging.shard_size`` when they are made)."""

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
        self._readers: dict[str, ListingReader] = {}
        self._collections: dict[str, PagedReader] = {}
        self._hot: list[HotItem] | None = None
        self._news: list[Article] | None = None
        self._records: dict[int, frozenset[str] | None] = {}
        self._tag_pages: dict[int, list[IndexEntry]] = {}
        self._categories: list[str] | None = None

    @property
    def page_size(self) -> int:
        return self.settings.page_size

    def reader(self, listing: str) -> ListingReader:
        reader = self._readers.get(listing)
        if reader is None:
            probe = max(2 * self.page_size, FEED_SIZE + 2)
            reader = self._readers[listing] = ListingReader(self.store, listing, probe)
        return reader

    def collection(self, name: str) -> PagedReader:
        """``SITEMAP`` or ``TAG_INDEX`` (pages of home members / of tag-index entries)."""
        reader = self._collections.get(name)
        if reader is None:
            members = TAG_INDEX if name == TAG_INDEX else HOME
            reader = self._collections[name] = PagedReader(self.store, name, members)
        return reader

    def month(self, label: str) -> PagedReader:
        name = month_collection(label)
        reader = self._collections.get(name)
        if reader is None:
            low, high = month_bounds(label, self.home_zone())
            reader = PagedReader(self.store, name, HOME, low, high)
            self._collections[name] = reader
        return reader

    def home_zone(self) -> dt.tzinfo:
        """The zone home's archive months are cut in (fixed by its first article)."""
        return zone(self.reader(HOME).head.tz or self.settings.timezone)

    def refresh(self, listing: str) -> None:
        """Forget what was read of ``listing`` (its head moved: read it again)."""
        self._readers.pop(listing, None)
        if listing == HOME:
            self._collections.clear()
            self._news = None
            self._records.clear()
            self._tag_pages.clear()
            self._categories = None

    def hot_items(self) -> list[HotItem]:
        """The home page's hot block, without articles that are no longer live (the lists
        are refreshed every few minutes; a deleted article must not be linked meanwhile)."""
        if self._hot is None:
            items = self.hot.get(HOT_WINDOW)
            live = self.store.get_articles([i.slug for i in items]) if items else {}
            self._hot = [i for i in items if i.slug in live and live[i.slug].is_listed]
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

    def _present(self, entries: list[IndexEntry]) -> list[IndexEntry]:
        """The entries whose listing has members (one batch read of their heads)."""
        heads = self.store.heads([e.listing for e in entries]) if entries else {}
        return [e for e in entries if heads[e.listing].count > 0]

    def tag_page(self, number: int) -> list[IndexEntry]:
        """Tags of tag-index page ``number`` that have articles, by label."""
        if number not in self._tag_pages:
            index = self.collection(TAG_INDEX)
            entries: list[IndexEntry] = []
            if 1 <= number <= index.pages:
                entries = self.store.index_entries("tag", index.start(number), index.stop(number))
            present = self._present(entries)
            self._tag_pages[number] = sorted(present, key=lambda e: (e.label.casefold(), e.listing))
        return self._tag_pages[number]

    def tags_shown(self, number: int) -> frozenset[str] | None:
        """The tag listings tag-index page ``number`` showed when last built (its record)."""
        if number not in self._records:
            raw = self.site.read(tags_record_key(number))
            shown: frozenset[str] | None = None
            if raw is not None:
                try:
                    shown = frozenset(str(name) for name in json.loads(raw)["present"])
                except (ValueError, KeyError, TypeError):
                    shown = None  # unreadable: rebuild the page
            self._records[number] = shown
        return self._records[number]

    def other_categories(self) -> list[str]:
        """Keys of categories that have articles but are not in the settings, sorted."""
        if self._categories is None:
            known = {f"category/{c.key}" for c in self.settings.categories}
            entries = self.store.index_entries("category", SENTINEL, None)
            others = [e for e in entries if e.listing not in known]
            keys = [e.listing.removeprefix("category/") for e in self._present(others)]
            self._categories = sorted(keys)
        return self._categories


def listing_page_count(ctx: BuildContext, listing: str) -> int:
    """Numbered pages of ``listing`` (0 when it has no members)."""
    return ctx.reader(listing).pages


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
    summaries: set[Page] = dataclasses.field(default_factory=set)  # kept for callers; empty


def touched_listings(changes: Iterable[Change]) -> list[str]:
    """Listings any image of the changes belongs to (the held ``scheduled`` one has no pages)."""
    names: set[str] = set()
    for old, new in changes:
        names |= listings_of(old) | listings_of(new)
    return sorted(name for name in names if has_pages(name))


def _is_settings_category(ctx: BuildContext, listing: str) -> bool:
    key = listing.removeprefix("category/")
    return listing.startswith("category/") and any(c.key == key for c in ctx.settings.categories)


def plan_listing(ctx: BuildContext, listing: str, changes: Sequence[Change]) -> ListingPlan:
    """Pages of ``listing`` that ``changes`` may have changed, found in the listing as it is
    now (for home also the sitemaps, the archive and the summary pages)."""
    plan = ListingPlan()
    reader = ctx.reader(listing)
    size = ctx.page_size
    moved = False  # membership changed (not only an edit in place)
    keys: list[tuple[Article, bool]] = []  # (image, its place changed)
    for old, new in changes:
        was = old is not None and listing in listings_of(old)
        now_in = new is not None and listing in listings_of(new)
        if not (was or now_in):
            continue
        if was and now_in and old is not None and new is not None and old.sort_key == new.sort_key:
            if old != new:
                keys.append((new, False))  # same place, new data
            continue
        moved = True
        keys += [(image, True) for image, member in ((old, was), (new, now_in)) if member and image]

    for image, placed in keys:
        key = image.sort_key
        number = reader.page_of(key)
        plan.pages.add(Page("listing", listing, number))
        if placed and reader.opened_by(number, key):
            plan.pages.add(Page("listing", listing, number - 1))  # its "newer" link moved
        if key >= reader.threshold(size):
            plan.pages.add(Page("listing", listing, 0))
        if _has_feed(listing) and key >= reader.threshold(FEED_SIZE):
            plan.pages.add(Page("feed", listing))
    if moved and (reader.count == 0 or reader.epoch > 0):
        # Emptied (or emptied once): old pages past the end are deleted by the probe.
        plan.pages |= {Page("listing", listing, 0), Page("listing", listing, reader.pages + 1)}
        if _has_feed(listing):
            plan.pages.add(Page("feed", listing))
    if listing == HOME and keys:
        plan.pages |= _home_pages(ctx, keys, moved)
        plan.pages |= _summary_changes(ctx, changes)
    return plan


def _home_pages(ctx: BuildContext, keys: list[tuple[Article, bool]], moved: bool) -> set[Page]:
    """Sitemap shards, archive months and the pages summing them up, for changes of home."""
    pages = {Page("sitemap-index"), Page("news-sitemap")}
    shards = ctx.collection(SITEMAP)
    tz = ctx.home_zone()
    for image, placed in keys:
        key = image.sort_key
        pages.add(Page("shard", number=shards.page_of(key)))
        label = month_label(image.date, tz)
        month = ctx.month(label)
        number = month.page_of(key)
        pages.add(Page("month", label, number))
        if placed and month.opened_by(number, key):
            pages.add(Page("month", label, number - 1))
        if placed and (month.count == 0 or month.epoch > 0):
            pages.add(Page("month", label, month.pages + 1))
    if moved:
        pages.add(Page("archive"))  # month counts changed
        if shards.count == 0 or shards.epoch > 0:
            pages.add(Page("shard", number=shards.pages + 1))
    return pages


def _summary_changes(ctx: BuildContext, changes: Sequence[Change]) -> set[Page]:
    """Tag-index pages whose tags' presence (in the table) differs from what they show (their
    records), and, if any, ``/sitemap/`` and ``sitemaps/pages.xml``: level-triggered, whichever
    batch sees the difference first rebuilds them."""
    names: set[str] = set()
    for old, new in changes:
        names |= listings_of(old) ^ listings_of(new)  # presence can change only there
    pages: set[Page] = set()
    front = False
    for listing in sorted(names):
        if listing.startswith("category/") and not _is_settings_category(ctx, listing):
            front = True
        if not listing.startswith("tag/"):
            continue
        head = ctx.reader(listing).head
        number = head.index_page
        if not number:
            continue
        shown = ctx.tags_shown(number)
        if shown is None or (listing in shown) != (head.count > 0):
            pages |= {Page("html-sitemap", number=number), Page("tags-sitemap", number=number)}
            front = True
        if shown is None and number >= 2:
            pages.add(Page("html-sitemap", number=number - 1))  # a new page: "newer" link
    if front:
        pages |= {Page("html-sitemap"), Page("pages-sitemap")}
    return pages


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


def _as_related(article: Article | None) -> tuple[object, ...] | None:
    """What decides whether, and how, ``article`` is in a neighbour's related list."""
    if article is None or not article.is_listed:
        return None
    tags = sorted({tag_key(t) for t in article.tags})
    return (article.sort_key, article.title, article.date_only, article.category, tags)


def _related_pages(store: ArticleStore, old: Article | None, new: Article | None) -> set[Page]:
    """Pages whose related list may hold the article or may now: its ``RELATED_NEIGHBOURS``
    on each side, at its old and new place, in each category and tag listing (bounded)."""
    split = _related_split(store, old, new)
    return split.quiet | split.loud | split.forced


@dataclasses.dataclass(frozen=True, slots=True)
class ArticlePages:
    """The article pages a batch re-renders, and how the CDN hears of them (the invalidation
    budget, docs/architecture.md "Related lists and the CDN"):

    * ``quiet``: pages whose only change is a related list the article *joins* (or shows with
      a new title) without pushing another article out of their window: rewritten in the
      bucket, left to their CDN lifetime (a missing related link is harmless);
    * ``forced``: pages whose window held the article at a place it *left* (deleted,
      unpublished, renamed, re-dated, moved to another category or tag): invalidated even when
      their bytes are unchanged now, since a CDN copy may still link the page that is gone;
    * every other page in ``pages`` is invalidated when its bytes change (``InvalidationMode``
      ``exact`` invalidates the quiet ones too).
    """

    pages: set[Page]
    quiet: set[Page]
    forced: set[Page]


@dataclasses.dataclass(frozen=True, slots=True)
class _RelatedSplit:
    quiet: set[Page]
    loud: set[Page]
    forced: set[Page]


def _at_place(old: Article | None, new: Article | None, listing: str) -> bool:
    """Whether ``new`` sits where ``old`` sat in ``listing``, under the same URL."""
    return (
        old is not None
        and new is not None
        and old.slug == new.slug
        and old.sort_key == new.sort_key
        and listing in related_listings(old)
        and listing in related_listings(new)
    )


def _related_split(store: ArticleStore, old: Article | None, new: Article | None) -> _RelatedSplit:
    quiet: set[Page] = set()
    loud: set[Page] = set()
    forced: set[Page] = set()
    if _as_related(old) == _as_related(new):
        return _RelatedSplit(quiet, loud, forced)
    was = old if old is not None and old.is_listed else None
    now = new if new is not None and new.is_listed else None
    for image, other, arriving in ((was, now, False), (now, was, True)):
        if image is None:
            continue
        for listing in related_listings(image):
            before = store.newest(listing, RELATED_NEIGHBOURS, before=image.sort_key)
            after = store.oldest(listing, RELATED_NEIGHBOURS, after=image.sort_key)
            before = [a for a in before if a.slug != image.slug]
            after = [a for a in after if a.slug != image.slug]
            if _at_place(other, image, listing):  # in place: only what its link shows changed
                quiet |= {Page("article", name=a.slug) for a in before + after}
            elif not arriving:  # it left this place: a CDN copy may link a page that is gone
                forced |= {Page("article", name=a.slug) for a in before + after}
            else:
                # It joins the windows of its neighbours; the one at distance d on one side
                # loses the article at distance RELATED_NEIGHBOURS + 1 - d on the other side
                # (a backdated arrival): that page drops a link, and is invalidated (a later
                # removal of the dropped article no longer finds it in its window).
                for side, opposite in ((before, after), (after, before)):
                    for distance, neighbour in enumerate(side, start=1):
                        page = Page("article", name=neighbour.slug)
                        pushed = len(opposite) >= RELATED_NEIGHBOURS + 1 - distance
                        (loud if pushed else quiet).add(page)
    return _RelatedSplit(quiet, loud, forced)


def _as_translation(article: Article | None) -> tuple[object, ...] | None:
    """What a translation's page shows of ``article`` (its hreflang link and language)."""
    if article is None or not article.translation_key or not article.is_listed:
        return None
    return (article.translation_key, article.slug, article.language, article.title)


def _translation_pages(store: ArticleStore, old: Article | None, new: Article | None) -> set[Page]:
    """Pages of the translations of an article whose link to them changed (it appeared,
    left, moved or changed language): one bounded read per translation key."""
    if _as_translation(old) == _as_translation(new):
        return set()
    keys = {a.translation_key for a in (old, new) if a is not None and a.translation_key}
    pages: set[Page] = set()
    for key in sorted(keys):
        for member in store.newest(translation_listing(key), MAX_TRANSLATIONS):
            pages.add(Page("article", name=member.slug))
    return pages


def article_pages(store: ArticleStore, changes: Sequence[Change]) -> set[Page]:
    """Every article page a batch re-renders (``split_article_pages``, as one set)."""
    return split_article_pages(store, changes).pages


def split_article_pages(store: ArticleStore, changes: Sequence[Change]) -> ArticlePages:
    """The changed articles' own pages, and the neighbours whose previous/next link moved.

    A page links its predecessor and successor in its neighbour listing (its category, or
    home when it has none). So when an article enters or leaves a place, the members right
    before and after it, at its old place (they now point at each other) and at its new one
    (they now point at it), change if that listing is *their* neighbour listing: always in
    its category, and in home only for articles without a category.
    """
    pages: set[Page] = set()
    quiet: set[Page] = set()
    forced: set[Page] = set()
    for old, new in changes:
        if old == new:
            continue
        for image in (old, new):
            if image is not None:
                pages.add(Page("article", name=image.slug))
        pages |= _translation_pages(store, old, new)
        related = _related_split(store, old, new)
        quiet |= related.quiet
        forced |= related.forced
        pages |= related.loud | related.forced
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
    # A page some change re-renders for another reason is not quiet.
    return ArticlePages(pages | quiet, quiet - pages, forced)


def affected_pages(ctx: BuildContext, changes: Sequence[Change]) -> list[Page]:
    """Every page a batch of changes may have changed, de-duplicated and sorted."""
    pages: set[Page] = set()
    for listing in touched_listings(changes):
        plan = plan_listing(ctx, listing, changes)
        pages |= plan.pages | plan.summaries
    pages |= article_pages(ctx.store, changes)
    return sorted(pages)


def all_listing_pages(ctx: BuildContext, listing: str) -> set[Page]:
    """Every page of a listing, for a full rebuild (plus one past the end, which starts the
    probe for pages a listing had before it emptied). For home also the sitemap shards, the
    sitemap index, the news sitemap, the archive index and every month page."""
    reader = ctx.reader(listing)
    pages = {Page("listing", listing, k) for k in range(reader.pages + 2)}
    if _has_feed(listing):
        pages.add(Page("feed", listing))
    if listing == HOME:
        shards = ctx.collection(SITEMAP)
        pages |= {Page("shard", number=n) for n in range(1, shards.pages + 2)}
        pages |= {Page("sitemap-index"), Page("news-sitemap"), Page("archive")}
        for label, head in ctx.store.months():
            last = month_page_count(head)
            pages |= {Page("month", label, k) for k in range(1, last + 2)}
    return pages


def summary_pages(ctx: BuildContext) -> set[Page]:
    """The pages that sum up listings: ``/sitemap/`` and its tag pages, ``sitemaps/pages.xml``
    and ``sitemaps/tags-K.xml``, ``/archive/``. They read the listing index and the month
    heads, never articles: O(listings / INDEX_PAGE_SIZE + months) reads."""
    tag_pages = ctx.collection(TAG_INDEX).pages
    pages = {Page("html-sitemap"), Page("pages-sitemap"), Page("archive")}
    for number in range(1, tag_pages + 1):
        pages |= {Page("html-sitemap", number=number), Page("tags-sitemap", number=number)}
    return pages


def full_site_pages(ctx: BuildContext) -> tuple[list[str], set[Page]]:
    """For a full rebuild: the listings to rebuild (each with ``all_listing_pages``) and the
    pages guarded by no listing (summaries, robots, 404, static assets). Article pages are
    enumerated by the caller (``ArticleStore.scan_articles``)."""
    listings = set(ctx.store.listings()) | {f"category/{c.key}" for c in ctx.settings.categories}
    listings.add(HOME)
    listings = {listing for listing in listings if has_pages(listing)}
    return sorted(listings), unguarded_pages(ctx)


def unguarded_pages(ctx: BuildContext) -> set[Page]:
    """The pages no listing guards: summaries, robots, 404, static assets (full rebuilds)."""
    others = summary_pages(ctx) | {Page("robots"), Page("not-found"), Page("search")}
    others |= {Page("static", name=key) for key in ctx.theme.static_files()}
    return others


def sitemap_shard_count(ctx: BuildContext) -> int:
    """``sitemaps/articles-N.xml`` shards of the site as it is now."""
    return ctx.collection(SITEMAP).pages


def month_page_count(head: ListingHead) -> int:
    """Pages of an archive month (0 when it has no articles any more)."""
    return head.pages if head.count > 0 else 0


def build_order(page: Page) -> tuple[int, Page]:
    return 0, page


# ------------------------------------------------------------------------------------------
# Builders: one page's bytes, from the store


def build(page: Page, ctx: BuildContext) -> Built:
    """The outputs of ``page`` as the store is now."""
    if page.kind == "listing":
        return [(page.key, _listing(ctx, page.listing, page.number))]
    if page.kind == "feed":
        return [(page.key, _feed(ctx, page.listing))]
    if page.kind == "shard":
        return [(page.key, _shard(ctx, page.number))]
    if page.kind == "sitemap-index":
        return [(page.key, _sitemap_index(ctx))]
    if page.kind == "news-sitemap":
        return [(page.key, _news(ctx))]
    if page.kind == "pages-sitemap":
        return [(page.key, _pages_sitemap(ctx))]
    if page.kind == "tags-sitemap":
        return [(page.key, _tags_sitemap(ctx, page.number))]
    if page.kind == "html-sitemap":
        return _html_sitemap(ctx, page)
    if page.kind == "archive":
        return [(page.key, _archive(ctx))]
    if page.kind == "month":
        return [(page.key, _month(ctx, page.listing, page.number))]
    if page.kind == "robots":
        return [(page.key, _robots(ctx))]
    if page.kind == "not-found":
        return [(page.key, _html(ctx.theme.not_found_page()))]
    if page.kind == "search":
        return [(page.key, _html(ctx.theme.search_page()))]
    if page.kind == "static":
        data, content_type = ctx.theme.static_files()[page.name]
        return [(page.key, Output(data, content_type, CACHE_STATIC))]
    raise ValueError(f"{page.kind} pages are written by publishing.write_article_page")


def _html(text: str) -> Output:
    return Output(text.encode("utf-8"), HTML, CACHE_PAGE)


def _xml(data: bytes) -> Output:
    return Output(data, sitemaps.SITEMAP_TYPE, CACHE_PAGE)


def _listing_title(ctx: BuildContext, listing: str, members: Sequence[Article]) -> str:
    if listing == HOME:
        return HOME_PAGES_TITLE
    if listing.startswith("category/"):
        return ctx.settings.category_label(listing.removeprefix("category/"))
    return _tag_label(listing, members or ctx.reader(listing).tail(1))


def _feed_path(listing: str) -> str | None:
    return f"/{listing}/feed.xml" if listing.startswith("category/") else None


def _covers(ctx: BuildContext, articles: Sequence[Article]) -> dict[str, ImageInfo]:
    """The records of the cards' cover images: one batched read per page (none without
    covers). A cover processed after the page was rendered shows as uploaded until then."""
    keys = [k for k in dict.fromkeys(cover_key(a.cover) for a in articles) if k is not None]
    return ctx.store.get_images(keys) if keys else {}


def _listing(ctx: BuildContext, listing: str, number: int) -> Output | None:
    reader = ctx.reader(listing)
    size = ctx.page_size
    base = listing_base(listing)
    if number == 0:
        newest = reader.tail(size)[::-1]
        if listing == HOME:
            return _html(
                ctx.theme.home_page(
                    articles=newest,
                    pages=reader.pages,
                    hot=ctx.hot_items(),
                    images=_covers(ctx, newest),
                )
            )
        if reader.count == 0 and not _is_settings_category(ctx, listing):
            return None  # a tag (or unknown category) with no articles has no page
        return _html(
            ctx.theme.listing_page(
                title=_listing_title(ctx, listing, newest),
                path=base,
                articles=newest,
                page=None,
                pages=reader.pages,
                base_path=base,
                feed_path=_feed_path(listing),
                images=_covers(ctx, newest),
            )
        )
    if number > reader.pages:
        return None
    shown = reader.page(number)[::-1]  # newest first on every page, like the front page
    return _html(
        ctx.theme.listing_page(
            title=_listing_title(ctx, listing, shown),
            path=f"{base}page/{number}/",
            articles=shown,
            page=number,
            pages=reader.pages,
            base_path=base,
            feed_path=_feed_path(listing),
            images=_covers(ctx, shown),
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


def _shard(ctx: BuildContext, number: int) -> Output | None:
    shards = ctx.collection(SITEMAP)
    members = shards.page(number) if number <= shards.pages else []
    if not members:
        return None  # the schema needs at least one URL; the index leaves it out too
    return _xml(sitemaps.article_urlset(ctx.settings, members))


def _sitemap_index(ctx: BuildContext) -> Output:
    shards = ctx.collection(SITEMAP)
    settings = ctx.settings
    entries: list[sitemaps.UrlEntry] = []
    for number in range(1, shards.pages + 1):
        urls, lastmod = shards.head.shards.get(number, (0, ""))
        if urls > 0:
            when = dt.datetime.fromisoformat(lastmod.replace("Z", "+00:00")) if lastmod else None
            entries.append(sitemaps.UrlEntry(absolute_url(settings, f"/{shard_key(number)}"), when))
    news = ctx.news_articles()
    if news:
        newest = max(sitemaps.lastmod_of(a) for a in news)
        entries.append(sitemaps.UrlEntry(absolute_url(settings, "/sitemaps/news.xml"), newest))
    # pages.xml and tags-K.xml carry no lastmod: their entries are front pages whose content
    # changes with every publish.
    entries.append(sitemaps.UrlEntry(absolute_url(settings, "/sitemaps/pages.xml")))
    for number in range(1, ctx.collection(TAG_INDEX).pages + 1):
        loc = absolute_url(settings, f"/{Page('tags-sitemap', number=number).key}")
        entries.append(sitemaps.UrlEntry(loc))
    return _xml(sitemaps.sitemap_index(entries))


def _news(ctx: BuildContext) -> Output | None:
    news = ctx.news_articles()
    if not news:
        return None  # the schema needs at least one URL; the index drops news.xml too
    data = sitemaps.news_sitemap(
        (sitemaps.news_entry(ctx.settings, a) for a in news),
        name=ctx.settings.name,
        language=ctx.settings.language,
    )
    return _xml(data)


def _categories(ctx: BuildContext) -> list[Category]:
    """Settings categories (navigation order), then others that have articles, by key."""
    others = ctx.other_categories()
    return [*ctx.settings.categories, *(Category(key, key) for key in others)]


def _pages_sitemap(ctx: BuildContext) -> Output:
    paths = ["/", "/archive/", "/sitemap/"]
    paths += [f"/category/{c.key}/" for c in _categories(ctx)]
    entries = [sitemaps.UrlEntry(absolute_url(ctx.settings, p)) for p in paths]
    return _xml(sitemaps.urlset(entries))


def _tags_sitemap(ctx: BuildContext, number: int) -> Output | None:
    if number > ctx.collection(TAG_INDEX).pages:
        return None
    paths = [listing_base(e.listing) for e in ctx.tag_page(number)]
    paths.append(sitemap_tags_path(number))  # never empty: the schema needs one URL
    return _xml(sitemaps.urlset(sitemaps.UrlEntry(absolute_url(ctx.settings, p)) for p in paths))


def _html_sitemap(ctx: BuildContext, page: Page) -> Built:
    tag_pages = ctx.collection(TAG_INDEX).pages
    if page.number == 0:
        categories: list[tuple[Category, int | None]] = [(c, None) for c in _categories(ctx)]
        inline = ctx.tag_page(1) if tag_pages == 1 else []
        tags: list[tuple[str, str, int | None]] = [
            (e.label, e.listing.removeprefix("tag/"), None) for e in inline
        ]
        pages = tag_pages if tag_pages > 1 else 0
        html = ctx.theme.sitemap_page(categories=categories, tags=tags, tag_pages=pages)
        return [(page.key, _html(html))]
    record = tags_record_key(page.number)
    if page.number > tag_pages:
        return [(page.key, None), (record, None)]
    present = ctx.tag_page(page.number)
    shown_tags = [(e.label, e.listing.removeprefix("tag/")) for e in present]
    html = ctx.theme.sitemap_tags_page(tags=shown_tags, page=page.number, pages=tag_pages)
    shown = json.dumps({"present": sorted(e.listing for e in present)}, ensure_ascii=False)
    return [
        (page.key, _html(html)),
        (record, Output(shown.encode("utf-8"), JSON, CACHE_PAGE)),
    ]


def _archive(ctx: BuildContext) -> Output:
    months = [(label, head.count) for label, head in ctx.store.months() if head.count > 0]
    return _html(ctx.theme.archive_page(months=months[::-1]))  # newest first


def _month(ctx: BuildContext, label: str, number: int) -> Output | None:
    month = ctx.month(label)
    if number > month.pages or number < 1:
        return None
    shown = month.page(number)[::-1]
    return _html(
        ctx.theme.archive_month_page(label=label, articles=shown, page=number, pages=month.pages)
    )


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
