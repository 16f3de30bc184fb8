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
import datetime as dt
import hashlib
import json
import math
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence

from chainpress.aliases import claimed_keys
from chainpress.model import Article, has_pages, listings_of, pad_sequencer, tag_key
from chainpress.paging import (
    ARCHIVE,
    DEFAULT_PAGING,
    HOME,
    SENTINEL,
    SITEMAP,
    TAG_INDEX,
    CommitPlan,
    index_kind,
    month_collection,
    month_label,
    plan_commit,
    zone,
)
from chainpress.ports import (
    VERSION_SCAN,
    ArticleChange,
    ArticleConflict,
    CdnUnavailable,
    HotItem,
    IndexEntry,
    ListingHead,
    Paging,
    Run,
    RunStart,
    ScanPage,
    SiteSource,
    SlugTaken,
    SourceState,
    StaleEvent,
    VersionTimes,
)
from chainpress.responsive import ImageInfo
from chainpress.search import Posting

# DynamoDB returns at most 1 MB per Query/Scan page; an article record or listing member is
# about 1.1 KB, so a page holds about this many of them.
ITEMS_PER_PAGE = 900
# Heads, listing-index entries: about 200 bytes each.
SMALL_ITEMS_PER_PAGE = 5_000
# BatchGetItem reads at most 100 keys per request.
BATCH_GET_KEYS = 100
# The listing-index partitions (aws/articles.py): listings() queries each one.
INDEX_KINDS = ("category", "tag", "other")


def query_pages(items: int, per_page: int = ITEMS_PER_PAGE) -> int:
    """Query/Scan requests needed to read ``items`` items (an empty answer is one request)."""
    return max(1, math.ceil(items / per_page))


@dataclasses.dataclass(slots=True)
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str
    disposition: str = ""


class InMemorySiteWriter:
    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}
        self.writes: list[str] = []  # every path actually written, in order
        self.deletes: list[str] = []
        self.calls: collections.Counter[str] = collections.Counter()  # S3 requests, by API

    def write(
        self, path: str, data: bytes, content_type: str, cache_control: str, disposition: str = ""
    ) -> bool:
        self.calls["HeadObject"] += 1  # S3SiteWriter compares the stored sha256 first
        old = self.objects.get(path)
        if (
            old is not None
            and old.data == data
            and old.content_type == content_type
            and old.disposition == disposition
        ):
            return False
        self.calls["PutObject"] += 1
        self.objects[path] = StoredObject(data, content_type, cache_control, disposition)
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
        self.uploaded: dict[str, dict[str, dt.datetime | None]] = {}
        self.latest: dict[str, str] = {}
        self.reports: dict[str, dict[str, object]] = {}
        self._counter = 0
        self.calls: collections.Counter[str] = collections.Counter()

    def put(self, key: str, data: bytes, at: dt.datetime | None = None) -> str:
        """Store a new version (uploaded ``at``: its LastModified; None: not known, and
        ``version_times`` says nothing of the key); returns its version id."""
        self._counter += 1
        version = f"v{self._counter}"
        self.versions.setdefault(key, {})[version] = data
        self.uploaded.setdefault(key, {})[version] = at
        self.latest[key] = version
        return version

    def version_times(self, key: str, version_id: str) -> VersionTimes:
        self.calls["ListObjectVersions"] += 1
        times = self.uploaded.get(key, {})
        order = list(times)[-VERSION_SCAN:]  # oldest first; the one request sees the newest
        if version_id not in order or any(times[v] is None for v in order):
            return VersionTimes()
        first = times[order[0]] if len(times) <= VERSION_SCAN else None
        older = order.index(version_id) > 0 or len(times) > VERSION_SCAN
        return VersionTimes(first=first, applied=times[version_id], edited=older)

    def delete(self, key: str) -> None:
        """The key has no current object any more (its versions stay, as on a versioned bucket)."""
        self.latest.pop(key, None)

    def read(self, key: str, version_id: str | None = None, limit: int | None = None) -> bytes:
        self.calls["GetObject"] += 1
        versions = self.versions.get(key)
        if not versions:
            raise KeyError(key)
        data = versions[version_id or self.latest[key]]
        return data if limit is None else data[:limit]

    def read_current(self, key: str, limit: int | None = None) -> bytes | None:
        self.calls["GetObject"] += 1
        version = self.latest.get(key)
        if version is None:
            return None
        data = self.versions[key][version]
        return data if limit is None else data[:limit]

    def list_keys(self, prefix: str, *, limit: int, recursive: bool = True) -> list[str]:
        keys = sorted(
            k
            for k in self.latest
            if k.startswith(prefix) and (recursive or "/" not in k[len(prefix) :])
        )[:limit]
        self.calls["ListObjectsV2"] += max(1, math.ceil(len(keys) / 1000))
        return keys

    def write_status(self, key: str, report: dict[str, object]) -> None:
        self.calls["PutObject"] += 1
        self.reports[key] = report


class InMemoryArticleStore:
    def __init__(self) -> None:
        self.articles: dict[str, Article] = {}
        self.sources: dict[str, SourceState] = {}
        self.members: dict[str, dict[str, Article]] = {}  # listing -> sort key -> article
        self.sorted_keys: dict[str, list[str]] = {}
        # Heads of listings and of the other paged collections (SITEMAP, months, TAG_INDEX).
        self.head_of: dict[str, ListingHead] = {}
        # (collection, epoch) -> start keys of pages 2, 3, ... (page 1 starts at SENTINEL)
        self.bounds: dict[tuple[str, int], list[str]] = {}
        self.index: dict[str, dict[str, IndexEntry]] = {}  # kind -> entry key -> entry
        self.index_keys: dict[str, list[str]] = {}
        self.related_by: dict[str, list[str]] = {}  # target slug -> linking slugs, sorted
        self.relinks: dict[str, str] = {}
        self.images: dict[str, ImageInfo] = {}
        self.image_uses: dict[str, set[str]] = {}
        # alias key -> (sort key, slug) of each live article claiming it, sorted
        self.alias_claims: dict[str, list[tuple[str, str]]] = {}
        self.waiters: dict[str, set[str]] = {}  # category key -> source keys waiting for it
        self.site = SiteSource()
        # DynamoDB requests DynamoArticleStore would send for the same port calls, by API.
        self.calls: collections.Counter[str] = collections.Counter()
        self._segment_index: tuple[tuple[int, ...], list[list[tuple[str, str]]]] | None = None

    def _items(self) -> int:
        """Items in the table (what a Scan reads)."""
        members = sum(len(m) for m in self.members.values())
        bounds = 2 * sum(len(b) for b in self.bounds.values())
        entries = sum(len(e) for e in self.index.values())
        linking = sum(len(r) for r in self.related_by.values())
        linking += sum(len(c) for c in self.alias_claims.values())
        records = len(self.articles) + len(self.sources) + len(self.head_of)
        return records + members + bounds + entries + linking

    # -- responsive images (image#<key> and imageuse#<key> items) --------------------------
    def get_images(self, keys: Sequence[str]) -> dict[str, ImageInfo]:
        wanted = list(dict.fromkeys(keys))
        self.calls["BatchGetItem"] += math.ceil(len(wanted) / BATCH_GET_KEYS)
        return {k: self.images[k] for k in wanted if k in self.images}

    def put_image(self, info: ImageInfo) -> None:
        self.calls["PutItem"] += 1
        self.images[info.key] = info

    def delete_image(self, key: str) -> None:
        self.calls["DeleteItem"] += 1
        self.images.pop(key, None)

    def add_image_users(self, slug: str, keys: Sequence[str]) -> None:
        wanted = list(dict.fromkeys(keys))
        self.calls["BatchWriteItem"] += math.ceil(len(wanted) / 25)
        for key in wanted:
            self.image_uses.setdefault(key, set()).add(slug)

    def image_users(self, key: str, limit: int) -> list[str]:
        self.calls["Query"] += 1
        return sorted(self.image_uses.get(key, ()))[:limit]

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
        return self.head_of.get(listing, ListingHead())

    def heads(self, names: Collection[str]) -> dict[str, ListingHead]:
        wanted = set(names)
        self.calls["BatchGetItem"] += math.ceil(len(wanted) / BATCH_GET_KEYS)
        return {name: self.head_of.get(name, ListingHead()) for name in wanted}

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

    def between(self, listing: str, start: str, stop: str | None) -> list[Article]:
        keys = self.sorted_keys.get(listing, [])
        first = bisect.bisect_left(keys, start)
        last = len(keys) if stop is None else bisect.bisect_left(keys, stop)
        chosen = keys[first:last]
        self.calls["Query"] += query_pages(len(chosen))
        members = self.members[listing] if chosen else {}
        return [members[k] for k in chosen]

    def keys_after(self, members: str, key: str, below: str | None, limit: int) -> list[str]:
        self.calls["Query"] += 1
        if members == TAG_INDEX:
            keys = self.index_keys.get("tag", [])
        else:
            keys = self.sorted_keys.get(members, [])
        first = bisect.bisect_right(keys, key)
        chosen = keys[first : first + limit]
        return [k for k in chosen if below is None or k < below]

    def page_of(self, collection: str, epoch: int, key: str) -> int:
        self.calls["Query"] += 1
        return 1 + bisect.bisect_right(self.bounds.get((collection, epoch), []), key)

    def page_starts(self, collection: str, epoch: int, first: int, last: int) -> dict[int, str]:
        self.calls["Query"] += 1
        starts = self.bounds.get((collection, epoch), [])
        return {n: starts[n - 2] for n in range(max(first, 2), last + 1) if n - 2 < len(starts)}

    def months(self) -> list[tuple[str, ListingHead]]:
        found = sorted(
            (name.removeprefix(ARCHIVE), head)
            for name, head in self.head_of.items()
            if name.startswith(ARCHIVE)
        )
        self.calls["Query"] += query_pages(len(found), SMALL_ITEMS_PER_PAGE)
        return found

    def index_entries(self, kind: str, start: str, stop: str | None) -> list[IndexEntry]:
        keys = self.index_keys.get(kind, [])
        first = bisect.bisect_left(keys, start)
        last = len(keys) if stop is None else bisect.bisect_left(keys, stop)
        self.calls["Query"] += query_pages(last - first, SMALL_ITEMS_PER_PAGE)
        entries = self.index.get(kind, {})
        return [entries[k] for k in keys[first:last]]

    def linking(self, slug: str, after: str, limit: int) -> list[str]:
        self.calls["Query"] += 1
        found = self.related_by.get(slug, [])
        first = bisect.bisect_right(found, after)
        return found[first : first + limit]

    def waiting(self, category: str) -> list[str]:
        self.calls["Query"] += 1
        return sorted(self.waiters.get(category, ()))

    def alias_owner(self, key: str) -> str | None:
        self.calls["Query"] += 1
        claims = self.alias_claims.get(key)
        return claims[0][1] if claims else None

    def set_relink(self, slug: str, after: str) -> None:
        self.calls["UpdateItem"] += 1
        self.relinks[slug] = after

    def clear_relink(self, slug: str) -> None:
        self.calls["DeleteItem"] += 1
        self.relinks.pop(slug, None)

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
        names: list[str] = []
        for kind in INDEX_KINDS:  # one Query per listing-index partition
            entries = self.index.get(kind, {})
            self.calls["Query"] += query_pages(len(entries), SMALL_ITEMS_PER_PAGE)
            names += (entry.listing for entry in entries.values())
        return sorted(names)

    def scan_articles(self) -> Iterator[Article]:
        self.calls["Scan"] += query_pages(self._items())
        return iter(list(self.articles.values()))

    def get_site(self) -> SiteSource:
        self.calls["Query"] += 1
        return self.site

    # -- parallel scan segments ------------------------------------------------------------
    # The table's partition keys, as (kind, name), as DynamoArticleStore lays them out:
    # article#<slug>, source#<key>, list#<listing> (one key, every member: an item collection),
    # head#<listing or collection>, archive (the month heads), pages#<collection>#<epoch>
    # (page boundaries, two items each), index#<kind>, relatedby#<slug>, site.
    def _partitions(self) -> Iterator[tuple[str, str]]:
        yield from (("article", slug) for slug in self.articles)
        yield from (("source", key) for key in self.sources)
        yield from (("list", listing) for listing, members in self.members.items() if members)
        yield from (("head", name) for name in self.head_of if not name.startswith(ARCHIVE))
        if any(name.startswith(ARCHIVE) for name in self.head_of):
            yield ("archive", "")
        yield from (("pages", f"{c}#{e}") for (c, e), starts in self.bounds.items() if starts)
        yield from (("index", kind) for kind, entries in self.index.items() if entries)
        yield from (("relatedby", slug) for slug, linking in self.related_by.items() if linking)
        yield ("site", "")

    def _segments(self, total: int) -> list[list[tuple[str, str]]]:
        """Partition keys by segment (crc32 of the key, as DynamoDB hashes partition keys),
        built once per shape of the table: a fake's index, not a cost DynamoDB has."""
        shape = (
            total,
            len(self.articles),
            len(self.sources),
            len(self.members),
            len(self.head_of),
            len(self.bounds),
            len(self.related_by),
        )
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
        if kind == "archive":
            return sum(1 for head in self.head_of if head.startswith(ARCHIVE))
        if kind == "pages":
            collection, epoch = name.rsplit("#", 1)
            return 2 * len(self.bounds.get((collection, int(epoch)), []))
        if kind == "index":
            return len(self.index.get(name, {}))
        if kind == "relatedby":
            return len(self.related_by.get(name, []))
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
            elif kind == "head" and name in self.head_of:
                heads[name] = self.head_of[name]
            offset += taken
            if offset >= size:
                index, offset = index + 1, 0
        next_cursor = None
        if index < len(bucket):
            next_cursor = json.dumps([*bucket[index], offset])
        return ScanPage(articles=articles, heads=heads, items=read, cursor=next_cursor)

    def commit(self, change: ArticleChange) -> None:
        new, previous, retired = change.new, change.previous, change.retired
        if (
            new is not None
            and previous is not None
            and previous.source_key != change.source.key
            and previous.status != "removed"
        ):
            raise SlugTaken(new.slug, previous.source_key)
        pairs: list[tuple[Article | None, Article]] = []
        if new is not None:
            pairs.append((previous, new))
        if retired is not None:
            pairs.append((retired, dataclasses.replace(retired, status="removed", related=())))
        plan = plan_commit(pairs, change.paging, self)  # the reads DynamoArticleStore makes
        # The source, the record(s) and the waiting items.
        plan.check(others=1 + len(pairs) + len(change.waiting_ops()))
        self.calls["TransactWriteItems"] += 1
        self._check_source(change.source)
        for expected in (previous, retired):
            if expected is not None and self.articles.get(expected.slug) != expected:
                raise ArticleConflict("article changed while publishing; retry")
        if new is not None and previous is None and new.slug in self.articles:
            raise ArticleConflict("article appeared while publishing; retry")
        for write in plan.heads:
            if self.head_of.get(write.name, ListingHead()).version != write.expected:
                raise ArticleConflict(f"{write.name} changed while publishing; retry")
        self.sources[change.source.key] = change.source
        self._wait(change.source.key, change.waiting_ops())
        for _, record in pairs:
            self.articles[record.slug] = record
        self._apply(plan)

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

    def _wait(self, key: str, ops: list[tuple[str, bool]]) -> None:
        for category, present in ops:
            if present:
                self.waiters.setdefault(category, set()).add(key)
            else:
                self.waiters.get(category, set()).discard(key)
                if not self.waiters.get(category, True):
                    del self.waiters[category]

    def _check_source(self, source: SourceState) -> None:
        current = self.sources.get(source.key)
        if current is not None and current.seq > source.seq:
            raise StaleEvent(source.key)

    def _apply(self, plan: CommitPlan) -> None:
        for member in plan.members:
            members = self.members.setdefault(member.listing, {})
            keys = self.sorted_keys.setdefault(member.listing, [])
            if member.op == "delete":
                if members.pop(member.sort_key, None) is not None:
                    keys.pop(bisect.bisect_left(keys, member.sort_key))
            else:
                if member.sort_key not in members:
                    bisect.insort(keys, member.sort_key)
                members[member.sort_key] = member.article
        for write in plan.heads:
            self.head_of[write.name] = write.head
        for collection, epoch, number, start in plan.bounds:
            starts = self.bounds.setdefault((collection, epoch), [])
            assert number == len(starts) + 2, (collection, number, starts)
            starts.append(start)
        for kind, entry in plan.index:
            bisect.insort(self.index_keys.setdefault(kind, []), entry.key)
            self.index.setdefault(kind, {})[entry.key] = entry
        for target, linking, present in plan.related:
            found = self.related_by.setdefault(target, [])
            at = bisect.bisect_left(found, linking)
            there = at < len(found) and found[at] == linking
            if present and not there:
                found.insert(at, linking)
            elif not present and there:
                found.pop(at)
        for key, sort_key, slug, present in plan.aliases:
            claims = self.alias_claims.setdefault(key, [])
            if present and (sort_key, slug) not in claims:
                bisect.insort(claims, (sort_key, slug))
            elif not present and (sort_key, slug) in claims:
                claims.remove((sort_key, slug))
            if not claims:
                del self.alias_claims[key]

    # -- bulk loading (benchmarks) -------------------------------------------------------

    def load(
        self,
        articles: Iterable[Article],
        paging: Paging = DEFAULT_PAGING,
        sequencer: str = pad_sequencer("1"),
    ) -> None:
        """Exactly the state of committing ``articles`` into this EMPTY store one by one,
        oldest first, each from its own new source file (``SourceState(source_key,
        sequencer, slug=..., status=...)`` as publish writes it), in a fraction of the time:
        a million articles load in seconds, where a million ``commit`` calls take an hour."""
        if self.articles or self.head_of:
            raise ValueError("load() fills an empty store")
        ordered = sorted(((_fast_sort_key(a), a) for a in articles), key=lambda pair: pair[0])
        keys_of: dict[str, list[str]] = {}
        firsts: dict[str, Article] = {}
        linking: dict[str, list[str]] = {}
        status_of = {"live": "published"}
        for key, article in ordered:
            if article.slug in self.articles:
                raise ValueError(f"slug {article.slug} appears twice")
            self.articles[article.slug] = article
            self.sources[article.source_key] = SourceState(
                article.source_key,
                sequencer,
                slug=article.slug,
                status=status_of.get(article.status, article.status),
            )
            for listing in listings_of(article):
                found = keys_of.get(listing)
                if found is None:
                    found = keys_of[listing] = []
                    self.members[listing] = {}
                    firsts[listing] = article
                found.append(key)
                self.members[listing][key] = article
            for target in article.related:
                linking.setdefault(target, []).append(article.slug)
            for alias in claimed_keys(article):
                bisect.insort(self.alias_claims.setdefault(alias, []), (key, article.slug))
        self.sorted_keys = keys_of
        self.related_by = {target: sorted(slugs) for target, slugs in linking.items()}

        tz_name = paging.timezone
        tz = zone(tz_name)
        tag_entries: list[str] = []
        tag_creators: set[str] = set()
        for listing, keys in keys_of.items():
            if not has_pages(listing):  # lookups (scheduled, translations): members only
                self.head_of[listing] = self._bulk_head(listing, keys, 0, indexed="")
                continue
            first = firsts[listing]
            kind = index_kind(listing)
            entry_key = f"{keys[0]}#{listing}"
            label = listing.split("/")[-1]
            if kind == "tag":
                key = listing.removeprefix("tag/")
                label = next((t for t in first.tags if tag_key(t) == key), key)
                tag_entries.append(entry_key)
                tag_creators.add(first.slug)
            self.index.setdefault(kind, {})[entry_key] = IndexEntry(entry_key, listing, label)
            self.head_of[listing] = self._bulk_head(
                listing, keys, paging.page_size, indexed=entry_key
            )
        for kind, entries in self.index.items():
            self.index_keys[kind] = sorted(entries)
        if tag_entries:
            tag_entries.sort()
            index = self._bulk_head(TAG_INDEX, tag_entries, paging.index_size)
            self.head_of[TAG_INDEX] = dataclasses.replace(index, version=len(tag_creators))
            for position, entry_key in enumerate(tag_entries):
                listing = self.index["tag"][entry_key].listing
                page = position // paging.index_size + 1
                self.head_of[listing] = dataclasses.replace(self.head_of[listing], index_page=page)

        home = keys_of.get(HOME, [])
        if home:
            self.head_of[HOME] = dataclasses.replace(self.head_of[HOME], tz=tz_name)
            sitemap = self._bulk_head(SITEMAP, home, paging.shard_size)
            shards: dict[int, tuple[int, str]] = {}
            by_month: dict[str, list[str]] = {}
            members = self.members[HOME]
            for position, key in enumerate(home):
                article = members[key]
                shard = position // paging.shard_size + 1
                urls, lastmod = shards.get(shard, (0, ""))
                shards[shard] = (
                    urls + 1,
                    max(lastmod, _fast_time(article.updated or article.date)),
                )
                by_month.setdefault(month_label(article.date, tz), []).append(key)
            self.head_of[SITEMAP] = dataclasses.replace(sitemap, shards=shards)
            for label, keys in by_month.items():
                name = month_collection(label)
                self.head_of[name] = self._bulk_head(name, keys, paging.month_size)

    def _bulk_head(self, name: str, keys: list[str], size: int, indexed: str = "") -> ListingHead:
        """Head and boundaries of ``keys`` appended one by one, oldest first (pages open at
        every ``size``-th key); ``size`` 0: not paged."""
        count = len(keys)
        if not size:
            return ListingHead(count=count, version=count, indexed=indexed)
        starts = keys[size::size]
        if starts:
            self.bounds[(name, 0)] = starts
        pages = len(starts) + 1
        return ListingHead(
            count=count,
            version=count,
            pages=pages,
            last_start=starts[-1] if starts else SENTINEL,
            last_count=count - (pages - 1) * size,
            indexed=indexed,
        )


def _fast_time(value: dt.datetime) -> str:
    """``model.format_time`` without strftime (~20x faster; years >= 1000)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _fast_sort_key(article: Article) -> str:
    return f"{_fast_time(article.date)}#{article.slug}"


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


class InMemorySearchPostings:
    """``SearchPostings`` (chainpress.search) counting the DynamoDB requests of
    ``aws/search.py``: one BatchWriteItem per 25 puts/deletes, one Query per ``newest``."""

    def __init__(self) -> None:
        self.terms: dict[str, dict[str, Posting]] = collections.defaultdict(dict)
        self.calls: collections.Counter[str] = collections.Counter()

    def apply(
        self, puts: Sequence[tuple[str, Posting]], deletes: Sequence[tuple[str, str]]
    ) -> None:
        self.calls["BatchWriteItem"] += math.ceil((len(puts) + len(deletes)) / 25)
        for term, sort_key in deletes:
            self.terms[term].pop(sort_key, None)
        for term, posting in puts:
            self.terms[term][posting.sort_key] = posting

    def newest(self, term: str, limit: int) -> list[Posting]:
        self.calls["Query"] += 1
        found = self.terms.get(term, {})
        return [found[key] for key in sorted(found, reverse=True)[:limit]]
