"""DynamoDB adapter of ``InvalidationQueue``: pending CDN paths in the articles table.

One item per pending path: pk ``cdn#pending``, sk ``path#<sha256 of the path>`` (a path of a
long CJK slug, percent-encoded, can exceed the 1,024-byte sort-key limit), attributes ``path``,
``token`` (the writer that last recorded it), ``since`` (epoch seconds of the first record).

Why DynamoDB rather than S3 objects: recording must be conditional and say whether the path
was already pending (one ``UpdateItem`` with ``ReturnValues=UPDATED_OLD``), removal must be
conditional on the token (``DeleteItem`` with a condition: S3 deletes cannot be), reading every
pending path is one strongly consistent ``Query``, and each request costs a fraction of an S3
PUT or LIST. The rebuild function already reads this table. The items are not ``article#`` or
``site`` records, so the rebuild's stream filter drops their stream records. One partition key
for all of them is fine: paths are recorded a few per publish, far below 1,000 writes/s.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from chainpress.ports import PendingPath

PENDING_PK = "cdn#pending"


def pending_sk(path: str) -> str:
    return "path#" + hashlib.sha256(path.encode("utf-8")).hexdigest()


class DynamoInvalidationQueue:
    def __init__(
        self, table: str, client: Any, *, workers: int = 8, partition: str = PENDING_PK
    ) -> None:
        self.table = table
        self.client = client
        self.workers = workers
        # Another durable queue of the same shape: IndexNow's pending URLs (chainpress.indexnow).
        self.partition = partition

    def _key(self, path: str) -> dict[str, Any]:
        return {"pk": {"S": self.partition}, "sk": {"S": pending_sk(path)}}

    def record(self, path: str, token: str, at: int) -> bool:
        answer = self.client.update_item(
            TableName=self.table,
            Key=self._key(path),
            UpdateExpression="SET #p = :p, #t = :t, #s = if_not_exists(#s, :at)",
            ExpressionAttributeNames={"#p": "path", "#t": "token", "#s": "since"},
            ExpressionAttributeValues={
                ":p": {"S": path},
                ":t": {"S": token},
                ":at": {"N": str(at)},
            },
            ReturnValues="UPDATED_OLD",
        )
        return not answer.get("Attributes")

    def pending(self, limit: int) -> list[PendingPath]:
        found: list[PendingPath] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": self.partition}},
            "ConsistentRead": True,
        }
        while len(found) < limit:
            params["Limit"] = limit - len(found)
            answer = self.client.query(**params)
            for item in answer["Items"]:
                found.append(
                    PendingPath(
                        path=item["path"]["S"],
                        token=item.get("token", {}).get("S", ""),
                        since=int(item.get("since", {}).get("N", "0")),
                    )
                )
            if "LastEvaluatedKey" not in answer:
                break
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return sorted(found, key=lambda e: e.path)

    def remove(self, entries: Iterable[PendingPath]) -> None:
        items = list(entries)
        if len(items) <= 1 or self.workers <= 1:
            for entry in items:
                self._remove(entry)
            return
        with concurrent.futures.ThreadPoolExecutor(min(self.workers, len(items))) as pool:
            list(pool.map(self._remove, items))

    def _remove(self, entry: PendingPath) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(entry.path),
                # Recorded again since we read it (its page changed after our request went
                # out): it stays for the next request.
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":t": {"S": entry.token}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
