"""Parse and validate one Markdown source (front matter + body) into an Article and its body.

A source is UTF-8 (a BOM is accepted), LF or CRLF, at most ``MAX_SOURCE_BYTES``, and starts with
YAML front matter between two ``---`` lines. Every problem raises ``ContentError`` with a message
an editor can act on and, where it has one, the line in the file (the opening ``---`` is line 1).

Choices worth knowing:

- **Slug.** An explicit ``slug:`` must already be safe (lowercase a-z, digits, hyphens, CJK
  letters/digits after NFKC normalisation); an unsafe one is an error, never rewritten, so the URL
  is always the one the editor wrote. Without ``slug:``, the slug comes from the file name stem
  with ``slugify(stem, allow_unicode=True)`` (CJK kept, lowercase, hyphens:
  ``"链圈 news.md"`` -> ``"链圈-news"``); other non-ASCII letters are transliterated
  (``"Café"`` -> ``"cafe"``) so a derived slug is always safe too.
- **Date.** YAML dates/datetimes and ISO 8601 strings; naive ones are in ``settings.timezone``;
  stored in UTC. A missing date means ``now`` here; publishing then keeps the date the article
  was first published with (publishing.py), so re-saving an undated file does not move it.
- **Status.** ``draft: true`` wins; otherwise a date after ``now`` is ``scheduled``; else ``live``.
- **Tags.** Stripped; duplicates dropped (first kept) by their URL key, so ``Layer 2`` and
  ``layer-2`` are one tag; at most ``MAX_TAGS`` after that.
- **Summary.** Without ``summary:``, the body's paragraphs cut at the last sentence end that fits
  ``SUMMARY_WIDTH`` columns (a CJK character takes two, so ~160 Latin or ~80 CJK characters);
  if the first sentence is longer, cut at a word boundary (or between CJK characters) with "…".
- **Counting.** Han, kana and Hangul characters count one word each (500/min); other words at
  230/min; at least one minute.
- **Parse time.** cmark-gfm parses in linear time; bodies that nest deeper or make far more HTML
  than any real article (``markdown.MAX_NESTING``, ``markdown.MAX_HTML_CHARS``) are refused, so
  one upload cannot hold the publish function for long.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import mimetypes
import re
import unicodedata
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from slugify import slugify

from chainpress.markdown import MarkdownLimitError, RenderedBody, render_markdown
from chainpress.model import Article, Status, tag_key
from chainpress.settings import SiteSettings

MAX_SOURCE_BYTES = 1024 * 1024
MAX_TAGS = 10
MAX_TAG_LENGTH = 50
MAX_SLUG_LENGTH = 200
SUMMARY_WIDTH = 160
WORDS_PER_MINUTE = 230
CJK_CHARS_PER_MINUTE = 500
ALLOWED_KEYS = (
    "title", "date", "author", "category", "tags", "summary", "slug", "draft", "cover", "aliases",
)  # fmt: skip

# Han (with extensions and compatibility ideographs), kana, Hangul syllables and 〇.
_CJK = (
    "\u3007\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7a3\uf900-\ufaff\U00020000-\U0003134f"
)
# Where a line may break without a space (Han and kana; Korean separates words with spaces).
_CJK_BREAKABLE = re.compile("[\u3007\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_RUN = re.compile(f"[{_CJK}]+")
_SAFE_SLUG = re.compile(f"[a-z0-9{_CJK}]+(?:-[a-z0-9{_CJK}]+)*")
_ALNUM = re.compile(r"[^\W_]")
_SENTENCE_END = re.compile(r"[。！？]+[”’」』）)\"']*|[.!?]+[”’」』）)\"']*(?=\s|$)")
_HTTP_URL = re.compile(r"https?://[^\s/\\\x00-\x1f\x7f]+[^\s\\\x00-\x1f\x7f]*")
_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)
_BOM = "\ufeff".encode()
_TOP_LEVEL_KEY = re.compile(r"^([^\s#:][^:\n]*?)[ \t]*:(?:[ \t]|$)", re.MULTILINE)

_MEDIA_TYPES = {
    ".avif": "image/avif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".md": "text/markdown; charset=utf-8",
    # Pinned so the answer does not depend on the host's /etc/mime.types.
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".ico": "image/vnd.microsoft.icon",
    ".pdf": "application/pdf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class ContentError(Exception):
    """A source cannot be published. ``line`` is 1-based in the file, or None."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedArticle:
    article: Article
    body: RenderedBody


def media_content_type(key: str) -> str:
    """Content-Type for a ``media/`` object, from its extension."""
    suffix = PurePosixPath(key).suffix.lower()
    if suffix in _MEDIA_TYPES:
        return _MEDIA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(f"x{suffix}", strict=False)
    return guessed or "application/octet-stream"


def _is_safe_slug(slug: str) -> bool:
    return len(slug) <= MAX_SLUG_LENGTH and _SAFE_SLUG.fullmatch(slug) is not None


def _suggest_slug(text: str) -> str:
    slug = slugify(text, allow_unicode=True, max_length=MAX_SLUG_LENGTH, word_boundary=True)
    if _is_safe_slug(slug):
        return slug
    # Keep CJK runs as they are; transliterate the rest ("café" -> "cafe").
    pieces = re.split(f"([{_CJK}]+)", slug)
    words = (p if _CJK_CHAR.match(p) else slugify(p) for p in pieces)
    slug = "-".join(w for w in words if w)
    return slug[:MAX_SLUG_LENGTH].strip("-")


def slug_for_key(key: str) -> str:
    """The slug a source gets when its front matter has no ``slug:`` (from the file name stem).

    Raises ContentError when the name has nothing to make a slug from (e.g. ``"!!!.md"``).
    """
    stem = PurePosixPath(key).stem
    slug = _suggest_slug(stem)
    if not _is_safe_slug(slug):
        raise ContentError(
            f"cannot make a URL slug from the file name {PurePosixPath(key).name!r}: "
            "rename the file or add a 'slug:' line to the front matter"
        )
    return slug


# --- decoding and splitting -------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if len(data) > MAX_SOURCE_BYTES:
        raise ContentError(
            f"file is too large ({len(data):,} bytes); the limit is {MAX_SOURCE_BYTES:,} bytes "
            "(1 MiB): put images in media/ rather than inline"
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ContentError(
            f"this is a binary file (NUL byte at byte {nul}), not Markdown text; if it is "
            "UTF-16 text, save it as UTF-8",
            data.count(b"\n", 0, nul) + 1,
        )
    bom = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start  # in the file as uploaded
        raise ContentError(
            f"file is not valid UTF-8: byte 0x{data[offset]:02x} at byte {offset} "
            "cannot be decoded; save the file as UTF-8",
            data.count(b"\n", 0, offset) + 1,
        ) from None
    # One newline convention, so line numbers and "---" detection work the same for all.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ContentError("file is empty: an article needs front matter with a title")
    return text


def _split(text: str) -> tuple[str, str]:
    """(front matter YAML, body). The YAML starts on line 2 of the file."""
    first, _, rest = text.partition("\n")
    if first.rstrip() != "---":
        raise ContentError(
            "no front matter: the file must start with a line '---', then 'title: ...' and "
            "the other fields, then another '---' line before the article text",
            1,
        )
    end = _FENCE.search(rest)
    if end is None:
        raise ContentError("front matter is not closed: add a line '---' after it", 1)
    return rest[: end.start()], rest[end.end() + 1 :]


_LIBYAML = bool(yaml.__with_libyaml__)  # libyaml is ~10x faster; its offsets count bytes


class _Loader(yaml.CSafeLoader if _LIBYAML else yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader whose impossible dates ("2024-13-45") are YAML errors with a position."""


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except (ValueError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date {node.value!r} ({exc})", node.start_mark
        ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _load_yaml(front: str) -> Any:
    try:
        return yaml.load(front, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "syntax error"
        line = mark.line + 2 if mark is not None else None  # +1 for 1-based, +1 for "---"
        raise ContentError(f"front matter is not valid YAML: {what}", line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        if _LIBYAML:
            line = front.encode()[: exc.position].count(b"\n") + 2
        else:
            line = front.count("\n", 0, exc.position) + 2
        char = exc.character
        shown = repr(char) if isinstance(char, str) else f"U+{char:04X}"
        raise ContentError(
            f"front matter contains a character YAML does not allow ({shown})", line
        ) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise ContentError(f"front matter is not valid YAML: {exc}") from None


# --- field validation -------------------------------------------------------------------------


class _Fields:
    """Front matter values, with the line each top-level key is on (for error messages)."""

    def __init__(self, data: Mapping[Any, Any], front: str) -> None:
        self.data = data
        self.lines: dict[str, int] = {}
        for match in _TOP_LEVEL_KEY.finditer(front):
            key = match.group(1).strip().strip("'\"")
            self.lines.setdefault(key, front.count("\n", 0, match.start()) + 2)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def fail(self, key: str, message: str) -> NoReturn:
        raise ContentError(message, self.lines.get(key, 1))

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(key, f"{key} must be text, not {_describe(value)}")
        return " ".join(str(value).split())


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _timezone(settings: SiteSettings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" is a directory
        raise ContentError(
            f"site.yaml names an unknown timezone {settings.timezone!r}: fix site.yaml"
        ) from None


def _parse_date(fields: _Fields, settings: SiteSettings, now: dt.datetime) -> dt.datetime:
    value = fields.get("date")
    if value is None:
        return now
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            fields.fail(
                "date",
                f"cannot read date {value!r}: write it like 2024-05-01 or 2024-05-01 14:30 "
                "(or with an offset, 2024-05-01T14:30:00+08:00)",
            )
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        fields.fail("date", f"date must be a date like 2024-05-01, not {_describe(value)}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=_timezone(settings))
    if not 1900 <= value.year <= 9998:
        fields.fail("date", f"date {value.year} is out of range (1900-9998)")
    return value.astimezone(dt.UTC)


def _parse_category(fields: _Fields, settings: SiteSettings) -> str:
    category = fields.text("category")
    keys = [c.key for c in settings.categories]
    if category and category not in keys:
        fields.fail(
            "category",
            f"category {category!r} is not one of the site's categories: {', '.join(keys)}",
        )
    return category


def _parse_tags(fields: _Fields) -> tuple[str, ...]:
    raw = fields.get("tags")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        fields.fail("tags", "tags must be a list, e.g. tags: [bitcoin, etf]")
    tags: dict[str, str] = {}  # tag key -> first spelling
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, str):
            fields.fail("tags", f"tag {position} must be text, not {_describe(item)}")
        tag = " ".join(item.split())
        if not tag:
            fields.fail("tags", f"tag {position} is empty")
        if len(tag) > MAX_TAG_LENGTH:
            fields.fail("tags", f"tag {tag!r} is longer than {MAX_TAG_LENGTH} characters")
        tags.setdefault(tag_key(tag), tag)
    if len(tags) > MAX_TAGS:
        fields.fail("tags", f"too many tags ({len(tags)}): at most {MAX_TAGS}")
    return tuple(tags.values())


def _parse_slug(fields: _Fields, key: str) -> str:
    if fields.get("slug") is None:
        return slug_for_key(key)
    raw = fields.text("slug")
    slug = unicodedata.normalize("NFKC", raw).strip()
    if not _is_safe_slug(slug):
        suggestion = _suggest_slug(raw)
        hint = f" (for example {suggestion!r})" if suggestion else ""
        fields.fail(
            "slug",
            f"slug {raw!r} is not allowed: use only lowercase letters a-z, digits, CJK "
            f"characters and single hyphens between them, at most {MAX_SLUG_LENGTH} characters; "
            f"no '/', '..', spaces or capitals{hint}",
        )
    return slug


def _is_site_path(path: str) -> bool:
    return (
        path.startswith("/")
        and not path.startswith("//")  # "//host/x" is another site
        and ".." not in path
        and "\\" not in path
        and not any(c.isspace() or unicodedata.category(c) == "Cc" for c in path)
    )


def _parse_aliases(fields: _Fields) -> tuple[str, ...]:
    raw = fields.get("aliases")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        fields.fail("aliases", "aliases must be a list of site paths, e.g. [/old/path/]")
    aliases: dict[str, None] = {}
    for item in raw:
        if not isinstance(item, str) or not _is_site_path(item.strip()):
            fields.fail(
                "aliases",
                f"alias {item!r} must be a path on this site starting with '/', "
                "without '..', '\\\\', spaces, or a host",
            )
        aliases[item.strip()] = None
    return tuple(aliases)


def _parse_cover(fields: _Fields) -> str:
    cover = fields.text("cover")
    if cover and not (_is_site_path(cover) or _HTTP_URL.fullmatch(cover)):
        fields.fail("cover", f"cover {cover!r} must be a site path (/media/...) or an http(s) URL")
    return cover


def _render_body(body: str, settings: SiteSettings) -> RenderedBody:
    """The body rendered, or a ContentError for one far beyond any real article."""
    try:
        return render_markdown(body, site_url=settings.base_url, link_schemes=settings.link_schemes)
    except MarkdownLimitError as exc:
        raise ContentError(str(exc)) from None


# --- text measures ----------------------------------------------------------------------------


def _counts(text: str) -> tuple[int, int]:
    """(words outside CJK, CJK characters)."""
    cjk = 0
    if not text.isascii():  # O(1) in CPython: skips the CJK scan for plain ASCII text
        runs = _CJK_RUN.findall(text)
        if runs:
            cjk = sum(map(len, runs))
            text = _CJK_RUN.sub(" ", text)
    # str.split and a check per token are several times faster than one word regex over the
    # text; a token is a word if it has a letter or digit (so "—" and "|" are not words).
    has_alnum = _ALNUM.search
    return sum(1 for token in text.split() if token.isalnum() or has_alnum(token)), cjk


def _minutes(words: int, cjk: int) -> int:
    return max(1, math.ceil(words / WORDS_PER_MINUTE + cjk / CJK_CHARS_PER_MINUTE))


def word_count(text: str) -> int:
    """Words, with each CJK character counted as one."""
    words, cjk = _counts(text)
    return words + cjk


def reading_minutes(text: str) -> int:
    """Minutes to read ``text`` (at least 1)."""
    return _minutes(*_counts(text))


def _width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def summarize(text: str, width: int = SUMMARY_WIDTH) -> str:
    """Cut ``text`` to at most ``width`` columns (CJK = 2): at a sentence end if one fits,
    else at a word boundary with "…"; never in the middle of a word."""
    text = " ".join(text.split())
    used = 0
    fits = 0  # length of the longest prefix within width
    for char in text:
        used += _width(char)
        if used > width:
            break
        fits += 1
    if fits == len(text):
        return text
    # The prefix must end exactly at a sentence end, which is never followed by a space here.
    sentence = max(
        (m.end() for m in _SENTENCE_END.finditer(text, 0, fits + 1) if m.end() <= fits),
        default=0,
    )
    if sentence:
        return text[:sentence]
    # A boundary at i: a space at i, or a break opportunity beside a CJK character.
    for cut in range(fits, 0, -1):
        if (
            text[cut] == " "
            or _CJK_BREAKABLE.match(text[cut])
            or _CJK_BREAKABLE.match(text[cut - 1])
        ):
            break
    else:
        cut = fits  # one unbroken token longer than the limit: nothing better
    return text[:cut].rstrip(" ,;:、，；：—-") + "…"


# --- the entry point --------------------------------------------------------------------------


def parse_source(
    key: str, data: bytes, *, settings: SiteSettings, now: dt.datetime
) -> ParsedArticle:
    """Validate and parse the source at ``key``; raises ContentError for anything wrong."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    text = _decode(data)
    front, body_text = _split(text)
    loaded = _load_yaml(front)
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ContentError(f"front matter must be 'key: value' lines, not {_describe(loaded)}", 2)
    fields = _Fields(loaded, front)
    unknown = [str(k) for k in loaded if k not in ALLOWED_KEYS]
    if unknown:
        raise ContentError(
            f"unknown front matter field{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; allowed fields: {', '.join(ALLOWED_KEYS)}",
            fields.lines.get(unknown[0], 1),
        )
    title = fields.text("title")
    if not title:
        fields.fail("title", "the front matter needs a non-empty 'title:'")
    date = _parse_date(fields, settings, now)
    draft = fields.get("draft")
    if draft is not None and not isinstance(draft, bool):
        fields.fail("draft", f"draft must be true or false, not {draft!r}")
    status: Status = "draft" if draft else "scheduled" if date > now else "live"
    category = _parse_category(fields, settings)
    tags = _parse_tags(fields)
    slug = _parse_slug(fields, key)
    aliases = _parse_aliases(fields)
    cover = _parse_cover(fields)
    author = fields.text("author")
    summary = fields.text("summary")

    body = _render_body(body_text, settings)
    words, cjk = _counts(body.text)
    article = Article(
        slug=slug,
        title=title,
        date=date,
        source_key=key,
        content_hash=hashlib.sha256(data).hexdigest(),
        author=author,
        category=category,
        tags=tags,
        summary=summary or summarize(body.lead or body.text),
        cover=cover,
        aliases=aliases,
        reading_minutes=_minutes(words, cjk),
        word_count=words + cjk,
        status=status,
    )
    return ParsedArticle(article=article, body=body)
