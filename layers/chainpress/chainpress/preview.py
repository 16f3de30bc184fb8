"""Signed draft previews: a page the public cannot find, for a draft or a scheduled article.

A preview lives at ``/preview/<expires>-<mac>/`` in the site bucket (``preview/<...>/index.html``),
where ``expires`` is the Unix time it stops working and ``mac`` the first 128 bits (hex) of
HMAC-SHA256 over ``slug``, the uploaded version and ``expires``, keyed with a secret only the
publish function reads (Secrets Manager, created by the template). Without the key nobody can
compute a preview URL; changing ``expires`` breaks the MAC, so an old link cannot be extended.

- the page is the article page as it will look (without neighbours, related articles or
  translations: those are the site's, not the draft's), with ``<meta name="robots"
  content="noindex, nofollow">`` and a banner saying it is a preview and until when;
- it is stored with ``Cache-Control: private, no-store`` (no shared cache keeps it; CloudFront's
  ``/preview/*`` behaviour also uses the CachingDisabled policy and adds ``X-Robots-Tag``);
- it is never a member of a listing, a sitemap or a feed: it has no article record of its own
  (the draft's record names it in ``Article.preview``, so the next publish finds and deletes it);
- it expires twice: CloudFront's viewer-request function answers 410 once ``expires`` has passed
  (checked on every request, exact to the second), and an S3 lifecycle rule on ``preview/``
  deletes the bytes ``PreviewDays`` days after they were written.

Pure: no AWS. The key comes in as bytes (``chainpress.aws.secrets`` reads it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import html
import re

__all__ = [
    "CACHE_PREVIEW",
    "DEFAULT_PREVIEW_DAYS",
    "PREVIEW_PREFIX",
    "PreviewSigner",
    "expires_of",
    "preview_key",
    "preview_page",
]

PREVIEW_PREFIX = "preview/"
DEFAULT_PREVIEW_DAYS = 7
# Kept out of every shared cache (CloudFront, proxies); the viewer's browser may not store it.
CACHE_PREVIEW = "private, no-store, max-age=0"
ROBOTS = "noindex, nofollow, noarchive"
_MAC_HEX = 32  # 128 bits: far beyond guessing, short enough for a URL
_PATH = re.compile(r"^/preview/(?P<expires>\d{1,12})-(?P<mac>[0-9a-f]{32})/$")
_HEAD = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
_BODY = re.compile(r"<body(?:\s[^>]*)?>", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True)
class PreviewSigner:
    """Makes and checks preview URLs with the site's secret key."""

    key: bytes
    days: int = DEFAULT_PREVIEW_DAYS

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the preview key must have at least 16 bytes")
        if self.days < 1:
            raise ValueError("previews must last at least one day")

    def _mac(self, slug: str, version: str, expires: int) -> str:
        message = f"{slug}\n{version}\n{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:_MAC_HEX]

    def path(self, slug: str, version: str, now: dt.datetime) -> str:
        """A new preview URL path for ``slug`` at ``version``, valid ``days`` from ``now``."""
        expires = int(now.timestamp()) + self.days * 86400
        return f"/preview/{expires}-{self._mac(slug, version, expires)}/"

    def valid(self, path: str, slug: str, version: str, now: dt.datetime) -> bool:
        """Whether ``path`` is a preview of ``slug`` at ``version`` that has not expired (a
        re-delivered event then keeps the URL it gave the editor)."""
        found = _PATH.match(path)
        if found is None:
            return False
        expires = int(found["expires"])
        if expires <= int(now.timestamp()):
            return False
        return hmac.compare_digest(found["mac"], self._mac(slug, version, expires))


def expires_of(path: str) -> dt.datetime | None:
    """When the preview at ``path`` stops working (None: not a preview path)."""
    found = _PATH.match(path)
    return dt.datetime.fromtimestamp(int(found["expires"]), dt.UTC) if found else None


def preview_key(path: str) -> str:
    """The site-bucket key of the preview page at URL ``path``."""
    return f"{path.strip('/')}/index.html"


def preview_page(page: str, expires: dt.datetime) -> bytes:
    """An article page made a preview: robots told not to index or follow it, and a banner
    saying so (at the top of the body) with the time the link stops working."""
    robots = f'<meta name="robots" content="{ROBOTS}">\n'
    opened = _HEAD.search(page)
    if opened is None:
        page = f"<head>\n{robots}</head>\n{page}"
    else:
        page = f"{page[: opened.end()]}\n{robots}{page[opened.end() :]}"
    until = html.escape(expires.strftime("%Y-%m-%d %H:%M UTC"))
    banner = (
        '<p class="preview-banner" role="status"><strong>Preview</strong>: not published; '
        f"only people with this link can see it, until {until}.</p>\n"
    )
    body = _BODY.search(page)
    if body is not None:
        page = f"{page[: body.end()]}\n{banner}{page[body.end() :]}"
    return page.encode("utf-8")
