"""IndexNow: tell search engines which article URLs a rebuild batch published, changed or
removed (https://www.indexnow.org/documentation).

Pure core plus a stdlib HTTP adapter (``HttpIndexNow``, urllib: no new dependency); never
imports boto3.

* Off unless a key is set (``INDEXNOW_KEY``, the template's ``IndexNowKey`` parameter). The key
  file ``<key>.txt`` (the key as its text) is written at the site root, so engines can check
  that the host owns the key.
* **Never blocks a publish.** A batch first records its URLs durably (the same queue shape as
  pending CDN paths: ``InvalidationQueue``, partition ``indexnow#pending`` in the articles
  table), then sends everything pending in ONE POST (at most ``MAX_URLS``) and forgets exactly
  what it sent, each entry only if no later batch recorded it again. A failure (timeout,
  refused, 4xx/5xx, 429) is logged and counted (``IndexNowFailures``); the URLs stay pending
  and the minute schedule (``flush-invalidations``) sends them again. Nothing here raises into
  the batch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from chainpress.model import Article, article_path
from chainpress.ports import CACHE_PAGE, InvalidationQueue, SiteWriter
from chainpress.render import absolute_url
from chainpress.settings import SiteSettings

__all__ = [
    "DEFAULT_ENDPOINT",
    "IndexNow",
    "IndexNowReport",
    "IndexNowUnavailable",
    "changed_urls",
    "flush_indexnow",
    "key_file",
    "notify",
    "valid_key",
]

_log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://api.indexnow.org/indexnow"
PENDING_PK = "indexnow#pending"
MAX_URLS = 10_000  # per POST (the protocol's limit)
TIMEOUT_S = 5.0
_KEY = re.compile(r"[A-Za-z0-9-]{8,128}")


def valid_key(key: str) -> bool:
    """IndexNow keys: 8 to 128 of ``a-z A-Z 0-9 -``."""
    return bool(_KEY.fullmatch(key))


def key_file(key: str) -> str:
    return f"{key}.txt"


class IndexNowUnavailable(Exception):
    """The endpoint did not accept the request (the URLs stay pending)."""


class IndexNowSender(Protocol):
    def submit(self, host: str, key: str, key_location: str, urls: Sequence[str]) -> None:
        """One POST; raises IndexNowUnavailable when the endpoint did not accept it."""
        ...


class HttpIndexNow:
    """POSTs to an IndexNow endpoint with urllib (a short timeout: a batch never waits long)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def submit(self, host: str, key: str, key_location: str, urls: Sequence[str]) -> None:
        import urllib.error  # ~30 ms (http.client, ssl): only when a request goes out
        import urllib.request

        body = json.dumps(
            {"host": host, "key": key, "keyLocation": key_location, "urlList": list(urls)}
        ).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - the endpoint is operator configuration
            self.endpoint,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise IndexNowUnavailable(f"HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise IndexNowUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if status not in (200, 202):
            raise IndexNowUnavailable(f"HTTP {status}")


@dataclasses.dataclass(frozen=True, slots=True)
class IndexNow:
    key: str
    sender: IndexNowSender
    queue: InvalidationQueue  # pending URLs (DynamoDB partition indexnow#pending in Lambda)


@dataclasses.dataclass(slots=True)
class IndexNowReport:
    sent: int = 0  # URLs the endpoint accepted
    pending: int = 0  # URLs left for the schedule
    error: str = ""  # why they were not sent ("": they were, or there were none)


def changed_urls(
    changes: Iterable[tuple[Article | None, Article | None]], settings: SiteSettings
) -> list[str]:
    """Absolute URLs of articles a batch published, changed or removed (live before or after,
    and not the same record)."""
    urls: set[str] = set()
    for old, new in changes:
        if old == new:
            continue
        for article in (old, new):
            if article is not None and article.is_listed:
                urls.add(absolute_url(settings, article_path(article.slug)))
    return sorted(urls)


def notify(
    indexnow: IndexNow,
    urls: Sequence[str],
    settings: SiteSettings,
    site: SiteWriter,
    at: int,
) -> IndexNowReport:
    """Record ``urls`` as pending, then send what is pending. Never raises."""
    try:
        if urls:
            token = uuid.uuid4().hex
            for url in urls:
                indexnow.queue.record(url, token, at)
        return flush_indexnow(indexnow, settings, site)
    except Exception as exc:  # the queue itself failed: the batch still succeeds
        _log.exception("IndexNow: URLs not recorded; later batches or the schedule send theirs")
        return IndexNowReport(error=f"{type(exc).__name__}: {exc}")


def flush_indexnow(indexnow: IndexNow, settings: SiteSettings, site: SiteWriter) -> IndexNowReport:
    """Send everything pending in one POST; forget what was sent. Endpoint failures are
    reported (never raised); queue failures raise (the schedule shows them as errors)."""
    pending = indexnow.queue.pending(MAX_URLS)
    if not pending:
        return IndexNowReport()
    key = indexnow.key
    site.write(key_file(key), key.encode("ascii"), "text/plain; charset=utf-8", CACHE_PAGE)
    host = urlsplit(settings.base_url).hostname or ""
    location = absolute_url(settings, "/" + key_file(key))
    try:
        indexnow.sender.submit(host, key, location, [entry.path for entry in pending])
    except IndexNowUnavailable as exc:
        _log.warning(
            "IndexNow request not accepted; the URLs stay pending",
            extra={"error": str(exc), "urls": len(pending)},
        )
        return IndexNowReport(pending=len(pending), error=str(exc))
    indexnow.queue.remove(pending)
    return IndexNowReport(sent=len(pending))
