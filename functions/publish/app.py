"""Publish function: content-bucket S3 events -> ``chainpress.publishing.publish_event``.

Thin on purpose: decode each record, wire the ports from the environment, call the use case,
log the outcome and count it. Everything else (routing, validation, rendering, ordering) is in
the pure core, tested without AWS.

Cold start: only Powertools is imported here. The core (Jinja2, Markdown, YAML) and boto3 are
imported on the first call, inside the call path, so importing the module stays cheap and moto
can intercept the clients in tests.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from chainpress.preview import PreviewSigner
    from chainpress.publishing import PublishOutcome, PublishPorts, SourceEvent

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "chainpress"))


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    # The s3:TestEvent sent when a notification is configured has no records.
    records = list(event.records) if "Records" in event.raw_event else []
    outcomes, failure = _publish(records) if records else ([], None)
    _count(outcomes)
    if failure is not None:
        raise failure  # an AWS error: Lambda retries the event
    return {"records": len(outcomes), "outcomes": [_summary(o) for o in outcomes]}


def _publish(records: list[S3EventRecord]) -> tuple[list[PublishOutcome], Exception | None]:
    from chainpress.publishing import publish_event

    ports = _ports()
    now = dt.datetime.now(dt.UTC)
    outcomes: list[PublishOutcome] = []
    failure: Exception | None = None
    for record in records:
        source = _source_event(record)
        try:
            outcome = publish_event(source, ports, now)
        except Exception as exc:
            # Keep going: the other records are applied now, and Lambda's retry of the whole
            # event re-applies them as no-ops (same sequencer, identical bytes).
            logger.exception("publish failed", extra=_fields(source))
            failure = failure or exc
            continue
        _log(source, outcome)
        outcomes.append(outcome)
    return outcomes, failure


def _ports() -> PublishPorts:
    from chainpress.aws import clients
    from chainpress.aws.articles import DynamoArticleStore
    from chainpress.aws.invalidations import DynamoInvalidationQueue
    from chainpress.aws.s3 import S3ContentSource, S3SiteWriter
    from chainpress.publishing import PublishPorts

    s3 = clients.s3()
    table = os.environ["ARTICLES_TABLE"]
    # With a CDN, pages of articles that were live are recorded as pending invalidation before
    # they change (the rebuild function sends the requests).
    cdn = bool(os.environ.get("DISTRIBUTION_ID", "").strip())
    return PublishPorts(
        content=S3ContentSource(os.environ["CONTENT_BUCKET"], s3),
        site=S3SiteWriter(os.environ["SITE_BUCKET"], s3),
        store=DynamoArticleStore(table, clients.dynamodb()),
        invalidations=DynamoInvalidationQueue(table, clients.dynamodb()) if cdn else None,
        preview=_preview_signer(),
    )


def _preview_signer() -> PreviewSigner | None:
    """Signs draft previews with the key in PREVIEW_KEY_SECRET (Secrets Manager; read once per
    container). Unset: drafts get no preview."""
    from chainpress.aws.secrets import secret_bytes
    from chainpress.preview import DEFAULT_PREVIEW_DAYS, PreviewSigner

    secret = os.environ.get("PREVIEW_KEY_SECRET", "").strip()
    if not secret:
        return None
    days = int(os.environ.get("PREVIEW_DAYS", "").strip() or DEFAULT_PREVIEW_DAYS)
    return PreviewSigner(secret_bytes(secret), days)


def _source_event(record: S3EventRecord) -> SourceEvent:
    from chainpress.model import pad_sequencer
    from chainpress.publishing import SourceEvent

    obj = record.s3.get_object
    # S3Event.object_key decodes only the first record: decode each one ourselves.
    key = unquote_plus(obj.key)
    version_id = obj.version_id or ""
    removed = record.event_name.startswith("ObjectRemoved")
    if record.event_name == "ObjectRemoved:Delete" and version_id:
        # A permanently deleted version (e.g. an old one cleaned up) does not remove the
        # article if the key still has a current version: apply that version instead.
        current = _current_version(record.s3.bucket.name, key)
        if current is not None:
            removed, version_id = False, current
    return SourceEvent(
        key=key,
        version_id=version_id,
        sequencer=pad_sequencer(obj.get("sequencer") or _time_sequencer(record.event_time)),
        kind="removed" if removed else "created",
        size=int(obj.get("size") or 0),
    )


def _current_version(bucket: str, key: str) -> str | None:
    from botocore.exceptions import ClientError

    from chainpress.aws import clients

    try:
        head = clients.s3().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return str(head.get("VersionId") or "")


def _time_sequencer(event_time: str) -> str:
    # Real S3 PUT/DELETE events always carry a sequencer; hand-made ones may not. Event time in
    # microseconds keeps them in order among themselves.
    when = dt.datetime.fromisoformat(event_time.replace("Z", "+00:00"))
    logger.warning("event has no sequencer, ordering by event time", extra={"at": event_time})
    return f"{int(when.timestamp() * 1_000_000):X}"


def _fields(source: SourceEvent) -> dict[str, Any]:
    return {"key": source.key, "version_id": source.version_id, "sequencer": source.sequencer}


def _log(source: SourceEvent, outcome: PublishOutcome) -> None:
    fields = {
        **_fields(source),
        "route": outcome.route,
        "status": outcome.status,
        "slug": outcome.slug,
        "url": outcome.url,
        "error": outcome.error,
        "line": outcome.line,
        "errors": [problem.as_dict() for problem in outcome.errors]
        or ([{"message": outcome.error, "line": outcome.line}] if outcome.error else []),
        "warnings": [warning.as_dict() for warning in outcome.warnings],
        "written": list(outcome.written),
        "deleted": list(outcome.deleted),
        "caught_up": outcome.caught_up,
    }
    if outcome.status == "error":
        logger.warning("publish rejected the upload", extra=fields)
    else:
        logger.info(f"publish {outcome.status}", extra=fields)


def _count(outcomes: list[PublishOutcome]) -> None:
    from chainpress.ports import INTERNAL_PREFIX

    published = sum(o.route == "article" and o.status == "published" for o in outcomes)
    errors = sum(o.status == "error" for o in outcomes)
    # Pages a reader can fetch (not the private bodies): what the CDN may need to refresh.
    pages = sum(not k.startswith(INTERNAL_PREFIX) for o in outcomes for k in o.written)
    metrics.add_metric(name="ArticlesPublished", unit=MetricUnit.Count, value=published)
    metrics.add_metric(name="PublishErrors", unit=MetricUnit.Count, value=errors)
    # Published anyway, but something the editor wrote was not used (unknown fields...).
    warned = sum(bool(o.warnings) for o in outcomes)
    metrics.add_metric(name="PublishWarnings", unit=MetricUnit.Count, value=warned)
    metrics.add_metric(name="PagesWritten", unit=MetricUnit.Count, value=pages)


def _summary(outcome: PublishOutcome) -> dict[str, Any]:
    return {
        "key": outcome.key,
        "status": outcome.status,
        "slug": outcome.slug,
        "url": outcome.url,
        "error": outcome.error,
        "line": outcome.line,
    }


if os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in {"false", "0"}:
    # Tracing costs ~280 ms of cold start: only when the deployment asks for it explicitly
    # (it also needs aws-xray-sdk in the layer).
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer().capture_lambda_handler(lambda_handler)
