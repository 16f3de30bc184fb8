"""Markdown rendering: what Markdown produces survives the sanitiser; what is unsafe does not;
nothing a writer typed as text is lost."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainpress import markdown
from chainpress.markdown import (
    MAX_NESTING,
    Heading,
    MarkdownLimitError,
    _cleaner,
    _schemes,
    render_markdown,
)
from chainpress.settings import DEFAULT_LINK_SCHEMES

# Tags that would run something: script-like elements, event handlers, javascript: URLs. (The
# same words shown as text, "&lt;script onload=...", are harmless.)
_TAG = re.compile(r"<[A-Za-z][^>]*>")
_ACTIVE_TAG = re.compile(
    r"<(?:script|style|iframe|object|embed|svg|math|template|frame)|\son\w+=|javascript:", re.I
)


def active(html: str) -> list[str]:
    return [tag for tag in _TAG.findall(html) if _ACTIVE_TAG.search(tag)]


def test_tables_keep_their_alignment() -> None:
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n").html
    assert "<table>\n<thead>" in html
    assert "<tbody>" in html
    assert '<th style="text-align:left">a</th>' in html
    assert '<th style="text-align:center">b</th>' in html
    assert '<td style="text-align:right">3</td>' in html
    assert "align=" not in html  # obsolete in HTML5


def test_footnotes_keep_cmark_gfm_markup() -> None:
    html = render_markdown("Bitcoin rose[^1].\n\n[^1]: According to the exchange.\n").html
    assert (
        '<sup class="footnote-ref"><a href="#fn-1" id="fnref-1" data-footnote-ref="">1</a></sup>'
    ) in html
    assert '<section class="footnotes" data-footnotes="">\n<ol>\n<li id="fn-1">' in html
    assert (
        '<a href="#fnref-1" class="footnote-backref" data-footnote-backref="" '
        'data-footnote-backref-idx="1" aria-label="Back to reference 1">↩</a>'
    ) in html


def test_task_lists_are_disabled_checkboxes() -> None:
    html = render_markdown("- [ ] todo\n- [x] done\n").html
    assert '<li><input type="checkbox" disabled=""> todo</li>' in html
    assert '<li><input type="checkbox" checked="" disabled=""> done</li>' in html


def test_github_extensions_strikethrough_and_bare_urls() -> None:
    html = render_markdown("~~old~~ see www.example.com or https://x.example/a.").html
    assert "<del>old</del>" in html
    assert '<a href="http://www.example.com" rel="noopener noreferrer">www.example.com</a>' in html
    assert (
        '<a href="https://x.example/a" rel="noopener noreferrer">https://x.example/a</a>.' in html
    )


def test_code_blocks_keep_the_language_class_only() -> None:
    html = render_markdown("```python\nprint('<b>')\n```\n").html
    assert "<pre><code class=\"language-python\">print('&lt;b&gt;')\n</code></pre>" in html
    raw = render_markdown('<code class="language-rust evil">x</code> <p class="evil">y</p>').html
    assert '<code class="language-rust">x</code>' in raw
    assert "evil" not in raw


def test_headings_get_ids_cjk_included_and_unique() -> None:
    text = "# 比特币 ETF 获批\n\n## Market Update\n\n## Market Update\n\n### !!!\n"
    body = render_markdown(text, fit_outline=False)
    assert '<h1 id="比特币-etf-获批">比特币 ETF 获批</h1>' in body.html
    assert '<h2 id="market-update">' in body.html
    assert '<h2 id="market-update-1">' in body.html
    assert body.headings == (
        Heading(1, "比特币-etf-获批", "比特币 ETF 获批"),
        Heading(2, "market-update", "Market Update"),
        Heading(2, "market-update-1", "Market Update"),
        Heading(3, "section", "!!!"),
    )


def test_heading_ranks_fit_below_the_page_title_without_skipping_a_level() -> None:
    # The page's title is its <h1>: a body "#" moves down one rank, and a skipped rank closes
    # up (the Nu checker refuses "h3 follows h1"). Text, ids and order stay the writer's.
    fitted = render_markdown("# Part\n\n### Detail\n\n## Section\n\n###### Deep\n")
    assert [(h.level, h.text) for h in fitted.headings] == [
        (2, "Part"),
        (3, "Detail"),
        (3, "Section"),
        (4, "Deep"),
    ]
    assert '<h2 id="part">Part</h2>' in fitted.html
    assert '<h4 id="deep">Deep</h4>' in fitted.html
    assert "<h1" not in fitted.html
    tutorial = render_markdown("### Prerequisites\n\n#### Node\n\n## Steps\n")
    assert [h.level for h in tutorial.headings] == [2, 3, 2]


def _reference_ids(titles: list[str]) -> list[str]:
    """mdit-py-plugins' anchors rule (what ids were before): each repeat counts from "-1"."""
    taken: set[str] = set()
    ids = []
    for title in titles:
        base = markdown._heading_id(title)
        slug, suffix = base, 1
        while slug in taken:
            slug, suffix = f"{base}-{suffix}", suffix + 1
        taken.add(slug)
        ids.append(slug)
    return ids


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["x", "x-1", "x 1", "x-2", "链", "链-1", "!", "section"]), max_size=12)
)
def test_heading_ids_are_unchanged_from_before(titles: list[str]) -> None:
    source = "".join(f"## {title}\n\n" for title in titles)
    assert [h.id for h in render_markdown(source).headings] == _reference_ids(titles)


def test_many_identical_headings_get_distinct_ids_in_linear_time() -> None:
    ids = [h.id for h in render_markdown("## Update\n\n" * 3000).headings]
    assert len(set(ids)) == 3000
    assert ids[-1] == "update-2999"


def test_custom_heading_id_sets_the_id_and_leaves_the_text() -> None:
    body = render_markdown("## Introduction {#intro}\n\nText.\n\nSetext {#set.up:1}\n---\n")
    assert '<h2 id="intro">Introduction</h2>' in body.html
    assert '<h2 id="set.up:1">Setext</h2>' in body.html
    assert "{#" not in body.html
    assert body.headings == (Heading(2, "intro", "Introduction"), Heading(2, "set.up:1", "Setext"))
    assert body.text.splitlines() == ["Introduction", "Text.", "Setext"]
    assert render_markdown("## 比特币 {#比特币-etf}").headings[0].id == "比特币-etf"


@pytest.mark.parametrize(
    "heading",
    [
        "Odd {#two words}",  # whitespace
        "Odd {#}",  # empty
        "Odd {#-dash-first}",  # must start with a letter, digit or "_"
        'Odd {#a"b}',  # quote
        "Odd{#glued}",  # needs a space before it
        "Odd {#x} after",  # not at the end
        "Odd `{#code}`",  # code, not an attribute
    ],
)
def test_what_is_not_a_custom_id_stays_as_typed(heading: str) -> None:
    body = render_markdown(f"## {heading}\n")
    assert "{#" in body.headings[0].text
    assert body.headings[0].id == markdown._heading_id(body.headings[0].text)


def test_custom_ids_stay_unique() -> None:
    body = render_markdown(
        "## Intro\n\n## Other {#intro}\n\n## Again {#intro}\n\n## Note 1 {#fn-1}\n\nx[^1]\n\n"
        "[^1]: n\n\n## FN 1\n"
    )
    # A custom id outranks a slug anywhere in the document; a repeat takes a suffix; the ids
    # cmark-gfm gives footnotes are never taken by a heading.
    assert [h.id for h in body.headings] == ["intro-1", "intro", "intro-2", "fn-1-1", "fn-1-2"]
    assert len(re.findall(r' id="fn-1"', body.html)) == 1
    raw = render_markdown("<a id=\"next\"></a>\n\n## Next\n\n<h2 id='top'>Top</h2>\n\n## Top\n")
    assert [h.id for h in raw.headings] == ["next-1", "top-1"]


# Tags whose content the HTML parser takes as something other than Markdown's output: raw text,
# foreign content, template contents, select's options, or everything to the end.
SWALLOWING = [
    "textarea", "script", "style", "iframe", "select", "template", "object", "noscript",
    "noembed", "title", "xmp", "plaintext", "svg", "math", "frameset", "noframes",
]  # fmt: skip


@pytest.mark.parametrize("opening", [f"<{tag}>" for tag in SWALLOWING] + ["</div>", "<!--"])
@pytest.mark.parametrize("where", ["prose", "block", "block with text"])
def test_nothing_typed_as_text_is_dropped(opening: str, where: str) -> None:
    start = {
        "prose": f"Put it in the {opening} element.",
        "block": opening,
        "block with text": f"{opening}\nPut it in the element.",
    }[where]
    html = render_markdown(f"{start}\n\n## Next\n\nMore text.\n").html
    assert '<h2 id="next">Next</h2>' in html
    assert "<p>More text.</p>" in html
    if where != "block":
        assert "Put it in the" in html
        assert "element." in html
    assert not active(html)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("<script>alert('x')</script>text", "&lt;script&gt;alert('x')&lt;/script&gt;text"),
        ("<textarea>notes</textarea>", "&lt;textarea&gt;notes&lt;/textarea&gt;"),
        ("Use <select><option>A</option></select>.", "&lt;select&gt;&lt;option&gt;A"),
        ("<?php echo 1; ?>", "&lt;?php echo 1; ?&gt;"),
        ('<div title="unclosed>\n\n## Next', '&lt;div title="unclosed&gt;'),
    ],
)
def test_tags_that_are_not_allowed_show_as_text(source: str, shown: str) -> None:
    html = render_markdown(source).html
    assert shown in html
    assert not active(html)


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ('<img src="a.png" onerror="alert(1)">', ["onerror", "alert"]),
        ('<p onclick="steal()">hi</p>', ["onclick", "steal"]),
        ('<a href="javascript:alert(1)">x</a>', ["javascript", "alert"]),
        ('<a href="JaVaScRiPt&#58;alert(1)">x</a>', ["javascript", "alert"]),
        ("[x](javascript:alert(1))", ["javascript"]),
        ("[x](vbscript:msgbox)", ["vbscript"]),
        ("[x](data:text/html;base64,PHNjcmlwdD4=)", ["data:"]),
        ("![x](data:image/png;base64,AAAA)", ["data:", "<img"]),
        ('<span style="position:fixed;top:0">x</span>', ["position", "style="]),
        ("<form action=/x><input name=q></form>", ["<form", "<input"]),
        ("<!-- secret -->", ["secret"]),
        ('<svg onload="alert(1)"><text>t</text></svg>', ["<svg"]),
    ],
)
def test_sanitiser_strips_unsafe_html(source: str, forbidden: list[str]) -> None:
    html = render_markdown(source).html.lower()
    for needle in forbidden:
        assert needle.lower() not in html
    assert not active(html)


def test_sanitiser_keeps_harmless_raw_html() -> None:
    html = render_markdown("<details><summary>More</summary>\n\n**bold**\n\n</details>\n").html
    assert "<details><summary>More</summary>" in html
    assert "<strong>bold</strong>" in html


@pytest.mark.parametrize(
    ("source", "kept", "gone"),
    [
        ('<img src="/a.png" alt="a" width="100%" height="-1">', [], ["width", "height"]),
        ('<img src="/a.png" alt="a" width="640" height=" 480 ">',
         ['width="640"', 'height="480"'], []),
        ('<table><tr><td colspan="0" rowspan="x">a</td></tr></table>', [], ["colspan", "rowspan"]),
        ('<table><tr><td colspan="2" style="text-align: right">a</td></tr></table>',
         ['colspan="2"', 'style="text-align:right"'], []),
        ('<td style="text-align: url(x)">a</td>', [], ["style"]),
        ('<ol start="1e3"><li>a</li></ol>', ["<ol>"], ["start"]),
        ('<details open="later"><summary>s</summary></details>', ['<details open="">'], []),
        ('<h2 id="two words">x</h2>', ["<h2>x</h2>"], ["two words"]),
        ('<a href="my file.pdf">x</a>', ['href="my%20file.pdf"'], ["my file"]),
        ('<img src="/a.png">', ['alt=""'], []),  # alt is required
    ],
)  # fmt: skip
def test_attribute_values_must_be_valid_html(source: str, kept: list[str], gone: list[str]) -> None:
    html = render_markdown(source).html
    for needle in kept:
        assert needle in html
    for needle in gone:
        assert needle not in html


@pytest.mark.parametrize(
    ("href", "external"),
    [
        ("https://other.example/a", True),
        ("http://OTHER.example", True),
        ("//other.example/x", True),
        ("https://news.example/articles/x/", False),  # the site's own host
        ("/articles/x/", False),
        ("#fn-1", False),
        ("mailto:desk@news.example", False),
        ("ipfs://bafybeigdyrzt/index.html", False),
    ],
)
def test_external_links_get_rel(href: str, external: bool) -> None:
    for source in (f"[x]({href})", f'<a href="{href}">x</a>'):
        html = render_markdown(source, site_url="https://news.example").html
        assert f'href="{href}"' in html
        assert ('rel="noopener noreferrer"' in html) is external, (source, html)
        assert "target=" not in html


@pytest.mark.parametrize(
    "href",
    ["ipfs://bafy/x", "ipns://name.eth/", "ar://tx", "wss://node.example/ws", "tel:+123",
     "bitcoin:bc1qxyz", "mailto:a@b.example", "https://a.example/", "relative/page", "#part"],
)  # fmt: skip
def test_default_link_schemes_keep_their_href(href: str) -> None:
    assert f'<a href="{href}">x</a>' in render_markdown(f"[x]({href})").html.replace(
        ' rel="noopener noreferrer"', ""
    )


def test_link_schemes_come_from_the_site_and_never_include_script() -> None:
    assert "<a>x</a>" in render_markdown("[x](ftp://f.example/a)").html
    allowed = render_markdown("[x](ftp://f.example/a)", link_schemes=["ftp"]).html
    assert 'href="ftp://f.example/a"' in allowed
    assert "<a>x</a>" in render_markdown("[x](ipfs://bafy)", link_schemes=["ftp"]).html
    hostile = render_markdown(
        '<a href="javascript:alert(1)">x</a> <a href="data:text/html,x">y</a>',
        link_schemes=["javascript", "data", "vbscript"],
    ).html
    assert "javascript" not in hostile
    assert "data:" not in hostile


def test_the_sanitiser_is_built_once_per_scheme_set() -> None:
    render_markdown("x", link_schemes=["ftp"])
    before = _cleaner.cache_info()
    for schemes in (["ftp"], ("FTP",), {"ftp"}):
        render_markdown("[x](ftp://a)", link_schemes=schemes)
    after = _cleaner.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
    assert _cleaner(_schemes(DEFAULT_LINK_SCHEMES)) is _cleaner(_schemes(DEFAULT_LINK_SCHEMES))


def test_backslash_host_is_a_path_here() -> None:
    # Browsers read "/\\host" as "//host": raw HTML gets the "\\" percent-encoded, as a Markdown
    # link does, so it stays a path on this site.
    for source in ('<a href="/\\other.example/x">x</a>', "[x](/\\other.example/x)"):
        assert 'href="/%5Cother.example/x"' in render_markdown(source).html


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
        '![chart](/media/c.png "Chart")\n\n<img src="/m.png" alt="m" loading="eager">'
    ).html
    assert html.count('loading="lazy"') == 2
    assert html.count('decoding="async"') == 2
    assert "eager" not in html
    assert 'alt="chart"' in html
    assert 'title="Chart"' in html


def test_an_image_whose_source_is_not_allowed_leaves_its_alt_text() -> None:
    html = render_markdown("See ![the chart](javascript:x) and ![](ftp://f/x.png).").html
    assert html.strip() == "<p>See the chart and .</p>"


def test_plain_text_headings_and_lead() -> None:
    body = render_markdown(
        "## Intro\n\nFirst *para* with `code`\nand a [link](/x).[^n] ![alt](/i.png)\n\n"
        "```\nnot prose\n```\n\n- item one\n- item two\n  - nested\n\n| h |\n|---|\n| cell |\n\n"
        "> Quoted words\n\n<div>raw words</div>\n\n[^n]: A note.\n"
    )
    assert body.text.splitlines() == [
        "Intro",
        "First para with code and a link.",
        "item one",
        "item two",
        "nested",
        "h",
        "cell",
        "Quoted words",
        "A note.",
    ]
    assert body.lead == "First para with code and a link. Quoted words."


def test_lead_never_runs_blocks_into_one_sentence() -> None:
    # The summary once read "Import ethers.js Transfer token To get started, ...".
    body = render_markdown(
        "## Import ethers.js\n\n- Transfer token\n- Approve\n\nTo get started, install it\n\n"
        "Then run it:\n\n```\nnpm i\n```\n\n链上数据\n"
    )
    assert body.lead == "To get started, install it. Then run it. 链上数据。"


def test_non_ascii_links_get_an_idna_host() -> None:
    html = render_markdown("[x](https://例子.测试/路径?q=比特币)").html
    host, path = "xn--fsqu00a.xn--0zwm56d", "%E8%B7%AF%E5%BE%84?q=%E6%AF%94%E7%89%B9%E5%B8%81"
    assert f'href="https://{host}/{path}"' in html


def test_render_is_deterministic_and_escapes_text() -> None:
    source = 'A < B & C > D "quoted"\n\n# T\n'
    first = render_markdown(source).html
    assert first == render_markdown(source).html
    assert re.search(r"A &lt; B &amp; C &gt; D", first)


MiB = 1024 * 1024
SIZE = MiB // 4  # a quarter of the source limit keeps the suite fast; bench_publish.py: 1 MiB


def _fill(unit: str) -> str:
    return (unit * (SIZE // len(unit.encode()) + 1))[:SIZE]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("[" * SIZE, id="open brackets"),
        pytest.param(_fill("[a]("), id="link openers"),
        pytest.param(_fill("*a_"), id="emphasis markers"),
        pytest.param("| a | b | c |\n|---|---|---|\n" + _fill("| 1 | 2 | 3 |\n"), id="big table"),
        pytest.param(
            _fill(
                "".join(f"Claim[^{n}] {'word ' * 40}\n\n[^{n}]: Source.\n\n" for n in range(900))
            ),
            id="footnotes",
        ),
        pytest.param(_fill("## Update\n\n"), id="same headings"),
        pytest.param(_fill("<b>x</b> "), id="raw tags"),
        pytest.param(_fill("<!--\n"), id="unclosed comments"),
    ],
)
def test_markup_heavy_input_renders_in_linear_time(source: str) -> None:
    started = time.process_time()
    body = render_markdown(source)
    # 0.1-0.6 s of CPU on the project's idle machine, up to 1.6 s seen on a loaded one
    # (bench/bench_publish.py times 1 MiB of each); a quadratic parser takes minutes on some of
    # these (markdown-it-py did), so the bound has room for load and still catches that.
    assert time.process_time() - started < 4.0
    assert body.html


def test_nesting_is_limited_where_the_html_parser_turns_quadratic() -> None:
    # html5ever (nh3) takes time quadratic in nesting depth: allowed up to MAX_NESTING (fast),
    # refused past it, also for a mebibyte of ">" (refused before any sanitising).
    started = time.process_time()
    assert render_markdown(">" * (MAX_NESTING - 1) + " deep").text == "deep"
    assert time.process_time() - started < 1.0
    for source in (">" * (MAX_NESTING + 1) + " deep", "<div>\n\n" * 10_000, "<i>" * 2_000 + "x"):
        with pytest.raises(MarkdownLimitError, match="levels deep"):
            render_markdown(source)
    started = time.process_time()
    with pytest.raises(MarkdownLimitError):
        render_markdown(">" * MiB)
    assert time.process_time() - started < 1.5
