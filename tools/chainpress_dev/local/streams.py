"""The DynamoDB stream -> Lambda event source mapping, read from moto's own stream.

Like Lambda's poller for one function: it reads every shard of the table's latest stream from
``TRIM_HORIZON`` (``describe_table`` -> ``LatestStreamArn``, ``describe_stream`` -> shards,
``get_shard_iterator``, ``get_records``), drops records the template's ``FilterCriteria`` do not
match, gathers the rest into batches (up to ``BatchSize`` records, or whatever arrived within the
batching window) and invokes the function with ``{"Records": [...]}`` in the shape Lambda uses.
With ``ReportBatchItemFailures`` the function's ``batchItemFailures`` are honoured: the batch is
retried from the first failed record, up to ``MaximumRetryAttempts``, and then given up (Lambda
would send it to the on-failure destination). A shard is processed in order, one batch at a
time, as Lambda does.

Two moto quirks are corrected so that the function sees what DynamoDB would send:
``UpdateItem`` creating an item emits an extra ``INSERT`` without a ``NewImage`` first, and an
item written with identical values emits a ``MODIFY``; DynamoDB writes neither record.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chainpress_dev.local.endpoint import REGION
from chainpress_dev.local.functions import FunctionError, LocalFunction
from chainpress_dev.local.plumbing import Poller, Reporter
from chainpress_dev.local.template import filter_matches


@dataclasses.dataclass(frozen=True, slots=True)
class StreamSettings:
    """The parts of a DynamoDB event of a function that the local mapping applies."""

    batch_size: int = 100
    batching_window: float = 0.5
    max_retries: int = 5
    report_item_failures: bool = False
    patterns: tuple[dict[str, Any], ...] = ()


def stream_settings(
    template: Mapping[str, Any], function_logical_id: str, *, batching_window: float | None = None
) -> StreamSettings:
    """Read the DynamoDB event of a function from the template.

    ``batching_window`` replaces ``MaximumBatchingWindowInSeconds``: a local site wants its
    pages rebuilt within a second, not after the production window.
    """
    events = template["Resources"][function_logical_id].get("Properties", {}).get("Events", {})
    for event in events.values():
        if event.get("Type") != "DynamoDB":
            continue
        props = event.get("Properties", {})
        patterns = tuple(
            _parse_pattern(item["Pattern"])
            for item in props.get("FilterCriteria", {}).get("Filters", [])
        )
        window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        return StreamSettings(
            batch_size=int(props.get("BatchSize", 100)),
            batching_window=window if batching_window is None else batching_window,
            max_retries=int(props.get("MaximumRetryAttempts", 5)),
            report_item_failures="ReportBatchItemFailures"
            in props.get("FunctionResponseTypes", []),
            patterns=patterns,
        )
    raise ValueError(f"{function_logical_id} has no DynamoDB event in the template")


def _parse_pattern(text: str) -> dict[str, Any]:
    pattern: dict[str, Any] = json.loads(text)
    return pattern


def _jsonable(value: Any) -> Any:
    """boto3's parsed stream record -> the JSON Lambda would send (epoch numbers, base64)."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def lambda_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record of ``get_records`` as Lambda's event source mapping delivers it."""
    record: dict[str, Any] = {
        "eventID": raw.get("eventID", ""),
        "eventName": raw.get("eventName", ""),
        "eventVersion": "1.1",  # what Lambda sends (moto's records say 1.0)
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion", REGION),
        "dynamodb": _jsonable(raw.get("dynamodb", {})),
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:
        record["userIdentity"] = _jsonable(raw["userIdentity"])
    return record


def is_spurious(record: Mapping[str, Any]) -> bool:
    """A record moto emits and DynamoDB would not (see the module docstring)."""
    data = record.get("dynamodb", {})
    view = data.get("StreamViewType", "")
    if record.get("eventName") == "INSERT" and "NEW" in view and "NewImage" not in data:
        return True
    return (
        record.get("eventName") == "MODIFY"
        and view == "NEW_AND_OLD_IMAGES"
        and data.get("OldImage") == data.get("NewImage")
    )


class StreamEventSource(Poller):
    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table: str,
        function: LocalFunction,
        settings: StreamSettings,
        report: Reporter,
        *,
        interval: float = 5.0,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        super().__init__(f"stream-{table}", interval, report)
        self.on_batch = on_batch  # (records, seconds) after each successful invocation
        self.dynamodb = dynamodb
        self.streams = streams
        self.table = table
        self.function = function
        self.settings = settings
        self.stream_arn = ""
        self._checkpoints: dict[str, str] = {}  # shard id -> last sequence number read
        self._pending: list[dict[str, Any]] = []
        self._first_at = 0.0
        self._delivering = False
        self.held = False  # see hold()
        self.records_seen = 0
        self.records_filtered = 0
        self.batches = 0
        self.failed_batches = 0

    def busy(self) -> bool:
        return bool(self._pending) or self._delivering

    def hold(self) -> None:
        """Leave records in the stream until :meth:`release`, then deliver them in batches of
        up to BatchSize: what a long batching window does. Used while a whole folder is
        published, so the site is built once rather than once per article."""
        self.held = True

    def release(self) -> None:
        self.held = False
        self.doorbell.ring()

    def next_wait(self) -> float:
        if self._pending:
            due = self._first_at + self.settings.batching_window - time.monotonic()
            return max(0.01, min(self.interval, due))
        return self.interval

    def matches(self, record: Mapping[str, Any]) -> bool:
        if not self.settings.patterns:
            return True
        return any(filter_matches(pattern, record) for pattern in self.settings.patterns)

    def poll_once(self) -> None:
        if self.held:
            return  # the records wait in the stream; release() reads them all at once
        if not self.stream_arn:
            table = self.dynamodb.describe_table(TableName=self.table)["Table"]
            self.stream_arn = str(table.get("LatestStreamArn", ""))
            if not self.stream_arn:
                raise RuntimeError(f"table {self.table} has no stream")
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            self._read_shard(str(shard["ShardId"]))
        self._flush(force=False)

    def _read_shard(self, shard_id: str) -> None:
        # A fresh iterator from the last checkpoint on every poll, as Lambda resumes from its
        # checkpoint: moto replaces a table's shard object when it rolls back a cancelled
        # transaction, and an old iterator would then never see another record.
        last = self._checkpoints.get(shard_id)
        if last is None:
            params = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            params = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
        answer = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, **params
        )
        iterator = answer.get("ShardIterator")
        while iterator:
            answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            raw_records = answer.get("Records", [])
            if not raw_records:
                return
            for raw in raw_records:
                self._checkpoints[shard_id] = str(raw["dynamodb"]["SequenceNumber"])
                self._accept(lambda_record(raw, self.stream_arn))
            iterator = answer.get("NextShardIterator")

    def _accept(self, record: dict[str, Any]) -> None:
        self.records_seen += 1
        if is_spurious(record) or not self.matches(record):
            self.records_filtered += 1
            return
        if not self._pending:
            self._first_at = time.monotonic()
        self._pending.append(record)
        if len(self._pending) >= self.settings.batch_size:
            self._flush(force=True)

    def _flush(self, *, force: bool) -> None:
        if not self._pending:
            return
        window_over = time.monotonic() - self._first_at >= self.settings.batching_window
        if not (force or (window_over and not self.held)):
            return
        self._delivering = True
        try:
            while self._pending:
                size = self.settings.batch_size
                batch, self._pending = self._pending[:size], self._pending[size:]
                self._deliver(batch)
        finally:
            self._delivering = False

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        attempt = 0
        while batch and not self.stopping:
            self.batches += 1
            began = time.monotonic()
            try:
                result = self.function.invoke({"Records": batch})
            except FunctionError as exc:
                self._report(str(exc))
                failed_from = 0
            else:
                failed = self._first_failure(batch, result)
                if failed is None:
                    if self.on_batch is not None:
                        self.on_batch(len(batch), time.monotonic() - began)
                    return
                failed_from = failed
                self._report(
                    f"{self.function.logical_id}: {len(batch) - failed_from} of {len(batch)} "
                    "records reported as failed"
                )
            attempt += 1
            if attempt > self.settings.max_retries:
                self.failed_batches += 1
                self._report(
                    f"{self.function.logical_id}: gave up on {len(batch) - failed_from} records "
                    f"after {attempt} attempts (Lambda would send them to the failure queue)"
                )
                return
            batch = batch[failed_from:]
            time.sleep(min(0.25 * 2**attempt, 4.0))

    def _first_failure(self, batch: Sequence[Mapping[str, Any]], result: Any) -> int | None:
        """Index of the first record to retry, or None when the batch succeeded."""
        if not self.settings.report_item_failures or not isinstance(result, Mapping):
            return None
        failures = result.get("batchItemFailures") or []
        if not failures:
            return None
        positions = {
            str(record.get("dynamodb", {}).get("SequenceNumber")): i
            for i, record in enumerate(batch)
        }
        indexes: list[int] = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not identifier or str(identifier) not in positions:
                return 0  # Lambda treats an unknown identifier as a failure of the whole batch
            indexes.append(positions[str(identifier)])
        return min(indexes)
