"""Views benchmarks: warm handler time, cold import, and the 10,000 views/s capacity model.

(a) Warm handler time per request, in process, on moto (``mock_aws``): POST /api/views/<slug>,
    GET /api/views with 100 slugs, GET /api/hot. Median (and p90) over N calls after a warm-up.
    moto is slower than DynamoDB per call and has no network: this measures our code + moto.
(b) Cold import of functions/views/app.py vs ``import boto3``, each in a fresh interpreter
    (timed around the import statement only), median of 7, and their ratio. The first request
    also imports boto3 (clients are built lazily): "import + first POST" shows that cost.
(c) Capacity model, two scenarios: 20,000 views/s site-wide over 2,000 articles (Zipf), and
    10,000 views/s on one article (plus 10,000/s on the others): S seconds over C warm
    containers, each with its own DynamoViewCounter over a counting fake client and a simulated
    clock. Reports the busiest partition key's write and read units per second against
    DynamoDB's per-partition limits (1,000 WCU/s, 3,000 RCU/s), for the hour buckets as they
    are (article hash + shard: ``bucket_partition``) and as they were (``bucket#<day>#<shard>``,
    one key per shard shared by every article), next to two naive counter designs.

Usage: python bench/bench_views.py [--calls 300] [--imports 7] [--rate 20000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # functions.* and tests.support.* import as in the tests

SLUG = "链圈-bitcoin-etf"
WRITE_LIMIT, READ_LIMIT = 1_000, 3_000  # per partition, per second


# ------------------------------------------------------------------------- (a) warm handler


def warm_handler(calls: int) -> list[tuple[str, float, float]]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
        POWERTOOLS_LOG_LEVEL="ERROR",
        LOG_LEVEL="ERROR",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    warnings.filterwarnings("ignore", "No application metrics")
    from moto import mock_aws

    from chainpress.aws import clients
    from chainpress.aws.articles import DynamoArticleStore
    from chainpress.model import Article, pad_sequencer
    from chainpress.ports import ArticleChange, SourceState
    from functions.views import app
    from tests.support.aws import create_stack
    from tests.support.events import load_event

    class Context:
        function_name = "ViewsFunction"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:views"
        aws_request_id = "bench"

    results = []
    with mock_aws():
        clients.reset()
        names = create_stack()
        os.environ["VIEWS_TABLE"] = names["ViewsTable"]
        os.environ["ARTICLES_TABLE"] = names["ArticlesTable"]
        app.ports.cache_clear()
        store = DynamoArticleStore(names["ArticlesTable"], clients.dynamodb())
        article = Article(
            slug=SLUG,
            title="t",
            date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            source_key="articles/x.md",
            content_hash="h",
        )
        source = SourceState(article.source_key, pad_sequencer("1"), slug=SLUG)
        store.commit(ArticleChange(source=source, new=article, previous=None))
        many = load_event("api_views_get.json")
        many["queryStringParameters"] = {"slugs": ",".join([SLUG, *[f"s{i}" for i in range(99)]])}
        events = {
            "POST /api/views/<slug>": load_event("api_view_post.json"),
            "GET /api/views (100 slugs)": many,
            "GET /api/hot": load_event("api_hot_get.json"),
        }
        uncached = dict(events)
        del uncached["GET /api/hot"]
        runs = [(name, event, 1.0) for name, event in events.items()]
        # read_ttl=0: every total read from the table (a cold container, or a slug nobody asked
        # for within the last second); with the default 1 s most warm reads hit the cache.
        runs += [(f"{name}, totals uncached", event, 0.0) for name, event in uncached.items()]
        devnull = open(os.devnull, "w")  # noqa: SIM115 - EMF metrics go to stdout
        for name, event, ttl in runs:
            app.ports().counter.read_ttl = ttl  # type: ignore[attr-defined]
            for _ in range(30):  # warm-up: every shard item exists, caches are hot
                _quiet(devnull, app.lambda_handler, event, Context())
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                answer = _quiet(devnull, app.lambda_handler, event, Context())
                times.append(time.perf_counter() - started)
                assert answer["statusCode"] == 200, answer
            times.sort()
            results.append((name, statistics.median(times), times[int(len(times) * 0.9)]))
    return results


def _quiet(sink: Any, fn: Any, *args: Any) -> Any:
    real = sys.stdout
    sys.stdout = sink
    try:
        return fn(*args)
    finally:
        sys.stdout = real


# ---------------------------------------------------------------------------- (b) imports

_TIMED = """
import time
t = time.perf_counter()
{stmt}
print(time.perf_counter() - t)
"""

_FIRST_POST = """
import time
import functions.views.app as app
t = time.perf_counter()
app.ports()  # what the first request adds: boto3 + the DynamoDB client (no network)
print(time.perf_counter() - t)
"""


def cold_imports(runs: int) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_DEFAULT_REGION": "us-east-1",
        "VIEWS_TABLE": "v",
        "ARTICLES_TABLE": "a",
    }
    cases = {
        "import boto3": _TIMED.format(stmt="import boto3"),
        "import functions.views.app": _TIMED.format(stmt="import functions.views.app"),
        "import functions.trending.app": _TIMED.format(stmt="import functions.trending.app"),
        "first request: ports() (boto3 + client)": _FIRST_POST,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):  # interleaved, so machine load hits every case alike
        for name, code in cases.items():
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
            ).stdout
            samples[name].append(float(out.strip().splitlines()[-1]))
    return {name: statistics.median(values) for name, values in samples.items()}


# --------------------------------------------------------------------- (c) capacity model


class CountingDynamo:
    """Just enough of the DynamoDB client for DynamoViewCounter, counting capacity units per
    partition key per simulated second (items here are < 1 KB: 1 WCU a write, 0.5 RCU an
    eventually consistent read; transactions cost double)."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.items: dict[tuple[str, str], int] = {}
        self.wcu: collections.Counter[tuple[int, str]] = collections.Counter()
        self.rcu: collections.Counter[tuple[int, str]] = collections.Counter()
        self.requests = 0

    def _second(self) -> int:
        return int(self.clock[0])

    def update_item(self, **kw: Any) -> dict[str, Any]:
        self.requests += 1
        key = (kw["Key"]["pk"]["S"], kw["Key"]["sk"]["S"])
        self.wcu[(self._second(), key[0])] += 1
        if "ConditionExpression" in kw and key not in self.items:
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "ConditionalCheckFailedException"}}
            raise ClientError(error, "UpdateItem")
        self.items[key] = self.items.get(key, 0) + 1
        return {"Attributes": {"views": {"N": str(self.items[key])}}}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        self.requests += 1
        for action in TransactItems:
            body = next(iter(action.values()))
            pk = body["Key"]["pk"]["S"]
            self.wcu[(self._second(), pk)] += 2
            if "Update" in action:
                key = (pk, body["Key"]["sk"]["S"])
                self.items[key] = self.items.get(key, 0) + 1

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        table, request = next(iter(RequestItems.items()))
        found = []
        for key in request["Keys"]:
            pk, sk = key["pk"]["S"], key["sk"]["S"]
            self.rcu[(self._second(), pk)] += 0.5
            if (pk, sk) in self.items:
                found.append({"pk": {"S": pk}, "views": {"N": str(self.items[(pk, sk)])}})
        return {"Responses": {table: found}}


def article_picker(rate: int, viral_rate: int, articles: int = 2_000) -> Any:
    """Which article the i-th view is for: ``viral_rate`` of every ``rate`` views go to SLUG,
    the rest to ``articles`` others with Zipf(1) popularity (deterministic)."""
    import random

    rng = random.Random(7)
    names = [f"story-{i:05d}" for i in range(articles)]
    weights = [1 / (rank + 1) for rank in range(articles)]
    others = rng.choices(names, weights, k=rate)  # one simulated second's mix, reused
    share = viral_rate / rate

    def pick(i: int) -> str:
        if (i % rate) < share * rate:
            return SLUG
        return others[i % rate]

    return pick


def capacity_model(
    rate: int, seconds: int, containers: int, *, viral_rate: int, old_buckets: bool = False
) -> dict[str, Any]:
    from chainpress.aws import views_store
    from chainpress.aws.views_store import DynamoViewCounter

    clock = [0.0]
    fake = CountingDynamo(clock)
    counters = [
        DynamoViewCounter("views", "articles", fake, clock=lambda: clock[0], workers=1)
        for _ in range(containers)
    ]
    at = dt.datetime(2024, 5, 3, 12, 0, tzinfo=dt.UTC)
    pick = article_picker(rate, viral_rate)
    partition = views_store.bucket_partition
    if old_buckets:  # the layout before: bucket#<day>#<shard>, whatever the article
        views_store.bucket_partition = lambda slug, shard: shard  # type: ignore[assignment]
    try:
        total = rate * seconds
        for i in range(total):
            clock[0] = i / rate
            assert counters[i % containers].add(pick(i), at) is not None
    finally:
        views_store.bucket_partition = partition  # type: ignore[assignment]
    last_second = seconds - 1  # a steady second: shards and caches all warm
    writes = {pk: n for (s, pk), n in fake.wcu.items() if s == last_second}
    reads = {pk: n for (s, pk), n in fake.rcu.items() if s == last_second}
    shard_writes = [n for pk, n in writes.items() if pk.startswith("views#")]
    bucket_writes = [n for pk, n in writes.items() if pk.startswith("bucket#")]
    bucket_total = sum(v for (pk, _), v in fake.items.items() if pk.startswith("bucket#"))
    return {
        "views": total,
        "requests per view": fake.requests / total,
        "total WCU/s": sum(writes.values()),
        "busiest shard key WCU/s": max(shard_writes),
        "busiest bucket key WCU/s": max(bucket_writes),
        "bucket keys": len(bucket_writes),
        "busiest key RCU/s": max(reads.values()) if reads else 0.0,
        "total RCU/s": sum(reads.values()),
        "article item units/s": writes.get(f"article#{SLUG}", 0),
        "exact": (
            sum(v for (pk, _), v in fake.items.items() if pk.startswith("views#")) == total
            and bucket_total == total
        ),
    }


# ----------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--rate", type=int, default=20_000, help="site-wide views/s")
    parser.add_argument("--viral", type=int, default=10_000, help="views/s on one article")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--containers", type=int, default=150)
    parser.add_argument("--json", action="store_true", help="also print raw numbers as JSON")
    args = parser.parse_args()

    imports = cold_imports(args.imports)
    warm = warm_handler(args.calls)
    scenarios = {
        f"{args.rate:,} views/s site-wide, over 2,000 articles (Zipf)": 0,
        f"{args.viral:,} views/s on one article (+{args.rate - args.viral:,}/s on the rest)": (
            args.viral
        ),
    }
    models = {
        name: {
            layout: capacity_model(
                args.rate,
                args.seconds,
                args.containers,
                viral_rate=viral,
                old_buckets=layout == "before",
            )
            for layout in ("now", "before")
        }
        for name, viral in scenarios.items()
    }

    boto3_time = imports["import boto3"]
    print(f"## Views API (median of {args.imports} fresh interpreters; {args.calls} warm calls)\n")
    print("| measurement | value |")
    print("|---|---|")
    for name, seconds in imports.items():
        ratio = f" ({seconds / boto3_time:.2f}x boto3)" if name != "import boto3" else ""
        print(f"| cold `{name}` | {seconds * 1000:.0f} ms{ratio} |")
    for name, median, p90 in warm:
        print(f"| warm {name}, moto in-process | {median * 1000:.2f} ms (p90 {p90 * 1000:.2f}) |")
    print(
        f"\n## Busiest partition key, {args.seconds} s over {args.containers} containers "
        f"(capacity model, last second; limit 1,000 WCU/s, 3,000 RCU/s per key)\n"
    )
    print(
        "| scenario | counter shard key | hour bucket key: now (article hash + shard, "
        "64 keys) | hour bucket key: before (shard only, 20 keys) | reads | counts exact |"
    )
    print("|---|---|---|---|---|---|")
    for name, model in models.items():
        now, before = model["now"], model["before"]
        print(
            f"| {name} | {now['busiest shard key WCU/s']:,} WCU/s "
            f"| {now['busiest bucket key WCU/s']:,} WCU/s "
            f"| {before['busiest bucket key WCU/s']:,} WCU/s "
            f"| {now['busiest key RCU/s']:,.0f} RCU/s | {now['exact'] and before['exact']} |"
        )
    viral = models[list(scenarios)[1]]["now"]
    print(
        f"\nOne viral article, naive designs: one counter item with UpdateItem ADD takes "
        f"{args.viral:,} WCU/s on one key; a TransactWriteItems per view with a ConditionCheck "
        f"on the article takes {args.viral:,} transactions/s (>= {2 * args.viral:,} units) on "
        f"the article item, and concurrent transactions on one item conflict. Ours: "
        f"{viral['requests per view']:.3f} requests/view, {viral['total WCU/s']:,} WCU/s and "
        f"{viral['total RCU/s']:,.0f} RCU/s in total; article item touched "
        f"{viral['article item units/s']} units/s."
    )
    if args.json:
        print(json.dumps({"imports": imports, "warm": warm, "models": models}, indent=2))


if __name__ == "__main__":
    main()
