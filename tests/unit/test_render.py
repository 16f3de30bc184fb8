"""The theme: every page's structure, escaping, JSON-LD, pagination, overrides and sandbox.

Pages are parsed into a small element tree (html.parser, strict: every non-void element must
be closed by its own end tag) so assertions are about elements, not substrings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, TemplateSyntaxError

from chainpress.model import Article
from chainpress.ports import HotItem
from chainpress.render import Theme, ThemeError, format_date, pagination
from chainpress.settings import Category, SiteSettings

VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip
HOSTILE = "<script>alert(1)</script>\"'&"


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node | str] = dataclasses.field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str, **attrs: str | None) -> list[Node]:
        def matches(node: Node) -> bool:
            for name, want in attrs.items():
                name = name.rstrip("_").replace("_", "-")
                if name not in node.attrs:
                    return False
                if want is not None and name == "class":
                    if want not in (node.attrs[name] or "").split():
                        return False
                elif want is not None and node.attrs[name] != want:
                    return False
            return True

        return [n for n in self.iter() if n.tag == tag and matches(n)]

    def find(self, tag: str, **attrs: str | None) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join("".join(parts).split())

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class StrictTree(HTMLParser):
    """Builds a tree; fails on stray or mismatched end tags and on unclosed elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        assert len(names) == len(set(names)), f"duplicate attribute on <{tag}>: {names}"
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"end tag for void element </{tag}>"
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    parser = StrictTree()
    parser.feed(html)
    parser.close()
    assert parser.current is parser.root, f"<{parser.current.tag}> is never closed"
    assert parser.doctype.lower() == "doctype html"
    assert html.startswith("<!doctype html>")
    (top,) = [c for c in parser.root.children if isinstance(c, Node)]
    assert top.tag == "html"
    assert [c.tag for c in top.children if isinstance(c, Node)] == ["head", "body"]
    return parser.root


def meta(root: Node, key: str) -> list[str]:
    """Contents of <meta property=key> or <meta name=key>."""
    return [
        str(m.attrs["content"])
        for m in root.find_all("meta")
        if key in (m.attrs.get("property"), m.attrs.get("name"))
    ]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def settings() -> SiteSettings:
    return SiteSettings(base_url="https://news.example", timezone="Asia/Shanghai")


@pytest.fixture
def theme(settings: SiteSettings) -> Theme:
    return Theme(settings)


def make_article(slug: str = "chongqing-plan", **changes: object) -> Article:
    values: dict[str, object] = {
        "slug": slug,
        "title": "Chongqing releases a blockchain action plan",
        "date": dt.datetime(2022, 5, 3, 1, 30, tzinfo=dt.UTC),
        "source_key": f"articles/{slug}.md",
        "content_hash": "0" * 64,
        "author": "pn5qlz",
        "category": "blockchain",
        "tags": ("Chongqing", "Layer 2"),
        "summary": "A three-year plan for the blockchain industry.",
        "reading_minutes": 4,
        "word_count": 900,
    }
    values.update(changes)
    return Article(**values)  # type: ignore[arg-type]


BODY = "<p>December 21, 2021: the future on the chain.</p><p>The plan proposes four goals.</p>"


def article_html(theme: Theme, article: Article | None = None, **kwargs: object) -> str:
    options: dict[str, object] = {
        "previous": make_article("older-news", title="Chongqing's first local standard"),
        "next": None,
        "related": [make_article("related-1", title="Related one")],
    }
    options.update(kwargs)
    return theme.article_page(article or make_article(), BODY, **options)  # type: ignore[arg-type]


# -- article page ---------------------------------------------------------------------------


def test_article_head(theme: Theme) -> None:
    article = make_article(cover="/media/plan.jpg", updated=dt.datetime(2022, 5, 4, tzinfo=dt.UTC))
    root = parse(article_html(theme, article))
    html = root.find("html")
    assert html.attrs["lang"] == "en"
    head = root.find("head")
    assert head.find("meta", charset="utf-8")
    assert "width=device-width" in str(head.find("meta", name="viewport").attrs["content"])
    assert (
        head.find("title").text == "Chongqing releases a blockchain action plan - Blockchain Circle"
    )
    canonical = "https://news.example/articles/chongqing-plan/"
    assert head.find("link", rel="canonical").attrs["href"] == canonical
    assert meta(head, "description") == ["A three-year plan for the blockchain industry."]
    assert meta(head, "og:type") == ["article"]
    assert meta(head, "og:title") == ["Chongqing releases a blockchain action plan"]
    assert meta(head, "og:description") == ["A three-year plan for the blockchain industry."]
    assert meta(head, "og:url") == [canonical]
    assert meta(head, "og:image") == ["https://news.example/media/plan.jpg"]
    assert meta(head, "article:published_time") == ["2022-05-03T01:30:00Z"]
    assert meta(head, "article:modified_time") == ["2022-05-04T00:00:00Z"]
    assert meta(head, "article:section") == ["Blockchain"]
    assert meta(head, "article:tag") == ["Chongqing", "Layer 2"]
    feeds = head.find_all("link", rel="alternate", type="application/rss+xml")
    assert [f.attrs["href"] for f in feeds] == ["/feed.xml", "/category/blockchain/feed.xml"]
    css = head.find("link", rel="stylesheet")
    assert str(css.attrs["href"]).startswith("/static/style.css?v=")
    script = head.find("script", src=None)
    assert str(script.attrs["src"]).startswith("/static/views.js?v=")
    assert "defer" in script.attrs


def test_article_without_cover_has_no_image(theme: Theme) -> None:
    root = parse(article_html(theme))
    assert meta(root, "og:image") == []
    assert "image" not in json.loads(root.find("script", type="application/ld+json").text)
    assert root.find_all("figure") == []


def test_article_body_elements(theme: Theme) -> None:
    root = parse(article_html(theme))
    body = root.find("body")

    header = body.find("header", class_="site-header")
    assert header.find("a", class_="site-name").attrs["href"] == "/"
    assert header.find("a", class_="site-name").text == "Blockchain Circle"
    assert header.find("p", class_="tagline").text == "One stop hot information platform"

    nav = body.find("nav", class_="site-nav")
    links = {a.text: a for a in nav.find_all("a")}
    for category in SiteSettings().categories:
        assert links[category.label].attrs["href"] == f"/category/{category.key}/"
    current = nav.find_all("a", aria_current="page")
    assert [a.text for a in current] == ["Blockchain"]

    crumbs = body.find("nav", class_="breadcrumb").find_all("li")
    assert [li.text for li in crumbs] == [
        "Home",
        "Blockchain",
        "Chongqing releases a blockchain action plan",
    ]
    assert crumbs[0].find("a").attrs["href"] == "/"
    assert crumbs[1].find("a").attrs["href"] == "/category/blockchain/"

    article = body.find("article", class_="article")
    assert article.find("h1").text == "Chongqing releases a blockchain action plan"
    assert len(body.find_all("h1")) == 1
    line = article.find("p", class_="meta")
    time = line.find("time")
    assert time.attrs["datetime"] == "2022-05-03T01:30:00Z"
    assert time.text == "2022-05-03 09:30"  # shown in settings.timezone (UTC+8)
    assert line.text.startswith("Time : 2022-05-03 09:30 Author : pn5qlz")
    assert line.find("span", class_="author").text == "pn5qlz"
    assert "4 min read" in line.text
    views = line.find("span", class_="views")
    assert views.attrs["data-slug"] == "chongqing-plan"
    assert "hidden" in views.attrs
    assert "data-count-view" in views.attrs

    content = article.find("div", class_="article-body")
    assert [p.text for p in content.find_all("p")] == [
        "December 21, 2021: the future on the chain.",
        "The plan proposes four goals.",
    ]
    tags = article.find("ul", class_="tags").find_all("a")
    assert [(a.text, a.attrs["href"]) for a in tags] == [
        ("Chongqing", "/tag/chongqing/"),
        ("Layer 2", "/tag/layer-2/"),
    ]

    prev_next = body.find("nav", class_="prev-next")
    prev = prev_next.find("p", class_="prev")
    assert prev.text == "Previous: Chongqing's first local standard"
    assert prev.find("a").attrs["href"] == "/articles/older-news/"
    assert prev_next.find("p", class_="next").text == "Next: No more"

    related = body.find("section", class_="related")
    assert related.find("h2").text == "Related articles:"
    assert [a.attrs["href"] for a in related.find_all("a")] == ["/articles/related-1/"]

    footer = body.find("footer")
    hrefs = {a.text: a.attrs["href"] for a in footer.find_all("a")}
    assert hrefs["Sitemap1"] == "/sitemap/"
    assert hrefs["Sitemap2"] == "/archive/"
    assert "/sitemap.xml" in hrefs.values()
    assert "/feed.xml" in hrefs.values()
    assert "All Rights Reserved" in footer.text


def test_article_neighbours_both_ways(theme: Theme) -> None:
    newer = make_article("newer", title="Newer news")
    root = parse(article_html(theme, previous=None, next=newer, related=[]))
    assert root.find("p", class_="prev").text == "Previous: No more"
    assert root.find("p", class_="next").find("a").attrs["href"] == "/articles/newer/"
    assert root.find("section", class_="related").find_all("a") == []


def test_article_without_category_or_author(theme: Theme) -> None:
    article = make_article(category="", author="", tags=())
    root = parse(article_html(theme, article))
    assert [li.text for li in root.find("nav", class_="breadcrumb").find_all("li")] == [
        "Home",
        article.title,
    ]
    assert root.find("nav", class_="site-nav").find_all("a", aria_current="page") == []
    assert "Author" not in root.find("p", class_="meta").text
    assert root.find_all("ul", class_="tags") == []
    data = json.loads(root.find("script", type="application/ld+json").text)
    assert data["author"]["@type"] == "Organization"  # falls back to the publisher
    assert "articleSection" not in data


def test_jsonld(theme: Theme) -> None:
    article = make_article(cover="https://cdn.example/a.png")
    root = parse(article_html(theme, article))
    (script,) = root.find_all("script", type="application/ld+json")
    data = json.loads(script.text)
    canonical = "https://news.example/articles/chongqing-plan/"
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == article.title
    assert data["description"] == article.summary
    assert data["datePublished"] == "2022-05-03T01:30:00Z"
    assert data["dateModified"] == "2022-05-03T01:30:00Z"
    assert data["author"] == {"@type": "Person", "name": "pn5qlz"}
    assert data["publisher"]["@type"] == "Organization"
    assert data["publisher"]["name"] == "Blockchain Circle"
    assert data["mainEntityOfPage"] == {"@type": "WebPage", "@id": canonical}
    assert data["image"] == ["https://cdn.example/a.png"]
    assert data["keywords"] == ["Chongqing", "Layer 2"]
    assert data["articleSection"] == "Blockchain"


def test_hostile_text_is_escaped_everywhere(settings: SiteSettings) -> None:
    settings = dataclasses.replace(
        settings,
        name=HOSTILE,
        categories=(Category("blockchain", HOSTILE),),
        contact=HOSTILE,
    )
    theme = Theme(settings)
    article = make_article(
        title=HOSTILE, summary=HOSTILE, author=HOSTILE, tags=(HOSTILE,), cover='x" onerror="'
    )
    pages = [
        theme.article_page(article, BODY, previous=article, next=article, related=[article]),
        theme.listing_page(
            title=HOSTILE,
            path="/tag/x/",
            articles=[article],
            page=None,
            pages=3,
            base_path="/tag/x/",
            description=HOSTILE,
        ),
        theme.home_page(articles=[article], pages=2, hot=[HotItem("s", HOSTILE, "/a/", "c", 1)]),
        theme.hot_page(lists={"24h": [HotItem("s", HOSTILE, "javascript:alert(1)", "c", 1)]}),
        theme.sitemap_page(categories=[(settings.categories[0], 1)], tags=[(HOSTILE, "k", 2)]),
        theme.sitemap_tags_page(tags=[(HOSTILE, "k")], page=2, pages=3),
        theme.archive_page(months=[(HOSTILE, 3)]),
        theme.archive_month_page(label=HOSTILE, articles=[article], page=2, pages=3),
        theme.not_found_page(),
    ]
    for html in pages:
        assert "<script>alert" not in html
        root = parse(html)
        # Only the theme's own scripts: views.js and JSON-LD blocks.
        for script in root.find_all("script"):
            assert "src" in script.attrs or script.attrs.get("type") == "application/ld+json"
        assert not [n for n in root.iter() if any(a.startswith("on") for a in n.attrs)]
        assert not [a for a in root.find_all("a") if "javascript:" in str(a.attrs.get("href"))]
    root = parse(pages[0])
    assert root.find("h1").text == HOSTILE
    assert meta(root, "og:title") == [HOSTILE]
    assert meta(root, "article:tag") == [HOSTILE]
    ld = root.find("script", type="application/ld+json").text
    for char in "<>&":
        assert char not in ld
    assert json.loads(ld)["headline"] == HOSTILE


def test_cjk_slug_is_encoded_in_links_but_raw_for_the_api(theme: Theme) -> None:
    article = make_article("链圈-新闻", tags=("以太坊",))
    root = parse(article_html(theme, article))
    encoded = "/articles/%E9%93%BE%E5%9C%88-%E6%96%B0%E9%97%BB/"
    assert root.find("link", rel="canonical").attrs["href"] == "https://news.example" + encoded
    assert root.find("span", class_="views").attrs["data-slug"] == "链圈-新闻"
    assert (
        root.find("ul", class_="tags").find("a").attrs["href"]
        == "/tag/%E4%BB%A5%E5%A4%AA%E5%9D%8A/"
    )


# -- listings and pagination ----------------------------------------------------------------


def pager_links(html: str) -> dict[str, object]:
    root = parse(html)
    pagers = root.find_all("nav", class_="pager")
    if not pagers:
        return {"older": None, "newer": None, "numbers": []}
    (nav,) = pagers

    def one(cls: str) -> object:
        found = nav.find_all("a", class_=cls)
        return found[0].attrs["href"] if found else None

    numbers = [li.text for li in nav.find_all("li")]
    return {"older": one("older"), "newer": one("newer"), "numbers": numbers}


def listing(
    theme: Theme, page: int | None, pages: int, articles: list[Article] | None = None
) -> str:
    base = "/category/bitcoin/"
    return theme.listing_page(
        title="Bitcoin",
        path=base if page is None else f"{base}page/{page}/",
        articles=[make_article(category="bitcoin")] if articles is None else articles,
        page=page,
        pages=pages,
        base_path=base,
        feed_path=f"{base}feed.xml",
    )


def test_listing_page_elements(theme: Theme) -> None:
    root = parse(listing(theme, 3, 5))
    assert root.find("title").text == "Bitcoin - Page 3 - Blockchain Circle"
    assert root.find("link", rel="canonical").attrs["href"] == (
        "https://news.example/category/bitcoin/page/3/"
    )
    feeds = [f.attrs["href"] for f in root.find_all("link", rel="alternate")]
    assert "/category/bitcoin/feed.xml" in feeds
    current = root.find("nav", class_="site-nav").find_all("a", aria_current="page")
    assert [a.text for a in current] == ["Bitcoin"]
    card = root.find("article", class_="card")
    title = card.find("h2").find("a")
    assert (title.text, title.attrs["href"]) == (
        "Chongqing releases a blockchain action plan",
        "/articles/chongqing-plan/",
    )
    assert card.find("time").attrs["datetime"] == "2022-05-03T01:30:00Z"
    assert card.find("time").text == "2022-05-03"
    assert card.find("span", class_="author").text == "pn5qlz"
    assert card.find("a", class_="category").attrs["href"] == "/category/bitcoin/"
    assert card.find("p", class_="summary").text == "A three-year plan for the blockchain industry."
    views = card.find("span", class_="views")
    assert views.attrs["data-slug"] == "chongqing-plan"
    assert "hidden" in views.attrs
    assert "data-count-view" not in views.attrs  # listings only read counts


def test_empty_listing(theme: Theme) -> None:
    root = parse(listing(theme, None, 0, articles=[]))
    assert root.find("p", class_="empty").text == "No articles yet."
    assert root.find_all("nav", class_="pager") == []


def test_front_page_links_numbered_pages_newest_first(theme: Theme) -> None:
    links = pager_links(listing(theme, None, 4))
    assert links["newer"] is None
    assert links["older"] == "/category/bitcoin/page/3/"  # page 4 is what the front shows
    assert links["numbers"] == ["4", "3", "2", "1"]
    links = pager_links(listing(theme, None, 30))
    assert links["numbers"] == [*(str(k) for k in range(30, 20, -1)), "…", "1"]
    assert links["older"] == "/category/bitcoin/page/29/"
    assert pager_links(listing(theme, None, 1)) == {"older": None, "newer": None, "numbers": []}


@pytest.mark.parametrize(
    ("page", "pages", "older", "newer"),
    [
        (1, 5, None, "/category/bitcoin/page/2/"),
        (3, 5, "/category/bitcoin/page/2/", "/category/bitcoin/page/4/"),
        (5, 5, "/category/bitcoin/page/4/", "/category/bitcoin/"),
        (1, 1, None, "/category/bitcoin/"),
    ],
)
def test_numbered_page_links(
    theme: Theme, page: int, pages: int, older: str | None, newer: str
) -> None:
    links = pager_links(listing(theme, page, pages))
    assert links == {"older": older, "newer": newer, "numbers": []}


def test_old_numbered_pages_keep_their_bytes_as_the_listing_grows(theme: Theme) -> None:
    assert listing(theme, 3, 10) == listing(theme, 3, 11)
    assert listing(theme, 10, 10) != listing(theme, 10, 11)  # the newest one moves on


def test_pagination_urls_are_encoded() -> None:
    pager = pagination(2, 3, "/tag/以太坊/")
    assert pager["older"] == "/tag/%E4%BB%A5%E5%A4%AA%E5%9D%8A/page/1/"


# -- other pages ----------------------------------------------------------------------------


def test_home_page(theme: Theme) -> None:
    hot = [HotItem("a", "Hot one", "/articles/a/", "bitcoin", 1234), HotItem("b", "Two", "", "", 5)]
    root = parse(theme.home_page(articles=[make_article()], pages=3, hot=hot))
    assert root.find("title").text == "Blockchain Circle - One stop hot information platform"
    assert root.find("link", rel="canonical").attrs["href"] == "https://news.example/"
    assert json.loads(root.find("script", type="application/ld+json").text)["@type"] == "WebSite"
    assert root.find("nav", class_="site-nav").find("a", aria_current="page").text == "Home"
    assert root.find("article", class_="card").find("span", class_="views").attrs["data-slug"]
    hot_list = root.find("ol", class_="hot-list")
    assert hot_list.attrs["data-hot-window"] == "24h"
    items = hot_list.find_all("li")
    assert [li.find("a").attrs["href"] for li in items] == ["/articles/a/", "/articles/b/"]
    assert items[0].find("span", class_="category").text == "Bitcoin"
    assert "1234" in items[0].text
    assert pager_links(theme.home_page(articles=[], pages=3, hot=[]))["older"] == "/page/2/"
    assert root.find("p", class_="more").find("a").attrs["href"] == "/archive/"


def test_hot_page(theme: Theme) -> None:
    item = HotItem("a", "Hot one", "/articles/a/", "bitcoin", 9)
    root = parse(theme.hot_page(lists={"24h": [item], "7d": []}))
    sections = root.find_all("section", class_="hot")
    assert [s.find("h2").text for s in sections] == ["Last 24 hours", "Last 7 days"]
    assert sections[0].find("a").attrs["href"] == "/articles/a/"
    assert sections[1].find("p", class_="empty")


def test_sitemap_page(theme: Theme, settings: SiteSettings) -> None:
    categories = [(c, i) for i, c in enumerate(settings.categories)]
    root = parse(theme.sitemap_page(categories=categories, tags=[("Layer 2", "layer-2", 7)]))
    assert root.find("h1").text == "Sitemap"
    lists = root.find_all("ul", class_="sitemap-list")
    cats = lists[0].find_all("li")
    assert len(cats) == len(settings.categories)
    assert cats[1].find("a").attrs["href"] == "/category/digital-currency/"
    assert cats[1].text == "Digital currency (1)"
    (tag,) = lists[1].find_all("li")
    assert tag.find("a").attrs["href"] == "/tag/layer-2/"
    assert tag.text == "Layer 2 (7)"


def test_sitemap_page_without_counts_links_pages_of_tags(
    theme: Theme, settings: SiteSettings
) -> None:
    categories = [(c, None) for c in settings.categories]
    root = parse(theme.sitemap_page(categories=categories, tags=[], tag_pages=3))
    lists = root.find_all("ul", class_="sitemap-list")
    assert lists[0].find_all("li")[1].text == "Digital currency"
    links = [a.attrs["href"] for a in root.find("ul", class_="tag-pages").find_all("a")]
    assert links == ["/sitemap/tags/1/", "/sitemap/tags/2/", "/sitemap/tags/3/"]


def test_sitemap_tags_page(theme: Theme) -> None:
    root = parse(theme.sitemap_tags_page(tags=[("Layer 2", "layer-2")], page=2, pages=3))
    assert root.find("ul", class_="tag-cloud").find("a").attrs["href"] == "/tag/layer-2/"
    pager = root.find("nav", class_="pager")
    assert pager.find("a", class_="older").attrs["href"] == "/sitemap/tags/1/"
    assert pager.find("a", class_="newer").attrs["href"] == "/sitemap/tags/3/"
    assert root.find("link", rel="canonical").attrs["href"].endswith("/sitemap/tags/2/")


def test_archive_page(theme: Theme) -> None:
    root = parse(theme.archive_page(months=[("2022-05", 2), ("2022-04", 1)]))
    items = root.find("ul", class_="months").find_all("li")
    assert [li.text for li in items] == ["2022-05 (2)", "2022-04 (1)"]
    assert [li.find("a").attrs["href"] for li in items] == [
        "/archive/2022/05/",
        "/archive/2022/04/",
    ]


def test_archive_month_page(theme: Theme) -> None:
    may = [make_article("b", title="Second"), make_article("a")]
    root = parse(theme.archive_month_page(label="2022-05", articles=may, page=1, pages=2))
    assert root.find("h1").text == "2022-05"
    links = [a.attrs["href"] for a in root.find("ul", class_="archive-list").find_all("a")]
    assert links == ["/articles/b/", "/articles/a/"]
    pager = root.find("nav", class_="pager")
    assert pager.find_all("a", class_="older") == []
    assert pager.find("a", class_="newer").attrs["href"] == "/archive/2022/05/page/2/"
    last = parse(theme.archive_month_page(label="2022-05", articles=[], page=2, pages=2))
    assert last.find("p", class_="empty")
    assert last.find("link", rel="canonical").attrs["href"].endswith("/archive/2022/05/page/2/")


def test_not_found_page(theme: Theme) -> None:
    root = parse(theme.not_found_page())
    assert root.find("h1").text == "Page not found"
    assert meta(root, "robots") == ["noindex"]
    assert root.find_all("link", rel="canonical") == []


def test_static_files(theme: Theme) -> None:
    files = theme.static_files()
    assert set(files) == {
        "static/style.css",
        "static/views.js",
        # Site search: its script and the Snowball stemmer it imports.
        "static/search.js",
        "static/english-stemmer.js",
        "static/base-stemmer.js",
    }
    assert b"./english-stemmer.js" in files["static/search.js"][0]
    css, css_type = files["static/style.css"]
    js, js_type = files["static/views.js"]
    assert css_type == "text/css; charset=utf-8"
    assert b"prefers-color-scheme" in css
    assert js_type == "text/javascript; charset=utf-8"
    for needle in (b"/views/", b"keepalive", b"encodeURIComponent", b"/hot?window="):
        assert needle in js
    assert len(css) < 16_000  # "one small file"
    assert len(js) < 8_000


def test_rendering_is_deterministic(theme: Theme, settings: SiteSettings) -> None:
    assert article_html(theme) == article_html(Theme(settings))


# -- overrides and the sandbox --------------------------------------------------------------


def test_override_replaces_a_template(settings: SiteSettings) -> None:
    theme = Theme(
        settings, overrides={"article.html": "<p>{{ article.title }} by {{ site.name }}</p>"}
    )
    html = article_html(theme, make_article(title="<b>x</b>"))
    assert html == "<p>&lt;b&gt;x&lt;/b&gt; by Blockchain Circle</p>"
    # Other pages keep the bundled templates.
    assert parse(theme.not_found_page()).find("h1").text == "Page not found"


def test_override_of_base_applies_to_every_page(settings: SiteSettings) -> None:
    base = (
        "<!doctype html><html><head><title>t</title></head>"
        "<body>{% block main %}{% endblock %}<i>custom</i></body></html>"
    )
    theme = Theme(settings, overrides={"base.html": base})
    for html in (article_html(theme), theme.not_found_page()):
        assert "<i>custom</i>" in html
        parse(html)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ article.__class__.__init__.__globals__ }}",
        "{{ site.from_yaml.__func__.__globals__ }}",
    ],
)
def test_sandbox_blocks_private_attributes(settings: SiteSettings, source: str) -> None:
    theme = Theme(settings, overrides={"article.html": source})
    with pytest.raises(ThemeError) as caught:
        article_html(theme)
    # Reported as the editor's template error, with the sandbox's refusal as the cause.
    assert isinstance(caught.value.__cause__, SecurityError)
    assert caught.value.message.startswith("theme/article.html (line 1): SecurityError")


def test_check_reports_a_broken_override_with_its_line(settings: SiteSettings) -> None:
    Theme(settings).check()  # the bundled theme compiles
    theme = Theme(settings, overrides={"listing.html": "ok\n{% for x in %}\n"})
    with pytest.raises(TemplateSyntaxError) as caught:
        theme.check()
    assert caught.value.name == "listing.html"
    assert caught.value.lineno == 2


def test_undefined_names_fail_loudly(settings: SiteSettings) -> None:
    from jinja2.exceptions import UndefinedError

    theme = Theme(settings, overrides={"404.html": "{{ no_such_thing }}"})
    with pytest.raises(ThemeError) as caught:
        theme.not_found_page()
    assert isinstance(caught.value.__cause__, UndefinedError)
    assert "no_such_thing" in caught.value.message


# -- helpers --------------------------------------------------------------------------------


def test_format_date_uses_the_site_timezone(settings: SiteSettings) -> None:
    when = dt.datetime(2022, 12, 31, 20, 0, tzinfo=dt.UTC)
    assert format_date(when, settings) == "2023-01-01 04:00"
    assert format_date(when, settings, with_time=False) == "2023-01-01"
    assert format_date(when.replace(tzinfo=None), settings) == "2023-01-01 04:00"
    broken = dataclasses.replace(settings, timezone="Not/AZone")
    assert format_date(when, broken) == "2022-12-31 20:00"  # falls back to UTC


# -- views.js (run under node with a tiny fake DOM, when node is installed) ------------------

VIEWS_HARNESS = r"""
const fs = require("fs");
function el(attrs) {
  return { attrs, hidden: true, textContent: "", children: [], slot: { textContent: "" },
    getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
    querySelector(sel) { return sel === ".views-n" ? this.slot : null; },
    appendChild(c) { this.children.push(c); return c; },
    removeChild(c) { this.children.splice(this.children.indexOf(c), 1); },
    get firstChild() { return this.children[0] || null; } };
}
const counted = el({ "data-slug": "链圈-news", "data-count-view": "" });
const others = [];
for (let i = 0; i < 150; i++) others.push(el({ "data-slug": "s" + i }));
const hot = el({ "data-hot-window": "24h" });
hot.children.push({ text: "static item" });
global.document = {
  currentScript: null,
  querySelectorAll() { return [counted, ...others]; },
  querySelector(sel) {
    if (sel.includes("data-count-view")) return counted;
    return sel === "[data-hot-window]" ? hot : null;
  },
  createDocumentFragment() {
    return { childNodes: [], appendChild(c) { this.childNodes.push(c); } };
  },
  createElement(tag) { return { tag, children: [], appendChild(c) { this.children.push(c); } }; },
  createTextNode(text) { return { text }; },
};
const calls = [];
global.fetch = (url, init) => {
  const method = (init && init.method) || "GET";
  calls.push({ url, method, keepalive: !!(init && init.keepalive) });
  let body;
  if (init && init.method === "POST") body = { slug: "链圈-news", views: 1234 };
  else if (url.includes("/views?")) {
    const views = {};
    url.split("slugs=")[1].split(",").forEach((s) => { views[decodeURIComponent(s)] = 7; });
    body = { views };
  } else body = { window: "24h", category: null, items: [
    { slug: "a", title: "<b>A</b>", url: "/articles/a/", category: null, views: 5 },
    { slug: "b", title: "bad", url: "javascript:alert(1)", category: null, views: 1 },
  ] };
  return Promise.resolve({ ok: true, json: () => Promise.resolve(body) });
};
eval(fs.readFileSync(process.argv[2], "utf8"));
setTimeout(() => {
  const links = hot.children.flatMap((f) => f.childNodes || [f]).map((li) => li.children
    ? { href: li.children[0].href, text: li.children[0].textContent } : li);
  console.log(JSON.stringify({
    calls,
    counted: { hidden: counted.hidden, text: counted.slot.textContent },
    othersShown: others.every((o) => !o.hidden && o.slot.textContent === "7"),
    hot: links,
  }));
}, 50);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_views_js_counts_fills_and_refreshes(theme: Theme, tmp_path: Path) -> None:
    script = tmp_path / "views.js"
    script.write_bytes(theme.static_files()["static/views.js"][0])
    harness = tmp_path / "harness.js"
    harness.write_text(VIEWS_HARNESS, encoding="utf-8")
    done = subprocess.run(
        ["node", str(harness), str(script)], capture_output=True, text=True, timeout=30, check=True
    )
    result = json.loads(done.stdout)
    calls = result["calls"]
    assert calls[0] == {
        "url": "/api/views/%E9%93%BE%E5%9C%88-news",  # CJK slug encoded
        "method": "POST",
        "keepalive": True,
    }
    reads = [c["url"] for c in calls if c["url"].startswith("/api/views?")]
    assert [len(url.split("=")[1].split(",")) for url in reads] == [100, 50]  # batches of 100
    assert calls[-1]["url"] == "/api/hot?window=24h&limit=10"
    assert result["counted"] == {"hidden": False, "text": "1,234"}
    assert result["othersShown"] is True
    # Titles stay text; a non-site URL is dropped rather than linked.
    assert result["hot"] == [{"href": "/articles/a/", "text": "<b>A</b>"}]


# -- languages, labels and dates ------------------------------------------------------------


def meta_line(root: Node) -> str:
    return root.find("header", class_="article-header").find("p", class_="meta").text


def test_a_day_without_time_shows_no_midnight(theme: Theme) -> None:
    day = make_article(date=dt.datetime(2021, 3, 8, 16, 0, tzinfo=dt.UTC), date_only=True)
    root = parse(article_html(theme, day))
    time = root.find("span", class_="meta-time").find("time")
    assert (time.attrs["datetime"], time.text) == ("2021-03-09", "2021-03-09")
    assert "00:00" not in meta_line(root)
    timed = parse(article_html(theme, make_article()))
    assert timed.find("span", class_="meta-time").find("time").text == "2022-05-03 09:30"


@pytest.mark.parametrize(
    ("updated", "updated_date_only", "shown"),
    [
        (dt.datetime(2022, 6, 1, 2, 0, tzinfo=dt.UTC), False, "2022-06-01 10:00"),
        (dt.datetime(2022, 5, 31, 16, 0, tzinfo=dt.UTC), True, "2022-06-01"),
        (dt.datetime(2022, 5, 3, 1, 30, tzinfo=dt.UTC), False, None),  # the same as the date
        (dt.datetime(2022, 5, 2, 16, 0, tzinfo=dt.UTC), True, None),  # the same day
        (None, False, None),
    ],
)
def test_updated_is_shown_when_it_differs_from_the_date(
    theme: Theme, updated: dt.datetime | None, updated_date_only: bool, shown: str | None
) -> None:
    article = make_article(updated=updated, updated_date_only=updated_date_only)
    root = parse(article_html(theme, article))
    spans = root.find_all("span", class_="meta-updated")
    assert [s.find("time").text for s in spans] == ([shown] if shown else [])


def test_an_article_in_chinese_gets_chinese_labels_on_an_english_site(theme: Theme) -> None:
    html = article_html(theme, make_article(language="zh"))
    root = parse(html)
    assert root.find("html").attrs["lang"] == "zh"
    assert meta(root, "og:locale") == ["zh"]
    assert meta_line(root).startswith("时间：")
    assert "阅读约 4 分钟" in meta_line(root)
    assert root.find("a", class_="skip").text == "跳到正文"
    assert root.find("h2", id="related-title").text == "相关文章："
    assert "Time :" not in html
    ld = json.loads(root.find("script", type="application/ld+json").text)
    assert ld["inLanguage"] == "zh"
    # Listing pages of the same site stay in the site's language.
    assert 'lang="en"' in theme.home_page(articles=[make_article(language="zh")], pages=1, hot=[])


def test_site_yaml_labels_override_the_built_in_ones() -> None:
    settings = SiteSettings.from_yaml(
        "language: zh-CN\nlabels:\n  zh: {time: '发布时间：'}\n  zh_CN: {hot: 热榜}\n"
    )
    theme = Theme(settings)
    root = parse(article_html(theme))
    assert root.find("html").attrs["lang"] == "zh-CN"
    assert meta_line(root).startswith("发布时间：")
    nav = root.find("nav", class_="site-nav")
    assert nav.find_all("a")[-1].text == "热榜"
    hot = parse(theme.hot_page(lists={"24h": [], "7d": []}))
    assert [h.text for h in hot.find_all("h2")][:2] == ["最近 24 小时", "最近 7 天"]


def test_translations_are_hreflang_alternates(theme: Theme) -> None:
    en = make_article("send-token", language="en", translation_key="send-token")
    zh = make_article("send-token-zh", language="zh", translation_key="send-token", title="发送")
    root = parse(article_html(theme, zh, translations=[en]))
    links = {
        str(link.attrs["hreflang"]): link.attrs["href"]
        for link in root.find_all("link", rel="alternate")
        if "hreflang" in link.attrs
    }
    assert links == {
        "en": "https://news.example/articles/send-token/",
        "zh": "https://news.example/articles/send-token-zh/",
        "x-default": "https://news.example/articles/send-token/",
    }
    switch = root.find("p", class_="translations")
    assert [(a.attrs["href"], a.text) for a in switch.find_all("a")] == [
        ("/articles/send-token/", "English")
    ]
    alone = parse(article_html(theme, zh))
    assert alone.find_all("p", class_="translations") == []
    fr = make_article("send-token-fr", language="fr", translation_key="send-token")
    switch = parse(article_html(theme, en, translations=[fr, zh])).find("p", class_="translations")
    assert [a.text for a in switch.find_all("a")] == ["fr", "中文"]  # no table for fr: its tag


def test_every_author_in_jsonld_and_keywords_in_meta(theme: Theme) -> None:
    article = make_article(
        author="Ann, Bo", authors=("Ann", "Bo"), extra={"keywords": ["merkle", "proofs"]}
    )
    root = parse(article_html(theme, article))
    ld = json.loads(root.find("script", type="application/ld+json").text)
    assert ld["author"] == [{"@type": "Person", "name": "Ann"}, {"@type": "Person", "name": "Bo"}]
    assert ld["keywords"] == ["Chongqing", "Layer 2", "merkle", "proofs"]
    assert meta(root, "keywords") == ["merkle, proofs"]
