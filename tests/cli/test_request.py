"""`orchestrator request WORKLOAD --key KEY`: a run requested the way another application does (run_requests).

The stack is template.yaml rendered with the table below (a workload that takes requests) and created in the emulator
(moto). What the CLI sends is read back from the SubmitQueue and held to events/schemas/run-request.schema.json and to
the submit function's parser; ``--via bus`` goes through the stack's own RunRequests rule (moto routes it to the
SubmitQueue), so the event is checked as the rule's target receives it.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from batch_orchestrator.adapters import aws
from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.limits import REQUEST_OVERRIDES_BUDGET
from batch_orchestrator.models import RequestSource, SubmitRequest
from batch_orchestrator.routing import UploadRoutes
from batch_orchestrator.run_requests import RejectedRequest
from batch_orchestrator.submit_messages import parse_submit_message
from batch_orchestrator.workload_table_file import FILE_VARIABLE
from batch_orchestrator.workloads import RequestPolicy, WorkloadTable
from emulator import EmulatedStack
from orchestrator_cli.commands.request import REQUESTER, message_body, request_fields
from orchestrator_cli.errors import ExitCode, UsageError
from tests.cli.conftest import CliRunner
from tests.support import workload_runs
from tests.support.decision_values import T0
from tests.support.events import EVENTS_DIR
from tests.support.runs import (
    SUBMIT_FUNCTION,
    discard_submit_queue,
    drain_submit_queue,
    jobs_of,
    read_run,
    take_all_bodies,
)
from tests.support.workload_yaml import SAMPLE_CONTAINER

TABLE = f"""
workloads:
  - name: reports
    requests: {{environment: [CUSTOMER_ID]}}{SAMPLE_CONTAINER}
"""
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((EVENTS_DIR / "schemas" / "run-request.schema.json").read_text(encoding="utf-8"))
)
REQUEST = ("request", "reports", "--key", "invoice-2026-03-0042", "--env", "CUSTOMER_ID=c-1842")
PAYLOAD = {"month": "2026-03", "lines": [1, 2.5, None, True], "note": "é ü \u2028"}


@pytest.fixture
def stack_workloads() -> str:
    return TABLE


def _routes(stack: EmulatedStack) -> UploadRoutes:
    """The stack's workload table, read as its submit function reads it."""
    env = stack.function_environment(SUBMIT_FUNCTION)
    if stack.workload_table_file is not None:
        env[FILE_VARIABLE] = str(stack.workload_table_file)
    return UploadRoutes(workload_table_from_env(env))


def _submitted_jobs() -> list[dict[str, Any]]:
    """Every SubmitJob request the shared package's Batch client makes from now on (as the adapter built it)."""
    sent: list[dict[str, Any]] = []
    aws.submit_client().meta.events.register(
        "before-parameter-build.batch.SubmitJob", lambda params, **_: sent.append(dict(params))
    )
    return sent


def _the_body(stack: EmulatedStack) -> tuple[str, dict[str, Any]]:
    (body,) = take_all_bodies(stack)
    return body, json.loads(body)


def test_request_sends_a_message_the_schema_and_the_submit_function_accept(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    discard_submit_queue(stack)  # S3's test event

    # When an operator requests a run, with a variable and a payload
    result = cli("--json", *REQUEST, "--payload", json.dumps(PAYLOAD), stack=stack)

    # Then one request message is on the SubmitQueue, as the schema describes it
    assert result.code == ExitCode.OK, result.err
    printed = result.json()
    body, message = _the_body(stack)
    VALIDATOR.validate(message)
    assert message == {
        "kind": "request",
        "requester": REQUESTER,
        "workload": "reports",
        "requestKey": "invoice-2026-03-0042",
        "environment": {"CUSTOMER_ID": "c-1842"},
        "payload": PAYLOAD,
    }

    # And the submit function's parser reads the run the CLI printed
    (request,) = parse_submit_message(body, routes=_routes(stack), message_id=printed["messageId"])
    assert isinstance(request, SubmitRequest)
    assert request.run_id == printed["runId"]
    assert printed["runId"].startswith("req-")
    assert isinstance(request.source, RequestSource)
    assert request.source.environment == (("CUSTOMER_ID", "c-1842"),)
    assert json.loads(request.source.payload or "") == PAYLOAD
    assert printed["rejectedRunId"] != printed["runId"]


def test_request_starts_the_run_it_prints_and_the_same_key_again_is_refused(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    discard_submit_queue(stack)

    # When an operator requests a run
    result = cli(*REQUEST, "--payload", '{"month": "2026-03"}', stack=stack)

    # Then the CLI says where it went, the run id and how to follow it
    assert result.code == ExitCode.OK, result.err
    assert "a request on the SubmitQueue (message " in result.out
    (run_line,) = [line for line in result.out.splitlines() if line.startswith("Run id: ")]
    run_id = run_line.removeprefix("Run id: ")
    assert f"Follow it with: orchestrator runs show {run_id}" in result.out

    # And the submit function starts exactly that run, whose job gets the request
    submitted = _submitted_jobs()
    assert drain_submit_queue(stack) == 1
    assert read_run(stack, run_id)["status"] == "SUBMITTED"
    assert len(jobs_of(stack, run_id)) == 1
    (job,) = submitted
    environment = {item["name"]: item["value"] for item in job["containerOverrides"]["environment"]}
    assert environment["REQUEST_KEY"] == "invoice-2026-03-0042"
    assert environment["REQUEST_SOURCE"] == REQUESTER
    assert environment["CUSTOMER_ID"] == "c-1842"
    assert json.loads(environment["REQUEST_PAYLOAD"]) == {"month": "2026-03"}
    shown = cli("runs", "show", run_id, stack=stack)
    assert shown.code == ExitCode.OK, shown.err
    assert f"request invoice-2026-03-0042 from {REQUESTER}" in shown.out

    # When the same key is requested again, whatever it carries, Then it is refused and nothing is sent
    again = cli("--json", "request", "reports", "--key", "invoice-2026-03-0042", "--payload", "{}", stack=stack)
    assert again.code == ExitCode.REFUSED
    error = again.json()["error"]
    assert f"already has run {run_id}" in error["message"]
    assert "the same key is one run" in error["message"]
    assert f"orchestrator runs show {run_id}" in error["hint"]
    assert take_all_bodies(stack) == []


def test_a_request_the_stack_rejects_is_the_run_printed_as_rejected(stack: EmulatedStack, cli: CliRunner) -> None:
    discard_submit_queue(stack)

    # When a request sets a variable the workload does not allow (which only the stack knows)
    result = cli("--json", "request", "reports", "--key", "k-1", "--env", "REGION=eu", stack=stack)
    assert result.code == ExitCode.OK, result.err
    printed = result.json()

    # Then the submit function records the rejection under the id the CLI printed for it, not the key's
    assert drain_submit_queue(stack) == 1
    rejected = read_run(stack, printed["rejectedRunId"])
    assert rejected["status"] == "FAILED"
    assert "REGION" in rejected["statusReason"]
    assert jobs_of(stack, printed["rejectedRunId"]) == []
    assert jobs_of(stack, printed["runId"]) == []
    shown = cli("runs", "show", printed["rejectedRunId"], stack=stack)
    assert f"request k-1 from {REQUESTER}" in shown.out
    assert "is not one this workload lets requests set" in shown.out

    # And the key is not used up: the corrected request is sent
    corrected = cli("--json", "request", "reports", "--key", "k-1", stack=stack)
    assert corrected.code == ExitCode.OK, corrected.err
    assert corrected.json()["runId"] == printed["runId"]


def test_request_via_the_bus_reaches_the_submit_queue_through_the_stacks_rule(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    discard_submit_queue(stack)

    # When an operator requests a run as an event
    result = cli("--json", *REQUEST, "--payload", '{"month": "2026-03"}', "--via", "bus", stack=stack)

    # Then one Run Requested event went on the stack's bus, from the CLI, naming the stack: its RunRequests rule
    # put it on the SubmitQueue, whole, as the schema describes it
    assert result.code == ExitCode.OK, result.err
    printed = result.json()
    assert printed["via"] == "bus"
    body, event = _the_body(stack)
    VALIDATOR.validate(event)
    assert event["detail-type"] == "Run Requested"
    assert event["source"] == REQUESTER
    assert event["id"] == printed["eventId"]
    assert event["detail"] == {
        "orchestrator": stack.name,
        "workload": "reports",
        "requestKey": "invoice-2026-03-0042",
        "environment": {"CUSTOMER_ID": "c-1842"},
        "payload": {"month": "2026-03"},
    }
    assert f"batch-orchestrator.{stack.name}" == stack.outputs["EventSource"]

    # And the submit function's parser reads the run the CLI printed
    (request,) = parse_submit_message(body, routes=_routes(stack), message_id="the-sqs-message-id")
    assert isinstance(request, SubmitRequest)
    assert request.run_id == printed["runId"]
    assert isinstance(request.source, RequestSource)
    assert request.source.requester == REQUESTER


def test_request_via_the_bus_with_a_refused_entry_is_an_error(
    stack: EmulatedStack, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bus that refuses the entry (PutEvents answers 200 with FailedEntryCount)
    from orchestrator_cli.aws import Aws

    sent: list[dict[str, Any]] = []

    class RefusingEvents:
        def put_events(self, **request: Any) -> dict[str, Any]:
            sent.append(request)
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized"}],
            }

    real_client = Aws.client
    monkeypatch.setattr(
        Aws,
        "client",
        lambda self, service, **kw: RefusingEvents() if service == "events" else real_client(self, service, **kw),
    )

    result = cli(*REQUEST, "--via", "bus", stack=stack)

    # Then the CLI fails naming the entry's error, and prints no run id
    assert result.code == ExitCode.AWS
    assert "NotAuthorizedForSourceException: Not authorized" in result.err
    assert "Run id" not in result.out
    (entry,) = sent[0]["Entries"]
    assert entry["Source"] == REQUESTER
    assert entry["DetailType"] == "Run Requested"
    assert entry["EventBusName"] == stack.outputs["EventBusName"]


BAD_INPUT = [
    (("request", "Reports", "--key", "k"), "workload must be a workload's name"),
    (("request", "a-name-longer-than-twenty", "--key", "k"), "workload must be a workload's name"),
    (("request", "reports", "--key=-starts-with-a-dash"), "--key must be 1 to 128 characters"),
    (("request", "reports", "--key", "has space"), "--key must be 1 to 128 characters"),
    (("request", "reports", "--key", "k" * 129), "--key must be 1 to 128 characters"),
    (("request", "reports", "--key", ""), "--key must be 1 to 128 characters"),
    (("request", "reports", "--key", "k", "--env", "CUSTOMER_ID"), "--env takes NAME=VALUE"),
    (("request", "reports", "--key", "k", "--env", "1BAD=x"), "is not a variable name"),
    (("request", "reports", "--key", "k", "--env", "REQUEST_KEY=x"), "is set by the orchestrator"),
    (("request", "reports", "--key", "k", "--env", "AWS_BATCH_X=x"), "reserved for Batch"),
    (("request", "reports", "--key", "k", "--env", "A=1", "--env", "A=2"), "--env A is given twice"),
    (("request", "reports", "--key", "k", "--payload", "[1, 2]"), "--payload must be a JSON object, got list"),
    (("request", "reports", "--key", "k", "--payload", '"text"'), "--payload must be a JSON object, got str"),
    (("request", "reports", "--key", "k", "--payload", "{nope"), "--payload is not JSON"),
    (("request", "reports", "--key", "k", "--payload", '{"a": NaN}'), "payload.a is not JSON"),
    (("request", "reports", "--key", "k", "--via", "carrier-pigeon"), "invalid choice"),
    (("request", "reports"), "the following arguments are required: --key"),
]


def test_bad_input_is_a_usage_error_and_sends_nothing(stack: EmulatedStack, cli: CliRunner) -> None:
    discard_submit_queue(stack)

    for arguments, message in BAD_INPUT:
        result = cli(*arguments, stack=stack)

        assert result.code == ExitCode.USAGE, arguments
        assert message in result.err, arguments
    assert take_all_bodies(stack) == []


def test_too_many_variables_and_too_large_a_request_are_usage_errors(stack: EmulatedStack, cli: CliRunner) -> None:
    discard_submit_queue(stack)
    many = [part for index in range(21) for part in ("--env", f"NAME_{index}=x")]
    assert "at most 20" in cli("request", "reports", "--key", "k", *many, stack=stack).err

    large = cli("request", "reports", "--key", "k", "--payload", json.dumps({"a": "x" * 5000}), stack=stack)
    assert large.code == ExitCode.USAGE
    assert f"over the {REQUEST_OVERRIDES_BUDGET.value} a request may set" in large.err
    assert take_all_bodies(stack) == []


@pytest.mark.parametrize("extra", [0, 1])
def test_the_size_budget_is_the_submit_functions(extra: int) -> None:
    # Given a request exactly at the budget (extra=0) or one byte over it (extra=1), as the submit function measures
    # it; the variable's value takes two bytes of UTF-8: the budget counts bytes, not characters
    overhead = len(json.dumps([{"CUSTOMER_ID": "é"}, '{"a":""}'], separators=(",", ":"), ensure_ascii=False).encode())
    payload = {"a": "x" * (REQUEST_OVERRIDES_BUDGET.value - overhead + extra)}
    fields = {"workload": "reports", "requestKey": "k", "environment": {"CUSTOMER_ID": "é"}, "payload": payload}

    # When the CLI checks it
    try:
        request_fields("reports", "k", ["CUSTOMER_ID=é"], json.dumps(payload))
        cli_accepts = True
    except UsageError:
        cli_accepts = False

    # And the submit function judges it, for a workload that allows the variable
    reports = workload_runs.table().get("reports")
    assert reports is not None
    allowing = reports._replace(requests=RequestPolicy(environment=("CUSTOMER_ID",)))
    routes = UploadRoutes(WorkloadTable((allowing,), output_prefix="results/"))
    (judged,) = parse_submit_message(message_body(fields), routes=routes, message_id="m", now=T0)

    # Then both accept it, or both refuse it
    assert cli_accepts == isinstance(judged, SubmitRequest) == (extra == 0)
    assert isinstance(judged, SubmitRequest | RejectedRequest)
