"""IndexNow: each rebuild batch sends the changed article URLs in one POST to the endpoint (a
local HTTP server stands in for it here); failures never fail the batch and are sent again by
the schedule."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chainpress.indexnow import HttpIndexNow, IndexNow
from chainpress.invalidation import InMemoryInvalidationQueue
from chainpress.model import Article
from chainpress.ports import SourceState
from chainpress.rebuilding import RebuildPorts, flush_invalidations, rebuild_changes
from chainpress_dev.memory import InMemoryArticleStore, InMemoryHotLists, InMemorySiteWriter

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
KEY = "0123456789abcdef"


class Endpoint:
    """An IndexNow endpoint on localhost: records each POST, answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                endpoint.requests.append({"type": self.headers["Content-Type"], **body})
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/indexnow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    found = Endpoint()
    yield found
    found.server.shutdown()
    found.server.server_close()


def article(slug: str, title: str = "News", **fields: Any) -> Article:
    return Article(slug, title, T0, f"articles/{slug}.md", slug, **fields)


def ports(url: str) -> tuple[RebuildPorts, InMemorySiteWriter, InMemoryInvalidationQueue]:
    store, site, queue = InMemoryArticleStore(), InMemorySiteWriter(), InMemoryInvalidationQueue()
    seq = SourceState("site.yaml", "1")
    store.commit_site(seq, yaml_text="name: Chain\nbase_url: https://news.example.com\n")
    indexnow = IndexNow(KEY, HttpIndexNow(url, timeout=2), queue)
    return RebuildPorts(store, site, InMemoryHotLists(), indexnow=indexnow), site, queue


def test_publish_update_and_delete_are_sent_in_one_post_per_batch(endpoint: Endpoint) -> None:
    rebuild, site, _ = ports(endpoint.url)
    a, b = article("a"), article("链-b")
    rebuild_changes([(None, a), (None, b), (None, article("d", status="draft"))], rebuild, T0)
    assert len(endpoint.requests) == 1
    sent = endpoint.requests[0]
    assert sent["type"] == "application/json; charset=utf-8"
    assert sent["host"] == "news.example.com"
    assert sent["key"] == KEY
    assert sent["keyLocation"] == f"https://news.example.com/{KEY}.txt"
    assert sent["urlList"] == [
        "https://news.example.com/articles/%E9%93%BE-b/",
        "https://news.example.com/articles/a/",
    ]  # the draft is not announced
    assert site.read(f"{KEY}.txt") == KEY.encode()  # engines check it at the site root

    edited = dataclasses.replace(a, title="News, corrected")
    rebuild_changes([(a, edited), (b, None)], rebuild, T0)
    assert endpoint.requests[1]["urlList"] == [  # the deleted one too: engines drop it
        "https://news.example.com/articles/%E9%93%BE-b/",
        "https://news.example.com/articles/a/",
    ]
    rebuild_changes([(edited, edited)], rebuild, T0)  # a repeated record: nothing new to say
    assert len(endpoint.requests) == 2


def test_a_failing_endpoint_never_fails_the_batch_and_the_schedule_retries(
    endpoint: Endpoint,
) -> None:
    rebuild, _, queue = ports(endpoint.url)
    endpoint.status = 429
    report = rebuild_changes([(None, article("a"))], rebuild, T0)
    assert report.indexnow.error == "HTTP 429"
    assert report.indexnow.pending == 1
    assert [entry.path for entry in queue.pending(10)] == ["https://news.example.com/articles/a/"]
    endpoint.status = 202
    report = flush_invalidations(rebuild)  # the minute schedule
    assert report.indexnow.sent == 1
    assert endpoint.requests[-1]["urlList"] == ["https://news.example.com/articles/a/"]
    assert queue.pending(10) == []
    assert flush_invalidations(rebuild).indexnow.sent == 0
    assert len(endpoint.requests) == 2


def test_an_unreachable_endpoint_is_reported_not_raised() -> None:
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}/indexnow"
    closed.server_close()  # nothing listens there any more
    rebuild, _, queue = ports(url)
    report = rebuild_changes([(None, article("a"))], rebuild, T0)
    assert "URLError" in report.indexnow.error
    assert len(queue.pending(10)) == 1


def test_off_without_a_key(endpoint: Endpoint) -> None:
    rebuild, site, _ = ports(endpoint.url)
    rebuild = dataclasses.replace(rebuild, indexnow=None)
    rebuild_changes([(None, article("a"))], rebuild, T0)
    assert endpoint.requests == []
    assert site.read(f"{KEY}.txt") is None
