"""The small interfaces between the pure core and the outside world (AWS or fakes).

Adapters: ``chainpress.aws`` (S3, DynamoDB, CloudFront) and ``chainpress_dev.memory`` (in memory).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Protocol

from chainpress.model import Article, Problem
from chainpress.paging import DEFAULT_PAGING, IndexEntry, ListingHead, Paging
from chainpress.responsive import ImageInfo

HTML = "text/html; charset=utf-8"
# Listings, home, feeds, sitemaps, the hot page: a short shared-cache lifetime instead of CDN
# invalidations (billed per path). CloudFront keeps them 30 s, then serves the old copy for at
# most 30 s more while it fetches the new one; browsers keep them 30 s counted from when the
# CDN fetched them (the Age header). Readers see a change within 60 s of its write.
CACHE_PAGE = "public, max-age=30, s-maxage=30, stale-while-revalidate=30"
# Article pages: cached for a day, invalidated exactly when they change (chainpress.invalidation).
CACHE_ARTICLE = "public, max-age=300, s-maxage=86400"
CACHE_STATIC = "public, max-age=86400"
INTERNAL_PREFIX = "_internal/"


def body_key(slug: str) -> str:
    """Where an article's rendered body is kept (private: never served)."""
    return f"{INTERNAL_PREFIX}bodies/{slug}.html"


class StaleEvent(Exception):
    """A newer (or the same) event for this source key was already applied."""


class SlugTaken(Exception):
    """Another source file already owns this slug."""

    def __init__(self, slug: str, owner: str) -> None:
        super().__init__(f"slug {slug!r} is already used by {owner!r}")
        self.slug = slug
        self.owner = owner


class StatusReports(Protocol):
    def write_status(self, key: str, report: dict[str, object]) -> None:
        """Store the editor-facing publish report for source ``key``."""
        ...


# Versions of one key ListObjectVersions returns in its one request (newest first).
VERSION_SCAN = 50


@dataclasses.dataclass(frozen=True, slots=True)
class VersionTimes:
    """When the versions of one content key were uploaded (S3 ``LastModified``), so that an
    article's first-publish and updated times do not depend on the order events arrive in."""

    first: dt.datetime | None = None  # the oldest version kept (None: unknown, or past the scan)
    applied: dt.datetime | None = None  # the version being applied (None: unknown)
    edited: bool = False  # a version older than the applied one is kept


class ContentSource(StatusReports, Protocol):
    def version_times(self, key: str, version_id: str) -> VersionTimes:
        """Upload times of ``key``'s versions around ``version_id``: one bounded request (at
        most ``VERSION_SCAN`` versions of exactly this key)."""
        ...

    def read(self, key: str, version_id: str | None = None, limit: int | None = None) -> bytes:
        """The exact bytes of ``key`` (at ``version_id`` when given); with ``limit``, at most
        ``limit`` bytes (so an oversized upload is never read whole)."""
        ...

    def read_current(self, key: str, limit: int | None = None) -> bytes | None:
        """The bytes ``key`` holds now, or None when it has none (deleted, or never written);
        with ``limit``, at most ``limit`` bytes."""
        ...

    def list_keys(self, prefix: str, *, limit: int, recursive: bool = True) -> list[str]:
        """Keys that exist now under ``prefix``, in key order, at most ``limit`` of them; with
        ``recursive=False`` only those directly in the "folder" (no further ``/``)."""
        ...


class SiteWriter(Protocol):
    def write(
        self, path: str, data: bytes, content_type: str, cache_control: str, disposition: str = ""
    ) -> bool:
        """Write ``data`` at ``path`` (a key, no leading slash). False if the bytes were already
        there (nothing written). ``disposition``: the ``Content-Disposition`` the object is
        served with ("" = none; ``attachment`` for active media, ``content.media_disposition``)."""
        ...

    def delete(self, path: str) -> bool:
        """Delete ``path``; False if it was not there."""
        ...

    def read(self, path: str) -> bytes | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class SourceState:
    """What the table knows about one content-bucket key."""

    key: str
    seq: str  # padded sequencer of the last applied event
    version_id: str = ""
    slug: str = ""
    status: str = ""  # published | draft | scheduled | removed | error
    error: str = ""
    line: int | None = None
    # What the editor was warned about (unknown fields...): the trending job repeats them in
    # the status report it writes when a scheduled article goes live.
    warnings: tuple[Problem, ...] = ()
    # The category key this source's article names but site.yaml does not list (yet): it is
    # published again when a site.yaml that lists it is (``waiting#category/<key>`` item).
    waiting: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ArticleChange:
    """One applied publish/removal: the store writes it in one transaction."""

    source: SourceState
    new: Article | None  # None: no article record change (e.g. an error report)
    previous: Article | None  # the record as read before the change (for listing diffs)
    # The record this source published under an earlier slug (its slug was edited): it is
    # marked removed in the same transaction.
    retired: Article | None = None
    # Sizes of pages the commit may open, and the archive's zone (paging.py).
    paging: Paging = DEFAULT_PAGING
    # The category the source waited for before this change (its waiting item is removed
    # when it differs from ``source.waiting``).
    was_waiting: str = ""

    def waiting_ops(self) -> list[tuple[str, bool]]:
        """The ``waiting#category/<key>`` items this change writes, as ``(category key,
        present)``: the old one removed and the new one put when they differ. Each is one
        action of the commit's transaction (counted against its item limit)."""
        before, now = self.was_waiting, self.source.waiting
        if before == now:
            return []
        ops = [(before, False)] if before else []
        return ops + ([(now, True)] if now else [])


class ArticleConflict(RuntimeError):
    """The article changed between read and commit; the caller retries (Lambda does)."""


@dataclasses.dataclass(frozen=True, slots=True)
class SiteSource:
    """Site settings text and theme overrides as uploaded by editors."""

    yaml_text: str = ""
    theme: dict[str, str] = dataclasses.field(default_factory=dict)


class ArticleStore(Protocol):
    def get_article(self, slug: str) -> Article | None: ...

    def get_articles(self, slugs: Sequence[str]) -> dict[str, Article]: ...

    def get_source(self, key: str) -> SourceState | None: ...

    def commit(self, change: ArticleChange) -> None:
        """Apply a change atomically. Raises StaleEvent if a later event for the source key was
        applied, SlugTaken if another live source owns the slug."""
        ...

    def head(self, listing: str) -> ListingHead:
        """The head of a listing or paged collection (``paging.SITEMAP``, an archive month
        ``archive/YYYY-MM``, ``paging.TAG_INDEX``); a default head when there is none."""
        ...

    def heads(self, names: Collection[str]) -> dict[str, ListingHead]:
        """Several heads in one read (a default head for each absent one)."""
        ...

    def newest(self, listing: str, limit: int, before: str | None = None) -> list[Article]:
        """Members of ``listing``, newest first, optionally only sort keys < ``before``."""
        ...

    def oldest(self, listing: str, limit: int, after: str | None = None) -> list[Article]:
        """Members of ``listing``, oldest first, optionally only sort keys > ``after``."""
        ...

    def between(self, listing: str, start: str, stop: str | None) -> list[Article]:
        """Members with ``start <= sort key < stop`` (no upper bound when None), oldest first:
        one page of a paged collection."""
        ...

    def keys_after(self, members: str, key: str, below: str | None, limit: int) -> list[str]:
        """Up to ``limit`` member keys of a listing (or of ``paging.TAG_INDEX``) that are
        ``> key`` (and ``< below``), oldest first."""
        ...

    def page_of(self, collection: str, epoch: int, key: str) -> int:
        """Number of the page of ``collection`` (at ``epoch``) whose range holds ``key``."""
        ...

    def page_starts(self, collection: str, epoch: int, first: int, last: int) -> dict[int, str]:
        """Start keys of pages ``first..last`` that exist (page 1 starts at ``SENTINEL`` and
        has no stored boundary)."""
        ...

    def months(self) -> list[tuple[str, ListingHead]]:
        """Every archive month ever used, ``("2024-05", head)``, oldest first."""
        ...

    def index_entries(self, kind: str, start: str, stop: str | None) -> list[IndexEntry]:
        """Listing-index entries of ``kind`` (category, tag, other) with keys in
        ``[start, stop)``, in order of first use."""
        ...

    def linking(self, slug: str, after: str, limit: int) -> list[str]:
        """Slugs of articles whose related list holds ``slug`` (sorted, > ``after``)."""
        ...

    def alias_owner(self, key: str) -> str | None:
        """The slug of the live article that owns the redirect at site key ``key``: of those
        claiming it (``chainpress.aliases``), the one with the oldest sort key; None if none."""
        ...

    def waiting(self, category: str) -> list[str]:
        """Source keys whose article names category key ``category``, which site.yaml did not
        list when it was published (``SourceState.waiting``)."""
        ...

    def set_relink(self, slug: str, after: str) -> None:
        """Record that the pages linking ``slug`` are re-rendered up to ``after`` (a rebuild
        continues from there: the record's stream event triggers the next bounded step)."""
        ...

    def clear_relink(self, slug: str) -> None: ...

    def count_before(self, listing: str, sort_key: str) -> int:
        """How many members sort before ``sort_key`` (its 0-based position)."""
        ...

    def iter_listing(self, listing: str) -> Iterator[Article]:
        """Every member, oldest first (tests and tools; pages never read a whole listing)."""
        ...

    def listings(self) -> list[str]:
        """Every listing that ever had a member (full rebuilds): a query of the listing
        index, never a scan."""
        ...

    def get_site(self) -> SiteSource:
        """Uploaded settings and theme overrides (empty when none were uploaded)."""
        ...

    def commit_site(
        self,
        source: SourceState,
        *,
        yaml_text: str | None = None,
        theme_name: str | None = None,
        theme_text: str | None = None,
    ) -> None:
        """Store site.yaml text (``yaml_text``) or one theme template (``theme_name``; text None
        deletes it) together with the source state, in one transaction. Raises StaleEvent."""
        ...

    def scan_articles(self) -> Iterator[Article]:
        """Every article record, any status (full rebuilds; O(table))."""
        ...

    def scan_segment(
        self, segment: int, total: int, cursor: str | None = None, limit: int | None = None
    ) -> ScanPage:
        """One Scan request (at most 1 MB, or ``limit`` items, read) of segment ``segment`` of
        ``total`` of a parallel scan, from ``cursor``: the article records and listing heads it
        read. An item's segment follows from its partition key, so a listing's members all fall
        in one."""
        ...

    # -- responsive images (chainpress.responsive; items image#<site key>, imageuse#<site key>)
    def get_images(self, keys: Sequence[str]) -> dict[str, ImageInfo]:
        """The records of the processed images among site keys ``keys`` (one batched,
        consistent read per 100 keys)."""
        ...

    def put_image(self, info: ImageInfo) -> None: ...

    def delete_image(self, key: str) -> None: ...

    def add_image_users(self, slug: str, keys: Sequence[str]) -> None:
        """Record that article ``slug`` shows the images ``keys`` (idempotent; batched)."""
        ...

    def image_users(self, key: str, limit: int) -> list[str]:
        """Slugs of articles recorded as showing image ``key`` (consistent; at most ``limit``)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class HotItem:
    slug: str
    title: str
    url: str
    category: str
    views: int


class HotLists(Protocol):
    def get(self, window: str, category: str | None = None) -> list[HotItem]: ...


class CdnUnavailable(Exception):
    """The CDN did not take an invalidation request: throttled, too many invalidations in
    progress, a server fault, no answer (``transient``), or refused it (not transient). The
    paths stay pending either way and are sent again later."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class CdnInvalidator(Protocol):
    def invalidate(self, paths: Iterable[str], reference: str = "") -> None:
        """Invalidate URL paths (each starting with ``/``) in one request. ``reference``
        identifies the request: sending the same one again creates no second invalidation.
        Raises CdnUnavailable when the request was not taken."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class PendingPath:
    """A CDN path that must be invalidated, as recorded by one writer (``token``)."""

    path: str
    token: str
    since: int = 0  # epoch seconds when it was first recorded (0: unknown)


class InvalidationQueue(Protocol):
    """Durable record of the CDN paths still to invalidate (see chainpress.invalidation)."""

    def record(self, path: str, token: str, at: int) -> bool:
        """Note ``path`` as pending under ``token`` (replacing an older token); True when it
        was not pending before."""
        ...

    def pending(self, limit: int) -> list[PendingPath]:
        """Up to ``limit`` pending paths (in path order)."""
        ...

    def remove(self, entries: Iterable[PendingPath]) -> None:
        """Forget each entry, unless its path was recorded again (another token) meanwhile."""
        ...


# ------------------------------------------------------------------------------------------
# Full re-renders fanned out over a work queue (chainpress.rerender)


@dataclasses.dataclass(frozen=True, slots=True)
class ScanPage:
    """What one Scan request of a parallel-scan segment read (``ArticleStore.scan_segment``)."""

    articles: list[Article]  # article records (any status)
    heads: dict[str, ListingHead]  # listing name -> its head, for the heads read
    items: int  # items the request read, of every kind (members and sources are skipped)
    cursor: str | None  # where the segment's next request starts; None: segment finished


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """The one full re-render of the site that is running or ran last (progress is visible)."""

    run_id: str
    number: int = 0  # runs started so far, this one included
    state: str = "running"  # running | done
    total: int = 0  # work items known so far
    done: int = 0  # work items completed
    failed: tuple[str, ...] = ()  # ids of work items whose retries ran out (in the DLQ)
    pending: bool = False  # another re-render was asked for while this one ran
    trigger: str = ""
    started_at: str = ""
    finished_at: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class RunStart:
    run: Run
    started: bool  # True: send the run's first work item; False: coalesced into ``run``


class RerenderRuns(Protocol):
    """The run record and its per-item progress markers (DynamoDB: the articles table)."""

    def start(self, run_id: str, trigger: str, now: str, *, stale_before: str) -> RunStart:
        """Start run ``run_id`` unless another one is running: then mark that one pending and
        return it (``started`` False). A run that has failed items, or that started before
        ``stale_before``, is superseded. Starting the same ``run_id`` again (a retried
        trigger) answers as the first call did, so that its first item can be sent again."""
        ...

    def get(self) -> Run | None: ...

    def check(self, run_id: str, item_id: str) -> str:
        """``current`` (do the item), ``done`` (already completed) or ``stale`` (its run is
        over or was superseded)."""
        ...

    def reserve(self, run_id: str, item_id: str, children: Sequence[str]) -> list[str] | None:
        """Count ``children`` into the run's total once per item, before they are sent; a
        redelivered item gets back the children it reserved the first time. None: the run is
        no longer current (send nothing)."""
        ...

    def complete(self, run_id: str, item_id: str) -> bool:
        """Count the item done, once per item id. False: its run is no longer current."""
        ...

    def claim_finish(self, run_id: str, item_id: str) -> bool:
        """True for exactly one item (and that item again on redelivery) once every item of the
        run is done: that item sends the run's finish item."""
        ...

    def record_failure(self, run_id: str, item_id: str) -> None:
        """The item's last attempt failed: it goes to the dead-letter queue."""
        ...

    def finish(self, run_id: str, next_id: str, now: str) -> Run | None:
        """Mark the run done; if another re-render was asked for meanwhile, start run
        ``next_id`` instead and return it (once: a redelivered finish gets it back)."""
        ...


class WorkQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> None:
        """Queue work items (JSON text), in batches of at most 10 per request."""
        ...
