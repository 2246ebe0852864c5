# Over 400 lines on purpose: support code, no tests: the delivery and fault-injection classes the stories compose.
"""Fault injection and delivery machinery for the reliability and security suites.

Everything here drives the stack of template.yaml in moto the way AWS would, with a virtual clock
so that leases, visibility timeouts and Lambda's async retries elapse without waiting:

* ``Function``: one function of the stack loaded once (a warm container) and invoked with the
  environment the stack gives it; its ``utcnow`` is the virtual clock.
* ``SubmitQueuePoller``: the SQS event source mapping of submit_jobs, on the real SubmitQueue, with
  failed and crashed messages coming back after the queue's visibility timeout (virtual) and moto's
  redrive to the DLQ after SubmitMaxReceiveCount receives.
* ``ThrottleInjector``: answers a seeded share of one client's calls with the throttling error AWS
  sends, *before* they reach the emulator, so botocore's own retry logic sees a real error response.
* ``CallTrace`` and ``ProcessCrash``: number every AWS call the shared package makes, and kill the
  "process" right after a chosen call returned (its effect happened; nobody learned of it).
* ``figure`` (from ``tests.support.figures``): a line for the summary the run prints (the Reliability
  table of docs/reliability.md quotes it).

The ``stack`` and ``logs`` fixtures live in tests/support/stack.py and tests/support/logs.py; the queue
helpers (``take_all_bodies``, ``send_bodies``...) in tests/support/runs.py.
"""

from __future__ import annotations

import json
import logging
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from botocore.awsrequest import AWSResponse

from batch_orchestrator.adapters import aws
from emulator import EmulatedStack, sqs_event_from_messages
from emulator.invoke import handler_environment, lambda_context, load_handler_module, patched_environ
from tests.support.runs import send_bodies

FIXED_START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------ time
@dataclass
class VirtualClock:
    """The functions' notion of now. Moves only when a test advances it."""

    now_value: datetime = FIXED_START

    def now(self) -> datetime:
        return self.now_value

    def advance(self, seconds: float) -> None:
        self.now_value += timedelta(seconds=seconds)


class Sleeps:
    """Stands in for time.sleep: records the backoff botocore and the Batch adapter asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


# ------------------------------------------------------------------------------------ functions
class ProcessCrash(BaseException):
    """The Lambda process dies (timeout, out of memory, kill): no handler code catches it.

    A BaseException, so Powertools' BatchProcessor (which catches Exception) cannot turn it into one
    failed record: the whole invocation is lost, exactly as when the process dies.
    """


class Function:
    """One function of the stack, loaded once and invoked like a warm Lambda container."""

    def __init__(
        self,
        stack: EmulatedStack,
        logical_id: str,
        *,
        clock: VirtualClock | None = None,
        replace: Mapping[str, Any] | None = None,
    ) -> None:
        self._stack = stack
        self._logical_id = logical_id
        self._configuration = stack.function_configuration(logical_id)
        self.environment = handler_environment(stack, logical_id, self._configuration)
        with patched_environ(self.environment):
            self.module: ModuleType = load_handler_module(stack, logical_id)
        if clock is not None:
            vars(self.module)["utcnow"] = clock.now  # the handlers read the time through this name
        for name, value in (replace or {}).items():
            setattr(self.module, name, value)

    def __call__(self, event: Any) -> Any:
        with patched_environ(self.environment):
            return self.module.handler(event, lambda_context(self._stack, self._logical_id, self._configuration))

    def close(self) -> None:
        sys.modules.pop(self.module.__name__, None)


# ------------------------------------------------------------------------------------ SQS
@dataclass
class PollStats:
    invocations: int = 0
    records: int = 0
    failed_records: int = 0
    crashed_invocations: int = 0
    max_receive_count: int = 0


class SubmitQueuePoller:
    """The SubmitQueue's event source mapping, with the visibility timeout on the virtual clock.

    Processed messages are deleted; failed ones (batchItemFailures, or all of a crashed invocation)
    stay in flight and become visible again once the queue's VisibilityTimeout has passed on the
    clock. moto moves a message to the DLQ when it is received more than maxReceiveCount times.
    """

    def __init__(self, stack: EmulatedStack, function: Function, clock: VirtualClock) -> None:
        self._stack = stack
        self._function = function
        self._clock = clock
        self._sqs = stack.client("sqs")
        self._url = stack.outputs["SubmitQueueUrl"]
        self._arn = stack.outputs["SubmitQueueArn"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["VisibilityTimeout"])
        self.visibility_timeout = int(attributes["Attributes"]["VisibilityTimeout"])
        self.batch_size = stack.event_source_mapping_for("SubmitJobsFunction").batch_size
        self._in_flight: list[tuple[datetime, str]] = []
        self.stats = PollStats()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def next_visible_at(self) -> datetime | None:
        return min((at for at, _ in self._in_flight), default=None)

    def drop_in_flight(self) -> None:
        """The messages in flight are gone for good (expired, purged, or moved away by hand)."""
        for _, handle in self._in_flight:
            self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=handle)
        self._in_flight.clear()

    def release_due(self) -> None:
        due = [(at, handle) for at, handle in self._in_flight if at <= self._clock.now()]
        for item in due:
            self._in_flight.remove(item)
            self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=item[1], VisibilityTimeout=0)

    def poll_once(self) -> bool:
        """One receive and one invocation; False when nothing was visible."""
        self.release_due()
        messages = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=min(self.batch_size, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        self.stats.invocations += 1
        self.stats.records += len(messages)
        for message in messages:
            count = int(message["Attributes"].get("ApproximateReceiveCount", "1"))
            self.stats.max_receive_count = max(self.stats.max_receive_count, count)
        event = sqs_event_from_messages(messages, self._arn, self._stack.region)
        try:
            result = self._function(event)
            failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        except ProcessCrash:
            self.stats.crashed_invocations += 1
            failed = {message["MessageId"] for message in messages}
        self.stats.failed_records += len(failed)
        visible_again = self._clock.now() + timedelta(seconds=self.visibility_timeout)
        done = []
        for message in messages:
            if message["MessageId"] in failed:
                self._in_flight.append((visible_again, message["ReceiptHandle"]))
            else:
                done.append(message)
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        return True

    def drain(self, *, max_invocations: int = 100_000) -> None:
        """Poll until nothing is visible (messages still in flight stay there)."""
        for _ in range(max_invocations):
            if not self.poll_once():
                return
        raise AssertionError("the SubmitQueue did not drain")

    def deliver(self, bodies: Sequence[str]) -> None:
        """Send ``bodies`` to the queue in this order, one batch at a time, each consumed before the next.

        moto's SQS costs O(messages in the queue) per call, so a queue holding thousands of messages
        makes a test crawl; arriving a batch at a time keeps it small without changing what is tested.
        """
        for start in range(0, len(bodies), self.batch_size):
            send_bodies(self._stack, bodies[start : start + self.batch_size])
            self.drain()

    def drain_with_redeliveries(self, *, max_rounds: int = 50) -> int:
        """Drain, then let the visibility timeout pass and drain again, until nothing is in flight.

        Returns the number of redelivery rounds it took.
        """
        for rounds in range(max_rounds):
            self.drain()
            at = self.next_visible_at()
            if at is None:
                return rounds
            self._clock.now_value = max(self._clock.now(), at)
        raise AssertionError("messages kept failing")


# ------------------------------------------------------------------------------------ throttling
class _Body:
    """A raw HTTP body botocore can read (what the emulator would have sent)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


@dataclass(frozen=True)
class ThrottleError:
    status: int
    code: str
    protocol: str  # "json" (DynamoDB) or "rest-json" (Batch)

    def response(self, url: str) -> AWSResponse:
        if self.protocol == "json":
            body = {"__type": f"com.amazonaws.dynamodb.v20120810#{self.code}", "message": "Rate exceeded"}
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
        else:
            body = {"message": "Too Many Requests"}
            headers = {
                "Content-Type": "application/json",
                "x-amzn-ErrorType": self.code,
                "x-amzn-RequestId": "injected",
            }
        return AWSResponse(url, self.status, headers, _Body(json.dumps(body).encode()))


DYNAMODB_THROTTLES = (
    ThrottleError(400, "ProvisionedThroughputExceededException", "json"),
    ThrottleError(400, "ThrottlingException", "json"),
)
BATCH_THROTTLE = (ThrottleError(429, "TooManyRequestsException", "rest-json"),)


@dataclass
class ThrottleInjector:
    """Fault injection at the botocore client boundary, reproducible through a seeded RNG.

    The emulator is reached through moto's ``before-send`` hook; for the clients it is attached to,
    this replaces that hook by one that first draws whether the call is throttled. A throttled call
    never reaches the emulator (AWS created nothing) and gets the HTTP error response AWS sends, so
    botocore parses it and applies its own retry policy exactly as against AWS.
    """

    rng: random.Random
    injected: dict[str, int] = field(default_factory=dict)

    def attach(self, client: Any, *, operations: set[str], rate: float, errors: Sequence[ThrottleError]) -> None:
        from moto.core.models import botocore_stubber

        def send(event_name: str, request: Any, **kwargs: Any) -> Any:
            operation = event_name.rsplit(".", 1)[-1]
            if operation in operations and self.rng.random() < rate:
                error = errors[self.rng.randrange(len(errors))]
                self.injected[operation] = self.injected.get(operation, 0) + 1
                return error.response(request.url)
            return botocore_stubber(event_name=event_name, request=request, **kwargs)

        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send", send)

    @property
    def total(self) -> int:
        return sum(self.injected.values())


# ------------------------------------------------------------------------------------ lost answers
LOST_ANSWER_KINDS = ("5xx", "timeout")


@dataclass
class LostAnswer:
    """A call that took effect in AWS but whose answer never reached the caller.

    The emulator performs the ``target``-th call among ``operations`` (1-based, counted over every
    client it is attached to), then the caller gets, instead of the answer, an HTTP 500 ("5xx") or
    a read timeout ("timeout"). botocore then does what it does against AWS: its standard retry mode
    retries both, and the retry meets the state the first try left behind. moto never answers 5xx
    by itself; this is how the suite makes it.
    """

    target: int
    kind: str
    operations: frozenset[str]
    sent: int = 0
    lost: str | None = None
    # Told of the lost answer (operation, the raw answer the caller never saw): what AWS did still counts,
    # e.g. Batch runs a job whose SubmitJob answer was lost.
    on_lost: Callable[[str, bytes], None] | None = None

    def attach(self, *clients: Any) -> LostAnswer:
        from botocore.exceptions import ReadTimeoutError
        from moto.core.models import botocore_stubber

        if self.kind not in LOST_ANSWER_KINDS:
            raise ValueError(f"kind must be one of {LOST_ANSWER_KINDS}, not {self.kind!r}")

        def send(event_name: str, request: Any, **kwargs: Any) -> Any:
            response = botocore_stubber(event_name=event_name, request=request, **kwargs)
            operation = event_name.rsplit(".", 1)[-1]
            if operation not in self.operations:
                return response
            self.sent += 1
            if self.sent != self.target:
                return response
            self.lost = operation  # the call took effect; what follows is all the caller sees
            if self.on_lost is not None:
                self.on_lost(operation, response.content if response is not None else b"")
            if self.kind == "timeout":
                raise ReadTimeoutError(endpoint_url=request.url)
            return AWSResponse(request.url, 500, {"x-amzn-RequestId": "injected"}, _Body(b""))

        for client in clients:
            client.meta.events.unregister("before-send", botocore_stubber)
            client.meta.events.register("before-send", send)
        return self


# ------------------------------------------------------------------------------------ crashes
def _step_of(operation: str, params: Mapping[str, Any]) -> str:
    """A readable name for one AWS call of the shared package (which step of which path it is)."""
    condition = str(params.get("ConditionExpression", ""))
    expression = str(params.get("UpdateExpression", ""))
    names = " ".join(str(value) for value in params.get("ExpressionAttributeNames", {}).values())
    if operation == "PutItem":
        return "claim"
    if operation == "UpdateItem":
        for needle, step in (
            ("#progress < :observed", "status write"),
            ("#sideEffect.#token = :previous", "side-effect takeover"),
            ("#sideEffect.#token = :token", "confirming write"),
            (":expected_status", "retry claim"),
            ("#claimedUntil = :previous", "claim takeover"),
            ("#claimedUntil = :mine", "claim release"),
        ):
            if needle in condition:
                return step
        for needle, step in (
            ("resubmittedFor", "resubmit mark"),
            ("stuckAlertedFor", "stuck-alert mark"),
            ("cancelRequestedFor", "cancel mark"),
        ):
            if needle in names:
                return step
        return f"update ({expression[:30]})"
    if operation == "SendMessage":
        body = str(params.get("MessageBody", ""))
        return "resubmit enqueue" if '"resubmit"' in body else "retry enqueue"
    return {"SubmitJob": "SubmitJob", "Publish": "SNS publish"}.get(operation, operation)


@dataclass
class CallTrace:
    """Numbers every AWS call the shared package's clients make, and crashes the process after one.

    ``crash_after``: the 1-based index of the call after which the process dies (once); its effect
    took place, its response is never seen. ``observers`` see every completed call first, so a test
    can follow SubmitJob even when the process dies right after it.
    """

    crash_after: int | None = None
    skip_operations: frozenset[str] = frozenset()
    calls: list[str] = field(default_factory=list)
    crashed_at: str | None = None
    observers: list[Callable[[str, Mapping[str, Any], Mapping[str, Any]], None]] = field(default_factory=list)

    def attach(self) -> CallTrace:
        for client in (
            aws.client("dynamodb"),
            aws.client("sqs"),
            aws.client("sns"),
            aws.client("batch"),
            aws.submit_client(),
        ):
            client.meta.events.register("before-parameter-build", self._remember_params)
            client.meta.events.register("after-call", self._after_call)
        return self

    @staticmethod
    def _remember_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["reliability_params"] = dict(params)

    def _after_call(self, model: Any, parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        params = context.get("reliability_params", {})
        for observer in self.observers:
            observer(model.name, params, parsed)
        if model.name in self.skip_operations:
            return
        self.calls.append(f"{service}:{model.name} ({_step_of(model.name, params)})")
        if self.crash_after is not None and len(self.calls) == self.crash_after and self.crashed_at is None:
            self.crashed_at = self.calls[-1]
            raise ProcessCrash(self.crashed_at)


def quiet_botocore() -> None:
    """botocore logs every retry at DEBUG; keep the captured output small."""
    logging.getLogger("botocore").setLevel(logging.WARNING)
