"""IndexNow under moto, through the real publish and rebuild handlers, with a local HTTP
server standing in for the endpoint (``INDEXNOW_ENDPOINT``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from chainpress.aws import clients
from functions.rebuild import app as rebuild_app
from tests.integration.test_rebuild import Stack, source
from tests.support.aws import create_stack, set_function_environment
from tests.support.lambda_context import Context
from tests.unit.test_indexnow import Endpoint

KEY = "local-indexnow-key-1"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    found = Endpoint()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, endpoint: Endpoint) -> Iterator[Stack]:
    with mock_aws():
        clients.reset()
        names = create_stack()
        set_function_environment(monkeypatch, names)
        monkeypatch.setenv("INDEXNOW_KEY", KEY)
        monkeypatch.setenv("INDEXNOW_ENDPOINT", endpoint.url)
        yield Stack(names)
    clients.reset()


def test_the_stream_consumer_announces_changed_articles(stack: Stack, endpoint: Endpoint) -> None:
    stack.upload("etf", source("Bitcoin ETF approved", 1))
    stack.upload("mining", source("Mining news", 2))
    endpoint.status = 503  # the endpoint is down: the publish goes on regardless
    assert stack.rebuild() == {"batchItemFailures": []}
    assert stack.text("articles/etf/index.html")
    assert stack.text(f"{KEY}.txt") == KEY
    assert len(endpoint.requests) == 1
    endpoint.status = 200
    # The minute schedule sends what the batch could not.
    answer = rebuild_app.lambda_handler({"action": "flush-invalidations"}, Context())
    assert answer["indexnow_sent"] == 2
    urls = endpoint.requests[-1]["urlList"]
    assert [url.rsplit("/", 2)[-2] for url in urls] == ["etf", "mining"]
    assert endpoint.requests[-1]["key"] == KEY

    stack.remove("mining")
    stack.rebuild()
    assert [url.rsplit("/", 2)[-2] for url in endpoint.requests[-1]["urlList"]] == ["mining"]
    assert (
        rebuild_app.lambda_handler({"action": "flush-invalidations"}, Context())["indexnow_sent"]
        == 0
    )
