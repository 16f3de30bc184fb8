"""Real editors' Markdown publishes as written.

``tests/data/corpus`` holds sources in the shapes real repositories use (written for this test,
not copied): ethereum.org tutorials in English and Chinese as page bundles with images,
Hugo bundles (``index.md``, ``_index.md``, TOML front matter), a Docusaurus doc, an ERC-style
spec, a Jekyll post, a GitBook-style README without front matter, and an unclosed
``<textarea>`` in prose. Published through the real publish use case (in-memory ports),
bundle files first, as a folder upload in key order would send them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from chainpress.content import media_content_type
from chainpress.model import pad_sequencer
from chainpress.publishing import PublishOutcome, PublishPorts, SourceEvent, publish_event, route
from chainpress.rebuilding import RebuildPorts, rebuild_all
from chainpress_dev import cli
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)
from tests.support.crawl import broken_links
from tests.support.paths import ROOT

CORPUS = ROOT / "tests" / "data" / "corpus"
NOW = dt.datetime(2025, 6, 1, 4, 0, tzinfo=dt.UTC)
BASE = "https://docs.example.org"

FILES = sorted(
    path.relative_to(CORPUS).as_posix()
    for path in CORPUS.rglob("*")
    if path.is_file() and path.name != "site.yaml"
)
MARKDOWN = [key for key in FILES if key.endswith(".md")]
BUNDLE_FILES = [key for key in FILES if route(key) == "bundle"]

# Where each source is published.
SLUGS = {
    "articles/ERCS/erc-7777.md": "erc-7777",
    "articles/_posts/2023-05-01-exchange-proof-of-reserves.md": "exchange-proof-of-reserves",
    "articles/developers/tutorials/send-token-viem/index.md": "send-token-viem",
    "articles/docs/wallet-setup/index.md": "wallet-setup",
    "articles/guide/consensus/README.md": "consensus",
    "articles/hugo/_index.md": "hugo",
    "articles/hugo/merkle-proofs/index.md": "merkle-proofs",
    "articles/hugo/posts/toml-front-matter.md": "toml-front-matter",
    "articles/notes/raw-html-in-prose.md": "raw-html-in-prose",
    "articles/translations/zh/developers/tutorials/send-token-viem/index.md": (
        "send-token-viem-zh"
    ),
}

# Every warning, by file: (line, what it is about). Unknown fields are named by their key.
UNKNOWN = "unknown front matter field"
WARNINGS: dict[str, set[tuple[int | None, str]]] = {
    "articles/ERCS/erc-7777.md": {
        (2, f"{UNKNOWN} 'eip'"),
        (6, f"{UNKNOWN} 'discussions-to'"),
        (7, f"{UNKNOWN} 'status'"),
        (8, f"{UNKNOWN} 'type'"),
        (9, "category 'ERC' is not one of site.yaml's categories"),
        (11, f"{UNKNOWN} 'requires'"),
    },
    "articles/_posts/2023-05-01-exchange-proof-of-reserves.md": {
        (2, f"{UNKNOWN} 'layout'"),
        (5, "category 'exchange' is not one of site.yaml's categories"),
        (8, f"{UNKNOWN} 'comments'"),
    },
    "articles/developers/tutorials/send-token-viem/index.md": {
        (6, f"{UNKNOWN} 'skill'"),
        (9, f"{UNKNOWN} 'sidebarDepth'"),
    },
    "articles/docs/wallet-setup/index.md": {
        (2, f"{UNKNOWN} 'id'"),
        (4, f"{UNKNOWN} 'sidebar_label'"),
        (5, f"{UNKNOWN} 'sidebar_position'"),
        (17, f"{UNKNOWN} 'hide_table_of_contents'"),
    },
    "articles/guide/consensus/README.md": {(1, "no front matter")},
    "articles/hugo/_index.md": {(4, f"{UNKNOWN} 'cascade'")},
    "articles/hugo/merkle-proofs/index.md": {
        (3, f"{UNKNOWN} 'linkTitle'"),
        (9, f"{UNKNOWN} 'weight'"),
        (10, f"{UNKNOWN} 'params'"),
    },
    "articles/hugo/posts/toml-front-matter.md": {(7, f"{UNKNOWN} 'toc'")},
    "articles/notes/raw-html-in-prose.md": set(),
    "articles/translations/zh/developers/tutorials/send-token-viem/index.md": {
        (9, f"{UNKNOWN} 'skill'"),
        (10, f"{UNKNOWN} 'breadcrumb'"),
    },
}


@dataclasses.dataclass
class Published:
    content: InMemoryContentSource
    site: InMemorySiteWriter
    store: InMemoryArticleStore
    outcomes: dict[str, PublishOutcome]

    def page(self, key: str) -> str:
        return self.site.text(f"articles/{SLUGS[key]}/index.html")

    def report(self, key: str) -> dict[str, Any]:
        return self.content.reports[key]


def _upload_order(key: str) -> tuple[bool, str]:
    return key.endswith(".md"), key  # every bundle file before any index: the hard case


@pytest.fixture(scope="module")
def published() -> Published:
    content, site, store = InMemoryContentSource(), InMemorySiteWriter(), InMemoryArticleStore()
    ports = PublishPorts(content=content, site=site, store=store)
    outcomes: dict[str, PublishOutcome] = {}
    keys = ["site.yaml", *sorted(FILES, key=_upload_order)]
    for seq, key in enumerate(keys, start=1):
        data = (CORPUS / key).read_bytes()
        version = content.put(key, data)
        event = SourceEvent(key, version, pad_sequencer(f"{seq:X}"), "created", len(data))
        outcomes[key] = publish_event(event, ports, NOW)
    # What the stream-triggered rebuild then does (listings, and the pages whose translations
    # appeared after them).
    rebuild_all(RebuildPorts(store, site, InMemoryHotLists()), NOW)
    return Published(content, site, store, outcomes)


def test_the_corpus_has_every_kind_of_source() -> None:
    assert set(MARKDOWN) == set(SLUGS)
    assert len(BUNDLE_FILES) == 10


def test_nothing_is_refused(published: Published) -> None:
    assert {k: o.status for k, o in published.outcomes.items() if o.status == "error"} == {}
    for key in MARKDOWN:
        report = published.report(key)
        assert (report["status"], report["errors"], report["error"]) == ("published", [], None)
        assert report["url"] == f"/articles/{SLUGS[key]}/"


def test_warnings_are_exactly_where_fields_were_unknown(published: Published) -> None:
    found = {}
    for key in MARKDOWN:
        # Links to articles published after this one: tests/unit/test_preview_and_links.py
        warnings = [w for w in published.report(key)["warnings"] if "broken" not in w["message"]]
        found[key] = {(w["line"], _about(w["message"])) for w in warnings}
        assert len(warnings) == len(found[key]), key  # no warning twice
    assert found == WARNINGS


def _about(message: str) -> str:
    for prefix in (UNKNOWN, "no front matter"):
        if message.startswith(prefix):
            return message.split(":")[0]
    return message.split(" (")[0].removesuffix(":")


def test_unknown_fields_are_kept_for_templates(published: Published) -> None:
    erc = published.store.get_article("erc-7777")
    assert erc is not None
    assert erc.extra == {
        "eip": 7777,
        "discussions-to": "https://ethereum-magicians.org/t/erc-7777-receipt-tokens/00000",
        "status": "Draft",
        "type": "Standards Track",
        "requires": "20, 165",
    }
    merkle = published.store.get_article("merkle-proofs")
    assert merkle is not None
    assert merkle.extra["params"] == {"searchable": True, "math": False}


def test_spellings_of_known_fields_are_understood(published: Published) -> None:
    get = published.store.get_article
    en, zh, erc = get("send-token-viem"), get("send-token-viem-zh"), get("erc-7777")
    docs, merkle, jekyll = get("wallet-setup"), get("merkle-proofs"), get(SLUGS[MARKDOWN[1]])
    assert en
    assert zh
    assert erc
    assert docs
    assert merkle
    assert jekyll
    # description -> summary, published -> date (a day), lang -> language
    assert en.summary == "A beginner friendly guide to sending ERC-20 tokens with viem."
    assert (en.date, en.date_only, en.language) == (
        dt.datetime(2023, 3, 8, 16, 0, tzinfo=dt.UTC),  # midnight in Asia/Shanghai
        True,
        "en",
    )
    assert (zh.language, zh.translation_key, en.translation_key) == ("zh", *["send-token-viem"] * 2)
    assert erc.date == dt.datetime(2024, 5, 19, 16, 0, tzinfo=dt.UTC)  # "created"
    assert erc.category == "erc"
    # Docusaurus: authors as mappings, tags as mappings, slug as a path, image beside it
    assert docs.authors == ("Ada Okafor", "Bo Lindqvist")
    assert docs.author == "Ada Okafor, Bo Lindqvist"
    assert docs.tags == ("Wallets", "Security")
    assert docs.cover == "/articles/wallet-setup/wallet.png"
    # Hugo: categories, keywords, lastmod, a relative cover
    assert (merkle.category, merkle.cover) == ("blockchain", "/articles/merkle-proofs/cover.png")
    assert merkle.extra["keywords"] == ["merkle", "proof", "hashing"]
    assert merkle.updated == dt.datetime(2024, 1, 31, 16, 0, tzinfo=dt.UTC)
    assert merkle.updated_date_only
    assert not merkle.date_only
    # Jekyll: an offset after a space, categories -> category + tags, tags as one string
    assert jekyll.date == dt.datetime(2023, 5, 1, 2, 0, tzinfo=dt.UTC)
    assert jekyll.category == "exchange"
    assert jekyll.tags == ("proof of reserves", "audits", "explainer")


def test_bundle_files_are_published_beside_their_article(published: Published) -> None:
    for key in BUNDLE_FILES:
        report = published.report(key)
        assert report["status"] == "published", key  # pending until its index.md arrived
        site_key = report["url"].lstrip("/")
        stored = published.site.objects[site_key]
        assert stored.data == (CORPUS / key).read_bytes()
        assert stored.content_type == media_content_type(key)
    objects = published.site.objects
    assert objects["articles/send-token-viem/img/gas-fees.png"].content_type == "image/png"
    assert objects["articles/wallet-setup/seed-phrase-card.pdf"].content_type == "application/pdf"
    assert objects["articles/consensus/_images/pbft.png"].content_type == "image/png"
    assert "articles/merkle-proofs/data/leaves.csv" in objects
    assert "articles/hugo/cover.png" in objects  # beside Hugo's _index.md (a branch bundle)


def test_article_links_and_images_resolve_on_every_page(published: Published) -> None:
    for key in MARKDOWN:
        url = f"{BASE}/articles/{SLUGS[key]}/"
        for link in re.findall(r'(?:src|href)="([^"]+)"', published.page(key)):
            target = urlsplit(urljoin(url, html.unescape(link)))
            if target.netloc != urlsplit(BASE).netloc or not target.path.startswith("/articles/"):
                continue  # site-wide pages come from the rebuild (the export test crawls them)
            path = unquote(target.path).lstrip("/")
            path = path + "index.html" if path.endswith("/") or not path else path
            assert path in published.site.objects, (key, link)


def _prose_blocks(source: str) -> list[str]:
    """The body's blocks (paragraphs, lists, headings, tables, code), front matter left out."""
    body = re.sub(r"\A(---|\+\+\+)\n.*?\n\1\n", "", source, flags=re.DOTALL)
    return [block for block in re.split(r"\n\s*\n", body) if block.strip()]


_WORD = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]")


@pytest.mark.parametrize("key", MARKDOWN)
def test_no_text_is_lost(published: Published, key: str) -> None:
    page = html.unescape(published.page(key))
    source = (CORPUS / key).read_text(encoding="utf-8")
    lost = {}
    for block in _prose_blocks(source):
        missing = sorted({word for word in _WORD.findall(block) if word not in page})
        if missing:
            lost[block[:40]] = missing
    assert lost == {}


def test_chinese_article_speaks_chinese_and_links_its_translation(published: Published) -> None:
    zh = published.page(MARKDOWN[-1])
    en = published.page("articles/developers/tutorials/send-token-viem/index.md")
    assert '<html lang="zh">' in zh
    assert "时间：" in zh
    assert "Time :" not in zh
    assert "阅读约 1 分钟" in zh
    assert "min read" not in zh
    assert '<time datetime="2023-03-09">2023-03-09</time>' in zh  # a day, never "00:00"
    assert '<html lang="en">' in en
    for page in (zh, en):  # each links the other, and itself
        assert (
            f'<link rel="alternate" hreflang="zh" href="{BASE}/articles/send-token-viem-zh/">'
            in page
        )
        assert (
            f'<link rel="alternate" hreflang="en" href="{BASE}/articles/send-token-viem/">' in page
        )
        assert f'hreflang="x-default" href="{BASE}/articles/send-token-viem/"' in page
    assert (
        '<a href="/articles/send-token-viem/" hreflang="en" lang="en" rel="alternate">English' in zh
    )
    assert 'hreflang="zh" lang="zh" rel="alternate">中文</a>' in en


def test_unconfigured_category_gets_a_listing_page(published: Published) -> None:
    listing = published.site.text("category/erc/index.html")
    assert "Receipt Tokens for Escrow" in listing
    nav = published.site.text("index.html").split('<nav class="site-nav"')[1].split("</nav>")[0]
    assert "/category/erc/" not in nav  # not configured: not in the navigation
    assert "/category/erc/" in published.site.text("sitemap/index.html")


def test_translation_listings_get_no_pages(published: Published) -> None:
    # A lookup of the two translations: members, but no pages and no listing-index entry.
    assert published.store.head("translation/send-token-viem").count == 2
    assert "translation/send-token-viem" not in published.store.listings()
    assert not any(key.startswith("translation") for key in published.site.objects)


def test_static_export_of_the_corpus_has_no_broken_links(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli.build_site(CORPUS, out, base_url=BASE, now=NOW)
    assert result.errors == []
    assert result.articles == len(MARKDOWN)
    assert len([w for w in result.warnings if UNKNOWN in w]) == sum(
        1 for found in WARNINGS.values() for _, about in found if about.startswith(UNKNOWN)
    )
    assert (out / "articles/send-token-viem/img/gas-fees.png").read_bytes() == (
        CORPUS / "articles/developers/tutorials/send-token-viem/img/gas-fees.png"
    ).read_bytes()
    assert broken_links(out, BASE) == []
