"""CDN invalidation that is never lost and costs little (pure: receives its ports).

**What is invalidated** (``mode``):

* ``articles`` (the default): pages the CDN keeps for long (article pages, alias redirects,
  theme assets: a shared lifetime over ``SHORT_LIFETIME``) are invalidated exactly, when their
  bytes change or they are deleted. Pages with a short shared lifetime (listings, home, feeds,
  sitemaps: ``ports.CACHE_PAGE``) are not: they expire on their own within a minute. A new
  article's own URL was never cached (CloudFront does not keep the 403 of a missing key:
  ``ErrorCachingMinTTL: 0`` in template.yaml), so a new article costs the paths of the one or
  two neighbours whose previous/next link changed; an edit costs its own page (and its
  neighbours' when its title or place changed). Related lists an article only joins are
  rewritten without an invalidation; pages whose related list could hold an article that left
  are invalidated (``pages.ArticlePages``; docs/architecture.md).
* ``exact``: every changed public page as well (listings invalidated at once: ~17 paths per
  publish). The ``InvalidationMode`` template parameter chooses.

**Never lost**: a path is recorded in the ``InvalidationQueue`` (a DynamoDB item) BEFORE the
page is written or deleted, and removed only once CloudFront has accepted a request for it:

1. ``RecordingWriter`` records the path, then writes. If the write changed nothing and the
   record is the one it created, it takes the record back (a record that was already there
   belongs to an earlier attempt that wrote these very bytes and died before invalidating).
2. ``flush`` reads what is pending (at most ``MAX_PATHS_PER_REQUEST``; a single ``/*`` past the
   wildcard threshold), sends one request, and removes exactly the entries it read, each only if
   its token is unchanged: a path recorded again meanwhile (its page written again after our
   request was sent) stays pending.
   The writer records the path a second time once its write landed, so a flush that read the
   first record and sent its request before the write does not settle it.
3. A refused request (``TooManyInvalidationsInProgress``, throttling, 5xx, no answer) leaves
   everything pending: the next rebuild batch or the schedule sends it again. The request's
   ``CallerReference`` is a digest of the entries, so resending one CloudFront did accept (its
   answer was lost) while nothing was written meanwhile does not create, or bill, a second
   invalidation.

So a fault anywhere between the page writes and CloudFront's answer loses nothing, and a batch
retried after its pages were written still invalidates them (the records outlive the attempt).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Literal
from urllib.parse import quote

from chainpress.ports import (
    INTERNAL_PREFIX,
    CdnInvalidator,
    CdnUnavailable,
    InvalidationQueue,
    PendingPath,
    SiteWriter,
)

__all__ = [
    "MAX_PATHS_PER_REQUEST",
    "MODES",
    "SHORT_LIFETIME",
    "WILDCARD",
    "FlushReport",
    "InMemoryInvalidationQueue",
    "InvalidationMode",
    "RecordingWriter",
    "cdn_path",
    "flush",
    "needs_invalidation",
    "parse_mode",
    "shared_lifetime",
]

_log = logging.getLogger(__name__)

InvalidationMode = Literal["articles", "exact"]
MODES: tuple[InvalidationMode, ...] = ("articles", "exact")
# Pages the CDN keeps at most this long (seconds) are left to expire rather than invalidated.
SHORT_LIFETIME = 60
# CloudFront: at most 3,000 file paths per request (and in progress at once per distribution).
MAX_PATHS_PER_REQUEST = 3000
WILDCARD = "/*"
# When a wildcard is sent, every entry pending at that moment is covered: they are read first
# (up to this many; more are covered by the next flush).
MAX_SWEEP = 100_000
# The same characters ``render.href`` keeps (a test pins that both agree).
_PATH_SAFE = "/-._~!$&'()*+,;=:@"
_DIRECTIVE = re.compile(r"(s-maxage|max-age)\s*=\s*(\d+)", re.IGNORECASE)


def parse_mode(value: str) -> InvalidationMode:
    """``articles`` (also for an empty value) or ``exact``."""
    for mode in MODES:
        if (value.strip() or "articles") == mode:
            return mode
    raise ValueError(f"invalidation mode must be one of {', '.join(MODES)}, not {value!r}")


def cdn_path(key: str) -> str:
    """The URL path CloudFront caches a site key under (percent-encoded, leading slash); the
    viewer-request function maps ``/x/`` to ``/x/index.html`` before the cache lookup, so the
    key's own path is the one cached."""
    return quote("/" + key, safe=_PATH_SAFE)


def shared_lifetime(cache_control: str) -> int | None:
    """How long a shared cache keeps a response: ``s-maxage``, else ``max-age`` (None: not
    said, so the CDN's default applies: a day with the managed CachingOptimized policy)."""
    found = {name.lower(): int(value) for name, value in _DIRECTIVE.findall(cache_control)}
    return found.get("s-maxage", found.get("max-age"))


def needs_invalidation(key: str, cache_control: str | None, mode: InvalidationMode) -> bool:
    """Whether a change of ``key`` (written with ``cache_control``; None: a deletion, its
    lifetime unknown) must be invalidated on the CDN."""
    if key.startswith(INTERNAL_PREFIX):
        return False  # never served
    if mode == "exact" or cache_control is None:
        return True
    lifetime = shared_lifetime(cache_control)
    return lifetime is None or lifetime > SHORT_LIFETIME


class RecordingWriter:
    """A ``SiteWriter`` that records the CDN path of every page it is about to change (and
    that needs invalidating) before changing it, and again once it has changed it.

    Before: if the function dies after the write, the path is still pending. After: a flush
    that read the first record and sent its request before our write landed must not settle
    it; the second record (a new token) outlives that flush's conditional removal. Past
    ``threshold`` paths it records ``/*`` once instead (a full rebuild), which covers
    everything written after it too."""

    def __init__(
        self,
        site: SiteWriter,
        queue: InvalidationQueue,
        *,
        mode: InvalidationMode,
        threshold: int,
        at: int,
        token: str | None = None,
    ) -> None:
        self.site = site
        self.queue = queue
        self.mode = mode
        self.threshold = threshold
        self.at = at
        self.session = token or uuid.uuid4().hex
        self.kept: set[str] = set()  # paths this writer changed (recorded, kept)
        self.wildcard = False
        self._tokens = itertools.count()

    def write(
        self, path: str, data: bytes, content_type: str, cache_control: str, disposition: str = ""
    ) -> bool:
        def write() -> bool:
            if disposition:
                return self.site.write(path, data, content_type, cache_control, disposition)
            return self.site.write(path, data, content_type, cache_control)

        if not needs_invalidation(path, cache_control, self.mode):
            return write()
        return self._guarded(path, write)

    def delete(self, path: str) -> bool:
        if not needs_invalidation(path, None, self.mode):
            return self.site.delete(path)
        return self._guarded(path, lambda: self.site.delete(path))

    def read(self, path: str) -> bytes | None:
        return self.site.read(path)

    def note(self, keys: Iterable[str]) -> None:
        """Record pages that changed elsewhere (publish rewrote them) and must be invalidated."""
        for key in keys:
            if not key.startswith(INTERNAL_PREFIX) and not self.wildcard:
                self.queue.record(cdn_path(key), self._token(), self.at)
                self._kept(cdn_path(key))

    def _token(self) -> str:
        return f"{self.session}.{next(self._tokens)}"

    def _guarded(self, key: str, change: Callable[[], bool]) -> bool:
        if self.wildcard:
            return change()
        path = cdn_path(key)
        before = self._token()
        created = self.queue.record(path, before, self.at)
        changed = change()
        if changed:
            self.queue.record(path, self._token(), self.at)
            self._kept(path)
        elif created:
            # Nothing changed and nobody else had recorded it: nothing to invalidate.
            self.queue.remove([PendingPath(path, before)])
        return changed

    def _kept(self, path: str) -> None:
        self.kept.add(path)
        if len(self.kept) > self.threshold and not self.wildcard:
            self.queue.record(WILDCARD, self._token(), self.at)
            self.wildcard = True


@dataclasses.dataclass(frozen=True, slots=True)
class FlushReport:
    invalidated: tuple[str, ...] = ()  # the paths of the request CloudFront accepted
    covered: int = 0  # pending entries that request settled
    deferred: int = 0  # pending entries left for the next flush (the CDN refused)
    oldest_pending: int = 0  # age in seconds of the oldest entry left pending (0: none)
    error: str = ""


def flush(
    queue: InvalidationQueue,
    cdn: CdnInvalidator,
    *,
    threshold: int,
    now: float | None = None,
) -> FlushReport:
    """Send what is pending in one request (paths, or ``/*`` past ``threshold``) and forget
    what it covered. Never raises for the CDN's refusal: the entries stay for the next flush."""
    clock = time.time() if now is None else now
    limit = min(max(threshold, 1), MAX_PATHS_PER_REQUEST)
    entries = queue.pending(limit + 1)
    if not entries:
        return FlushReport()
    paths = sorted({e.path for e in entries})
    if len(paths) > limit or WILDCARD in paths:
        # Everything pending now is covered by this wildcard: read it all before sending.
        entries = queue.pending(MAX_SWEEP)
        batch = [WILDCARD]
    else:
        batch = paths
    try:
        cdn.invalidate(batch, reference=_reference(entries))
    except CdnUnavailable as exc:
        level = logging.WARNING if exc.transient else logging.ERROR
        _log.log(level, "CDN invalidation deferred (%d paths pending): %s", len(entries), exc)
        return FlushReport(
            deferred=len(entries), oldest_pending=_oldest(entries, clock), error=str(exc)
        )
    queue.remove(entries)
    return FlushReport(invalidated=tuple(batch), covered=len(entries))


def _reference(entries: Sequence[PendingPath]) -> str:
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: (e.path, e.token)):
        digest.update(f"{entry.path}\0{entry.token}\n".encode())
    return "chainpress-" + digest.hexdigest()[:40]


def _oldest(entries: Sequence[PendingPath], now: float) -> int:
    known = [e.since for e in entries if e.since > 0]
    return max(0, int(now) - min(known)) if known else 0


class InMemoryInvalidationQueue:
    """``InvalidationQueue`` in memory, with the DynamoDB adapter's semantics (tokens, the
    conditional removal). Durable only as long as the process: tests, benchmarks, the static
    build."""

    def __init__(self) -> None:
        self.entries: dict[str, PendingPath] = {}
        self.calls: dict[str, int] = {}  # DynamoDB requests the AWS adapter would send

    def _count(self, api: str, n: int = 1) -> None:
        self.calls[api] = self.calls.get(api, 0) + n

    def record(self, path: str, token: str, at: int) -> bool:
        self._count("UpdateItem")
        old = self.entries.get(path)
        since = old.since if old is not None else at
        self.entries[path] = PendingPath(path, token, since)
        return old is None

    def pending(self, limit: int) -> list[PendingPath]:
        self._count("Query")
        return [self.entries[p] for p in sorted(self.entries)[:limit]]

    def remove(self, entries: Iterable[PendingPath]) -> None:
        for entry in entries:
            self._count("DeleteItem")
            current = self.entries.get(entry.path)
            if current is not None and current.token == entry.token:
                del self.entries[entry.path]
