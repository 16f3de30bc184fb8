"""The ArticleStore contract, run against DynamoDB (moto) and the in-memory fake alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.model import Article, is_paged_listing, pad_sequencer
from chainpress.ports import (
    ArticleChange,
    ArticleConflict,
    ArticleStore,
    ListingHead,
    Paging,
    SlugTaken,
    SourceState,
    StaleEvent,
)
from chainpress_dev.memory import InMemoryArticleStore
from tests.support.aws import create_stack


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[ArticleStore]:
    if request.param == "memory":
        yield InMemoryArticleStore()
        return
    with mock_aws():
        clients.reset()
        names = create_stack()
        yield DynamoArticleStore(names["ArticlesTable"], clients.dynamodb())
    clients.reset()


def make(slug: str, day: int, **kw: Any) -> Article:
    base = dict(
        slug=slug,
        title=f"Title {slug}",
        date=dt.datetime(2024, 1, day, 8, 0, tzinfo=dt.UTC),
        source_key=f"articles/{slug}.md",
        content_hash=f"hash-{slug}",
        category="bitcoin",
        tags=("etf",),
    )
    base.update(kw)
    return Article(**base)  # type: ignore[arg-type]


def publish(store: ArticleStore, article: Article, seq: str = "01") -> None:
    source = SourceState(
        key=article.source_key, seq=pad_sequencer(seq), slug=article.slug, status="published"
    )
    store.commit(
        ArticleChange(source=source, new=article, previous=store.get_article(article.slug))
    )


def test_publish_adds_article_to_its_listings_in_date_order(store: ArticleStore) -> None:
    for day, slug in [(3, "c"), (1, "a"), (2, "b")]:
        publish(store, make(slug, day))
    assert [a.slug for a in store.newest("home", 10)] == ["c", "b", "a"]
    assert [a.slug for a in store.oldest("category/bitcoin", 2)] == ["a", "b"]
    assert [a.slug for a in store.newest("tag/etf", 10, before=make("c", 3).sort_key)] == ["b", "a"]
    assert store.head("home").count == 3
    assert store.count_before("home", make("c", 3).sort_key) == 2
    assert [a.slug for a in store.iter_listing("tag/etf")] == ["a", "b", "c"]


def test_category_change_moves_article_between_listings(store: ArticleStore) -> None:
    publish(store, make("a", 1))
    publish(store, make("a", 1, category="wallet", content_hash="h2"), seq="02")
    assert store.newest("category/bitcoin", 10) == []
    assert [a.slug for a in store.newest("category/wallet", 10)] == ["a"]
    assert store.head("category/bitcoin").count == 0
    assert store.head("home").count == 1


def test_stale_event_changes_nothing(store: ArticleStore) -> None:
    publish(store, make("a", 1), seq="0A")
    with pytest.raises(StaleEvent):
        publish(store, make("a", 1, title="old", content_hash="old"), seq="09")
    got = store.get_article("a")
    assert got is not None
    assert got.title == "Title a"


def test_second_source_cannot_take_a_live_slug(store: ArticleStore) -> None:
    publish(store, make("a", 1))
    with pytest.raises(SlugTaken):
        publish(store, make("a", 2, source_key="articles/other.md"))
    got = store.get_article("a")
    assert got is not None
    assert got.source_key == "articles/a.md"


def test_removal_takes_article_off_every_listing(store: ArticleStore) -> None:
    article = make("a", 1)
    publish(store, article)
    removed = dataclasses.replace(article, status="removed")
    publish(store, removed, seq="02")
    assert store.newest("home", 10) == []
    assert store.newest("tag/etf", 10) == []
    assert store.head("home").count == 0
    assert {a.slug for a in store.scan_articles()} == {"a"}


def test_slug_edit_retires_the_old_slug_in_the_same_commit(store: ArticleStore) -> None:
    old = make("old", 1, source_key="articles/x.md")
    publish(store, old)
    new = make("new", 1, source_key="articles/x.md")
    source = SourceState(key="articles/x.md", seq=pad_sequencer("02"), slug="new")
    store.commit(ArticleChange(source=source, new=new, previous=None, retired=old))
    assert [a.slug for a in store.newest("home", 10)] == ["new"]
    retired = store.get_article("old")
    assert retired is not None
    assert retired.status == "removed"


def test_site_settings_and_theme_overrides(store: ArticleStore) -> None:
    store.commit_site(SourceState(key="site.yaml", seq=pad_sequencer("1")), yaml_text="name: X")
    store.commit_site(
        SourceState(key="theme/article.html", seq=pad_sequencer("1")),
        theme_name="article.html",
        theme_text="<p>hi</p>",
    )
    site = store.get_site()
    assert site.yaml_text == "name: X"
    assert site.theme == {"article.html": "<p>hi</p>"}
    with pytest.raises(StaleEvent):
        store.commit_site(SourceState(key="site.yaml", seq=pad_sequencer("0")), yaml_text="bad")
    assert store.get_site().yaml_text == "name: X"


def test_a_commit_that_raced_another_on_a_listing_head_is_a_conflict(store: ArticleStore) -> None:
    """Page boundaries are planned from heads read before the transaction; a commit landing in
    between changes a head's version, so ours fails (ArticleConflict: publish retries)."""
    publish(store, make("a", 1))
    heads = store.heads
    raced = False

    def racing_heads(names: Collection[str]) -> dict[str, ListingHead]:
        nonlocal raced
        found = heads(names)
        if not raced:
            raced = True
            publish(store, make("b", 2))  # lands between our reads and our transaction
        return found

    store.heads = racing_heads  # type: ignore[method-assign]
    with pytest.raises(ArticleConflict):
        publish(store, make("c", 3))
    assert store.get_article("c") is None
    assert store.head("home").count == 2
    publish(store, make("c", 3))  # the retry reads the heads again
    assert [a.slug for a in store.newest("home", 5)] == ["c", "b", "a"]
    assert store.listings() == ["category/bitcoin", "home", "tag/etf"]


def test_pages_and_boundaries_of_a_listing(store: ArticleStore) -> None:
    paging = Paging(page_size=2)
    for day, slug in [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]:
        source = SourceState(f"articles/{slug}.md", pad_sequencer("01"), slug=slug)
        store.commit(ArticleChange(source, make(slug, day), None, paging=paging))
    head = store.head("home")
    assert (head.count, head.pages, head.last_count) == (5, 3, 1)
    assert store.page_starts("home", 0, 1, 3) == {2: make("c", 3).sort_key, 3: head.last_start}
    assert store.page_of("home", 0, make("d", 4).sort_key) == 2
    assert store.page_of("home", 0, make("a", 1).sort_key) == 1
    starts = store.page_starts("home", 0, 2, 3)
    assert [a.slug for a in store.between("home", starts[2], starts[3])] == ["c", "d"]
    assert store.keys_after("home", make("c", 3).sort_key, None, 5) == [
        make("d", 4).sort_key,
        make("e", 5).sort_key,
    ]
    assert [label for label, _ in store.months()] == ["2024-01"]
    assert [e.listing for e in store.index_entries("tag", "", None)] == ["tag/etf"]


@pytest.mark.parametrize("total", [1, 3])
def test_parallel_scan_segments_read_every_record_and_head_once(
    store: ArticleStore, total: int
) -> None:
    for day in range(1, 13):
        publish(store, make(f"s{day:02d}", day, tags=("etf", f"t{day % 3}")))
    publish(store, make("hidden", 14, status="draft"))
    articles: list[str] = []
    heads: dict[str, int] = {}
    requests = 0
    for segment in range(total):
        cursor: str | None = None
        while True:
            page = store.scan_segment(segment, total, cursor, limit=5)  # a cursor every 5 items
            requests += 1
            assert page.items <= 5
            articles += [a.slug for a in page.articles]
            heads.update({name: head.count for name, head in page.heads.items()})
            cursor = page.cursor
            if cursor is None:
                break
    assert sorted(articles) == sorted([f"s{d:02d}" for d in range(1, 13)] + ["hidden"])
    listings = {name: count for name, count in heads.items() if is_paged_listing(name)}
    assert listings == {"home": 12, "category/bitcoin": 12, "tag/etf": 12, "tag/t0": 4,
                        "tag/t1": 4, "tag/t2": 4}  # fmt: skip
    # The other heads are collections (sitemap shards: home's URLs; the tag index: 4 tags).
    assert {k: v for k, v in heads.items() if k not in listings} == {"sitemap": 12, "index/tag": 4}
    assert requests > 13  # the members of home alone take three requests of five items
