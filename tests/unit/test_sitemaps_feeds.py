"""XML outputs: sitemaps validate against the sitemaps.org 0.9 schemas (tests/data, no network),
the news sitemap too (with a local schema of Google's news tags), and feeds parse cleanly."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from pathlib import Path

import feedparser
import pytest
import xmlschema

from chainpress import sitemaps
from chainpress.feeds import FEED_SIZE, rss
from chainpress.model import Article, format_time, pad_sequencer
from chainpress.ports import HTML, ArticleChange, Paging, SourceState, body_key
from chainpress.rebuilding import RebuildPorts, rebuild_all
from chainpress.settings import SiteSettings
from chainpress_dev.memory import InMemoryArticleStore, InMemoryHotLists, InMemorySiteWriter

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = dt.datetime(2024, 5, 10, 12, 0, tzinfo=dt.UTC)
HOSTILE = "<script>alert('x')</script> & \"quotes\" \x01\x0b"
SETTINGS = SiteSettings(
    base_url="https://news.example.com", name="Chain & <Circle>", language="zh-cn"
)


@pytest.fixture(scope="module")
def urlset_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(
        str(DATA / "sitemap.xsd"),
        locations=[(sitemaps.NEWS_NS, str(DATA / "sitemap-news.xsd"))],
    )


@pytest.fixture(scope="module")
def index_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(DATA / "siteindex.xsd"))


def article(i: int, **changes: object) -> Article:
    fields: dict[str, object] = {
        "slug": f"post-{i}" if i % 3 else f"链圈-{i}",
        "title": f"Title {i} {HOSTILE}",
        "date": NOW - dt.timedelta(hours=6 * i),
        "source_key": f"articles/{i}.md",
        "content_hash": str(i),
        "author": "Alice <a@b>",
        "category": "bitcoin",
        "tags": ("ETF",),
        "summary": f"Summary {i} {HOSTILE}",
    }
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


def test_w3c_time_matches_the_model_format() -> None:
    for value in (
        NOW,
        NOW.astimezone(dt.timezone(dt.timedelta(hours=8))),
        NOW.replace(microsecond=5),
    ):
        assert sitemaps.w3c_time(value) == format_time(value)


def test_article_shard_validates_and_escapes(urlset_schema: xmlschema.XMLSchema) -> None:
    settings = dataclasses.replace(SETTINGS, base_url="https://news.example.com/a&b")
    items = [article(i, updated=NOW if i == 2 else None) for i in range(1, 6)]
    data = sitemaps.article_urlset(settings, items)
    urlset_schema.validate(data.decode())
    text = data.decode()
    assert "https://news.example.com/a&amp;b/articles/%E9%93%BE%E5%9C%88-3/" in text
    assert f"<lastmod>{format_time(NOW)}</lastmod>" in text  # updated wins over date
    # The fast path writes exactly what the generic builder writes.
    generic = sitemaps.urlset(sitemaps.article_entry(settings, a) for a in items)
    assert data == generic.replace(b"/a&b/", b"/a&amp;b/")


def test_pages_sitemap_and_index_validate(
    urlset_schema: xmlschema.XMLSchema, index_schema: xmlschema.XMLSchema
) -> None:
    pages = sitemaps.urlset([sitemaps.UrlEntry("https://news.example.com/tag/%E9%92%B1/")])
    urlset_schema.validate(pages.decode())
    index = sitemaps.sitemap_index(
        [
            sitemaps.UrlEntry("https://news.example.com/sitemaps/articles-1.xml", NOW),
            sitemaps.UrlEntry("https://news.example.com/sitemaps/pages.xml"),
        ]
    )
    index_schema.validate(index.decode())


def test_news_sitemap_validates_with_publication_fields(
    urlset_schema: xmlschema.XMLSchema,
) -> None:
    entries = [sitemaps.news_entry(SETTINGS, article(i)) for i in range(1, 4)]
    data = sitemaps.news_sitemap(entries, name=SETTINGS.name, language=SETTINGS.language)
    urlset_schema.validate(data.decode())
    text = data.decode()
    assert "<news:name>Chain &amp; &lt;Circle&gt;</news:name>" in text
    assert "<news:language>zh-cn</news:language>" in text
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp;" in text
    assert "\x01" not in text
    assert "\x0b" not in text


def test_feed_parses_without_errors() -> None:
    items = [article(i) for i in range(1, 4)]
    data = rss(
        SETTINGS,
        title="Bitcoin - Chain & <Circle>",
        link_path="/category/bitcoin/",
        feed_path="/category/bitcoin/feed.xml",
        description="Latest",
        articles=items,
    )
    feed = feedparser.parse(data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert feed.feed.title == "Bitcoin - Chain & <Circle>"
    assert [e.link for e in feed.entries] == [
        f"https://news.example.com{a.url}".replace("链圈", "%E9%93%BE%E5%9C%88") for a in items
    ]
    clean = f"Title 1 {HOSTILE}".replace("\x01", "").replace("\x0b", "")
    assert feed.entries[0].title == clean.strip()  # control characters dropped, text kept
    assert feed.entries[0].published_parsed[:4] == (2024, 5, 10, 6)
    assert feed.entries[0].author == "Alice <a@b>"
    assert feed.entries[0].tags[0].term == "Bitcoin"
    again = rss(
        SETTINGS,
        title="Bitcoin - Chain & <Circle>",
        link_path="/category/bitcoin/",
        feed_path="/category/bitcoin/feed.xml",
        description="Latest",
        articles=items,
    )
    assert again == data  # no clock in the bytes


def test_feed_descriptions_are_text_never_markup() -> None:
    # An article quoting markup in an inline code span: its summary is that text.
    quoted = "Never paste <img src=x onerror=alert(1)> & <script>x()</script> into a page."
    item = dataclasses.replace(article(1), summary=quoted)
    data = rss(
        SETTINGS,
        title="x",
        link_path="/",
        feed_path="/feed.xml",
        description="News <b>daily</b>",
        articles=[item],
    )
    feed = feedparser.parse(data)
    assert feed.bozo == 0
    # feedparser renders descriptions as HTML (as readers do): the text must survive as text.
    summary = feed.entries[0].summary
    assert "<img" not in summary
    assert "<script" not in summary
    assert html.unescape(summary) == quoted
    assert html.unescape(feed.feed.subtitle) == "News <b>daily</b>"


def test_empty_feed_is_valid() -> None:
    data = rss(
        SETTINGS, title="x", link_path="/", feed_path="/feed.xml", description="", articles=[]
    )
    feed = feedparser.parse(data)
    assert feed.bozo == 0
    assert feed.entries == []


def test_every_xml_output_of_a_built_site_is_valid(
    urlset_schema: xmlschema.XMLSchema, index_schema: xmlschema.XMLSchema
) -> None:
    store = InMemoryArticleStore()
    site = InMemorySiteWriter()
    store.site = dataclasses.replace(store.site, yaml_text="base_url: https://news.example.com\n")
    paging = Paging(shard_size=10)
    for i in range(29, 0, -1):  # oldest first: shards fill up one after the other
        item = article(i, category="bitcoin" if i % 2 else "wallet")
        source = SourceState(item.source_key, pad_sequencer("1"))
        store.commit(ArticleChange(source, new=item, previous=None, paging=paging))
        site.write(body_key(item.slug), b"<p>x</p>", HTML, "x")
    rebuild_all(RebuildPorts(store, site, InMemoryHotLists()), NOW)

    index = site.text("sitemap.xml")
    index_schema.validate(index)
    assert index.count("<sitemap>") == 3 + 3  # 29 articles in shards of 10, news, pages, tags
    shards = [site.text(f"sitemaps/articles-{n}.xml") for n in (1, 2, 3)]
    for shard in shards:
        urlset_schema.validate(shard)
    assert [s.count("<url>") for s in shards] == [10, 10, 9]
    assert "post-29" in shards[0]
    assert "post-1/" in shards[2]
    news = site.text("sitemaps/news.xml")
    urlset_schema.validate(news)
    assert news.count("<url>") == 8  # every 6 hours: 0..42 h old are within 48 h
    urlset_schema.validate(site.text("sitemaps/pages.xml"))
    urlset_schema.validate(site.text("sitemaps/tags-1.xml"))
    for key in ("feed.xml", "category/bitcoin/feed.xml", "category/wallet/feed.xml"):
        feed = feedparser.parse(site.read(key))
        assert feed.bozo == 0, (key, feed.get("bozo_exception"))
    assert len(feedparser.parse(site.read("feed.xml")).entries) == FEED_SIZE
    assert "Sitemap: https://news.example.com/sitemap.xml" in site.text("robots.txt")
