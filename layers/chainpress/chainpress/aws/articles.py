"""DynamoDB adapter of ``ArticleStore``: the articles table (schema in docs/architecture.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chainpress.model import Article, member_ops
from chainpress.ports import (
    ArticleChange,
    ArticleConflict,
    ListingHead,
    ScanPage,
    SiteSource,
    SlugTaken,
    SourceState,
    StaleEvent,
)

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


class DynamoArticleStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

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
        )

    def head(self, listing: str) -> ListingHead:
        item = self._get(f"head#{listing}", "head")
        if not item:
            return ListingHead()
        return ListingHead(count=int(item.get("count", 0)), version=int(item.get("version", 0)))

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

    def listings(self) -> list[str]:
        names = [
            item["pk"][len("head#") :]
            for item in self._scan("begins_with(pk, :p)", {":p": {"S": "head#"}}, "pk")
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
                heads[str(item["pk"])[len("head#") :]] = ListingHead(
                    count=int(item.get("count", 0)), version=int(item.get("version", 0))
                )
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
        actions = [self._source_put(change.source)]
        pairs: list[tuple[Article | None, Article]] = []
        if new is not None:
            actions.append(self._article_put(new, previous))
            pairs.append((previous, new))
        if retired is not None:
            gone = replace(retired, status="removed", related=())
            actions.append(self._article_put(gone, retired))
            pairs.append((retired, gone))
        actions.extend(self._membership_actions(pairs))
        self._transact(actions)

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
        item = {
            "pk": f"source#{source.key}",
            "sk": "source",
            "seq": source.seq,
            "version_id": source.version_id,
            "slug": source.slug,
            "status": source.status,
            "error": source.error,
            "line": source.line,
        }
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

    def _membership_actions(
        self, changes: Sequence[tuple[Article | None, Article]]
    ) -> list[dict[str, Any]]:
        """Member puts/deletes for each (previous, new) pair, then one head update per listing
        (a transaction may touch an item only once)."""
        actions: list[dict[str, Any]] = []
        deltas: dict[str, int] = {}
        for previous, new in changes:
            for listing, op, sort_key, delta in member_ops(previous, new):
                key = _key(f"list#{listing}", sort_key)
                if op == "delete":
                    actions.append({"Delete": {"TableName": self.table, "Key": key}})
                else:
                    item = {"pk": f"list#{listing}", "sk": sort_key, **new.to_item()}
                    actions.append({"Put": {"TableName": self.table, "Item": _ser(item)}})
                deltas[listing] = deltas.get(listing, 0) + delta
        for listing, delta in sorted(deltas.items()):
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(f"head#{listing}", "head"),
                        "UpdateExpression": "ADD #c :d, version :one",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":d": {"N": str(delta)}, ":one": {"N": "1"}},
                    }
                }
            )
        return actions

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            codes = [r.get("Code") for r in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise StaleEvent(actions[0]["Put"]["Item"]["pk"]["S"]) from exc
            if "ConditionalCheckFailed" in codes:
                raise ArticleConflict("article changed while publishing; retry") from exc
            raise
