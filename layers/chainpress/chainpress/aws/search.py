"""DynamoDB adapter of ``SearchPostings`` (chainpress.search): postings in the articles table.

One item per (term, article): pk ``term#<term>``, sk the article's ``sort_key`` (``<ISO
date>#<slug>``, so a term's newest postings are one Query read backwards), attributes ``slug``,
``title``, ``w`` (1: the term is in the title). Written by the rebuild function only (its role
may write no other partition with BatchWriteItem: ``dynamodb:LeadingKeys`` ``term#*``); the
items are not ``article#`` or ``site`` records, so the rebuild's stream filter drops their
stream records. A very common term is one large partition: reads take only its newest
``TERM_LIMIT`` items, writes are a few per publish.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from chainpress.search import Posting

TERM_PK = "term#"
BATCH = 25  # BatchWriteItem takes at most 25 requests


class DynamoSearchPostings:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def apply(
        self, puts: Sequence[tuple[str, Posting]], deletes: Sequence[tuple[str, str]]
    ) -> None:
        requests: list[dict[str, Any]] = [
            {"DeleteRequest": {"Key": {"pk": {"S": TERM_PK + term}, "sk": {"S": sort_key}}}}
            for term, sort_key in deletes
        ]
        requests += [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": TERM_PK + term},
                        "sk": {"S": posting.sort_key},
                        "slug": {"S": posting.slug},
                        "title": {"S": posting.title},
                        "w": {"N": "1" if posting.in_title else "0"},
                    }
                }
            }
            for term, posting in puts
        ]
        for start in range(0, len(requests), BATCH):
            self._write(requests[start : start + BATCH])

    def _write(self, requests: list[dict[str, Any]]) -> None:
        """One batch, its unprocessed items sent again with backoff (throttling raises)."""
        for attempt in range(8):
            answer = self.client.batch_write_item(RequestItems={self.table: requests})
            requests = answer.get("UnprocessedItems", {}).get(self.table, [])
            if not requests:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"{len(requests)} search postings left unprocessed")

    def newest(self, term: str, limit: int) -> list[Posting]:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": TERM_PK + term}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        return [
            Posting(
                item["sk"]["S"],
                item["slug"]["S"],
                item["title"]["S"],
                item.get("w", {}).get("N") == "1",
            )
            for item in answer.get("Items", [])
        ]
