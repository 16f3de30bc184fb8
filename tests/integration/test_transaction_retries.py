"""The articles table adapter retries the transactions DynamoDB cancels for reasons that lift
on their own (on moto, with the cancellations injected: moto never conflicts by itself)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chainpress.aws import clients
from chainpress.aws.articles import TRANSACTION_ATTEMPTS, DynamoArticleStore
from chainpress.model import Article, pad_sequencer
from chainpress.ports import ArticleChange, ArticleConflict, SourceState, StaleEvent
from tests.support.aws import create_stack
from tests.support.faults import inject, json_request, transaction_cancelled


@pytest.fixture
def table() -> Iterator[str]:
    with mock_aws():
        clients.reset()
        yield create_stack()["ArticlesTable"]
    clients.reset()


def article(slug: str) -> Article:
    return Article(
        slug=slug,
        title=slug.title(),
        date=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        source_key=f"articles/{slug}.md",
        content_hash=slug,
        category="bitcoin",
        tags=("etf",),
    )


def change(slug: str, seq: str = "01") -> ArticleChange:
    source = SourceState(f"articles/{slug}.md", pad_sequencer(seq), slug=slug, status="published")
    return ArticleChange(source=source, new=article(slug), previous=None)


def conflict_on_head_home(request: dict[str, Any]) -> list[str]:
    items = json_request(request)["TransactItems"]
    pks = [
        next(iter(a.values())).get("Key", next(iter(a.values())).get("Item"))["pk"]["S"]
        for a in items
    ]
    return ["TransactionConflict" if pk == "head#home" else "None" for pk in pks]


def test_a_conflicting_transaction_is_retried_and_lands(table: str) -> None:
    pauses: list[float] = []
    store = DynamoArticleStore(table, clients.dynamodb(), sleep=pauses.append)
    left = {"n": 3}

    def three_conflicts(request: dict[str, Any]) -> Any:
        if left["n"] == 0:
            return None
        left["n"] -= 1
        return transaction_cancelled(conflict_on_head_home(request))

    with inject(clients.dynamodb(), "TransactWriteItems", three_conflicts) as injected:
        store.commit(change("story"))
    assert len(injected) == 3
    assert len(pauses) == 3
    assert all(0 <= p < 2.0 for p in pauses)
    assert store.get_article("story") == article("story")
    assert store.head("home").count == 1
    assert [a.slug for a in store.iter_listing("tag/etf")] == ["story"]


def test_retries_are_bounded_and_refusals_that_do_not_lift_are_not_retried(table: str) -> None:
    pauses: list[float] = []
    store = DynamoArticleStore(table, clients.dynamodb(), sleep=pauses.append)
    with (
        inject(
            clients.dynamodb(),
            "TransactWriteItems",
            lambda r: transaction_cancelled(conflict_on_head_home(r)),
        ) as injected,
        pytest.raises(ClientError, match="TransactionCanceled"),
    ):
        store.commit(change("story"))
    assert len(injected) == TRANSACTION_ATTEMPTS
    assert len(pauses) == TRANSACTION_ATTEMPTS - 1
    assert store.get_article("story") is None

    pauses.clear()
    validation = ["None", "ValidationError", "None", "None", "None", "None", "None"]
    with (
        inject(
            clients.dynamodb(), "TransactWriteItems", lambda r: transaction_cancelled(validation)
        ),
        pytest.raises(ClientError),
    ):
        store.commit(change("story"))
    assert pauses == []

    store.commit(change("story", "05"))
    with pytest.raises(StaleEvent):  # the source condition: never retried
        store.commit(change("story", "03"))
    with pytest.raises(ArticleConflict):  # the article condition: the caller plans again
        store.commit(change("story", "07"))
    assert pauses == []
