"""DynamoDB adapter of ``RerenderRuns``: the run record and its progress markers, in the articles
table (schema in docs/architecture.md).

* ``pk=run#rerender, sk=run``: the current (or last) run: ``run_id``, ``state``, ``total``,
  ``done``, ``failed`` (string set of item ids), ``pending``, ``number``, times, ``finisher``.
* ``pk=run#<run_id>, sk=spawn#<item>`` (the children an item reserved) and ``sk=done#<item>``
  (the item was counted): markers that make every count happen once per item, whatever SQS
  redelivers. They are small (about 100 bytes) and are left behind; the stream consumer's
  filter never sees them (``run#`` is neither ``article#`` nor ``site``).

Every counter change is a conditional write on the run record, so counts of a superseded run
are refused instead of leaking into the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chainpress.ports import Run, RunStart

_SER = TypeSerializer()
_DESER = TypeDeserializer()

RUN_PK = "run#rerender"
RUN_KEY = {"pk": {"S": RUN_PK}, "sk": {"S": "run"}}
# Every attribute through a placeholder (state, number, total and trigger are reserved words).
_NAMES = {
    "#id": "run_id",
    "#s": "state",
    "#total": "total",
    "#done": "done",
    "#failed": "failed",
    "#pending": "pending",
    "#number": "number",
    "#trigger": "trigger",
    "#started": "started_at",
    "#finished": "finished_at",
    "#finisher": "finisher",
}
_NEW_RUN = (
    "SET #id = :id, #s = :running, #total = :one, #done = :zero, #pending = :false, "
    "#trigger = :trigger, #started = :now REMOVE #finished, #finisher, #failed ADD #number :one"
)


def _marker(run_id: str, kind: str, item_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"run#{run_id}"}, "sk": {"S": f"{kind}#{item_id}"}}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{k}": _SER.serialize(v) for k, v in values.items()}


def _names(expression: str) -> dict[str, str]:
    return {k: v for k, v in _NAMES.items() if k in expression}


def _failed_check(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _cancelled(exc: ClientError) -> list[str]:
    """Cancellation reason codes of a transaction, or raise if it failed for another reason."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise exc
    reasons = exc.response.get("CancellationReasons") or []
    return [str(r.get("Code", "")) for r in reasons]


def _run(raw: dict[str, Any]) -> Run:
    item = {k: _DESER.deserialize(v) for k, v in raw.items()}
    return Run(
        run_id=str(item.get("run_id", "")),
        number=int(item.get("number", 0)),
        state=str(item.get("state", "")),
        total=int(item.get("total", 0)),
        done=int(item.get("done", 0)),
        failed=tuple(sorted(str(x) for x in item.get("failed", set()))),
        pending=bool(item.get("pending", False)),
        trigger=str(item.get("trigger", "")),
        started_at=str(item.get("started_at", "")),
        finished_at=str(item.get("finished_at", "")),
    )


class DynamoRerenderRuns:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def _update(self, key: dict[str, Any], expression: str, condition: str, **values: Any) -> Any:
        answer = self.client.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=_names(expression + condition),
            ExpressionAttributeValues=_values(**values),
            ReturnValues="ALL_NEW",
        )
        return answer["Attributes"]

    def get(self) -> Run | None:
        answer = self.client.get_item(TableName=self.table, Key=RUN_KEY, ConsistentRead=True)
        return _run(answer["Item"]) if "Item" in answer else None

    def start(self, run_id: str, trigger: str, now: str, *, stale_before: str) -> RunStart:
        for _ in range(5):
            try:
                raw = self._update(
                    RUN_KEY,
                    _NEW_RUN,
                    "(attribute_not_exists(pk) OR #s = :done OR attribute_exists(#failed) "
                    "OR #started < :stale) AND (attribute_not_exists(#id) OR #id <> :id)",
                    id=run_id, running="running", one=1, zero=0, false=False, trigger=trigger,
                    now=now, done="done", stale=stale_before,
                )  # fmt: skip
                return RunStart(_run(raw), started=True)
            except ClientError as exc:
                if not _failed_check(exc):
                    raise
            try:
                raw = self._update(
                    RUN_KEY,
                    "SET #pending = :true",
                    "#s = :running AND #id <> :id",
                    true=True, running="running", id=run_id,
                )  # fmt: skip
                return RunStart(_run(raw), started=False)
            except ClientError as exc:
                if not _failed_check(exc):
                    raise
            current = self.get()
            if current is not None and current.run_id == run_id:
                return RunStart(current, started=current.state == "running")
            # The running run ended between our two writes: try to start again.
        raise RuntimeError("the run record kept changing; retry")

    def check(self, run_id: str, item_id: str) -> str:
        marker = _marker(run_id, "done", item_id)
        request: dict[str, Any] = {self.table: {"Keys": [RUN_KEY, marker], "ConsistentRead": True}}
        found: list[dict[str, Any]] = []
        while request:
            answer = self.client.batch_get_item(RequestItems=request)
            found += answer["Responses"].get(self.table, [])
            request = answer.get("UnprocessedKeys") or {}
        run = next((_run(i) for i in found if i["pk"]["S"] == RUN_PK), None)
        if run is None or run.run_id != run_id or run.state != "running":
            return "stale"
        return "done" if any(i["pk"]["S"] != RUN_PK for i in found) else "current"

    def reserve(self, run_id: str, item_id: str, children: Sequence[str]) -> list[str] | None:
        marker = _marker(run_id, "spawn", item_id)
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {**marker, "children": {"L": [{"S": c} for c in children]}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": RUN_KEY,
                            "UpdateExpression": "ADD #total :n",
                            "ConditionExpression": "#id = :id AND #s = :running",
                            "ExpressionAttributeNames": _names("#total #id #s"),
                            "ExpressionAttributeValues": _values(
                                n=len(children), id=run_id, running="running"
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            codes = _cancelled(exc)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return None  # superseded or finished
            if not codes or codes[0] != "ConditionalCheckFailed":
                raise
            # Redelivered: send what was reserved the first time (the counts already include it).
            answer = self.client.get_item(TableName=self.table, Key=marker, ConsistentRead=True)
            return [str(c["S"]) for c in answer["Item"]["children"]["L"]]
        return list(children)

    def complete(self, run_id: str, item_id: str) -> bool:
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": _marker(run_id, "done", item_id),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": RUN_KEY,
                            # A redriven item that succeeds is no longer a failure.
                            "UpdateExpression": "ADD #done :one DELETE #failed :item",
                            "ConditionExpression": "#id = :id AND #s = :running",
                            "ExpressionAttributeNames": _names("#done #failed #id #s"),
                            "ExpressionAttributeValues": _values(
                                one=1, item={item_id}, id=run_id, running="running"
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            codes = _cancelled(exc)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return False
            if not codes or codes[0] != "ConditionalCheckFailed":
                raise
        return True  # counted now, or by an earlier delivery

    def claim_finish(self, run_id: str, item_id: str) -> bool:
        run = self.get()
        if run is None or run.run_id != run_id or run.state != "running" or run.done < run.total:
            return False
        try:
            self._update(
                RUN_KEY,
                "SET #finisher = :item",
                "#id = :id AND #s = :running AND #done = #total "
                "AND (attribute_not_exists(#finisher) OR #finisher = :item)",
                item=item_id, id=run_id, running="running",
            )  # fmt: skip
        except ClientError as exc:
            if not _failed_check(exc):
                raise
            return False
        return True

    def record_failure(self, run_id: str, item_id: str) -> None:
        try:
            self._update(RUN_KEY, "ADD #failed :item", "#id = :id", item={item_id}, id=run_id)
        except ClientError as exc:
            if not _failed_check(exc):
                raise

    def finish(self, run_id: str, next_id: str, now: str) -> Run | None:
        try:
            raw = self._update(
                RUN_KEY,
                _NEW_RUN,
                "#id = :old AND #s = :running AND #pending = :true",
                id=next_id, running="running", one=1, zero=0, false=False, true=True,
                trigger=f"asked for during {run_id}", now=now, old=run_id,
            )  # fmt: skip
            return _run(raw)
        except ClientError as exc:
            if not _failed_check(exc):
                raise
        try:
            self._update(
                RUN_KEY,
                "SET #s = :done, #finished = :now, #pending = :false",
                "#id = :old AND #s = :running",
                done="done", now=now, false=False, old=run_id, running="running",
            )  # fmt: skip
            return None
        except ClientError as exc:
            if not _failed_check(exc):
                raise
        current = self.get()  # a redelivered finish: hand back the run it started, if any
        if current is not None and current.run_id == next_id and current.state == "running":
            return current
        return None
