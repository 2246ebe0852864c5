"""The run lifecycle events, end to end on the local pipeline of template.yaml: the runs table's stream (moto's
dynamodbstreams) → the stream mapping (its FilterCriteria, batch size, window) → publish_events → PutEvents on the
stack's bus → a test consumer (a rule on the stack's source → an SQS queue, ``emulator.events_inbox``).

Done when (issue 15): a succeeding, a retried and a failing run each produce exactly their documented sequence, also
when every Batch event is delivered twice; every event received validates against the published JSON Schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest

from emulator.events_inbox import event_types
from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT
from tests.support.events import EVENTS_DIR

SCHEMA = json.loads((EVENTS_DIR / "schemas" / "lifecycle-event.schema.json").read_text(encoding="utf-8"))
# docs/integration.md, "Sequences"
SUCCEEDING = ["Run Started", "Run Succeeded"]
RETRIED = ["Run Started", "Run Attempt Failed", "Run Succeeded"]
FAILING = ["Run Started", "Run Failed"]


@pytest.fixture(params=[False, True], ids=["batch events once", "batch events twice"])
def events_pipeline(request: pytest.FixtureRequest) -> Iterator[LocalPipeline]:
    running = LocalPipeline({"NotifyOnSuccess": "true"}, duplicate_batch_events=request.param).start()
    try:
        yield running
    finally:
        running.stop()


def test_each_kind_of_run_publishes_exactly_its_sequence(events_pipeline: LocalPipeline) -> None:
    pipeline = events_pipeline
    # Given three uploads: one succeeds, one fails with 75 (retried) then succeeds, one fails with 3 for good
    ok = pipeline.upload("incoming/ok.csv", "a,b\n1,2\n")
    flaky = pipeline.upload("incoming/flaky.txt", "#exit 75 until attempt 2\npayload\n")
    broken = pipeline.upload("incoming/broken.txt", "#exit 3\n")

    # When they finish and everything is delivered
    runs = pipeline.wait_for_runs([ok.run_id, flaky.run_id, broken.run_id], timeout=RUN_TIMEOUT)
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)
    received = pipeline.lifecycle_events()

    # Then each run's events are exactly its documented sequence (duplicate Batch events changed nothing)
    assert [runs[r].status.value for r in (ok.run_id, flaky.run_id, broken.run_id)] == ["SUCCEEDED"] * 2 + ["FAILED"]
    assert event_types(received, ok.run_id) == SUCCEEDING
    assert event_types(received, flaky.run_id) == RETRIED
    assert event_types(received, broken.run_id) == FAILING
    assert len(received) == len(SUCCEEDING) + len(RETRIED) + len(FAILING)
    # and every one is a valid event of the stack's source, with one deduplication key per transition
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert [error.message for event in received for error in validator.iter_errors(event)] == []
    assert {event["source"] for event in received} == {pipeline.stack.outputs["EventSource"]}
    keys = [event["detail"]["eventKey"] for event in received]
    assert len(set(keys)) == len(keys)
    # and they say what happened: the retried run's failed attempt, exit codes, the success's outputs
    failed_attempt = next(e["detail"] for e in received if e["detail-type"] == "Run Attempt Failed")
    assert (failed_attempt["attempt"], failed_attempt["exitCode"], failed_attempt["next"]["attempt"]) == (1, 75, 2)
    failure = next(e["detail"] for e in received if e["detail-type"] == "Run Failed")
    assert (failure["runId"], failure["exitCode"], failure["attempt"]) == (broken.run_id, 3, 1)
    success = next(
        e["detail"] for e in received if e["detail"]["runId"] == ok.run_id and e["detail-type"] == "Run Succeeded"
    )
    assert success["outputs"]["prefix"] == f"{pipeline.stack.outputs['OutputPrefix']}{ok.run_id}/"
    assert success["input"]["key"] == "incoming/ok.csv"
    assert success["job"]["jobId"] == runs[ok.run_id].job_id
    # and the stream mapping's filters kept the RUNNABLE/STARTING/RUNNING writes from the function
    assert sum(d.filtered_out for d in pipeline.stream_deliveries()) >= 3 * 3
    # and, NotifyOnSuccess being on, each success also reached the alerts topic as a chat card (custom notification)
    cards = [json.loads(a.message) for a in pipeline.alerts() if a.message.startswith("{")]
    cards = [card for card in cards if card.get("source") == "custom"]
    assert sorted(card["metadata"]["threadId"] for card in cards) == sorted([ok.run_id, flaky.run_id])
    assert all("of workload *default* (s3) succeeded" in card["content"]["description"] for card in cards)
    assert pipeline.errors == []
