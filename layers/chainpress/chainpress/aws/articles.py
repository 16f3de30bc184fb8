"""DynamoDB adapter of ``ArticleStore``: the articles table (schema in docs/architecture.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chainpress.model import Article, Problem
from chainpress.paging import ARCHIVE, TAG_INDEX, CommitPlan, plan_commit
from chainpress.ports import (
    ArticleChange,
    ArticleConflict,
    IndexEntry,
    ListingHead,
    ScanPage,
    SiteSource,
    SlugTaken,
    SourceState,
    StaleEvent,
)
from chainpress.responsive import ImageInfo
from chainpress.retry import backoff_delay

# Cancellation reasons DynamoDB may lift on its own: another transaction held an item, or the
# table throttled. Retried with jittered backoff (8 attempts wait at most 5.15 s in all).
_TRANSIENT_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
     "RequestLimitExceeded"}
)  # fmt: skip
TRANSACTION_ATTEMPTS = 8
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 2.0

INDEX_KINDS = ("category", "tag", "other")

_SER = TypeSerializer()
_DESER = TypeDeserializer()


def _ser(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(v) for k, v in item.items() if v is not None}


def _deser(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _DESER.deserialize(v) for k, v in item.items()}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def article_pk(slug: str) -> str:
    return f"article#{slug}"


def head_key(name: str) -> tuple[str, str]:
    """Where the head of a listing or collection lives. Archive months share one partition
    (the archive index reads them with one query)."""
    if name.startswith(ARCHIVE):
        return "archive", name.removeprefix(ARCHIVE)
    return f"head#{name}", "head"


def bounds_pk(collection: str, epoch: int) -> str:
    return f"pages#{collection}#{epoch}"


def members_pk(members: str) -> str:
    return "index#tag" if members == TAG_INDEX else f"list#{members}"


def _number_sk(number: int) -> str:
    return f"n#{number:010d}"


def _head_from(item: dict[str, Any] | None) -> ListingHead:
    if not item:
        return ListingHead()
    shards = {int(k): (int(v[0]), str(v[1])) for k, v in item.get("shards", {}).items()}
    return ListingHead(
        count=int(item.get("count", 0)),
        version=int(item.get("version", 0)),
        pages=int(item.get("pages", 0)),
        last_start=str(item.get("last_start", "")),
        last_count=int(item.get("last_count", 0)),
        epoch=int(item.get("epoch", 0)),
        indexed=str(item.get("indexed", "")),
        index_page=int(item.get("index_page", 0)),
        tz=str(item.get("tz", "")),
        shards=shards,
    )


def _head_item(name: str, head: ListingHead) -> dict[str, Any]:
    pk, sk = head_key(name)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "count": head.count,
        "version": head.version,
        "pages": head.pages,
        "last_start": head.last_start,
        "last_count": head.last_count,
        "epoch": head.epoch,
    }
    if head.indexed:
        item.update(indexed=head.indexed, index_page=head.index_page)
    if head.tz:
        item["tz"] = head.tz
    if head.shards:
        item["shards"] = {str(n): [urls, lastmod] for n, (urls, lastmod) in head.shards.items()}
    return item


class DynamoArticleStore:
    def __init__(
        self, table: str, client: Any, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.table = table
        self.client = client
        self.sleep = sleep  # between retried transactions (tests pass a fake clock)

    # -- reads ---------------------------------------------------------------------------
    def get_article(self, slug: str) -> Article | None:
        item = self._get(article_pk(slug), "article")
        return Article.from_item(item) if item else None

    def get_articles(self, slugs: Sequence[str]) -> dict[str, Article]:
        found: dict[str, Article] = {}
        wanted = list(dict.fromkeys(slugs))
        for start in range(0, len(wanted), 100):
            keys = [_key(article_pk(s), "article") for s in wanted[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for raw in answer["Responses"].get(self.table, []):
                    article = Article.from_item(_deser(raw))
                    found[article.slug] = article
                request = answer.get("UnprocessedKeys") or {}
        return found

    def get_source(self, key: str) -> SourceState | None:
        item = self._get(f"source#{key}", "source")
        if not item:
            return None
        line = item.get("line")
        return SourceState(
            key=key,
            seq=str(item.get("seq", "")),
            version_id=str(item.get("version_id", "")),
            slug=str(item.get("slug", "")),
            status=str(item.get("status", "")),
            error=str(item.get("error", "")),
            line=int(line) if line is not None else None,
            warnings=tuple(
                Problem(str(w.get("message", "")), int(w["line"]) if w.get("line") else None)
                for w in item.get("warnings", ())
            ),
            waiting=str(item.get("waiting", "")),
        )

    def head(self, listing: str) -> ListingHead:
        return _head_from(self._get(*head_key(listing)))

    def heads(self, names: Collection[str]) -> dict[str, ListingHead]:
        wanted = list(dict.fromkeys(names))
        by_key = {head_key(name): name for name in wanted}
        found = {name: ListingHead() for name in wanted}
        for start in range(0, len(wanted), 100):
            keys = [_key(*head_key(name)) for name in wanted[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for raw in answer["Responses"].get(self.table, []):
                    item = _deser(raw)
                    found[by_key[(str(item["pk"]), str(item["sk"]))]] = _head_from(item)
                request = answer.get("UnprocessedKeys") or {}
        return found

    def newest(self, listing: str, limit: int, before: str | None = None) -> list[Article]:
        return list(self._members(listing, forward=False, bound=before, limit=limit))

    def oldest(self, listing: str, limit: int, after: str | None = None) -> list[Article]:
        return list(self._members(listing, forward=True, bound=after, limit=limit))

    def iter_listing(self, listing: str) -> Iterator[Article]:
        return self._members(listing, forward=True, bound=None, limit=None)

    def count_before(self, listing: str, sort_key: str) -> int:
        total = 0
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk < :sk",
            "ExpressionAttributeValues": {":pk": {"S": f"list#{listing}"}, ":sk": {"S": sort_key}},
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        while True:
            answer = self.client.query(**params)
            total += int(answer["Count"])
            if "LastEvaluatedKey" not in answer:
                return total
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def between(self, listing: str, start: str, stop: str | None) -> list[Article]:
        return [
            Article.from_item(item) for item in self._range(f"list#{listing}", start, stop, None)
        ]

    def keys_after(self, members: str, key: str, below: str | None, limit: int) -> list[str]:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk > :k",
            ExpressionAttributeValues={":pk": {"S": members_pk(members)}, ":k": {"S": key}},
            ProjectionExpression="sk",
            Limit=limit,
            ConsistentRead=True,
        )
        keys = [str(_deser(raw)["sk"]) for raw in answer["Items"]]
        return [k for k in keys if below is None or k < below]

    def page_of(self, collection: str, epoch: int, key: str) -> int:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :key",
            ExpressionAttributeValues={
                ":pk": {"S": bounds_pk(collection, epoch)},
                ":low": {"S": "s#"},
                ":key": {"S": f"s#{key}"},
            },
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = answer["Items"]
        return int(_deser(items[0])["number"]) if items else 1

    def page_starts(self, collection: str, epoch: int, first: int, last: int) -> dict[int, str]:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": bounds_pk(collection, epoch)},
                ":first": {"S": _number_sk(first)},
                ":last": {"S": _number_sk(last)},
            },
            ConsistentRead=True,
        )
        starts = {}
        for raw in answer["Items"]:
            item = _deser(raw)
            starts[int(str(item["sk"])[2:])] = str(item["start"])
        return starts

    def months(self) -> list[tuple[str, ListingHead]]:
        return [
            (str(item["sk"]), _head_from(item)) for item in self._range("archive", None, None, None)
        ]

    def index_entries(self, kind: str, start: str, stop: str | None) -> list[IndexEntry]:
        return [
            IndexEntry(
                key=str(item["sk"]),
                listing=str(item["listing"]),
                label=str(item.get("label", "")),
            )
            for item in self._range(f"index#{kind}", start or None, stop, None)
        ]

    def linking(self, slug: str, after: str, limit: int) -> list[str]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"relatedby#{slug}"}},
            "Limit": limit,
            "ConsistentRead": True,
        }
        if after:
            params["KeyConditionExpression"] += " AND sk > :after"
            params["ExpressionAttributeValues"][":after"] = {"S": after}
        return [str(_deser(raw)["sk"]) for raw in self.client.query(**params)["Items"]]

    def waiting(self, category: str) -> list[str]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"waiting#category/{category}"}},
            "ConsistentRead": True,
        }
        keys: list[str] = []
        while True:
            answer = self.client.query(**params)
            keys += [str(_deser(raw)["sk"]) for raw in answer["Items"]]
            if "LastEvaluatedKey" not in answer:
                return keys
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def alias_owner(self, key: str) -> str | None:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"alias#{key}"}},
            Limit=1,
            ConsistentRead=True,
        )
        items = answer["Items"]
        return str(_deser(items[0])["slug"]) if items else None

    def set_relink(self, slug: str, after: str) -> None:
        # ``step`` moves on every time: an unchanged item would produce no stream record.
        self.client.update_item(
            TableName=self.table,
            Key=_key(article_pk(slug), "relink"),
            UpdateExpression="SET #a = :a ADD #s :one",
            ExpressionAttributeNames={"#a": "after", "#s": "step"},
            ExpressionAttributeValues={":a": {"S": after}, ":one": {"N": "1"}},
        )

    def clear_relink(self, slug: str) -> None:
        self.client.delete_item(TableName=self.table, Key=_key(article_pk(slug), "relink"))

    def listings(self) -> list[str]:
        names = [
            str(item["listing"])
            for kind in INDEX_KINDS
            for item in self._range(f"index#{kind}", None, None, "listing")
        ]
        return sorted(names)

    def scan_articles(self) -> Iterator[Article]:
        for item in self._scan("sk = :s", {":s": {"S": "article"}}, None):
            yield Article.from_item(item)

    def scan_segment(
        self, segment: int, total: int, cursor: str | None = None, limit: int | None = None
    ) -> ScanPage:
        params: dict[str, Any] = {
            "TableName": self.table,
            "Segment": segment,
            "TotalSegments": total,
            # The filter only trims the answer: the request still reads (and pays for) 1 MB.
            "FilterExpression": "sk = :article OR sk = :head",
            "ExpressionAttributeValues": {":article": {"S": "article"}, ":head": {"S": "head"}},
            "ConsistentRead": True,
        }
        if cursor is not None:
            params["ExclusiveStartKey"] = json.loads(cursor)
        if limit is not None:
            params["Limit"] = limit  # items read (before the filter)
        answer = self.client.scan(**params)
        articles: list[Article] = []
        heads: dict[str, ListingHead] = {}
        for raw in answer["Items"]:
            item = _deser(raw)
            if item["sk"] == "article":
                articles.append(Article.from_item(item))
            elif str(item["pk"]).startswith("head#"):
                heads[str(item["pk"])[len("head#") :]] = _head_from(item)
        last = answer.get("LastEvaluatedKey")
        return ScanPage(
            articles=articles,
            heads=heads,
            items=int(answer.get("ScannedCount", len(answer["Items"]))),
            cursor=json.dumps(last, sort_keys=True) if last else None,
        )

    def get_site(self) -> SiteSource:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "site"}},
            ConsistentRead=True,
        )
        yaml_text = ""
        theme: dict[str, str] = {}
        for raw in answer["Items"]:
            item = _deser(raw)
            if item["sk"] == "settings":
                yaml_text = str(item.get("yaml", ""))
            elif str(item["sk"]).startswith("theme#"):
                theme[str(item["sk"])[len("theme#") :]] = str(item.get("text", ""))
        return SiteSource(yaml_text=yaml_text, theme=theme)

    # -- writes --------------------------------------------------------------------------
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
            pairs.append((retired, replace(retired, status="removed", related=())))
        plan = plan_commit(pairs, change.paging, self)
        plan.check(others=1 + len(pairs) + len(change.waiting_ops()))
        actions = [self._source_put(change.source)]
        actions += self._wait_actions(change)
        actions += [self._article_put(record, before) for before, record in pairs]
        actions += self._plan_actions(plan)
        self._transact(actions)

    def _wait_actions(self, change: ArticleChange) -> list[dict[str, Any]]:
        """The source's ``waiting#category/<key>`` items follow its state (chainpress.ports)."""
        actions: list[dict[str, Any]] = []
        for category, present in change.waiting_ops():
            key = _key(f"waiting#category/{category}", change.source.key)
            if present:
                actions.append({"Put": {"TableName": self.table, "Item": key}})
            else:
                actions.append({"Delete": {"TableName": self.table, "Key": key}})
        return actions

    def commit_site(
        self,
        source: SourceState,
        *,
        yaml_text: str | None = None,
        theme_name: str | None = None,
        theme_text: str | None = None,
    ) -> None:
        actions = [self._source_put(source)]
        if yaml_text is not None:
            item = {"pk": "site", "sk": "settings", "yaml": yaml_text}
            actions.append({"Put": {"TableName": self.table, "Item": _ser(item)}})
        if theme_name is not None:
            sk = f"theme#{theme_name}"
            if theme_text is None:
                actions.append({"Delete": {"TableName": self.table, "Key": _key("site", sk)}})
            else:
                item = {"pk": "site", "sk": sk, "text": theme_text}
                actions.append({"Put": {"TableName": self.table, "Item": _ser(item)}})
        self._transact(actions)

    # -- helpers -------------------------------------------------------------------------
    # -- responsive images -------------------------------------------------------------
    def get_images(self, keys: Sequence[str]) -> dict[str, ImageInfo]:
        found: dict[str, ImageInfo] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 100):
            batch = [_key(f"image#{k}", "image") for k in wanted[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": batch, "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for raw in answer["Responses"].get(self.table, []):
                    item = _deser(raw)
                    key = str(item["pk"]).removeprefix("image#")
                    found[key] = ImageInfo.from_item(key, item)
                request = answer.get("UnprocessedKeys") or {}
        return found

    def put_image(self, info: ImageInfo) -> None:
        item = {"pk": f"image#{info.key}", "sk": "image", **info.to_item()}
        self.client.put_item(TableName=self.table, Item=_ser(item))

    def delete_image(self, key: str) -> None:
        self.client.delete_item(TableName=self.table, Key=_key(f"image#{key}", "image"))

    def add_image_users(self, slug: str, keys: Sequence[str]) -> None:
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 25):
            puts = [
                {"PutRequest": {"Item": _key(f"imageuse#{k}", article_pk(slug))}}
                for k in wanted[start : start + 25]
            ]
            request: dict[str, Any] = {self.table: puts}
            for attempt in range(8):
                answer = self.client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
                self.sleep(backoff_delay(attempt, base=_BACKOFF_BASE, cap=_BACKOFF_CAP))
            else:
                raise RuntimeError("BatchWriteItem left items unprocessed")

    def image_users(self, key: str, limit: int) -> list[str]:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"imageuse#{key}"}},
            ProjectionExpression="sk",
            ConsistentRead=True,
            Limit=limit,
        )
        return [str(item["sk"]["S"]).removeprefix("article#") for item in answer.get("Items", [])]

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.table, Key=_key(pk, sk), ConsistentRead=True)
        raw = answer.get("Item")
        return _deser(raw) if raw else None

    def _scan(
        self, condition: str, values: dict[str, Any], projection: str | None
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        if projection:
            params["ProjectionExpression"] = projection
        while True:
            answer = self.client.scan(**params)
            for raw in answer["Items"]:
                yield _deser(raw)
            if "LastEvaluatedKey" not in answer:
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _members(
        self, listing: str, *, forward: bool, bound: str | None, limit: int | None
    ) -> Iterator[Article]:
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": f"list#{listing}"}}
        if bound is not None:
            condition += " AND sk > :b" if forward else " AND sk < :b"
            values[":b"] = {"S": bound}
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "ConsistentRead": True,
        }
        left = limit
        while left is None or left > 0:
            if left is not None:
                params["Limit"] = left
            answer = self.client.query(**params)
            for raw in answer["Items"]:
                yield Article.from_item(_deser(raw))
            if left is not None:
                left -= len(answer["Items"])
            if "LastEvaluatedKey" not in answer:
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _source_put(self, source: SourceState) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": f"source#{source.key}",
            "sk": "source",
            "seq": source.seq,
            "version_id": source.version_id,
            "slug": source.slug,
            "status": source.status,
            "error": source.error,
            "line": source.line,
        }
        if source.warnings:
            item["warnings"] = [w.as_dict() for w in source.warnings]
        if source.waiting:
            item["waiting"] = source.waiting
        return {
            "Put": {
                "TableName": self.table,
                "Item": _ser(item),
                # Equal is allowed: a re-delivered event re-applies the same bytes, a no-op.
                "ConditionExpression": "attribute_not_exists(seq) OR seq <= :seq",
                "ExpressionAttributeValues": {":seq": {"S": source.seq}},
            }
        }

    def _article_put(self, new: Article, previous: Article | None) -> dict[str, Any]:
        item = {"pk": article_pk(new.slug), "sk": "article", **new.to_item()}
        put: dict[str, Any] = {"TableName": self.table, "Item": _ser(item)}
        if previous is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            # The record must still be what the listing diff was computed from.
            put["ConditionExpression"] = (
                "source_key = :src AND content_hash = :hash AND #st = :st AND #dt = :dt"
            )
            put["ExpressionAttributeNames"] = {"#st": "status", "#dt": "date"}
            put["ExpressionAttributeValues"] = _ser(
                {
                    ":src": previous.source_key,
                    ":hash": previous.content_hash,
                    ":st": previous.status,
                    ":dt": previous.to_item()["date"],
                }
            )
        return {"Put": put}

    def _plan_actions(self, plan: CommitPlan) -> list[dict[str, Any]]:
        """A commit plan (paging.plan_commit) as transaction items."""
        table = self.table
        actions: list[dict[str, Any]] = []
        for member in plan.members:
            key = _key(f"list#{member.listing}", member.sort_key)
            if member.op == "delete":
                actions.append({"Delete": {"TableName": table, "Key": key}})
            else:
                item = {"pk": f"list#{member.listing}", "sk": member.sort_key}
                item.update(member.article.to_item())
                actions.append({"Put": {"TableName": table, "Item": _ser(item)}})
        for write in plan.heads:
            put: dict[str, Any] = {
                "TableName": table,
                "Item": _ser(_head_item(write.name, write.head)),
            }
            if write.expected:
                # The head is still the one the plan was made from: a racing commit fails us.
                put["ConditionExpression"] = "#v = :v"
                put["ExpressionAttributeNames"] = {"#v": "version"}
                put["ExpressionAttributeValues"] = {":v": {"N": str(write.expected)}}
            else:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            actions.append({"Put": put})
        for collection, epoch, number, start in plan.bounds:
            pk = bounds_pk(collection, epoch)
            by_start = {"pk": pk, "sk": f"s#{start}", "number": number}
            by_number = {"pk": pk, "sk": _number_sk(number), "start": start}
            actions.append({"Put": {"TableName": table, "Item": _ser(by_start)}})
            actions.append({"Put": {"TableName": table, "Item": _ser(by_number)}})
        for kind, entry in plan.index:
            fields = {"listing": entry.listing, "label": entry.label}
            index_item = {"pk": f"index#{kind}", "sk": entry.key, **fields}
            actions.append({"Put": {"TableName": table, "Item": _ser(index_item)}})
        for target, linking, present in plan.related:
            key = _key(f"relatedby#{target}", linking)
            if present:
                actions.append({"Put": {"TableName": table, "Item": key}})
            else:
                actions.append({"Delete": {"TableName": table, "Key": key}})
        for alias, sort_key, slug, present in plan.aliases:
            key = _key(f"alias#{alias}", sort_key)
            if present:
                claim = {"pk": f"alias#{alias}", "sk": sort_key, "slug": slug}
                actions.append({"Put": {"TableName": table, "Item": _ser(claim)}})
            else:
                actions.append({"Delete": {"TableName": table, "Key": key}})
        return actions

    def _range(
        self, pk: str, start: str | None, stop: str | None, projection: str | None
    ) -> Iterator[dict[str, Any]]:
        """Items of partition ``pk`` with ``start <= sk < stop`` (either bound optional)."""
        values: dict[str, Any] = {":pk": {"S": pk}}
        condition = "pk = :pk"
        if start and stop is not None:
            condition += " AND sk BETWEEN :a AND :b"  # inclusive: the stop key is dropped below
            values.update({":a": {"S": start}, ":b": {"S": stop}})
        elif start:
            condition += " AND sk >= :a"
            values[":a"] = {"S": start}
        elif stop is not None:
            condition += " AND sk < :b"
            values[":b"] = {"S": stop}
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        if projection:
            params["ProjectionExpression"] = "sk, #a"  # aliased: attribute names may be reserved
            params["ExpressionAttributeNames"] = {"#a": projection}
        while True:
            answer = self.client.query(**params)
            for raw in answer["Items"]:
                item = _deser(raw)
                if stop is None or str(item["sk"]) < stop:
                    yield item
            if "LastEvaluatedKey" not in answer:
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        """One ``TransactWriteItems``; a cancellation DynamoDB may lift on its own (another
        transaction held an item: ``TransactionConflict``; throttling) is retried with jittered
        backoff, at most ``TRANSACTION_ATTEMPTS`` times. Every publish updates ``head#home``, so
        concurrent publishes do conflict: without this a bulk import fails events. A failed
        condition is never retried here: it is a stale event or a record that changed."""
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=actions)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                codes = [r.get("Code") for r in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    raise StaleEvent(actions[0]["Put"]["Item"]["pk"]["S"]) from exc
                if "ConditionalCheckFailed" in codes:
                    raise ArticleConflict("article changed while publishing; retry") from exc
                transient = [c for c in codes if c not in (None, "None")]
                if not transient or any(c not in _TRANSIENT_CANCELLATIONS for c in transient):
                    raise
                if attempt + 1 == TRANSACTION_ATTEMPTS:
                    raise
                self.sleep(backoff_delay(attempt, base=_BACKOFF_BASE, cap=_BACKOFF_CAP))
