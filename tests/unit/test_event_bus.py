"""The EventBridge adapter: 10 entries per PutEvents, refused entries put again then reported, a failed call fails
its entries and the later ones, an oversize entry never sent; and the publish_events handler's partial responses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batch_orchestrator.adapters import event_bus
from batch_orchestrator.adapters.attribute_values import serialize
from batch_orchestrator.adapters.event_bus import EventBus, entry_size
from batch_orchestrator.lifecycle_events import DetailType, LifecycleEvent
from batch_orchestrator.limits import EVENTBRIDGE_ENTRY_SIZE, EVENTBRIDGE_PUT_EVENTS_ENTRIES
from tests.support.handlers import load_handler
from tests.support.lifecycle_changes import CONTEXT, SOURCE, event_of

EVENT = LifecycleEvent(DetailType.RUN_SUCCEEDED, {"runId": "s3-1"}, ("arn:q",))


class FakeEvents:
    """PutEvents that refuses the entries named in ``refuse`` (by their detail's runId) ``times`` times."""

    def __init__(self, refuse: frozenset[str] = frozenset(), times: int = 1, fail_call: int | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._refuse = dict.fromkeys(refuse, times)
        self._fail_call = fail_call

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - botocore's name
        self.calls.append(Entries)
        if self._fail_call == len(self.calls):
            raise ClientError({"Error": {"Code": "InternalException", "Message": "down"}}, "PutEvents")
        results = []
        for entry in Entries:
            run_id = json.loads(entry["Detail"])["runId"]
            if self._refuse.get(run_id, 0) > 0:
                self._refuse[run_id] -= 1
                results.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"})
            else:
                results.append({"EventId": f"e-{run_id}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEvents:
    events = FakeEvents()
    monkeypatch.setattr(event_bus, "client", lambda service: events)
    return events


def events(count: int) -> list[LifecycleEvent]:
    return [LifecycleEvent(DetailType.RUN_STARTED, {"runId": f"s3-{i}"}) for i in range(count)]


def test_events_go_ten_per_call_in_order_under_the_stacks_source(fake: FakeEvents) -> None:
    # When 25 events are put
    bus = EventBus("default", SOURCE, sleep=lambda _: None)
    assert bus.put(events(25)) == []

    # Then three calls carried 10, 10 and 5 entries, in order, each with the source, type and bus
    assert [len(call) for call in fake.calls] == [10, 10, 5]
    assert max(len(call) for call in fake.calls) == EVENTBRIDGE_PUT_EVENTS_ENTRIES.value
    flat = [entry for call in fake.calls for entry in call]
    assert [json.loads(e["Detail"])["runId"] for e in flat] == [f"s3-{i}" for i in range(25)]
    assert {(e["Source"], e["DetailType"], e["EventBusName"]) for e in flat} == {(SOURCE, "Run Started", "default")}
    assert bus.calls == 3


def test_a_refused_entry_is_put_again_alone(fake: FakeEvents) -> None:
    # Given PutEvents refuses one entry once
    fake._refuse = {"s3-3": 1}
    bus = EventBus("default", SOURCE, sleep=lambda _: None)

    # Then the second call carries that entry alone, and nothing is reported failed
    assert bus.put(events(5)) == []
    assert [[json.loads(e["Detail"])["runId"] for e in call] for call in fake.calls][1] == ["s3-3"]


def test_an_entry_refused_every_time_is_reported(fake: FakeEvents) -> None:
    fake._refuse = {"s3-2": 99}
    bus = EventBus("default", SOURCE, attempts=3, sleep=lambda _: None)
    assert bus.put(events(4)) == [2]
    assert len(fake.calls) == 3


def test_a_failed_call_fails_its_entries_and_every_later_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given PutEvents answers the second call with an error
    failing = FakeEvents(fail_call=2)
    monkeypatch.setattr(event_bus, "client", lambda service: failing)
    bus = EventBus("default", SOURCE, sleep=lambda _: None)

    # Then the first ten are published, the rest reported, and no third call is made
    assert bus.put(events(25)) == list(range(10, 25))
    assert len(failing.calls) == 2
    assert bus.errors


def test_an_oversize_entry_is_never_sent(fake: FakeEvents) -> None:
    # Given one event whose detail alone is over the entry limit
    big = LifecycleEvent(DetailType.RUN_FAILED, {"runId": "s3-big", "reason": "x" * EVENTBRIDGE_ENTRY_SIZE.value})
    bus = EventBus("default", SOURCE, sleep=lambda _: None)

    # Then it is reported failed and the others go out
    assert bus.put([*events(2), big]) == [2]
    assert [len(call) for call in fake.calls] == [2]


def test_the_entry_size_counts_source_type_detail_and_resources() -> None:
    entry = EventBus("default", "batch-orchestrator.x").entry(EVENT)
    expected = len("batch-orchestrator.x") + len("Run Succeeded") + len(entry["Detail"].encode()) + len("arn:q")
    assert entry_size(entry) == expected


# ------------------------------------------------------------------------------------------ the handler
def stream_record(sequence: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {"SequenceNumber": sequence, "StreamViewType": "NEW_AND_OLD_IMAGES", "Keys": {}}
    if new is not None:
        dynamodb["NewImage"] = {k: serialize(v) for k, v in new.items()}
    if old is not None:
        dynamodb["OldImage"] = {k: serialize(v) for k, v in old.items()}
    name = "INSERT" if old is None else "MODIFY" if new is not None else "REMOVE"
    return {"eventID": sequence, "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


def claimed_item(run_id: str) -> dict[str, Any]:
    return {
        "runId": run_id,
        "status": "SUBMITTED",
        "attempt": 1,
        "maxAttempts": 3,
        "progress": 10001,
        "source": {"trigger": "s3", "bucket": "b", "key": "k"},
        "jobName": f"{run_id}-a1-k",
        "createdAt": "2026-03-14T02:00:01.204Z",
        "updatedAt": "2026-03-14T02:00:01.204Z",
    }


PUBLISH_ENV = {
    "EVENT_BUS_NAME": "default",
    "EVENT_SOURCE": SOURCE,
    "AWS_REGION": "us-east-1",
    "JOB_LOG_GROUP": "/aws/batch/jobs",
    "OUTPUT_BUCKET": "b",
    "OUTPUT_PREFIX": "output/",
    "POWERTOOLS_SERVICE_NAME": "batch-orchestrator",
    "POWERTOOLS_METRICS_NAMESPACE": "BatchOrchestrator",
}


def test_the_handler_fails_an_unreadable_record_and_publishes_only_the_records_before_it(
    monkeypatch: pytest.MonkeyPatch, fake: FakeEvents, lambda_context: Any
) -> None:
    # Given a batch: a run created, an unreadable run image, another run created, a RUNNING progress write
    for key, value in PUBLISH_ENV.items():
        monkeypatch.setenv(key, value)
    app = load_handler("publish_events")
    records = [
        stream_record("100", claimed_item("s3-aa")),
        stream_record("101", {"runId": "s3-bb", "status": "NOT_A_STATUS"}),
        stream_record("102", claimed_item("s3-cc")),
    ]

    # When the stream mapping delivers it
    response = app.handler({"Records": records}, lambda_context)

    # Then the unreadable record is reported (Lambda resumes there), and only the event before it is put
    assert response == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert [[json.loads(e["Detail"])["runId"] for e in call] for call in fake.calls] == [["s3-aa"]]


def test_the_handler_reports_the_record_whose_event_was_refused(
    monkeypatch: pytest.MonkeyPatch, fake: FakeEvents, lambda_context: Any
) -> None:
    for key, value in PUBLISH_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(event_bus, "RETRY_PAUSE_SECONDS", 0)
    fake._refuse = {"s3-cc": 99}
    app = load_handler("publish_events")
    records = [stream_record(str(100 + i), claimed_item(f"s3-{c}{c}")) for i, c in enumerate("abc")]
    assert app.handler({"Records": records}, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "102"}]}


def test_the_sample_events_fit_one_entry(fake: FakeEvents) -> None:
    bus = EventBus("default", SOURCE)
    for name in ("started", "failed", "queue_blocked"):
        assert entry_size(bus.entry(event_of(name))) < EVENTBRIDGE_ENTRY_SIZE.value
    assert CONTEXT.output_prefix == "output/"
