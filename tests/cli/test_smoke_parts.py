"""The pieces of `orchestrator smoke`: verdict and exit codes, the table, alerts as SQS receives them,
the canary contract (with the template's default placeholder command), alarms, the local `serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from batch_orchestrator.alert_format import JSON_SEPARATOR
from emulator import EmulatedStack
from emulator.smoke_support import function_name_of, stack_functions_invocable
from orchestrator_cli import local_serve
from orchestrator_cli.errors import ExitCode, NotFound, UsageError
from orchestrator_cli.main import build_parser
from orchestrator_cli.smoke_alerts import parse_notification
from orchestrator_cli.smoke_report import Result, SmokeReport, StepOutcome, render_text, verdict_of
from orchestrator_cli.smoke_steps import canaries, failure_exit_code, judge_alarms, schedule_payload

ROOT = Path(__file__).resolve().parents[2]


def outcome(number: int, result: Result, name: str = "a step") -> StepOutcome:
    return StepOutcome(number, name, result, 1.0, "detail")


# ------------------------------------------------------------------------------------- verdict
@pytest.mark.parametrize(
    ("results", "interrupted", "code", "start"),
    [
        ([Result.PASSED, Result.PASSED], False, ExitCode.OK, "SMOKE PASSED:"),
        ([Result.PASSED, Result.SKIPPED], False, ExitCode.OK, "SMOKE PASSED:"),
        ([Result.PASSED, Result.NOT_VERIFIED], False, ExitCode.OK, "SMOKE PASSED WITH GAPS:"),
        ([Result.FAILED, Result.NOT_VERIFIED], False, ExitCode.CHECK_FAILED, "SMOKE FAILED:"),
        ([Result.PASSED, Result.SKIPPED], True, ExitCode.INTERRUPTED, "SMOKE INTERRUPTED:"),
    ],
)
def test_the_exit_code_is_0_only_when_nothing_failed_and_nobody_interrupted(
    results: list[Result], interrupted: bool, code: int, start: str
) -> None:
    verdict = verdict_of([outcome(i, r, f"step{i}") for i, r in enumerate(results, 1)], interrupted=interrupted)

    assert verdict.exit_code == code
    assert verdict.text.startswith(start)
    for index, result in enumerate(results, 1):
        if interrupted:  # an interrupted smoke test proves nothing: no step is singled out
            assert f"step{index}" not in verdict.text
        elif result is Result.NOT_VERIFIED:
            assert f"NOT VERIFIED: step{index}" in verdict.text
        elif result is Result.SKIPPED:
            assert f"skipped: step{index}" in verdict.text


def test_the_table_explains_failed_and_not_verified_steps() -> None:
    report = SmokeReport(
        "prod",
        "eu-west-1",
        "20260101T000000Z-abcd",
        [
            StepOutcome(1, "upload succeeds", Result.PASSED, 61.24, "run s3-1 SUCCEEDED"),
            StepOutcome(2, "failure alerts", Result.FAILED, 900.0, "no alert", "an alert", "nothing", ("logs here",)),
        ],
        removed=["queue q"],
    )

    lines = render_text(report)

    assert lines[0] == "Smoke test of stack prod (eu-west-1), smoke id 20260101T000000Z-abcd"
    assert lines[2].split() == ["STEP", "RESULT", "SECONDS", "DETAIL"]
    assert lines[3].split()[:5] == ["1", "upload", "succeeds", "PASSED", "61.2"]
    assert "Step 2 (failure alerts) FAILED:" in lines
    assert lines[7:10] == ["  expected: an alert", "  seen:     nothing", "  look at:  logs here"]
    assert "  queue q" in lines
    assert lines[-1] == "SMOKE FAILED: step 2 (failure alerts) failed."


# -------------------------------------------------------------------------------------- canaries
@pytest.mark.parametrize(("spec", "code"), [("75", 3), ("", 3), ("3,75", 4), ("1-10,75,137-143", 11)])
def test_the_failure_canary_exit_code_is_never_one_the_stack_retries(spec: str, code: int) -> None:
    assert failure_exit_code(spec) == code


def test_a_stack_that_retries_every_code_cannot_be_smoke_tested_for_alerts() -> None:
    with pytest.raises(UsageError, match="retries every exit code from 3 to 125"):
        failure_exit_code("0-255")


@pytest.mark.parametrize(("key", "code"), [("incoming/smoke/x/smoke-fail-exit-3.txt", 3), ("smoke-ok.txt", 0), ("", 0)])
def test_the_template_default_job_command_honours_the_canary_contract(key: str, code: int) -> None:
    # Given the JobCommand default of template.yaml, as CloudFormation splits a CommaDelimitedList
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)
    argv = template["Parameters"]["JobCommand"]["Default"].split(",")
    assert argv[:2] == ["python3", "-c"]
    assert len(argv) == 3

    # When the container runs it for an input (the image's python3: this interpreter)
    env = {**os.environ, "RUN_ID": "s3-0123", "RUN_ATTEMPT": "1", "INPUT_KEY": key}
    done = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, text=True, timeout=30)

    # Then it prints the run id, and exits N only for a failure canary smoke-fail-exit-N
    assert done.returncode == code, done.stderr
    assert "batch-orchestrator run s3-0123 attempt 1" in done.stdout


def test_the_sample_job_fails_the_failure_canary_by_its_first_line() -> None:
    from jobs.sample.job import directive_exit_code

    _, failure = canaries("incoming/", "id", 3)
    assert failure.key == "incoming/smoke/id/smoke-fail-exit-3.txt"
    assert directive_exit_code(failure.body.splitlines()[0], attempt=1) == 3
    assert directive_exit_code(failure.body.splitlines()[0], attempt=3) == 3  # not "until attempt": for good


# --------------------------------------------------------------------------------------- alerts
def test_an_alert_is_matched_to_its_run_from_the_sns_envelope() -> None:
    details = {"alertType": "RUN_FAILED", "runId": "s3-0123", "exitCode": 3}
    envelope = {
        "Type": "Notification",
        "Subject": "Batch job failed: smoke-fail-exit-3.txt (exit 3, attempt 1/3)",
        "Message": f"Run s3-0123 failed for good.\n\n{JSON_SEPARATOR}\n{json.dumps(details)}\n",
        "MessageAttributes": {
            "alertType": {"Type": "String", "Value": "RUN_FAILED"},
            "exitCode": {"Type": "Number", "Value": "3"},
        },
    }

    alert = parse_notification(json.dumps(envelope))

    assert alert is not None
    assert (alert.run_id, alert.alert_type, alert.exit_code) == ("s3-0123", "RUN_FAILED", 3)
    assert parse_notification(json.dumps({"Type": "SubscriptionConfirmation"})) is None
    assert parse_notification("not json") is None


def test_the_schedule_payload_is_the_schedules_input_with_its_context_filled_in() -> None:
    template_input = json.dumps(
        {
            "scheduleName": "s",
            "scheduledTime": "<aws.scheduler.scheduled-time>",
            "attemptNumber": "<aws.scheduler.attempt-number>",
        }
    )

    payload = schedule_payload(
        template_input, schedule_name="s", schedule_arn="arn", scheduled_time="2026-01-01T00:00:07Z", execution_id="x"
    )
    fallback = schedule_payload(None, schedule_name="s", schedule_arn="arn", scheduled_time="T", execution_id="x")

    assert json.loads(payload) == {"scheduleName": "s", "scheduledTime": "2026-01-01T00:00:07Z", "attemptNumber": "1"}
    assert json.loads(fallback)["scheduledTime"] == "T"


# --------------------------------------------------------------------------------------- alarms
def alarm(name: str, state: str = "OK", reason: str = "fine") -> dict[str, Any]:
    return {"AlarmName": name, "StateValue": state, "StateReason": reason}


def test_alarms_of_the_stack_that_are_missing_fail_and_other_stacks_alarms_are_ignored() -> None:
    # prod-2 is another stack sharing the prefix
    found: list[Mapping[str, Any]] = [alarm("prod-a"), alarm("prod-2-x", "ALARM")]

    missing = judge_alarms(found, {"prod-a", "prod-b"}, "prod-", 0.1)
    ignored = judge_alarms(found, {"prod-a"}, "prod-", 0.1)

    assert missing.result is Result.FAILED
    assert missing.seen is not None
    assert "missing: prod-b" in missing.seen
    assert ignored.result is Result.PASSED
    assert ignored.detail == "1 alarms: 1 OK; 1 other alarm(s) share the prefix 'prod-': ignored"


def test_no_alarm_at_all_fails_and_insufficient_data_is_a_known_state() -> None:
    assert judge_alarms([], None, "prod-", 0.1).result is Result.FAILED
    passed = judge_alarms([alarm("prod-a", "INSUFFICIENT_DATA")], None, "prod-", 0.1)
    assert passed.result is Result.PASSED
    assert "not cross-checked" in passed.detail


# --------------------------------------------------------------------------------- CLI and local
def test_smoke_accepts_stack_as_an_alias_of_stack_name() -> None:
    args = build_parser().parse_args(["smoke", "--stack", "prod", "--timeout", "60", "--keep"])

    assert (args.stack_name, args.timeout, args.keep, args.local) == ("prod", 60, True, False)


def test_the_cli_looks_for_serve_where_serve_writes_its_state() -> None:
    from emulator import serve_state, stack

    assert local_serve.STATE_DIR == serve_state.STATE_DIR
    assert local_serve.LOCAL_STACK_NAME == stack.DEFAULT_STACK_NAME
    assert local_serve.state_file() == serve_state.state_path()


def test_local_finds_a_running_serve_and_refuses_a_dead_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local_serve, "STATE_DIR", tmp_path)
    with pytest.raises(NotFound, match="no local stack batch-orchestrator-local is running"):
        local_serve.find_local_serve()

    state = {"endpoint_url": "http://127.0.0.1:5999", "region": "us-east-1", "stack_name": "batch-orchestrator-local"}
    (tmp_path / "batch-orchestrator-local.json").write_text(json.dumps({**state, "pid": os.getpid()}))
    assert local_serve.find_local_serve().endpoint_url == "http://127.0.0.1:5999"

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "batch-orchestrator-local.json").write_text(json.dumps({**state, "pid": int(dead.stdout)}))
    with pytest.raises(NotFound, match="is gone"):
        local_serve.find_local_serve()


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        ("fn", "fn"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST", "fn"),
        ("123456789012:function:fn", "fn"),
    ],
)
def test_a_function_is_known_by_name_arn_or_partial_arn(identifier: str, name: str) -> None:
    assert function_name_of(identifier) == name


def test_an_invoke_whose_handler_raises_answers_as_lambda_does(stack: EmulatedStack) -> None:
    # Given a stack whose function fails, invoked through the Lambda API (the serve shim in place)
    def run(logical_id: str, event: Any) -> Any:
        raise ValueError(f"bad event for {logical_id}")

    queued: list[tuple[str, Any]] = []
    name = stack.function_name("SubmitScheduledFunction")
    lambda_client = stack.client("lambda")
    with stack_functions_invocable(stack, run, lambda logical_id, event: queued.append((logical_id, event))):
        failed = lambda_client.invoke(FunctionName=name, Payload=b'{"a": 1}')
        accepted = lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"b": 2}')
    after = lambda_client.invoke(FunctionName=name, Payload=b"{}")

    # Then RequestResponse reports the unhandled error, Event is queued (202), and moto is itself again afterwards
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "bad event for SubmitScheduledFunction")
    assert accepted["StatusCode"] == 202
    assert queued == [("SubmitScheduledFunction", {"b": 2})]
    assert "FunctionError" not in after


def test_progress_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator_cli.commands.smoke import _progress

    _progress("step 1: uploaded")

    assert capsys.readouterr().err == "orchestrator: smoke: step 1: uploaded\n"
