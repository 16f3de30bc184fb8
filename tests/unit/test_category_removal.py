"""Categories site.yaml drops, and the settings that name URLs (category keys, base_url).

An editor removing a category that still has published articles gets a clear refusal (how many,
what to do) and the site is unchanged; removing an empty one takes down its listing pages and
feed (recorded for CDN invalidation first) and the full re-render redraws every navigation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from chainpress.invalidation import InMemoryInvalidationQueue, cdn_path
from chainpress.model import pad_sequencer
from chainpress.publishing import PublishOutcome, PublishPorts, SourceEvent, publish_event
from chainpress.rebuilding import RebuildPorts, rebuild_all
from chainpress.settings import SettingsError, SiteSettings
from chainpress.site import load_site
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
THREE = b"categories:\n  - bitcoin: Bitcoin\n  - ethereum: Ethereum\n  - nft: NFT\n"
TWO = b"categories:\n  - bitcoin: Bitcoin\n  - ethereum: Ethereum\n"


class Newsroom:
    def __init__(self) -> None:
        self.content = InMemoryContentSource()
        self.site = InMemorySiteWriter()
        self.store = InMemoryArticleStore()
        self.queue = InMemoryInvalidationQueue()
        self.publish_ports = PublishPorts(self.content, self.site, self.store, self.queue)
        self.seq = 0

    def upload(self, key: str, data: bytes) -> PublishOutcome:
        self.seq += 1
        version = self.content.put(key, data)
        event = SourceEvent(key, version, pad_sequencer(f"{self.seq:X}"), "created")
        outcome = publish_event(event, self.publish_ports, NOW)
        rebuild_all(RebuildPorts(self.store, self.site, InMemoryHotLists()), NOW)
        return outcome

    def remove(self, key: str) -> PublishOutcome:
        self.seq += 1
        event = SourceEvent(key, "", pad_sequencer(f"{self.seq:X}"), "removed")
        outcome = publish_event(event, self.publish_ports, NOW)
        rebuild_all(RebuildPorts(self.store, self.site, InMemoryHotLists()), NOW)
        return outcome

    def report(self, key: str) -> dict[str, object]:
        return dict(self.content.reports[key])

    def pages(self, prefix: str) -> list[str]:
        return sorted(k for k in self.site.objects if k.startswith(prefix))

    def pending(self) -> set[str]:
        return {p.path for p in self.queue.pending(10_000)}


def article(title: str, category: str) -> bytes:
    return f"---\ntitle: {title}\ndate: 2024-05-01\ncategory: {category}\n---\n\nBody.\n".encode()


def test_removing_a_category_with_articles_is_refused_and_changes_nothing() -> None:
    room = Newsroom()
    room.upload("site.yaml", THREE)
    room.upload("articles/a.md", article("A", "nft"))
    room.upload("articles/b.md", article("B", "nft"))
    before = {k: v.data for k, v in room.site.objects.items()}

    outcome = room.upload("site.yaml", TWO)

    assert outcome.status == "error"
    report = room.report("site.yaml")
    assert report["status"] == "error"
    message = str(report["error"]["message"])  # type: ignore[index]
    assert "'nft' still has 2 published articles" in message
    assert "Move those articles" in message
    assert "keep the categories" in message
    settings, _ = load_site(room.store.get_site())
    assert [c.key for c in settings.categories] == ["bitcoin", "ethereum", "nft"]
    assert {k: v.data for k, v in room.site.objects.items()} == before
    assert 'href="/category/nft/"' in room.site.text("index.html")  # navigation unchanged

    # Once the articles are gone the same upload goes through.
    room.remove("articles/a.md")
    room.remove("articles/b.md")
    assert room.upload("site.yaml", TWO).status == "published"
    assert room.pages("category/nft/") == []


def test_removing_an_empty_category_deletes_its_pages_and_feed_and_redraws_navigation() -> None:
    room = Newsroom()
    room.upload("site.yaml", THREE)
    room.upload("articles/a.md", article("A", "bitcoin"))
    # An empty category still has its front page and feed (settings categories always do).
    assert room.pages("category/nft/") == ["category/nft/feed.xml", "category/nft/index.html"]
    assert 'href="/category/nft/"' in room.site.text("articles/a/index.html")
    room.queue.entries.clear()

    outcome = room.upload("site.yaml", TWO)

    assert outcome.status == "published"
    assert set(outcome.deleted) == {"category/nft/index.html", "category/nft/feed.xml"}
    assert room.pages("category/nft/") == []
    # Recorded for the CDN before they were deleted: the next flush invalidates them.
    assert {cdn_path("category/nft/index.html"), cdn_path("category/nft/feed.xml")} <= (
        room.pending()
    )
    for key in ("index.html", "articles/a/index.html", "category/bitcoin/index.html", "404.html"):
        page = room.site.text(key)
        assert "/category/nft/" not in page, key
        assert 'href="/category/ethereum/"' in page, key
    assert "/category/nft/" not in room.site.text("sitemaps/pages.xml")


def test_a_category_that_had_articles_and_emptied_loses_every_numbered_page() -> None:
    room = Newsroom()
    room.upload("site.yaml", b"page_size: 1\n" + THREE)
    for n in range(3):
        room.upload(f"articles/n{n}.md", article(f"N{n}", "nft"))
    assert "category/nft/page/2/index.html" in room.pages("category/nft/")
    for n in range(3):
        room.remove(f"articles/n{n}.md")

    assert room.upload("site.yaml", b"page_size: 1\n" + TWO).status == "published"

    assert room.pages("category/nft/") == []
    json.dumps(room.report("site.yaml"))  # the report is plain JSON


@pytest.mark.parametrize(
    "key",
    [
        "bitcoin/page/1",
        "../../x",
        "..",
        ".",
        "a b",
        "x?y",
        "x#y",
        "100%",
        "back\\slash",
        "",
        "k" * 65,
        "tab\tkey",
    ],
)
def test_category_keys_must_be_one_url_segment(key: str) -> None:
    with pytest.raises(SettingsError, match="must be one URL segment") as caught:
        SiteSettings.from_mapping({"categories": [{"key": key, "label": "X"}]})
    assert len(str(caught.value)) < 400  # never echoes an unbounded value


def test_good_category_keys_and_duplicates() -> None:
    settings = SiteSettings.from_mapping(
        {"categories": [{"defi": "DeFi"}, {"layer-2": "Layer 2"}, {"区块链": "区块链"}]}
    )
    assert [c.key for c in settings.categories] == ["defi", "layer-2", "区块链"]
    with pytest.raises(SettingsError, match="listed twice"):
        SiteSettings.from_mapping({"categories": ["defi", "defi"]})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("news.example.com", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("ftp://example.com", "must start with https://"),
        ("https://", "has no host name"),
        ("https://example.com/?a=1", "query"),
        ("https://example.com/#top", "fragment"),
        ("https://user:pw@example.com", "user name"),
        ("https://example.com/a/../b", "'..'"),
        ("https://exa mple.com", "spaces"),
        ("https://example.com:99999", "is not a URL"),
        ("//example.com", "must start with https://"),
    ],
)
def test_base_url_must_be_an_absolute_http_origin(url: str, problem: str) -> None:
    with pytest.raises(SettingsError, match="base_url") as caught:
        SiteSettings.from_mapping({"base_url": url})
    assert problem in str(caught.value)


def test_good_base_urls() -> None:
    for url, kept in [
        ("https://news.example.com/", "https://news.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://example.com/news/", "https://example.com/news"),
    ]:
        assert SiteSettings.from_mapping({"base_url": url}).base_url == kept


def test_a_bad_key_in_site_yaml_is_reported_and_the_old_settings_stay() -> None:
    room = Newsroom()
    room.upload("site.yaml", THREE)
    outcome = room.upload("site.yaml", b"categories:\n  - bitcoin/page/1: Sneaky\n")
    assert outcome.status == "error"
    assert "must be one URL segment" in str(room.report("site.yaml")["error"])
    settings, _ = load_site(room.store.get_site())
    assert [c.key for c in settings.categories] == ["bitcoin", "ethereum", "nft"]
    assert not any("page/1/index.html/" in k for k in room.site.objects)
