"""Rebuild function: articles-table stream batches -> ``chainpress.rebuilding``.

Thin on purpose: turn the batch's ``article#`` records into ``(old, new)`` images, wire the
ports from the environment, run ONE rebuild for the whole batch (pages touched by several
records are built once), log and count the outcome. A ``site`` record (settings or theme
override changed) means every page must be re-rendered: that is a fanned-out run on the
re-render work queue (``chainpress.rerender``, ``functions/rerender``), which this function only
starts (one conditional write, one message) before returning, so a stream shard is never held
up by a full re-render; a second trigger while a run is going coalesces into it. An
``article#<slug>`` record with sort key ``relink`` is a cursor an earlier batch left: pages
linking that article still to re-render (``RELINK_LIMIT`` per batch, see rebuilding.py). A
manual ``{"action": "rebuild-all"}`` starts a fanned-out run too; ``{"action":
"rebuild-summaries"}`` (hourly) rebuilds the summary pages here; the schedule's
``{"action": "flush-invalidations"}`` sends the CDN invalidations earlier runs could not.

Failures: Powertools' ``BatchProcessor`` reports partial batch failures. A record whose image
cannot be read fails alone (the others are rebuilt); if the rebuild itself fails, every record
fails, so Lambda retries the batch (rebuilds are level-triggered: a retry is always safe).

Cold start: only Powertools is imported here; the core (Jinja2, theme) and boto3 load on the
first call, inside the call path, so moto can intercept the clients in tests.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from chainpress.indexnow import IndexNow
    from chainpress.model import Article
    from chainpress.rebuilding import RebuildPorts, RebuildReport
    from chainpress.rerender import RerenderPorts

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "chainpress"))
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

ARTICLE_PK = "article#"
ARTICLE_SK = "article"
RELINK_SK = "relink"  # a relink step left for later (rebuilding.py, "No page links ...")
SITE_PK = "site"
ACTIONS = ("rebuild-all", "rebuild-summaries", "flush-invalidations")


class RecordFailed(Exception):
    """Marks a stream record as failed so that Lambda delivers it again."""


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    if action is not None:
        return _manual(str(action), context)
    records = [DynamoDBRecord(raw) for raw in event.get("Records", [])]
    changes, relinks, full, failed = _read(records)
    try:
        if full:
            # The first site record names the run: a retried batch finds the run it started.
            site = next(r for r in records if _pk(r) == SITE_PK)
            _start(f"stream:{_seq(site)}")
        if changes or relinks:
            _run(changes, relinks)
    except Exception:
        logger.exception("rebuild failed: every record of the batch is retried")
        metrics.add_metric(name="RebuildFailures", unit=MetricUnit.Count, value=1)
        failed = {_seq(record) for record in records}

    def check(record: DynamoDBRecord) -> None:
        if _seq(record) in failed:
            raise RecordFailed(_seq(record))

    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=check, processor=processor, context=context
        )
    )
    return response


def _seq(record: DynamoDBRecord) -> str:
    stream = record.dynamodb
    return (stream.sequence_number if stream is not None else None) or record.event_id or ""


def _pk(record: DynamoDBRecord) -> str:
    stream = record.dynamodb
    return str((stream.keys if stream is not None else {}).get("pk", ""))


def _read(
    records: list[DynamoDBRecord],
) -> tuple[list[tuple[Article | None, Article | None]], list[tuple[str, str]], bool, set[str]]:
    """``(old, new)`` article images, relink cursors ``(slug, after)``, whether a full
    rebuild is due, unreadable records."""
    from chainpress.model import Article

    changes: list[tuple[Article | None, Article | None]] = []
    relinks: dict[str, str] = {}
    full = False
    failed: set[str] = set()
    for record in records:
        stream = record.dynamodb
        keys = stream.keys if stream is not None else {}
        pk, sk = str(keys.get("pk", "")), str(keys.get("sk", ARTICLE_SK))
        if pk == SITE_PK:
            full = True
        elif pk.startswith(ARTICLE_PK) and sk == RELINK_SK and stream is not None:
            if stream.new_image:  # a cursor written; its removal (done) needs nothing
                relinks[pk.removeprefix(ARTICLE_PK)] = str(stream.new_image.get("after", ""))
        elif pk.startswith(ARTICLE_PK) and stream is not None:
            try:
                old, new = stream.old_image, stream.new_image
                changes.append(
                    (
                        Article.from_item(old) if old else None,
                        Article.from_item(new) if new else None,
                    )
                )
            except (KeyError, TypeError, ValueError):
                logger.exception("unreadable article record", extra={"pk": pk, "seq": _seq(record)})
                failed.add(_seq(record))
        # Anything else (source#, list#, head#) does not change pages by itself: its article
        # record, written in the same transaction, has its own stream record.
    return changes, sorted(relinks.items()), full, failed


def _run(
    changes: list[tuple[Article | None, Article | None]], relinks: list[tuple[str, str]]
) -> None:
    from chainpress.rebuilding import rebuild_changes

    report = rebuild_changes(changes, _ports(), dt.datetime.now(dt.UTC), relinks=relinks)
    _record(report, records=len(changes) + len(relinks))


def _start(trigger: str) -> dict[str, Any]:
    """Start a full re-render (or coalesce into the running one); returns at once."""
    from chainpress.rerender import start_rerender

    start = start_rerender(_rerender_ports(), trigger, dt.datetime.now(dt.UTC))
    run = start.run
    answer = {
        "run": run.run_id,
        "number": run.number,
        "started": start.started,
        "coalesced": not start.started,
        "state": run.state,
        "done": run.done,
        "total": run.total,
    }
    logger.info("full re-render " + ("started" if start.started else "coalesced"), extra=answer)
    metrics.add_metric(
        name="RerenderRunsStarted" if start.started else "RerenderRunsCoalesced",
        unit=MetricUnit.Count,
        value=1,
    )
    return answer


def _manual(action: str, context: LambdaContext) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    if action == "rebuild-all":
        # The request id is the same on Lambda's retries of an asynchronous invocation.
        return {"action": action, **_start(f"manual:{context.aws_request_id}")}
    from chainpress.rebuilding import flush_invalidations, rebuild_summaries

    if action == "flush-invalidations":
        report = flush_invalidations(_ports())
    else:
        report = rebuild_summaries(_ports(), dt.datetime.now(dt.UTC))
    _record(report, records=0)
    return {
        "action": action,
        "written": len(report.written),
        "deleted": len(report.deleted),
        "unchanged": report.unchanged,
        "invalidated": report.invalidated,
        "deferred": report.deferred,
        "indexnow_sent": report.indexnow.sent,
    }


def _rerender_ports() -> RerenderPorts:
    from chainpress.aws import clients
    from chainpress.aws.queue import SqsWorkQueue
    from chainpress.aws.runs import DynamoRerenderRuns
    from chainpress.rerender import RerenderPorts

    return RerenderPorts(
        rebuild=_ports(),
        runs=DynamoRerenderRuns(os.environ["ARTICLES_TABLE"], clients.dynamodb()),
        queue=SqsWorkQueue(os.environ["RERENDER_QUEUE_URL"], clients.sqs()),
    )


def _ports() -> RebuildPorts:
    from chainpress.aws import clients
    from chainpress.aws.articles import DynamoArticleStore
    from chainpress.aws.cdn import CloudFrontInvalidator
    from chainpress.aws.invalidations import DynamoInvalidationQueue
    from chainpress.aws.s3 import S3SiteWriter
    from chainpress.aws.search import DynamoSearchPostings
    from chainpress.aws.views_store import DynamoHotLists
    from chainpress.invalidation import parse_mode
    from chainpress.rebuilding import (
        DEFAULT_RELINK_LIMIT,
        DEFAULT_WILDCARD_THRESHOLD,
        RebuildPorts,
    )

    distribution = os.environ.get("DISTRIBUTION_ID", "").strip()
    threshold = os.environ.get("INVALIDATION_WILDCARD_THRESHOLD", "").strip()
    relink_limit = os.environ.get("RELINK_LIMIT", "").strip()
    table = os.environ["ARTICLES_TABLE"]
    return RebuildPorts(
        store=DynamoArticleStore(table, clients.dynamodb()),
        site=S3SiteWriter(os.environ["SITE_BUCKET"], clients.s3()),
        hot=DynamoHotLists(os.environ["VIEWS_TABLE"], clients.dynamodb()),
        cdn=CloudFrontInvalidator(distribution, clients.cloudfront()) if distribution else None,
        wildcard_threshold=int(threshold) if threshold else DEFAULT_WILDCARD_THRESHOLD,
        relink_limit=int(relink_limit) if relink_limit else DEFAULT_RELINK_LIMIT,
        invalidations=DynamoInvalidationQueue(table, clients.dynamodb()),
        invalidation_mode=parse_mode(os.environ.get("INVALIDATION_MODE", "")),
        flush_each_batch=_flush_each_batch(os.environ.get("INVALIDATION_FLUSH", "")),
        search=DynamoSearchPostings(table, clients.dynamodb()),
        search_workers=8,
        indexnow=_indexnow(table),
    )


def _indexnow(table: str) -> IndexNow | None:
    """IndexNow when ``INDEXNOW_KEY`` is set (the template's IndexNowKey); a malformed key
    is logged and treated as unset (it must never stop rebuilds)."""
    from chainpress.aws import clients
    from chainpress.aws.invalidations import DynamoInvalidationQueue
    from chainpress.indexnow import DEFAULT_ENDPOINT, PENDING_PK, HttpIndexNow, IndexNow, valid_key

    key = os.environ.get("INDEXNOW_KEY", "").strip()
    if not key:
        return None
    if not valid_key(key):
        logger.error("INDEXNOW_KEY must be 8-128 of a-z A-Z 0-9 -: IndexNow is off")
        return None
    endpoint = os.environ.get("INDEXNOW_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    queue = DynamoInvalidationQueue(table, clients.dynamodb(), partition=PENDING_PK)
    return IndexNow(key=key, sender=HttpIndexNow(endpoint), queue=queue)


def _flush_each_batch(value: str) -> bool:
    """``batch`` (default): each batch sends its invalidations; ``schedule``: only the
    minute schedule does (fewer, larger requests: see README, "What it costs")."""
    choice = value.strip() or "batch"
    if choice not in ("batch", "schedule"):
        raise ValueError(f"INVALIDATION_FLUSH must be batch or schedule, not {value!r}")
    return choice == "batch"


def _record(report: RebuildReport, *, records: int) -> None:
    logger.info(
        "rebuild done",
        extra={
            "full": report.full,
            "records": records,
            "written": report.written[:200],  # a full rebuild may write thousands of keys
            "written_count": len(report.written),
            "deleted": report.deleted[:200],
            "unchanged": report.unchanged,
            "invalidated": report.invalidated,
            "invalidations_deferred": report.deferred,
            "oldest_pending_invalidation_s": report.oldest_pending,
            "cdn_error": report.cdn_error,
            "indexnow_sent": report.indexnow.sent,
            "indexnow_pending": report.indexnow.pending,
            "indexnow_error": report.indexnow.error,
        },
    )
    # IndexNow: URLs the endpoint took, and requests it did not (the URLs stay pending).
    metrics.add_metric(name="IndexNowUrlsSent", unit=MetricUnit.Count, value=report.indexnow.sent)
    metrics.add_metric(
        name="IndexNowFailures", unit=MetricUnit.Count, value=1 if report.indexnow.error else 0
    )
    metrics.add_metric(name="PagesWritten", unit=MetricUnit.Count, value=report.pages_written)
    metrics.add_metric(
        name="PathsInvalidated", unit=MetricUnit.Count, value=len(report.invalidated)
    )
    # Paths the CDN refused this time (sent again by the next batch or the schedule), and how
    # long the oldest of them has waited: the InvalidationBacklogAlarm watches the latter.
    metrics.add_metric(name="InvalidationsDeferred", unit=MetricUnit.Count, value=report.deferred)
    metrics.add_metric(
        name="OldestPendingInvalidation", unit=MetricUnit.Seconds, value=report.oldest_pending
    )


if os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in {"false", "0"}:
    # Tracing costs ~280 ms of cold start: only when the deployment asks for it explicitly.
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer().capture_lambda_handler(lambda_handler)
