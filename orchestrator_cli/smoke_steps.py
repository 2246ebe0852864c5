"""The checks of `orchestrator smoke`, each judged from what the stack's own records say.

The canary contract: a job must SUCCEED on ``smoke-ok.txt`` and exit N (a code the stack does not
retry) on ``smoke-fail-exit-N.txt``, whose first line is also ``#exit N``. The template's default
placeholder command reads the key's base name; the sample job (jobs/sample) reads the first line.
A job of your own that succeeds on both cannot show that failures reach the alerts topic: step 2
then says NOT VERIFIED instead of passing.

Runs are found by their id, derived as the functions derive it (``batch_orchestrator.ids``): an
upload's from bucket, key and version id; a firing's from schedule name and scheduled time. Each
poll is one consistent GetItem per run; nothing is scanned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batch_orchestrator.adapters.run_items import ALERT_SENT_AT
from batch_orchestrator.retry_policy import ExitCodeSet
from orchestrator_cli.errors import UsageError
from orchestrator_cli.render import one_line, shorten
from orchestrator_cli.smoke_alerts import ReceivedAlert
from orchestrator_cli.smoke_report import Result, StepOutcome

UPLOAD, ALERT, SCHEDULE, ALARMS, DEFINITIONS, CLEANUP = 1, 2, 3, 4, 5, 6
STEP_NAMES = {
    UPLOAD: "upload succeeds",
    ALERT: "failure alerts",
    SCHEDULE: "schedule fires",
    ALARMS: "alarms known",
    DEFINITIONS: "job definitions",  # smoke_definitions
    CLEANUP: "clean up",
}
FAIL_CANARY_PREFIX = "smoke-fail-exit-"
TEMPLATE_RETRY_EXIT_CODES = "75"  # template.yaml's RetryExitCodes default
KNOWN_ALARM_STATES = ("OK", "INSUFFICIENT_DATA")
_REASON_LIMIT = 300


class Clock:
    """Time as the waits see it; tests replace it to move the world on instead of sleeping."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# ------------------------------------------------------------------------------------------ canaries
@dataclass(frozen=True)
class Canary:
    key: str
    body: str
    exit_code: int | None  # None: the job must succeed

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def failure_exit_code(retry_exit_codes: str) -> int:
    """The failing canary's exit code: 3 unless the stack retries 3, else the lowest code it does not retry."""
    try:
        retried = ExitCodeSet.parse(retry_exit_codes)
    except ValueError as exc:
        raise UsageError(f"the stack's RetryExitCodes {retry_exit_codes!r} cannot be read: {exc}") from exc
    for code in range(3, 126):
        if code not in retried:
            return code
    raise UsageError(
        f"the stack retries every exit code from 3 to 125 (RetryExitCodes={retry_exit_codes}): "
        "no canary can fail for good, so the alert path cannot be tested"
    )


def canaries(input_prefix: str, smoke_id: str, fail_code: int) -> tuple[Canary, Canary]:
    folder = f"{input_prefix}smoke/{smoke_id}/"
    success = Canary(
        folder + "smoke-ok.txt",
        "Batch Orchestrator smoke test canary: the job must SUCCEED on this input.\n",
        None,
    )
    failure = Canary(
        f"{folder}{FAIL_CANARY_PREFIX}{fail_code}.txt",
        f"#exit {fail_code}\nBatch Orchestrator smoke test canary: the job must exit {fail_code} on this input "
        f"(first line '#exit {fail_code}', or its name starting with {FAIL_CANARY_PREFIX}{fail_code}).\n",
        fail_code,
    )
    return success, failure


CANARY_CONTRACT = (
    "the job exits N on an input whose base name starts with smoke-fail-exit-N (the template's default "
    "placeholder command) or whose first line is '#exit N' (jobs/sample), and succeeds on smoke-ok.txt"
)


# ------------------------------------------------------------------------------------------- places
@dataclass(frozen=True)
class Places:
    """Where to look when a step fails: commands and log groups of this stack."""

    stack_name: str
    job_log_group: str

    def run(self, run_id: str) -> str:
        return f"orchestrator runs show {run_id} (smoke again with --keep: the run item is removed afterwards)"

    def function_logs(self, function: str) -> str:
        return f"CloudWatch Logs group /aws/lambda/{self.stack_name}/{function}"

    def job_logs(self, item: Mapping[str, Any] | None) -> str:
        stream = (item or {}).get("logStreamName")
        group = self.job_log_group or "the job log group (stack output JobLogGroupName)"
        return f"job logs: {group}" + (f", stream {stream}" if stream else "")


# ------------------------------------------------------------------------------------------ judging
@dataclass
class RunWatch:
    """A run a step waits for: until it ends (and, for step 2, its alert arrives) or the deadline passes."""

    number: int
    run_id: str
    started: float
    deadline: float
    timeout: float
    expect_exit: int | None  # None: SUCCEEDED expected; N: FAILED with exit N, then an alert
    function: str  # the function that starts the run (for where to look)
    item: dict[str, Any] | None = None
    read_error: str | None = None

    @property
    def status(self) -> str | None:
        return str(self.item["status"]) if self.item else None


def describe_run(item: Mapping[str, Any] | None) -> str:
    """``FAILED at attempt 1/3, exit code 3, reason "..."`` (what a run item says, in one line)."""
    if not item:
        return "no run item"
    text = f"{item.get('status')} at attempt {item.get('attempt')}/{item.get('maxAttempts')}"
    if item.get("exitCode") is not None:
        text += f", exit code {item['exitCode']}"
    if item.get("statusReason") and item.get("status") != "SUCCEEDED":
        text += f", reason {shorten(one_line(str(item['statusReason'])), _REASON_LIMIT)!r}"
    return text


def judge(watch: RunWatch, now: float, places: Places, alerts: list[ReceivedAlert]) -> StepOutcome | None:
    """The step's outcome, or None while it is still undecided."""
    item, status = watch.item, watch.status
    seconds = now - watch.started
    name = STEP_NAMES[watch.number]
    if watch.expect_exit is None:
        expected = f"run {watch.run_id} SUCCEEDED within {watch.timeout:.0f} s"
        if status == "SUCCEEDED":
            return StepOutcome(
                watch.number,
                name,
                Result.PASSED,
                seconds,
                f"run {watch.run_id} {describe_run(item)}",
                run_id=watch.run_id,
            )
        if status == "FAILED":
            return _failed(watch, seconds, expected, describe_run(item), places)
        return _timed_out(watch, now, seconds, expected, places)

    code = watch.expect_exit
    if status == "SUCCEEDED":
        return StepOutcome(
            watch.number,
            name,
            Result.NOT_VERIFIED,
            seconds,
            f"the job SUCCEEDED on the failure canary: the alert path was not exercised (run {watch.run_id})",
            expected=f"run {watch.run_id} FAILED with exit code {code}, then its alert; the canary contract: "
            + CANARY_CONTRACT,
            seen=f"run {watch.run_id} {describe_run(item)}",
            look_at=(
                "your job's handling of the canary input (see `orchestrator smoke --help`)",
                places.job_logs(item),
            ),
            run_id=watch.run_id,
        )
    if status == "FAILED":
        alert = next((a for a in alerts if a.run_id == watch.run_id), None)
        if alert is not None:
            exit_code = item.get("exitCode") if item else None
            note = "" if exit_code == code else f" (expected exit code {code})"
            detail = f"run {watch.run_id} FAILED, exit code {exit_code}{note}; alert received: {alert.describe()}"
            return StepOutcome(watch.number, name, Result.PASSED, seconds, detail, run_id=watch.run_id)
        if now < watch.deadline:
            return None
        sent = (item or {}).get(ALERT_SENT_AT)
        seen = f"run {watch.run_id} {describe_run(item)}; " + (
            f"the run records the alert as sent at {sent}, but it never reached the temporary subscription"
            if sent
            else "the run records no alert sent"
        )
        return StepOutcome(
            watch.number,
            name,
            Result.FAILED,
            seconds,
            f"no alert for run {watch.run_id} within {watch.timeout:.0f} s",
            expected=f"a RUN_FAILED alert about run {watch.run_id} on the alerts topic within {watch.timeout:.0f} s",
            seen=seen,
            look_at=(places.function_logs("track_jobs"), "the alerts topic's subscriptions and its key policy"),
            run_id=watch.run_id,
        )
    return _timed_out(watch, now, seconds, f"run {watch.run_id} FAILED with exit code {code}, then its alert", places)


def _failed(watch: RunWatch, seconds: float, expected: str, seen: str, places: Places) -> StepOutcome:
    return StepOutcome(
        watch.number,
        STEP_NAMES[watch.number],
        Result.FAILED,
        seconds,
        f"run {watch.run_id} {describe_run(watch.item)}",
        expected=expected,
        seen=seen,
        look_at=(places.run(watch.run_id), places.job_logs(watch.item)),
        run_id=watch.run_id,
    )


def _timed_out(watch: RunWatch, now: float, seconds: float, expected: str, places: Places) -> StepOutcome | None:
    if now < watch.deadline:
        return None
    look_at: tuple[str, ...]
    if watch.item is None:
        seen = "no run item: nothing started the run" + (
            f" (last read failed: {watch.read_error})" if watch.read_error else ""
        )
        look_at = (
            places.function_logs(watch.function),
            "orchestrator dlq list (a message in SubmitDLQ or ScheduleDLQ?)",
        )
    else:
        seen = f"run {watch.run_id} still {describe_run(watch.item)}"
        look_at = (places.run(watch.run_id), places.job_logs(watch.item))
        if watch.status in ("RUNNABLE", "PENDING", "SUBMITTED"):
            look_at += ("the job queue and compute environment (a RUNNABLE job lacks capacity, network or image)",)
    return StepOutcome(
        watch.number,
        STEP_NAMES[watch.number],
        Result.FAILED,
        seconds,
        f"timed out after {watch.timeout:.0f} s: {seen}",
        expected=expected,
        seen=seen,
        look_at=look_at,
        run_id=watch.run_id,
    )


# ------------------------------------------------------------------------------------------- alarms
def judge_alarms(
    alarms: list[Mapping[str, Any]], stack_alarm_names: set[str] | None, prefix: str, seconds: float
) -> StepOutcome:
    """Every alarm of the stack in OK or INSUFFICIENT_DATA; the stack's own list (when it has one) is authoritative."""
    name = STEP_NAMES[ALARMS]
    found = {str(alarm["AlarmName"]): alarm for alarm in alarms}
    notes = []
    if stack_alarm_names is not None:
        missing = sorted(stack_alarm_names - found.keys())
        others = sorted(found.keys() - stack_alarm_names)
        if others:
            notes.append(f"{len(others)} other alarm(s) share the prefix {prefix!r}: ignored")
        found = {alarm_name: found[alarm_name] for alarm_name in found.keys() & stack_alarm_names}
        if missing:
            return StepOutcome(
                ALARMS,
                name,
                Result.FAILED,
                seconds,
                f"{len(missing)} of the stack's {len(stack_alarm_names)} alarms not found",
                expected=f"the {len(stack_alarm_names)} AWS::CloudWatch::Alarm resources of the stack",
                seen=f"DescribeAlarms with prefix {prefix!r} found {len(found)} of them; missing: {', '.join(missing)}",
                look_at=("the stack's resources and events in CloudFormation",),
            )
    else:
        notes.append("the stack lists no AWS::CloudWatch::Alarm resources: the count is not cross-checked")
    if not found:
        return StepOutcome(
            ALARMS,
            name,
            Result.FAILED,
            seconds,
            f"no alarm named {prefix}*",
            expected=f"the stack's alarms, named {prefix}...",
            seen="DescribeAlarms found none",
            look_at=("the stack's resources in CloudFormation",),
        )
    alarming = sorted((n, a) for n, a in found.items() if a.get("StateValue") not in KNOWN_ALARM_STATES)
    if alarming:
        seen = "; ".join(
            f"{n} is {a.get('StateValue')}: {shorten(one_line(str(a.get('StateReason', ''))), _REASON_LIMIT)}"
            for n, a in alarming
        )
        return StepOutcome(
            ALARMS,
            name,
            Result.FAILED,
            seconds,
            f"{len(alarming)} alarm(s) in ALARM: {', '.join(n for n, _ in alarming)}",
            expected="every alarm of the stack OK or INSUFFICIENT_DATA",
            seen=seen,
            look_at=("the alarm in the CloudWatch console (its metric and history)", "orchestrator dlq list"),
        )
    counts: dict[str, int] = {}
    for alarm in found.values():
        counts[str(alarm.get("StateValue"))] = counts.get(str(alarm.get("StateValue")), 0) + 1
    states = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    detail = f"{len(found)} alarms: {states}" + "".join(f"; {note}" for note in notes)
    return StepOutcome(ALARMS, name, Result.PASSED, seconds, detail)


def schedule_payload(
    target_input: str | None, *, schedule_name: str, schedule_arn: str, scheduled_time: str, execution_id: str
) -> str:
    """The target input the scheduler would deliver for one firing: the schedule's Input with its
    context attributes filled in (EventBridge Scheduler user guide, "context attributes")."""
    if not target_input:
        fields = {"scheduleName": schedule_name, "scheduledTime": scheduled_time, "executionId": execution_id}
        return json.dumps({**fields, "attemptNumber": "1"})
    values = {
        "<aws.scheduler.scheduled-time>": scheduled_time,
        "<aws.scheduler.execution-id>": execution_id,
        "<aws.scheduler.attempt-number>": "1",
        "<aws.scheduler.schedule-arn>": schedule_arn,
    }
    for placeholder, value in values.items():
        target_input = target_input.replace(placeholder, value)
    return target_input
