"""The article record: what a page, a listing, a sitemap or a feed needs to know about an article.

Pure data; no AWS. ``to_item``/``from_item`` give the plain-dict form stored in the articles
table (and seen in its stream images), so every layer agrees on one shape.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any, Literal

from slugify import slugify

Status = Literal["live", "draft", "scheduled", "removed"]

ARTICLE_PREFIX = "articles"
# Listings that exist only to be looked up, never shown: the articles sharing a translation key
# (``translation/<key>``) and the held, future-dated ones (``scheduled``).
TRANSLATION_PREFIX = "translation/"
SCHEDULED = "scheduled"
# Translations a page links to (hreflang alternates): one listing read, whatever the site.
MAX_TRANSLATIONS = 20


def is_paged_listing(name: str) -> bool:
    """Whether ``name`` is a listing with pages of its own (home, a category, a tag), not a
    lookup (scheduled, translations) nor another collection with a head (sitemap shards...)."""
    return name == "home" or name.startswith(("category/", "tag/"))


def has_pages(listing: str) -> bool:
    """Whether a listing gets listing pages (home, categories, tags do; lookups do not)."""
    return listing != SCHEDULED and not listing.startswith(TRANSLATION_PREFIX)


def translation_listing(key: str) -> str:
    """The listing of the live articles that share the translation key ``key``."""
    return f"{TRANSLATION_PREFIX}{key}"


# The longest message a report or a stored source state carries (longer ones are cut).
MAX_MESSAGE = 1000


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis saying so)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing an editor should know about an upload: what, and on which line (1-based in the
    file, or None). Errors refuse the upload; warnings do not."""

    message: str
    line: int | None = None

    def __post_init__(self) -> None:
        # A message may quote the editor's value: never more than MAX_MESSAGE characters of it
        # (reports and the source state stored in the table stay small).
        if len(self.message) > MAX_MESSAGE:
            object.__setattr__(self, "message", shorten(self.message))

    def as_dict(self) -> dict[str, object]:
        return {"message": self.message, "line": self.line}


def article_path(slug: str) -> str:
    """The public URL path of an article page (``/articles/<slug>/``)."""
    return f"/{ARTICLE_PREFIX}/{slug}/"


@functools.lru_cache(maxsize=65536)  # called for every tag of every card on every page
def tag_key(tag: str) -> str:
    """URL segment of a tag: lowercase, hyphenated, CJK kept (``"Layer 2"`` -> ``"layer-2"``)."""
    return slugify(tag, allow_unicode=True) or "tag"


def listings_of(article: Article | None) -> set[str]:
    """The listings an article is a member of, by its status (see docs/architecture.md)."""
    if article is None:
        return set()
    if article.status == "scheduled":
        return {SCHEDULED}
    if article.status != "live":
        return set()
    names = {"home"}
    if article.category:
        names.add(f"category/{article.category}")
    names.update(f"tag/{tag_key(t)}" for t in article.tags)
    if article.translation_key:
        names.add(translation_listing(article.translation_key))
    return names


# Related articles are the articles nearest by date in an article's category and tag listings:
# this many on each side in each listing (candidates), ranked by ``publishing.choose_related``.
RELATED_NEIGHBOURS = 2


def related_listings(article: Article | None) -> list[str]:
    """The listings a live article's related articles are chosen from: its category, its tags."""
    if article is None or not article.is_listed:
        return []
    names = [f"category/{article.category}"] if article.category else []
    return names + sorted({f"tag/{tag_key(t)}" for t in article.tags})


def member_ops(previous: Article | None, new: Article) -> list[tuple[str, str, str, int]]:
    """How listing membership changes from ``previous`` to ``new``: a list of
    ``(listing, "put" | "delete", sort_key, count delta)``. Shared by every ArticleStore so
    the DynamoDB and in-memory stores cannot disagree."""
    old_lists = listings_of(previous)
    new_lists = listings_of(new)
    moved = previous is None or previous.sort_key != new.sort_key
    changed = previous is None or previous.to_item() != new.to_item()
    ops: list[tuple[str, str, str, int]] = []
    for listing in sorted(old_lists | new_lists):
        was, now = listing in old_lists, listing in new_lists
        if was and previous is not None and (not now or moved):
            ops.append((listing, "delete", previous.sort_key, -1))
        if now and (not was or moved):
            ops.append((listing, "put", new.sort_key, 1))
        elif now and changed:
            ops.append((listing, "put", new.sort_key, 0))
    return ops


SEQUENCER_WIDTH = 32


def pad_sequencer(sequencer: str) -> str:
    """S3 sequencers compare as hex of equal length: left-pad so text order is event order."""
    return sequencer.strip().upper().rjust(SEQUENCER_WIDTH, "0")


def format_time(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: sorts as text, so it doubles as a sort key."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Article:
    """One article as stored in the articles table (everything but the rendered body)."""

    slug: str
    title: str
    date: dt.datetime  # aware, UTC
    source_key: str  # content-bucket key it came from, e.g. "articles/2022/链圈 news.md"
    content_hash: str  # sha256 of the source bytes
    author: str = ""
    category: str = ""  # category key from settings, e.g. "bitcoin"
    tags: tuple[str, ...] = ()
    summary: str = ""
    cover: str = ""
    aliases: tuple[str, ...] = ()
    reading_minutes: int = 1
    word_count: int = 0
    status: Status = "live"
    # Slugs of related articles, chosen when the article is published (same category / shared
    # tags, newest first) and refreshed by a full rebuild; keeps the cost of a publish flat.
    related: tuple[str, ...] = ()
    # When the text last changed (UTC): the front matter's ``updated``/``lastmod``, else the
    # time a changed source was re-published.
    updated: dt.datetime | None = None
    # Every author name (``author`` is them joined for display), e.g. from a Docusaurus list.
    authors: tuple[str, ...] = ()
    language: str = ""  # normalised language tag ("zh", "zh-CN"); "" = the site's language
    translation_key: str = ""  # articles sharing it are translations of each other
    # The front matter gave a day without a time: pages show the day only, never "00:00".
    date_only: bool = False
    updated_date_only: bool = False
    # Front matter fields the site has no use for, kept as written (JSON values, bounded in
    # size by content.py) so templates can use them and nothing an editor typed is lost.
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # A draft's or scheduled article's signed preview URL path (chainpress.preview), "" when it
    # has none: the next publish or removal of its source deletes that page.
    preview: str = ""

    @property
    def url(self) -> str:
        return article_path(self.slug)

    @property
    def sort_key(self) -> str:
        """Chronological key, unique per article: ``<ISO date>#<slug>``."""
        return f"{format_time(self.date)}#{self.slug}"

    @property
    def is_listed(self) -> bool:
        """Whether the article appears on listings, sitemaps and feeds."""
        return self.status == "live"

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "slug": self.slug,
            "title": self.title,
            "date": format_time(self.date),
            "source_key": self.source_key,
            "content_hash": self.content_hash,
            "author": self.author,
            "category": self.category,
            "tags": list(self.tags),
            "summary": self.summary,
            "cover": self.cover,
            "aliases": list(self.aliases),
            "reading_minutes": self.reading_minutes,
            "word_count": self.word_count,
            "status": self.status,
            "related": list(self.related),
            "url": self.url,
        }
        if self.updated is not None:
            item["updated"] = format_time(self.updated)
        # Newer fields only when set: records written before them keep their exact shape.
        if self.authors:
            item["authors"] = list(self.authors)
        if self.language:
            item["language"] = self.language
        if self.translation_key:
            item["translation_key"] = self.translation_key
        if self.date_only:
            item["date_only"] = True
        if self.updated_date_only:
            item["updated_date_only"] = True
        if self.extra:
            # JSON text: any front matter value fits one DynamoDB string (no float/Decimal).
            item["extra"] = json.dumps(self.extra, ensure_ascii=False, sort_keys=True)
        if self.preview:
            item["preview"] = self.preview
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Article:
        updated = item.get("updated")
        return cls(
            slug=str(item["slug"]),
            title=str(item["title"]),
            date=parse_time(str(item["date"])),
            source_key=str(item.get("source_key", "")),
            content_hash=str(item.get("content_hash", "")),
            author=str(item.get("author", "")),
            category=str(item.get("category", "")),
            tags=tuple(str(t) for t in item.get("tags", ())),
            summary=str(item.get("summary", "")),
            cover=str(item.get("cover", "")),
            aliases=tuple(str(a) for a in item.get("aliases", ())),
            reading_minutes=int(item.get("reading_minutes", 1)),
            word_count=int(item.get("word_count", 0)),
            status=item.get("status", "live"),
            related=tuple(str(s) for s in item.get("related", ())),
            updated=parse_time(str(updated)) if updated else None,
            authors=tuple(str(a) for a in item.get("authors", ())),
            language=str(item.get("language", "")),
            translation_key=str(item.get("translation_key", "")),
            date_only=bool(item.get("date_only", False)),
            updated_date_only=bool(item.get("updated_date_only", False)),
            extra=_extra(item.get("extra")),
            preview=str(item.get("preview", "")),
        )


def _extra(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(str(raw))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
