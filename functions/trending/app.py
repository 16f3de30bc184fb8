"""Trending (EventBridge schedule, every 5 minutes): a thin handler around
``chainpress.trending.run_trending``: publish due scheduled articles, fold view buckets into hot
lists, render the hot page.

The clock is the wall clock at run time, not the event's ``time``: a retried or late event must
still publish everything that is due by now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chainpress.ports import ArticleStore, SiteWriter, StatusReports
from chainpress.trending import run_trending
from chainpress.views import HotListWriter, ViewBuckets

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "chainpress")


@dataclasses.dataclass(frozen=True, slots=True)
class Ports:
    store: ArticleStore
    buckets: ViewBuckets
    hot_writer: HotListWriter
    writer: SiteWriter
    reports: StatusReports  # the content bucket's _status/ reports (scheduled -> published)


@functools.cache
def ports() -> Ports:
    """Adapters for this warm container, built on first use (moto can intercept them)."""
    from chainpress.aws import clients
    from chainpress.aws.articles import DynamoArticleStore
    from chainpress.aws.s3 import S3ContentSource, S3SiteWriter
    from chainpress.aws.views_store import DynamoHotLists, DynamoViewBuckets

    dynamodb = clients.dynamodb()
    views_table = os.environ["VIEWS_TABLE"]
    return Ports(
        store=DynamoArticleStore(os.environ["ARTICLES_TABLE"], dynamodb),
        buckets=DynamoViewBuckets(views_table, dynamodb),
        hot_writer=DynamoHotLists(views_table, dynamodb),
        writer=S3SiteWriter(os.environ["SITE_BUCKET"], clients.s3()),
        reports=S3ContentSource(os.environ["CONTENT_BUCKET"], clients.s3()),
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    p = ports()
    report = run_trending(
        store=p.store,
        buckets=p.buckets,
        hot_writer=p.hot_writer,
        writer=p.writer,
        reports=p.reports,
        now=now(),
    )
    metrics.add_metric(name="ArticlesPublished", unit=MetricUnit.Count, value=len(report.published))
    logger.info(
        "trending run",
        extra={
            "scheduled_at": event.get("time"),
            "published": list(report.published),
            "skipped": list(report.skipped),
            "hot_lists": report.lists,
            "hot_page_written": report.hot_page_written,
        },
    )
    return {
        "published": list(report.published),
        "skipped": list(report.skipped),
        "hot_lists": report.lists,
        "hot_page_written": report.hot_page_written,
    }
