"""Stories for the reliability suite: one upload, its Batch jobs and their events, on a virtual clock.

A ``Simulation`` plays a ``Story`` on the stack of template.yaml in moto with the real handlers,
redelivering as AWS does (the rules are in ``test_crashes``'s docstring), with at most one injected
fault: a crash after a chosen AWS call (``crash_after``), or any fault a test attaches to the
shared package's clients through ``faults`` (a lost answer, say). ``Outcome`` is what came of it;
the ``check_*`` functions state the promises (one job per attempt, the alerts promised).

SIMULATED: moto's Batch ends every job SUCCEEDED at once and emits no events; ``Simulation`` plays
the events Batch would send and makes moto's DescribeJobs agree (``_finish_in_moto``).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from batch_orchestrator.adapters import aws
from batch_orchestrator.alert_format import JSON_SEPARATOR
from batch_orchestrator.errors import SweepIncomplete
from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry
from tests.reliability.harness import CallTrace, Function, ProcessCrash, SubmitQueuePoller, VirtualClock
from tests.support.events import load_event
from tests.support.runs import all_jobs, get_run, job_event, received_alerts, visible_messages

HORIZON = timedelta(hours=3)  # a story that is not settled by then has failed
WATCHDOG_INTERVAL_SECONDS = 300
LAMBDA_ASYNC_RETRY_DELAYS = (60, 120)  # after the first and the second failed try
DOCUMENTED_DUPLICATE = "sns:Publish (SNS publish)"  # at-least-once: docs/limits.md


@dataclass
class _Pending:
    at: datetime
    event: dict[str, Any]
    tries: int = 0


@dataclass
class Story:
    """What Batch does with each attempt: its exit code (0: success), and whether its final event is lost."""

    name: str
    exit_codes: Mapping[int, int]
    lost_final_events: frozenset[int] = frozenset()
    message_lost_after_claim: bool = False  # the notification vanishes after a crash between claim and SubmitJob


@dataclass
class Outcome:
    crashed_at: str | None
    calls: list[str]
    jobs_per_attempt: Counter[str]
    alerts: list[dict[str, Any]]
    run: dict[str, Any] | None
    tracking_dlq: int
    submit_dlq: int
    settled_after: timedelta | None = None  # virtual time from the upload until nothing was left to do
    notes: list[str] = field(default_factory=list)


class Simulation:
    """One story on the stack, on a virtual clock, with at most one crash."""

    def __init__(
        self,
        stack: EmulatedStack,
        story: Story,
        inbox: str,
        *,
        key: str,
        crash_after: int | None,
        faults: Callable[[], object] | None = None,
    ) -> None:
        aws.reset_clients()
        self.stack = stack
        self.story = story
        self.inbox = inbox
        self.key = key
        self.clock = VirtualClock()
        self.trace = CallTrace(crash_after=crash_after, skip_operations=frozenset({"Query"}))
        self.trace.observers.append(self._observe)
        self.trace.attach()
        if faults is not None:
            faults()  # attached to the same clients, after the trace
        self.submit = Function(stack, "SubmitJobsFunction", clock=self.clock)
        self.track = Function(stack, "TrackJobsFunction", clock=self.clock)
        self.watchdog = Function(stack, "WatchdogFunction", clock=self.clock)
        self.poller = SubmitQueuePoller(stack, self.submit, self.clock)
        self.new_jobs: list[str] = []
        self.pending: list[_Pending] = []
        self.tracking_dlq: list[dict[str, Any]] = []
        self.run_id: str | None = None
        self.next_sweep = self.clock.now() + timedelta(seconds=WATCHDOG_INTERVAL_SECONDS)
        self.started_at = self.clock.now()
        self.settled_after: timedelta | None = None

    def _observe(self, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        if operation == "SubmitJob" and "jobId" in parsed:
            self.new_jobs.append(str(parsed["jobId"]))
            self.run_id = str(params["tags"]["batch-orchestrator:run-id"])
        if operation == "PutItem" and self.run_id is None:
            self.run_id = str(params["Item"]["runId"]["S"])

    # ---------------------------------------------------------------------------------- the story
    def play(self) -> Outcome:
        self.stack.client("s3").put_object(Bucket=self.stack.outputs["InputBucketName"], Key=self.key, Body=b"x")
        if self.story.message_lost_after_claim:
            self._claim_then_lose_the_message()
        end = self.clock.now() + HORIZON
        while self.clock.now() < end:
            while self._step():
                pass
            if self._settled():
                self.settled_after = self.clock.now() - self.started_at
                break
            self.clock.now_value = self._next_due()
        return self._outcome()

    def _claim_then_lose_the_message(self) -> None:
        """Setup of the resubmission story: a delivery dies between its claim and SubmitJob, and the
        notification is gone (expired, purged, or moved to the DLQ): only the watchdog can finish it."""
        aws.reset_clients()
        setup = CallTrace(crash_after=1, observers=[self._observe])
        setup.attach()
        self.poller.poll_once()
        assert setup.crashed_at == "dynamodb:PutItem (claim)"
        self.poller.drop_in_flight()
        aws.reset_clients()
        self.trace.attach()

    def _step(self) -> bool:
        """Everything due now, in one pass; True if anything ran (more may have become due)."""
        active = self.poller.poll_once()
        if active:
            self.poller.drain()
        while self.new_jobs:
            active = True
            self._play_job(self.new_jobs.pop(0))
        for pending in sorted((p for p in self.pending if p.at <= self.clock.now()), key=lambda p: p.at):
            active = True
            self.pending.remove(pending)
            self._invoke_track(pending)
        if self.clock.now() >= self.next_sweep:
            active = True
            self.next_sweep += timedelta(seconds=WATCHDOG_INTERVAL_SECONDS)
            # A failed sweep lands in WatchdogDLQ; the next one starts over.
            with contextlib.suppress(ProcessCrash, SweepIncomplete):
                self.watchdog(load_event("watchdog_schedule.json"))
        return active

    def _next_due(self) -> datetime:
        due = [self.next_sweep, *(p.at for p in self.pending)]
        visible_again = self.poller.next_visible_at()
        if visible_again is not None:
            due.append(visible_again)
        return max(self.clock.now(), min(due))

    def _settled(self) -> bool:
        """Nothing left to happen: the run is finished, owes nothing, and no delivery is pending."""
        if self.pending or self.new_jobs or self.poller.in_flight or self.run_id is None:
            return False
        run = get_run(self.stack, self.run_id) or {}
        return run.get("status") in ("SUCCEEDED", "FAILED") and "activeStatus" not in run

    def _play_job(self, job_id: str) -> None:
        (job,) = self.stack.client("batch").describe_jobs(jobs=[job_id])["jobs"]
        attempt = int(job["tags"]["batch-orchestrator:attempt"])
        exit_code = self.story.exit_codes[attempt]
        self._finish_in_moto(job_id, exit_code)
        events = [job_event(self.stack, job, "RUNNABLE"), job_event(self.stack, job, "RUNNING")]
        if attempt not in self.story.lost_final_events:
            final = "SUCCEEDED" if exit_code == 0 else "FAILED"
            events.append(
                job_event(self.stack, job, final, exit_code=exit_code, attempts=[attempt_entry(exit_code=exit_code)])
            )
        self.pending.extend(_Pending(self.clock.now(), event) for event in events)

    def _finish_in_moto(self, job_id: str, exit_code: int) -> None:
        """SIMULATED: moto's Batch ends every job SUCCEEDED at once; make DescribeJobs say what Batch would."""
        from moto.batch.models import batch_backends

        job = batch_backends[self.stack.account_id][self.stack.region].get_job_by_id(job_id)
        assert job is not None
        job.status = "SUCCEEDED" if exit_code == 0 else "FAILED"
        job.job_stopped = True
        job.job_stopped_reason = "Essential container in task exited"
        job.attempts[-1]["container"]["exitCode"] = exit_code

    def _invoke_track(self, pending: _Pending) -> None:
        pending.tries += 1
        try:
            self.track(pending.event)
        except ProcessCrash:
            if pending.tries > len(LAMBDA_ASYNC_RETRY_DELAYS):
                self.tracking_dlq.append(pending.event)
                return
            delay = LAMBDA_ASYNC_RETRY_DELAYS[pending.tries - 1]
            self.pending.append(_Pending(self.clock.now() + timedelta(seconds=delay), pending.event, pending.tries))

    # ---------------------------------------------------------------------------------- the result
    def _outcome(self) -> Outcome:
        assert self.run_id is not None
        jobs = Counter(
            job["tags"]["batch-orchestrator:attempt"]
            for job in all_jobs(self.stack)
            if job["tags"].get("batch-orchestrator:run-id") == self.run_id
        )
        alerts = [
            alert
            for alert in received_alerts(self.stack, self.inbox)
            if json.loads(alert["Message"].rsplit(JSON_SEPARATOR, 1)[-1])["runId"] == self.run_id
        ]
        for function in (self.submit, self.track, self.watchdog):
            function.close()
        return Outcome(
            crashed_at=self.trace.crashed_at,
            calls=list(self.trace.calls),
            jobs_per_attempt=jobs,
            alerts=alerts,
            run=get_run(self.stack, self.run_id),
            tracking_dlq=len(self.tracking_dlq),
            submit_dlq=visible_messages(self.stack, "SubmitDLQUrl"),
            settled_after=self.settled_after,
        )


def alert_identity(alert: Mapping[str, Any]) -> tuple[Any, ...]:
    data = json.loads(alert["Message"].rsplit(JSON_SEPARATOR, 1)[-1])
    return (
        alert["Subject"],
        data["alertType"],
        data["runId"],
        data.get("attempt"),
        data.get("jobId"),
        data.get("exitCode"),
    )


def check_failed_twice(outcome: Outcome) -> list[str]:
    """Attempts 1 and 2 both exit 3 (retryable, MaxAttempts 2): two jobs, then one RUN_FAILED alert."""
    found = []
    if outcome.jobs_per_attempt != Counter({"1": 1, "2": 1}):
        found.append(f"jobs per attempt {dict(outcome.jobs_per_attempt)}")
    expected_alerts = 2 if outcome.crashed_at == DOCUMENTED_DUPLICATE else 1
    if len(outcome.alerts) != expected_alerts:
        found.append(f"{len(outcome.alerts)} alerts, expected {expected_alerts}")
    if len({alert_identity(alert) for alert in outcome.alerts}) > 1:
        found.append("the alerts differ")
    run = outcome.run or {}
    if run.get("status") != "FAILED" or run.get("attempt") != 2:
        found.append(f"run ended {run.get('status')} at attempt {run.get('attempt')}")
    if [entry["attempt"] for entry in run.get("history", [])] != [1, 2]:
        found.append(f"history {run.get('history')}")
    leftovers = sorted(name for name in ("sideEffect", "activeStatus") if name in run)
    if leftovers or "alertSentAt" not in run:
        found.append(f"run not settled: {leftovers}, alertSentAt={run.get('alertSentAt')}")
    if outcome.tracking_dlq or outcome.submit_dlq:
        found.append(f"dead letters: tracking {outcome.tracking_dlq}, submit {outcome.submit_dlq}")
    return found


def check_succeeded_once(outcome: Outcome) -> list[str]:
    found = []
    if outcome.jobs_per_attempt != Counter({"1": 1}):
        found.append(f"jobs per attempt {dict(outcome.jobs_per_attempt)}")
    run = outcome.run or {}
    if run.get("status") != "SUCCEEDED":
        found.append(f"run ended {run.get('status')}")
    # A recovery that took longer than StuckSubmittedMinutes is reported as stuck, once: that is the
    # watchdog doing its job. No other alert is due.
    kinds = Counter(alert_identity(alert)[1] for alert in outcome.alerts)
    if set(kinds) - {"RUN_STUCK"} or kinds["RUN_STUCK"] > 1:
        found.append(f"alerts {dict(kinds)}")
    if outcome.submit_dlq:
        found.append(f"{outcome.submit_dlq} messages in SubmitDLQ")
    return found
