"""Markdown -> safe HTML, plus the plain text, headings and lead the rest of the site needs.

The engine is GitHub's cmark-gfm (``cmarkgfm``, compiled), with the GitHub extensions on:
tables, strikethrough, autolinks (bare ``www.`` and ``https://`` URLs are linked), tagfilter,
task lists (disabled checkboxes) and footnotes, so editors get what GitHub shows for the same
file. On top of it:

- **Headings get ids** (python-slugify with CJK kept; unique with "-1", "-2", ... suffixes, in
  linear time), or the id the writer gave: ``## Introduction {#intro}`` (Hugo, kramdown and
  Docusaurus syntax) gives ``<h2 id="intro">Introduction</h2>``.
- **Raw HTML is allowed, and nothing typed as text is lost.** cmark renders in its safe mode,
  where every raw HTML node becomes the same placeholder, so the HTML around them is cmark's own
  and regular: block structure, text and headings are read from it exactly, in one regex pass
  (visiting the tree node by node through cffi costs more than that whole pass; the tests check
  both give the same blocks on the spec examples). Each raw HTML node's source (from cmark's XML
  of the same tree) is then filtered, token by token: an allowed tag is kept as typed, a complete
  comment goes, and anything else that starts with "<" (script, textarea, select, svg, an
  unterminated tag or comment ...) is escaped, so it shows as text and can never switch the HTML
  parser into a mode that swallows what follows. An HTML block that would run to the end of the
  document because its end marker is missing (``<!--``, ``<script>``, ``<?`` ...) has its "<"
  escaped in the source, and the document is parsed again.
- The result always goes through ``nh3`` with an allow-list matching what the renderer emits
  (heading ids, ``language-*`` classes on code, cmark-gfm's footnote markup, table alignment,
  task-list checkboxes) and attribute values checked for validity (``width="100%"`` goes). Link
  schemes: http, https, mailto and the site's ``link_schemes``. Then absolute links to other hosts
  get ``rel="noopener noreferrer"`` and images ``loading="lazy" decoding="async"``.

cmark is called through ``cmarkgfm``'s compiled cffi module, plus three functions it does not
declare (see ``_Cmark``; its own helpers leak every document they render), loaded on the first
call.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import nh3
from slugify import slugify

from chainpress.settings import DEFAULT_LINK_SCHEMES, FORBIDDEN_LINK_SCHEMES

EXTERNAL_REL = "noopener noreferrer"
ALWAYS_ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# Limits far beyond any real article. cmark is linear on every input we tried, but html5ever
# (nh3's parser) takes time quadratic in how deeply elements nest (20,000 levels of ">": 3.4 s),
# and a source can make HTML many times its size (a 1 MiB file of "[^a]" makes 72 MB).
MAX_NESTING = 1000
MAX_HTML_CHARS = 8 * 1024 * 1024


class MarkdownLimitError(ValueError):
    """The body is far beyond any real article in nesting depth or in the HTML it makes; the
    message says which, for the editor."""


@dataclasses.dataclass(frozen=True, slots=True)
class Heading:
    level: int  # 1..6
    id: str  # the element id (anchor target), e.g. "比特币-etf"
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class RenderedBody:
    html: str  # sanitised HTML fragment
    # Prose as plain text, one block (paragraph, heading, list item, table cell) per line;
    # code blocks and raw HTML are left out so they do not count as words.
    text: str
    headings: tuple[Heading, ...] = ()
    # The paragraphs outside lists, tables and footnotes, each ending as a sentence, so a summary
    # cut from it at a sentence end never runs one block into the next.
    lead: str = ""


# --- cmark-gfm ---------------------------------------------------------------------------------

_EXTENSIONS = (b"table", b"strikethrough", b"autolink", b"tagfilter", b"tasklist")
# cmark-gfm.h option bits (stable across cmark-gfm releases).
_OPT_SOURCEPOS = 1 << 1
_OPT_FOOTNOTES = 1 << 13
_OPT_TABLE_PREFER_STYLE_ATTRIBUTES = 1 << 15  # style="text-align: ...", not obsolete align=
_RAW_PLACEHOLDER = "<!-- raw HTML omitted -->"  # what safe mode renders for each raw HTML node


class _Cmark:
    """cmark-gfm, each result freed after use.

    Most calls go through cmarkgfm's compiled cffi module. cmarkgfm declares neither
    ``cmark_node_free`` nor a way to free a rendered string (its own helpers leak both), nor
    ``cmark_render_xml``: those three come from the same loaded library through ctypes (cffi's
    ``cdef`` would need pycparser, 0.3 s on the first render).
    """

    def __init__(self) -> None:
        import ctypes

        from cmarkgfm import _cmark  # loads cmark-gfm and its extensions

        self.ffi, self.lib = _cmark.ffi, _cmark.lib
        self.lib.cmark_gfm_core_extensions_ensure_registered()
        self.extensions = [self.lib.cmark_find_syntax_extension(n) for n in _EXTENSIONS]
        if any(ext == self.ffi.NULL for ext in self.extensions):
            raise RuntimeError("cmark-gfm lacks one of the GitHub extensions")

        class Allocator(ctypes.Structure):  # cmark_mem
            _fields_ = [
                ("calloc", ctypes.c_void_p),
                ("realloc", ctypes.c_void_p),
                ("free", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
            ]

        library = ctypes.CDLL(_cmark.__file__)  # already loaded: this only binds names
        allocator = library.cmark_get_default_mem_allocator
        allocator.restype = ctypes.POINTER(Allocator)
        self.free = allocator().contents.free
        self.node_free = library.cmark_node_free
        self.node_free.argtypes, self.node_free.restype = [ctypes.c_void_p], None
        self.render_xml = library.cmark_render_xml
        self.render_xml.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.render_xml.restype = ctypes.c_void_p  # a char * to free, not a Python bytes
        self.string_at = ctypes.string_at

    def _address(self, pointer: Any) -> int:
        return int(self.ffi.cast("uintptr_t", pointer))

    def render(self, source: str, *, xml: bool) -> tuple[str, str]:
        """(HTML in safe mode, and the XML of the same tree with source positions if ``xml``)."""
        lib = self.lib
        data = source.encode("utf-8", "replace")
        parser = lib.cmark_parser_new(_OPT_FOOTNOTES)
        root = 0
        try:
            for extension in self.extensions:
                lib.cmark_parser_attach_syntax_extension(parser, extension)
            lib.cmark_parser_feed(parser, data, len(data))
            node = lib.cmark_parser_finish(parser)
            root = self._address(node)
            tree = ""
            if xml:
                rendered = self.render_xml(root, _OPT_SOURCEPOS)
                try:
                    tree = self.string_at(rendered).decode("utf-8")
                finally:
                    self.free(rendered)
            extensions = lib.cmark_parser_get_syntax_extensions(parser)
            rendered = lib.cmark_render_html(node, _OPT_TABLE_PREFER_STYLE_ATTRIBUTES, extensions)
            try:
                page = self.ffi.string(rendered).decode("utf-8")
            finally:
                self.free(self._address(rendered))
            return page, tree
        finally:
            if root:
                self.node_free(root)
            lib.cmark_parser_free(parser)


@functools.cache
def _cmark() -> _Cmark:
    return _Cmark()


# --- raw HTML ---------------------------------------------------------------------------------

_HEADINGS = {f"h{n}" for n in range(1, 7)}
# Tags a writer may type. Nothing here switches the HTML parser into a mode that takes the text
# after it as something else (script, style, textarea, title, select, template, svg, math ...).
_RAW_TAGS = _HEADINGS | {
    "p", "br", "hr", "em", "strong", "b", "i", "u", "s", "del", "ins", "sub", "sup", "small",
    "mark", "kbd", "abbr", "cite", "q", "code", "pre", "blockquote", "a", "img", "ul", "ol", "li",
    "dl", "dt", "dd", "table", "caption", "thead", "tbody", "tr", "th", "td", "section", "div",
    "span", "figure", "figcaption", "details", "summary",
}  # fmt: skip

# CommonMark's own grammar for a tag (spec 0.29, "Raw HTML"): a tag of this form ends where the
# HTML parser ends it too. Possessive quantifiers keep the scan linear on input with no ">".
_ATTRIBUTE = (
    r"(?:[ \t\n\r\f]++[A-Za-z_:][A-Za-z0-9_.:-]*+"
    r"(?:[ \t\n\r\f]*+=[ \t\n\r\f]*+(?:[^ \t\n\r\f\"'=<>`\x00]++|'[^'\x00]*+'|\"[^\"\x00]*+\"))?+)"
)
# One pass over all raw HTML of a document, joined by NUL (cmark turns NUL into U+FFFD, so it is
# never in a node): no token may run over it, hence the "\x00" in every negated class.
_RAW_TOKEN = re.compile(
    r"<(?:(?P<comment>!--(?:-?>|[^\x00]*?--!?>))"
    r"|(?P<open>[A-Za-z][A-Za-z0-9-]*+)" + _ATTRIBUTE + r"*+[ \t\n\r\f]*+/?>"
    r"|/(?P<close>[A-Za-z][A-Za-z0-9-]*+)[ \t\n\r\f]*+>)?"
)
_NODE_SEPARATOR = "\x00"


def _keep_or_escape(match: re.Match[str]) -> str:
    if match.group("comment"):
        return ""  # a note to other editors; the sanitiser would drop it anyway
    name = match.group("open") or match.group("close")
    if name and name.lower() in _RAW_TAGS:
        return match.group()
    return html.escape(match.group(), quote=False)  # "<" alone, or a tag not allowed


def _filter_raw_html(nodes: list[str]) -> list[str]:
    """Each raw HTML node with every "<" either starting an allowed tag (kept as typed) or
    escaped."""
    joined = _NODE_SEPARATOR.join(nodes)
    return _RAW_TOKEN.sub(_keep_or_escape, joined).split(_NODE_SEPARATOR)


def _xml_unescape(text: str) -> str:
    # cmark's XML escapes exactly these four; "&amp;" last, so "&amp;lt;" stays "&lt;".
    if "&" not in text:
        return text
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    return text.replace("&amp;", "&")


# HTML blocks that end only at their end marker (CommonMark types 1 to 5, textarea included as in
# cmark-gfm 0.29.0.gfm.13 and spec 0.30); without the marker
# they take the rest of the document (or of their list item or quote) as raw HTML.
_OPEN_ENDED_BLOCK = re.compile(
    r"[ ]{0,3}(?:<(?:script|pre|style|textarea)(?=[ \t\n>]|$).*?</(?:script|pre|style|textarea)>"
    r"|<!--.*?-->|<\?.*?\?>|<![A-Z].*?>|<!\[CDATA\[.*?\]\]>"
    r"|(?P<open><(?:(?:script|pre|style|textarea)(?=[ \t\n>]|$)|!--|\?|![A-Z]|!\[CDATA\[)))",
    re.DOTALL | re.IGNORECASE,
)
_XML_RAW = re.compile(
    r'<html_(block|inline) sourcepos="(\d+):(\d+)-[^"]*" xml:space="preserve">([^<]*)</html_'
)
_MAX_REPARSES = 2  # each one fixes a forgotten end marker; past that, text


def _unterminated(raw: str) -> bool:
    found = _OPEN_ENDED_BLOCK.match(raw)
    return found is not None and found.group("open") is not None


def _escape_at(source: str, line: int, byte_column: int) -> str:
    """``source`` with a backslash before the "<" at ``line``:``byte_column`` (cmark's 1-based
    positions; the column counts UTF-8 bytes)."""
    lines = source.split("\n")
    text = lines[line - 1]
    at = len(text.encode("utf-8")[: byte_column - 1].decode("utf-8", "ignore"))
    lines[line - 1] = text[:at] + "\\" + text[at:]
    return "\n".join(lines)


def _render(source: str) -> tuple[str, list[str]]:
    """cmark's HTML, with placeholders, and the filtered raw HTML for each placeholder."""
    cmark = _cmark()
    if "<" not in source:  # no raw HTML possible: one render, no XML
        return cmark.render(source, xml=False)[0], []
    for attempt in range(_MAX_REPARSES + 1):
        page, tree = cmark.render(source, xml=True)
        found = _XML_RAW.findall(tree)
        if not found:
            return page, []
        nodes = _xml_unescape(_NODE_SEPARATOR.join(raw for *_, raw in found))
        raws = nodes.split(_NODE_SEPARATOR)
        open_ended = [
            (int(line), int(column))
            for (kind, line, column, _), raw in zip(found, raws, strict=True)
            if kind == "block" and _unterminated(raw)
        ]
        if not open_ended:
            return page, _filter_raw_html(raws)
        if attempt == _MAX_REPARSES:  # pathological input: show the rest as text
            return page, [html.escape(raw, quote=False) for raw in raws]
        # The first one took the rest of its container: escape its "<" and parse again.
        source = _escape_at(source, *open_ended[0])
    raise AssertionError("unreachable")


# --- reading cmark's HTML: headings, text, lead -----------------------------------------------

# Elements whose text is one block of prose each (a tight list item's text sits in <li>), and the
# containers that decide whether a paragraph is lead material. cmark escapes every "<" in text
# and attributes, and raw HTML is a placeholder here, so these matches are exact.
_STRUCTURE = re.compile(r"<(/?)(p|h[1-6]|li|t[hd]|pre|blockquote|table|section)\b[^>]*>")
_INLINE_TAG = re.compile(r"<[^>]*>")
_FOOTNOTE_MARKS = re.compile(
    r'<sup class="footnote-ref">.*?</sup>|<a href="#fnref-[^"]*" class="footnote-backref"[^>]*>'
    r"[^<]*</a>"
)
_FOOTNOTE_ID = re.compile(r' id="(fn(?:ref)?-[^"]*)"')
_RAW_ID = re.compile(
    r"""[ \t\n\r\f]id[ \t\n\r\f]*=[ \t\n\r\f]*(?:"([^"]*)"|'([^']*)'|([^ \t\n\r\f"'=<>`]+))"""
)


def _raw_ids(raw: list[str]) -> set[str]:
    """The ids raw HTML gives (so that no heading takes one: ids must be unique)."""
    return {"".join(found) for found in _RAW_ID.findall("\n".join(raw))}


_TEXT_BLOCKS = frozenset({"p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6"})
_NOT_LEAD = frozenset({"li", "table", "section"})
_SEPARATOR = "\x00"  # never in cmark's output (cmark turns NUL into U+FFFD)
# ``## Title {#custom-id}``: the id is letters (any script), digits, "_", "-", ".", ":".
_VALID_CUSTOM_ID = re.compile(r"\w[\w.:-]{0,99}")
_SENTENCE_END = re.compile(r"[.!?。！？…][\"'”’」』）)]*$")
_CJK_END = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7a3]$")


def _heading_id(title: str) -> str:
    # python-slugify keeps CJK (allow_unicode) and normalises width (NFKC). A heading with no
    # letters still needs an id.
    return slugify(title, allow_unicode=True) or "section"


def _plain(fragments: list[str]) -> list[str]:
    """Each HTML fragment of cmark's as one line of plain text (footnote marks left out)."""
    joined = _SEPARATOR.join(fragments)
    if "footnote-" in joined:
        joined = _FOOTNOTE_MARKS.sub("", joined)
    if "<" in joined:
        joined = _INLINE_TAG.sub("", joined)
    if "&" in joined:
        joined = html.unescape(joined)
    return [" ".join(part.split()) for part in joined.split(_SEPARATOR)]


def _as_sentence(text: str) -> str:
    """``text`` ending at a sentence end, so that a summary never runs it into the next block."""
    if _SENTENCE_END.search(text):
        return text
    text = text.rstrip(" ,;:、，；：—-")
    return text + ("。" if _CJK_END.search(text) else ".") if text else text


def _custom_id(inner: str) -> tuple[str, str]:
    """(heading HTML without a trailing ``{#id}``, the id), or (inner, "") if it has none."""
    trimmed = inner.rstrip(" \t")
    if not trimmed.endswith("}"):
        return inner, ""
    at = trimmed.rfind("{#")  # str methods, not a regex: linear on any heading
    wanted = trimmed[at + 2 : -1]
    if at < 0 or (at and trimmed[at - 1] not in " \t") or not _VALID_CUSTOM_ID.fullmatch(wanted):
        return inner, ""  # not an id: the writer sees it as typed
    return trimmed[:at].rstrip(" \t"), wanted


def _unique_ids(bases: list[str], custom: list[str], reserved: set[str]) -> list[str]:
    """Distinct ids: a custom id goes to the first heading that gives it; every other heading
    takes its base (its custom id or slug) with the first free "-N" suffix, never a custom id
    given anywhere in the document. Linear: each base remembers the last suffix it used (all
    below it are taken)."""
    taken = set(reserved)
    claimed = {wanted for wanted in custom if wanted}
    last_suffix: dict[str, int] = {}
    ids: list[str] = []
    for base, wanted in zip(bases, custom, strict=True):
        if wanted and wanted not in taken:
            taken.add(wanted)
            ids.append(wanted)
            continue
        suffix = last_suffix.get(base, 0)
        slug = f"{base}-{suffix}" if suffix else base
        while slug in taken or slug in claimed:
            suffix += 1
            slug = f"{base}-{suffix}"
        last_suffix[base] = suffix
        taken.add(slug)
        ids.append(slug)
    return ids


def _outline(levels: list[int]) -> list[int]:
    """Heading levels as rendered below the page's own ``<h1>`` (the title): a body that uses
    ``#`` moves down one level, and no heading skips a level (``##`` then ``####`` renders h2,
    h3), so the page outline is valid HTML (the Nu checker refuses h1 followed by h3). The text
    and the order of the headings are the writer's; only their rank is fitted."""
    shift = 1 if 1 in levels else 0
    fitted: list[int] = []
    previous = 1
    for level in levels:
        previous = min(level + shift, previous + 1, 6)
        fitted.append(previous)
    return fitted


def _read(
    page: str, taken_ids: set[str], fit_outline: bool = True
) -> tuple[str, str, str, tuple[Heading, ...]]:
    """(HTML with heading ids, plain text, lead, headings), read from cmark's HTML; heading ids
    avoid ``taken_ids`` (those in raw HTML); ranks fitted by ``_outline`` if ``fit_outline``."""
    fragments: list[str] = []  # the inner HTML of each block of prose, in order
    lead_at: list[int] = []  # which of them are lead paragraphs
    spans: list[tuple[int, int, int, int, int]] = []  # heading: fragment, level, tag, inner
    stack: list[str] = []
    not_lead = 0  # how many open elements keep a paragraph out of the lead
    opened = start = 0  # where the innermost open element's tag starts, and its text resumes
    top = ""  # the innermost open element
    for match in _STRUCTURE.finditer(page):
        closing, tag = match.groups()
        begin = match.start()
        if top in _TEXT_BLOCKS:
            fragment = page[start:begin]
            if top[0] == "h":  # </hN>: headings can hold no block
                spans.append((len(fragments), int(top[1]), opened, start, begin))
                fragments.append(fragment)
            elif fragment and not fragment.isspace():  # a tight <li>'s text ends at a block
                if top == "p" and not not_lead:
                    lead_at.append(len(fragments))
                fragments.append(fragment)
        if closing:
            not_lead -= stack.pop() in _NOT_LEAD
            top = stack[-1] if stack else ""
        else:
            stack.append(tag)
            not_lead += tag in _NOT_LEAD
            top, opened = tag, begin
        start = match.end()

    inner = {}
    custom: list[str] = []
    for index, *_ in spans:
        inner[index], wanted = _custom_id(fragments[index])
        fragments[index] = inner[index]
        custom.append(wanted)
    texts = _plain(fragments)
    headings: tuple[Heading, ...] = ()
    if spans:
        slugs: dict[str, str] = {}  # slugify is slow: once per distinct heading text
        bases = [
            wanted or slugs.get(text) or slugs.setdefault(text, _heading_id(text))
            for text, wanted in zip((texts[s[0]] for s in spans), custom, strict=True)
        ]
        reserved = set(_FOOTNOTE_ID.findall(page)) if "footnote" in page else set()
        reserved |= taken_ids
        ids = _unique_ids(bases, custom, reserved)
        levels = [level for _, level, *_ in spans]
        if fit_outline:
            levels = _outline(levels)
        headings = tuple(
            Heading(level, id_, texts[index])
            for (index, *_), level, id_ in zip(spans, levels, ids, strict=True)
        )
        parts: list[str] = []
        done = 0
        for (index, _, tag, _, end), level, id_ in zip(spans, levels, ids, strict=True):
            # No escaping needed: a slug or a custom id holds no "<", "&" or quote.
            parts += (page[done:tag], f'<h{level} id="{id_}">', inner[index], f"</h{level}>")
            done = end + len("</hN>")
        parts.append(page[done:])
        page = "".join(parts)
    lead = " ".join(_as_sentence(texts[i]) for i in lead_at if texts[i])
    return page, "\n".join(text for text in texts if text), lead, headings


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*+)[^>]*+>")
_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
})  # fmt: skip


def _nesting(page: str) -> int:
    """How deeply the elements of ``page`` nest (an upper bound: tags the HTML parser closes by
    itself, like a second <p>, count as open)."""
    if page.count("<") <= MAX_NESTING:  # cannot be deeper: skip the scan
        return 0
    depth = deepest = 0
    for closing, name in _TAG.findall(page):
        if closing:
            depth = max(0, depth - 1)  # a stray end tag closes nothing
        elif name.lower() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _check_size(page: str) -> None:
    if len(page) > MAX_HTML_CHARS:
        raise MarkdownLimitError(
            f"the article makes {len(page) / 2**20:.0f} MiB of HTML (at most "
            f"{MAX_HTML_CHARS // 2**20} MiB; footnotes, tables and lists make the most): "
            "split it into several articles"
        )


def _check_nesting(page: str) -> None:
    deepest = _nesting(page)
    if deepest > MAX_NESTING:
        raise MarkdownLimitError(
            f"quotes, lists, emphasis or HTML elements nest {deepest:,} levels deep (at most "
            f"{MAX_NESTING:,}): flatten them"
        )


# --- sanitising -------------------------------------------------------------------------------

# What the renderer emits besides the raw tags: task-list checkboxes.
_TAGS = _RAW_TAGS | {"input"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{h: {"id"} for h in _HEADINGS},
    "a": {
        "href", "title", "id", "class", "aria-label", "data-footnote-ref",
        "data-footnote-backref", "data-footnote-backref-idx",
    },
    "img": {"src", "alt", "title", "width", "height"},
    "li": {"id"},
    "sup": {"class"},
    "section": {"class", "data-footnotes"},
    "ol": {"start"},
    "code": {"class"},
    "th": {"style", "colspan", "rowspan"},
    "td": {"style", "colspan", "rowspan"},
    "abbr": {"title"},
    "q": {"cite"},
    "blockquote": {"cite"},
    "details": {"open"},
    "input": {"type", "checked", "disabled"},
}  # fmt: skip
# Classes the renderer emits (footnotes); code blocks add "language-<info>".
_CLASSES: dict[str, frozenset[str]] = {
    "a": frozenset({"footnote-backref"}),
    "sup": frozenset({"footnote-ref"}),
    "section": frozenset({"footnotes"}),
}
_LANGUAGE_CLASS = re.compile(r"language-[^\s\"'<>&]{1,40}")
_ID = re.compile(r"[^\t\n\f\r ]+")  # HTML: at least one character, no whitespace
_TEXT_ALIGN = re.compile(r"\s*text-align\s*:\s*(left|right|center|justify)\s*;?\s*", re.I)
_BOOLEAN = {"open", "checked", "disabled"}
_ANY_VALUE = frozenset({
    "title", "alt", "aria-label", "data-footnote-ref", "data-footnote-backref",
    "data-footnote-backref-idx", "data-footnotes",
})  # fmt: skip
# Characters a URL may hold as they are (WHATWG "URL code points", "%" and one "#"); the rest
# is percent-encoded, as cmark does for Markdown links.
_URL_SAFE = "!$&'()*+,-./:;=?@_~%[]"
_URL_CHARS = r"(?:[A-Za-z0-9!$&'()*+,\-./:;=?@_~\[\]\u00a0-\U0010fffd]|%[0-9A-Fa-f]{2})*+"
_URL_VALID = re.compile(_URL_CHARS)
_URL_VALID_WHOLE = re.compile(f"{_URL_CHARS}(?:#{_URL_CHARS})?")


_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?")
# scheme://[userinfo@]host, where the host is percent-encoded or not ASCII
_ODD_HOST = re.compile(
    r"((?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^/?#@]*@)?)([^/?#:@]*[%\u0080-\U0010ffff][^/?#:@]*)"
)


def _encode_url_part(part: str) -> str:
    if _URL_VALID.fullmatch(part):
        return part
    return quote(_LONE_PERCENT.sub("%25", part), safe=_URL_SAFE)


def _ascii_host(url: str) -> str:
    """``url`` with an internationalised host (cmark percent-encodes it) in IDNA form."""
    found = _ODD_HOST.match(url)
    if not found:
        return url
    host = unquote(found.group(2))
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else ""
    except UnicodeError:
        ascii_host = ""
    if not _DOMAIN.fullmatch(ascii_host):  # not a domain name: as cmark wrote it
        return url
    return found.group(1) + ascii_host + url[found.end(2) :]


def _valid_url(value: str) -> str:
    """``value`` as a valid URL: characters a URL cannot hold percent-encoded (as cmark does for
    Markdown links), so "my file.pdf" in raw HTML does not fail HTML validation; a non-ASCII
    host in IDNA form ("xn--...")."""
    if _URL_VALID_WHOLE.fullmatch(value):  # nearly always
        return _ascii_host(value) if "%" in value or not value.isascii() else value
    head, hash_, fragment = _ascii_host(value.strip()).partition("#")
    return _encode_url_part(head) + hash_ + _encode_url_part(fragment)


def _number(value: str, low: int, high: int) -> str | None:
    value = value.strip()
    if not value.lstrip("-").isdigit() or not value.isascii():
        return None
    return str(int(value)) if low <= int(value) <= high else None


_SCHEME_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def _url_scheme(value: str) -> str | None:
    """The scheme a browser reads in ``value`` (after dropping the leading and trailing C0
    controls and spaces and every tab and newline, as the URL parser does), lower-cased; None
    for a relative URL."""
    cleaned = value.strip("".join(chr(c) for c in range(0x21)))
    cleaned = cleaned.replace("\t", "").replace("\n", "").replace("\r", "")
    found = _SCHEME_PREFIX.match(cleaned)
    return found.group(1).lower() if found else None


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Keep an allowed attribute only with a valid value. nh3 calls it for each one, and only
    reports an exception, so this must not raise."""
    if attribute in _ANY_VALUE:
        return value
    if attribute in ("href", "src", "cite"):
        # nh3 checks the schemes of href and src (its url_schemes), not of cite: every URL
        # attribute is checked here too. cite is never followed by a reader: plain web URLs.
        scheme = _url_scheme(value)
        if scheme is not None and (
            scheme in FORBIDDEN_LINK_SCHEMES
            or (attribute == "cite" and scheme not in ALWAYS_ALLOWED_SCHEMES)
        ):
            return None
        return _valid_url(value)
    if attribute == "class":
        allowed = _CLASSES.get(tag, frozenset())
        kept = [
            name
            for name in value.split()
            if name in allowed or (tag == "code" and _LANGUAGE_CLASS.fullmatch(name))
        ]
        return " ".join(kept) or None
    if attribute == "id":
        return value if _ID.fullmatch(value) else None
    if attribute in ("width", "height"):
        return _number(value, 0, 100_000)
    if attribute == "start":
        return _number(value, -(10**9), 10**9)
    if attribute == "colspan":
        return _number(value, 1, 1000)
    if attribute == "rowspan":
        return _number(value, 0, 65534)
    if attribute == "style":
        found = _TEXT_ALIGN.fullmatch(value)
        return f"text-align: {found.group(1).lower()}" if found else None
    if attribute in _BOOLEAN:
        return ""
    if attribute == "type":
        return value if value.lower() == "checkbox" else None
    return value


@functools.lru_cache(maxsize=8)
def _cleaner(schemes: frozenset[str]) -> nh3.Cleaner:
    """One Cleaner per set of link schemes: building one costs more than cleaning an article."""
    return nh3.Cleaner(
        tags=_TAGS,
        clean_content_tags={"script", "style"},  # never reached: the raw filter escapes them
        attributes=_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        link_rel=None,  # rel is added below, to external links only
        url_schemes=set(schemes),
        filter_style_properties={"text-align"},
        set_tag_attribute_values={"img": {"loading": "lazy", "decoding": "async"}},
    )


def _schemes(extra: Iterable[str]) -> frozenset[str]:
    return ALWAYS_ALLOWED_SCHEMES | {s.lower() for s in extra} - FORBIDDEN_LINK_SCHEMES


# nh3 serialises canonically (attribute values always double-quoted, with '"', '<' and '>'
# escaped), so an opening <a> or <img> tag and its attributes can be matched exactly on its output.
# Only links whose URL has a scheme or starts like "//" (after what a browser strips) can be
# external; relative links and #fragments are left to the regex engine, not a Python call.
_LINK_OR_IMAGE = re.compile(
    r'<(?:(a)(?=[^>]*?\shref="[\x00-\x20]*+(?:[A-Za-z][A-Za-z0-9+.\-\t\n\r]*+:|[/\\][\t\n\r]*+[/\\]))'
    r"|(img))\b([^>]*+)>"
)
_HREF = re.compile(r'\shref="([^"]*)"')
_ALT = re.compile(r'\salt="([^"]*)"')
_URL_STRIP = "".join(chr(c) for c in range(0x21))  # C0 controls and space
_URL_CLEANUP = str.maketrans({"\t": None, "\n": None, "\r": None, "\\": "/"})
_ABSOLUTE = ("http://", "https://", "//")


@functools.lru_cache(maxsize=1024)  # an article links to the same few sites again and again
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


def _finish_tags(fragment: str, site_host: str) -> str:
    """External links get rel; an image left without a source (its URL was not allowed) is
    replaced by its alt text, and one without alt text gets an empty one (both required)."""

    def finish(match: re.Match[str]) -> str:
        _, image, attributes = match.groups()
        if image:
            if ' src="' not in attributes or ' src=""' in attributes:
                alt = _ALT.search(attributes)
                return alt.group(1) if alt else ""  # already escaped by nh3
            return match.group() if ' alt="' in attributes else f'<img alt=""{attributes}>'
        found = _HREF.search(attributes)
        # Read the URL the way a browser does (WHATWG): leading controls and spaces ignored,
        # tabs and newlines dropped anywhere, "\\" taken as "/" (so "/\\host" is another host).
        href = html.unescape(found.group(1)).lstrip(_URL_STRIP) if found else ""
        if any(char in href for char in "\t\n\r\\"):  # rare: translate is slow
            href = href.translate(_URL_CLEANUP)
        # Cheap prefix test first: most links in an article are relative or #fragments.
        if not href[:8].lower().startswith(_ABSOLUTE) or not _is_external(href, site_host):
            return match.group()
        return f'<a{attributes} rel="{EXTERNAL_REL}">'

    return _LINK_OR_IMAGE.sub(finish, fragment)


def render_markdown(
    text: str,
    *,
    site_url: str = "",
    link_schemes: Collection[str] = DEFAULT_LINK_SCHEMES,
    fit_outline: bool = True,
) -> RenderedBody:
    """Render Markdown to sanitised HTML, with its plain text, lead and headings.

    ``site_url`` (e.g. ``https://news.example``) names the site's own host: absolute links to it
    are not external. Without it, every absolute http(s) link counts as external.
    Raises ``MarkdownLimitError`` past ``MAX_NESTING`` or ``MAX_HTML_CHARS``.
    ``link_schemes``: URL schemes allowed in links and images besides http, https and mailto
    (site.yaml's ``link_schemes``); javascript, data and vbscript are never allowed.
    ``fit_outline``: heading ranks fitted below the page's title (``_outline``); False renders
    them as written (the spec tests compare with cmark-gfm's own output).
    """
    page, raw = _render(text)
    _check_size(page)  # before reading it: cmark's output is the bulk of it
    page, plain, lead, headings = _read(page, _raw_ids(raw) if raw else set(), fit_outline)
    if raw:
        parts = page.split(_RAW_PLACEHOLDER)
        if len(parts) != len(raw) + 1:  # cannot happen (one tree, one order); drop, never leak
            raw = [""] * (len(parts) - 1)
        page = "".join(p for pair in zip(parts, [*raw, ""], strict=True) for p in pair)
    _check_size(page)
    _check_nesting(page)
    safe = _cleaner(_schemes(link_schemes)).clean(page)
    return RenderedBody(
        html=_finish_tags(safe, _host(site_url)), text=plain, headings=headings, lead=lead
    )
