"""View counting and hot lists: the pure core of the views and trending functions.

No AWS here (the adapters are ``chainpress.aws.views_store``); ``now`` is always a parameter.

Views table items (``ViewsTable``, keys ``pk``/``sk``, TTL attribute ``expires``):

- total shard: pk ``views#<slug>#<k>`` (0 <= k < SHARDS), sk ``views``; ``views`` (N, ADD only),
  ``closed`` (BOOL, set by trending when the article is no longer live).
- hour bucket: pk ``bucket#<YYYYMMDD>#<k>``, sk ``<HH>#<slug>``; ``views`` (N, ADD only),
  ``expires`` (N, epoch seconds: the hour + 8 days). Partitioned by day, not hour: any hours
  of a day are one Query per shard (a cold 7-day fold is 160 Queries, not 3,360); the write
  load per partition key is the same (site-wide views/s divided by SHARDS).
- hour rollup: pk ``rollup#<YYYYMMDDHH>``, sk ``hour``; ``counts`` (M slug -> N: the hour's
  shards summed once it is closed, so a trending run reads one item per past hour instead of
  SHARDS queries), ``expires`` (N).
- hot list: pk ``hot#<window>#<category or all>``, sk ``hot``; ``items`` (L of M {slug, title,
  url, category, views}), ``at`` (S, when folded), ``expires`` (N).

Why shards carry the shard number in the *partition* key: one partition takes 1,000 WCU/s and
items that share a partition key share a partition whatever their sort key, so 10,000 views/s on
one article need the writes spread over different partition keys (20 shards: 500 WCU/s each).
A view's total is the sum of its shards; hot lists fold the hourly buckets (recent views only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol
from urllib.parse import unquote

from chainpress.model import Article
from chainpress.ports import HotItem, HotLists

__all__ = [
    "HOT_SIZE",
    "MAX_SLUGS",
    "SHARDS",
    "WINDOWS",
    "CounterUnavailable",
    "HotListWriter",
    "InMemoryViews",
    "InvalidInput",
    "UnknownArticle",
    "ViewBuckets",
    "ViewCount",
    "ViewCounter",
    "bucket_expires",
    "count_view",
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
    "recent_counts",
    "slug_from_path",
    "window_hours",
]

# Write shards per article (and per hour bucket): 10,000 views/s / 20 = 500 writes/s per
# partition key, half of DynamoDB's 1,000 WCU/s per partition (headroom for uneven random picks
# and for other keys that hash to the same partition).
SHARDS = 20

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


class ViewBuckets(Protocol):
    def hours(self, hours: Sequence[str]) -> dict[str, dict[str, int]]:
        """Views per slug in each hour bucket, summed over shards: ``{hour: {slug: views}}``
        (hours without views may be absent)."""
        ...

    def rollups(self, hours: Sequence[str]) -> dict[str, dict[str, int]]:
        """Stored rollups of closed hours (absent: not rolled up yet)."""
        ...

    def save_rollups(self, rollups: Mapping[str, Mapping[str, int]]) -> None:
        """Store the rollups of closed hours (an empty mapping too: "no views that hour")."""
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


def recent_counts(buckets: ViewBuckets, now: dt.datetime) -> dict[str, dict[str, int]]:
    """Views per slug per hour over the longest window. Closed hours come from their rollups,
    computed (and stored) on first need; open hours are read from the shards every time."""
    hours = window_hours(max(WINDOWS, key=WINDOWS.__getitem__), now)
    closed = [h for h in hours if hour_closed(h, now)]
    counts = buckets.rollups(closed)
    missing = [h for h in closed if h not in counts]
    open_hours = [h for h in hours if not hour_closed(h, now)]
    fresh = buckets.hours(missing + open_hours)
    new_rollups = {h: fresh.get(h, {}) for h in missing}
    if new_rollups:
        buckets.save_rollups(new_rollups)
    counts.update(new_rollups)
    counts.update({h: fresh[h] for h in open_hours if h in fresh})
    return {h: c for h, c in counts.items() if c}


def fold_hot_lists(
    bucket_counts: Mapping[str, Mapping[str, int]],
    articles: Mapping[str, Article],
    now: dt.datetime,
    *,
    categories: Iterable[str] = (),
    size: int = HOT_SIZE,
) -> dict[HotKey, list[HotItem]]:
    """Rank live articles by their views in each window (recent views, never all-time), overall
    and per category. ``categories`` get a list even when empty, so that a stale list is
    overwritten rather than left behind. Ties: newer article first, then slug (stable output)."""
    lists: dict[HotKey, list[HotItem]] = {}
    for window in WINDOWS:
        counts: dict[str, int] = {}
        for hour in window_hours(window, now):
            for slug, views in bucket_counts.get(hour, {}).items():
                counts[slug] = counts.get(slug, 0) + int(views)
        ranked = sorted(
            (
                (views, articles[slug])
                for slug, views in counts.items()
                if views > 0 and slug in articles and articles[slug].is_listed
            ),
            key=lambda pair: (-pair[0], -pair[1].date.timestamp(), pair[1].slug),
        )
        items = [_hot_item(article, views) for views, article in ranked]
        lists[(window, None)] = items[:size]
        for category in categories:
            lists[(window, category)] = []
        for item in items:
            same = lists.setdefault((window, item.category), [])
            if item.category and len(same) < size:
                same.append(item)
        lists.pop((window, ""), None)  # uncategorised articles only make the overall list
    return lists


def _hot_item(article: Article, views: int) -> HotItem:
    return HotItem(
        slug=article.slug,
        title=article.title,
        url=article.url,
        category=article.category,
        views=views,
    )


# ------------------------------------------------------------------------------- in memory


class _LiveArticles(Protocol):
    def get_article(self, slug: str) -> Article | None: ...


class InMemoryViews:
    """In-memory ViewCounter + ViewBuckets + HotListWriter with the same semantics as the
    DynamoDB adapter (unknown slugs create nothing; sharded buckets summed on read).
    For unit tests, the handler property test and the static build."""

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
        self.buckets: dict[tuple[str, int], dict[str, int]] = {}
        self.hot: dict[HotKey, list[HotItem]] = {}
        self.rolled: dict[str, dict[str, int]] = {}
        self.closed: set[str] = set()
        self.shard_reads = 0  # hour-shard reads (what a rollup saves)
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
            bucket = self.buckets.setdefault((hour_key(at), k), {})
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

    def hours(self, hours: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for hour in hours:
                merged: dict[str, int] = {}
                self.shard_reads += self.shards
                for k in range(self.shards):
                    for slug, n in self.buckets.get((hour, k), {}).items():
                        merged[slug] = merged.get(slug, 0) + n
                if merged:
                    out[hour] = merged
        return out

    def rollups(self, hours: Sequence[str]) -> dict[str, dict[str, int]]:
        return {h: dict(self.rolled[h]) for h in hours if h in self.rolled}

    def save_rollups(self, rollups: Mapping[str, Mapping[str, int]]) -> None:
        self.rolled.update({h: dict(c) for h, c in rollups.items()})

    def close_counters(self, slugs: Sequence[str]) -> None:
        self.closed.update(slugs)  # in memory, add() checks the article on every view anyway

    def put_all(self, lists: Mapping[HotKey, Sequence[HotItem]], now: dt.datetime) -> None:
        self.hot.update({key: list(items) for key, items in lists.items()})

    def get(self, window: str, category: str | None = None) -> list[HotItem]:
        """HotLists port over what ``put_all`` stored."""
        return list(self.hot.get((window, category), []))
