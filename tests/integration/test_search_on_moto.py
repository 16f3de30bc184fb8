"""Site search under moto, through the real publish and rebuild handlers: the term files a
reader's browser fetches appear on publish, follow an edit and go on delete."""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress.search import term_key, tokenize
from tests.integration.test_rebuild import Stack, source
from tests.support.aws import create_stack, set_function_environment


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        clients.reset()
        names = create_stack()
        set_function_environment(monkeypatch, names)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "rebuild")
        yield Stack(names)
    clients.reset()


def hits(stack: Stack, query: str) -> list[str]:
    """Slugs listed in every term file the search page fetches for ``query``."""
    found: list[set[str]] = []
    for term in dict.fromkeys(tokenize(query)):
        data = stack.get(term_key(term))
        rows = json.loads(data)["p"] if data else []
        found.append({row[0] for row in rows})
    return sorted(set.intersection(*found)) if found else []


def test_publish_edit_and_delete_keep_the_search_index(stack: Stack) -> None:
    stack.upload("etf", source("Bitcoin ETF approved", 1))
    stack.upload("halving", source("比特币减半即将到来", 2, tags="[ETF, 减半]"))
    assert stack.rebuild() == {"batchItemFailures": []}
    assert hits(stack, "bitcoin etfs approval") == ["etf"]
    assert hits(stack, "比特币减半") == ["halving"]
    assert hits(stack, "ETF") == ["etf", "halving"]  # the tag of both (source's default)
    # The postings are items of the articles table; their stream records never reach the
    # rebuild function (its filter keeps article# and site records only).
    items = clients.dynamodb().query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "term#减半"}},
    )["Items"]
    assert [item["slug"]["S"] for item in items] == ["halving"]
    assert stack.records() == []

    stack.upload("etf", source("Ethereum ETF rejected", 1))
    stack.rebuild()
    assert hits(stack, "bitcoin") == []
    assert stack.get(term_key("bitcoin")) is None
    assert hits(stack, "ethereum etf") == ["etf"]

    stack.remove("halving")
    stack.rebuild()
    assert hits(stack, "比特币减半") == []
    assert hits(stack, "ETF") == ["etf"]


def test_the_in_memory_counts_are_the_requests_sent(stack: Stack) -> None:
    """bench/bench_search.py counts requests with the in-memory adapters: on moto, the same
    index updates send exactly those requests."""
    from chainpress.aws.s3 import S3SiteWriter
    from chainpress.aws.search import DynamoSearchPostings
    from chainpress.search import update_index
    from chainpress_dev.memory import InMemorySearchPostings, InMemorySiteWriter, total_calls
    from tests.unit.test_search import article

    s3, dynamodb = clients.s3(), clients.dynamodb()
    calls: collections.Counter[str] = collections.Counter()

    def count(model: Any, **kwargs: Any) -> None:
        calls[model.name] += 1

    for client in (s3, dynamodb):
        client.meta.events.register("before-call", count)
    real = (DynamoSearchPostings(stack.table, dynamodb), S3SiteWriter(stack.bucket, s3))
    fake = (InMemorySearchPostings(), InMemorySiteWriter())
    a = article("a", "Bitcoin 比特币 halving", summary="Miners brace for the halving. " * 4)
    b = article("b", "Bitcoin fees", minutes=1)
    a2 = dataclasses.replace(a, title="Bitcoin 以太坊 merge")
    for batch in ([(None, a), (None, b)], [(a, a2)], [(b, None)], [(a2, a2)]):
        before_real, before_fake = calls.copy(), total_calls(*fake)
        update_index(batch, *real)
        update_index(batch, *fake)
        assert calls - before_real == total_calls(*fake) - before_fake, batch
