"""In-memory adapters of every port: unit tests, the static build, benchmarks.

They keep the same semantics as the AWS adapters (conditional source sequencing, slug ownership,
listing membership via ``model.member_ops``) so the core can be tested without AWS.

Each adapter also counts, in ``calls``, the AWS requests its AWS twin would send for the same
port call (``aws/articles.py``, ``aws/s3.py``): one GetItem per ``get_article``, one
TransactWriteItems per ``commit``, a HEAD and a PUT per changed page, one Query per 1 MB page of
a listing read, and so on. Benchmarks read these counters to show what a publish or a rebuild
costs at a million articles without a million-item moto table.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import hashlib
import json
import math
import zlib
from collections.abc import Iterable, Iterator, Sequence

from chainpress.model import Article, member_ops
from chainpress.ports import (
    ArticleChange,
    ArticleConflict,
    HotItem,
    ListingHead,
    Run,
    RunStart,
    ScanPage,
    SiteSource,
    SlugTaken,
    SourceState,
    StaleEvent,
)

# DynamoDB returns at most 1 MB per Query/Scan page; an article record or listing member is
# about 1.1 KB, so a page holds about this many of them.
ITEMS_PER_PAGE = 900
# BatchGetItem reads at most 100 keys per request.
BATCH_GET_KEYS = 100


def query_pages(items: int) -> int:
    """Query/Scan requests needed to read ``items`` items (an empty answer is one request)."""
    return max(1, math.ceil(items / ITEMS_PER_PAGE))


@dataclasses.dataclass(slots=True)
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str


class InMemorySiteWriter:
    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}
        self.writes: list[str] = []  # every path actually written, in order
        self.deletes: list[str] = []
        self.calls: collections.Counter[str] = collections.Counter()  # S3 requests, by API

    def write(self, path: str, data: bytes, content_type: str, cache_control: str) -> bool:
        self.calls["HeadObject"] += 1  # S3SiteWriter compares the stored sha256 first
        old = self.objects.get(path)
        if old is not None and old.data == data and old.content_type == content_type:
            return False
        self.calls["PutObject"] += 1
        self.objects[path] = StoredObject(data, content_type, cache_control)
        self.writes.append(path)
        return True

    def delete(self, path: str) -> bool:
        self.calls["HeadObject"] += 1
        if self.objects.pop(path, None) is None:
            return False
        self.calls["DeleteObject"] += 1
        self.deletes.append(path)
        return True

    def read(self, path: str) -> bytes | None:
        self.calls["GetObject"] += 1
        stored = self.objects.get(path)
        return stored.data if stored else None

    def text(self, path: str) -> str:
        data = self.read(path)
        if data is None:
            raise KeyError(path)
        return data.decode("utf-8")

    def digest(self) -> str:
        """One hash over every path and its bytes: equal digests mean identical sites."""
        h = hashlib.sha256()
        for path in sorted(self.objects):
            h.update(path.encode() + b"\0" + self.objects[path].data + b"\0")
        return h.hexdigest()


class InMemoryContentSource:
    def __init__(self) -> None:
        self.versions: dict[str, dict[str, bytes]] = {}
        self.latest: dict[str, str] = {}
        self.reports: dict[str, dict[str, object]] = {}
        self._counter = 0
        self.calls: collections.Counter[str] = collections.Counter()

    def put(self, key: str, data: bytes) -> str:
        """Store a new version; returns its version id."""
        self._counter += 1
        version = f"v{self._counter}"
        self.versions.setdefault(key, {})[version] = data
        self.latest[key] = version
        return version

    def read(self, key: str, version_id: str | None = None, limit: int | None = None) -> bytes:
        self.calls["GetObject"] += 1
        versions = self.versions.get(key)
        if not versions:
            raise KeyError(key)
        data = versions[version_id or self.latest[key]]
        return data if limit is None else data[:limit]

    def write_status(self, key: str, report: dict[str, object]) -> None:
        self.calls["PutObject"] += 1
        self.reports[key] = report


class InMemoryArticleStore:
    def __init__(self) -> None:
        self.articles: dict[str, Article] = {}
        self.sources: dict[str, SourceState] = {}
        self.members: dict[str, dict[str, Article]] = {}  # listing -> sort key -> article
        self.sorted_keys: dict[str, list[str]] = {}
        self.heads: dict[str, ListingHead] = {}
        self.site = SiteSource()
        # DynamoDB requests DynamoArticleStore would send for the same port calls, by API.
        self.calls: collections.Counter[str] = collections.Counter()
        self._segment_index: tuple[tuple[int, ...], list[list[tuple[str, str]]]] | None = None

    def _items(self) -> int:
        """Items in the table: records, sources, listing members and heads."""
        members = sum(len(m) for m in self.members.values())
        return len(self.articles) + len(self.sources) + members + len(self.heads)

    def get_article(self, slug: str) -> Article | None:
        self.calls["GetItem"] += 1
        return self.articles.get(slug)

    def get_articles(self, slugs: Sequence[str]) -> dict[str, Article]:
        self.calls["BatchGetItem"] += math.ceil(len(set(slugs)) / BATCH_GET_KEYS)
        return {s: self.articles[s] for s in slugs if s in self.articles}

    def get_source(self, key: str) -> SourceState | None:
        self.calls["GetItem"] += 1
        return self.sources.get(key)

    def head(self, listing: str) -> ListingHead:
        self.calls["GetItem"] += 1
        return self.heads.get(listing, ListingHead())

    def newest(self, listing: str, limit: int, before: str | None = None) -> list[Article]:
        keys = self.sorted_keys.get(listing, [])
        end = len(keys) if before is None else bisect.bisect_left(keys, before)
        chosen = keys[max(0, end - limit) : end]
        self.calls["Query"] += query_pages(len(chosen))
        return [self.members[listing][k] for k in reversed(chosen)]

    def oldest(self, listing: str, limit: int, after: str | None = None) -> list[Article]:
        keys = self.sorted_keys.get(listing, [])
        start = 0 if after is None else bisect.bisect_right(keys, after)
        chosen = keys[start : start + limit]
        self.calls["Query"] += query_pages(len(chosen))
        return [self.members[listing][k] for k in chosen]

    def count_before(self, listing: str, sort_key: str) -> int:
        position = bisect.bisect_left(self.sorted_keys.get(listing, []), sort_key)
        self.calls["Query"] += query_pages(position)  # Select=COUNT still pages by 1 MB read
        return position

    def iter_listing(self, listing: str) -> Iterator[Article]:
        members = self.members.get(listing, {})
        keys = self.sorted_keys.get(listing, [])
        self.calls["Query"] += query_pages(len(keys))
        return iter([members[k] for k in keys])

    def listings(self) -> list[str]:
        self.calls["Scan"] += query_pages(self._items())  # a filtered Scan reads the table
        return sorted(self.heads)

    def scan_articles(self) -> Iterator[Article]:
        self.calls["Scan"] += query_pages(self._items())
        return iter(list(self.articles.values()))

    def get_site(self) -> SiteSource:
        self.calls["Query"] += 1
        return self.site

    # -- parallel scan segments ------------------------------------------------------------
    # The table's partition keys, as (kind, name): article#<slug>, source#<key>, list#<listing>
    # (one key, every member: an item collection), head#<listing>, site.
    def _partitions(self) -> Iterator[tuple[str, str]]:
        yield from (("article", slug) for slug in self.articles)
        yield from (("source", key) for key in self.sources)
        yield from (("list", listing) for listing, members in self.members.items() if members)
        yield from (("head", listing) for listing in self.heads)
        yield ("site", "")

    def _segments(self, total: int) -> list[list[tuple[str, str]]]:
        """Partition keys by segment (crc32 of the key, as DynamoDB hashes partition keys),
        built once per shape of the table: a fake's index, not a cost DynamoDB has."""
        shape = (total, len(self.articles), len(self.sources), len(self.members), len(self.heads))
        if self._segment_index is None or self._segment_index[0] != shape:
            buckets: list[list[tuple[str, str]]] = [[] for _ in range(total)]
            for kind, name in self._partitions():
                pk = f"{kind}#{name}" if name else kind
                buckets[zlib.crc32(pk.encode("utf-8")) % total].append((kind, name))
            for bucket in buckets:
                bucket.sort()
            self._segment_index = (shape, buckets)
        return self._segment_index[1]

    def _collection_size(self, kind: str, name: str) -> int:
        if kind == "list":
            return len(self.sorted_keys.get(name, []))
        return 1 + len(self.site.theme) if kind == "site" else 1

    def scan_segment(
        self, segment: int, total: int, cursor: str | None = None, limit: int | None = None
    ) -> ScanPage:
        self.calls["Scan"] += 1
        page_items = ITEMS_PER_PAGE if limit is None else min(limit, ITEMS_PER_PAGE)
        bucket = self._segments(total)[segment]
        index, offset = 0, 0
        if cursor is not None:
            kind, name, offset = json.loads(cursor)
            index = bisect.bisect_left(bucket, (kind, name))
        articles: list[Article] = []
        heads: dict[str, ListingHead] = {}
        read = 0
        while index < len(bucket) and read < page_items:
            kind, name = bucket[index]
            size = self._collection_size(kind, name)
            taken = min(size - offset, page_items - read)
            read += taken
            if kind == "article" and name in self.articles:
                articles.append(self.articles[name])
            elif kind == "head" and name in self.heads:
                heads[name] = self.heads[name]
            offset += taken
            if offset >= size:
                index, offset = index + 1, 0
        next_cursor = None
        if index < len(bucket):
            next_cursor = json.dumps([*bucket[index], offset])
        return ScanPage(articles=articles, heads=heads, items=read, cursor=next_cursor)

    def commit(self, change: ArticleChange) -> None:
        self.calls["TransactWriteItems"] += 1
        self._check_source(change.source)
        new, previous, retired = change.new, change.previous, change.retired
        for expected in (previous, retired):
            if expected is not None and self.articles.get(expected.slug) != expected:
                raise ArticleConflict("article changed while publishing; retry")
        if new is not None and previous is None and new.slug in self.articles:
            raise ArticleConflict("article appeared while publishing; retry")
        if (
            new is not None
            and previous is not None
            and previous.source_key != change.source.key
            and previous.status != "removed"
        ):
            raise SlugTaken(new.slug, previous.source_key)
        self.sources[change.source.key] = change.source
        if new is not None:
            self._apply(previous, new)
        if retired is not None:
            self._apply(retired, dataclasses.replace(retired, status="removed", related=()))

    def commit_site(
        self,
        source: SourceState,
        *,
        yaml_text: str | None = None,
        theme_name: str | None = None,
        theme_text: str | None = None,
    ) -> None:
        self.calls["TransactWriteItems"] += 1
        self._check_source(source)
        self.sources[source.key] = source
        theme = dict(self.site.theme)
        if theme_name is not None:
            if theme_text is None:
                theme.pop(theme_name, None)
            else:
                theme[theme_name] = theme_text
        self.site = SiteSource(
            yaml_text=self.site.yaml_text if yaml_text is None else yaml_text, theme=theme
        )

    def _check_source(self, source: SourceState) -> None:
        current = self.sources.get(source.key)
        if current is not None and current.seq > source.seq:
            raise StaleEvent(source.key)

    def _apply(self, previous: Article | None, new: Article) -> None:
        self.articles[new.slug] = new
        for listing, op, sort_key, delta in member_ops(previous, new):
            members = self.members.setdefault(listing, {})
            keys = self.sorted_keys.setdefault(listing, [])
            if op == "delete":
                members.pop(sort_key, None)
                index = bisect.bisect_left(keys, sort_key)
                if index < len(keys) and keys[index] == sort_key:
                    keys.pop(index)
            else:
                if sort_key not in members:
                    bisect.insort(keys, sort_key)
                members[sort_key] = new
            head = self.heads.get(listing, ListingHead())
            self.heads[listing] = ListingHead(head.count + delta, head.version + 1)


class InMemoryHotLists:
    def __init__(self, lists: dict[tuple[str, str | None], list[HotItem]] | None = None) -> None:
        self.lists = lists or {}
        self.calls: collections.Counter[str] = collections.Counter()

    def get(self, window: str, category: str | None = None) -> list[HotItem]:
        self.calls["GetItem"] += 1
        return list(self.lists.get((window, category), []))


class InMemoryCdn:
    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.calls: collections.Counter[str] = collections.Counter()

    def invalidate(self, paths: Iterable[str]) -> None:
        self.calls["CreateInvalidation"] += 1
        self.requests.append(list(paths))


class InMemoryRerenderRuns:
    """``RerenderRuns`` with the semantics of ``aws/runs.py`` (conditional writes, once-per-item
    markers), counting the DynamoDB requests it would send."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.finisher = ""
        self.spawned: dict[tuple[str, str], list[str]] = {}
        self.completed: set[tuple[str, str]] = set()
        self.calls: collections.Counter[str] = collections.Counter()

    def get(self) -> Run | None:
        self.calls["GetItem"] += 1
        return self.run

    def _new(self, run_id: str, trigger: str, now: str) -> Run:
        number = self.run.number + 1 if self.run is not None else 1
        self.finisher = ""
        self.run = Run(run_id, number, "running", 1, 0, (), False, trigger, now)
        return self.run

    def start(self, run_id: str, trigger: str, now: str, *, stale_before: str) -> RunStart:
        self.calls["UpdateItem"] += 1
        run = self.run
        if run is not None and run.run_id == run_id:
            self.calls["UpdateItem"] += 1
            return RunStart(run, started=run.state == "running")
        if run is None or run.state == "done" or run.failed or run.started_at < stale_before:
            return RunStart(self._new(run_id, trigger, now), started=True)
        self.calls["UpdateItem"] += 1
        self.run = dataclasses.replace(run, pending=True)
        return RunStart(self.run, started=False)

    def _current(self, run_id: str) -> Run | None:
        run = self.run
        return run if run is not None and run.run_id == run_id and run.state == "running" else None

    def check(self, run_id: str, item_id: str) -> str:
        self.calls["BatchGetItem"] += 1
        if self._current(run_id) is None:
            return "stale"
        return "done" if (run_id, item_id) in self.completed else "current"

    def reserve(self, run_id: str, item_id: str, children: Sequence[str]) -> list[str] | None:
        self.calls["TransactWriteItems"] += 1
        run = self._current(run_id)
        if run is None:
            return None
        if (run_id, item_id) in self.spawned:
            self.calls["GetItem"] += 1
            return list(self.spawned[(run_id, item_id)])
        self.spawned[(run_id, item_id)] = list(children)
        self.run = dataclasses.replace(run, total=run.total + len(children))
        return list(children)

    def complete(self, run_id: str, item_id: str) -> bool:
        self.calls["TransactWriteItems"] += 1
        run = self._current(run_id)
        if run is None:
            return False
        if (run_id, item_id) not in self.completed:
            self.completed.add((run_id, item_id))
            failed = tuple(f for f in run.failed if f != item_id)
            self.run = dataclasses.replace(run, done=run.done + 1, failed=failed)
        return True

    def claim_finish(self, run_id: str, item_id: str) -> bool:
        self.calls["GetItem"] += 1
        run = self._current(run_id)
        if run is None or run.done < run.total:
            return False
        self.calls["UpdateItem"] += 1
        if self.finisher not in ("", item_id):
            return False
        self.finisher = item_id
        return True

    def record_failure(self, run_id: str, item_id: str) -> None:
        self.calls["UpdateItem"] += 1
        run = self.run
        if run is not None and run.run_id == run_id and item_id not in run.failed:
            self.run = dataclasses.replace(run, failed=tuple(sorted({*run.failed, item_id})))

    def finish(self, run_id: str, next_id: str, now: str) -> Run | None:
        self.calls["UpdateItem"] += 1
        run = self._current(run_id)
        if run is None:
            self.calls["GetItem"] += 1
            current = self.run
            if current is not None and current.run_id == next_id and current.state == "running":
                return current
            return None
        if run.pending:
            return self._new(next_id, f"asked for during {run_id}", now)
        self.calls["UpdateItem"] += 1
        self.run = dataclasses.replace(run, state="done", finished_at=now, pending=False)
        return None


class InMemoryWorkQueue:
    """``WorkQueue`` as a FIFO list; ``calls`` counts SendMessageBatch requests."""

    def __init__(self) -> None:
        self.messages: collections.deque[str] = collections.deque()
        self.sent = 0
        self.calls: collections.Counter[str] = collections.Counter()

    def send(self, bodies: Sequence[str]) -> None:
        self.calls["SendMessageBatch"] += math.ceil(len(bodies) / 10)
        self.messages.extend(bodies)
        self.sent += len(bodies)


def total_calls(*adapters: object) -> collections.Counter[str]:
    """The AWS requests recorded by several in-memory adapters, added up by API."""
    total: collections.Counter[str] = collections.Counter()
    for adapter in adapters:
        total.update(getattr(adapter, "calls", {}))
    return total
