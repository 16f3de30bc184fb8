"""Injecting AWS refusals moto never produces, through botocore's ``before-call`` event: a
handler that returns ``(http_response, parsed)`` answers the call instead of the server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse


def error_answer(code: str, message: str = "", status: int = 400, **extra: Any) -> Any:
    """What botocore makes of an AWS error response: (http response, parsed body)."""
    http = AWSResponse(url="https://injected.invalid/", status_code=status, headers={}, raw=None)
    parsed = {
        "Error": {"Code": code, "Message": message or code},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return http, parsed


def transaction_cancelled(reasons: list[str]) -> Any:
    """A ``TransactionCanceledException`` with one reason per action (``None``: that action
    was fine)."""
    return error_answer(
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons {reasons}",
        CancellationReasons=[{"Code": r, "Message": r} for r in reasons],
    )


def json_request(request: dict[str, Any]) -> dict[str, Any]:
    """The API parameters of a JSON-protocol request (DynamoDB) as botocore serialised them."""
    body = request.get("body") or b"{}"
    parsed: dict[str, Any] = json.loads(body)
    return parsed


@contextmanager
def inject(
    client: Any, operation: str, decide: Callable[[dict[str, Any]], Any | None]
) -> Iterator[list[Any]]:
    """While inside, every ``operation`` call of ``client`` first asks ``decide(request)`` (the
    serialised request: ``json_request`` reads DynamoDB's): an answer (from ``error_answer``)
    replaces the call, None lets it through. Yields the answers injected (thread-safe)."""
    injected: list[Any] = []
    lock = threading.Lock()
    service = client.meta.service_model.service_id.hyphenize()

    def handler(params: dict[str, Any], **_: Any) -> Any:
        answer = decide(params)
        if answer is not None:
            with lock:
                injected.append(answer)
        return answer

    event = f"before-call.{service}.{operation}"
    client.meta.events.register(event, handler)
    try:
        yield injected
    finally:
        client.meta.events.unregister(event, handler)
