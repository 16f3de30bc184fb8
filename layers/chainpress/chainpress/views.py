"""View counting and hot lists: the pure core of the views and trending functions.

No AWS here (the adapters are ``chainpress.aws.views_store``); ``now`` is always a parameter.

Views table items (``ViewsTable``, keys ``pk``/``sk``, TTL attribute ``expires``):

- total shard: pk ``views#<slug>#<k>`` (0 <= k < SHARDS), sk ``views``; ``views`` (N, ADD only),
  ``closed`` (BOOL, set by trending when the article is no longer live).
- hour bucket: pk ``bucket#<YYYYMMDD>#<p>``, sk ``<HH>#<slug>``; ``views`` (N, ADD only),
  ``expires`` (N, epoch seconds: the hour + 8 days). ``p = bucket_partition(slug, k)``:
  the article's hash plus the view's shard ``k``, modulo BUCKET_PARTITIONS (64). So one
  article's views spread over SHARDS partition keys (10,000 views/s on it: 500 writes/s on
  each) and different articles land on different keys (20,000 views/s site-wide: ~310 writes/s
  per key), where a partition key shared by every article (``bucket#<day>#<k>``) took
  site-wide views/s / 20 (1,000 writes/s at 20,000 views/s: DynamoDB's per-partition limit).
  Partitioned by day, not hour: any hours of a day are one Query per partition.
- hour rollup: pk ``rollup#<YYYYMMDDHH>``; sk ``head`` (``chunks``: N, written last) and
  ``chunk#<NNNN>`` (``rows``: S, JSON ``[[slug, views, category, date, listed], ...]`` in slug
  order, ROLLUP_CHUNK rows each), ``expires`` (N). A closed hour summed once, with what the
  articles were when it was rolled up, so a trending run reads a few items per past hour.
- hot list: pk ``hot#<window>#<category or all>``, sk ``hot``; ``items`` (L of M {slug, title,
  url, category, views}), ``at`` (S, when folded), ``expires`` (N).

Why shards carry the shard number in the *partition* key: one partition takes 1,000 WCU/s and
items that share a partition key share a partition whatever their sort key, so 10,000 views/s on
one article need the writes spread over different partition keys (20 shards: 500 WCU/s each).
A view's total is the sum of its shards; hot lists fold the hourly buckets (recent views only).

**The fold** (``fold_hot``) streams: every source (one rollup per closed hour, the bucket
partitions of the open hours) is read page by page in slug order and merged, so each article's
views of the week arrive together, are summed, and offered to a bounded top list per window and
category; nothing else is kept. Memory is flat in the number of distinct articles viewed (it
grows with the number of lists, not of articles). Article records are read for the winners, and
for articles viewed in the open hours (in pages of FOLD_PAGE), whose counters must be closed if
they are no longer live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import heapq
import itertools
import random
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol
from urllib.parse import unquote

from chainpress.model import Article
from chainpress.ports import HotItem, HotLists

__all__ = [
    "BUCKET_PARTITIONS",
    "HOT_SIZE",
    "MAX_SLUGS",
    "SHARDS",
    "WINDOWS",
    "CounterUnavailable",
    "FoldResult",
    "HotListWriter",
    "InMemoryViews",
    "InvalidInput",
    "RollupRow",
    "UnknownArticle",
    "ViewBuckets",
    "ViewCount",
    "ViewCounter",
    "bucket_expires",
    "bucket_partition",
    "count_view",
    "fold_hot",
    "fold_hot_lists",
    "hour_closed",
    "hour_key",
    "is_bot",
    "parse_category",
    "parse_limit",
    "parse_slug",
    "parse_slugs",
    "parse_window",
    "read_hot",
    "read_views",
    "slug_from_path",
    "window_hours",
]

# Write shards per article (and per hour bucket): 10,000 views/s / 20 = 500 writes/s per
# partition key, half of DynamoDB's 1,000 WCU/s per partition (headroom for uneven random picks
# and for other keys that hash to the same partition).
SHARDS = 20
# Partition keys of a day's hour buckets: an article's views go to SHARDS consecutive ones
# (from its hash), so no key carries more than one viral article's 1/SHARDS share plus
# 1/BUCKET_PARTITIONS of the rest (bench/bench_views.py, capacity model).
BUCKET_PARTITIONS = 64
# Articles whose records are read in one request while folding (BatchGetItem: 100 keys).
FOLD_PAGE = 100

# Hot windows and the hours they cover (the current, partial hour included).
WINDOWS: dict[str, int] = {"24h": 24, "7d": 7 * 24}
HOT_SIZE = 50  # items kept per hot list (GET /api/hot limit is at most this)
DEFAULT_HOT_LIMIT = 10
MAX_SLUGS = 100  # GET /api/views?slugs=... (views.js asks in batches of 100)

# Hour buckets outlive the longest window by a day, so a late trending run still sees 7 days.
BUCKET_TTL = dt.timedelta(days=8)
# An hour is folded into its rollup once no view of it can still be in flight (a views Lambda
# answers within its 10 s timeout; the margin is generous).
ROLLUP_MARGIN = dt.timedelta(minutes=2)
# Hot-list items expire if no trending run refreshes them (e.g. a category dropped from
# site.yaml), so abandoned lists disappear instead of going stale forever.
HOT_TTL = dt.timedelta(days=8)

MAX_SLUG_LENGTH = 200
# A superset of what publishing produces (slugify with Unicode kept: letters, digits, "-"),
# and nothing that could change a key's meaning: no "/", "#", "%", ",", spaces or controls.
_SLUG = re.compile(r"[^\W][\w.~-]*")
_CATEGORY = re.compile(r"[^\W][\w-]*")
MAX_CATEGORY_LENGTH = 64


class InvalidInput(ValueError):
    """Malformed input from a client (the API answers 400 with this message)."""


class UnknownArticle(LookupError):
    """No live article has this slug (the API answers 404; nothing was written)."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"no article {slug!r}")
        self.slug = slug


class CounterUnavailable(RuntimeError):
    """The store throttled us after its retries (the API answers 503 with Retry-After)."""


# ------------------------------------------------------------------------------------ input


def slug_from_path(raw: str) -> str:
    """The slug of ``/api/views/<raw>``: percent-decoded exactly once, then validated.

    Decoding once also reads an already-decoded path correctly, because a valid slug never
    contains ``%``."""
    try:
        decoded = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidInput("slug is not valid UTF-8 once percent-decoded") from exc
    return parse_slug(decoded)


def parse_slug(value: str) -> str:
    if not value or len(value) > MAX_SLUG_LENGTH or not _SLUG.fullmatch(value):
        raise InvalidInput(
            f"malformed slug (letters, digits, '-', '_', '.', '~'; at most {MAX_SLUG_LENGTH})"
        )
    return value


def parse_slugs(value: str | None) -> list[str]:
    """``a,b,c`` (query values arrive decoded) -> distinct slugs in order, 1 to MAX_SLUGS."""
    if not value:
        raise InvalidInput("slugs is required: slugs=a,b,c")
    parts = value.split(",")
    if len(parts) > MAX_SLUGS:
        raise InvalidInput(f"at most {MAX_SLUGS} slugs per request")
    return list(dict.fromkeys(parse_slug(p.strip()) for p in parts))


def parse_window(value: str | None) -> str:
    if value is None or value == "":
        return "24h"
    if value not in WINDOWS:
        raise InvalidInput(f"window must be one of {', '.join(WINDOWS)}")
    return value


def parse_category(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > MAX_CATEGORY_LENGTH or not _CATEGORY.fullmatch(value):
        raise InvalidInput("malformed category key")
    return value


def parse_limit(value: int | str | None) -> int:
    if value is None or value == "":
        return DEFAULT_HOT_LIMIT
    try:
        number = int(value)
    except ValueError as exc:
        raise InvalidInput("limit must be a whole number") from exc
    if not 1 <= number <= HOT_SIZE:
        raise InvalidInput(f"limit must be from 1 to {HOT_SIZE}")
    return number


# ------------------------------------------------------------------------------------- bots

# Crawlers come from the maintained list of the crawler-user-agents project (~1,500 patterns,
# pinned, updated by bumping the package), plus what that list leaves out: fediverse link
# previews, HTTP libraries and API tools, headless browsers, empty or bare agents, and the generic
# words of crawlers the list has not met yet ("...Bot/1.0", "crawler", "spider"). Command-line
# tools a person types (curl, wget, HTTPie) are readers: `curl -X POST` by hand is how an operator
# checks the counter (the list calls them crawlers; this is the one deliberate difference).
_NOT_IN_THE_LIST = re.compile(
    r"(?<!cu)bot\b|bot/|crawl|spider|"  # "Cubot" is a phone maker
    r"pleroma|akkoma|misskey|friendica|libcurl|postmanruntime|insomnia|"
    r"python-|aiohttp|httpx|go-http-client|java/|okhttp|node-fetch|axios|undici|"
    r"headless|phantomjs|puppeteer|playwright|selenium|^mozilla/5\.0$|^-$",
    re.IGNORECASE,
)
_PERSON_TOOLS = re.compile(r"(?:curl|wget|httpie)/", re.IGNORECASE)


@functools.cache
def _crawler_list() -> re.Pattern[str]:
    # Imported and compiled on the first question (~25 ms), not at cold start.
    import crawleruseragents

    patterns = (entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA)
    return re.compile("|".join(patterns))


@functools.lru_cache(maxsize=4096)  # readers' browsers send a few distinct User-Agents
def _is_bot_agent(agent: str) -> bool:
    if _PERSON_TOOLS.match(agent):
        return False
    return bool(_NOT_IN_THE_LIST.search(agent) or _crawler_list().search(agent))


def is_bot(user_agent: str | None) -> bool:
    """True for crawlers, scripts and previews; a missing User-Agent is a script, not a reader."""
    agent = (user_agent or "").strip()
    return not agent or _is_bot_agent(agent[:512])


# ------------------------------------------------------------------------------------- time


def hour_key(at: dt.datetime) -> str:
    """Bucket key of the UTC hour containing ``at``: ``YYYYMMDDHH`` (sorts as time)."""
    return at.astimezone(dt.UTC).strftime("%Y%m%d%H")


def _hour_start(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def window_hours(window: str, now: dt.datetime) -> list[str]:
    """The hour keys of a window, newest (the current, partial hour) first."""
    start = _hour_start(now)
    return [hour_key(start - dt.timedelta(hours=h)) for h in range(WINDOWS[window])]


def bucket_expires(at: dt.datetime) -> int:
    """TTL (epoch seconds) of the bucket of ``at``'s hour."""
    return int((_hour_start(at) + BUCKET_TTL).timestamp())


def hour_closed(hour: str, now: dt.datetime) -> bool:
    """True once every view of ``hour`` has landed: its rollup can be computed for good."""
    start = dt.datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=dt.UTC)
    return start + dt.timedelta(hours=1) + ROLLUP_MARGIN <= now


def hot_expires(now: dt.datetime) -> int:
    return int((now + HOT_TTL).timestamp())


def bucket_partition(slug: str, shard: int) -> int:
    """The hour-bucket partition of a view of ``slug`` counted on ``shard`` (stable across
    processes: CRC-32 of the UTF-8 slug, not Python's salted ``hash``)."""
    return (zlib.crc32(slug.encode("utf-8")) + shard) % BUCKET_PARTITIONS


# ------------------------------------------------------------------------------------ ports


class ViewCounter(Protocol):
    def add(self, slug: str, at: dt.datetime) -> int | None:
        """Count one view of ``slug`` at ``at`` atomically; its new total, or None (and nothing
        written) when no live article has this slug."""
        ...

    def peek(self, slug: str) -> int | None:
        """The current total without counting; None when no article has this slug."""
        ...

    def totals(self, slugs: Sequence[str]) -> dict[str, int]:
        """Current totals (0 for slugs never counted, unknown ones included)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class RollupRow:
    """One article's views in one closed hour, with what its record said at roll-up time."""

    slug: str
    views: int
    category: str = ""
    date: int = 0  # the article's date, epoch seconds (ranks ties: newer first)
    listed: bool = False


class ViewBuckets(Protocol):
    """Hour buckets and their rollups, read as streams in slug order (page by page: a reader
    never holds more than a page of each)."""

    def hour_rows(self, hour: str) -> Iterator[tuple[str, int]]:
        """``(slug, views)`` of one hour from every bucket partition, in slug order; a slug
        counted in several partitions comes once per partition."""
        ...

    def hours_rows(self, hours: Sequence[str]) -> Iterator[tuple[str, Iterator[tuple[str, int]]]]:
        """``(hour, rows)`` for each of ``hours`` in ascending order, rows as ``hour_rows``
        gives them; each hour's rows must be read before the next hour is asked for (a day's
        partitions are read once for all its hours: the cold fold of a week)."""
        ...

    def rolled_up(self, hours: Sequence[str]) -> set[str]:
        """Which of these closed hours have a complete rollup."""
        ...

    def rollup_rows(self, hour: str) -> Iterator[RollupRow]:
        """A closed hour's rollup, in slug order (``rolled_up`` said it is there)."""
        ...

    def save_rollup(self, hour: str, rows: Iterable[RollupRow]) -> None:
        """Store a closed hour's rollup from rows in slug order, consumed page by page; an
        empty one too ("no views that hour"). Complete only once every row is stored."""
        ...

    def close_counters(self, slugs: Sequence[str]) -> None:
        """Mark the counters of articles that are no longer live as closed: their next view
        goes through the "is it live?" check again (and is refused, or reopens the counter)."""
        ...


HotKey = tuple[str, str | None]  # (window, category or None for the overall list)


class HotListWriter(Protocol):
    def put_all(self, lists: Mapping[HotKey, Sequence[HotItem]], now: dt.datetime) -> None: ...


# -------------------------------------------------------------------------------- use cases


@dataclasses.dataclass(frozen=True, slots=True)
class ViewCount:
    slug: str
    views: int
    counted: bool  # False: a bot, answered with the current total


def count_view(
    slug: str, user_agent: str | None, now: dt.datetime, counter: ViewCounter
) -> ViewCount:
    """POST /api/views/<slug>: count a reader's view; a bot only reads the total.

    Raises UnknownArticle (nothing written) when no article has this slug."""
    slug = parse_slug(slug)
    if is_bot(user_agent):
        total = counter.peek(slug)
        counted = False
    else:
        total = counter.add(slug, now)
        counted = True
    if total is None:
        raise UnknownArticle(slug)
    return ViewCount(slug=slug, views=total, counted=counted)


def read_views(slugs: str | Sequence[str] | None, counter: ViewCounter) -> dict[str, int]:
    """GET /api/views?slugs=a,b,c: totals of up to MAX_SLUGS slugs in one call."""
    if isinstance(slugs, str) or slugs is None:
        wanted = parse_slugs(slugs)
    else:
        if len(slugs) > MAX_SLUGS:
            raise InvalidInput(f"at most {MAX_SLUGS} slugs per request")
        wanted = list(dict.fromkeys(parse_slug(s) for s in slugs))
    found = counter.totals(wanted)
    return {slug: int(found.get(slug, 0)) for slug in wanted}


def read_hot(
    window: str | None, category: str | None, limit: int | str | None, hot: HotLists
) -> tuple[str, str | None, list[HotItem]]:
    """GET /api/hot: one read of the precomputed list for (window, category)."""
    window = parse_window(window)
    category = parse_category(category)
    limit = parse_limit(limit)
    return window, category, hot.get(window, category)[:limit]


class _Articles(Protocol):
    def get_articles(self, slugs: Sequence[str]) -> Mapping[str, Article]: ...


@functools.total_ordering
class _Descending:
    """A slug that compares the other way round: in a ranking where more views win, then the
    newer article, then the *smaller* slug."""

    __slots__ = ("slug",)

    def __init__(self, slug: str) -> None:
        self.slug = slug

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.slug == other.slug

    def __lt__(self, other: _Descending) -> bool:
        return self.slug > other.slug

    def __hash__(self) -> int:
        return hash(self.slug)


class _Top:
    """The best ``capacity`` (views, date, slug) offered so far; the worst kept on top."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.heap: list[tuple[int, int, _Descending]] = []

    def offer(self, views: int, date: int, slug: str) -> None:
        entry = (views, date, _Descending(slug))
        if len(self.heap) < self.capacity:
            heapq.heappush(self.heap, entry)
        elif entry > self.heap[0]:
            heapq.heapreplace(self.heap, entry)


@dataclasses.dataclass(slots=True)
class FoldResult:
    lists: dict[HotKey, list[HotItem]]
    unlisted: list[str]  # viewed in the open hours, no longer live: close their counters
    articles_seen: int = 0  # distinct articles with views in the longest window
    records_read: int = 0  # article records read (winners, and open-hour articles)
    max_held: int = 0  # the most per-article entries held at once (buffers and top lists)


_Row = tuple[str, str, int, "RollupRow | None"]  # slug, hour, views, rollup row (closed hours)


def roll_up(rows: Iterable[tuple[str, int]], articles: _Articles) -> Iterator[RollupRow]:
    """An hour's ``(slug, views)`` rows (slug order, repeated per partition) summed per
    article, with its category, date and status read in pages of FOLD_PAGE."""
    page: list[tuple[str, int]] = []

    def resolve() -> Iterator[RollupRow]:
        found = articles.get_articles([slug for slug, _ in page])
        for slug, views in page:
            article = found.get(slug)
            if article is None:
                yield RollupRow(slug, views)
            else:
                yield RollupRow(
                    slug, views, article.category, _epoch(article.date), article.is_listed
                )
        page.clear()

    for slug, group in itertools.groupby(rows, key=lambda row: row[0]):
        page.append((slug, sum(views for _, views in group)))
        if len(page) >= FOLD_PAGE:
            yield from resolve()
    if page:
        yield from resolve()


def fold_hot(
    buckets: ViewBuckets,
    articles: _Articles,
    now: dt.datetime,
    *,
    categories: Iterable[str] = (),
    size: int = HOT_SIZE,
    close: Callable[[Sequence[str]], None] | None = None,
) -> FoldResult:
    """Rank live articles by their views in each window (recent views, never all-time), overall
    and per category, streaming (see the module docstring). Closed hours without a rollup are
    rolled up first (and stored). ``close`` receives, page by page, the articles viewed in the
    open hours that are no longer live."""
    hours = window_hours(max(WINDOWS, key=WINDOWS.__getitem__), now)  # newest first
    closed = [h for h in hours if hour_closed(h, now)]
    have = buckets.rolled_up(closed)
    for hour, rows in buckets.hours_rows(sorted(set(closed) - have)):
        buckets.save_rollup(hour, roll_up(rows, articles))

    def stream(hour: str) -> Iterator[_Row]:
        if hour_closed(hour, now):
            return ((r.slug, hour, r.views, r) for r in buckets.rollup_rows(hour))
        return ((slug, hour, views, None) for slug, views in buckets.hour_rows(hour))

    merged = heapq.merge(*(stream(h) for h in hours), key=lambda row: row[0])
    return _fold(merged, articles, now, categories=categories, size=size, close=close)


def _fold(
    rows: Iterable[_Row],
    articles: _Articles,
    now: dt.datetime,
    *,
    categories: Iterable[str],
    size: int,
    close: Callable[[Sequence[str]], None] | None,
) -> FoldResult:
    in_window = {w: set(window_hours(w, now)) for w in WINDOWS}
    # Twice the list size: winners whose record says otherwise at the end (removed, moved to
    # another category since their hour was rolled up) leave room for the next best.
    tops: dict[HotKey, _Top] = {}
    result = FoldResult(lists={}, unlisted=[])
    pending: list[tuple[str, dict[str, int]]] = []  # open-hour articles awaiting their record

    def offer(slug: str, sums: dict[str, int], category: str, date: int) -> None:
        for window, views in sums.items():
            if views <= 0:
                continue
            keys: list[HotKey] = (
                [(window, None), (window, category)] if category else [(window, None)]
            )
            for key in keys:
                top = tops.get(key)
                if top is None:
                    top = tops[key] = _Top(2 * size)
                top.offer(views, date, slug)

    def resolve() -> None:
        found = articles.get_articles([slug for slug, _ in pending])
        result.records_read += len(pending)
        gone = []
        for slug, sums in pending:
            article = found.get(slug)
            if article is not None and article.is_listed:
                offer(slug, sums, article.category, _epoch(article.date))
            else:
                gone.append(slug)
        if gone:
            result.unlisted += gone
            if close is not None:
                close(gone)
        pending.clear()

    for slug, group in itertools.groupby(rows, key=lambda row: row[0]):
        sums = dict.fromkeys(WINDOWS, 0)
        newest: RollupRow | None = None
        live_hours = False
        for _, hour, views, rolled in group:
            for window, hours in in_window.items():
                if hour in hours:
                    sums[window] += views
            if rolled is None:
                live_hours = True
            elif newest is None:
                newest = rolled  # sources come newest hour first
        result.articles_seen += 1
        if live_hours:
            pending.append((slug, sums))
        elif newest is not None and newest.listed:
            offer(slug, sums, newest.category, newest.date)
        held = len(pending) + sum(len(t.heap) for t in tops.values())
        result.max_held = max(result.max_held, held)
        if len(pending) >= FOLD_PAGE:
            resolve()
    if pending:
        resolve()
    result.lists = _winners(tops, articles, result, categories=categories, size=size)
    return result


def _winners(
    tops: Mapping[HotKey, _Top],
    articles: _Articles,
    result: FoldResult,
    *,
    categories: Iterable[str],
    size: int,
) -> dict[HotKey, list[HotItem]]:
    """The lists, from the records as they are now (titles, URLs, categories, status)."""
    slugs = sorted({e[2].slug for top in tops.values() for e in top.heap})
    found: dict[str, Article] = {}
    for start in range(0, len(slugs), FOLD_PAGE):
        found.update(articles.get_articles(slugs[start : start + FOLD_PAGE]))
    result.records_read += len(slugs)
    lists: dict[HotKey, list[HotItem]] = {}
    for window in WINDOWS:
        lists[(window, None)] = []
        for key in categories:
            lists[(window, key)] = []  # written even when empty: no stale list lingers
    for (window, category), top in tops.items():
        ranked = []
        for views, _, entry in top.heap:
            article = found.get(entry.slug)
            if article is None or not article.is_listed:
                continue
            if category is not None and article.category != category:
                continue
            ranked.append((views, article))
        ranked.sort(key=lambda pair: (-pair[0], -pair[1].date.timestamp(), pair[1].slug))
        lists[(window, category)] = [_hot_item(a, views) for views, a in ranked[:size]]
    return lists


def _hot_item(article: Article, views: int) -> HotItem:
    return HotItem(
        slug=article.slug,
        title=article.title,
        url=article.url,
        category=article.category,
        views=views,
    )


def _epoch(when: dt.datetime) -> int:
    return int(when.timestamp())


def fold_hot_lists(
    bucket_counts: Mapping[str, Mapping[str, int]],
    articles: Mapping[str, Article],
    now: dt.datetime,
    *,
    categories: Iterable[str] = (),
    size: int = HOT_SIZE,
) -> dict[HotKey, list[HotItem]]:
    """``fold_hot`` over counts already in memory (``{hour: {slug: views}}``, every hour
    treated as open): the same ranking, for callers that have the counts at hand. Ties: newer
    article first, then slug (stable output); uncategorised articles only make the overall
    lists; ``categories`` get a list even when empty."""

    class _Lookup:
        def get_articles(self, slugs: Sequence[str]) -> Mapping[str, Article]:
            return {s: articles[s] for s in slugs if s in articles}

    hours = sorted(bucket_counts, reverse=True)
    streams = [
        [(slug, hour, int(views), None) for slug, views in sorted(bucket_counts[hour].items())]
        for hour in hours
    ]
    merged = heapq.merge(*streams, key=lambda row: row[0])
    return _fold(merged, _Lookup(), now, categories=categories, size=size, close=None).lists


# ------------------------------------------------------------------------------- in memory


class _LiveArticles(Protocol):
    def get_article(self, slug: str) -> Article | None: ...


class InMemoryViews:
    """In-memory ViewCounter + ViewBuckets + HotListWriter with the same semantics as the
    DynamoDB adapter (unknown slugs create nothing; buckets partitioned by article and shard,
    read back in slug order). For unit tests, the handler property test and the static build."""

    def __init__(
        self,
        articles: _LiveArticles,
        *,
        shards: int = SHARDS,
        rng: Callable[[int], int] | None = None,
    ) -> None:
        self.articles = articles
        self.shards = shards
        # Deterministic by default: in-memory runs (tests, static build) are reproducible.
        self._pick = rng or random.Random(0).randrange  # noqa: S311 - not security
        self.totals_by_shard: dict[tuple[str, int], int] = {}
        self.buckets: dict[tuple[str, int], dict[str, int]] = {}  # (hour, partition) -> counts
        self.hot: dict[HotKey, list[HotItem]] = {}
        self.rolled: dict[str, list[RollupRow]] = {}
        self.closed: set[str] = set()
        self.partition_reads = 0  # hour-partition reads (what a rollup saves)
        self._lock = threading.Lock()

    def _known(self, slug: str) -> bool:
        article = self.articles.get_article(slug)
        return article is not None and article.is_listed

    def add(self, slug: str, at: dt.datetime) -> int | None:
        if not self._known(slug):
            return None
        k = self._pick(self.shards)
        with self._lock:
            key = (slug, k)
            self.totals_by_shard[key] = self.totals_by_shard.get(key, 0) + 1
            bucket = self.buckets.setdefault((hour_key(at), bucket_partition(slug, k)), {})
            bucket[slug] = bucket.get(slug, 0) + 1
        return self.totals([slug])[slug]

    def peek(self, slug: str) -> int | None:
        if self.articles.get_article(slug) is None:
            return None
        return self.totals([slug])[slug]

    def totals(self, slugs: Sequence[str]) -> dict[str, int]:
        with self._lock:
            return {
                s: sum(self.totals_by_shard.get((s, k), 0) for k in range(self.shards))
                for s in slugs
            }

    def hour_rows(self, hour: str) -> Iterator[tuple[str, int]]:
        with self._lock:
            self.partition_reads += BUCKET_PARTITIONS
            parts = [
                sorted(self.buckets.get((hour, k), {}).items()) for k in range(BUCKET_PARTITIONS)
            ]
        return heapq.merge(*parts)

    def hours_rows(self, hours: Sequence[str]) -> Iterator[tuple[str, Iterator[tuple[str, int]]]]:
        for hour in sorted(hours):
            yield hour, self.hour_rows(hour)

    def counts(self, hour: str) -> dict[str, int]:
        """Views per article in one hour (tests)."""
        out: dict[str, int] = {}
        for slug, views in self.hour_rows(hour):
            out[slug] = out.get(slug, 0) + views
        return out

    def rolled_up(self, hours: Sequence[str]) -> set[str]:
        return {h for h in hours if h in self.rolled}

    def rollup_rows(self, hour: str) -> Iterator[RollupRow]:
        return iter(self.rolled[hour])

    def save_rollup(self, hour: str, rows: Iterable[RollupRow]) -> None:
        self.rolled[hour] = list(rows)

    def close_counters(self, slugs: Sequence[str]) -> None:
        self.closed.update(slugs)  # in memory, add() checks the article on every view anyway

    def put_all(self, lists: Mapping[HotKey, Sequence[HotItem]], now: dt.datetime) -> None:
        self.hot.update({key: list(items) for key, items in lists.items()})

    def get(self, window: str, category: str | None = None) -> list[HotItem]:
        """HotLists port over what ``put_all`` stored."""
        return list(self.hot.get((window, category), []))
