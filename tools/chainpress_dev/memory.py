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
import math
from collections.abc import Iterable, Iterator, Sequence

from chainpress.model import Article, member_ops
from chainpress.ports import (
    ArticleChange,
    ArticleConflict,
    CdnUnavailable,
    HotItem,
    ListingHead,
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
    """Accepted invalidation requests in ``requests``; ``refusals`` are raised first, one per
    request (e.g. ``CdnUnavailable("TooManyInvalidationsInProgress")``), to test retries."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.references: list[str] = []
        self.refusals: list[CdnUnavailable] = []
        self.calls: collections.Counter[str] = collections.Counter()

    def invalidate(self, paths: Iterable[str], reference: str = "") -> None:
        self.calls["CreateInvalidation"] += 1
        if self.refusals:
            raise self.refusals.pop(0)
        if reference and reference in self.references:
            return  # CloudFront answers a repeated request with the invalidation it has
        self.requests.append(list(paths))
        self.references.append(reference)

    @property
    def paths(self) -> set[str]:
        """Every path some accepted request invalidated."""
        return {path for request in self.requests for path in request}


def total_calls(*adapters: object) -> collections.Counter[str]:
    """The AWS requests recorded by several in-memory adapters, added up by API."""
    total: collections.Counter[str] = collections.Counter()
    for adapter in adapters:
        total.update(getattr(adapter, "calls", {}))
    return total
