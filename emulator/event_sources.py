"""How events reach the functions, as Lambda's own machinery would deliver them.

* SIMULATED SQS event source mapping, ``SqsEventSource``: long-polls the queue, fills a batch up
  to the mapping's BatchSize within its MaximumBatchingWindowInSeconds, invokes the function,
  deletes what succeeded (with ReportBatchItemFailures, all but ``batchItemFailures``; a raising
  handler fails the whole batch). Failed messages stay in flight for the queue's visibility
  timeout; moto honours DelaySeconds and moves a message to the dead-letter queue on the receive
  after maxReceiveCount (checked against moto 5.2.5, so not emulated here). One poller per
  mapping, so ScalingConfig.MaximumConcurrency is honoured as an upper bound (concurrency is 1).
* SIMULATED Lambda asynchronous invocation, ``AsyncInvoker``: a function error is retried
  MaximumRetryAttempts times (EventInvokeConfig, read back from Lambda) after
  ``ASYNC_RETRY_DELAYS`` (AWS waits about 1 and 2 minutes), then the documented invocation record
  goes to the OnFailure destination queue.

Both run the function through the ``invoke`` they are given (the pipeline's, one invocation at a
time). Invariant, as on AWS: an SQS message leaves its queue only once its function succeeded
with it; an asynchronous event is dropped only once its retries or its maximum age are used up,
and then its invocation record goes to the function's OnFailure destination (an SQS queue).
"""

from __future__ import annotations

import heapq
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulator.invoke import settle_batch, sqs_event_from_messages

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack, EventSourceMapping

ASYNC_RETRY_DELAYS = (1.0, 2.0)  # SIMULATED: Lambda waits about 1 and 2 minutes between async retries
DEFAULT_ASYNC_RETRIES = 2
DEFAULT_MAX_EVENT_AGE = 21600
POLL_WAIT_SECONDS = 1  # long-poll wait of the SQS poller (Lambda's is 20 s; short so stop() is quick)

Invoke = Callable[[str, Any], Any]  # (function logical id, event) → the handler's result; raises its error
Say = Callable[[str], None]


@dataclass(frozen=True)
class SqsDeliveryRecord:
    """One batch the event source mapping delivered (for tests and the serve view)."""

    function_logical_id: str
    bodies: tuple[str, ...]
    failed: int
    error: str | None


# ------------------------------------------------------------------------------- SQS event source
class SqsEventSource(threading.Thread):
    """SIMULATED Lambda SQS event source mapping (see the module docstring)."""

    def __init__(
        self,
        stack: EmulatedStack,
        mapping: EventSourceMapping,
        *,
        invoke: Invoke,
        on_delivery: Callable[[SqsDeliveryRecord], None],
        on_error: Say,
    ) -> None:
        super().__init__(name=f"sqs-esm-{mapping.logical_id}", daemon=True)
        self._region = stack.region
        self._mapping = mapping
        self._invoke = invoke
        self._on_delivery = on_delivery
        self._on_error = on_error
        self._queue_url = stack.queue_url(mapping.event_source_arn)
        self._sqs = stack.client("sqs")
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._parked = threading.Event()
        self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Stop receiving; returns once the poller holds no message (after at most one long poll)."""
        self._running.clear()
        if self.is_alive():
            self._parked.wait(timeout=POLL_WAIT_SECONDS + 30)

    def resume(self) -> None:
        self._running.set()

    def run(self) -> None:
        while not self._stop.is_set():
            if not self._running.is_set():
                self._parked.set()
                self._running.wait()
                self._parked.clear()
            if self._stop.is_set():
                return
            try:
                self._poll_once()
            except Exception as exc:
                self._busy = False
                self._on_error(f"SQS poller of {self._mapping.function_logical_id}: {exc}")
                self._stop.wait(1.0)

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=max(1, min(count, 10)),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _poll_once(self) -> None:
        batch_size = self._mapping.batch_size
        messages = self._receive(batch_size, POLL_WAIT_SECONDS)
        if not messages:
            return
        self._busy = True  # holding messages: in flight on the queue until deleted or timed out
        try:
            window = self._mapping.maximum_batching_window_seconds
            deadline = time.monotonic() + window
            while len(messages) < batch_size and time.monotonic() < deadline and not self._stop.is_set():
                more = self._receive(batch_size - len(messages), 0)
                if more:
                    messages.extend(more)
                else:
                    time.sleep(0.05)
            self._deliver(messages)
        finally:
            self._busy = False

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        mapping = self._mapping
        event = sqs_event_from_messages(messages, mapping.event_source_arn, self._region)
        result: Any = None
        error: BaseException | None = None
        try:
            result = self._invoke(mapping.function_logical_id, event)
        except Exception as exc:  # the whole batch fails, as on AWS
            error = exc
        _, failed = settle_batch(
            self._sqs,
            self._queue_url,
            messages,
            result=result,
            error=error,
            reports_failures=mapping.reports_batch_item_failures,
        )
        self._on_delivery(
            SqsDeliveryRecord(
                function_logical_id=mapping.function_logical_id,
                bodies=tuple(message["Body"] for message in messages),
                failed=len(failed),
                error=f"{type(error).__name__}: {error}" if error is not None else None,
            )
        )


# ------------------------------------------------------------------------- Lambda async invocations
@dataclass(order=True)
class _Invocation:
    due: float
    sequence: int
    function_logical_id: str = field(compare=False)
    event: Any = field(compare=False)
    attempt: int = field(default=1, compare=False)
    first_at: float = field(default=0.0, compare=False)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()), compare=False)


class AsyncInvoker(threading.Thread):
    """SIMULATED Lambda asynchronous invocation: an internal queue, retries, on-failure destination.

    ``invoke_configs`` maps a function's logical id to its EventInvokeConfig, read when an
    invocation runs (so the pipeline may fill it after creating the invoker).
    """

    def __init__(
        self,
        stack: EmulatedStack,
        *,
        invoke: Invoke,
        invoke_configs: Mapping[str, Mapping[str, Any]],
        say: Say,
    ) -> None:
        super().__init__(name="lambda-async", daemon=True)
        self._stack = stack
        self._invoke_function = invoke
        self._invoke_configs = invoke_configs
        self._say = say
        self._heap: list[_Invocation] = []
        self._condition = threading.Condition()
        self._sequence = 0
        self._running = 0
        self._stop = False

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._heap) + self._running

    def submit(self, function_logical_id: str, event: Any, *, delay: float = 0.0, attempt: int = 1) -> None:
        now = time.monotonic()
        with self._condition:
            self._sequence += 1
            heapq.heappush(
                self._heap, _Invocation(now + delay, self._sequence, function_logical_id, event, attempt, now)
            )
            self._condition.notify_all()

    def _resubmit(self, invocation: _Invocation, delay: float) -> None:
        with self._condition:
            self._sequence += 1
            invocation.due = time.monotonic() + delay
            invocation.sequence = self._sequence
            invocation.attempt += 1
            heapq.heappush(self._heap, invocation)
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stop = True
            self._heap.clear()
            self._condition.notify_all()

    def run(self) -> None:
        while True:
            with self._condition:
                while not self._stop and (not self._heap or self._heap[0].due > time.monotonic()):
                    timeout = self._heap[0].due - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                if self._stop:
                    return
                invocation = heapq.heappop(self._heap)
                self._running += 1
            try:
                self._invoke(invocation)
            finally:
                with self._condition:
                    self._running -= 1

    def _invoke(self, invocation: _Invocation) -> None:
        config = self._invoke_configs.get(invocation.function_logical_id, {})
        max_age = int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE))
        if time.monotonic() - invocation.first_at > max_age:
            self._give_up(invocation, config, "EventAgeExceeded", None)
            return
        try:
            self._invoke_function(invocation.function_logical_id, invocation.event)
        except Exception as exc:
            retries = int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES))
            if invocation.attempt <= retries and not self._stop:
                delay = ASYNC_RETRY_DELAYS[min(invocation.attempt - 1, len(ASYNC_RETRY_DELAYS) - 1)]
                self._say(
                    f"{invocation.function_logical_id} failed ({type(exc).__name__}: {exc}); "
                    f"Lambda retries the async invocation in {delay:.0f} s"
                )
                self._resubmit(invocation, delay)
            else:
                self._give_up(invocation, config, "RetriesExhausted", exc)

    def _give_up(
        self, invocation: _Invocation, config: Mapping[str, Any], condition: str, exc: Exception | None
    ) -> None:
        """The invocation record Lambda sends to the OnFailure destination (SQS only here)."""
        stack = self._stack
        destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        self._say(f"{invocation.function_logical_id}: async invocation given up ({condition})")
        if not destination or ":sqs:" not in destination:
            return
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": f"{stack.function_configuration(invocation.function_logical_id)['FunctionArn']}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": invocation.attempt,
            },
            "requestPayload": invocation.event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": str(exc), "errorType": type(exc).__name__} if exc else None,
        }
        stack.client("sqs").send_message(QueueUrl=stack.queue_url(destination), MessageBody=json.dumps(record))
