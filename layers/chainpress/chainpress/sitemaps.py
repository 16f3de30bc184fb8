"""XML sitemaps (sitemaps.org 0.9) and the Google News sitemap, as pure functions of entries.

Layout (docs/architecture.md): ``/sitemap.xml`` is an index over ``sitemaps/articles-N.xml``
(N from 1, pages of ``SHARD_SIZE`` URLs whose boundaries are kept in the table, oldest article
first, so a new article only ever changes the last shard), ``sitemaps/news.xml`` (articles of
the last 48 hours), ``sitemaps/pages.xml`` (home, archive, sitemap, category front pages) and
``sitemaps/tags-K.xml`` (tag front pages, by pages of the tag index). Builders take ready
entries; pages.py reads them from the store. Output is bytes, deterministic for equal input (no
clock, no random order), so writers can skip identical bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from xml.sax.saxutils import escape

from chainpress.model import Article
from chainpress.paging import SHARD_SIZE
from chainpress.render import absolute_url, href
from chainpress.settings import SiteSettings

__all__ = [
    "NEWS_MAX_URLS",
    "NEWS_WINDOW",
    "SHARD_SIZE",
    "SITEMAP_TYPE",
    "NewsEntry",
    "UrlEntry",
    "article_entry",
    "article_urlset",
    "news_entry",
    "news_sitemap",
    "sitemap_index",
    "urlset",
]

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
SITEMAP_TYPE = "application/xml; charset=utf-8"

# sitemaps.org allows 50,000 URLs (and 50 MB) per file, but a publish rewrites the last shard
# whole: 1,000 keeps that bounded and flat (about 10 ms at any N, see BENCHMARKS.md) while the
# index stays small (100 entries at 100,000 articles).
MAX_SHARD_SIZE = 50_000
# Google News: only articles published in the last two days, at most 1,000 URLs per file.
NEWS_WINDOW = dt.timedelta(hours=48)
NEWS_MAX_URLS = 1_000

# Characters XML 1.0 cannot carry at all (escaping does not help): C0 controls but tab/LF/CR.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Text for an XML element: invalid characters dropped, ``& < >`` escaped."""
    return escape(_NOT_XML.sub("", value))


@dataclasses.dataclass(frozen=True, slots=True)
class UrlEntry:
    loc: str  # absolute, percent-encoded URL
    lastmod: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewsEntry:
    loc: str
    title: str
    published: dt.datetime


def w3c_time(value: dt.datetime) -> str:
    """``model.format_time`` (UTC, seconds, ``Z``) without strftime, which costs ~20 µs a call:
    a shard formats up to 50,000 of these per publish."""
    utc = value.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    return utc.isoformat() + "Z"


def lastmod_of(article: Article) -> dt.datetime:
    """When an article's page last changed in substance: its update time, else its date."""
    return article.updated or article.date


def article_entry(settings: SiteSettings, article: Article) -> UrlEntry:
    return UrlEntry(absolute_url(settings, article.url), lastmod_of(article))


def news_entry(settings: SiteSettings, article: Article) -> NewsEntry:
    return NewsEntry(absolute_url(settings, article.url), article.title, article.date)


def _xml(body: Iterable[str]) -> bytes:
    return "".join(body).encode("utf-8")


def _lastmod(value: dt.datetime | None) -> str:
    return f"<lastmod>{w3c_time(value)}</lastmod>" if value is not None else ""


def urlset(entries: Iterable[UrlEntry]) -> bytes:
    """A ``<urlset>`` (an article shard or pages.xml). The caller keeps it within 50,000
    entries, and non-empty (the schema needs at least one ``<url>``)."""

    def lines() -> Iterable[str]:
        yield '<?xml version="1.0" encoding="UTF-8"?>\n'
        yield f'<urlset xmlns="{SITEMAP_NS}">\n'
        for entry in entries:
            yield f"<url><loc>{xml_text(entry.loc)}</loc>{_lastmod(entry.lastmod)}</url>\n"
        yield "</urlset>\n"

    return _xml(lines())


def article_urlset(settings: SiteSettings, articles: Iterable[Article]) -> bytes:
    """An article shard: ``urlset`` of each article's URL and lastmod, on a fast path (a shard
    is rebuilt whole on every publish, up to SHARD_SIZE entries): ``href`` percent-encodes
    everything XML-special in a path but ``&``, so only that needs escaping."""
    base = xml_text(settings.base_url)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<urlset xmlns="{SITEMAP_NS}">\n']
    for article in articles:
        loc = base + href(article.url).replace("&", "&amp;")
        lastmod = w3c_time(article.updated or article.date)
        parts.append(f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>\n")
    parts.append("</urlset>\n")
    return "".join(parts).encode("utf-8")


def sitemap_index(entries: Iterable[UrlEntry]) -> bytes:
    """A ``<sitemapindex>`` over sitemap files (each entry: the file's URL and lastmod)."""

    def lines() -> Iterable[str]:
        yield '<?xml version="1.0" encoding="UTF-8"?>\n'
        yield f'<sitemapindex xmlns="{SITEMAP_NS}">\n'
        for entry in entries:
            yield (
                f"<sitemap><loc>{xml_text(entry.loc)}</loc>{_lastmod(entry.lastmod)}</sitemap>\n"
            )
        yield "</sitemapindex>\n"

    return _xml(lines())


def news_sitemap(entries: Iterable[NewsEntry], *, name: str, language: str) -> bytes:
    """Google News sitemap: ``news:publication`` (name, language), ``news:publication_date``
    and ``news:title`` per article. The schema needs at least one ``<url>``: when the window
    is empty the caller publishes no news sitemap at all."""
    publication = (
        "<news:publication>"
        f"<news:name>{xml_text(name)}</news:name>"
        f"<news:language>{xml_text(language)}</news:language>"
        "</news:publication>"
    )

    def lines() -> Iterable[str]:
        yield '<?xml version="1.0" encoding="UTF-8"?>\n'
        yield f'<urlset xmlns="{SITEMAP_NS}" xmlns:news="{NEWS_NS}">\n'
        for entry in entries:
            yield (
                f"<url><loc>{xml_text(entry.loc)}</loc><news:news>{publication}"
                f"<news:publication_date>{w3c_time(entry.published)}</news:publication_date>"
                f"<news:title>{xml_text(entry.title)}</news:title>"
                "</news:news></url>\n"
            )
        yield "</urlset>\n"

    return _xml(lines())
