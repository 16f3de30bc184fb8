"""Pagination that does not shift: page boundaries kept in the articles table (pure).

Every paged collection (a listing's numbered pages, the sitemap shards, an archive month, the
tag index of the HTML sitemap) is described by a *head* and by its *boundaries*:

* page 1 starts at ``SENTINEL`` (below every key); page K >= 2 starts at the key that opened it;
  page K shows the members in ``[start_K, start_{K+1})``. Boundaries are never moved or removed,
  so pages never shift: an old page keeps its bytes while new articles arrive.
* the head holds ``count`` (members), ``version`` (bumped by every commit that writes it),
  ``pages``, ``last_start`` and ``last_count`` (members of the last page, kept exact).
* an insert at the newest end fills the last page up to its size, then opens the next page
  *at* the new key; any other insert (a backdated article, a category move) joins the page
  that covers its key, which may grow past the size; a delete makes its page shorter, possibly
  empty. A collection that empties is reset: its ``epoch`` moves on (boundaries live under
  the epoch, so the old ones are simply never read again) and it starts again from page 1.

``plan_commit`` turns one article change into the writes a store applies in ONE transaction:
member items, heads (each conditioned on the version it was read at: a racing commit makes the
transaction fail, and the caller retries), new boundaries, listing-index entries and the
reverse related index. Both ``ArticleStore`` adapters call it, so they cannot disagree; the
reads it needs (``PlanReads``) are O(1) per commit: one batch read of heads, and one short
query only when a full last page meets a key that might not be the newest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chainpress.aliases import claimed_keys
from chainpress.model import SCHEDULED, Article, format_time, has_pages, member_ops, tag_key

if TYPE_CHECKING:
    from chainpress.settings import SiteSettings

__all__ = [
    "ARCHIVE",
    "DEFAULT_PAGING",
    "HOME",
    "INDEX_PAGE_SIZE",
    "MAX_TRANSACTION_ITEMS",
    "MONTH_PAGE_SIZE",
    "SCHEDULED",
    "SENTINEL",
    "SHARD_SIZE",
    "SITEMAP",
    "TAG_INDEX",
    "CommitPlan",
    "HeadWrite",
    "IndexEntry",
    "ListingHead",
    "MemberWrite",
    "Paging",
    "PlanReads",
    "index_kind",
    "index_member_listing",
    "month_bounds",
    "month_collection",
    "month_label",
    "plan_commit",
    "zone",
]

SENTINEL = ""  # where page 1 starts: below every sort key
HOME = "home"
SITEMAP = "sitemap"  # sitemaps/articles-K.xml: pages of home members
TAG_INDEX = "index/tag"  # /sitemap/tags/K/ and sitemaps/tags-K.xml: tags in order of first use
ARCHIVE = "archive/"  # "archive/2024-05": the pages of one month of home members

# sitemaps.org allows 50,000 URLs per file; a publish rewrites its shard whole, so 1,000 keeps
# that flat (see BENCHMARKS.md).
SHARD_SIZE = 1_000
MONTH_PAGE_SIZE = 200  # /archive/YYYY/MM/: titles only, so more per page than a listing
INDEX_PAGE_SIZE = 1_000  # tags per /sitemap/tags/K/ page and sitemaps/tags-K.xml
# DynamoDB takes at most 100 items in one TransactWriteItems. A commit writes its source, its
# record(s) and its plan: about 20 items for an article with 3 tags, 70 when an edit replaces
# ten tags and the slug at once.
MAX_TRANSACTION_ITEMS = 100


@dataclasses.dataclass(frozen=True, slots=True)
class Paging:
    """Page sizes for new pages, and the time zone a site's archive months start in. Existing
    boundaries never move: a changed ``page_size`` applies to pages opened from then on, and
    the archive keeps the zone the site had when its first article was published."""

    page_size: int = 20
    timezone: str = "UTC"
    shard_size: int = SHARD_SIZE
    month_size: int = MONTH_PAGE_SIZE
    index_size: int = INDEX_PAGE_SIZE

    @classmethod
    def of(cls, settings: SiteSettings) -> Paging:
        return cls(page_size=settings.page_size, timezone=settings.timezone)


DEFAULT_PAGING = Paging()


@dataclasses.dataclass(frozen=True, slots=True)
class ListingHead:
    """The head of a listing or of any paged collection (see the module docstring)."""

    count: int = 0
    version: int = 0  # 0: no head yet
    pages: int = 0
    last_start: str = SENTINEL
    last_count: int = 0
    epoch: int = 0
    # Listings: the key of their entry in the listing index ("" none) and, for tags, the
    # tag-index page that entry is on.
    indexed: str = ""
    index_page: int = 0
    tz: str = ""  # home only: the zone its archive months are cut in
    # Sitemap only: shard number -> [URLs, lastmod] (the sitemap index reads this one item).
    shards: Mapping[int, tuple[int, str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class IndexEntry:
    """A listing in the listing index (``listings()`` without a scan, the HTML sitemap).
    Written with the listing's first member and never changed: whether the listing has
    members now is its head's ``count``."""

    key: str  # "<sort key of the article that created it>#<listing>": order of first use
    listing: str
    label: str  # a tag as its first author spelled it


def zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def month_label(date: dt.datetime, tz: dt.tzinfo) -> str:
    """Archive month of a date in a time zone: ``"2024-05"``."""
    local = date.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def month_bounds(label: str, tz: dt.tzinfo) -> tuple[str, str]:
    """Sort-key bounds ``[start, end)`` of a month: keys are ``<UTC ISO date>#<slug>``."""
    year, month = (int(part) for part in label.split("-"))
    start = dt.datetime(year, month, 1, tzinfo=tz)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return format_time(start), format_time(end)


def month_collection(label: str) -> str:
    return f"{ARCHIVE}{label}"


def index_kind(listing: str) -> str:
    """The listing-index partition of a listing: ``category``, ``tag`` or ``other``."""
    kind = listing.split("/", 1)[0]
    return kind if kind in ("category", "tag") else "other"


def index_member_listing(kind: str) -> str:
    """The name under which index entries of ``kind`` are paged (``TAG_INDEX`` for tags)."""
    return f"index/{kind}"


class PlanReads(Protocol):
    """What ``plan_commit`` reads from a store (consistent reads, before the transaction)."""

    def heads(self, names: Collection[str]) -> dict[str, ListingHead]:
        """The heads of ``names`` (a default ``ListingHead()`` for each one that is absent)."""
        ...

    def keys_after(self, members: str, key: str, below: str | None, limit: int) -> list[str]:
        """Up to ``limit`` member keys of ``members`` (a listing, or ``TAG_INDEX``) that are
        ``> key`` and ``< below``, oldest first."""
        ...

    def page_of(self, collection: str, epoch: int, key: str) -> int:
        """The page of ``collection`` (at ``epoch``) whose range holds ``key``."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class MemberWrite:
    listing: str
    op: Literal["put", "delete"]
    sort_key: str
    article: Article  # the record the member item copies (put) or the removed image


@dataclasses.dataclass(frozen=True, slots=True)
class HeadWrite:
    name: str
    expected: int  # the version read: the write is conditioned on it (0: must be absent)
    head: ListingHead


@dataclasses.dataclass(slots=True)
class CommitPlan:
    members: list[MemberWrite] = dataclasses.field(default_factory=list)
    heads: list[HeadWrite] = dataclasses.field(default_factory=list)
    # (collection, epoch, page number, start key) of each page this commit opens
    bounds: list[tuple[str, int, int, str]] = dataclasses.field(default_factory=list)
    index: list[tuple[str, IndexEntry]] = dataclasses.field(default_factory=list)  # (kind, entry)
    # (target slug, linking slug, True: put / False: delete): "linking's related lists target"
    related: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)
    # (alias key, claimant's sort key, claimant's slug, True: put / False: delete): the alias
    # claims of live articles (chainpress.aliases)
    aliases: list[tuple[str, str, str, bool]] = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        """Items this plan writes."""
        return 2 * len(self.bounds) + sum(
            len(part) for part in (self.members, self.heads, self.index, self.related, self.aliases)
        )

    def check(self, others: int) -> None:
        """Raise a clear error when this plan and ``others`` items exceed one transaction."""
        items = self.size + others
        if items > MAX_TRANSACTION_ITEMS:
            raise ValueError(
                f"this change touches {items} items, more than one transaction takes "
                f"({MAX_TRANSACTION_ITEMS}): change fewer tags at once"
            )


@dataclasses.dataclass(slots=True)
class _Work:
    """A head being planned (mutable copy)."""

    original: ListingHead
    count: int
    pages: int
    last_start: str
    last_count: int
    epoch: int
    indexed: str
    index_page: int
    tz: str
    shards: dict[int, tuple[int, str]]

    @classmethod
    def of(cls, head: ListingHead) -> _Work:
        return cls(
            head, head.count, head.pages, head.last_start, head.last_count, head.epoch,
            head.indexed, head.index_page, head.tz, dict(head.shards),
        )  # fmt: skip

    def freeze(self) -> ListingHead:
        if self.count <= 0 and self.original.count > 0:
            # Emptied: start again from page 1 under a new epoch.
            self.pages, self.last_start, self.last_count = 0, SENTINEL, 0
            self.epoch += 1
            self.shards = {}
        return ListingHead(
            count=self.count,
            version=self.original.version + 1,
            pages=self.pages,
            last_start=self.last_start,
            last_count=self.last_count,
            epoch=self.epoch,
            indexed=self.indexed,
            index_page=self.index_page,
            tz=self.tz,
            shards=self.shards,
        )


class _Planner:
    def __init__(self, paging: Paging, reads: PlanReads) -> None:
        self.paging = paging
        self.reads = reads
        self.plan = CommitPlan()
        self.work: dict[str, _Work] = {}
        self.removed: dict[str, set[str]] = {}  # members listing -> keys this commit deletes
        self._later: dict[tuple[str, str, str | None], list[str]] = {}

    def load(self, names: Iterable[str]) -> None:
        missing = [n for n in dict.fromkeys(names) if n not in self.work]
        if missing:
            for name, head in self.reads.heads(missing).items():
                self.work[name] = _Work.of(head)

    def newest(self, members: str, key: str, below: str | None) -> bool:
        """Whether no member of ``members`` (other than those being removed) is after key."""
        removed = self.removed.get(members, set())
        found = self._later.get((members, key, below))
        if found is None:
            found = self.reads.keys_after(members, key, below, len(removed) + 1)
            self._later[(members, key, below)] = found
        return all(k in removed for k in found)

    def insert(self, name: str, members: str, size: int, key: str, below: str | None = None) -> int:
        """Add ``key`` to collection ``name``; returns its page (0: a page before the last,
        not looked up)."""
        head = self.work[name]
        head.count += 1
        if head.pages == 0:
            head.pages, head.last_start, head.last_count = 1, SENTINEL, 1
            return 1
        if key < head.last_start:
            return 0
        if head.last_count >= size and self.newest(members, key, below):
            head.pages += 1
            head.last_start, head.last_count = key, 1
            self.plan.bounds.append((name, head.epoch, head.pages, key))
            return head.pages
        head.last_count += 1
        return head.pages

    def delete(self, name: str, key: str) -> int:
        head = self.work[name]
        head.count -= 1
        if head.pages and key >= head.last_start:
            head.last_count -= 1
            return head.pages
        return 0

    def page_of(self, name: str, key: str) -> int:
        head = self.work[name]
        if head.pages == 0:
            return 1
        if key >= head.last_start:
            return head.pages
        return self.reads.page_of(name, head.epoch, key)


def _lastmod(article: Article) -> str:
    return format_time(article.updated or article.date)


def _tag_label(listing: str, article: Article) -> str:
    key = listing.removeprefix("tag/")
    return next((t for t in article.tags if tag_key(t) == key), key)


Pair = tuple[Article | None, Article]


class _Op(NamedTuple):
    listing: str
    op: Literal["put", "delete"]
    key: str
    delta: int  # change of the listing's count
    article: Article  # the image the member item copies (put) or leaves (delete)


def _ops(pairs: Sequence[Pair]) -> list[_Op]:
    ops: list[_Op] = []
    for previous, new in pairs:
        for listing, op, key, delta in member_ops(previous, new):
            if op == "put":
                ops.append(_Op(listing, "put", key, delta, new))
            elif previous is not None:
                ops.append(_Op(listing, "delete", key, delta, previous))
    return ops


def plan_commit(pairs: Sequence[Pair], paging: Paging, reads: PlanReads) -> CommitPlan:
    """The writes of one commit: each ``(previous, new)`` record change of ``pairs`` (the
    article itself, and the record retired by a slug change) with everything derived from it.
    Reads heads once (twice when the archive's zone differs from ``paging.timezone``)."""
    planner = _Planner(paging, reads)
    plan = planner.plan
    ops = _ops(pairs)
    for previous, new in pairs:
        old_related = set(previous.related) if previous is not None else set()
        for target in sorted(old_related - set(new.related)):
            plan.related.append((target, new.slug, False))
        for target in sorted(set(new.related) - old_related):
            plan.related.append((target, new.slug, True))
        old_claims = set()
        if previous is not None:
            old_claims = {(k, previous.sort_key, previous.slug) for k in claimed_keys(previous)}
        new_claims = {(key, new.sort_key, new.slug) for key in claimed_keys(new)}
        plan.aliases += [(*claim, False) for claim in sorted(old_claims - new_claims)]
        plan.aliases += [(*claim, True) for claim in sorted(new_claims - old_claims)]
    if not ops:
        return plan

    home_ops = [o for o in ops if o.listing == HOME]
    names = [o.listing for o in ops]
    if home_ops:
        names.append(SITEMAP)
        guess = zone(paging.timezone)
        names += [month_collection(month_label(o.article.date, guess)) for o in home_ops if o.delta]
    if any(o.listing.startswith("tag/") and o.delta > 0 for o in ops):
        names.append(TAG_INDEX)
    planner.load(names)
    tz_name = (planner.work[HOME].tz if HOME in planner.work else "") or paging.timezone
    tz = zone(tz_name)
    if home_ops:
        planner.work[HOME].tz = tz_name
        planner.load(month_collection(month_label(o.article.date, tz)) for o in home_ops if o.delta)
    for o in ops:
        if o.op == "delete":
            planner.removed.setdefault(o.listing, set()).add(o.key)

    first_insert: dict[str, tuple[str, Article]] = {}
    for listing, op, key, delta, article in ops:
        plan.members.append(MemberWrite(listing, op, key, article))
        paged = has_pages(listing)  # scheduled and translation listings are lookups
        if delta > 0:
            first_insert.setdefault(listing, (key, article))
            if paged:
                planner.insert(listing, listing, paging.page_size, key)
            else:
                planner.work[listing].count += 1
        elif delta < 0:
            if paged:
                planner.delete(listing, key)
            else:
                planner.work[listing].count -= 1
        if listing != HOME:
            continue
        sitemap = planner.work[SITEMAP]
        if delta:
            label = month_label(article.date, tz)
            month = month_collection(label)
            if delta > 0:
                high = month_bounds(label, tz)[1]
                planner.insert(month, HOME, paging.month_size, key, below=high)
                shard = planner.insert(SITEMAP, HOME, paging.shard_size, key)
            else:
                planner.delete(month, key)
                shard = planner.delete(SITEMAP, key)
        else:
            shard = 0
        shard = shard or planner.page_of(SITEMAP, key)
        urls, lastmod = sitemap.shards.get(shard, (0, ""))
        if op == "put":
            lastmod = max(lastmod, _lastmod(article))
        sitemap.shards[shard] = (urls + delta, lastmod)

    # The listing index: an entry per listing from its first member on (order of first use).
    for listing in dict.fromkeys(o.listing for o in ops if has_pages(o.listing)):
        head = planner.work[listing]
        kind = index_kind(listing)
        if not head.indexed and listing in first_insert:
            key, article = first_insert[listing]
            label = _tag_label(listing, article) if kind == "tag" else listing.split("/")[-1]
            entry = IndexEntry(f"{key}#{listing}", listing, label)
            head.indexed = entry.key
            plan.index.append((kind, entry))
            if kind == "tag":
                page = planner.insert(TAG_INDEX, TAG_INDEX, paging.index_size, entry.key)
                head.index_page = page or planner.page_of(TAG_INDEX, entry.key)

    listed = {o.listing for o in ops}
    for name in sorted(planner.work):
        work = planner.work[name]
        frozen = work.freeze()
        same = frozen == dataclasses.replace(work.original, version=frozen.version)
        if same and name not in listed:
            continue  # read but unchanged (a month of the guessed zone, the tag index)
        plan.heads.append(HeadWrite(name, work.original.version, frozen))
    return plan
