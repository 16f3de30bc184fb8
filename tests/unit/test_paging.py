"""Page boundaries kept in the table (paging.py), through the in-memory store: pages open at the
newest end only, other inserts join the page covering their key, deletes shorten pages, an
emptied collection starts again, a race is a conflict, and the bulk loader gives exactly the
state of one commit after another."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest

from chainpress.model import Article, pad_sequencer
from chainpress.paging import SITEMAP, TAG_INDEX, ListingHead, month_collection, plan_commit
from chainpress.ports import ArticleChange, ArticleConflict, Paging, SourceState
from chainpress_dev.memory import InMemoryArticleStore

START = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
SMALL = Paging(page_size=3, shard_size=4, month_size=2, index_size=2)


def make(i: int, **changes: object) -> Article:
    fields: dict[str, object] = {
        "slug": f"a{i:03d}",
        "title": f"Article {i}",
        "date": START + dt.timedelta(hours=i),
        "source_key": f"articles/a{i:03d}.md",
        "content_hash": f"h{i}",
        "category": "bitcoin",
        "tags": ("etf",),
    }
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


def commit(store: InMemoryArticleStore, article: Article, paging: Paging = SMALL) -> None:
    source = SourceState(article.source_key, pad_sequencer("1"), slug=article.slug)
    previous = store.articles.get(article.slug)
    store.commit(ArticleChange(source=source, new=article, previous=previous, paging=paging))


def pages_of(store: InMemoryArticleStore, listing: str) -> list[list[str]]:
    """Members of each page of ``listing``, by the stored boundaries."""
    head = store.head_of[listing]
    starts = ["", *store.bounds.get((listing, head.epoch), [])]
    assert len(starts) == head.pages
    found: list[list[str]] = []
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else None
        found.append([a.slug for a in store.between(listing, start, stop)])
    return found


def test_pages_fill_up_at_the_newest_end_then_open_the_next() -> None:
    store = InMemoryArticleStore()
    for i in range(7):
        commit(store, make(i))
    assert pages_of(store, "home") == [["a000", "a001", "a002"], ["a003", "a004", "a005"], ["a006"]]
    head = store.head_of["home"]
    assert (head.count, head.pages, head.last_count) == (7, 3, 1)
    assert head.last_start == make(6).sort_key  # page 3 starts at the article that opened it


def test_backdated_and_deleted_articles_never_shift_a_page() -> None:
    store = InMemoryArticleStore()
    for i in range(7):
        commit(store, make(i))
    commit(store, make(-1))  # older than everything: page 1 grows
    commit(store, make(50, date=make(4).date + dt.timedelta(minutes=1)))  # into page 2
    commit(store, dataclasses.replace(make(3), status="removed"))  # page 2 loses one
    assert pages_of(store, "home") == [
        ["a-01", "a000", "a001", "a002"],
        ["a004", "a050", "a005"],
        ["a006"],
    ]
    # A key inside a full last page that is not the newest joins it (no page opens there).
    commit(store, make(7))
    commit(store, make(8))
    commit(store, make(51, date=make(7).date + dt.timedelta(minutes=1)))
    assert pages_of(store, "home")[-1] == ["a006", "a007", "a051", "a008"]
    commit(store, make(9))  # the newest again, the last page full: page 4
    assert pages_of(store, "home")[-1] == ["a009"]


def test_an_emptied_listing_starts_again_from_page_1() -> None:
    store = InMemoryArticleStore()
    for i in range(5):
        commit(store, make(i, tags=("lonely",)))
    assert store.head_of["tag/lonely"].pages == 2
    for i in range(5):
        commit(store, dataclasses.replace(make(i, tags=("lonely",)), status="removed"))
    head = store.head_of["tag/lonely"]
    assert (head.count, head.pages, head.epoch) == (0, 0, 1)
    commit(store, make(9, tags=("lonely",)))
    assert pages_of(store, "tag/lonely") == [["a009"]]
    assert store.head_of["tag/lonely"].epoch == 1  # the old boundaries are never read again


def test_sitemap_shards_and_months_are_pages_of_home() -> None:
    store = InMemoryArticleStore()
    for i in range(9):
        commit(store, make(i * 24 * 10))  # every 10 days: January gets 4, February 2, March 3
    shards = store.head_of[SITEMAP]
    assert (shards.pages, shards.count) == (3, 9)
    assert [shards.shards[n][0] for n in (1, 2, 3)] == [4, 4, 1]  # URLs per shard
    assert shards.shards[3][1] == "2024-03-21T08:00:00Z"  # lastmod of its newest article
    january = store.head_of[month_collection("2024-01")]
    assert (january.count, january.pages, january.last_count) == (4, 2, 2)
    assert [label for label, _ in store.months()] == ["2024-01", "2024-02", "2024-03"]


def test_the_listing_index_is_a_query_in_order_of_first_use() -> None:
    store = InMemoryArticleStore()
    commit(store, make(1, tags=("Layer 2",)))
    commit(store, make(2, tags=("ETF", "layer-2")))
    commit(store, make(3, tags=("zk",)))
    assert store.listings() == [
        "category/bitcoin", "home", "tag/etf", "tag/layer-2", "tag/zk",
    ]  # fmt: skip
    assert store.calls["Scan"] == 0
    entries = store.index_entries("tag", "", None)
    assert [(e.listing, e.label) for e in entries] == [
        ("tag/layer-2", "Layer 2"),  # as its first author spelled it
        ("tag/etf", "ETF"),
        ("tag/zk", "zk"),
    ]
    index = store.head_of[TAG_INDEX]
    assert (index.pages, index.last_count) == (2, 1)  # two tags per page in SMALL
    assert [store.head_of[e.listing].index_page for e in entries] == [1, 1, 2]


def test_related_lists_are_indexed_both_ways() -> None:
    store = InMemoryArticleStore()
    commit(store, make(1))
    commit(store, make(2))
    commit(store, make(3, related=("a001", "a002")))
    assert store.linking("a001", "", 10) == ["a003"]
    commit(store, make(3, related=("a002",), content_hash="x"))
    assert store.linking("a001", "", 10) == []
    assert store.linking("a002", "", 10) == ["a003"]
    commit(store, dataclasses.replace(make(3), status="removed", related=()))
    assert store.linking("a002", "", 10) == []


def test_a_commit_that_raced_another_fails_as_a_conflict() -> None:
    store = InMemoryArticleStore()
    commit(store, make(1))
    heads = store.heads
    raced = False

    def racing_heads(names: object) -> dict[str, ListingHead]:
        nonlocal raced
        found = heads(names)  # type: ignore[arg-type]
        if not raced:
            raced = True
            commit(store, make(2))  # lands between our reads and our transaction
        return found

    store.heads = racing_heads  # type: ignore[method-assign]
    with pytest.raises(ArticleConflict):
        commit(store, make(3))
    assert "a003" not in store.articles
    commit(store, make(3))  # the retry reads again and goes through
    assert [a.slug for a in store.newest("home", 5)] == ["a003", "a002", "a001"]


def test_one_commit_stays_well_inside_a_transaction() -> None:
    store = InMemoryArticleStore()
    for i in range(40):
        commit(store, make(i, tags=tuple(f"t{k}" for k in range(10))), Paging(page_size=1))
    # Ten new tags, a new slug retiring the old one, related lists: every page opens.
    old = make(39, tags=tuple(f"t{k}" for k in range(10)))
    new = make(
        40, tags=tuple(f"u{k}" for k in range(10)), related=tuple(f"a{i:03d}" for i in range(5))
    )
    new = dataclasses.replace(new, source_key=old.source_key)
    source = SourceState(old.source_key, pad_sequencer("2"), slug=new.slug)
    change = ArticleChange(source, new, None, retired=old, paging=Paging(page_size=1))
    pairs = [(None, new), (old, dataclasses.replace(old, status="removed", related=()))]
    assert plan_commit(pairs, change.paging, store).size + 3 <= 75
    store.commit(change)
    assert store.articles[old.slug].status == "removed"
    assert store.head_of["tag/u3"].count == 1
    assert store.head_of["tag/t3"].count == 39


def random_articles(n: int, seed: int) -> list[Article]:
    rng = random.Random(seed)
    found = []
    for i in range(n):
        date = START + dt.timedelta(hours=rng.randrange(0, 24 * 120))
        found.append(
            make(
                i,
                date=date,
                status=rng.choice(["live"] * 8 + ["scheduled", "draft"]),
                category=rng.choice(["bitcoin", "wallet", ""]),
                tags=tuple(
                    rng.sample(["ETF", "Mining", "defi", "Nft", "dao", "x1"], rng.randint(0, 3))
                ),
                related=tuple(f"a{j:03d}" for j in rng.sample(range(n), 3)),
                updated=date + dt.timedelta(hours=2) if rng.random() < 0.3 else None,
            )
        )
    return found


def test_bulk_load_is_exactly_one_commit_after_another_oldest_first() -> None:
    paging = dataclasses.replace(SMALL, timezone="Asia/Shanghai")
    articles = random_articles(300, seed=5)
    one_by_one = InMemoryArticleStore()
    for article in sorted(articles, key=lambda a: a.sort_key):
        status = {"live": "published"}.get(article.status, article.status)
        source = SourceState(
            article.source_key, pad_sequencer("1"), slug=article.slug, status=status
        )
        one_by_one.commit(ArticleChange(source, article, None, paging=paging))
    loaded = InMemoryArticleStore()
    loaded.load(articles, paging)
    for part in ("articles", "sources", "members", "sorted_keys", "head_of", "bounds", "index",
                 "index_keys", "related_by"):  # fmt: skip
        assert getattr(loaded, part) == getattr(one_by_one, part), part
    with pytest.raises(ValueError, match="empty"):
        loaded.load(articles, paging)
