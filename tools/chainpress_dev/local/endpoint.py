"""The embedded AWS endpoint: moto's ``ThreadedMotoServer``, made to behave like one AWS.

Two things are added to the plain server:

* Every request runs under one lock. moto's backends are not atomic across threads (concurrent
  ``ADD`` updates lose increments, transaction conditions race), while the real services are; with
  the requests serialised, moto answers like a single consistent service, which is what the
  handlers' concurrency guarantees are written against. A local site makes few requests, so the
  lock costs nothing noticeable.
* After each request, listeners see its WSGI environ. The event plumbing uses them as doorbells
  ("something wrote to the content bucket / the articles table") so that it looks for changes at
  once instead of polling moto in a tight loop. The doorbell only says *when* to look; *what*
  changed is always read back through the public API (object versions, stream records), so
  uploads from any client (AWS CLI, boto3, curl with a presigned URL) are seen the same way.

And three fixes to moto's DynamoDB speed: its transactions copied the whole table, stream
history included, once per item of every ``TransactWriteItems`` (publishing the sample site
spent over 15 s there): the items a transaction names are copied instead (and put back if it is
cancelled), and other table copies share the immutable stream records; and its Query sorted the
whole table to find one partition (150 ms a Query at a few thousand items): it reads that
partition only. Behaviour is unchanged. ``speed_up_moto`` installs all three (tests on
in-process moto use it too).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

Environ = dict[str, Any]
Listener = Callable[[Environ], None]
StartResponse = Callable[..., Any]

_log = logging.getLogger(__name__)

# Fake credentials: moto accepts anything, and real credentials must never be picked up.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


class SerialisedApp:
    """WSGI wrapper: one request at a time, then tell the listeners about it."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                # Drain inside the lock: the body is part of the answer being made consistent.
                body = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        for listener in self._listeners:
            try:
                listener(environ)
            except Exception:  # a doorbell must never break the endpoint
                _log.exception("endpoint listener failed")
        return iter(body)


class EmbeddedAws(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose WSGI app is a :class:`SerialisedApp`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5000) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self.app = SerialisedApp(DomainDispatcherApplication(create_backend_app))
        self._error: BaseException | None = None

    def _server_entry(self) -> None:
        # Same as ThreadedMotoServer._server_entry, with our app; a bind error is kept and
        # re-raised by start() instead of leaving start() waiting for ever.
        try:
            self._server = make_server(
                self._ip_address, self._port, self.app, True, request_handler=MotoRequestHandler
            )
        except BaseException as exc:
            self._error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        speed_up_moto()
        # werkzeug logs every request at INFO on its own handler unless its logger has a level.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        super().start()
        if self._error is not None:
            thread = self._thread
            if thread is not None:
                thread.join()
            # werkzeug reports a port in use by printing a message and raising SystemExit(1).
            reason = "in use" if isinstance(self._error, SystemExit) else str(self._error)
            raise OSError(f"cannot start the AWS endpoint on port {self._port}: {reason}")

    def stop(self) -> None:
        server = self._server
        super().stop()
        if server is not None:
            server.server_close()  # release the port now, not at garbage collection

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"


def share_stream_history() -> None:
    """Make moto's transactions cost what the table holds, not what it ever streamed.

    moto deep-copies a table before every item of a ``TransactWriteItems`` (its rollback copy),
    and the copy included every stream record the table ever emitted, so each publish got slower
    than the last (half a second per transaction after one sample-site upload). Stream records
    never change once written, so the copy may share them: the rollback still restores the
    record list as it was, which is all a rollback needs.
    """
    from moto.dynamodb.models.table import StreamShard

    if getattr(StreamShard, "_chainpress_shared_history", False):
        return

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        clone = copy.copy(self)
        memo[id(self)] = clone
        clone.table = copy.deepcopy(self.table, memo)
        clone.items = list(self.items)
        return clone

    setattr(StreamShard, "__deepcopy__", __deepcopy__)  # noqa: B010 - moto has no such slot
    setattr(StreamShard, "_chainpress_shared_history", True)  # noqa: B010


class _CopyModule:
    """Stands in for the ``copy`` module inside ``moto.dynamodb.models``: inside a transaction
    (per thread) a table is not copied at all (``transact_write_items`` below keeps copies of
    the items the transaction names instead); everywhere else it is ``copy`` itself."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = False

    def deepcopy(self, obj: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(self._local, "active", False) and type(obj).__name__ == "Table":
            return obj  # moto's "backup"; it is put back on failure, which changes nothing
        return copy.deepcopy(obj, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


_Saved = tuple[list[tuple[Any, Any, Any, Any]], dict[int, tuple[Any, int]]]


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> _Saved | None:
    """Copies of the items a transaction names (None where absent) and each table's stream
    length; None when the request is malformed (moto refuses it before writing anything)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    items: list[tuple[Any, Any, Any, Any]] = []
    streams: dict[int, tuple[Any, int]] = {}
    try:
        for entry in transact_items:
            (kind, op), *_ = entry.items()
            table = backend.tables[op["TableName"]]
            key = op["Item"] if kind == "Put" else op["Key"]
            hash_value = DynamoType(key[table.hash_key_attr])
            if table.range_key_attr:
                range_value = DynamoType(key[table.range_key_attr])
                old = table.items.get(hash_value, {}).get(range_value)
            else:
                range_value = None
                old = table.items.get(hash_value)
            items.append((table, hash_value, range_value, copy.deepcopy(old)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table, len(table.stream_shard.items)))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return items, streams


def _restore(saved: _Saved) -> None:
    items, streams = saved
    for table, hash_value, range_value, old in reversed(items):
        if table.range_key_attr:
            partition = table.items[hash_value]
            if old is None:
                partition.pop(range_value, None)
                if not partition:
                    del table.items[hash_value]
            else:
                partition[range_value] = old
        elif old is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = old
    for table, length in streams.values():
        del table.stream_shard.items[length:]


def copy_tables_once_per_transaction() -> None:
    """moto deep-copies a whole table once per *item* of a transaction, to roll a cancelled
    one back (O(table) per request: seconds per publish in a large table). Keep copies of the
    items the transaction names, and the stream's length, and put those back instead."""
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_chainpress_patched", False):
        return
    stand_in = _CopyModule()
    # Installed once and for good (never swapped per call, which would race between threads).
    original.__globals__["copy"] = stand_in

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched(self, transact_items)
        if saved is None:
            original(self, transact_items)  # refused before any write: nothing to roll back
            return
        with stand_in.transaction():
            try:
                original(self, transact_items)
            except BaseException:
                _restore(saved)
                raise

    setattr(transact_write_items, "_chainpress_patched", True)  # noqa: B010
    setattr(DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010


def query_reads_one_partition() -> None:
    """A base-table Query of moto 5.2 sorts every item of the table and keeps those of the one
    partition asked for: hand it that partition alone (it still sorts it by range key)."""
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    if getattr(original_query, "_chainpress_patched", False):
        return
    original_all_items = Table.all_items
    local = threading.local()

    def all_items(self: Any) -> Any:
        partition = getattr(local, "partition", None)
        if partition is not None and partition[0] is self:
            return list(self.items.get(partition[1], {}).values())
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None or not self.range_key_attr:
            return original_query(self, hash_key, *args, **kwargs)
        local.partition = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            local.partition = None

    setattr(query, "_chainpress_patched", True)  # noqa: B010
    setattr(Table, "all_items", all_items)  # noqa: B010
    setattr(Table, "query", query)  # noqa: B010


def speed_up_moto() -> None:
    """Install the three moto speed fixes (idempotent, process-wide)."""
    share_stream_history()
    copy_tables_once_per_transaction()
    query_reads_one_partition()


def is_bucket_write(environ: Environ, bucket: str, prefixes: tuple[str, ...] = ()) -> bool:
    """Does this request change objects in ``bucket`` (path-style or virtual-hosted), under one
    of ``prefixes`` when the key can be told from the URL (a batch delete always counts)?"""
    if environ.get("REQUEST_METHOD") not in {"PUT", "POST", "DELETE"}:
        return False
    host = str(environ.get("HTTP_HOST", ""))
    path = str(environ.get("PATH_INFO", ""))
    if host.startswith(f"{bucket}."):
        key = path.lstrip("/")
    elif path == f"/{bucket}" or path.startswith(f"/{bucket}/"):
        key = path[len(bucket) + 2 :]
    else:
        return False
    key = unquote(key)
    return not (key and prefixes) or key.startswith(prefixes)


_DYNAMODB_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


def is_dynamodb_write(environ: Environ) -> bool:
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if not target.startswith("DynamoDB_"):
        return False
    operation = target.partition(".")[2]
    return not (operation in _DYNAMODB_READS or operation.startswith(("Describe", "List")))


_SQS_WAKE = {"SendMessage", "SendMessageBatch", "ChangeMessageVisibility",
             "ChangeMessageVisibilityBatch", "StartMessageMoveTask"}  # fmt: skip


def is_sqs_send(environ: Environ) -> bool:
    """A request that makes messages visible in a queue (botocore speaks SQS's JSON protocol)."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    return target.startswith("AmazonSQS.") and target.partition(".")[2] in _SQS_WAKE


def aws_environment(endpoint: str) -> dict[str, str]:
    """What every boto3 client in the process needs to talk to the embedded endpoint."""
    no_proxy = os.environ.get("NO_PROXY", os.environ.get("no_proxy", ""))
    local = "127.0.0.1,localhost"
    return {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # moto's DynamoDB Streams fail with account-ID based endpoints (AWS-NOTES.md).
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        # An HTTP(S)_PROXY in the developer's shell must not capture calls to 127.0.0.1.
        "NO_PROXY": f"{no_proxy},{local}" if no_proxy else local,
        "no_proxy": f"{no_proxy},{local}" if no_proxy else local,
    }
