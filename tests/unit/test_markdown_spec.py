"""The GFM spec's examples (CommonMark 0.29 and GitHub's extensions) through our render_markdown.

tests/data/spec/gfm-0.29.json is the "GitHub Flavored Markdown Spec" 0.29 (cmark-gfm's
test/spec.txt, as the marko sdist ships it), converted by tests/data/spec/convert_spec.py; CC-BY-SA
4.0, see tests/data/spec/README.md. Outputs are compared after normalising whitespace, attribute
order, entity spelling and the attributes we add on purpose (heading ids, rel, image loading).
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chainpress import markdown
from chainpress.markdown import render_markdown
from chainpress.settings import DEFAULT_LINK_SCHEMES

SPEC = json.loads((Path(__file__).parents[1] / "data/spec/gfm-0.29.json").read_text("utf-8"))
# Link schemes the spec's autolink examples use; a site allows them in site.yaml. Without them
# those links keep their text and lose their href (checked below).
SPEC_SCHEMES = ("irc", "a+b+c", "made-up-scheme", "localhost", "ftp")
SCHEME_EXAMPLES = {604, 606, 607, 609, 628}

# Every example (without raw HTML) whose output differs, and why. Nothing else may differ.
INTENDED = {
    199: 'table alignment is style="text-align: ...": align= is obsolete HTML (a validator error)',
    610: "GitHub's autolink extension links the URL inside '<http://foo.bar/baz bim>'",
    614: "GitHub's autolink extension links the e-mail address inside '<foo\\+@bar.example.com>'",
    616: "GitHub's autolink extension links the URL inside '< http://foo.bar >'",
    619: "GitHub's autolink extension links a bare URL (the CommonMark example has no extensions)",
    620: "GitHub's autolink extension links a bare e-mail address",
}

_BLOCK = {
    "blockquote", "body", "caption", "dd", "div", "dl", "dt", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "li", "ol", "p", "pre", "section", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
_OURS = {("a", "rel"), ("img", "loading"), ("img", "decoding")}


class _Normaliser(HTMLParser):
    """The spec's own normalisation, in short: whitespace collapsed outside <pre> and dropped
    around block tags, attributes sorted, entities written one way."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.in_pre = 0

    def handle_data(self, data: str) -> None:
        if not self.in_pre:
            data = re.sub(r"\s+", " ", data)
        self.out.append(html.escape(data, quote=False))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_pre += tag == "pre"
        kept = sorted(
            (name, value or "")
            for name, value in attrs
            if (tag, name) not in _OURS and not (name == "id" and re.fullmatch(r"h[1-6]", tag))
        )
        attributes = "".join(f' {name}="{html.escape(value)}"' for name, value in kept)
        self.out.append(f"<{tag}{attributes}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.in_pre -= tag == "pre"
        self.out.append(f"</{tag}>")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")


def normalise(fragment: str) -> str:
    parser = _Normaliser()
    parser.feed(fragment)
    parser.close()
    text = "".join(parser.out)
    blocks = "|".join(_BLOCK)
    text = re.sub(rf"\s*(</?(?:{blocks})\b[^>]*>)\s*", r"\1", text)
    return text.strip()


def has_raw_html(example: dict[str, Any]) -> bool:
    return "<html_" in markdown._cmark().render(example["markdown"], xml=True)[1]


PLAIN = [e for e in SPEC if not has_raw_html(e)]
RAW = [e for e in SPEC if has_raw_html(e)]


def differences(schemes: tuple[str, ...]) -> dict[int, tuple[str, str]]:
    found = {}
    for example in PLAIN:
        rendered = render_markdown(example["markdown"], link_schemes=schemes, fit_outline=False)
        got = normalise(rendered.html)
        expected = normalise(example["html"])
        if got != expected:
            found[example["example"]] = (expected, got)
    return found


def test_the_spec_has_the_gfm_extension_examples() -> None:
    assert len(SPEC) == 672
    extensions = {e["extension"] for e in SPEC}
    assert extensions == {"", "table", "strikethrough", "autolink", "tagfilter", "disabled"}
    assert len(PLAIN) == 600  # the other 72 hold raw HTML


def test_at_least_99_percent_of_the_spec_renders_as_specified() -> None:
    found = differences(DEFAULT_LINK_SCHEMES + SPEC_SCHEMES)
    assert set(found) == set(INTENDED), {n: found[n] for n in set(found) - set(INTENDED)}
    assert 1 - len(found) / len(PLAIN) >= 0.99


def test_links_with_schemes_the_site_does_not_allow_keep_their_text_only() -> None:
    found = differences(DEFAULT_LINK_SCHEMES)
    assert set(found) == set(INTENDED) | SCHEME_EXAMPLES
    for number in SCHEME_EXAMPLES:
        expected, got = found[number]
        assert re.sub(r' href="(?!https?:)[^"]*"', "", expected) == got


@pytest.mark.parametrize("example", RAW, ids=lambda e: str(e["example"]))
def test_spec_examples_with_raw_html_render_safely(example: dict[str, Any]) -> None:
    page = render_markdown(example["markdown"], fit_outline=False).html
    tags = re.findall(r"<[A-Za-z][^>]*>", page)
    assert not [t for t in tags if re.search(r"<(script|style|textarea|title)|\son\w+=", t)]


def test_each_raw_html_node_fills_its_own_placeholder() -> None:
    for example in SPEC:
        page, raw = markdown._render(example["markdown"])
        assert page.count(markdown._RAW_PLACEHOLDER) == len(raw), example["example"]


# --- the text, lead and headings read from cmark's HTML equal a walk of cmark's tree -----------

_NS = "{http://commonmark.org/xml/1.0}"
_LEAVES = {"paragraph", "heading", "table_cell"}
_SKIPPED_INLINE = {"image", "footnote_reference", "html_inline"}
_NOT_LEAD = {"item", "tasklist", "table", "footnote_definition"}  # tasklist: a task item


def _inline_text(element: ET.Element) -> str:
    parts: list[str] = []
    for child in element:
        name = child.tag.removeprefix(_NS)
        if name in ("text", "code"):
            parts.append(child.text or "")
        elif name in ("softbreak", "linebreak"):
            parts.append(" ")
        elif name not in _SKIPPED_INLINE:
            parts.append(_inline_text(child))
    return "".join(parts)


def _walk(element: ET.Element, ancestors: tuple[str, ...], out: dict[str, list[Any]]) -> None:
    for child in element:
        name = child.tag.removeprefix(_NS)
        if name in _LEAVES:
            text = " ".join(_inline_text(child).split())
            if name == "heading":
                text = " ".join(markdown._custom_id(text)[0].split())
                out["headings"].append((int(child.get("level", "0")), text))
            if text:
                out["text"].append(text)
                if name == "paragraph" and not _NOT_LEAD.intersection(ancestors):
                    out["lead"].append(markdown._as_sentence(text))
        elif name not in ("code_block", "html_block", "thematic_break"):
            _walk(child, (*ancestors, name), out)


@pytest.mark.parametrize("example", PLAIN, ids=lambda e: str(e["example"]))
def test_blocks_read_from_the_html_match_the_document_tree(example: dict[str, Any]) -> None:
    tree = ET.fromstring(markdown._cmark().render(example["markdown"], xml=True)[1])
    walked: dict[str, list[Any]] = {"text": [], "lead": [], "headings": []}
    _walk(tree, (), walked)
    body = render_markdown(example["markdown"], fit_outline=False)
    assert body.text == "\n".join(walked["text"])
    assert body.lead == " ".join(walked["lead"])
    assert [(h.level, h.text) for h in body.headings] == walked["headings"]
