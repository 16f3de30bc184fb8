"""SQS adapter of ``WorkQueue``: the re-render work queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BATCH = 10  # SendMessageBatch takes at most 10 messages


class SqsWorkQueue:
    def __init__(self, url: str, client: Any) -> None:
        self.url = url
        self.client = client

    def send(self, bodies: Sequence[str]) -> None:
        for start in range(0, len(bodies), BATCH):
            entries = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + BATCH])
            ]
            answer = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = answer.get("Failed") or []
            if failed:
                # Raise: the item that sends them fails and is delivered again (its children
                # were reserved once, so sending them again counts nothing twice).
                reasons = ", ".join(f"{f.get('Code')}: {f.get('Message')}" for f in failed)
                raise RuntimeError(f"{len(failed)} work items not queued ({reasons})")
