"""``make dev``: the whole site on an embedded AWS, wired the way template.yaml wires production.

    python -m chainpress_dev.local.stack [--content-dir DIR] [--port 8080] [--aws-port 5000]

What runs (all in this process):

1. moto's server on ``127.0.0.1:AWS_PORT`` (5000), requests serialised (see ``endpoint.py``);
   the process environment points every boto3 client at it (fake credentials, us-east-1).
2. The buckets and tables of template.yaml, created by ``chainpress_dev.local.template``.
3. The functions of template.yaml, loaded from ``functions/<name>/app.py``, and their triggers:
   content-bucket S3 events (``s3events.py``), the articles table's stream (``streams.py``), the
   re-render work queue (``sqs.py``), the schedule (every ``--trending-interval`` seconds, and
   once after the first publish).
4. A CloudFront stand-in on ``127.0.0.1:PORT`` (8080) for the site bucket and ``/api/*``.
5. The content folder (``CONTENT_DIR``, default: the bundled sample site) uploaded to the
   content bucket, then watched: a saved file is in the bucket within about a second.

:class:`LocalStack` is the same thing as an object (``start``/``wait_idle``/``stop``), for tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import chainpress
from chainpress.aws import clients as shared_clients
from chainpress_dev.local import endpoint as aws_endpoint
from chainpress_dev.local.cdn import (
    Edge,
    SiteServer,
    api_origin_headers,
    api_routes,
    behaviour_headers,
    custom_headers,
    security_headers,
)
from chainpress_dev.local.functions import LocalFunction, function_environment, function_setting
from chainpress_dev.local.plumbing import AsyncInvoker, Poller
from chainpress_dev.local.s3events import BucketNotifications
from chainpress_dev.local.sqs import SqsEventSource
from chainpress_dev.local.streams import StreamEventSource, stream_settings
from chainpress_dev.local.template import (
    FUNCTION,
    S3Subscription,
    create_resources,
    load_template,
    resources_of_type,
    s3_subscriptions,
    secret_value,
    sqs_subscriptions,
)
from chainpress_dev.local.watcher import SETTINGS_FILE, ContentSync

STATUS_PREFIX = "_status/"


def repository_root() -> Path:
    """The checkout this package is installed from (editable install: layers/chainpress/...)."""
    return Path(chainpress.__file__).resolve().parents[3]


@dataclasses.dataclass
class StackConfig:
    root: Path = dataclasses.field(default_factory=repository_root)
    content_dir: Path | None = None  # None: start with empty buckets
    host: str = "127.0.0.1"
    port: int = 8080
    aws_port: int = 5000
    watch: bool = True
    trending_interval: float = 60.0
    batching_window: float = 0.5  # the template's window is for production traffic
    log_level: str = "WARNING"  # the functions' LOG_LEVEL (their JSON logs go to stdout)
    log_requests: bool = False

    @property
    def template_path(self) -> Path:
        return self.root / "template.yaml"


class StackError(RuntimeError):
    """The stack cannot start (port taken, template or handler missing, ...)."""


def scheduled_event(rule: str, schedule: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a schedule sends the function: its constant ``Input`` when the template gives one
    (EventBridge then sends that JSON instead of the event), else the scheduled event."""
    constant = (schedule or {}).get("Properties", {}).get("Input")
    if isinstance(constant, str):
        answer: dict[str, Any] = json.loads(constant)
        return answer
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    region, account = aws_endpoint.REGION, aws_endpoint.ACCOUNT_ID
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": now,
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }


class _Timer(threading.Thread):
    def __init__(self, interval: float, action: Callable[[], None]) -> None:
        super().__init__(name="schedule", daemon=True)
        self.interval = interval
        self.action = action
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.action()


class LocalStack:
    def __init__(self, config: StackConfig | None = None, out: TextIO | None = None) -> None:
        self.config = config or StackConfig()
        self.out = out or sys.stdout
        self.started = False
        self.names: dict[str, str] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.template: dict[str, Any] = {}
        self._say_lock = threading.Lock()
        self._aws: aws_endpoint.EmbeddedAws | None = None
        self._saved_env: dict[str, str | None] = {}
        self._invokers: dict[str, AsyncInvoker] = {}
        self._pollers: list[Poller] = []
        self._edge: SiteServer | None = None
        self._sync: ContentSync | None = None
        self._timers: list[_Timer] = []
        self._announce = False
        self._clients: dict[str, Any] = {}
        self.startup_seconds = 0.0

    # ------------------------------------------------------------------ addresses

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.config.host}:{self.config.aws_port}"

    @property
    def site_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def content_bucket(self) -> str:
        return self.names["ContentBucket"]

    @property
    def site_bucket(self) -> str:
        return self.names["SiteBucket"]

    def client(self, service: str) -> Any:
        """A boto3 client of the embedded endpoint, independent of the process environment."""
        if service not in self._clients:
            self._clients[service] = boto3.session.Session().client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=aws_endpoint.REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
                config=Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 3}),
            )
        return self._clients[service]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        began = time.monotonic()
        config = self.config
        if not config.template_path.is_file():
            raise StackError(f"no template.yaml at {config.root}")
        self.template = load_template(config.template_path)

        self._aws = aws_endpoint.EmbeddedAws(config.host, config.aws_port)
        try:
            self._aws.start()
        except OSError as exc:
            self._aws = None
            raise StackError(f"{exc} (set AWS_PORT to use another port)") from exc
        self.names = create_resources(
            self.client("s3"),
            self.client("dynamodb"),
            self.template,
            sqs_client=self.client("sqs"),
            secrets_client=self.client("secretsmanager"),
        )
        self._set_environment()
        self._load_functions()
        self._wire_events()
        self._start_edge()
        self.started = True

        if config.content_dir is not None:
            self.publish_folder(config.content_dir)
        self._start_schedules()
        if config.content_dir is not None and config.watch and self._sync is not None:
            self._sync.start_watching()
        self._announce = True
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop everything that was started, newest first; safe to call more than once."""
        self._announce = False
        if self._sync is not None:
            self._sync.stop()
            self._sync = None
        for timer in self._timers:
            timer.halt.set()
            timer.join(timeout=10)
        self._timers = []
        for poller in self._pollers:
            poller.stop()
        self._pollers = []
        for invoker in self._invokers.values():
            invoker.stop()
        self._invokers = {}
        if self._edge is not None:
            self._edge.stop()
            self._edge = None
        for function in self.functions.values():
            function.unload()
        self.functions = {}
        # Handler modules hold warm-container state (clients, thread pools); collecting them
        # now lets such pools see they are gone and end their threads.
        gc.collect()
        if self._aws is not None:
            self._aws.stop()
            self._aws = None
        self._clients = {}
        self._restore_environment()
        self.started = False

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ environment

    def _overrides(self) -> dict[str, str]:
        """Values of the functions' variables that only CloudFormation could compute."""
        return {
            "CONTENT_BUCKET": self.names["ContentBucket"],
            "SITE_BUCKET": self.names["SiteBucket"],
            "ARTICLES_TABLE": self.names["ArticlesTable"],
            "VIEWS_TABLE": self.names["ViewsTable"],
            "DISTRIBUTION_ID": "",  # no CloudFront here: nothing to invalidate
            "SITE_ORIGIN": self.site_url,
            "LOG_LEVEL": self.config.log_level,
            # No X-Ray daemon locally (and the handlers then skip the Tracer's cold start).
            "POWERTOOLS_TRACE_DISABLED": "true",
            # IndexNow stays off unless the shell sets both a key and an endpoint (a local
            # stand-in: README, "IndexNow"): never a real engine by default.
            **(
                {name: os.environ[name] for name in ("INDEXNOW_KEY", "INDEXNOW_ENDPOINT")}
                if os.environ.get("INDEXNOW_KEY") and os.environ.get("INDEXNOW_ENDPOINT")
                else {}
            ),
        }

    def _set_environment(self) -> None:
        overrides = self._overrides()
        env = aws_endpoint.aws_environment(self.endpoint_url)
        env.update(
            {
                # No CloudWatch locally: metrics would only be noise on stdout.
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        for logical_id in resources_of_type(self.template, FUNCTION):
            own = function_environment(self.template, logical_id, self.names, overrides)
            # The service name differs per function: it is set while each one is imported.
            env.update({k: v for k, v in own.items() if k != "POWERTOOLS_SERVICE_NAME"})
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        self._saved_env.setdefault("AWS_PROFILE", os.environ.get("AWS_PROFILE"))
        os.environ.pop("AWS_PROFILE", None)  # a profile must not shadow the fake credentials
        shared_clients.reset()  # the functions' clients must be built for this endpoint

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        shared_clients.reset()

    # ------------------------------------------------------------------ functions and events

    def _load_functions(self) -> None:
        overrides = self._overrides()
        for logical_id, resource in resources_of_type(self.template, FUNCTION).items():
            props = resource.get("Properties", {})
            source = self.config.root / str(props.get("CodeUri", ""))
            function = LocalFunction(
                logical_id,
                source,
                function_environment(self.template, logical_id, self.names, overrides),
                memory_mb=int(function_setting(self.template, logical_id, "MemorySize", 128)),
                timeout_s=int(function_setting(self.template, logical_id, "Timeout", 3)),
            )
            handler = str(function_setting(self.template, logical_id, "Handler", ""))
            try:
                function.load(handler)
            except FileNotFoundError as exc:
                self.say(f"WARNING: {exc}; its events are dropped")
                continue
            self.functions[logical_id] = function

    def _wire_events(self) -> None:
        report = self.say
        for logical_id, resource in resources_of_type(self.template, FUNCTION).items():
            events = resource.get("Properties", {}).get("Events", {})
            if logical_id not in self.functions or not any(
                e.get("Type") in {"S3", "Schedule"} for e in events.values()
            ):
                continue
            retries = resource["Properties"].get("EventInvokeConfig", {})
            self._invokers[logical_id] = AsyncInvoker(
                self.functions[logical_id],
                report,
                retries=int(retries.get("MaximumRetryAttempts", 2)),
                after=self._after_invoke,
                describe=_describe_event,
            )

        subscriptions = s3_subscriptions(self.template)
        for bucket_id in sorted({s.bucket for s in subscriptions}):
            self._pollers.append(
                BucketNotifications(
                    self.client("s3"),
                    self.names[bucket_id],
                    bucket_id,
                    subscriptions,
                    self._deliver_s3,
                    report,
                )
            )
        for logical_id, resource in resources_of_type(self.template, FUNCTION).items():
            if logical_id not in self.functions:
                continue
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") != "DynamoDB":
                    continue
                stream = event["Properties"]["Stream"]
                table_id = stream["Fn::GetAtt"][0] if isinstance(stream, dict) else ""
                if table_id not in self.names:
                    raise StackError(f"{logical_id}: cannot find the table of stream {stream!r}")
                self._pollers.append(
                    StreamEventSource(
                        self.client("dynamodb"),
                        self.client("dynamodbstreams"),
                        self.names[table_id],
                        self.functions[logical_id],
                        stream_settings(
                            self.template, logical_id, batching_window=self.config.batching_window
                        ),
                        report,
                        on_batch=self._after_batch(logical_id),
                    )
                )

        for subscription in sqs_subscriptions(self.template):
            if subscription.function not in self.functions:
                continue
            self._pollers.append(
                SqsEventSource(
                    self.client("sqs"),
                    self.names[subscription.queue],
                    self.functions[subscription.function],
                    subscription,
                    report,
                )
            )

        assert self._aws is not None
        doorbells = [p for p in self._pollers if isinstance(p, BucketNotifications)]
        stream_bells = [p for p in self._pollers if isinstance(p, StreamEventSource)]
        queue_bells = [p for p in self._pollers if isinstance(p, SqsEventSource)]

        def ring(environ: dict[str, Any]) -> None:
            for poller in doorbells:
                # Only subscribed keys: the publish function's own _status/ writes stay quiet.
                if aws_endpoint.is_bucket_write(environ, poller.bucket, tuple(poller.prefixes)):
                    poller.doorbell.ring()
            if aws_endpoint.is_dynamodb_write(environ):
                for source in stream_bells:
                    source.doorbell.ring()
            if aws_endpoint.is_sqs_send(environ):
                for queue in queue_bells:
                    queue.doorbell.ring()

        self._aws.app.add_listener(ring)
        for invoker in self._invokers.values():
            invoker.start()
        for poller in self._pollers:
            poller.start()

    def _deliver_s3(self, subscription: S3Subscription, event: dict[str, Any]) -> None:
        invoker = self._invokers.get(subscription.function)
        if invoker is None:
            self.say(f"WARNING: no {subscription.function} to deliver {_describe_event(event)}")
            return
        invoker.submit(event)

    def _after_invoke(self, event: dict[str, Any], result: Any, seconds: float) -> None:
        """Once the stack is up, show each publish report as the editor would read it, and
        each scheduled run."""
        if not self._announce:
            return
        if event.get("detail-type") == "Scheduled Event":
            self.say(f"schedule  {event['resources'][0].rsplit('/', 1)[-1]} ran in {seconds:.1f} s")
            if isinstance(result, Mapping) and result.get("published"):
                self.say(f"schedule  published {', '.join(map(str, result['published']))}")
            return
        for record in event.get("Records", []):
            key = _decoded_key(record)
            report = self.read_report(key)
            if report is not None:
                self.say(format_report(report, self.site_url))

    def _after_batch(self, logical_id: str) -> Callable[[int, float], None]:
        name = logical_id.removesuffix("Function").lower()

        def report(records: int, seconds: float) -> None:
            if self._announce:
                self.say(f"{name:<8} {records} stream record(s) in {seconds:.1f} s")

        return report

    def _start_edge(self) -> None:
        routes = [
            (route, self.functions[fid])
            for route, fid in api_routes(self.template)
            if fid in self.functions
        ]
        edge = Edge(
            self.client("s3"),
            self.names["SiteBucket"],
            routes,
            security_headers(self.template),
            self.say,
            cors_origins=[self.site_url],
            log_requests=self.config.log_requests,
            behaviours=behaviour_headers(self.template),
            origin_headers=api_origin_headers(
                self.template,
                lambda arn: secret_value(self.client("secretsmanager"), arn),
                self.names,
            ),
            preview_headers=custom_headers(self.template, "/preview/*"),
        )
        try:
            self._edge = SiteServer(self.config.host, self.config.port, edge)
        except OSError as exc:
            raise StackError(
                f"cannot serve the site on port {self.config.port}: {exc} (set PORT to use another)"
            ) from exc
        self._edge.start()

    def _start_schedules(self) -> None:
        started: list[AsyncInvoker] = []
        for logical_id, resource in resources_of_type(self.template, FUNCTION).items():
            invoker = self._invokers.get(logical_id)
            if invoker is None:
                continue
            for name, event in resource.get("Properties", {}).get("Events", {}).items():
                if event.get("Type") != "Schedule":
                    continue
                rule = f"chainpress-local-{logical_id}-{name}"
                # Once now (after the first publish: due articles and hot lists at once), then
                # on the local interval instead of the template's rate.
                invoker.submit(scheduled_event(rule, event))
                started.append(invoker)
                timer = _Timer(self.config.trending_interval, self._tick(invoker, rule, event))
                timer.start()
                self._timers.append(timer)
        # The first runs are awaited (a few seconds against moto): every page links /hot/,
        # which the trending run writes, so the site is not announced before it exists.
        deadline = time.monotonic() + 120
        while any(invoker.busy() for invoker in started) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _tick(
        self, invoker: AsyncInvoker, rule: str, schedule: Mapping[str, Any]
    ) -> Callable[[], None]:
        def tick() -> None:
            # A run still going when the next one is due is not doubled up locally: runs are
            # idempotent, and two at once would only slow the endpoint down.
            if not invoker.busy():
                invoker.submit(scheduled_event(rule, schedule))

        return tick

    # ------------------------------------------------------------------ content

    def publish_folder(self, folder: Path) -> None:
        """Upload a content folder (settings and theme first) and wait for the site to be built."""
        folder = folder.resolve()
        if not folder.is_dir():
            raise StackError(f"content folder {folder} does not exist")
        self._sync = ContentSync(self.client("s3"), self.content_bucket, folder, self.say)
        keys = self._sync.files()
        first = [k for k in keys if k == SETTINGS_FILE or k.startswith("theme/")]
        rest = [k for k in keys if k not in first]
        self.say(f"Publishing {len(keys)} files from {folder} to s3://{self.content_bucket}")
        total = len(keys)
        count = 0

        def progress(_: int, __: int, key: str) -> None:
            nonlocal count
            count += 1
            self.say(f"  [{count:>3}/{total}] {key}")

        # Settings first and applied before anything else, so no page is built with defaults.
        self._sync.upload_all(first, progress)
        self.wait_idle()
        streams = [p for p in self._pollers if isinstance(p, StreamEventSource)]
        for stream in streams:
            stream.hold()
        try:
            self._sync.upload_all(rest, progress)
            began = time.monotonic()
            self.wait_idle(timeout=300, streams=False)
        finally:
            for stream in streams:
                stream.release()
        if not self.wait_idle(timeout=300):
            self.say("WARNING: the site was still being built after 300 s")
        self.say(f"Site built ({time.monotonic() - began:.1f} s after the last upload)")
        self._summarise(rest + first)

    def read_report(self, key: str) -> dict[str, Any] | None:
        """The publish report of a source key (``_status/<key>.json``), if there is one."""
        try:
            obj = self.client("s3").get_object(
                Bucket=self.content_bucket, Key=f"{STATUS_PREFIX}{key}.json"
            )
        except ClientError:
            return None
        try:
            data = json.loads(obj["Body"].read())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _summarise(self, keys: list[str]) -> None:
        counts: dict[str, int] = {}
        for key in keys:
            report = self.read_report(key)
            if report is None:
                continue
            status = str(report.get("status", "?"))
            counts[status] = counts.get(status, 0) + 1
            if status in {"error", "draft", "scheduled", "pending"} or report.get("warnings"):
                self.say(format_report(report, self.site_url))
        if counts:
            self.say("Reports: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))

    # ------------------------------------------------------------------ idleness

    def _watched(self, streams: bool) -> list[Poller]:
        return [p for p in self._pollers if streams or not isinstance(p, StreamEventSource)]

    def _busy(self, streams: bool = True) -> bool:
        return (
            any(invoker.busy() for invoker in self._invokers.values())
            or any(poller.busy() for poller in self._watched(streams))
            or (self._sync is not None and self._sync.busy())
        )

    def _activity(self, streams: bool = True) -> tuple[int, ...]:
        pollers = self._watched(streams)
        return (
            *(invoker.function.invocations for invoker in self._invokers.values()),
            *(getattr(poller, "events", 0) for poller in pollers),
            *(getattr(poller, "records_seen", 0) for poller in pollers),
            self._sync.changes if self._sync is not None else 0,
        )

    def wait_idle(self, timeout: float = 60.0, *, streams: bool = True) -> bool:
        """Wait until every upload is published and the stream is drained into the rebuild
        (with ``streams=False``: until every upload is published).

        Idle means: nothing queued or running, and a fresh poll of the bucket and of the stream,
        started after everything was quiet, found nothing new.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._busy(streams):
                time.sleep(0.05)
                continue
            before = self._activity(streams)
            marks = [(poller, poller.passes) for poller in self._watched(streams)]
            for poller, _ in marks:
                poller.doorbell.ring()
            for poller, mark in marks:
                # +2: the poll running at the mark may have started before the last change.
                if not poller.wait_passes(mark + 2, max(0.0, deadline - time.monotonic())):
                    return False
            if not self._busy(streams) and self._activity(streams) == before:
                return True
        return False

    # ------------------------------------------------------------------ console

    def say(self, message: str) -> None:
        with self._say_lock:
            print(message, file=self.out, flush=True)

    def banner(self) -> str:
        folder = self.config.content_dir
        watching = f"watching {folder}" if folder and self.config.watch else "not watching"
        return "\n".join(
            [
                f"chainpress local stack ready in {self.startup_seconds:.1f} s",
                f"  site           {self.site_url}/",
                f"  AWS endpoint   {self.endpoint_url}  (any credentials; region "
                f"{aws_endpoint.REGION})",
                f"  content bucket s3://{self.content_bucket}  ({watching})",
                f"  site bucket    s3://{self.site_bucket}",
                f"  tables         {self.names['ArticlesTable']}, {self.names['ViewsTable']}",
                f"  upload         aws --endpoint-url {self.endpoint_url} s3 cp my.md "
                f"s3://{self.content_bucket}/articles/2025/my.md",
                f"  report         aws --endpoint-url {self.endpoint_url} s3 cp "
                f"s3://{self.content_bucket}/{STATUS_PREFIX}articles/2025/my.md.json -",
                "Press Ctrl-C to stop.",
            ]
        )


def _decoded_key(record: Mapping[str, Any]) -> str:
    return unquote_plus(str(record.get("s3", {}).get("object", {}).get("key", "")))


def _describe_event(event: Mapping[str, Any]) -> str:
    records = event.get("Records")
    if isinstance(records, list) and records:
        first = records[0]
        return f"{first.get('eventName', '?')} {_decoded_key(first)}"
    return str(event.get("detail-type", "event"))


def format_report(report: Mapping[str, Any], site_url: str) -> str:
    """One console line for a publish report."""
    key = str(report.get("key", "?"))
    status = str(report.get("status", "?"))
    line = f"publish  {status:<9} {key}"
    url = str(report.get("url") or "")
    if url and status in {"published", "scheduled"}:
        line += f"  ->  {site_url}{url}" if url.startswith("/") else f"  ->  {url}"
    preview = str(report.get("preview_url") or "")
    if preview:
        line += f"  preview: {site_url}{preview}"
    error = report.get("error")
    if isinstance(error, Mapping) and error.get("message"):
        where = f"line {error['line']}: " if error.get("line") else ""
        line += f"  ({where}{error['message']})"
    elif isinstance(error, str) and error:
        line += f"  ({error})"
    errors = report.get("errors")
    if isinstance(errors, list) and len(errors) > 1:
        line += f" and {len(errors) - 1} more error(s)"
    warnings = report.get("warnings")
    if isinstance(warnings, list) and warnings and isinstance(warnings[0], Mapping):
        first = warnings[0]
        where = f"line {first['line']}: " if first.get("line") else ""
        more = f" (+{len(warnings) - 1} more)" if len(warnings) > 1 else ""
        line += f"  [warning: {where}{first.get('message', '')}{more}]"
    return line


# ---------------------------------------------------------------------- command line


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a port number, not {value!r}") from None


def parse_args(argv: list[str] | None) -> StackConfig:
    root = repository_root()
    parser = argparse.ArgumentParser(
        prog="chainpress dev",
        description="Run the whole site locally on an embedded AWS (moto).",
    )
    parser.add_argument(
        "--content-dir",
        type=Path,
        default=Path(os.environ.get("CONTENT_DIR") or root / "samples" / "blockchain-circle"),
        help="content folder to publish and watch (env CONTENT_DIR; default: the sample site)",
    )
    parser.add_argument("--empty", action="store_true", help="start with empty buckets")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=_env_int("PORT", 8080), help="site port (env PORT)"
    )
    parser.add_argument(
        "--aws-port",
        type=int,
        default=_env_int("AWS_PORT", 5000),
        help="embedded AWS endpoint port (env AWS_PORT)",
    )
    parser.add_argument("--no-watch", action="store_true", help="do not watch the folder")
    parser.add_argument(
        "--trending-interval",
        type=float,
        default=60.0,
        help="seconds between scheduled (trending) runs",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "WARNING"),
        help="the functions' LOG_LEVEL (default WARNING; INFO shows every publish log)",
    )
    parser.add_argument("--access-log", action="store_true", help="print every site request")
    args = parser.parse_args(argv)
    return StackConfig(
        root=root,
        content_dir=None if args.empty else args.content_dir,
        host=args.host,
        port=args.port,
        aws_port=args.aws_port,
        watch=not args.no_watch,
        trending_interval=args.trending_interval,
        log_level=str(args.log_level).upper(),
        log_requests=args.access_log,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    stack = LocalStack(config)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        stopping.set()
        if not stack.started or not stack.startup_seconds:
            raise KeyboardInterrupt  # abort a start in progress
        stack.say(f"\n{signal.Signals(signum).name}: stopping")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            stack.start()
        except KeyboardInterrupt:
            stack.say("Interrupted while starting: stopping")
            return 0
        except StackError as exc:
            stack.say(f"error: {exc}")
            return 1
        stack.say(stack.banner())
        while not stopping.wait(0.5):
            pass
        return 0
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stack.say("Stopped.")


if __name__ == "__main__":
    raise SystemExit(main())
