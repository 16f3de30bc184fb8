"""The SQS queue -> Lambda event source mapping, on moto's queue.

Like Lambda's SQS poller for one function: ``ReceiveMessage`` (up to ``BatchSize`` messages, every
attribute, the queue's own visibility timeout), invoke the function with ``{"Records": [...]}``
in the shape Lambda sends (``messageId``, ``receiptHandle``, ``body``, ``attributes`` with
``ApproximateReceiveCount``, ``messageAttributes``, ``md5OfBody``, ``eventSource``,
``eventSourceARN``, ``awsRegion``), then delete what succeeded:

* with ``ReportBatchItemFailures`` the messages named in ``batchItemFailures`` stay in the queue
  (an unknown identifier fails the whole batch, as in Lambda); without it, or when the function
  raises, the whole batch stays;
* a message that stays comes back when its visibility timeout ends. In AWS that is the queue's
  ``VisibilityTimeout``; locally it is ``retry_delay`` seconds (``ChangeMessageVisibility``), so
  a retry does not wait 18 minutes;
* the queue's ``RedrivePolicy`` is applied by the queue itself: SQS (and moto) move a message
  that was received ``maxReceiveCount`` times to the dead-letter queue instead of delivering it
  again.

Batches are delivered one at a time: the local function is one warm container, as with
``ScalingConfig.MaximumConcurrency`` of 1 (production runs up to the template's maximum).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from chainpress_dev.local.endpoint import REGION
from chainpress_dev.local.functions import FunctionError
from chainpress_dev.local.plumbing import Poller, Reporter
from chainpress_dev.local.template import SqsSubscription


class Invocable(Protocol):
    logical_id: str

    def invoke(self, event: Any) -> Any: ...


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API ``MessageAttributes`` entry -> the camel-case form Lambda's records carry."""
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": list(value.get("BinaryListValues", [])),
        "dataType": value.get("DataType", "String"),
    }


def lambda_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A message of ``ReceiveMessage`` as Lambda's SQS event source delivers it."""
    attributes = {str(k): str(v) for k, v in message.get("Attributes", {}).items()}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            str(name): _message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class SqsEventSource(Poller):
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        function: Invocable,
        subscription: SqsSubscription,
        report: Reporter,
        *,
        retry_delay: float = 1.0,
        interval: float = 5.0,
    ) -> None:
        super().__init__(f"sqs-{subscription.queue}", interval, report)
        self.sqs = sqs
        self.queue_url = queue_url
        self.function = function
        self.subscription = subscription
        self.retry_delay = retry_delay
        answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = str(answer["Attributes"]["QueueArn"])
        self._delivering = False
        self._outstanding = 0  # messages in the queue (visible, in flight or delayed) at last look
        self.batches = 0
        self.failed_messages = 0  # deliveries that failed (each is retried or dead-lettered)
        self.events = 0  # messages delivered

    def busy(self) -> bool:
        return self._delivering or self._outstanding > 0

    def next_wait(self) -> float:
        return min(self.interval, self.retry_delay) if self._outstanding else self.interval

    def poll_once(self, batches: int | None = None) -> None:
        """Receive and deliver batches until the queue has nothing visible (or ``batches``
        were delivered)."""
        self._delivering = True
        try:
            while not self.stopping and (batches is None or batches > 0):
                if batches is not None:
                    batches -= 1
                answer = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(10, self.subscription.batch_size),
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=0,
                )
                messages = answer.get("Messages", [])
                if not messages:
                    break
                self._deliver(messages)
        finally:
            self._delivering = False
            self._outstanding = self.outstanding()

    def outstanding(self) -> int:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        answer = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        return sum(int(answer["Attributes"].get(name, 0)) for name in names)

    def drain(self, timeout: float = 120.0) -> bool:
        """Deliver until the queue is empty (retries included), in this thread: for tests that
        drive the event source without starting it. False if ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll_once()
            if not self._outstanding:
                return True
            time.sleep(min(self.retry_delay, 0.05) if self.retry_delay else 0.01)
        return False

    def _deliver(self, messages: Sequence[Mapping[str, Any]]) -> None:
        self.batches += 1
        records = [lambda_record(m, self.queue_arn) for m in messages]
        try:
            result = self.function.invoke({"Records": records})
        except FunctionError as exc:
            self._report(str(exc))
            failed = {str(m["MessageId"]) for m in messages}
        else:
            failed = self._failures(messages, result)
            if failed:
                self._report(
                    f"{self.function.logical_id}: {len(failed)} of {len(messages)} "
                    "messages reported as failed"
                )
        self.events += len(messages) - len(failed)
        self.failed_messages += len(failed)
        done = [m for m in messages if str(m["MessageId"]) not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        retry = [m for m in messages if str(m["MessageId"]) in failed]
        if retry:
            # Visible again after retry_delay (AWS: after the queue's VisibilityTimeout).
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": int(self.retry_delay),
                    }
                    for i, m in enumerate(retry)
                ],
            )

    def _failures(self, messages: Sequence[Mapping[str, Any]], result: Any) -> set[str]:
        if not self.subscription.report_item_failures or not isinstance(result, Mapping):
            return set()
        ids = {str(m["MessageId"]) for m in messages}
        failed: set[str] = set()
        for failure in result.get("batchItemFailures") or []:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not identifier or str(identifier) not in ids:
                return ids  # Lambda treats an unknown identifier as a failure of the whole batch
            failed.add(str(identifier))
        return failed
