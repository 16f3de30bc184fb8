"""Parse and validate one Markdown source (front matter + body) into an Article and its body.

A source is UTF-8 (a BOM is accepted), LF or CRLF, at most ``MAX_SOURCE_BYTES``, and usually
starts with front matter: YAML between two ``---`` lines (or Hugo's TOML between ``+++`` lines).
Real repositories write it many ways (Hugo, Jekyll, Docusaurus, ethereum.org), so:

- **Spellings.** Each field accepts the names those tools use (``FIELD_SPELLINGS``), compared
  without case, ``-`` or ``_``: ``description`` is the summary, ``published``/``pubDate``/
  ``publishDate``/``created`` the date, ``lastmod`` the update time, ``image`` the cover,
  ``authors`` the authors (names, or Docusaurus mappings with ``name``), ``lang`` the language.
  Jekyll's ``published: false`` is a draft; ``categories`` gives the category (the first) and
  tags (the rest); ``keywords`` are kept for the page's meta keywords.
- **Warnings, not refusals.** A field the site does not know is kept as written in
  ``Article.extra`` (bounded by ``MAX_EXTRA_BYTES``) and reported as a warning with its line; so
  is a spelling overridden by a stronger one (``date`` beside ``created``), and a category that
  site.yaml does not list (published under its URL-safe key, ``ERC`` -> ``/category/erc/``).
  A wrong value for a known field is an error. ``ContentError.problems`` holds every error of
  the upload at once, each with its line (the opening ``---`` is line 1).
- **No front matter.** The title is the first heading (a warning says so); a front matter
  without a title also takes it from there (Docusaurus does). The heading, when it opens the
  body, is not repeated in it.
- **Page bundles.** ``articles/<folder>/index.md`` (also Hugo's ``_index.md`` and GitHub's
  ``README.md``) takes its slug from the folder: every bundle would otherwise be "index". The
  files beside (and, for ``index.md``/``README.md``, below) it are published with it under
  ``/articles/<slug>/`` (see ``bundle_owners``), so ``./diagram.png`` resolves on the page, and a
  relative ``cover`` becomes ``/articles/<slug>/<path>``.
- **Slug.** An explicit ``slug:`` must already be safe (a-z, digits, ``_``, hyphens, CJK
  letters/digits after NFKC normalisation; Docusaurus' surrounding ``/`` are dropped; capitals
  are lowercased with a warning, as Hugo lowercases URLs); an unsafe one is an error, never
  rewritten otherwise, so the URL is the one the editor wrote. Without
  ``slug:``, the slug comes from the file name stem (or the bundle's folder) with
  ``slugify(stem, allow_unicode=True)`` (a Jekyll ``_posts/2023-05-01-x.md`` gives ``x`` and,
  without a date, its date; CJK kept, lowercase, hyphens: ``"链圈 news.md"`` ->
  ``"链圈-news"``); other non-ASCII letters are transliterated (``"Café"`` -> ``"cafe"``) so a
  derived slug is always safe too. An article whose ``lang`` is not the site's language gets it
  appended (``send-token-zh``), so translations in parallel folders do not claim one slug.
- **Language.** ``lang`` is normalised (``zh_cn`` -> ``zh-CN``). Articles with the same
  ``translationKey`` are translations of each other; one with ``lang`` and no key gets its
  path-derived slug as key, so ethereum.org's ``translations/zh/<path>/index.md`` pairs up with
  ``<path>/index.md``.
- **Date.** YAML/TOML dates and datetimes, ISO 8601 strings, ``2024/05/01`` and RFC 2822; naive
  ones are in ``settings.timezone``; stored in UTC. A day without a time is marked
  ``date_only`` (pages show no "00:00"). A missing date means ``now`` here; publishing then keeps
  the date the article was first published with (publishing.py), so re-saving an undated file
  does not move it.
- **Status.** ``draft: true`` wins; otherwise a date after ``now`` is ``scheduled``; else ``live``.
- **Tags.** A list (or one comma-separated string); stripped; duplicates dropped (first kept) by
  their URL key, so ``Layer 2`` and ``layer-2`` are one tag; at most ``MAX_TAGS`` after that.
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
import email.utils
import hashlib
import json
import math
import mimetypes
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from slugify import slugify

from chainpress.markdown import MarkdownLimitError, RenderedBody, render_markdown
from chainpress.model import ARTICLE_PREFIX, Article, Problem, Status, article_path, tag_key
from chainpress.settings import SiteSettings, category_key, normalise_language
from chainpress.yamlguard import check_shape

MAX_SOURCE_BYTES = 1024 * 1024
MAX_TAGS = 10
MAX_TAG_LENGTH = 50
MAX_SLUG_LENGTH = 200
MAX_AUTHORS = 20
MAX_TRANSLATION_KEY_LENGTH = 200
# Field sizes: with these, an article's record stays far below DynamoDB's 400 KB item limit
# (and its listing copies small), and a bad value is the editor's error, not an AWS error.
MAX_TITLE_LENGTH = 300
MAX_SUMMARY_LENGTH = 2000
MAX_AUTHOR_LENGTH = 100
MAX_ALIASES = 20
MAX_ALIAS_LENGTH = 500
MAX_COVER_LENGTH = 2000
# Unknown fields are copied into every listing member of the article: keep them small.
MAX_EXTRA_BYTES = 2048
SUMMARY_WIDTH = 160
WORDS_PER_MINUTE = 230
CJK_CHARS_PER_MINUTE = 500

# Front matter fields -> the spellings accepted for each, strongest first. Compared without
# case, "-" or "_" (Hugo's keys are case-insensitive; "featured_image" = "featuredImage").
FIELD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "date": ("date", "published", "pubDate", "publishDate", "publishedAt", "created"),
    "updated": ("updated", "lastmod", "lastModified", "modified", "dateModified", "updatedAt"),
    "author": ("author", "authors"),
    "category": ("category", "categories"),
    "tags": ("tags",),
    "keywords": ("keywords",),
    "summary": ("summary", "description", "excerpt"),
    "slug": ("slug",),
    "draft": ("draft",),
    "cover": ("cover", "image", "featuredImage", "images", "thumbnail"),
    "aliases": ("aliases",),
    "lang": ("lang", "language", "locale"),
    "translationKey": ("translationKey",),
}
ALLOWED_KEYS = tuple(FIELD_SPELLINGS)
# Fields whose spellings add up rather than override each other.
_COMBINED = frozenset({"author", "category"})

# A page bundle's index file; files beside it (and below it, except for Hugo's branch bundle
# ``_index.md``) belong to its article. Nearest first, at most MAX_BUNDLE_DEPTH folders up.
BUNDLE_INDEX_NAMES = ("index.md", "_index.md", "README.md")
_LEAF_INDEX_NAMES = ("index.md", "README.md")
MAX_BUNDLE_DEPTH = 8

# Han (with extensions and compatibility ideographs), kana, Hangul syllables and 〇.
_CJK = (
    "\u3007\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7a3\uf900-\ufaff\U00020000-\U0003134f"
)
# Where a line may break without a space (Han and kana; Korean separates words with spaces).
_CJK_BREAKABLE = re.compile("[\u3007\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_RUN = re.compile(f"[{_CJK}]+")
_SAFE_SLUG = re.compile(f"[a-z0-9_{_CJK}]+(?:-[a-z0-9_{_CJK}]+)*")
_ALNUM = re.compile(r"[^\W_]")
_SENTENCE_END = re.compile(r"[。！？]+[”’」』）)\"']*|[.!?]+[”’」』）)\"']*(?=\s|$)")
_HTTP_URL = re.compile(r"https?://[^\s/\\\x00-\x1f\x7f]+[^\s\\\x00-\x1f\x7f]*")
_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)
_TOML_FENCE = re.compile(r"^\+\+\+[ \t]*$", re.MULTILINE)
_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*\n)*")
_CODE_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_BOM = "\ufeff".encode()
_TOP_LEVEL_KEY = re.compile(r"^([^\s#:][^:\n]*?)[ \t]*:(?:[ \t]|$)", re.MULTILINE)
_TOML_KEY = re.compile(r"^([A-Za-z0-9_-]+|\"[^\"\n]*\"|'[^'\n]*')[ \t]*=", re.MULTILINE)
_TOML_TABLE = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]\n]+)\]", re.MULTILINE)
_TOML_LINE = re.compile(r"\(at line (\d+)")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_HEADING_ID = re.compile(r"[ \t]*\\?\{#[^}]*\}[ \t]*$")
_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_DAY = re.compile(r"\d{4}([-/]?)\d{2}\1\d{2}")
# A day written without zero padding ("2024-7-4", "2024/07/4"), as people type it.
_LOOSE_DAY = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})")
_JEKYLL_POST = re.compile(r"(\d{4}-\d{2}-\d{2})-(.+)")

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
    ".csv": "text/csv; charset=utf-8",
    ".sol": "text/plain; charset=utf-8",
}


class ContentError(Exception):
    """A source cannot be published. ``message``/``line`` are the first problem (``line`` is
    1-based in the file, or None); ``problems`` every one found, ``warnings`` the rest."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        *,
        problems: Iterable[Problem] = (),
        warnings: Iterable[Problem] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.problems = tuple(problems) or (Problem(message, line),)
        self.warnings = tuple(warnings)

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedArticle:
    article: Article
    body: RenderedBody
    warnings: tuple[Problem, ...] = ()


def media_content_type(key: str) -> str:
    """Content-Type for a ``media/`` object or a bundle file, from its extension."""
    suffix = PurePosixPath(key).suffix.lower()
    if suffix in _MEDIA_TYPES:
        return _MEDIA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(f"x{suffix}", strict=False)
    return guessed or "application/octet-stream"


# Media types a browser runs scripts in when the file is opened on the site's origin (HTML, XML
# documents that may carry XHTML or XSLT, SVG, scripts). ``media/`` answers every file with
# ``Content-Security-Policy: sandbox`` at the CDN (template.yaml ``MediaHeadersPolicy``); these
# are also stored with ``Content-Disposition: attachment`` (a browser downloads them instead of
# opening them), except an SVG under ``media/``, which stays viewable (sandboxed). Page-bundle
# files share ``/articles/*`` with the pages (no sandbox header there): every active type,
# SVG too, is an attachment. ``<img src=x.svg>`` ignores Content-Disposition: SVG images work.
ACTIVE_MEDIA_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "application/xml",
        "text/xml",
        "image/svg+xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/wasm",
        "application/rdf+xml",
        "application/atom+xml",
        "application/rss+xml",
        "application/mathml+xml",
        "multipart/x-mixed-replace",
    }
)
ATTACHMENT = "attachment"


def media_disposition(key: str, *, bundle: bool = False) -> str:
    """``Content-Disposition`` for a ``media/`` object or (``bundle``) a page-bundle file:
    ``attachment`` for the active types above, "" (inline) otherwise."""
    content_type = media_content_type(key).split(";")[0].strip().lower()
    active = content_type in ACTIVE_MEDIA_TYPES or content_type.endswith("+xml")
    if not active:
        return ""
    if content_type == "image/svg+xml" and not bundle:
        return ""
    return ATTACHMENT


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


# --- page bundles ------------------------------------------------------------------------------


def bundle_folder(key: str) -> str | None:
    """The folder (``articles/a/b/``) whose page bundle ``key`` is the index file of, or None
    when ``key`` is not a bundle's index (the ``articles/`` folder itself holds no bundle)."""
    path = PurePosixPath(key)
    if path.name not in BUNDLE_INDEX_NAMES or len(path.parts) < 3:
        return None
    if path.parts[0] != ARTICLE_PREFIX:
        return None
    return f"{path.parent}/"


def slug_taken_message(slug: str, owner: str, key: str) -> str:
    """What the editor of ``key`` reads when ``owner`` already has ``slug``: which file, and a
    slug that names this file's folder too (``intro`` in two chapters: ``07-ethereum-intro``).
    The first file keeps its URL; a slug never moves to another article by itself."""
    folder = PurePosixPath(bundle_folder(key) or key).parent
    inside = folder.parts[1:]  # the folders below articles/
    suggestion = _suggest_slug(f"{inside[-1]}-{slug}") if inside else ""
    if not _is_safe_slug(suggestion) or suggestion == slug:
        suggestion = f"{slug[: MAX_SLUG_LENGTH - 2]}-2"
    return (
        f"slug {slug} is already used by {owner}: give this file a slug of its own in its "
        f"front matter, e.g. 'slug: {suggestion}'"
    )


def bundle_owners(key: str) -> list[tuple[str, str]]:
    """Where a non-Markdown file under ``articles/`` may belong: ``(index key, path inside the
    bundle)`` candidates, nearest first. Its own folder's ``index.md``, ``_index.md`` or
    ``README.md``; then ``index.md``/``README.md`` of each folder above (a branch bundle,
    ``_index.md``, owns only the files directly beside it, as in Hugo). The first candidate that
    exists is the owner."""
    parts = key.split("/")
    owners: list[tuple[str, str]] = []
    for level, depth in enumerate(range(len(parts) - 1, 1, -1)):
        if level >= MAX_BUNDLE_DEPTH:
            break
        folder = "/".join(parts[:depth])
        inside = "/".join(parts[depth:])
        names = BUNDLE_INDEX_NAMES if level == 0 else _LEAF_INDEX_NAMES
        owners += [(f"{folder}/{name}", inside) for name in names]
    return owners


def bundle_file_problem(inside: str) -> str | None:
    """Why a bundle file cannot be published at ``/articles/<slug>/<inside>`` (None: it can)."""
    parts = inside.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in inside:
        return "bundle file paths may not contain empty, '.' or '..' segments or '\\'"
    if any(unicodedata.category(c) == "Cc" for c in inside):
        return "bundle file paths may not contain control characters"
    if inside == "index.html":
        return "index.html beside an index.md would replace the article page: rename it"
    return None


def _jekyll_post(key: str) -> re.Match[str] | None:
    """``_posts/2023-05-01-title.md``: Jekyll's post names carry the date."""
    path = PurePosixPath(key)
    return _JEKYLL_POST.fullmatch(path.stem) if path.parent.name == "_posts" else None


def slug_for_key(key: str) -> str:
    """The slug a source gets when its front matter has no ``slug:``: from the file name stem
    (without the date of a Jekyll ``_posts/YYYY-MM-DD-title.md``), or for a page bundle's index
    file, from its folder's name.

    Raises ContentError when the name has nothing to make a slug from (e.g. ``"!!!.md"``).
    """
    path = PurePosixPath(key)
    folder = bundle_folder(key)
    post = _jekyll_post(key)
    name = path.parent.name if folder else post.group(2) if post else path.stem
    slug = _suggest_slug(name)
    if not _is_safe_slug(slug):
        what = f"folder name {name!r}" if folder else f"file name {path.name!r}"
        raise ContentError(
            f"cannot make a URL slug from the {what}: rename it or add a 'slug:' line to the "
            "front matter"
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


@dataclasses.dataclass(frozen=True, slots=True)
class _Split:
    front: str | None  # None: the file has no front matter
    body: str
    toml: bool = False
    first_line: int = 2  # line of the front matter's first line in the file


def _split(text: str) -> _Split:
    """Front matter (YAML between ``---`` lines, or TOML between ``+++``) and body. Blank lines
    before the opening line are allowed; a file that starts with anything else has none."""
    skipped = _LEADING_BLANK_LINES.match(text)
    start = skipped.end() if skipped else 0
    blank = text.count("\n", 0, start)
    first, _, rest = text[start:].partition("\n")
    fence = first.rstrip()
    if fence not in ("---", "+++"):
        return _Split(None, text)
    closing = _FENCE if fence == "---" else _TOML_FENCE
    end = closing.search(rest)
    if end is None:
        raise ContentError(f"front matter is not closed: add a line '{fence}' after it", blank + 1)
    return _Split(rest[: end.start()], rest[end.end() + 1 :], fence == "+++", blank + 2)


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


def _load_yaml(front: str, first_line: int = 2) -> Any:
    try:
        check_shape(front)  # no aliases, no deep nesting: refused before anything expands
        return yaml.load(front, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "syntax error"
        line = mark.line + first_line if mark is not None else None  # marks count from 0
        raise ContentError(f"front matter is not valid YAML: {what}", line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        if _LIBYAML:
            line = front.encode()[: exc.position].count(b"\n") + first_line
        else:
            line = front.count("\n", 0, exc.position) + first_line
        char = exc.character
        shown = repr(char) if isinstance(char, str) else f"U+{char:04X}"
        raise ContentError(
            f"front matter contains a character YAML does not allow ({shown})", line
        ) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise ContentError(f"front matter is not valid YAML: {exc}") from None


def _load_toml(front: str, first_line: int) -> dict[str, Any]:
    try:
        return tomllib.loads(front)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        line = int(found.group(1)) + first_line - 1 if found else None
        what = _TOML_LINE.split(str(exc))[0].strip()
        raise ContentError(f"front matter is not valid TOML: {what}", line) from None
    except (ValueError, RecursionError) as exc:
        raise ContentError(f"front matter is not valid TOML: {exc}") from None


def _key_lines(split: _Split) -> dict[str, int]:
    """The line of each top-level key (for messages)."""
    front = split.front or ""
    lines: dict[str, int] = {}
    matches = []
    if split.toml:
        table = _TOML_TABLE.search(front)
        top = front[: table.start()] if table else front  # keys below [table] are nested
        matches = [*_TOML_KEY.finditer(top), *_TOML_TABLE.finditer(front)]
    else:
        matches = list(_TOP_LEVEL_KEY.finditer(front))
    for match in matches:
        key = match.group(1).split(".")[0].strip().strip("'\"")
        lines.setdefault(key, front.count("\n", 0, match.start()) + split.first_line)
    return lines


# --- front matter fields ----------------------------------------------------------------------


def _spelling(key: str) -> str:
    return key.casefold().replace("-", "").replace("_", "")


_FIELD_OF = {
    _spelling(name): (field, rank)
    for field, names in FIELD_SPELLINGS.items()
    for rank, name in enumerate(names)
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    key: str  # as the editor wrote it
    value: Any
    line: int


class _FrontMatter:
    """The front matter's entries by field, and every problem found while reading them.

    Readers never raise: a wrong value becomes an error (and a neutral value), so that one
    upload reports all its problems at once."""

    def __init__(self, data: Mapping[Any, Any], lines: Mapping[str, int], default_line: int):
        self.fields: dict[str, list[tuple[int, _Entry]]] = {}
        self.extra: dict[str, Any] = {}
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.default_line = default_line
        unknown: list[_Entry] = []
        for raw_key, value in data.items():
            key = str(raw_key)
            entry = _Entry(key, value, lines.get(key, default_line))
            found = _FIELD_OF.get(_spelling(key))
            if found is not None and found[0] == "date" and isinstance(value, bool):
                found = ("draft", 1)  # Jekyll's "published: false" is a draft
                entry = dataclasses.replace(entry, value=not value)
            if found is None:
                unknown.append(entry)
            else:
                self.fields.setdefault(found[0], []).append((found[1], entry))
        for entries in self.fields.values():
            entries.sort(key=lambda ranked: ranked[0])
        for entry in unknown:
            self.keep(entry)
            self.warn(
                entry.line,
                f"unknown front matter field {entry.key!r}: not used by the site, kept as "
                f"article.extra[{entry.key!r}] for templates",
            )

    def error(self, line: int | None, message: str) -> None:
        self.errors.append(Problem(message, line))

    def warn(self, line: int | None, message: str) -> None:
        self.warnings.append(Problem(message, line))

    def keep(self, entry: _Entry) -> None:
        """Keep a value the site does not use in ``extra`` (as JSON, within MAX_EXTRA_BYTES)."""
        value = _plain(entry.value)
        self.extra[entry.key] = value
        size = len(json.dumps(self.extra, ensure_ascii=False))
        if size > MAX_EXTRA_BYTES:
            del self.extra[entry.key]
            self.warn(
                entry.line,
                f"front matter field {entry.key!r} is not kept: the fields the site does not "
                f"use may take {MAX_EXTRA_BYTES:,} bytes together",
            )

    def all(self, field: str) -> list[_Entry]:
        return [entry for _, entry in self.fields.get(field, [])]

    def one(self, field: str) -> _Entry | None:
        """The strongest spelling of ``field``; the others are reported and kept in extra."""
        entries = self.all(field)
        if not entries:
            return None
        if field not in _COMBINED:
            for other in entries[1:]:
                self.keep(other)
                self.warn(
                    other.line,
                    f"{other.key!r} is not used: {entries[0].key!r} (line {entries[0].line}) "
                    f"already gives the {field}; it is kept in article.extra",
                )
        return entries[0]

    def text(self, entry: _Entry | None) -> str:
        if entry is None or entry.value is None:
            return ""
        value = entry.value
        if isinstance(value, bool) or not isinstance(value, str | int | float | dt.date):
            self.error(entry.line, f"{entry.key} must be text, not {_describe(value)}")
            return ""
        return " ".join(str(value).split())


def _plain(value: Any, depth: int = 0) -> Any:
    """A YAML/TOML value as JSON: dates as ISO text, keys as text, sets as lists."""
    if depth > 8:
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _timezone(settings: SiteSettings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" is a directory
        raise ContentError(
            f"site.yaml names an unknown timezone {settings.timezone!r}: fix site.yaml"
        ) from None


def _date_text(text: str) -> tuple[dt.datetime, bool] | None:
    """(datetime, date only) from ISO 8601 (and Jekyll's ``2016-03-18 12:00:00 -0500``),
    ``2024/05/01`` or RFC 2822; None when it is none of these."""
    text = text.strip()
    day = _DAY.fullmatch(text)
    if day:
        text = text.replace("/", "-")
    loose = None if day else _LOOSE_DAY.fullmatch(text)
    if loose:
        year, _, month, mday = loose.groups()
        try:
            return dt.datetime(int(year), int(month), int(mday)), True
        except ValueError:
            return None
    try:
        return dt.datetime.fromisoformat(text), day is not None
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text), False
    except (TypeError, ValueError, IndexError):
        return None


def _read_date(
    fm: _FrontMatter, entry: _Entry, settings: SiteSettings
) -> tuple[dt.datetime, bool] | None:
    """(UTC datetime, date only) of a date field, or None (an error is recorded)."""
    value = entry.value
    date_only = False
    if isinstance(value, str):
        read = _date_text(value)
        if read is None:
            fm.error(
                entry.line,
                f"cannot read {entry.key} {value!r}: write it like 2024-05-01 or "
                "2024-05-01 14:30 (or with an offset, 2024-05-01T14:30:00+08:00)",
            )
            return None
        value, date_only = read
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value, date_only = dt.datetime.combine(value, dt.time()), True
    if not isinstance(value, dt.datetime):
        fm.error(entry.line, f"{entry.key} must be a date like 2024-05-01, not {_describe(value)}")
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_timezone(settings))
    if not 1900 <= value.year <= 9998:
        fm.error(entry.line, f"{entry.key} {value.year} is out of range (1900-9998)")
        return None
    return value.astimezone(dt.UTC), date_only


def _names(fm: _FrontMatter, entry: _Entry) -> list[str]:
    """Author names from text, a list, or mappings with a ``name`` (Docusaurus)."""
    items = entry.value if isinstance(entry.value, list) else [entry.value]
    names: list[str] = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("name")
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            fm.error(
                entry.line,
                f"{entry.key} must be a name, a list of names, or mappings with a 'name', "
                f"not {_describe(item)}",
            )
            return []
        name = " ".join(str(item).split())
        if name:
            names.append(name)
    return names


def _authors(fm: _FrontMatter) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for entry in fm.all("author"):
        for name in _names(fm, entry):
            names.setdefault(name, None)
    found = list(names)
    if len(found) > MAX_AUTHORS:
        fm.warn(fm.all("author")[0].line, f"only the first {MAX_AUTHORS} authors are shown")
        found = found[:MAX_AUTHORS]
    return tuple(found)


def _text_list(fm: _FrontMatter, entry: _Entry, label: str = "name") -> list[tuple[int, str]]:
    """(position, text) of a list field: a list, or one comma-separated string. Items may be
    text, numbers, or Docusaurus-style mappings with a ``label``/``name``."""
    raw = entry.value
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()] if "," in raw else [raw]
    if not isinstance(raw, list):
        fm.error(
            entry.line,
            f"{entry.key} must be a list, e.g. {entry.key}: [bitcoin, etf], not {_describe(raw)}",
        )
        return []
    items: list[tuple[int, str]] = []
    # "tag 2 is empty", "category 2 ...": the key in the singular.
    one = entry.key[:-3] + "y" if entry.key.endswith("ies") else entry.key.removesuffix("s")
    for position, item in enumerate(raw, start=1):
        if isinstance(item, dict):
            item = item.get("label", item.get(label))
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            fm.error(entry.line, f"{one} {position} must be text, not {_describe(item)}")
            continue
        text = " ".join(str(item).split())
        if not text:
            fm.error(entry.line, f"{one} {position} is empty")
            continue
        items.append((position, text))
    return items


def _category(fm: _FrontMatter, settings: SiteSettings) -> tuple[str, list[str]]:
    """(category key, further Jekyll ``categories`` to use as tags)."""
    chosen: _Entry | None = None
    text = ""
    more: list[str] = []
    for entry in fm.all("category"):
        if _spelling(entry.key) == "categories":
            names = [name for _, name in _text_list(fm, entry)]
            if not text and names:
                chosen, text = entry, names.pop(0)
            more += names
        elif not text:
            text = fm.text(entry)
            chosen = entry if text else None
    if chosen is None or not text:
        return "", more
    key = settings.find_category(text)
    if key is not None:
        return key, more
    key = category_key(text)
    if not key:
        fm.error(chosen.line, f"category {text!r} has no letters or digits to make a URL from")
        return "", more
    configured = ", ".join(c.key for c in settings.categories)
    fm.warn(
        chosen.line,
        f"category {text!r} is not one of site.yaml's categories ({configured}): the article is "
        f"published under /category/{key}/, which the navigation does not link; add "
        f"'- {key}: {text}' to the categories in site.yaml to list it there",
    )
    return key, more


def _tags(fm: _FrontMatter, more: list[str]) -> tuple[str, ...]:
    tags: dict[str, str] = {}  # tag key -> first spelling
    entry = fm.one("tags")
    if entry is not None:
        for _, tag in _text_list(fm, entry):
            if len(tag) > MAX_TAG_LENGTH:
                fm.error(entry.line, f"tag {tag!r} is longer than {MAX_TAG_LENGTH} characters")
                continue
            tags.setdefault(tag_key(tag), tag)
        if len(tags) > MAX_TAGS:
            fm.error(entry.line, f"too many tags ({len(tags)}): at most {MAX_TAGS}")
    extra = [t for t in more if tag_key(t) not in tags and len(t) <= MAX_TAG_LENGTH]
    room = max(MAX_TAGS - len(tags), 0)
    for tag in extra[:room]:
        tags.setdefault(tag_key(tag), tag)
    if len(extra) > room:
        line = fm.all("category")[-1].line
        left = ", ".join(extra[room:])
        fm.warn(line, f"categories not used as tags (at most {MAX_TAGS} tags): {left}")
    return tuple(tags.values())


def _keywords(fm: _FrontMatter) -> None:
    """Keywords (Hugo, Docusaurus) as a list in ``extra`` (for meta keywords and JSON-LD)."""
    entry = fm.one("keywords")
    keywords = [] if entry is None else [text for _, text in _text_list(fm, entry)]
    if entry is not None and keywords:
        fm.keep(dataclasses.replace(entry, key="keywords", value=keywords))


def _explicit_slug(fm: _FrontMatter) -> str | None:
    entry = fm.one("slug")
    if entry is None or entry.value is None:
        return None
    raw = fm.text(entry)
    # Docusaurus writes slugs as paths ("/send-token"): one segment between slashes is a slug.
    slug = unicodedata.normalize("NFKC", raw).strip().strip("/")
    if _is_safe_slug(slug.lower()) and slug != slug.lower():
        # Hugo lowercases URLs too ("hugo_convert_toJSON" -> /hugo_convert_tojson/).
        fm.warn(entry.line, f"slug {raw!r} is published as {slug.lower()!r}: URLs are lowercase")
        return slug.lower()
    if _is_safe_slug(slug):
        return slug
    suggestion = _suggest_slug(raw)
    hint = f" (for example {suggestion!r})" if suggestion else ""
    fm.error(
        entry.line,
        f"slug {raw!r} is not allowed: use only letters a-z, digits, '_', CJK "
        f"characters and single hyphens between them, at most {MAX_SLUG_LENGTH} characters; "
        f"no '/', '..' or spaces{hint}",
    )
    return ""


def _language(fm: _FrontMatter) -> str:
    entry = fm.one("lang")
    raw = fm.text(entry)
    if not raw or entry is None:
        return ""
    tag = normalise_language(raw)
    if tag is None:
        fm.error(entry.line, f"{entry.key} {raw!r} is not a language tag like en, zh or zh-CN")
        return ""
    return tag


def _translation_key(fm: _FrontMatter) -> str:
    entry = fm.one("translationKey")
    key = fm.text(entry)
    if key and entry is not None and len(key) > MAX_TRANSLATION_KEY_LENGTH:
        fm.error(
            entry.line, f"translationKey is longer than {MAX_TRANSLATION_KEY_LENGTH} characters"
        )
        return ""
    return key


def _draft(fm: _FrontMatter) -> bool:
    entry = fm.one("draft")
    if entry is None or entry.value is None:
        return False
    value = entry.value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        value = value.strip().lower() in ("true", "yes")
    if not isinstance(value, bool):
        fm.error(entry.line, f"{entry.key} must be true or false, not {value!r}")
        return False
    return value


def _is_site_path(path: str) -> bool:
    return (
        path.startswith("/")
        and not path.startswith("//")  # "//host/x" is another site
        and ".." not in path
        and "\\" not in path
        and not any(c.isspace() or unicodedata.category(c) == "Cc" for c in path)
    )


def _aliases(fm: _FrontMatter) -> tuple[str, ...]:
    entry = fm.one("aliases")
    if entry is None or entry.value is None:
        return ()
    raw = [entry.value] if isinstance(entry.value, str) else entry.value
    if not isinstance(raw, list):
        fm.error(entry.line, "aliases must be a list of site paths, e.g. [/old/path/]")
        return ()
    if len(raw) > MAX_ALIASES:
        fm.error(entry.line, f"at most {MAX_ALIASES} aliases, not {len(raw):,}")
        return ()
    long = next((i for i in raw if isinstance(i, str) and len(i) > MAX_ALIAS_LENGTH), None)
    if long is not None:
        fm.error(entry.line, f"alias {_cut(long)!r} is longer than {MAX_ALIAS_LENGTH} characters")
        return ()
    aliases: dict[str, None] = {}
    for item in raw:
        if not isinstance(item, str) or not _is_site_path(item.strip()):
            fm.error(
                entry.line,
                f"alias {item!r} must be a path on this site starting with '/', "
                "without '..', '\\\\', spaces, or a host",
            )
            continue
        aliases[item.strip()] = None
    return tuple(aliases)


def _cover(fm: _FrontMatter, slug: str, in_bundle: bool) -> str:
    entry = fm.one("cover")
    if entry is None or entry.value is None:
        return ""
    value = entry.value
    if isinstance(value, list):  # Hugo's images: [...]: the first one
        value = value[0] if value else ""
    if isinstance(value, dict):  # cover: {image: x.png, alt: ...} (Hugo themes)
        value = value.get("image", value.get("src", value.get("url", "")))
    cover = fm.text(dataclasses.replace(entry, value=value))
    if not cover or _HTTP_URL.fullmatch(cover) or _is_site_path(cover):
        return cover
    inside = cover.removeprefix("./")
    if ":" in inside.split("/")[0] or cover.startswith(("/", "\\")) or bundle_file_problem(inside):
        fm.error(
            entry.line,
            f"{entry.key} {cover!r} must be a site path (/media/...), an http(s) URL, or a "
            "path inside the article's folder (img/cover.png)",
        )
        return ""
    if not in_bundle:
        fm.keep(entry)
        fm.warn(
            entry.line,
            f"{entry.key} {cover!r} is relative, which only works for a page bundle (an "
            "index.md in its own folder, with the image beside it); use /media/... instead",
        )
        return ""
    return f"{article_path(slug)}{inside}"


def _heading_title(text: str) -> str:
    text = _HEADING_ID.sub("", text)  # "## Title {#anchor}"
    text = _INLINE_LINK.sub(r"\1", text)
    for mark in ("**", "__", "`"):
        text = text.replace(mark, "")
    return " ".join(text.split())


def _first_heading(body: str, first_line: int) -> tuple[str, int, bool] | None:
    """(title, line in the file, whether it opens the body) of the first ATX heading."""
    prose = _without_code(body)
    for match in _ATX_HEADING.finditer(prose):
        title = _heading_title(match.group(2))
        if title:
            opens = not prose[: match.start()].strip()
            return title, first_line + prose.count("\n", 0, match.start()), opens
    return None


def _without_line(body: str, line: int) -> str:
    """``body`` with its 0-based line ``line`` blanked (line numbers stay the same)."""
    lines = body.split("\n")
    lines[line] = ""
    return "\n".join(lines)


def _without_code(body: str) -> str:
    """The body with fenced code lines blanked (so a "# comment" in code is not a heading)."""
    if "```" not in body and "~~~" not in body:
        return body
    lines = body.split("\n")
    fence = ""
    for number, line in enumerate(lines):
        opening = _CODE_FENCE.match(line)
        if fence:
            if opening and opening.group(1).startswith(fence) and not line[opening.end() :].strip():
                fence = ""
            lines[number] = ""
        elif opening and not (opening.group(1)[0] == "`" and "`" in line[opening.end() :]):
            fence = opening.group(1)
            lines[number] = ""
    return "\n".join(lines)


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
    """Validate and parse the source at ``key``. Raises ContentError with every problem found;
    what does not stop publishing comes back as ``ParsedArticle.warnings``."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    text = _decode(data)
    split = _split(text)
    loaded: Any = {}
    if split.front is not None:
        load = _load_toml if split.toml else _load_yaml
        loaded = load(split.front, split.first_line)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ContentError(
                f"front matter must be 'key: value' lines, not {_describe(loaded)}",
                split.first_line,
            )
    fm = _FrontMatter(loaded, _key_lines(split), 1)
    body_text = split.body
    body_line = text.count("\n") - body_text.count("\n") + 1

    title_entry = fm.one("title")
    known_errors = len(fm.errors)
    title = fm.text(title_entry)
    if not title and len(fm.errors) == known_errors:  # missing or blank, not of a wrong type
        heading = _first_heading(body_text, body_line)
        if heading is not None:
            title, line, opens = heading
            if split.front is None:
                fm.warn(
                    line,
                    "no front matter: the title is this heading and the date the first "
                    "publication; add '---' lines with title:, date: ... to set them",
                )
            if opens:  # shown as the page's title already
                body_text = _without_line(body_text, line - body_line)
        elif split.front is None:
            fm.error(
                1,
                "no front matter: the file must start with a line '---', then 'title: ...' and "
                "the other fields, then another '---' line before the article text (or at "
                "least start the text with a '# heading' to take the title from)",
            )
        else:
            fm.error(
                title_entry.line if title_entry else 1,
                "the front matter needs a non-empty 'title:' (or the text a '# heading')",
            )

    date_entry = fm.one("date")
    post = _jekyll_post(key)
    if (date_entry is None or not date_entry.value) and post:  # Jekyll: the name's date
        date_entry = _Entry("file name", post.group(1), 1)
    dated = _read_date(fm, date_entry, settings) if date_entry and date_entry.value else None
    date, date_only = dated if dated else (now, False)
    updated_entry = fm.one("updated")
    changed = (
        _read_date(fm, updated_entry, settings) if updated_entry and updated_entry.value else None
    )
    draft = _draft(fm)
    status: Status = "draft" if draft else "scheduled" if date > now else "live"
    category, more_tags = _category(fm, settings)
    tags = _tags(fm, more_tags)
    _keywords(fm)
    language = _language(fm)
    translation_key = _translation_key(fm)
    slug = _explicit_slug(fm)
    derived = ""
    try:
        derived = slug_for_key(key)
    except ContentError as exc:
        if slug is None:
            fm.error(exc.line, exc.message)
    if slug is None:
        slug = derived
        site_language = normalise_language(settings.language) or settings.language
        if slug and language and language.lower() != site_language.lower():
            # Translations in parallel folders would otherwise claim one slug.
            suffix = f"-{language.lower()}"
            slug = slug[: MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix
    if language and not translation_key:
        translation_key = derived
    aliases = _aliases(fm)
    cover = _cover(fm, slug, bundle_folder(key) is not None)
    authors = _authors(fm)
    summary = fm.text(fm.one("summary"))
    _check_lengths(fm, title_entry, title, summary, authors, cover)

    body: RenderedBody | None = None
    try:
        body = _render_body(body_text, settings)
    except ContentError as exc:
        fm.error(exc.line, exc.message)
    if fm.errors or body is None:
        errors = sorted(fm.errors, key=_by_line)
        raise ContentError(
            errors[0].message,
            errors[0].line,
            problems=errors,
            warnings=sorted(fm.warnings, key=_by_line),
        )
    words, cjk = _counts(body.text)
    article = Article(
        slug=slug,
        title=title,
        date=date,
        source_key=key,
        content_hash=hashlib.sha256(data).hexdigest(),
        author=", ".join(authors),
        category=category,
        tags=tags,
        summary=summary or summarize(body.lead or body.text),
        cover=cover,
        aliases=aliases,
        reading_minutes=_minutes(words, cjk),
        word_count=words + cjk,
        status=status,
        updated=changed[0] if changed else None,
        authors=authors if len(authors) > 1 else (),
        language=language,
        translation_key=translation_key,
        date_only=date_only,
        updated_date_only=changed[1] if changed else False,
        extra=fm.extra,
    )
    return ParsedArticle(
        article=article, body=body, warnings=tuple(sorted(fm.warnings, key=_by_line))
    )


def _cut(text: str, limit: int = 60) -> str:
    """The start of a long value, to quote in a message."""
    return text if len(text) <= limit else text[:limit] + "…"


def _check_lengths(
    fm: _FrontMatter,
    title_entry: _Entry | None,
    title: str,
    summary: str,
    authors: tuple[str, ...],
    cover: str,
) -> None:
    """Field sizes (see MAX_TITLE_LENGTH...): over them is the upload's error."""
    line = title_entry.line if title_entry else 1
    if len(title) > MAX_TITLE_LENGTH:
        fm.error(line, f"title is {len(title):,} characters long: at most {MAX_TITLE_LENGTH}")
    entry = fm.one("summary")
    if len(summary) > MAX_SUMMARY_LENGTH:
        fm.error(
            entry.line if entry else None,
            f"summary is {len(summary):,} characters long: at most {MAX_SUMMARY_LENGTH}",
        )
    for name in authors:
        if len(name) > MAX_AUTHOR_LENGTH:
            entries = fm.all("author")
            fm.error(
                entries[0].line if entries else None,
                f"author {_cut(name)!r} is longer than {MAX_AUTHOR_LENGTH} characters",
            )
            break
    if len(cover) > MAX_COVER_LENGTH:
        entry = fm.one("cover")
        fm.error(
            entry.line if entry else None,
            f"cover is longer than {MAX_COVER_LENGTH} characters",
        )


def _by_line(problem: Problem) -> tuple[int, int]:
    return (0, problem.line) if problem.line is not None else (1, 0)
