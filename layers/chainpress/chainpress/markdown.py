"""Markdown -> safe HTML, plus the plain text and headings the rest of the site needs.

CommonMark with tables, strikethrough, footnotes and heading ids (``markdown-it-py``; ids as
mdit-py-plugins' anchors_plugin makes them, CJK kept, by a linear-time rule of our own). Raw HTML
is allowed in the source, so the rendered HTML always goes through ``nh3`` with an allow-list
that matches what the Markdown renderer itself produces (heading ids, ``language-*`` classes on
code, footnote markup, table alignment). After sanitising, absolute links to other hosts get
``rel="noopener noreferrer"`` and images get ``loading="lazy" decoding="async"``.

The parser and the sanitiser are built once, at import: building them per call would cost more
than rendering a typical article.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin
from slugify import slugify

EXTERNAL_REL = "noopener noreferrer"


@dataclasses.dataclass(frozen=True, slots=True)
class Heading:
    level: int  # 1..6
    id: str  # the element id (anchor target), e.g. "比特币-etf"
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class RenderedBody:
    html: str  # sanitised HTML fragment
    # Prose as plain text, one block (paragraph, heading, list item, table cell) per line;
    # code blocks and raw HTML blocks are left out so they do not count as words.
    text: str
    headings: tuple[Heading, ...] = ()
    # Paragraph text only (no headings, tables or footnotes): what a summary is cut from.
    lead: str = ""


def _heading_id(title: str) -> str:
    # python-slugify keeps CJK (allow_unicode) and normalises width (NFKC). A heading with no
    # letters still needs an id.
    return slugify(title, allow_unicode=True) or "section"


_ID_TEXT = ("text", "code_inline")  # the inline parts a heading id is made from


def _heading_ids(state: StateCore) -> None:
    """Give every heading a unique id ("x", "x-1", "x-2", ...).

    Same ids as mdit-py-plugins' anchors_plugin, whose de-duplication restarts from "-1" for
    every repeat (quadratic: 10,000 identical headings took 61 s against 2.7 s here); this one
    remembers the last suffix used for each base.
    """
    taken: set[str] = set()
    last_suffix: dict[str, int] = {}
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        children = tokens[index + 1].children or ()
        base = _heading_id("".join(c.content for c in children if c.type in _ID_TEXT))
        slug, suffix = base, last_suffix.get(base, 0)
        while slug in taken:
            suffix += 1
            slug = f"{base}-{suffix}"
        last_suffix[base] = suffix
        taken.add(slug)
        token.attrSet("id", slug)


# Link destinations that markdown-it's normaliser (parse, punycode, percent-encode, format) would
# return unchanged: plain ASCII http(s) URLs with a simple host, and scheme-less relative URLs.
# Skipping the normaliser for them saves about a tenth of the parse time of a news article.
_URL_PATH = r"(?:[A-Za-z0-9\-._~/?#!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*"
_PLAIN_URL = re.compile(
    r"(?:https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?=[/?#]|$)"
    r"|(?![A-Za-z][A-Za-z0-9+.-]*:)(?!//))" + _URL_PATH
)


class _MarkdownIt(MarkdownIt):
    def normalizeLink(self, url: str) -> str:  # markdown-it's own name
        if _PLAIN_URL.fullmatch(url):
            return url
        return super().normalizeLink(url)


_MD = (
    _MarkdownIt("commonmark", {"html": True})
    .enable(["table", "strikethrough"])
    .use(footnote_plugin)
)
_MD.core.ruler.push("heading_ids", _heading_ids)

_HEADINGS = {f"h{n}" for n in range(1, 7)}
_TAGS = _HEADINGS | {
    "p", "br", "hr", "em", "strong", "b", "i", "u", "s", "del", "ins", "sub", "sup", "small",
    "mark", "kbd", "abbr", "cite", "q", "code", "pre", "blockquote", "a", "img", "ul", "ol", "li",
    "dl", "dt", "dd", "table", "caption", "thead", "tbody", "tr", "th", "td", "section", "div",
    "span", "figure", "figcaption", "details", "summary",
}  # fmt: skip
_ATTRIBUTES: dict[str, set[str]] = {
    **{h: {"id"} for h in _HEADINGS},
    "a": {"href", "title", "id", "class"},
    "img": {"src", "alt", "title", "width", "height"},
    "li": {"id", "class"},
    "sup": {"id", "class"},
    "section": {"class"},
    "hr": {"class"},
    "ol": {"start", "class"},
    "code": {"class"},
    "th": {"style", "colspan", "rowspan"},
    "td": {"style", "colspan", "rowspan"},
    "abbr": {"title"},
    "q": {"cite"},
    "blockquote": {"cite"},
    "details": {"open"},
}
# Classes the Markdown renderer emits (footnotes); code blocks add "language-<info>".
_CLASSES: dict[str, frozenset[str]] = {
    "a": frozenset({"footnote-backref"}),
    "li": frozenset({"footnote-item"}),
    "sup": frozenset({"footnote-ref"}),
    "section": frozenset({"footnotes"}),
    "hr": frozenset({"footnotes-sep"}),
    "ol": frozenset({"footnotes-list"}),
}
_LANGUAGE_CLASS = re.compile(r"language-[\w+#.-]{1,40}")


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # Called by nh3 for every allowed attribute; it must never raise (nh3 would only report it).
    if attribute != "class":
        return value
    allowed = _CLASSES.get(tag, frozenset())
    kept = [
        name
        for name in value.split()
        if name in allowed or (tag == "code" and _LANGUAGE_CLASS.fullmatch(name))
    ]
    return " ".join(kept) or None


# These go with their content: a stripped <script> must not leave its code behind as text.
_DROPPED_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "noscript", "noembed",
    "template", "textarea", "select", "svg", "math",
})  # fmt: skip

_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=_DROPPED_WITH_CONTENT,
    attributes=_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    link_rel=None,  # rel is added below, to external links only
    url_schemes={"http", "https", "mailto", "tel", "bitcoin"},
    filter_style_properties={"text-align"},
    set_tag_attribute_values={"img": {"loading": "lazy", "decoding": "async"}},
)

# nh3 serialises canonically (attribute values always double-quoted, with '"', '<' and '>'
# escaped), so an opening <a> tag and its href can be matched exactly on its output.
_A_OPEN = re.compile(r"<a\b([^>]*)>")
_HREF = re.compile(r'\shref="([^"]*)"')
_URL_STRIP = "".join(chr(c) for c in range(0x21))  # C0 controls and space
_URL_CLEANUP = str.maketrans({"\t": None, "\n": None, "\r": None, "\\": "/"})
_ABSOLUTE = ("http://", "https://", "//")


def _is_external(href: str, site_host: str) -> bool:
    try:
        parts = urlsplit(href)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. a malformed IPv6 host: not a link we can call internal
        return True
    if parts.scheme.lower() not in ("http", "https", ""):
        return False
    return bool(host) and host != site_host


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # a malformed base URL in site.yaml: every absolute link is external
        return ""


def _mark_external_links(fragment: str, site_host: str) -> str:
    def add_rel(match: re.Match[str]) -> str:
        found = _HREF.search(match.group(1))
        # Read the URL the way a browser does (WHATWG): leading controls and spaces ignored,
        # tabs and newlines dropped anywhere, "\\" taken as "/" (so "/\\host" is another host).
        href = html.unescape(found.group(1)).lstrip(_URL_STRIP) if found else ""
        if any(char in href for char in "\t\n\r\\"):  # rare: translate is slow
            href = href.translate(_URL_CLEANUP)
        # Cheap prefix test first: most links in an article are relative or #fragments.
        if not href[:8].lower().startswith(_ABSOLUTE) or not _is_external(href, site_host):
            return match.group(0)
        return f'<a{match.group(1)} rel="{EXTERNAL_REL}">'

    return _A_OPEN.sub(add_rel, fragment)


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _extract(tokens: Sequence[Token]) -> tuple[str, str, tuple[Heading, ...]]:
    """Plain text, lead paragraphs and headings, read from the token stream (no second parse)."""
    blocks: list[str] = []
    lead: list[str] = []
    headings: list[Heading] = []
    in_footnotes = 0
    for index, token in enumerate(tokens):
        if token.type == "footnote_block_open":
            in_footnotes += 1
        elif token.type == "footnote_block_close":
            in_footnotes -= 1
        if token.type != "inline":
            continue
        text = _inline_text(token)
        if not text:
            continue
        blocks.append(text)
        opener = tokens[index - 1] if index else None
        if opener is None:
            continue
        if opener.type == "heading_open":
            headings.append(Heading(int(opener.tag[1]), str(opener.attrGet("id") or ""), text))
        elif opener.type == "paragraph_open" and not in_footnotes:
            lead.append(text)
    return "\n".join(blocks), " ".join(lead), tuple(headings)


def render_markdown(text: str, *, site_url: str = "") -> RenderedBody:
    """Render Markdown to sanitised HTML, with its plain text and headings.

    ``site_url`` (e.g. ``https://news.example``) names the site's own host: absolute links to it
    are not external. Without it, every absolute http(s) link counts as external.
    """
    env: dict[str, object] = {}
    tokens = _MD.parse(text, env)
    raw = _MD.renderer.render(tokens, _MD.options, env)
    safe = _mark_external_links(_CLEANER.clean(raw), _host(site_url))
    plain, lead, headings = _extract(tokens)
    return RenderedBody(html=safe, text=plain, headings=headings, lead=lead)
