"""No page of the site links a page that is gone: articles published, deleted, unpublished and
renamed through the publish use case, each stream batch rebuilt, then every page of the site
bucket crawled (in memory). The pages linking a changed article are re-rendered a bounded
number per batch, the rest in later steps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from chainpress.model import Article, pad_sequencer
from chainpress.ports import ArticleChange, SourceState
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress.rebuilding import RebuildPorts, rebuild_all, rebuild_changes
from chainpress.settings import SiteSettings
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
BASE = SiteSettings().base_url
LINK = re.compile(r'(?:href|src)="([^"]+)"|<loc>([^<]+)</loc>')
# Rendered by other functions (trending writes /hot/; /api/ is the views API).
NOT_OURS = ("/hot/", "/api/")


def source(title: str, day: int, category: str, tags: str, extra: str = "") -> bytes:
    front = f"title: {title}\ndate: 2024-05-{day:02d} 08:00\ncategory: {category}\ntags: {tags}\n"
    return f"---\n{front}{extra}---\n\nBody of {title}.\n".encode()


class Newsroom:
    """Publish and remove through ``publishing.publish_event``; rebuild every stream batch."""

    def __init__(self, relink_limit: int = 100) -> None:
        self.content = InMemoryContentSource()
        self.site = InMemorySiteWriter()
        self.store = InMemoryArticleStore()
        self.ports = RebuildPorts(
            self.store, self.site, InMemoryHotLists(), relink_limit=relink_limit
        )
        self.seq = 0
        rebuild_all(self.ports, NOW)

    def _event(
        self, key: str, kind: str, version: str = ""
    ) -> list[tuple[Article | None, Article | None]]:
        """Apply one event; returns its stream batch (the record images that changed)."""
        self.seq += 1
        state = self.store.sources.get(key)
        before = dict(self.store.articles)
        event = SourceEvent(key, version, pad_sequencer(f"{self.seq:X}"), kind)  # type: ignore[arg-type]
        publish_event(event, PublishPorts(self.content, self.site, self.store), NOW)
        slugs = {s.slug for s in (state, self.store.sources.get(key)) if s is not None}
        return [
            (before.get(slug), self.store.articles.get(slug))
            for slug in sorted(slugs)
            if before.get(slug) != self.store.articles.get(slug)
        ]

    def publish(self, slug: str, data: bytes) -> list[tuple[Article | None, Article | None]]:
        key = f"articles/{slug}.md"
        return self._event(key, "created", self.content.put(key, data))

    def remove(self, slug: str) -> list[tuple[Article | None, Article | None]]:
        return self._event(f"articles/{slug}.md", "removed")

    def rebuild(self, batch: list[tuple[Article | None, Article | None]]) -> None:
        rebuild_changes(batch, self.ports, NOW)

    def links(self) -> Iterator[tuple[str, str]]:
        """(page key, site key it links) for every internal link of every public page."""
        for key, stored in self.site.objects.items():
            if key.startswith("_internal/") or not key.endswith((".html", ".xml")):
                continue
            for href, loc in LINK.findall(stored.data.decode("utf-8")):
                url = urlsplit(loc.removeprefix(BASE) if loc else href)
                if url.scheme or url.netloc or not url.path.startswith("/"):
                    continue
                path = unquote(url.path)
                if path.startswith(NOT_OURS):
                    continue
                yield key, path[1:] + "index.html" if path.endswith("/") else path[1:]

    def dangling(self) -> list[tuple[str, str]]:
        return sorted(
            (page, target) for page, target in self.links() if target not in self.site.objects
        )


def test_after_any_delete_no_page_links_a_missing_page() -> None:
    room = Newsroom()
    for batch in (
        room.publish("a", source("A", 1, "bitcoin", "[ETF, Lonely]")),
        room.publish("b", source("B", 2, "ethereum", "[ETF]")),
        room.publish("c", source("C", 3, "bitcoin", "[Mining]")),
        room.publish("d", source("D", 4, "bitcoin", "[ETF, Mining]")),
        room.publish("e", source("E", 5, "wallet", "[Mining]")),
    ):
        room.rebuild(batch)
    assert "/articles/a/" in room.site.text("articles/b/index.html")  # shared tag: B links A
    assert room.dangling() == []

    room.rebuild(room.remove("a"))  # delete: the tag "Lonely" empties too
    assert "/articles/a/" not in room.site.text("articles/b/index.html")
    assert room.site.read("tag/lonely/index.html") is None
    assert room.dangling() == []

    draft = source("D", 4, "bitcoin", "[ETF, Mining]", extra="draft: true\n")
    room.rebuild(room.publish("d", draft))  # unpublished
    assert room.dangling() == []

    renamed = source("C", 3, "bitcoin", "[Mining]", extra="slug: c-renamed\n")
    batch = room.publish("c", renamed)  # the old slug is retired in the same commit
    assert {old.slug for old, _ in batch if old} == {"c"}
    room.rebuild(batch)
    assert room.site.read("articles/c/index.html") is None
    assert room.dangling() == []

    room.rebuild(room.publish("a", source("A", 1, "bitcoin", "[ETF, Lonely]")))  # back again
    assert "/articles/a/" in room.site.text("articles/b/index.html")  # B still lists it
    assert room.dangling() == []


def test_pages_linking_a_deleted_article_are_its_nearest_neighbours_rewritten_at_once() -> None:
    room = Newsroom()
    room.rebuild(room.publish("a", source("A", 1, "bitcoin", "[Rare]")))
    others = [f"x{day}" for day in range(2, 7)]
    for day, slug in enumerate(others, start=2):  # five articles sharing A's rare tag
        room.rebuild(room.publish(slug, source(slug.upper(), day, "wallet", "[Rare]")))
    # Related lists come from the nearest articles by date in each tag: only two link A.
    linking = [s for s in others if "/articles/a/" in room.site.text(f"articles/{s}/index.html")]
    assert linking == ["x2", "x3"]

    before = len(room.site.writes)
    room.rebuild(room.remove("a"))
    rewritten = {k for k in room.site.writes[before:] if k.startswith("articles/x")}
    assert rewritten == {"articles/x2/index.html", "articles/x3/index.html"}
    assert "a" not in room.store.relinks  # nothing left for later steps
    assert room.dangling() == []


def test_a_retitled_article_is_shown_with_its_new_title_where_it_is_related() -> None:
    room = Newsroom()
    room.rebuild(room.publish("a", source("A", 1, "bitcoin", "[ETF]")))
    room.rebuild(room.publish("b", source("B", 2, "wallet", "[ETF]")))
    room.rebuild(room.publish("a", source("A, corrected", 1, "bitcoin", "[ETF]")))
    assert "A, corrected" in room.site.text("articles/b/index.html")


def test_the_hot_block_never_links_an_article_that_is_gone() -> None:
    from chainpress.ports import HotItem

    room = Newsroom()
    room.rebuild(room.publish("a", source("A", 1, "bitcoin", "[ETF]")))
    room.rebuild(room.publish("b", source("B", 2, "bitcoin", "[ETF]")))
    hot = [HotItem(s, s.upper(), f"/articles/{s}/", "bitcoin", 9) for s in ("a", "b")]
    room.ports = dataclasses.replace(room.ports, hot=InMemoryHotLists({("24h", None): hot}))
    room.rebuild(room.remove("a"))
    home = room.site.text("index.html")
    assert 'href="/articles/b/"' in home
    assert 'href="/articles/a/"' not in home
    assert room.dangling() == []


def test_a_store_commit_keeps_the_reverse_index_of_related_lists() -> None:
    store = InMemoryArticleStore()
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    article = Article("x", "X", when, "articles/x.md", "1", related=("a", "b"))
    store.commit(ArticleChange(SourceState("articles/x.md", pad_sequencer("1")), article, None))
    assert store.linking("a", "", 5) == ["x"]
    assert store.linking("b", "", 5) == ["x"]
