"""The re-render work queue in tests: the template's SQS event source, driven in this thread,
delivering to the rerender handler imported as Lambda imports it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chainpress.aws import clients
from chainpress_dev.local.functions import FunctionError
from chainpress_dev.local.sqs import SqsEventSource
from chainpress_dev.local.template import load_template, sqs_subscriptions
from tests.support.lambda_context import Context
from tests.support.paths import ROOT


class Handler:
    """A handler called the way the local stack calls a function: JSON in, JSON out, an
    exception becomes a function error."""

    def __init__(self, handler: Callable[[Any, Any], Any], logical_id: str) -> None:
        self.handler = handler
        self.logical_id = logical_id
        self.invocations = 0

    def invoke(self, event: Any) -> Any:
        self.invocations += 1
        try:
            result = self.handler(json.loads(json.dumps(event)), Context())
        except Exception as exc:
            raise FunctionError(f"{self.logical_id} failed: {exc!r}") from exc
        return json.loads(json.dumps(result))


def work_queue(names: dict[str, str], report: Callable[[str], None] = print) -> SqsEventSource:
    """The RerenderFunction's SQS event source (BatchSize, ReportBatchItemFailures from the
    template), retrying at once instead of after the visibility timeout."""
    from functions.rerender import app

    (subscription,) = sqs_subscriptions(load_template(ROOT / "template.yaml"))
    return SqsEventSource(
        clients.sqs(),
        names[subscription.queue],
        Handler(app.lambda_handler, subscription.function),
        subscription,
        report,
        retry_delay=0,
    )
