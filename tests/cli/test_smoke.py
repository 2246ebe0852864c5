# Over 400 lines on purpose: one scenario per smoke step and failure mode, sharing the step-by-step pipeline helpers.
"""`orchestrator smoke` against the stack of template.yaml in moto, with the pipeline played step by step.

The smoke test's clock is replaced: each of its sleeps moves the world on instead (the submit function
consumes the SubmitQueue, the tracker receives the Batch event that ends each job), so the waits and
their timeouts take no real time. Lambda Invoke of the stack's functions runs the real handler (the
same shim `serve` uses), so step 3 goes through the real submit_scheduled handler.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator import EmulatedStack, invoke_handler
from emulator.smoke_support import stack_functions_invocable
from orchestrator_cli.commands import smoke as smoke_command
from orchestrator_cli.errors import ExitCode
from orchestrator_cli.smoke_steps import Clock
from tests.cli.conftest import CliResult, CliRunner
from tests.support.runs import drain_submit_queue, finish_attempt, input_bucket, runs_table

SCHEDULE_ON = {"ScheduleEnabled": "true", "ScheduleExpression": "rate(1 day)"}
World = Callable[[], None]


class WorldClock(Clock):
    """No real waiting: every sleep advances the time and lets the world take one step."""

    def __init__(self, world: World | None = None) -> None:
        self.now = 1_000.0
        self.world = world

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.world is not None:
            self.world()


@pytest.fixture
def invocable(stack: EmulatedStack) -> Iterator[None]:
    """Lambda Invoke of the stack's functions runs their real handler (moto's own answers a canned string)."""
    with stack_functions_invocable(stack, lambda logical_id, event: invoke_handler(stack, logical_id, event)):
        yield


def use_world(monkeypatch: pytest.MonkeyPatch, world: World | None) -> WorldClock:
    clock = WorldClock(world)
    monkeypatch.setattr(smoke_command, "CLOCK", clock)
    return clock


def items(stack: EmulatedStack) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    raw = stack.client("dynamodb").scan(TableName=runs_table(stack))["Items"]
    return [{name: deserializer.deserialize(value) for name, value in item.items()} for item in raw]


def jobs_end(stack: EmulatedStack, *, failure_canary_succeeds: bool = False) -> World:
    """The pipeline as the canary contract wants it: smoke-fail-exit-N fails with N, everything else succeeds."""

    def world() -> None:
        drain_submit_queue(stack)
        for item in items(stack):
            if item["status"] != "SUBMITTED":
                continue
            name = str(item["source"].get("key", "")).rsplit("/", 1)[-1]
            if name.startswith("smoke-fail-exit-") and not failure_canary_succeeds:
                code = int(name.removeprefix("smoke-fail-exit-").split(".")[0])
                finish_attempt(stack, item["runId"], "FAILED", exit_code=code, reason="Essential container exited")
            else:
                finish_attempt(stack, item["runId"], "SUCCEEDED", exit_code=0)

    return world


def leftovers(stack: EmulatedStack) -> dict[str, Any]:
    """What the smoke test could have left: smoke objects, run items, queues and subscriptions of its own."""
    listing = stack.client("s3").list_object_versions(Bucket=input_bucket(stack))
    keys = [v["Key"] for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]
    queues = stack.client("sqs").list_queues().get("QueueUrls", [])
    subscriptions = stack.client("sns").list_subscriptions()["Subscriptions"]
    return {
        "objects": keys,
        "runs": [item["runId"] for item in items(stack)],
        "queues": [url for url in queues if "-smoke-" in url],
        "subscriptions": [s["Endpoint"] for s in subscriptions if "-smoke-" in s["Endpoint"]],
    }


NOTHING_LEFT: dict[str, list[str]] = {"objects": [], "runs": [], "queues": [], "subscriptions": []}


def report(result: CliResult) -> dict[str, Any]:
    """The --json document: the handlers the world runs print their one-line logs to stdout before it."""
    lines = result.out.splitlines()
    start = len(lines) - 1 - lines[::-1].index("{")
    document: dict[str, Any] = json.loads("\n".join(lines[start:]))
    return document


# ------------------------------------------------------------------------------------------ outcomes
@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_every_step_passes_on_a_working_stack_and_nothing_is_left(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack whose jobs honour the canary contract and whose schedule is enabled
    use_world(monkeypatch, jobs_end(stack))

    # When the smoke test runs
    result = cli("smoke", "--timeout", "120", stack=stack)

    # Then every step passed, the verdict says so and the exit code is 0
    assert result.code == ExitCode.OK, result.out + result.err
    rows = {
        line.split()[0]: line.split()[3]
        for line in result.out.splitlines()
        if line[:2] in ("1 ", "2 ", "3 ", "4 ", "5 ", "6 ")
    }
    assert rows == dict.fromkeys("123456", "PASSED")
    assert "alert received: RUN_FAILED, exit code 3" in result.out
    assert result.out.rstrip().endswith("SMOKE PASSED: every step that applies passed.")
    # and it removed what it created: both canaries (every version), the result folders, the three runs,
    # the temporary queue and its subscription
    assert "smoke-ok.txt (1 version)" in result.out
    assert "smoke-fail-exit-3.txt (1 version)" in result.out
    assert result.out.count("(item in ") == 3
    assert leftovers(stack) == NOTHING_LEFT


@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_a_job_that_succeeds_on_the_failure_canary_leaves_the_alert_path_not_verified(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job of the user's own that succeeds on every input
    use_world(monkeypatch, jobs_end(stack, failure_canary_succeeds=True))

    # When the smoke test runs (as JSON)
    result = cli("--json", "smoke", "--timeout", "120", stack=stack)

    # Then step 2 is NOT VERIFIED, not PASSED, with the canary contract; nothing FAILED, so the exit code is 0
    assert result.code == ExitCode.OK, result.err
    document = report(result)
    step = document["steps"][1]
    assert (step["name"], step["result"]) == ("failure alerts", "NOT VERIFIED")
    assert "smoke-fail-exit-N" in step["expected"]
    assert "#exit N" in step["expected"]
    assert "SUCCEEDED" in step["seen"]
    assert "NOT VERIFIED: failure alerts" in document["verdict"]
    assert [s["result"] for s in document["steps"]] == [
        "PASSED",
        "NOT VERIFIED",
        "PASSED",
        "PASSED",
        "PASSED",
        "PASSED",
    ]


@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_an_alarm_in_alarm_fails_step_4_with_its_name_and_reason(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one alarm of the stack in ALARM
    alarm = f"{stack.name}-SubmitDLQ-not-empty"
    stack.client("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [4.0] > 0.0"
    )
    use_world(monkeypatch, jobs_end(stack))

    # When the smoke test runs
    result = cli("smoke", stack=stack)

    # Then step 4 FAILED, naming the alarm and its reason, and the exit code says a check failed
    assert result.code == ExitCode.CHECK_FAILED
    assert "4 alarms known     FAILED" in result.out
    assert f"{alarm} is ALARM: Threshold Crossed: 1 datapoint [4.0] > 0.0" in result.out
    assert "SMOKE FAILED: step 4 (alarms known) failed." in result.out
    assert leftovers(stack) == NOTHING_LEFT


def test_the_schedule_step_is_skipped_with_its_reason_when_the_schedule_is_disabled(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the template's default: the schedule exists but is DISABLED
    use_world(monkeypatch, jobs_end(stack))

    result = cli("--json", "smoke", stack=stack)

    assert result.code == ExitCode.OK, result.err
    step = report(result)["steps"][2]
    assert step["result"] == "SKIPPED"
    assert "is DISABLED (ScheduleEnabled=false)" in step["detail"]
    assert "skipped: schedule fires" in report(result)["verdict"]


@pytest.mark.parametrize("stack_parameters", [{**SCHEDULE_ON, "RetryExitCodes": "3-5,75"}], indirect=True)
def test_the_failure_canary_uses_an_exit_code_the_stack_does_not_retry(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack that retries 3, 4 and 5
    use_world(monkeypatch, jobs_end(stack))

    result = cli("smoke", stack=stack)

    # Then the failure canary asks for 6, which fails for good at once and alerts
    assert result.code == ExitCode.OK, result.out + result.err
    assert "smoke-fail-exit-6.txt" in result.out
    assert "alert received: RUN_FAILED, exit code 6" in result.out


# ------------------------------------------------------------------------------- timeouts and cleanup
@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_timeouts_say_what_was_expected_what_was_seen_and_where_to_look(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pipeline where nothing moves: no submit function consumes the uploads, no job ends
    use_world(monkeypatch, None)

    result = cli("smoke", "--timeout", "5", stack=stack)

    # Then steps 1 to 3 fail on their timeout, each with what it expected, saw and where to look
    assert result.code == ExitCode.CHECK_FAILED
    out = result.out
    assert "Step 1 (upload succeeds) FAILED:" in out
    assert "timed out after 5 s: no run item: nothing started the run" in out
    assert f"CloudWatch Logs group /aws/lambda/{stack.name}/submit_jobs" in out
    assert "orchestrator dlq list" in out
    # the scheduled run exists (the function submitted it) but its job never ended
    assert "Step 3 (schedule fires) FAILED:" in out
    assert "still SUBMITTED at attempt 1/3" in out
    assert "orchestrator runs show sch-" in out
    assert "SMOKE FAILED: step 1 (upload succeeds), step 2 (failure alerts), step 3 (schedule fires) failed." in out
    # and what was created is removed all the same, with a note about the job still pending
    assert leftovers(stack) == NOTHING_LEFT
    assert "was not cancelled" in out


@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_ctrl_c_removes_what_was_created_and_exits_130(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user who presses Ctrl-C while the smoke test waits
    def interrupt() -> None:
        raise KeyboardInterrupt

    use_world(monkeypatch, interrupt)

    result = cli("smoke", stack=stack)

    # Then everything created so far is removed and listed, and the verdict and exit code say interrupted
    assert result.code == ExitCode.INTERRUPTED
    assert "Removed what the smoke test created:" in result.out
    assert "queue " in result.out
    assert "subscription " in result.out
    assert "SMOKE INTERRUPTED" in result.out
    assert "interrupted (Ctrl-C) before this step finished" in result.out
    assert leftovers(stack) == NOTHING_LEFT


@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_an_unexpected_error_midway_still_removes_what_was_created(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a failure nobody foresaw while the smoke test waits
    def crash() -> None:
        raise RuntimeError("disk on fire")

    use_world(monkeypatch, crash)

    result = cli("smoke", stack=stack)

    # Then the error is reported as unexpected, and the cleanup happened and was said on stderr
    assert result.code == ExitCode.UNEXPECTED
    assert "RuntimeError: disk on fire" in result.err
    assert "orchestrator: smoke: removed queue " in result.err
    assert leftovers(stack) == NOTHING_LEFT


@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_keep_leaves_everything_for_debugging_and_lists_it(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_world(monkeypatch, jobs_end(stack))

    result = cli("--json", "smoke", "--keep", stack=stack)

    assert result.code == ExitCode.OK, result.err
    document = report(result)
    assert document["steps"][5]["result"] == "SKIPPED"
    assert document["removed"] == []
    left = leftovers(stack)
    assert len(left["runs"]) == 3
    assert len(left["queues"]) == 1
    assert len(left["subscriptions"]) == 1
    assert any("smoke/" in key for key in left["objects"])
    assert any(line.startswith("queue ") for line in document["leftBehind"])


def test_a_run_item_that_is_not_the_smoke_tests_is_never_deleted(stack: EmulatedStack) -> None:
    # Given a run item that happens to carry the id of a smoke run but another source
    from orchestrator_cli.aws import Aws
    from orchestrator_cli.smoke_cleanup import Created, OwnedRun, remove_created

    table = runs_table(stack)
    stack.client("dynamodb").put_item(
        TableName=table, Item={"runId": {"S": "s3-aaaaaaaaaaaaaaaaaaaaaaaa"}, "source": {"M": {"key": {"S": "x.csv"}}}}
    )
    created = Created(bucket=input_bucket(stack), canary_prefix="incoming/smoke/x/", output_prefix="", table_name=table)
    created.add_run(OwnedRun("s3-aaaaaaaaaaaaaaaaaaaaaaaa", {"key": "incoming/smoke/x/smoke-ok.txt"}))

    # When the smoke test's cleanup runs
    removed, left = remove_created(Aws(), created)

    # Then the item stays, and the cleanup says why
    assert removed == []
    assert left == [
        f"run s3-aaaaaaaaaaaaaaaaaaaaaaaa in {table} (its item does not hold the smoke test's source: not deleted)"
    ]
    assert [item["runId"] for item in items(stack)] == ["s3-aaaaaaaaaaaaaaaaaaaaaaaa"]


# ---------------------------------------------------------------------------------- steps that fail
def test_a_step_that_cannot_start_fails_and_the_others_still_run(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an alerts topic that is gone (so nothing can subscribe to it)
    stack.client("sns").delete_topic(TopicArn=stack.outputs["AlertsTopicArn"])
    use_world(monkeypatch, jobs_end(stack))

    result = cli("smoke", stack=stack)

    # Then step 2 fails at once, saying what it tried and which permissions it needs, and no failure canary
    # is uploaded for nothing; the upload step still passes
    assert result.code == ExitCode.CHECK_FAILED
    assert "Step 2 (failure alerts) FAILED:" in result.out
    assert "subscribing the temporary queue to the alerts topic" in result.out
    assert "sns:Subscribe" in result.out
    assert "smoke-fail-exit-" not in result.out
    assert "1 upload succeeds  PASSED" in result.out
    assert leftovers(stack) == NOTHING_LEFT


@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_a_scheduled_function_that_fails_fails_step_3_with_its_error_and_log_group(
    stack: EmulatedStack, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a submit_scheduled function that raises on the schedule's payload
    def run(logical_id: str, event: Any) -> Any:
        if logical_id == "SubmitScheduledFunction":
            raise KeyError("scheduledTime")
        return invoke_handler(stack, logical_id, event)

    use_world(monkeypatch, jobs_end(stack))
    with stack_functions_invocable(stack, run):
        result = cli("smoke", stack=stack)

    # Then step 3 FAILED with Lambda's error and where its logs are; the other steps are unaffected
    assert result.code == ExitCode.CHECK_FAILED
    assert "Step 3 (schedule fires) FAILED:" in result.out
    assert "Unhandled error" in result.out
    assert "KeyError" in result.out
    assert f"/aws/lambda/{stack.name}/submit_scheduled" in result.out
    assert "SMOKE FAILED: step 3 (schedule fires) failed." in result.out
    assert leftovers(stack) == NOTHING_LEFT


def test_local_and_an_endpoint_url_together_are_refused(stack: EmulatedStack, cli: CliRunner) -> None:
    result = cli("--endpoint-url", "http://127.0.0.1:5000", "smoke", "--local")

    assert result.code == ExitCode.USAGE
    assert "--local and --endpoint-url both name an endpoint" in result.err


@pytest.mark.parametrize("stack_parameters", [SCHEDULE_ON], indirect=True)
def test_a_failure_whose_alert_never_arrives_fails_step_2_and_says_the_alert_was_sent(
    stack: EmulatedStack, invocable: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an alert that is published but never delivered to the smoke test's queue (its subscription vanishes)
    sns = stack.client("sns")
    finish = jobs_end(stack)

    def world() -> None:
        for subscription in sns.list_subscriptions()["Subscriptions"]:
            if "-smoke-" in subscription["Endpoint"]:
                sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        finish()

    use_world(monkeypatch, world)

    result = cli("smoke", "--timeout", "10", stack=stack)

    # Then step 2 FAILED: the run failed as asked, the run says its alert was sent, none arrived
    assert result.code == ExitCode.CHECK_FAILED
    assert "2 failure alerts   FAILED" in result.out
    assert "expected: a RUN_FAILED alert about run s3-" in result.out
    assert "the run records the alert as sent at " in result.out
    assert "but it never reached the temporary subscription" in result.out
    assert f"/aws/lambda/{stack.name}/track_jobs" in result.out
    assert "1 upload succeeds  PASSED" in result.out
    assert leftovers(stack) == NOTHING_LEFT
