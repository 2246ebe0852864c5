"""SIMULATED Lambda DynamoDB stream event source mapping: the runs table's stream, read with moto's dynamodbstreams API.

``StreamReader`` reads one mapping's stream (DescribeStream, GetShardIterator at the mapping's StartingPosition,
GetRecords) and ``deliver`` hands what it read to the function as Lambda would: the records no FilterCriteria
pattern matches are dropped (Lambda discards them; the patterns are matched with moto's EventBridge pattern
matcher, the syntax Lambda's filtering shares), the others go in batches of BatchSize in the Lambda event shape
(``ApproximateCreationDateTime`` in epoch seconds, ``eventSourceARN``). With ReportBatchItemFailures the batch is
retried from its earliest reported record (a stream's checkpoint), a raising handler retries the whole batch, up to
MaximumRetryAttempts; then the documented invocation record (``DDBStreamBatchInfo``) goes to the OnFailure queue and
the reader moves on. Not simulated: BisectBatchOnFunctionError (the whole batch is retried), MaximumRecordAgeInSeconds
(retries are counted only), ParallelizationFactor (one shard, one batch at a time), the 24-hour expiry.

``StreamEventSource`` is the pipeline's poller thread (the mapping's batching window honoured);
``deliver_stream_records`` reads and delivers everything once, for tests that drive the stack by hand.
Invariant, as on AWS: a record leaves the reader's position only once its function succeeded with it, it was
filtered out, or its batch's on-failure record was sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack, EventSourceMapping

POLL_INTERVAL_SECONDS = 0.1  # Lambda polls a shard about four times a second
Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class StreamDelivery:
    """One batch the mapping handed to the function (for tests and the pipeline's records)."""

    function_logical_id: str
    sequence_numbers: tuple[str, ...]
    filtered_out: int  # records of the read that no pattern matched (never delivered)
    failed: tuple[str, ...]  # sequence numbers given up on (sent to the on-failure destination)
    invocations: int


class StreamReader:
    """One mapping's position in its stream (one shard: moto's streams have one)."""

    def __init__(self, stack: EmulatedStack, mapping: EventSourceMapping) -> None:
        self._stack = stack
        self.mapping = mapping
        self._streams = streams_client(stack.region)
        description = self._streams.describe_stream(StreamArn=mapping.event_source_arn)["StreamDescription"]
        self._shard = description["Shards"][0]["ShardId"]
        self._iterator = self._streams.get_shard_iterator(
            StreamArn=mapping.event_source_arn,
            ShardId=self._shard,
            ShardIteratorType=mapping.starting_position or "TRIM_HORIZON",
        )["ShardIterator"]
        self.last_sequence: str | None = None

    def read(self, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` records after the reader's position, in the Lambda event's shape; advances past them."""
        answer = self._streams.get_records(ShardIterator=self._iterator, Limit=max(1, min(limit, 1000)))
        self._iterator = answer.get("NextShardIterator") or self._iterator
        records = [lambda_record(r, self.mapping.event_source_arn, self._stack.region) for r in answer["Records"]]
        if records:
            self.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        return records

    def has_unread(self) -> bool:
        """Whether the stream holds a record past the reader's position (a separate iterator: nothing moves)."""
        if self.last_sequence is None:
            kind: dict[str, Any] = {"ShardIteratorType": self.mapping.starting_position or "TRIM_HORIZON"}
        else:
            kind = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.last_sequence}
        iterator = self._streams.get_shard_iterator(
            StreamArn=self.mapping.event_source_arn, ShardId=self._shard, **kind
        )
        return bool(self._streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1)["Records"])


def streams_client(region: str) -> Any:
    """A DynamoDB Streams client on the classic endpoint. SIMULATED: botocore sends DescribeStream and GetRecords to
    the account-based endpoint (<account>.streams-ddb.<region>.amazonaws.com), which in-process moto does not route
    (a moto server, AWS_ENDPOINT_URL, gets every request anyway)."""
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodbstreams", region_name=region, config=Config(account_id_endpoint_mode="disabled"))


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record as Lambda passes it to the function."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def passes_filters(patterns: Sequence[str], record: Mapping[str, Any]) -> bool:
    """Whether Lambda would deliver the record: no FilterCriteria, or one of its patterns matches (ORed)."""
    if not patterns:
        return True
    from moto.events.models import EventPattern

    return any(EventPattern.load(pattern).matches_event(cast(Any, dict(record))) for pattern in patterns)


def deliver(
    stack: EmulatedStack, mapping: EventSourceMapping, records: Sequence[dict[str, Any]], *, invoke: Invoke
) -> StreamDelivery:
    """Filter ``records`` and hand the rest to the function, retrying as the mapping says (module docstring)."""
    passing = [r for r in records if passes_filters(mapping.filter_patterns, r)]
    remaining, invocations = passing, 0
    retries = mapping.maximum_retry_attempts if mapping.maximum_retry_attempts not in (None, -1) else 10_000
    while remaining:
        invocations += 1
        try:
            result = invoke(mapping.function_logical_id, {"Records": remaining})
            checkpoint = _checkpoint(result, remaining, mapping.reports_batch_item_failures)
        except Exception:  # the whole batch failed, as on AWS
            checkpoint = 0
        if checkpoint is None:
            remaining = []
        elif invocations > int(retries):
            _send_on_failure(stack, mapping, remaining[checkpoint:], invocations)
            return StreamDelivery(
                mapping.function_logical_id,
                tuple(_sequence(r) for r in passing),
                len(records) - len(passing),
                tuple(_sequence(r) for r in remaining[checkpoint:]),
                invocations,
            )
        else:
            remaining = remaining[checkpoint:]
    return StreamDelivery(
        mapping.function_logical_id, tuple(_sequence(r) for r in passing), len(records) - len(passing), (), invocations
    )


def _sequence(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _checkpoint(result: Any, records: Sequence[Mapping[str, Any]], reports_failures: bool) -> int | None:
    """The position the next try starts from (None: the batch succeeded). An identifier that is none of the batch's
    fails the whole batch, as AWS treats an invalid report."""
    failures = result.get("batchItemFailures") if isinstance(result, Mapping) and reports_failures else None
    if not failures:
        return None
    positions = {_sequence(r): i for i, r in enumerate(records)}
    found = [positions.get(str(f.get("itemIdentifier")) if isinstance(f, Mapping) else "") for f in failures]
    return 0 if None in found else min(cast(list[int], found))


def _send_on_failure(
    stack: EmulatedStack, mapping: EventSourceMapping, records: Sequence[Mapping[str, Any]], invocations: int
) -> None:
    """The invocation record Lambda sends for a stream batch it gives up on (SQS destinations only here)."""
    destination = mapping.on_failure_destination
    if not destination or ":sqs:" not in destination or not records:
        return
    created = [float(r["dynamodb"].get("ApproximateCreationDateTime", 0)) for r in records]
    record = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": stack.function_configuration(mapping.function_logical_id)["FunctionArn"],
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": invocations,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-emulated",
            "startSequenceNumber": _sequence(records[0]),
            "endSequenceNumber": _sequence(records[-1]),
            "approximateArrivalOfFirstRecord": _iso(min(created)),
            "approximateArrivalOfLastRecord": _iso(max(created)),
            "batchSize": len(records),
            "streamArn": mapping.event_source_arn,
        },
    }
    stack.client("sqs").send_message(QueueUrl=stack.queue_url(destination), MessageBody=json.dumps(record))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def deliver_stream_records(
    stack: EmulatedStack, logical_id: str, *, invoke: Invoke | None = None
) -> list[StreamDelivery]:
    """Read the function's stream from its starting position to its end and deliver every batch, once."""
    from emulator.invoke import invoke_handler

    mapping = stack.event_source_mapping_for(logical_id)
    reader = StreamReader(stack, mapping)
    call = invoke or (lambda function, event: invoke_handler(stack, function, event))
    deliveries = []
    while records := reader.read(mapping.batch_size):
        deliveries.append(deliver(stack, mapping, records, invoke=call))
    return deliveries


class StreamEventSource(threading.Thread):
    """SIMULATED Lambda stream event source mapping, as a poller thread of the local pipeline."""

    def __init__(
        self,
        stack: EmulatedStack,
        mapping: EventSourceMapping,
        *,
        invoke: Invoke,
        on_delivery: Callable[[StreamDelivery], None],
        on_error: Callable[[str], None],
    ) -> None:
        super().__init__(name=f"stream-esm-{mapping.logical_id}", daemon=True)
        self._stack = stack
        self._mapping = mapping
        self._invoke = invoke
        self._on_delivery = on_delivery
        self._on_error = on_error
        self._reader = StreamReader(stack, mapping)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held while reading or delivering: busy
        self._busy = False

    @property
    def busy(self) -> bool:
        """Delivering, or records wait in the stream past the poller's position."""
        if self._busy:
            return True
        with self._lock:
            return self._reader.has_unread()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._poll_once():
                    self._stop.wait(POLL_INTERVAL_SECONDS)
            except Exception as exc:
                self._busy = False
                self._on_error(f"stream poller of {self._mapping.function_logical_id}: {exc}")
                self._stop.wait(1.0)

    def _poll_once(self) -> bool:
        mapping = self._mapping
        with self._lock:
            records = self._reader.read(mapping.batch_size)
            if not records:
                return False
            self._busy = True
        try:
            deadline = time.monotonic() + mapping.maximum_batching_window_seconds
            while len(records) < mapping.batch_size and time.monotonic() < deadline and not self._stop.is_set():
                with self._lock:
                    more = self._reader.read(mapping.batch_size - len(records))
                if more:
                    records.extend(more)
                else:
                    time.sleep(0.05)
            self._on_delivery(deliver(self._stack, mapping, records, invoke=self._invoke))
        finally:
            self._busy = False
        return True
