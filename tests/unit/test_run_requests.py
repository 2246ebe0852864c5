"""Run requests from other applications (``run_requests``): the workloads.yaml ``requests:`` field, the two ways in
(a "Run Requested" event delivered by the RunRequests rule, a "request" message sent to the SubmitQueue), the caller's
idempotency key, the job's environment, and every rejection: one RejectedRequest with a reason, never an exception or
a silent drop. The samples under events/ are checked against events/schemas/run-request.schema.json, with mutated
requests the schema rejects. The end-to-end path (the real rule, queue and stream) is tests/e2e/test_run_requests.py.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.ids import RUN_ID_PATTERN, job_name_for, run_id_for, run_of_job_name
from batch_orchestrator.lifecycle_events import DetailType, ItemChange, RunImage, event_for
from batch_orchestrator.limits import REQUEST_OVERRIDES_BUDGET
from batch_orchestrator.models import RequestSource, RunStatus, SubmitRequest, source_from_dict
from batch_orchestrator.routing import InputPrefixOnly, UploadRoutes
from batch_orchestrator.run_requests import RejectedRequest, reject_request
from batch_orchestrator.submit import SubmitOutcome, SubmitSettings, job_environment, submit_run
from batch_orchestrator.submit_messages import parse_submit_message, retry_message
from batch_orchestrator.workloads import WorkloadTableError, parse_workloads, to_runtime_json
from tests.support.environments import (
    DEFINITION,
    GLOBALS,
    QUEUE,
    SUBMIT_ENV,
    job_definition,
    with_workloads,
    workload_json,
)
from tests.support.events import EVENTS_DIR, load_event
from tests.support.fakes import FakeJobGateway, FakeRunStore
from tests.support.handlers import load_handler
from tests.support.lifecycle_changes import CONTEXT
from tests.support.logs import emf_metrics

if TYPE_CHECKING:
    from tests.conftest import FakeLambdaContext

NOW = datetime(2026, 3, 14, 2, 0, 7, tzinfo=UTC)
WORKLOADS = (
    workload_json("reports", requests={"environment": ["CUSTOMER_ID"]}),
    workload_json("images", match={"prefix": "images/"}),
)
ENV = with_workloads(GLOBALS, WORKLOADS)
TABLE = workload_table_from_env(ENV)
ROUTES = UploadRoutes(TABLE)
SCHEMA = json.loads((EVENTS_DIR / "schemas" / "run-request.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
BASE = {
    "name": "reports",
    "image": "public.ecr.aws/docker/library/python:3.13-slim",
    "vcpu": "1",
    "memory": 2048,
    "timeout_seconds": 900,
}


def message(**fields: Any) -> str:
    body = {"kind": "request", "workload": "reports", "requestKey": "invoice-42", **fields}
    return json.dumps({k: v for k, v in body.items() if v is not None})


def event(event_id: str = "e-1", **detail: Any) -> str:
    fields = {"orchestrator": "batch-orchestrator", "workload": "reports", "requestKey": "invoice-42", **detail}
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "detail-type": "Run Requested",
            "source": "com.example.billing",
            "account": "123456789012",
            "time": "2026-03-14T02:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {k: v for k, v in fields.items() if v is not None},
        }
    )


def parsed(body: str, message_id: str = "m-1") -> SubmitRequest | RejectedRequest:
    (request,) = parse_submit_message(body, routes=ROUTES, message_id=message_id, now=NOW)
    assert isinstance(request, SubmitRequest | RejectedRequest)
    return request


def accepted(body: str, message_id: str = "m-1") -> SubmitRequest:
    request = parsed(body, message_id)
    assert isinstance(request, SubmitRequest), request
    return request


def rejected(body: str, message_id: str = "m-1") -> RejectedRequest:
    request = parsed(body, message_id)
    assert isinstance(request, RejectedRequest), request
    return request


# ------------------------------------------------------------------------------ the workloads.yaml field
def test_a_workload_takes_requests_and_keeps_them_in_the_runtime_table() -> None:
    # Given a workload whose only trigger is requests, with one variable a request may set
    (workload,) = parse_workloads(
        [{**BASE, "requests": {"environment": ["CUSTOMER_ID"]}}], source="workloads.yaml", runtime=False
    )
    # Then it reads, and the layer's table carries it back unchanged
    assert workload.requests is not None
    assert workload.requests.environment == ("CUSTOMER_ID",)
    (again,) = parse_workloads([to_runtime_json(workload)], source="workload_table.json", runtime=True)
    assert again.requests == workload.requests
    # and `requests: {}` takes requests that set no variable; a workload without it takes none
    (bare,) = parse_workloads([{**BASE, "requests": {}}], source="workloads.yaml", runtime=False)
    assert bare.requests is not None
    assert bare.requests.environment == ()
    (plain,) = parse_workloads([{**BASE, "match": {"prefix": "r/"}}], source="workloads.yaml", runtime=False)
    assert plain.requests is None
    assert "requests" not in to_runtime_json(plain)


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"requests": ["X"]}, "requests: must be a mapping such as {environment: [NAME, ...]} (or {}), got"),
        ({"requests": {"enviroment": []}}, "requests.enviroment: unknown key; did you mean 'environment'?"),
        ({"requests": {"environment": "X"}}, "requests.environment: must be a list of variable names, got"),
        ({"requests": {"environment": ["RUN_ID"]}}, "requests.environment[0]: 'RUN_ID' is set by the orchestrator"),
        ({"requests": {"environment": ["REQUEST_X"]}}, "requests.environment[0]: 'REQUEST_X' is set by the orch"),
        ({"requests": {"environment": ["AWS_BATCH_X"]}}, "requests.environment[0]: 'AWS_BATCH_X' names starting"),
        ({"requests": {"environment": ["1X"]}}, "requests.environment[0]: '1X' is not a variable name"),
        ({"requests": {"environment": ["A", "A"]}}, "requests.environment[1]: A is listed twice"),
        ({"requests": {"environment": [f"V{i}" for i in range(21)]}}, "requests.environment: names 21 variables"),
        (
            {"requests": {}, "match": {"prefix": "m/"}, "array": {"manifest": "upload"}},
            "requests: cannot go with array: {manifest: upload}: its runs read an upload",
        ),
        (
            {"requests": {}, "match": {"prefix": "m/"}, "array": {"manifest": "upload-directory"}},
            "requests: cannot go with array: {manifest: upload-directory}",
        ),
        (
            {"requests": {}, "match": {"prefix": "m/"}, "coalesce": {}},
            "requests: cannot go with coalesce: only uploads are coalesced",
        ),
    ],
)
def test_each_requests_rule_is_one_line_naming_its_field(fields: dict[str, Any], line: str) -> None:
    with pytest.raises(WorkloadTableError) as raised:
        parse_workloads([{**BASE, **fields}], source="workloads.yaml", runtime=False)
    lines = [str(p) for p in raised.value.problems]
    assert len(lines) == 1, lines
    assert lines[0].startswith("workloads.yaml: reports: " + line), lines[0]


def test_a_pipelines_later_step_cannot_take_requests() -> None:
    first = {**BASE, "name": "prepare", "requests": {}, "then": "reports"}
    later = {**BASE, "requests": {}}
    with pytest.raises(WorkloadTableError) as raised:
        parse_workloads([first, later], source="workloads.yaml", runtime=False)
    assert [str(p) for p in raised.value.problems] == [
        "workloads.yaml: reports: requests: a pipeline's later step cannot take requests: set it on the pipeline's "
        "first workload"
    ]


# ------------------------------------------------------------------------------ accepted requests
def test_an_event_and_a_message_with_one_key_are_one_run() -> None:
    # Given the same request by event (delivered by the rule) and by message, the second setting another value
    by_event = accepted(event(environment={"CUSTOMER_ID": "c-1"}, payload={"month": "2026-03"}))
    by_message = accepted(message(requester="billing", environment={"CUSTOMER_ID": "c-2"}), message_id="m-2")

    # Then both are the run of the key, attempt 1 of workload reports' first plan
    assert by_event.run_id == by_message.run_id
    assert RUN_ID_PATTERN.match(by_event.run_id)
    assert by_event.run_id.startswith("req-")
    assert (by_event.attempt, by_event.plan.workload) == (1, "reports")
    # and each says who asked and what it set
    source = by_event.source
    assert isinstance(source, RequestSource)
    assert (source.requester, source.requested_at, source.message_id) == (
        "com.example.billing",
        "2026-03-14T02:00:00Z",
        None,
    )
    assert (source.environment, source.payload) == ((("CUSTOMER_ID", "c-1"),), '{"month":"2026-03"}')
    assert by_message.source.requester == "billing"  # type: ignore[union-attr]
    assert by_message.source.requested_at == "2026-03-14T02:00:07.000Z"  # type: ignore[union-attr]


def test_the_key_is_scoped_to_its_workload_and_distinct_keys_are_distinct_runs() -> None:
    table = workload_table_from_env(
        with_workloads(GLOBALS, [workload_json("reports", requests={}), workload_json("exports", requests={})])
    )
    routes = UploadRoutes(table)
    (a,) = parse_submit_message(message(), routes=routes, message_id="m", now=NOW)
    (b,) = parse_submit_message(message(workload="exports"), routes=routes, message_id="m", now=NOW)
    (c,) = parse_submit_message(message(requestKey="invoice-43"), routes=routes, message_id="m", now=NOW)
    assert len({a.run_id, b.run_id, c.run_id}) == 3  # type: ignore[union-attr]


def test_the_source_survives_the_run_item_and_the_retry_message() -> None:
    # Given an accepted request with variables and a payload
    request = accepted(event(environment={"CUSTOMER_ID": "c-1"}, payload={"n": [1, 2]}))

    # Then its source reads back as it was (run item), and a retry of the run carries it whole
    assert source_from_dict(request.source.to_dict()) == request.source
    (retry,) = parse_submit_message(
        retry_message(run_id=request.run_id, attempt=2, source=request.source, plan=request.plan), routes=ROUTES
    )
    assert isinstance(retry, SubmitRequest)
    assert (retry.run_id, retry.source, retry.attempt) == (request.run_id, request.source, 2)
    # and its job name starts with the run id and the attempt, with the key as the readable hint
    name = job_name_for(request.run_id, 1, request.source)
    assert name == f"{request.run_id}-a1-invoice-42"
    assert run_of_job_name(name) == (request.run_id, 1)


def test_the_job_gets_the_request_and_only_the_variables_it_set() -> None:
    request = accepted(event(environment={"CUSTOMER_ID": "c-1"}, payload={"month": "2026-03"}))
    env = job_environment(request)
    assert env == {
        "RUN_ID": request.run_id,
        "RUN_ATTEMPT": "1",
        "TRIGGER": "request",
        "REQUEST_KEY": "invoice-42",
        "REQUEST_SOURCE": "com.example.billing",
        "REQUEST_PAYLOAD": '{"month":"2026-03"}',
        "CUSTOMER_ID": "c-1",
    }
    assert "REQUEST_PAYLOAD" not in job_environment(accepted(event()))


def test_an_accepted_request_is_submitted_once_whatever_the_second_one_carries() -> None:
    # Given the submit path on the fakes
    runs = FakeRunStore()
    jobs = FakeJobGateway(job_queues=[QUEUE], job_definitions=[DEFINITION, job_definition("reports")])
    settings = SubmitSettings(
        job_queue=QUEUE, job_definition=DEFINITION, max_attempts=3, claim_lease_seconds=90, workloads=TABLE
    )
    first = accepted(event(environment={"CUSTOMER_ID": "c-1"}))
    again = accepted(message(environment={"CUSTOMER_ID": "c-2"}), message_id="m-9")

    # When both are submitted
    outcomes = [submit_run(r, runs=runs, jobs=jobs, settings=settings, now=NOW).outcome for r in (first, again)]

    # Then one job ran, with the first request's variable, on workload reports' job definition
    assert outcomes == [SubmitOutcome.SUBMITTED, SubmitOutcome.DUPLICATE]
    (job,) = jobs.jobs
    assert job.spec.environment["CUSTOMER_ID"] == "c-1"
    assert job.spec.job_definition == job_definition("reports")


# ------------------------------------------------------------------------------ rejections
REJECTIONS: dict[str, tuple[str, str]] = {
    "no such workload": (message(workload="nope"), "this stack has no workload 'nope'"),
    "a workload that takes no requests": (
        message(workload="images"),
        "workload 'images' does not take requests (its workloads.yaml entry has no requests:)",
    ),
    "a workload name that is no name": (message(workload="Bad Name"), "workload must be a workload's name"),
    "no workload": (message(workload=None), "workload must be a workload's name (lowercase letters, digits, '-'), "),
    "no key": (message(requestKey=None), "requestKey must be 1 to 128 characters"),
    "an empty key": (message(requestKey=""), "requestKey must be 1 to 128 characters"),
    "a key too long": (message(requestKey="k" * 129), "requestKey must be 1 to 128 characters"),
    "a key with a space": (message(requestKey="a b"), "requestKey must be 1 to 128 characters"),
    "a key that is a number": (message(requestKey=42), "requestKey must be 1 to 128 characters"),
    "a variable the workload does not allow": (
        message(environment={"CUSTOMER_ID": "c", "REGION": "eu"}),
        "environment variable 'REGION' is not one this workload lets requests set (CUSTOMER_ID)",
    ),
    "a variable that is the orchestrator's": (
        message(environment={"RUN_ID": "x"}),
        "environment variable 'RUN_ID' is not one this workload lets requests set",
    ),
    "a value that is a number": (message(environment={"CUSTOMER_ID": 7}), "environment variable CUSTOMER_ID must be"),
    "an environment that is a list": (message(environment=["CUSTOMER_ID"]), "environment must be an object"),
    "a payload that is a list": (message(payload=[1]), "payload must be a JSON object, got list"),
    "an unknown field": (message(priority="high"), "unknown field 'priority': a request has workload, requestKey"),
    "a requester that is no text": (message(requester=["x"]), "requester must be text of at most 256 characters"),
    "over the budget": (
        message(payload={"blob": "x" * REQUEST_OVERRIDES_BUDGET.value}),
        "environment and payload take 4",
    ),
    "an event whose detail is no object": (
        json.dumps({"detail-type": "Run Requested", "id": "e-2", "source": "app", "detail": "run it"}),
        "the event's detail must be an object, got 'run it'",
    ),
    "an event with a message's field": (event(requester="x"), "unknown field 'requester'"),
    "a workload name of a megabyte": (message(workload="w" * 1_000_000), "workload must be a workload's name"),
    "a field name of a megabyte": (message(**{"x" * 1_000_000: 1}), "unknown field 'xxxx"),
    "an event that names no stack": (event(orchestrator=None), "the event's detail must name the stack (orchestrator"),
}


@pytest.mark.parametrize("name", sorted(REJECTIONS))
def test_each_bad_request_is_one_rejection_with_its_reason(name: str) -> None:
    body, reason = REJECTIONS[name]
    rejection = rejected(body)
    assert rejection.reason.startswith(reason), rejection.reason
    assert len(rejection.reason) < 300  # one short line, whatever the caller sent
    # known by its message (or event) id, never by its key: the corrected request may use the key again
    assert rejection.source.message_id in ("m-1", "e-1", "e-2")
    assert rejection.run_id == run_id_for(rejection.source) != run_id_for(rejection.source._replace(message_id=None))
    assert RUN_ID_PATTERN.match(rejection.run_id)


def test_a_rejection_keeps_what_the_caller_can_match_it_by() -> None:
    # Given a request of a usable key and workload, rejected for its variable, delivered twice; and a corrected one
    body = event(event_id="e-7", environment={"REGION": "eu"})
    first, again = rejected(body, message_id="m-1"), rejected(body, message_id="m-2")
    corrected = accepted(event(event_id="e-8"))

    # Then the rejection names the key, workload and requester, and both deliveries are one rejected run (the
    # event's id, not the SQS message's), which is not the key's run
    assert (first.source.request_key, first.source.workload, first.source.requester) == (
        "invoice-42",
        "reports",
        "com.example.billing",
    )
    assert first.run_id == again.run_id != corrected.run_id
    assert first.plan.workload == "reports"
    # and a request of an unusable workload is recorded under the default workload's plan, its name left ""
    unusable = rejected(message(workload="Bad Name"))
    assert (unusable.source.workload, unusable.plan.workload) == ("", "default")


def test_a_stack_without_a_table_rejects_every_request() -> None:
    (request,) = parse_submit_message(message(), routes=InputPrefixOnly("incoming/"), message_id="m", now=NOW)
    assert isinstance(request, RejectedRequest)
    assert request.reason == "this stack has no workload 'reports'"


def test_a_rejection_is_a_refused_run_owing_no_alert_published_as_run_rejected() -> None:
    # Given a rejected request, written twice (two deliveries)
    runs = FakeRunStore()
    rejection = rejected(message(environment={"REGION": "eu"}))
    written = [reject_request(rejection, runs=runs, now=NOW) for _ in range(2)]

    # Then one run item is FAILED with the reason, owing no alert (not in the watchdog's index)
    assert written == [True, False]
    run = runs.get(rejection.run_id)
    assert run is not None
    assert (run.status, run.side_effect, run.status_reason) == (RunStatus.FAILED, None, rejection.reason)
    assert runs.active_status(rejection.run_id) is None
    # and its creation is a "Run Rejected" event naming the request; an accepted request's start is "Run Started"
    published = event_for(ItemChange(None, RunImage(run)), CONTEXT)
    assert published is not None
    assert published.detail_type is DetailType.RUN_REJECTED
    assert published.detail["reason"] == rejection.reason
    assert published.detail["input"]["messageId"] == "m-1"
    assert published.detail["job"]["jobQueue"] is None


# ------------------------------------------------------------------------------ the handler
def test_the_handler_submits_rejects_and_deduplicates_in_one_batch(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given submit_jobs of the stack, on the in-memory runs table and Batch
    env = with_workloads(SUBMIT_ENV, WORKLOADS)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = load_handler("submit_jobs")
    config = app.SubmitConfig.from_env(env)
    runs = FakeRunStore()
    definitions = [w.job_definition for w in TABLE.workloads]
    jobs = FakeJobGateway(job_queues=[config.submit.job_queue], job_definitions=definitions)
    monkeypatch.setattr(app, "_dependencies", lambda: (config, runs, jobs))

    # When one batch holds the sample requests (one key, by event and by message) and a bad one
    sample = load_event("sqs_run_request.json")["Records"]
    bad = {**sample[1], "messageId": "m-bad", "body": message(workload="images")}
    capsys.readouterr()
    response = app.handler({"Records": [*sample, bad]}, lambda_context)

    # Then nothing failed: one job, one duplicate, one rejection recorded (counted without a workload)
    assert response == {"batchItemFailures": []}
    assert len(jobs.jobs) == 1
    assert emf_metrics(capsys.readouterr().out) == {"JobsSubmitted": 1, "DuplicatesSkipped": 1, "RequestsRejected": 1}
    refused = [r for r in runs.all_runs() if r.status is RunStatus.FAILED]
    assert [r.status_reason for r in refused] == [
        "workload 'images' does not take requests (its workloads.yaml entry has no requests:)"
    ]


# ------------------------------------------------------------------------------ the published schema
def _bodies() -> list[dict[str, Any]]:
    return [json.loads(record["body"]) for record in load_event("sqs_run_request.json")["Records"]]


def test_the_samples_validate_and_ask_for_one_run() -> None:
    event_body, _message_body = _bodies()
    assert event_body == json.loads((EVENTS_DIR / "run_requested.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert [e.message for body in _bodies() for e in VALIDATOR.iter_errors(body)] == []
    ids = {accepted(json.dumps(body)).run_id for body in _bodies()}
    assert len(ids) == 1


SCHEMA_MUTATIONS: dict[str, tuple[int, Any]] = {
    "an event without orchestrator": (0, lambda b: b["detail"].pop("orchestrator")),
    "an event with an unknown detail field": (0, lambda b: b["detail"].update(priority=1)),
    "an event of another detail-type": (0, lambda b: b.update({"detail-type": "Run Wanted"})),
    "a message without its key": (1, lambda b: b.pop("requestKey")),
    "a message with a key too long": (1, lambda b: b.update(requestKey="k" * 129)),
    "a message with a number as a variable": (1, lambda b: b["environment"].update(CUSTOMER_ID=7)),
    "a message with a payload that is a list": (1, lambda b: b.update(payload=[1])),
    "a message of another kind": (1, lambda b: b.update(kind="retry")),
    "a message with a workload that is no name": (1, lambda b: b.update(workload="Reports")),
}


@pytest.mark.parametrize("name", sorted(SCHEMA_MUTATIONS))
def test_the_schema_rejects_a_mutated_request_and_so_does_the_function(name: str) -> None:
    index, mutate = SCHEMA_MUTATIONS[name]
    body = copy.deepcopy(_bodies()[index])
    mutate(body)
    assert list(VALIDATOR.iter_errors(body)) != []
    # what the schema rejects, the function rejects too (or does not read as a request at all)
    if name != "an event of another detail-type" and name != "a message of another kind":
        assert isinstance(parsed(json.dumps(body)), RejectedRequest)
