"""RSS 2.0 feeds (``/feed.xml`` and ``/category/<key>/feed.xml``), as pure functions of articles.

Deterministic for equal input: ``lastBuildDate`` is the newest item's change time, not the
clock, so an unchanged listing gives byte-identical feeds (writers skip them, the CDN keeps
them). Authors go in ``dc:creator``: RSS's own ``<author>`` must be an e-mail address.

``<description>`` is HTML in RSS 2.0 (readers render it), while our summaries are plain text
(a summary may quote markup, e.g. an inline code span ``<img onerror=...>``): it is escaped as HTML
first, then as XML, so readers show the text and never build elements from it.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from email.utils import format_datetime
from xml.sax.saxutils import quoteattr

from chainpress.model import Article
from chainpress.render import absolute_url
from chainpress.settings import SiteSettings
from chainpress.sitemaps import lastmod_of, xml_text

__all__ = ["FEED_SIZE", "FEED_TYPE", "rss"]

FEED_SIZE = 20  # newest items per feed (docs/architecture.md)
FEED_TYPE = "application/rss+xml; charset=utf-8"

_ATOM_NS = "http://www.w3.org/2005/Atom"
_DC_NS = "http://purl.org/dc/elements/1.1/"


def _html_description(text: str) -> str:
    """Plain text as the HTML a ``<description>`` carries, escaped for XML."""
    return xml_text(html.escape(text, quote=False))


def _rfc822(value: dt.datetime) -> str:
    return format_datetime(value.astimezone(dt.UTC), usegmt=True)


def rss(
    settings: SiteSettings,
    *,
    title: str,
    link_path: str,
    feed_path: str,
    description: str,
    articles: Sequence[Article],
) -> bytes:
    """An RSS 2.0 channel: ``articles`` newest first (the caller passes at most FEED_SIZE)."""
    link = absolute_url(settings, link_path)
    self_url = absolute_url(settings, feed_path)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<rss version="2.0" xmlns:atom="{_ATOM_NS}" xmlns:dc="{_DC_NS}">\n<channel>\n',
        f"<title>{xml_text(title)}</title>\n",
        f"<link>{xml_text(link)}</link>\n",
        f"<description>{_html_description(description)}</description>\n",
        f"<language>{xml_text(settings.language)}</language>\n",
        f'<atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>\n',
    ]
    if articles:
        newest = max(lastmod_of(a) for a in articles)
        parts.append(f"<lastBuildDate>{_rfc822(newest)}</lastBuildDate>\n")
    for article in articles:
        url = xml_text(absolute_url(settings, article.url))
        parts.append("<item>\n")
        parts.append(f"<title>{xml_text(article.title)}</title>\n")
        parts.append(f"<link>{url}</link>\n")
        parts.append(f'<guid isPermaLink="true">{url}</guid>\n')
        parts.append(f"<pubDate>{_rfc822(article.date)}</pubDate>\n")
        if article.author:
            parts.append(f"<dc:creator>{xml_text(article.author)}</dc:creator>\n")
        if article.category:
            label = settings.category_label(article.category)
            parts.append(f"<category>{xml_text(label)}</category>\n")
        if article.summary:
            parts.append(f"<description>{_html_description(article.summary)}</description>\n")
        parts.append("</item>\n")
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")
