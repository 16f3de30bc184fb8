"""DynamoDB adapters of the views ports: counters, hour buckets and hot lists (views table).

Item shapes are documented in ``chainpress.views``. How a view is counted:

1. Fast path, every view: one ``UpdateItem`` ``ADD views 1`` on a random total shard
   ``views#<slug>#<k>`` with ``attribute_exists(pk) AND attribute_not_exists(closed)``. Atomic
   on the server, never read-modify-write, 1 WCU, and no single hot item: 10,000 views/s on one
   article are 500/s on each of 20 partition keys. Shard items exist only for articles that were
   live when their first view landed on that shard, so the condition is the "known article"
   check for free; the trending job closes the shards of an article it finds unlisted (within
   one 5-minute run of its next counted view).
2. First view on a shard (at most SHARDS times per article, ever): one ``TransactWriteItems``
   with a ``ConditionCheck`` that ``article#<slug>`` is live plus the ``ADD`` that creates the
   shard. An unknown slug fails the check and writes nothing. (Doing this transaction on every
   view would put every view of a viral article on ONE item, the article record: 2 capacity
   units each and transaction conflicts between concurrent views, far below 10,000/s.)
3. Then ``ADD`` on the hour bucket ``bucket#<day>#<p>`` / ``<HH>#<slug>`` (TTL 8 days), with
   ``p = bucket_partition(slug, k)`` (the article's hash plus the shard: no partition key is
   shared by every article), which the trending job folds into hot lists. Best effort: the
   total is the source of truth, so a throttled bucket write is logged and the view still
   answers (hot lists may miss it).

The new total is the sum of the shards. A warm container remembers the shard values it read for
``read_ttl`` seconds (default 1 s) and adds the exact new value of the shard it just wrote, so a
viral article costs one 20-key read per container per second instead of one per view (20 keys
at 10,000 views/s would be 5,000 RCU/s on each shard's partition). Below one view per second per
container, totals are read fresh every time.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import heapq
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chainpress.ports import HotItem
from chainpress.views import (
    BUCKET_PARTITIONS,
    SHARDS,
    WINDOWS,
    CounterUnavailable,
    HotKey,
    RollupRow,
    bucket_expires,
    bucket_partition,
    hot_expires,
    hour_key,
)

_log = logging.getLogger(__name__)

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
_BATCH_GET = 100  # BatchGetItem limit (keys per request)
_BATCH_WRITE = 25  # BatchWriteItem limit
_CONFLICT_RETRIES = 3
_PAGE = 500  # bucket rows per Query page: what a stream of the merge holds at most
ROLLUP_CHUNK = 1000  # rollup rows per item ...
_CHUNK_BYTES = 300_000  # ... and at most this much JSON (DynamoDB items hold 400 KB)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def shard_pk(slug: str, shard: int) -> str:
    return f"views#{slug}#{shard}"


def bucket_pk(day: str, partition: int) -> str:
    return f"bucket#{day}#{partition}"


def bucket_sk(hour: str, slug: str) -> str:
    return f"{hour[8:]}#{slug}"


def rollup_pk(hour: str) -> str:
    return f"rollup#{hour}"


def _chunk_sk(number: int) -> str:
    return f"chunk#{number:04d}"


def hot_pk(window: str, category: str | None) -> str:
    return f"hot#{window}#{category or 'all'}"


_SHARD_SK = "views"
_HOT_SK = "hot"
_HEAD_SK = "head"


class _Pool:
    """A small lazily-started thread pool: fan-out of independent reads (boto3 clients are
    thread-safe). Lambda freezes idle threads between invocations at no cost."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1 or self.workers <= 1:
            return [fn(item) for item in items]
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.workers)
        return list(self._pool.map(fn, items))


class DynamoViewCounter:
    """``ViewCounter`` over the views table (counts) and the articles table (known articles)."""

    def __init__(
        self,
        table: str,
        articles_table: str,
        client: Any,
        *,
        shards: int = SHARDS,
        read_ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        pick: Callable[[int], int] | None = None,
        workers: int = 4,
    ) -> None:
        self.table = table
        self.articles_table = articles_table
        self.client = client
        self.shards = shards
        self.read_ttl = read_ttl
        self._clock = clock
        self._pick = pick or random.SystemRandom().randrange
        self._cache: dict[str, tuple[float, list[int]]] = {}
        self._lock = threading.Lock()
        self._pool = _Pool(workers)

    # -- ViewCounter -------------------------------------------------------------------------
    def add(self, slug: str, at: dt.datetime) -> int | None:
        shard = self._pick(self.shards)
        value = self._add_to_shard(slug, shard)
        if value is None and not self._open_shard(slug, shard):
            return None  # unknown or not live: nothing was written
        self._add_to_bucket(slug, shard, at)
        if value is None:
            # The transaction does not return the new value: read every shard fresh.
            return sum(self._read_and_cache([slug])[slug])
        return self._total_after(slug, shard, value)

    def peek(self, slug: str) -> int | None:
        # Article first: it is one cheap read, and garbage slugs never cost a 20-key read.
        if not self._is_live(slug):
            return None
        return self.totals([slug])[slug]

    def totals(self, slugs: Sequence[str]) -> dict[str, int]:
        now = self._clock()
        fresh: dict[str, int] = {}
        stale: list[str] = []
        with self._lock:
            for slug in dict.fromkeys(slugs):
                entry = self._cache.get(slug)
                if entry is not None and now - entry[0] < self.read_ttl:
                    fresh[slug] = sum(entry[1])
                else:
                    stale.append(slug)
        for slug, values in self._read_and_cache(stale).items():
            fresh[slug] = sum(values)
        return {slug: fresh.get(slug, 0) for slug in slugs}

    # -- writes ------------------------------------------------------------------------------
    def _add_to_shard(self, slug: str, shard: int) -> int | None:
        """The shard's new value, or None when the shard item does not exist yet."""
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=_key(shard_pk(slug, shard), _SHARD_SK),
                UpdateExpression="ADD #v :one",
                # Exists: the article was live at its first view on this shard; not closed:
                # trending has not seen it unlisted since.
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(closed)",
                ExpressionAttributeNames={"#v": "views"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return None
            raise _translate(exc) from exc
        return int(answer["Attributes"]["views"]["N"])

    def _open_shard(self, slug: str, shard: int) -> bool:
        """Create the shard with this first view, in one transaction with the check that the
        article is live. False (nothing written) when it is not."""
        actions = [
            {
                "ConditionCheck": {
                    "TableName": self.articles_table,
                    "Key": _key(f"article#{slug}", "article"),
                    "ConditionExpression": "#st = :live",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {":live": {"S": "live"}},
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(shard_pk(slug, shard), _SHARD_SK),
                    # ADD, not Put: two first views racing on the same shard both count;
                    # a counter closed while the article was unlisted reopens with its total.
                    "UpdateExpression": "ADD #v :one REMOVE closed",
                    "ExpressionAttributeNames": {"#v": "views"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self.client.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise _translate(exc) from exc
                codes = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return False
                if "TransactionConflict" in codes and attempt + 1 < _CONFLICT_RETRIES:
                    time.sleep(0.01 * (attempt + 1))  # a publish is writing the article
                    continue
                raise CounterUnavailable(f"view not counted: {codes}") from exc
            return True
        return False  # pragma: no cover - the loop returns or raises

    def _add_to_bucket(self, slug: str, shard: int, at: dt.datetime) -> None:
        hour = hour_key(at)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_key(bucket_pk(hour[:8], bucket_partition(slug, shard)), bucket_sk(hour, slug)),
                UpdateExpression="ADD #v :one SET expires = :exp",
                ExpressionAttributeNames={"#v": "views"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":exp": {"N": str(bucket_expires(at))},
                },
            )
        except ClientError as exc:
            # The total already counted this view; answering 5xx would make a client retry
            # and count it twice. Hot lists can afford to miss one view.
            _log.warning("hour bucket not updated for %r: %s", slug, _code(exc))

    # -- reads -------------------------------------------------------------------------------
    def _total_after(self, slug: str, shard: int, value: int) -> int:
        now = self._clock()
        with self._lock:
            entry = self._cache.get(slug)
            if entry is not None and now - entry[0] < self.read_ttl:
                values = entry[1]
                values[shard] = max(values[shard], value)
                return sum(values)
        values = self._read_and_cache([slug])[slug]
        with self._lock:
            values[shard] = max(values[shard], value)
            return sum(values)

    def _read_and_cache(self, slugs: Sequence[str]) -> dict[str, list[int]]:
        if not slugs:
            return {}
        at = self._clock()
        found = self._read_shards(slugs)
        with self._lock:
            for slug, values in found.items():
                self._cache[slug] = (at, values)
            if len(self._cache) > 10_000:  # a warm container must not grow without bound
                self._cache.clear()
        return found

    def _read_shards(self, slugs: Sequence[str]) -> dict[str, list[int]]:
        """Every shard of every slug: BatchGetItem, 100 keys a request, requests in parallel.
        Eventually consistent (half the cost): a total may lag a concurrent view by < 1 s."""
        keys = [(slug, k) for slug in slugs for k in range(self.shards)]
        chunks = [keys[i : i + _BATCH_GET] for i in range(0, len(keys), _BATCH_GET)]
        values = {slug: [0] * self.shards for slug in slugs}
        for part in self._pool.map(self._batch_get, chunks):
            for (slug, shard), n in part:
                values[slug][shard] = n
        return values

    def _batch_get(self, chunk: Sequence[tuple[str, int]]) -> list[tuple[tuple[str, int], int]]:
        by_pk = {shard_pk(slug, k): (slug, k) for slug, k in chunk}
        request: dict[str, Any] = {
            self.table: {
                "Keys": [_key(pk, _SHARD_SK) for pk in by_pk],
                "ProjectionExpression": "pk, #v",
                "ExpressionAttributeNames": {"#v": "views"},
            }
        }
        out: list[tuple[tuple[str, int], int]] = []
        for attempt in range(8):
            try:
                answer = self.client.batch_get_item(RequestItems=request)
            except ClientError as exc:
                raise _translate(exc) from exc
            for item in answer["Responses"].get(self.table, []):
                out.append((by_pk[item["pk"]["S"]], int(item["views"]["N"])))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return out
            time.sleep(min(0.5, 0.02 * 2**attempt))  # throttled keys come back: back off
        raise CounterUnavailable("view totals throttled")

    def _is_live(self, slug: str) -> bool:
        try:
            answer = self.client.get_item(
                TableName=self.articles_table,
                Key=_key(f"article#{slug}", "article"),
                ProjectionExpression="#st",
                ExpressionAttributeNames={"#st": "status"},
            )
        except ClientError as exc:
            raise _translate(exc) from exc
        item = answer.get("Item")
        return item is not None and item.get("status", {}).get("S") == "live"


class DynamoViewBuckets:
    """``ViewBuckets``. An hour is read from the BUCKET_PARTITIONS partitions of its day (one
    Query each, sort-key range ``HH#`` .. ``HH$``, first pages fetched in parallel, later ones
    as the merge reaches them) and merged into one stream in slug order. A closed hour is
    rolled up once into chunks of at most ROLLUP_CHUNK rows (and ~300 KB), then read one chunk
    per request. Per trending run: 64 Queries per open hour + 167 ``head`` GetItems + one
    GetItem per rollup chunk (a warm container reads each head once). GetItem and Query only:
    the trending role needs no batch action."""

    def __init__(self, table: str, client: Any, *, workers: int = 8) -> None:
        self.table = table
        self.client = client
        self._pool = _Pool(workers)
        self._chunks: dict[str, int] = {}  # hour -> chunk count, from the heads read

    # -- the bucket partitions ---------------------------------------------------------------
    def hour_rows(self, hour: str) -> Iterator[tuple[str, int]]:
        streams = self._partitions(hour[:8], hour[8:], hour[8:])
        return heapq.merge(*(((slug, n) for _, slug, n in stream) for stream in streams))

    def hours_rows(self, hours: Sequence[str]) -> Iterator[tuple[str, Iterator[tuple[str, int]]]]:
        by_day: dict[str, list[str]] = {}
        for hour in sorted(hours):
            by_day.setdefault(hour[:8], []).append(hour[8:])
        for day, hhs in by_day.items():
            # One Query per partition for all the day's hours asked for (its rows come in
            # (hour, slug) order): a cold week is 8 x 64 Queries, not 167 x 64.
            streams = [_Peekable(stream) for stream in self._partitions(day, hhs[0], hhs[-1])]
            for hh in hhs:
                yield day + hh, _hour_of(streams, hh)

    def _partitions(self, day: str, first: str, last: str) -> list[Iterator[tuple[str, str, int]]]:
        """Every partition of ``day``, hours ``first``..``last``: ``(HH, slug, views)`` in
        order; first pages fetched in parallel, the next ones as the reader gets to them."""
        firsts = self._pool.map(
            lambda k: self._query(day, first, last, k, None), list(range(BUCKET_PARTITIONS))
        )
        return [self._stream(day, first, last, k, page) for k, page in enumerate(firsts)]

    def _stream(
        self, day: str, first: str, last: str, partition: int, page: tuple[list[Any], Any]
    ) -> Iterator[tuple[str, str, int]]:
        rows, after = page
        while True:
            yield from rows
            if after is None:
                return
            rows, after = self._query(day, first, last, partition, after)

    def _query(
        self, day: str, first: str, last: str, partition: int, after: Any
    ) -> tuple[list[tuple[str, str, int]], Any]:
        """One page of one partition, hours ``first``..``last``: ``(HH, slug, views)``."""
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            # "HH#slug": every slug of hour HH sorts between "HH#" and "HH$" ("$" follows "#").
            "ExpressionAttributeValues": {
                ":pk": {"S": bucket_pk(day, partition)},
                ":lo": {"S": f"{first}#"},
                ":hi": {"S": f"{last}$"},
            },
            "ProjectionExpression": "sk, #v",
            "ExpressionAttributeNames": {"#v": "views"},
            "Limit": _PAGE,
        }
        if after is not None:
            params["ExclusiveStartKey"] = after
        answer = self.client.query(**params)
        rows = []
        for item in answer["Items"]:
            hh, _, slug = item["sk"]["S"].partition("#")
            rows.append((hh, slug, int(item["views"]["N"])))
        return rows, answer.get("LastEvaluatedKey")

    # -- closed hours: rollups -----------------------------------------------------------------
    def rolled_up(self, hours: Sequence[str]) -> set[str]:
        # A complete rollup never changes (its hour is closed): a warm container remembers
        # the heads it has read and asks only for the others (the hour that just closed).
        wanted = set(hours)
        self._chunks = {h: n for h, n in self._chunks.items() if h in wanted}
        found = set(self._chunks)
        unknown = [h for h in hours if h not in self._chunks]
        for hour, chunks in self._pool.map(self._head, unknown):
            if chunks is not None:
                self._chunks[hour] = chunks
                found.add(hour)
        return found

    def _head(self, hour: str) -> tuple[str, int | None]:
        answer = self.client.get_item(TableName=self.table, Key=_key(rollup_pk(hour), _HEAD_SK))
        item = answer.get("Item")
        return hour, (int(item["chunks"]["N"]) if item else None)

    def rollup_rows(self, hour: str) -> Iterator[RollupRow]:
        chunks = self._chunks.get(hour)
        if chunks is None:
            chunks = self._head(hour)[1] or 0
        for number in range(chunks):
            answer = self.client.get_item(
                TableName=self.table, Key=_key(rollup_pk(hour), _chunk_sk(number))
            )
            for slug, views, category, date, listed in json.loads(answer["Item"]["rows"]["S"]):
                yield RollupRow(slug, int(views), str(category), int(date), bool(listed))

    def save_rollup(self, hour: str, rows: Iterable[RollupRow]) -> None:
        start = dt.datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=dt.UTC)
        expires = {"N": str(bucket_expires(start))}
        chunk: list[str] = []
        size = 0
        written = 0

        def put(sk: str, **attributes: Any) -> None:
            item = {**_key(rollup_pk(hour), sk), **attributes, "expires": expires}
            self.client.put_item(TableName=self.table, Item=item)

        for row in rows:
            text = json.dumps(
                [row.slug, row.views, row.category, row.date, row.listed], ensure_ascii=False
            )
            length = len(text.encode("utf-8")) + 1
            if chunk and (len(chunk) >= ROLLUP_CHUNK or size + length > _CHUNK_BYTES):
                put(_chunk_sk(written), rows={"S": "[" + ",".join(chunk) + "]"})
                written += 1
                chunk, size = [], 0
            chunk.append(text)
            size += length
        if chunk:
            put(_chunk_sk(written), rows={"S": "[" + ",".join(chunk) + "]"})
            written += 1
        # Last: until the head exists the rollup is incomplete, and is computed again.
        put(_HEAD_SK, chunks={"N": str(written)})
        self._chunks[hour] = written

    # -- counters ---------------------------------------------------------------------------
    def close_counters(self, slugs: Sequence[str]) -> None:
        jobs = [(slug, k) for slug in slugs for k in range(SHARDS)]
        self._pool.map(self._close, jobs)

    def _close(self, job: tuple[str, int]) -> None:
        slug, shard = job
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_key(shard_pk(slug, shard), _SHARD_SK),
                UpdateExpression="SET closed = :yes",
                ConditionExpression="attribute_exists(pk)",  # never create a counter
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise


class _Peekable:
    """An iterator whose rows can be taken while a condition holds, leaving the first row
    that fails it for the next taker."""

    _END = object()

    def __init__(self, rows: Iterator[Any]) -> None:
        self.rows = rows
        self.head: Any = self._END

    def take_while(self, keep: Callable[[Any], bool]) -> Iterator[Any]:
        while True:
            if self.head is self._END:
                self.head = next(self.rows, self._END)
                if self.head is self._END:
                    return
            if not keep(self.head):
                return
            row, self.head = self.head, self._END
            yield row


def _hour_of(streams: Sequence[_Peekable], hh: str) -> Iterator[tuple[str, int]]:
    """Hour ``hh`` of partitions read in (hour, slug) order, merged in slug order: rows of
    earlier hours (not asked for) are skipped, rows of later ones left for the next hour."""
    parts = [stream.take_while(lambda row: row[0] <= hh) for stream in streams]
    return heapq.merge(*(((slug, n) for row_hh, slug, n in part if row_hh == hh) for part in parts))


class DynamoHotLists:
    """``HotLists`` (one GetItem per list) and ``HotListWriter`` (BatchWriteItem)."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def get(self, window: str, category: str | None = None) -> list[HotItem]:
        try:
            answer = self.client.get_item(
                TableName=self.table, Key=_key(hot_pk(window, category), _HOT_SK)
            )
        except ClientError as exc:
            raise _translate(exc) from exc
        raw = answer.get("Item", {}).get("items", {}).get("L", [])
        return [_hot_from_item(entry["M"]) for entry in raw]

    def put_all(self, lists: Mapping[HotKey, Sequence[HotItem]], now: dt.datetime) -> None:
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        **_key(hot_pk(window, category), _HOT_SK),
                        "items": {"L": [{"M": _hot_to_item(item)} for item in items]},
                        "at": {"S": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
                        "expires": {"N": str(hot_expires(now))},
                    }
                }
            }
            for (window, category), items in sorted(
                lists.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
            )
            if window in WINDOWS
        ]
        for start in range(0, len(puts), _BATCH_WRITE):
            request: dict[str, Any] = {self.table: puts[start : start + _BATCH_WRITE]}
            for attempt in range(8):
                answer = self.client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise CounterUnavailable("hot lists not written: throttled")


def _hot_to_item(item: HotItem) -> dict[str, Any]:
    return {
        "slug": {"S": item.slug},
        "title": {"S": item.title},
        "url": {"S": item.url},
        "category": {"S": item.category},
        "views": {"N": str(item.views)},
    }


def _hot_from_item(raw: Mapping[str, Any]) -> HotItem:
    return HotItem(
        slug=str(raw.get("slug", {}).get("S", "")),
        title=str(raw.get("title", {}).get("S", "")),
        url=str(raw.get("url", {}).get("S", "")),
        category=str(raw.get("category", {}).get("S", "")),
        views=int(raw.get("views", {}).get("N", "0")),
    )


def _translate(exc: ClientError) -> Exception:
    """Throttling becomes the core's CounterUnavailable (the API answers 503); anything else
    is a real fault and propagates as it is."""
    if _code(exc) in _THROTTLED:
        return CounterUnavailable(_code(exc))
    return exc
