"""Rerender function: the work queue of a full re-render (SQS) -> ``chainpress.rerender``.

Thin on purpose: each message is one work item (a chunk of article pages, a range of listing
pages or sitemap shards, a split, or the run's finish); wire the ports from the environment,
run ``handle_item``, log one structured line and emit metrics per item.

Failures: Powertools' ``BatchProcessor`` reports the failed messages (``batchItemFailures``), so
only those are delivered again, after the queue's visibility timeout. On the last attempt
(``ApproximateReceiveCount`` reaching ``RERENDER_MAX_RECEIVES``, the queue's ``maxReceiveCount``)
the item's id is recorded in the run record before the message moves to the dead-letter queue;
redriving the DLQ completes the run (items are idempotent).

Cold start: only Powertools is imported here; the core and boto3 load on the first call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from chainpress.rerender import RerenderPorts

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "chainpress"))
processor = BatchProcessor(event_type=EventType.SQS)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=_item, processor=processor, context=context
        )
    )
    return response


def _item(record: SQSRecord) -> None:
    from chainpress.rerender import handle_item, record_failure

    ports = rerender_ports()
    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        report = handle_item(record.body, ports, dt.datetime.now(dt.UTC))
    except Exception:
        last = attempt >= max_receives()
        logger.exception(
            "re-render item failed",
            extra={"message_id": record.message_id, "attempt": attempt, "last_attempt": last,
                   "item": record.body[:500]},
        )  # fmt: skip
        metrics.add_metric(name="RerenderItemFailures", unit=MetricUnit.Count, value=1)
        if last:
            try:
                record_failure(ports, record.body)
            except Exception:
                logger.exception("could not record the failure in the run record")
        raise
    logger.info(
        "re-render item",
        extra={"message_id": record.message_id, "attempt": attempt, **dataclasses.asdict(report)},
    )
    metrics.add_metric(name="RerenderItems", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RerenderPagesWritten", unit=MetricUnit.Count, value=report.written)
    metrics.add_metric(name="RerenderArticles", unit=MetricUnit.Count, value=report.articles)
    if report.finished:
        metrics.add_metric(name="RerenderRunsFinished", unit=MetricUnit.Count, value=1)


def max_receives() -> int:
    return int(os.environ.get("RERENDER_MAX_RECEIVES", "") or 3)


@functools.cache
def rerender_ports() -> RerenderPorts:
    """Adapters for this warm container, built on first use (moto can intercept them)."""
    return ports_from_environment()


def ports_from_environment() -> RerenderPorts:
    from chainpress.aws import clients
    from chainpress.aws.articles import DynamoArticleStore
    from chainpress.aws.cdn import CloudFrontInvalidator
    from chainpress.aws.invalidations import DynamoInvalidationQueue
    from chainpress.aws.queue import SqsWorkQueue
    from chainpress.aws.runs import DynamoRerenderRuns
    from chainpress.aws.s3 import S3SiteWriter
    from chainpress.aws.views_store import DynamoHotLists
    from chainpress.rebuilding import DEFAULT_WILDCARD_THRESHOLD, RebuildPorts
    from chainpress.rerender import Limits, RerenderPorts

    def number(name: str, default: int) -> int:
        value = os.environ.get(name, "").strip()
        return int(value) if value else default

    defaults = Limits()
    distribution = os.environ.get("DISTRIBUTION_ID", "").strip()
    table = os.environ["ARTICLES_TABLE"]
    return RerenderPorts(
        rebuild=RebuildPorts(
            store=DynamoArticleStore(table, clients.dynamodb()),
            site=S3SiteWriter(os.environ["SITE_BUCKET"], clients.s3()),
            hot=DynamoHotLists(os.environ["VIEWS_TABLE"], clients.dynamodb()),
            cdn=CloudFrontInvalidator(distribution, clients.cloudfront()) if distribution else None,
            wildcard_threshold=number(
                "INVALIDATION_WILDCARD_THRESHOLD", DEFAULT_WILDCARD_THRESHOLD
            ),
            # The run's one "/*" waits here if CloudFront refuses it (the schedule sends it).
            invalidations=DynamoInvalidationQueue(table, clients.dynamodb()),
        ),
        runs=DynamoRerenderRuns(table, clients.dynamodb()),
        queue=SqsWorkQueue(os.environ["RERENDER_QUEUE_URL"], clients.sqs()),
        limits=Limits(
            chunk_articles=number("RERENDER_CHUNK_ARTICLES", defaults.chunk_articles),
            scan_requests=number("RERENDER_SCAN_REQUESTS", defaults.scan_requests),
            scan_items=number("RERENDER_SCAN_ITEMS", defaults.scan_items),
            listing_pages=number("RERENDER_LISTING_PAGES", defaults.listing_pages),
            shards=number("RERENDER_SHARDS", defaults.shards),
            fanout=defaults.fanout,
        ),
    )


if os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in {"false", "0"}:
    # Tracing costs ~280 ms of cold start: only when the deployment asks for it explicitly.
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer().capture_lambda_handler(lambda_handler)
