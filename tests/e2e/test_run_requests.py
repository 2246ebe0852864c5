"""Run requests from other applications, end to end on the local pipeline of template.yaml rendered with a workload
that takes them: a "Run Requested" event put on the stack's bus (moto's EventBridge, the template's RunRequests rule
and its SQS target) or a message sent to the SubmitQueue → submit_jobs → Batch (the local job runner) → the runs
table's stream → publish_events → the test consumer (``emulator.events_inbox``).

Done when (issue 15): an application starts a run by event or by message with an idempotency key (the same key twice
is one run), and a bad request comes back as a "Run Rejected" event with a clear reason; every event received
validates against the published JSON Schema. SIMULATED: Batch and Fargate (the local job runner), EventBridge's
delivery to SQS (moto, with the patch of ``emulator.moto_fidelity``: the event itself, as AWS delivers it).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import RequestSource
from emulator.events_inbox import event_types
from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT, result_object
from tests.support.events import EVENTS_DIR
from tests.support.runs import job_environment

SCHEMA = json.loads((EVENTS_DIR / "schemas" / "lifecycle-event.schema.json").read_text(encoding="utf-8"))
REQUEST_SCHEMA = json.loads((EVENTS_DIR / "schemas" / "run-request.schema.json").read_text(encoding="utf-8"))
WORKLOADS_YAML = """
workloads:
  - name: reports
    requests: {environment: [CUSTOMER_ID]}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    retry: {exit_codes: "75", max_attempts: 3, base_delay_seconds: 1}
"""
REQUESTER = "com.example.billing"


def _put_request(pipeline: LocalPipeline, **detail: Any) -> None:
    """What an application does: one PutEvents entry on the stack's bus, naming the stack."""
    entry = {
        "Source": REQUESTER,
        "DetailType": "Run Requested",
        "Detail": json.dumps({"orchestrator": pipeline.stack.name, "workload": "reports", **detail}),
        "EventBusName": pipeline.stack.outputs["EventBusName"],
    }
    response = pipeline.stack.client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0, response


def _send_request(pipeline: LocalPipeline, **fields: Any) -> None:
    """The other way in: a message on the SubmitQueue (what `orchestrator request` sends)."""
    body = {"kind": "request", "requester": "billing-service", "workload": "reports", **fields}
    assert list(jsonschema.Draft202012Validator(REQUEST_SCHEMA).iter_errors(body)) == []
    pipeline.stack.client("sqs").send_message(
        QueueUrl=pipeline.stack.outputs["SubmitQueueUrl"], MessageBody=json.dumps(body)
    )


def _run_id(key: str) -> str:
    """The run id a caller computes before sending: the workload and its idempotency key."""
    return run_id_for(RequestSource(workload="reports", request_key=key, requester="", requested_at=""))


def test_requests_by_event_and_message_run_once_per_key_and_a_bad_one_is_rejected() -> None:
    pipeline = LocalPipeline(workloads_yaml=WORKLOADS_YAML).start()
    try:
        # Given requests by event: one that succeeds, one whose job fails with 75 once; and a bad one
        _put_request(pipeline, requestKey="invoice-42", environment={"CUSTOMER_ID": "c-1842"}, payload={"n": 1})
        _put_request(pipeline, requestKey="invoice-43", payload={"directive": "#exit 75 until attempt 2"})
        _put_request(pipeline, requestKey="invoice-44", environment={"REGION": "eu-west-1"})
        ok, flaky = _run_id("invoice-42"), _run_id("invoice-43")

        # When they finish, and the first key is requested again by message (another value for its variable)
        runs = pipeline.wait_for_runs([ok, flaky], timeout=RUN_TIMEOUT)
        _send_request(pipeline, requestKey="invoice-42", environment={"CUSTOMER_ID": "someone-else"})
        pipeline.wait_idle(timeout=IDLE_TIMEOUT)
        received = pipeline.lifecycle_events()

        # Then each good key ran as one run, with exactly a run's documented sequence
        assert [runs[r].status.value for r in (ok, flaky)] == ["SUCCEEDED", "SUCCEEDED"]
        assert event_types(received, ok) == ["Run Started", "Run Succeeded"]
        assert event_types(received, flaky) == ["Run Started", "Run Attempt Failed", "Run Succeeded"]
        # and the key requested again started nothing: one job, with the first request's variable
        (job,) = pipeline.jobs_of(ok)
        environment = job_environment(job)
        assert {
            name: environment.get(name) for name in ("TRIGGER", "REQUEST_KEY", "REQUEST_SOURCE", "CUSTOMER_ID")
        } == {
            "TRIGGER": "request",
            "REQUEST_KEY": "invoice-42",
            "REQUEST_SOURCE": REQUESTER,
            "CUSTOMER_ID": "c-1842",
        }
        assert result_object(pipeline, ok)["request"] == {"key": "invoice-42", "source": REQUESTER, "payload": {"n": 1}}
        assert len(pipeline.jobs_of(flaky)) == 2
        # and the bad request came back as one Run Rejected event, naming its key, requester and reason, no job
        (rejection,) = [e["detail"] for e in received if e["detail-type"] == "Run Rejected"]
        assert (rejection["input"]["requestKey"], rejection["input"]["requester"]) == ("invoice-44", REQUESTER)
        assert rejection["reason"] == (
            "environment variable 'REGION' is not one this workload lets requests set (CUSTOMER_ID)"
        )
        assert rejection["job"]["jobId"] is None
        assert pipeline.jobs_of(rejection["runId"]) == []
        assert event_types(received, rejection["runId"]) == ["Run Rejected"]
        # and nothing else was published; every event is valid, of the stack's source
        assert len(received) == 2 + 3 + 1
        validator = jsonschema.Draft202012Validator(SCHEMA)
        assert [error.message for event in received for error in validator.iter_errors(event)] == []
        assert {event["source"] for event in received} == {pipeline.stack.outputs["EventSource"]}
        # and a rejection owes operators no alert (the caller hears it); the SubmitDLQ is empty
        assert [a for a in pipeline.alerts() if "invoice-44" in a.message] == []
        assert pipeline.queue_depth("SubmitDLQUrl") == 0
        assert pipeline.errors == []
    finally:
        pipeline.stop()


def test_a_request_naming_another_stack_never_reaches_this_one() -> None:
    pipeline = LocalPipeline(workloads_yaml=WORKLOADS_YAML).start()
    try:
        # Given a Run Requested event on the same bus for another stack
        entry = {
            "Source": REQUESTER,
            "DetailType": "Run Requested",
            "Detail": json.dumps({"orchestrator": "another-stack", "workload": "reports", "requestKey": "k-1"}),
            "EventBusName": pipeline.stack.outputs["EventBusName"],
        }
        pipeline.stack.client("events").put_events(Entries=[entry])
        pipeline.wait_idle(timeout=IDLE_TIMEOUT)

        # Then this stack's rule did not take it: no run, no event
        assert pipeline.run(_run_id("k-1")) is None
        assert pipeline.lifecycle_events() == []
    finally:
        pipeline.stop()
