"""The views API through its Lambda handler (HTTP API payload 2.0 events), on moto."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock
from urllib.parse import quote, urlencode

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from chainpress import views
from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.aws.views_store import DynamoHotLists, DynamoViewCounter
from chainpress.model import Article, pad_sequencer
from chainpress.ports import ArticleChange, ArticleStore, HotItem, SourceState
from chainpress_dev.memory import InMemoryArticleStore
from functions.views import app
from tests.support.aws import create_stack
from tests.support.events import load_event
from tests.support.lambda_context import Context
from tests.support.moto_server import serialised_moto_server

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SLUG = "链圈-bitcoin-etf"  # the slug of events/api_view_post.json
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def make(slug: str, *, status: str = "live", category: str = "bitcoin") -> Article:
    return Article(
        slug=slug,
        title=f"Title {slug}",
        date=dt.datetime(2024, 4, 1, 8, 0, tzinfo=dt.UTC),
        source_key=f"articles/{slug}.md",
        content_hash=f"h-{slug}",
        category=category,
        status=status,  # type: ignore[arg-type]
    )


def publish(store: ArticleStore, article: Article) -> None:
    source = SourceState(
        key=article.source_key, seq=pad_sequencer("01"), slug=article.slug, status="published"
    )
    store.commit(ArticleChange(source=source, new=article, previous=None))


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    answer = app.lambda_handler(event, Context())
    body = json.loads(answer["body"]) if answer.get("body") else {}
    return answer["statusCode"], body, answer.get("headers", {})


def post_view(slug: str, user_agent: str | None = None) -> dict[str, Any]:
    event = load_event("api_view_post.json")
    path = "/api/views/" + quote(slug, safe="")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"slug": slug}
    if user_agent is not None:
        event["headers"]["user-agent"] = user_agent
    return event


def get_views(slugs: str) -> dict[str, Any]:
    event = load_event("api_views_get.json")
    event["rawQueryString"] = urlencode({"slugs": slugs})
    event["queryStringParameters"] = {"slugs": slugs}
    return event


def get_hot(**params: str) -> dict[str, Any]:
    event = load_event("api_hot_get.json")
    event["rawQueryString"] = urlencode(params)
    event["queryStringParameters"] = params or None
    if not params:
        del event["queryStringParameters"]
    return event


# ------------------------------------------------------------------- moto (in process)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with mock_aws():
        clients.reset()
        names = create_stack()
        monkeypatch.setenv("VIEWS_TABLE", names["ViewsTable"])
        monkeypatch.setenv("ARTICLES_TABLE", names["ArticlesTable"])
        app.ports.cache_clear()
        yield names
        app.ports.cache_clear()
    clients.reset()


@pytest.fixture
def store(stack: dict[str, str]) -> DynamoArticleStore:
    store = DynamoArticleStore(stack["ArticlesTable"], clients.dynamodb())
    publish(store, make(SLUG))
    publish(store, make("ethereum-merge", category="ethereum"))
    return store


def views_items(stack: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = clients.dynamodb().scan(TableName=stack["ViewsTable"])["Items"]
    return items


def test_sample_event_counts_a_cjk_slug(store: DynamoArticleStore) -> None:
    status, body, headers = call(load_event("api_view_post.json"))
    assert (status, body) == (200, {"slug": SLUG, "views": 1, "counted": True})
    assert headers["Cache-Control"] == "no-store"
    status, body, _ = call(post_view(SLUG))
    assert body["views"] == 2


def test_unknown_slug_is_404_and_creates_nothing(
    store: DynamoArticleStore, stack: dict[str, str]
) -> None:
    publish(store, make("held", status="scheduled"))
    for slug in ["no-such-article", "held"]:
        status, body, _ = call(post_view(slug))
        assert (status, body["error"]) == (404, "not_found")
        status, _, _ = call(post_view(slug, user_agent=BOT))
        assert status == 404
    assert views_items(stack) == []


def test_a_bot_reads_the_count_without_adding_to_it(
    store: DynamoArticleStore, stack: dict[str, str]
) -> None:
    call(post_view(SLUG))
    for agent in [BOT, "python-requests/2.32.3", ""]:
        status, body, _ = call(post_view(SLUG, user_agent=agent))
        assert (status, body) == (200, {"slug": SLUG, "views": 1, "counted": False})
    buckets = [i for i in views_items(stack) if i["pk"]["S"].startswith("bucket#")]
    assert [int(i["views"]["N"]) for i in buckets] == [1]


def test_view_items_have_the_documented_shapes(
    store: DynamoArticleStore, stack: dict[str, str]
) -> None:
    call(post_view(SLUG))
    items = {i["pk"]["S"].split("#")[0]: i for i in views_items(stack)}
    shard, bucket = items["views"], items["bucket"]
    assert shard["pk"]["S"].startswith(f"views#{SLUG}#")
    assert shard["sk"]["S"] == "views"
    shard_no = int(shard["pk"]["S"].rsplit("#", 1)[1])
    assert 0 <= shard_no < views.SHARDS
    day, partition = bucket["pk"]["S"].split("#")[1:]
    hour, slug = bucket["sk"]["S"].split("#", 1)
    assert (len(day), len(hour), slug) == (8, 2, SLUG)
    # The hour bucket's partition: the article's hash plus the shard the view was counted on.
    assert int(partition) == views.bucket_partition(SLUG, shard_no)
    assert int(bucket["views"]["N"]) == 1
    assert int(bucket["expires"]["N"]) > time.time() + 7 * 86400


def test_read_many_counts_in_one_call(store: DynamoArticleStore) -> None:
    for _ in range(3):
        call(post_view(SLUG))
    call(post_view("ethereum-merge"))
    status, body, _headers = call(load_event("api_views_get.json"))
    assert status == 200
    assert body == {"views": {SLUG: 3, "ethereum-merge": 1, "wallet-guide": 0}}
    hundred = ",".join([SLUG, *[f"s{i}" for i in range(99)]])
    status, body, _ = call(get_views(hundred))
    assert status == 200
    assert len(body["views"]) == 100
    assert body["views"][SLUG] == 3


def test_hot_lists_are_one_read(store: DynamoArticleStore, stack: dict[str, str]) -> None:
    items = [HotItem(f"s{i}", f"T{i}", f"/articles/s{i}/", "bitcoin", 90 - i) for i in range(30)]
    DynamoHotLists(stack["ViewsTable"], clients.dynamodb()).put_all(
        {("24h", "bitcoin"): items, ("24h", None): items[:3], ("7d", None): []},
        dt.datetime.now(dt.UTC),
    )
    status, body, headers = call(load_event("api_hot_get.json"))  # bitcoin, limit 10
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=60"
    assert (body["window"], body["category"], len(body["items"])) == ("24h", "bitcoin", 10)
    assert body["items"][0] == {
        "slug": "s0",
        "title": "T0",
        "url": "/articles/s0/",
        "category": "bitcoin",
        "views": 90,
    }
    status, body, _ = call(get_hot())
    assert (body["window"], body["category"], [i["slug"] for i in body["items"]]) == (
        "24h",
        None,
        ["s0", "s1", "s2"],
    )
    assert call(get_hot(window="7d"))[1]["items"] == []
    assert call(get_hot(category="wallet"))[1]["items"] == []


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (lambda: get_hot(window="30d"), 400),
        (lambda: get_hot(limit="0"), 400),
        (lambda: get_hot(limit="51"), 400),
        (lambda: get_hot(limit="many"), 400),
        (lambda: get_hot(category="a/b"), 400),
        (lambda: get_views(",".join(f"s{i}" for i in range(101))), 400),
        (lambda: get_views("a,../b"), 400),
        (lambda: {**get_views(""), "queryStringParameters": None}, 400),
        (lambda: post_view("bad slug"), 400),
        (lambda: post_view("%25E9"), 400),
        (lambda: {**post_view(SLUG), "body": "x" * 100_000}, 413),
        (lambda: {**get_views("a"), "requestContext": _method(get_views("a"), "DELETE")}, 405),
        (lambda: {**post_view(SLUG), "requestContext": _method(post_view(SLUG), "GET")}, 405),
        (lambda: {**get_hot(), "rawPath": "/api/nothing-here"}, 404),
        (lambda: {**post_view(SLUG), "rawPath": "/api/views/a/b"}, 404),
    ],
)
def test_bad_input_is_a_4xx_with_a_json_error(
    store: DynamoArticleStore, event: Callable[[], dict[str, Any]], status: int
) -> None:
    got, body, _ = call(event())
    assert got == status
    assert set(body) == {"error", "message"}
    assert body["message"]


def _method(event: dict[str, Any], method: str) -> dict[str, Any]:
    context: dict[str, Any] = event["requestContext"]
    context["http"]["method"] = method
    return context


def test_cors_allows_only_the_site_origin(store: DynamoArticleStore) -> None:
    # The resolver reads SITE_ORIGIN at import; the sample events' origin is the site's.
    preflight = load_event("api_view_post.json")
    preflight["requestContext"]["http"]["method"] = "OPTIONS"
    status, _, _ = call(preflight)
    assert status == 204
    allowed = app.app._cors
    assert allowed is not None
    assert "*" not in allowed._allowed_origins


def test_throttling_is_a_503_the_client_may_retry(store: DynamoArticleStore) -> None:
    class Throttled:
        def add(self, slug: str, at: dt.datetime) -> int | None:
            raise views.CounterUnavailable("ProvisionedThroughputExceededException")

    throttled = app.Ports(counter=Throttled(), hot=app.ports().hot)  # type: ignore[arg-type]
    with mock.patch.object(app, "ports", return_value=throttled):
        status, body, headers = call(post_view(SLUG))
    assert (status, body["error"], headers["Retry-After"]) == (503, "unavailable", "1")


# --------------------------------------------------------- property: never a 5xx on input


_METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"])
_SEGMENT = st.text(min_size=0, max_size=40)
_PATHS = st.one_of(
    st.sampled_from(["/api/views", "/api/hot", "/api/views/", "/", "/api", "/api/views/x/"]),
    _SEGMENT.map(lambda s: "/api/views/" + s),
    _SEGMENT.map(lambda s: "/api/views/" + quote(s, safe="")),
    _SEGMENT.map(lambda s: "/" + s),
)
_KEYS = st.one_of(st.sampled_from(["slugs", "window", "category", "limit"]), st.text(max_size=8))
_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["24h", "7d", "1", "50", "-1", "1e3", "a,b", SLUG, ",".join(["a"] * 150)]),
)
_BODIES = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    st.integers(0, 30_000).map(lambda n: "{" * n),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=_METHODS,
    path=_PATHS,
    query=st.dictionaries(_KEYS, _VALUES, max_size=4),
    body=_BODIES,
    b64=st.booleans(),
    agent=st.one_of(st.none(), st.text(max_size=40), st.just(BOT)),
)
def test_no_input_makes_a_5xx(
    method: str,
    path: str,
    query: dict[str, str],
    body: str | None,
    b64: bool,
    agent: str | None,
) -> None:
    event = load_event("api_views_get.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = urlencode(query)
    event["queryStringParameters"] = query or None
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    event["pathParameters"] = None
    event["isBase64Encoded"] = b64
    event["body"] = body
    if agent is None:
        event["headers"].pop("user-agent", None)
    else:
        event["headers"]["user-agent"] = agent
    with mock.patch.object(app, "ports", _memory_ports):
        answer = app.lambda_handler(event, Context())
    assert answer["statusCode"] < 500, answer
    if answer["statusCode"] >= 400:
        assert set(json.loads(answer["body"])) == {"error", "message"}


_MEMORY = InMemoryArticleStore()
_MEMORY.articles[SLUG] = make(SLUG)
_MEMORY_VIEWS = views.InMemoryViews(_MEMORY)


def _memory_ports() -> app.Ports:
    return app.Ports(counter=_MEMORY_VIEWS, hot=_MEMORY_VIEWS)


# ----------------------------------------- concurrency: 8 threads x 500 views, exactly 4,000


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server whose request handling is serialised (tests/support/moto_server.py):
    any lost view can only come from our code (e.g. a read-modify-write)."""
    with serialised_moto_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        clients.reset()
        app.ports.cache_clear()
        try:
            yield url
        finally:
            app.ports.cache_clear()
            clients.reset()


def test_concurrent_views_on_one_article_are_all_counted(
    serialised_moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = create_stack()
    monkeypatch.setenv("VIEWS_TABLE", names["ViewsTable"])
    monkeypatch.setenv("ARTICLES_TABLE", names["ArticlesTable"])
    publish(DynamoArticleStore(names["ArticlesTable"], clients.dynamodb()), make(SLUG))
    threads, per_thread = 8, 150  # 1,200 conditional ADDs racing on 20 counter shards
    now = dt.datetime.now(dt.UTC)
    chrome = load_event("api_view_post.json")["headers"]["user-agent"]

    def reader(_: int) -> int:
        # One client and one counter per thread, like one Lambda container each (the
        # Powertools resolver keeps per-process request state, and Lambda never runs two
        # requests in one process at once: the threads call the POST's use case directly).
        # Totals are re-read every 30 s, not every second: the count is what is under test,
        # and each 20-key read costs as much moto time as ten writes.
        client = boto3.session.Session().client(
            "dynamodb", endpoint_url=serialised_moto, config=Config(retries={"mode": "standard"})
        )
        counter = DynamoViewCounter(
            names["ViewsTable"], names["ArticlesTable"], client, read_ttl=30
        )
        last = 0
        for _ in range(per_thread):
            last = views.count_view(SLUG, chrome, now, counter).views
        return last

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        lasts = list(pool.map(reader, range(threads)))
    elapsed = time.perf_counter() - started
    fresh = DynamoViewCounter(names["ViewsTable"], names["ArticlesTable"], clients.dynamodb())
    assert fresh.totals([SLUG]) == {SLUG: threads * per_thread}
    buckets = [
        int(i["views"]["N"])
        for i in views_items(names)
        if i["pk"]["S"].startswith("bucket#") and i["sk"]["S"].endswith(f"#{SLUG}")
    ]
    assert sum(buckets) == threads * per_thread
    assert all(0 < n <= threads * per_thread for n in lasts)
    # The handler, through the same server, sees every view and counts one more.
    status, body, _ = call(post_view(SLUG))
    assert (status, body["views"]) == (200, threads * per_thread + 1)
    print(f"\n{threads}x{per_thread} views through the serialised moto server: {elapsed:.1f} s")


def test_requests_without_cloudfronts_secret_header_are_403(
    store: DynamoArticleStore, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The execute-api URL is public: only requests carrying the X-Origin-Verify value
    CloudFront adds (OriginVerifySecret) reach the routes; a direct one counts nothing."""
    monkeypatch.setenv("ORIGIN_SECRET_ARN", stack["OriginVerifySecret"])
    app._read_secret.cache_clear()
    secret = clients.secretsmanager().get_secret_value(SecretId=stack["OriginVerifySecret"])
    value = secret["SecretString"]
    assert len(value) >= 32
    direct = [post_view(SLUG), get_views(SLUG), get_hot()]
    wrong = post_view(SLUG)
    wrong["headers"]["x-origin-verify"] = value[:-1] + ("a" if value[-1] != "a" else "b")
    for event in [*direct, wrong]:
        status, body, _ = call(event)
        assert (status, body["error"]) == (403, "forbidden")
    assert views_items(stack) == []  # nothing counted
    for event in [post_view(SLUG), get_views(SLUG), get_hot()]:
        event["headers"]["x-origin-verify"] = value
        assert call(event)[0] == 200
    assert call(get_views(SLUG) | {"headers": {"x-origin-verify": value}})[1]["views"] == {SLUG: 1}
    app._read_secret.cache_clear()
