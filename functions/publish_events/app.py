"""The runs table's stream -> run lifecycle events on EventBridge (docs/integration.md).

Invoked by the DynamoDB stream event source mapping, whose FilterCriteria pass only records that may be transitions.
Each record is one applied write: read as the change of one item (``adapters.stream_records``), it is at most one
event (``lifecycle_events``); the batch's events are put after every record was read, 10 per PutEvents call. A record
that cannot be read, or whose event PutEvents refused, is reported in batchItemFailures; Lambda retries the batch
from the earliest one (a stream's checkpoint), so events after it are not put now (they would be put twice), and a
record that keeps failing ends in EventsDLQ, the mapping's on-failure destination.
"""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_orchestrator.adapters.event_bus import EventBus
from batch_orchestrator.adapters.stream_records import item_change
from batch_orchestrator.config import PublishConfig
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.lifecycle_events import LifecycleEvent, event_for
from batch_orchestrator.observability import MetricUnit, logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
# The events of this invocation's records: (the record's sequence number, its event).
_EVENTS: list[tuple[str, LifecycleEvent]] = []


@cache
def _config() -> PublishConfig:
    return PublishConfig.from_env(os.environ)


def _sequence(record: dict[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def record_handler(record: DynamoDBRecord) -> None:
    try:
        change = item_change(record.raw_event)
    except MalformedMessage as exc:
        logger.error("unreadable stream record", extra={"sequence": _sequence(record.raw_event), "error": str(exc)})
        metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        raise
    event = event_for(change, _config().context)
    if event is not None:
        _EVENTS.append((_sequence(record.raw_event), event))


def _publish(records: list[dict[str, Any]], response: PartialItemFailureResponse) -> None:
    """Put the events of the records before the earliest failed one; fail the records whose event was refused."""
    failures = response["batchItemFailures"]
    failed = {str(failure["itemIdentifier"]) for failure in failures}
    positions = {_sequence(record): i for i, record in enumerate(records)}
    first_failed = min((positions.get(sequence, len(records)) for sequence in failed), default=len(records))
    due = [(sequence, event) for sequence, event in _EVENTS if positions.get(sequence, 0) < first_failed]
    config = _config()
    bus = EventBus(config.event_bus_name, config.event_source)
    refused = bus.put([event for _, event in due]) if due else []
    for error in bus.errors:
        logger.warning("put events failed", extra={"error": error})
    for index in refused:
        failures.append({"itemIdentifier": due[index][0]})
    metrics.add_metric(name="PutEventsCalls", unit=MetricUnit.Count, value=bus.calls)
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=len(due) - len(refused))
    if refused:
        metrics.add_metric(name="EventsRefused", unit=MetricUnit.Count, value=len(refused))
    logger.info(
        "events published",
        extra={"published": len(due) - len(refused), "refused": len(refused), "calls": bus.calls},
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    _config()  # a bad configuration fails the invocation (the Errors alarm), not each record on its own
    _EVENTS.clear()
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    if _EVENTS:
        _publish(list(event.get("Records", [])), response)
    return response
