"""Views API (HTTP API, payload 2.0, behind CloudFront at /api/*): a thin translation layer.

Routes parse the request, call one use case in ``chainpress.views``, and shape the answer.
Every client mistake (malformed slug, too many slugs, unknown window, limit out of range,
wrong method, oversized body) maps to a 4xx JSON error through ``exception_handler``;
only a real fault can be a 5xx (throttling is a 503 the client may retry).

Cold start: boto3 and the DynamoDB adapters are imported on the first request (``ports()``),
not at import time, and there is no Tracer. Request validation (pydantic) is on: measured in
bench/bench_views.py, the whole import stays under 1.5x ``import boto3``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hmac
import os
import re
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from chainpress import views
from chainpress.ports import HotLists

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
    from aws_lambda_powertools.utilities.typing import LambdaContext

# A view POST carries no body; anything bigger than this is not from views.js.
MAX_BODY = 1024

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "chainpress")
app = APIGatewayHttpResolver(
    # Only the site's own origin (empty: same-origin only, through CloudFront). Never "*".
    cors=CORSConfig(allow_origin=os.environ.get("SITE_ORIGIN", ""), max_age=600),
    enable_validation=True,
)

_ROUTES = {  # path pattern -> methods, to tell a wrong method (405) from a wrong path (404)
    re.compile(r"/api/views/[^/]+"): "POST",
    re.compile(r"/api/views"): "GET",
    re.compile(r"/api/hot"): "GET",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Ports:
    counter: views.ViewCounter
    hot: HotLists


@functools.cache
def ports() -> Ports:
    """Adapters for this warm container, built on first use (so moto can intercept them, and
    boto3 is not paid for at import time)."""
    from chainpress.aws import clients
    from chainpress.aws.views_store import DynamoHotLists, DynamoViewCounter

    table = os.environ["VIEWS_TABLE"]
    client = clients.dynamodb()
    return Ports(
        counter=DynamoViewCounter(table, os.environ["ARTICLES_TABLE"], client),
        hot=DynamoHotLists(table, client),
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _json(status: int, body: dict[str, Any], **headers: str) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


def _error(status: int, code: str, message: str, **headers: str) -> Response[dict[str, Any]]:
    return _json(status, {"error": code, "message": message}, **headers)


class PayloadTooLarge(Exception):
    pass


class NotFromCloudFront(Exception):
    """The request lacks CloudFront's ``X-Origin-Verify`` header (the API's own URL)."""


ORIGIN_HEADER = "x-origin-verify"


def origin_secret() -> str:
    """The value CloudFront sends as ``X-Origin-Verify`` (template.yaml ``OriginVerifySecret``),
    read once per container; "" when ``ORIGIN_SECRET_ARN`` is not set (no check)."""
    arn = os.environ.get("ORIGIN_SECRET_ARN", "")
    return _read_secret(arn) if arn else ""


@functools.cache
def _read_secret(arn: str) -> str:
    from chainpress.aws import clients

    return str(clients.secretsmanager().get_secret_value(SecretId=arn)["SecretString"])


def verify_origin(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    expected = origin_secret()
    if expected:
        given = app.current_event.headers.get(ORIGIN_HEADER) or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise NotFromCloudFront
    return next_middleware(app)


def limit_body(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    body = app.current_event.body
    if body is not None and len(body) > MAX_BODY:
        raise PayloadTooLarge
    return next_middleware(app)


app.use(middlewares=[verify_origin, limit_body])


# ---------------------------------------------------------------------------------- routes


@app.post("/api/views/<slug>")
def count_view(slug: str) -> Response[dict[str, Any]]:
    user_agent = app.current_event.headers.get("user-agent")
    result = views.count_view(views.slug_from_path(slug), user_agent, now(), ports().counter)
    metrics.add_metric(
        name="ViewsCounted" if result.counted else "BotViews", unit=MetricUnit.Count, value=1
    )
    body = {"slug": result.slug, "views": result.views, "counted": result.counted}
    return _json(200, body, **{"Cache-Control": "no-store"})


@app.get("/api/views")
def read_views(
    slugs: Annotated[str, Query(min_length=1, max_length=views.MAX_SLUGS * 256)],
) -> Response[dict[str, Any]]:
    totals = views.read_views(slugs, ports().counter)
    return _json(200, {"views": totals}, **{"Cache-Control": "public, max-age=10"})


@app.get("/api/hot")
def read_hot(
    window: Annotated[str, Query(max_length=8)] = "24h",
    category: Annotated[str | None, Query(max_length=views.MAX_CATEGORY_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=views.HOT_SIZE)] = views.DEFAULT_HOT_LIMIT,
) -> Response[dict[str, Any]]:
    window, category, items = views.read_hot(window, category, limit, ports().hot)
    body = {
        "window": window,
        "category": category,
        "items": [dataclasses.asdict(item) for item in items],
    }
    # Lists change every 5 minutes (the trending schedule).
    return _json(200, body, **{"Cache-Control": "public, max-age=60"})


# -------------------------------------------------------------------------- errors -> 4xx


@app.exception_handler(views.InvalidInput)
def bad_input(exc: views.InvalidInput) -> Response[dict[str, Any]]:
    return _error(400, "bad_request", str(exc))


@app.exception_handler(RequestValidationError)
def bad_parameters(exc: RequestValidationError) -> Response[dict[str, Any]]:
    # Where and what kind, never pydantic's messages (they echo input and internals).
    where = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
    return _error(400, "bad_request", f"invalid parameter(s): {', '.join(where)}")


@app.exception_handler(views.UnknownArticle)
def unknown_article(exc: views.UnknownArticle) -> Response[dict[str, Any]]:
    return _error(404, "not_found", "no such article")


@app.exception_handler(views.CounterUnavailable)
def unavailable(exc: views.CounterUnavailable) -> Response[dict[str, Any]]:
    logger.warning("views store throttled", extra={"reason": str(exc)})
    return _error(503, "unavailable", "try again shortly", **{"Retry-After": "1"})


@app.exception_handler(PayloadTooLarge)
def too_large(exc: PayloadTooLarge) -> Response[dict[str, Any]]:
    return _error(413, "payload_too_large", f"request body over {MAX_BODY} bytes")


@app.exception_handler(NotFromCloudFront)
def not_from_cloudfront(exc: NotFromCloudFront) -> Response[dict[str, Any]]:
    return _error(403, "forbidden", "use the site's address")


@app.not_found
def no_route(exc: NotFoundError) -> Response[dict[str, Any]]:
    path = app.current_event.path
    for pattern, method in _ROUTES.items():
        if pattern.fullmatch(path):
            if app.current_event.http_method.upper() == method:
                # The route exists, but its <slug> has characters no route parameter takes.
                return _error(400, "bad_request", "malformed slug")
            return _error(405, "method_not_allowed", f"use {method}", Allow=method)
    return _error(404, "not_found", "no such endpoint")


# --------------------------------------------------------------------------------- handler


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
