"""One run of `orchestrator smoke`: start every check, wait for them together, judge, then clean up.

The three pipeline checks are started one after the other and then awaited together, so the smoke
test takes about as long as its slowest job (Fargate: a minute or two to start), not the sum.
Whatever happens after the first resource is created — a failed step, an AWS error, a bug, Ctrl-C —
``run`` removes what was created (unless --keep) before it returns or lets the error through.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.errors import MalformedMessage, RunStoreError
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source
from batch_orchestrator.schedule import parse_schedule_firing
from orchestrator_cli.context import Context
from orchestrator_cli.deployment import Deployment
from orchestrator_cli.errors import CliError, UsageError, from_aws, from_cause
from orchestrator_cli.smoke_alerts import AlertInbox
from orchestrator_cli.smoke_cleanup import Created, OwnedRun, remove_created
from orchestrator_cli.smoke_definitions import PREFIX_OUTPUT, judge_definitions, stack_definitions, what_runs
from orchestrator_cli.smoke_report import Result, SmokeReport, StepOutcome
from orchestrator_cli.smoke_steps import (
    ALARMS,
    ALERT,
    CLEANUP,
    DEFINITIONS,
    SCHEDULE,
    STEP_NAMES,
    TEMPLATE_RETRY_EXIT_CODES,
    UPLOAD,
    Canary,
    Clock,
    Places,
    RunWatch,
    canaries,
    failure_exit_code,
    judge,
    judge_alarms,
    schedule_payload,
)

POLL_FIRST_SECONDS = 0.5
POLL_MAX_SECONDS = 5.0
READ_FAILURES_TOLERATED = 3
LAMBDA_READ_TIMEOUT = 75  # SubmitScheduledFunction's timeout is 60 s (template Globals)
TERMINAL = ("SUCCEEDED", "FAILED")

Progress = Callable[[str], None]


def new_smoke_id(ctx: Context) -> str:
    return f"{ctx.now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


class SmokeRun:
    def __init__(self, ctx: Context, deployment: Deployment, *, timeout: int, clock: Clock, progress: Progress) -> None:
        self.ctx, self.aws, self.deployment = ctx, ctx.aws, deployment
        self.timeout, self.clock, self.progress = timeout, clock, progress
        self.smoke_id = new_smoke_id(ctx)
        self.bucket = deployment.output("InputBucketName")
        self.input_prefix = deployment.outputs.get("InputPrefix", "")
        self.runs = deployment.runs_admin()
        self.places = Places(deployment.name, deployment.outputs.get("JobLogGroupName", ""))
        self.created = Created(
            bucket=self.bucket,
            canary_prefix=f"{self.input_prefix}smoke/{self.smoke_id}/",
            output_prefix=deployment.outputs.get("OutputPrefix", ""),
            table_name=deployment.output("RunsTableName"),
        )
        self.outcomes: dict[int, StepOutcome] = {}
        self.watches: dict[int, RunWatch] = {}
        self.read_failures: dict[int, int] = {}
        self.notes: list[str] = []

    # ------------------------------------------------------------------------------------ the run
    def run(self, *, keep: bool) -> SmokeReport:
        interrupted = completed = False
        report = SmokeReport(self.deployment.name, self.deployment.region, self.smoke_id, [], kept=keep)
        try:
            self._start_checks()
            self._wait()
            self._check_alarms()
            self._check_definitions()
            completed = True
        except KeyboardInterrupt:
            interrupted = True
            self.progress("interrupted: removing what the smoke test created")
        finally:
            self._clean_up(report, keep)
            if not completed and not interrupted:  # an error is on its way to main(): say what was cleaned up
                for line in report.removed:
                    self.progress(f"removed {line}")
                for line in report.left_behind:
                    self.progress(f"could not remove {line}")
        for number, name in STEP_NAMES.items():
            if number not in self.outcomes:
                self.outcomes[number] = StepOutcome(
                    number, name, Result.SKIPPED, 0.0, "interrupted (Ctrl-C) before this step finished"
                )
        report.outcomes = [self.outcomes[number] for number in sorted(self.outcomes)]
        report.interrupted = interrupted
        report.notes = self.notes + self.created.unfinished({watch.run_id for watch in self.watches.values()})
        return report

    def _start_checks(self) -> None:
        retry_codes = self.deployment.parameters.get("RetryExitCodes")
        if retry_codes is None:
            self.notes.append(f"the stack reports no RetryExitCodes parameter: assumed {TEMPLATE_RETRY_EXIT_CODES}")
        started = self.clock.monotonic()
        fail_code: int | None
        try:
            fail_code = failure_exit_code(TEMPLATE_RETRY_EXIT_CODES if retry_codes is None else retry_codes)
        except UsageError as exc:
            self._fail(ALERT, started, "no exit code fails for good", "a non-retryable exit code", exc.message)
            fail_code = None
        success, failure = canaries(self.input_prefix, self.smoke_id, fail_code or 0)
        self._upload(UPLOAD, success, "submit_jobs")
        if fail_code is not None and self._open_inbox(started):
            self._upload(ALERT, failure, "submit_jobs")
        self._fire_schedule()

    # ------------------------------------------------------------------------------ starting checks
    def _upload(self, number: int, canary: Canary, function: str) -> None:
        started = self.clock.monotonic()
        url = f"s3://{self.bucket}/{canary.key}"
        self.created.uploaded = True  # before the call: a PutObject that timed out may still have written
        try:
            response = self.aws.call(
                f"uploading the canary {url}",
                self.aws.client("s3").put_object,
                Bucket=self.bucket,
                Key=canary.key,
                Body=canary.body.encode("utf-8"),
                ContentType="text/plain",
            )
        except CliError as exc:
            look = f"s3:PutObject on arn:aws:s3:::{self.bucket}/{self.input_prefix}smoke/* for your identity"
            self._fail(number, started, "cannot upload the canary", f"{url} uploaded", exc.message, look)
            return
        version_id = response.get("VersionId")
        if not version_id or version_id == "null":
            self._fail(number, started, "no version id", f"a version id for {url}", "none: is versioning off?")
            return
        run_id = run_id_for(S3Source(bucket=self.bucket, key=canary.key, version_id=version_id))
        self.created.add_run(OwnedRun(run_id, {"bucket": self.bucket, "key": canary.key}))
        self._watch(RunWatch(number, run_id, started, started + self.timeout, self.timeout, canary.exit_code, function))
        self.progress(f"step {number}: uploaded {url} -> run {run_id}")

    def _open_inbox(self, started: float) -> bool:
        topic = self.deployment.outputs.get("AlertsTopicArn")
        if not topic:
            self._fail(ALERT, started, "no alerts topic", "the stack output AlertsTopicArn", "no such output")
            return False
        queue_name = f"{self.deployment.name[:40]}-smoke-{self.smoke_id}"
        try:
            AlertInbox.create(
                self.aws,
                topic_arn=topic,
                queue_name=queue_name,
                smoke_id=self.smoke_id,
                on_created=lambda inbox: setattr(self.created, "inbox", inbox),
            )
        except CliError as exc:
            expected = f"a temporary SQS queue {queue_name} subscribed to {topic}"
            look = "sqs:CreateQueue/SetQueueAttributes/TagQueue and sns:Subscribe for your identity (smoke --help)"
            self._fail(ALERT, started, "cannot subscribe to the alerts topic", expected, exc.message, look)
            return False
        self.progress(f"step {ALERT}: subscribed {queue_name} to the alerts topic")
        return True

    def _fire_schedule(self) -> None:
        started = self.clock.monotonic()
        name = self.deployment.outputs.get("ScheduleName")
        function = self.deployment.outputs.get("SubmitScheduledFunctionName")
        if not name or not function:
            self._fail(
                SCHEDULE, started, "no schedule outputs", "outputs ScheduleName, SubmitScheduledFunctionName", "missing"
            )
            return
        try:
            schedule = self.aws.call(f"reading schedule {name}", self.aws.client("scheduler").get_schedule, Name=name)
        except CliError as exc:
            self._fail(SCHEDULE, started, f"cannot read schedule {name}", f"schedule {name}", exc.message)
            return
        state = schedule.get("State")
        if state != "ENABLED":
            detail = f"schedule {name} is {state} (ScheduleEnabled=false): deploy with ScheduleEnabled=true to test it"
            self.outcomes[SCHEDULE] = StepOutcome(SCHEDULE, STEP_NAMES[SCHEDULE], Result.SKIPPED, 0.0, detail)
            return
        target = schedule.get("Target") or {}
        if function not in str(target.get("Arn", "")).split(":"):
            self._fail(SCHEDULE, started, "wrong target", f"schedule {name} targets {function}", str(target.get("Arn")))
            return
        try:
            payload, run_id, source = self._smoke_firing(name, str(schedule.get("Arn", "")), target.get("Input"))
        except (MalformedMessage, ValueError) as exc:
            self._fail(SCHEDULE, started, "unusable schedule input", "the schedule's Input names a time", str(exc))
            return
        self.created.add_run(OwnedRun(run_id, source))
        try:
            response = self.aws.call(
                f"invoking {function}",
                self.aws.client("lambda", read_timeout=LAMBDA_READ_TIMEOUT).invoke,
                FunctionName=function,
                InvocationType="RequestResponse",
                Payload=payload.encode("utf-8"),
            )
            body = response["Payload"].read().decode("utf-8", errors="replace")
        except CliError as exc:
            look = f"lambda:InvokeFunction on {function} for your identity"
            self._fail(SCHEDULE, started, "cannot invoke", f"{function} invoked", exc.message, look)
            return
        if response.get("FunctionError"):
            self._fail(
                SCHEDULE,
                started,
                f"{function} failed",
                f"{function} submits a run for the schedule's payload",
                f"{response['FunctionError']} error: {body[:500]}",
                self.places.function_logs("submit_scheduled"),
            )
            return
        self._watch(RunWatch(SCHEDULE, run_id, started, started + self.timeout, self.timeout, None, "submit_scheduled"))
        self.progress(f"step {SCHEDULE}: fired {name} for {source['scheduledTime']} -> run {run_id}")

    def _smoke_firing(self, name: str, arn: str, target_input: str | None) -> tuple[str, str, dict[str, str]]:
        """A payload as the schedule sends it, for a scheduled time no run has used (checked with GetItem)."""
        for offset in range(5):
            when = (self.ctx.now + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
            payload = schedule_payload(
                target_input, schedule_name=name, schedule_arn=arn, scheduled_time=when, execution_id=self.smoke_id
            )
            source = parse_schedule_firing(json.loads(payload), default_name=name)
            run_id = run_id_for(source)
            if self._read(run_id) is None:
                return payload, run_id, {"scheduleName": source.schedule_name, "scheduledTime": source.scheduled_time}
        raise ValueError("every scheduled time tried already has a run")

    # ------------------------------------------------------------------------------------- waiting
    def _watch(self, watch: RunWatch) -> None:
        self.watches[watch.number] = watch

    def _wait(self) -> None:
        interval = POLL_FIRST_SECONDS
        while pending := [w for n, w in self.watches.items() if n not in self.outcomes]:
            for watch in pending:
                if watch.status not in TERMINAL or watch.number == ALERT:  # step 2 also waits for alertSentAt
                    self._poll(watch)
            alert_watch = self.watches.get(ALERT)
            if self.created.inbox is not None and alert_watch in pending and alert_watch.status == "FAILED":
                try:
                    self.created.inbox.receive(self.aws)
                except CliError as exc:
                    alert_watch.read_error = exc.message
            now = self.clock.monotonic()
            received = self.created.inbox.received if self.created.inbox else []
            for watch in pending:
                outcome = None if watch.number in self.outcomes else judge(watch, now, self.places, received)
                if outcome is not None:
                    self.outcomes[watch.number] = outcome
                    self.progress(f"step {watch.number}: {outcome.result.value}: {outcome.detail}")
            if all(n in self.outcomes for n in self.watches):
                return
            self.clock.sleep(interval)
            interval = min(interval * 1.5, POLL_MAX_SECONDS)

    def _poll(self, watch: RunWatch) -> None:
        try:
            item = self._read(watch.run_id)
        except CliError as exc:
            watch.read_error = exc.message
            self.read_failures[watch.number] = self.read_failures.get(watch.number, 0) + 1
            if self.read_failures[watch.number] >= READ_FAILURES_TOLERATED:
                look = f"dynamodb:GetItem on the runs table {self.created.table_name} for your identity"
                self._fail(watch.number, watch.started, "cannot read the run", f"run {watch.run_id}", exc.message, look)
            return
        self.read_failures[watch.number] = 0
        if item is not None and (watch.item is None or item.get("status") != watch.status):
            self.progress(f"step {watch.number}: run {watch.run_id} {item.get('status')}")
        watch.item = item
        self.created.observed(watch.run_id, item)

    def _read(self, run_id: str) -> dict[str, Any] | None:
        try:
            return self.runs.read_item(run_id)
        except RunStoreError as exc:
            raise from_cause(exc, f"reading run {run_id}") from exc

    # -------------------------------------------------------------------------------------- alarms
    def _check_alarms(self) -> None:
        started = self.clock.monotonic()
        prefix = f"{self.deployment.name}-"
        alarms: list[Mapping[str, Any]] = []
        try:
            paginator = self.aws.client("cloudwatch").get_paginator("describe_alarms")
            # Without AlarmTypes, DescribeAlarms returns metric alarms only.
            pages = paginator.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            for page in pages:
                alarms += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
        except (ClientError, BotoCoreError) as exc:
            message = from_aws(exc, "describing the alarms").message
            self._fail(ALARMS, started, "cannot read the alarms", f"the alarms named {prefix}*", message)
            return
        elapsed = self.clock.monotonic() - started
        self.outcomes[ALARMS] = judge_alarms(alarms, self._stack_alarm_names(), prefix, elapsed)
        self.progress(f"step {ALARMS}: {self.outcomes[ALARMS].result.value}: {self.outcomes[ALARMS].detail}")

    def _stack_alarm_names(self) -> set[str] | None:
        try:
            resources = self._stack_resources()
        except (ClientError, BotoCoreError) as exc:
            self.notes.append(f"alarm count not cross-checked: {from_aws(exc, 'listing the stack resources').message}")
            return None
        names = {
            str(r["PhysicalResourceId"])
            for r in resources
            if r.get("ResourceType") == "AWS::CloudWatch::Alarm" and r.get("PhysicalResourceId")
        }
        return names or None

    def _stack_resources(self) -> list[Mapping[str, Any]]:
        cloudformation = self.aws.client("cloudformation")
        resources: list[Mapping[str, Any]] = []
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=self.deployment.name):
            resources += page.get("StackResourceSummaries", [])
        return resources

    # ---------------------------------------------------------------------------- job definitions
    def _check_definitions(self) -> None:
        started = self.clock.monotonic()
        prefix = self.deployment.outputs.get(PREFIX_OUTPUT)
        try:
            deployed = stack_definitions(self._stack_resources())
            batch = self.aws.client("batch")
            runs = {logical_id: what_runs(batch, arn, prefix) for logical_id, arn in deployed.items()}
        except (ClientError, BotoCoreError) as exc:
            message = from_aws(exc, "reading the job definitions").message
            expected = "the stack's job definitions and their ACTIVE revisions"
            self._fail(DEFINITIONS, started, "cannot read the job definitions", expected, message)
            return
        outcome = judge_definitions(deployed, runs, prefix, self.clock.monotonic() - started)
        self.outcomes[DEFINITIONS] = outcome
        self.progress(f"step {DEFINITIONS}: {outcome.result.value}: {outcome.detail}")

    # ------------------------------------------------------------------------------------- cleanup
    def _clean_up(self, report: SmokeReport, keep: bool) -> None:
        started = self.clock.monotonic()
        if keep:
            report.left_behind = self.created.describe()
            detail = f"kept {len(report.left_behind)} resource(s) for debugging (--keep)"
            self.outcomes[CLEANUP] = StepOutcome(CLEANUP, STEP_NAMES[CLEANUP], Result.SKIPPED, 0.0, detail)
            return
        try:
            report.removed, report.left_behind = remove_created(self.aws, self.created)
        except KeyboardInterrupt:
            report.left_behind = ["removal interrupted by a second Ctrl-C; check these:", *self.created.describe()]
        seconds = self.clock.monotonic() - started
        if report.left_behind:
            self._fail(
                CLEANUP,
                started,
                f"{len(report.left_behind)} item(s) left behind",
                "everything the smoke test created removed",
                "; ".join(report.left_behind),
                "the permissions in `orchestrator smoke --help` (s3:DeleteObjectVersion, dynamodb:DeleteItem, ...)",
            )
        else:
            detail = f"removed {len(report.removed)} item(s)" if report.removed else "nothing was created"
            self.outcomes[CLEANUP] = StepOutcome(CLEANUP, STEP_NAMES[CLEANUP], Result.PASSED, seconds, detail)

    # ------------------------------------------------------------------------------------- helpers
    def _fail(self, number: int, started: float, detail: str, expected: str, seen: str, *look_at: str) -> None:
        if number in self.outcomes:
            return
        seconds = self.clock.monotonic() - started
        outcome = StepOutcome(number, STEP_NAMES[number], Result.FAILED, seconds, detail, expected, seen, look_at)
        self.outcomes[number] = outcome
        self.progress(f"step {number}: FAILED: {detail}: {seen}")
