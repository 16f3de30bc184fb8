"""One publish is one DynamoDB transaction (at most 100 actions): the item-count check counts
every action the commit writes, the waiting items too, so a change that would not fit is
refused with a clear message instead of an AWS error."""

from __future__ import annotations

import datetime as dt

import pytest

from chainpress import paging
from chainpress.model import Article, pad_sequencer
from chainpress.paging import DEFAULT_PAGING, plan_commit
from chainpress.ports import ArticleChange, SourceState
from chainpress_dev.memory import InMemoryArticleStore

START = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)


def article() -> Article:
    return Article(
        slug="halving",
        title="Halving",
        date=START,
        source_key="articles/halving.md",
        content_hash="h1",
        category="defi",
        tags=("etf", "mining"),
    )


def change(waiting: str, was_waiting: str = "") -> ArticleChange:
    source = SourceState("articles/halving.md", pad_sequencer("1"), slug="halving", waiting=waiting)
    return ArticleChange(source=source, new=article(), previous=None, was_waiting=was_waiting)


def test_waiting_items_are_actions_of_the_commit() -> None:
    assert change("").waiting_ops() == []
    assert change("defi").waiting_ops() == [("defi", True)]
    assert change("defi", was_waiting="defi").waiting_ops() == []
    assert change("", was_waiting="defi").waiting_ops() == [("defi", False)]
    assert change("nft", was_waiting="defi").waiting_ops() == [("defi", False), ("nft", True)]


def test_a_commit_one_item_over_the_limit_because_of_its_waiting_item_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = InMemoryArticleStore()
    plan = plan_commit([(None, article())], DEFAULT_PAGING, store)
    exact = plan.size + 2  # the source item and the article record fill the transaction
    monkeypatch.setattr(paging, "MAX_TRANSACTION_ITEMS", exact)
    with pytest.raises(ValueError, match=f"touches {exact + 1} items"):
        store.commit(change("defi"))  # + its waiting item
    assert store.waiting("defi") == []
    assert store.get_article("halving") is None  # nothing written
    store.commit(change(""))  # the same change without it fits exactly
    assert store.get_article("halving") is not None
