"""The demo's run requests (docs/integration.md, "Requesting runs"): another application asks for a run of workload
``reports`` by a "Run Requested" event on the stack's bus, then sends the same key again as a SubmitQueue message
(one run: the key is its idempotency key), and sends a request setting a variable the workload does not allow (a
"Run Rejected" event comes back, with the reason). SIMULATED: EventBridge's delivery of the event to the SubmitQueue
(moto, ``emulator.moto_fidelity``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import RequestSource
from emulator.console import Check

if TYPE_CHECKING:
    from emulator.console import Console
    from emulator.pipeline import LocalPipeline

REQUESTER = "com.example.billing"
WORKLOAD = "reports"  # emulator/demo_workloads.yaml: requests: {environment: [CUSTOMER_ID]}
GOOD_KEY, BAD_KEY = "invoice-2026-03-0042", "invoice-2026-03-0043"
VARIABLE = ("CUSTOMER_ID", "c-1842")


class DemoRequests(NamedTuple):
    run_id: str  # the run of GOOD_KEY, as the caller computes it before sending


def send_requests(pipeline: LocalPipeline, console: Console) -> DemoRequests:
    """Put the good request on the bus, send its key again to the queue, and put the bad one on the bus."""
    events, sqs = pipeline.stack.client("events"), pipeline.stack.client("sqs")
    name, value = VARIABLE

    def put(key: str, environment: Mapping[str, str]) -> None:
        detail = {"orchestrator": pipeline.stack.name, "workload": WORKLOAD, "requestKey": key}
        entry = {
            "EventBusName": pipeline.stack.outputs["EventBusName"],
            "Source": REQUESTER,
            "DetailType": "Run Requested",
            "Detail": json.dumps({**detail, "environment": dict(environment)}),
        }
        answer = events.put_events(Entries=[entry])
        if answer["FailedEntryCount"]:
            raise RuntimeError(f"PutEvents refused the demo's request: {answer['Entries']}")

    run_id = run_id_for(RequestSource(workload=WORKLOAD, request_key=GOOD_KEY, requester="", requested_at=""))
    put(GOOD_KEY, {name: value})
    console.line(f"  Run Requested event, key {GOOD_KEY}, {name}={value} -> run {run_id}")
    body = {"kind": "request", "requester": "billing-service", "workload": WORKLOAD, "requestKey": GOOD_KEY}
    sqs.send_message(QueueUrl=pipeline.stack.outputs["SubmitQueueUrl"], MessageBody=json.dumps(body))
    console.line("  the same key again, as a SubmitQueue message -> the same run (one run per key)")
    put(BAD_KEY, {"REGION": "eu-west-1"})
    console.line(f"  Run Requested event, key {BAD_KEY}, REGION=eu-west-1 (not allowed) -> a Run Rejected event")
    return DemoRequests(run_id=run_id)


def request_checks(pipeline: LocalPipeline, requests: DemoRequests, events: Sequence[Mapping[str, Any]]) -> list[Check]:
    """The requested run ran once, with its variable; the bad request came back as one Run Rejected event."""
    jobs = pipeline.jobs_of(requests.run_id)
    environment = {e["name"]: e["value"] for job in jobs for e in job["container"].get("environment", [])}
    name, value = VARIABLE
    ran_once = len(jobs) == 1 and environment.get(name) == value and environment.get("REQUEST_KEY") == GOOD_KEY
    rejections = [e["detail"] for e in events if e.get("detail-type") == "Run Rejected"]
    rejected = [
        r for r in rejections if r["input"].get("requestKey") == BAD_KEY and r["input"]["requester"] == REQUESTER
    ]
    return [
        Check(
            f"the requested run ran once (its key sent twice), with {name} from its request",
            ran_once,
            f"{len(jobs)} job(s), environment {environment}",
        ),
        Check(
            "the request setting a variable its workload does not allow came back as one Run Rejected event",
            len(rejected) == 1 and len(rejections) == 1 and "REGION" in str(rejected[0].get("reason")),
            f"Run Rejected events: {rejections}",
        ),
    ]
