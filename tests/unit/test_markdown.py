"""Markdown rendering: what Markdown produces survives the sanitiser; what is unsafe does not."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink
from mdit_py_plugins.anchors import anchors_plugin

from chainpress.markdown import _MD, _PLAIN_URL, Heading, _heading_id, render_markdown


def test_tables_keep_their_alignment() -> None:
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n").html
    assert "<table>\n<thead>" in html
    assert "<tbody>" in html
    assert '<th style="text-align:left">a</th>' in html
    assert '<th style="text-align:center">b</th>' in html
    assert '<td style="text-align:right">3</td>' in html


def test_footnotes_keep_their_markup() -> None:
    html = render_markdown("Bitcoin rose[^1].\n\n[^1]: According to the exchange.\n").html
    assert '<sup class="footnote-ref"><a href="#fn1" id="fnref1">[1]</a></sup>' in html
    assert '<hr class="footnotes-sep">' in html
    assert '<section class="footnotes">' in html
    assert '<ol class="footnotes-list">' in html
    assert '<li id="fn1" class="footnote-item">' in html
    assert '<a href="#fnref1" class="footnote-backref">' in html


def test_code_blocks_keep_the_language_class_only() -> None:
    html = render_markdown("```python\nprint('<b>')\n```\n").html
    assert "<pre><code class=\"language-python\">print('&lt;b&gt;')\n</code></pre>" in html
    raw = render_markdown('<code class="language-rust evil">x</code> <p class="evil">y</p>').html
    assert '<code class="language-rust">x</code>' in raw
    assert "evil" not in raw


def test_headings_get_ids_cjk_included_and_unique() -> None:
    body = render_markdown("# 比特币 ETF 获批\n\n## Market Update\n\n## Market Update\n\n### !!!\n")
    assert '<h1 id="比特币-etf-获批">比特币 ETF 获批</h1>' in body.html
    assert '<h2 id="market-update">' in body.html
    assert '<h2 id="market-update-1">' in body.html
    assert body.headings == (
        Heading(1, "比特币-etf-获批", "比特币 ETF 获批"),
        Heading(2, "market-update", "Market Update"),
        Heading(2, "market-update-1", "Market Update"),
        Heading(3, "section", "!!!"),
    )


_ANCHORS = MarkdownIt("commonmark").use(
    anchors_plugin, min_level=1, max_level=6, slug_func=_heading_id
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["x", "x-1", "x 1", "x-2", "链", "链-1", "!", "section"]), max_size=12)
)
def test_heading_ids_match_the_anchors_plugin(titles: list[str]) -> None:
    source = "".join(f"## {title}\n\n" for title in titles)
    expected = [t.attrGet("id") for t in _ANCHORS.parse(source) if t.type == "heading_open"]
    assert [h.id for h in render_markdown(source).headings] == expected


def test_many_identical_headings_get_distinct_ids() -> None:
    ids = [h.id for h in render_markdown("## Update\n\n" * 3000).headings]
    assert len(set(ids)) == 3000
    assert ids[-1] == "update-2999"


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert('x')</script>text", ["<script", "alert"]),
        ('<img src="a.png" onerror="alert(1)">', ["onerror", "alert"]),
        ('<p onclick="steal()">hi</p>', ["onclick", "steal"]),
        ('<a href="javascript:alert(1)">x</a>', ["javascript", "alert"]),
        ('<a href="JaVaScRiPt&#58;alert(1)">x</a>', ["javascript", "alert"]),
        ("[x](javascript:alert(1))", ['href="javascript']),
        ('<iframe src="https://evil.example">inside</iframe>', ["iframe", "inside"]),
        ("<style>body{display:none}</style>", ["<style", "display"]),
        ('<span style="position:fixed;top:0">x</span>', ["position", "style="]),
        ("<form action=/x><input name=q></form>", ["<form", "<input"]),
        ("<!-- secret -->", ["secret"]),
        ('<svg onload="alert(1)"><text>t</text></svg>', ["svg", "onload"]),
    ],
)
def test_sanitiser_strips_unsafe_html(source: str, forbidden: list[str]) -> None:
    html = render_markdown(source).html.lower()
    for needle in forbidden:
        assert needle.lower() not in html


def test_sanitiser_keeps_harmless_raw_html() -> None:
    html = render_markdown("<details><summary>More</summary>\n\n**bold**\n\n</details>\n").html
    assert "<details><summary>More</summary>" in html
    assert "<strong>bold</strong>" in html


@pytest.mark.parametrize(
    ("href", "external"),
    [
        ("https://other.example/a", True),
        ("http://OTHER.example", True),
        ("//other.example/x", True),
        ("https://news.example/articles/x/", False),  # the site's own host
        ("/articles/x/", False),
        ("#fn1", False),
        ("mailto:desk@news.example", False),
    ],
)
def test_external_links_get_rel(href: str, external: bool) -> None:
    for source in (f"[x]({href})", f'<a href="{href}">x</a>'):
        html = render_markdown(source, site_url="https://news.example").html
        assert ('rel="noopener noreferrer"' in html) is external, (source, html)
        assert "target=" not in html


def test_backslash_host_counts_as_external() -> None:
    # Browsers read "/\host" as "//host"; a Markdown link percent-encodes the "\" instead.
    html = render_markdown('<a href="/\\other.example/x">x</a>').html
    assert 'rel="noopener noreferrer"' in html
    assert "%5C" in render_markdown("[x](/\\other.example/x)").html


def test_rel_is_added_whatever_the_other_attributes_hold() -> None:
    html = render_markdown('<a title="a > b" href="https://x.example/">x</a>').html
    assert html.strip() == (
        '<p><a title="a &gt; b" href="https://x.example/" rel="noopener noreferrer">x</a></p>'
    )


def test_author_rel_and_target_are_not_kept() -> None:
    html = render_markdown('<a href="/x" rel="opener" target="_blank">x</a>').html
    assert html.strip() == '<p><a href="/x">x</a></p>'


def test_images_are_lazy_and_async() -> None:
    html = render_markdown(
        '![chart](/media/c.png "Chart")\n\n<img src="/m.png" loading="eager">'
    ).html
    assert html.count('loading="lazy"') == 2
    assert html.count('decoding="async"') == 2
    assert "eager" not in html
    assert 'alt="chart"' in html
    assert 'title="Chart"' in html


def test_plain_text_headings_and_lead() -> None:
    body = render_markdown(
        "## Intro\n\nFirst *para* with `code`\nand a [link](/x).[^n]\n\n"
        "```\nnot prose\n```\n\n- item one\n\n| h |\n|---|\n| cell |\n\n[^n]: A note.\n"
    )
    assert body.text.splitlines() == [
        "Intro",
        "First para with code and a link.",
        "item one",
        "h",
        "cell",
        "A note.",
    ]
    assert "not prose" not in body.text
    assert body.lead == "First para with code and a link. item one"


def test_non_ascii_links_are_still_normalised() -> None:
    html = render_markdown("[x](https://例子.测试/路径?q=比特币)").html
    host, path = "xn--fsqu00a.xn--0zwm56d", "%E8%B7%AF%E5%BE%84?q=%E6%AF%94%E7%89%B9%E5%B8%81"
    assert f'href="https://{host}/{path}"' in html


_URL_CHARS = st.sampled_from([*"abcXYZ019-._~/?#!$&'()*+,;=:%@[] ", "%20", "%zz", "例"])


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["", "http://", "https://", "HTTP://", "//", "mailto:", "x:", "/", "#"]),
    st.lists(_URL_CHARS, max_size=30).map("".join),
)
def test_link_fast_path_matches_markdown_it(prefix: str, rest: str) -> None:
    url = prefix + rest
    assert _MD.normalizeLink(url) == normalizeLink(url)
    if _PLAIN_URL.fullmatch(url):
        assert normalizeLink(url) == url


def test_render_is_deterministic_and_escapes_text() -> None:
    source = 'A < B & C > D "quoted"\n\n# T\n'
    first = render_markdown(source).html
    assert first == render_markdown(source).html
    assert re.search(r"A &lt; B &amp; C &gt; D", first)
