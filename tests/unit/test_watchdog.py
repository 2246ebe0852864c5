"""The watchdog's sweep: its logic against the real RunsTable adapter on a moto table shaped like
template.yaml's (key, sparse index), with recording fakes for Batch, the SubmitQueue and SNS.

The Batch fake answers DescribeJobs with JobDetail entries built here in the documented shape, so
every state a job can be in (including FAILED with an exit code, which moto's Batch cannot report)
is reachable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws

from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.alerts import ALERT_RUN_STUCK, JSON_SEPARATOR, SUBJECT_MAX_CHARS, build_stuck_run_alert
from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.config import RUNNING_MARGIN_SECONDS, WatchdogConfig
from batch_orchestrator.errors import BatchLookupError, ConfigError
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import JobObservation, Run, RunStatus, S3Source, SideEffect, Source
from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.submit_messages import parse_submit_message, resubmit_message
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.tracking import TrackSettings
from batch_orchestrator.watchdog import DESCRIBE_JOBS_LIMIT, WATCHED_STATUSES, WatchdogSettings, episode_of, sweep
from emulator.template import DEFAULT_TEMPLATE, load_template

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
QUEUE = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/batch-orchestrator-queue"
DEFINITION = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/batch-orchestrator-job:1"
LEASE = 90
MINUTE = 60
SETTINGS = WatchdogSettings(
    track=TrackSettings(
        policy=RetryPolicy(
            retry_exit_codes=ExitCodeSet.parse("75"), max_attempts=3, base_delay_seconds=0, max_delay_seconds=900
        ),
        side_effect_lease_seconds=LEASE,
        region="us-east-1",
        job_log_group="/aws/batch/batch-orchestrator-jobs",
    ),
    job_queue=QUEUE,
    reconcile_after_seconds=10 * MINUTE,
    stuck_after_seconds={
        RunStatus.QUEUED: 15 * MINUTE,
        RunStatus.SUBMITTED: 15 * MINUTE,
        RunStatus.PENDING: 15 * MINUTE,
        RunStatus.RUNNABLE: 30 * MINUTE,
        RunStatus.STARTING: 15 * MINUTE,
        RunStatus.RUNNING: 70 * MINUTE,
    },
)


# ----------------------------------------------------------------------------------------- fakes
class FakeBatch:
    """DescribeJobs / ListJobs / TerminateJob over a dict of JobDetail entries."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.describe_calls: list[list[str]] = []
        self.terminated: list[tuple[str, str]] = []
        self.fail_describe = False

    def add(self, job: dict[str, Any]) -> dict[str, Any]:
        self.jobs[job["jobId"]] = job
        return job

    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None:
        return next((j["jobId"] for j in self.jobs.values() if j["jobName"] == job_name), None)

    def describe_jobs(self, job_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        assert len(job_ids) <= DESCRIBE_JOBS_LIMIT  # the watchdog batches; the adapter would split anyway
        self.describe_calls.append(list(job_ids))
        if self.fail_describe:
            raise BatchLookupError("DescribeJobs failed: ThrottlingException")
        return [self.jobs[job_id] for job_id in job_ids if job_id in self.jobs]

    def terminate_job(self, *, job_id: str, reason: str) -> None:
        self.terminated.append((job_id, reason))


class FakeQueue:
    def __init__(self) -> None:
        self.retries: list[tuple[str, int, int]] = []
        self.resubmits: list[tuple[str, int]] = []

    def send_retry(self, *, run_id: str, attempt: int, source: Source, delay_seconds: int) -> None:
        self.retries.append((run_id, attempt, delay_seconds))

    def send_resubmit(self, *, run_id: str, attempt: int, source: Source) -> None:
        self.resubmits.append((run_id, attempt))


class FakeAlerts:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        self.published.append({"subject": subject, "message": message, "attributes": attributes})

    def of_type(self, alert_type: str) -> list[dict[str, Any]]:
        return [a for a in self.published if a["attributes"]["alertType"]["StringValue"] == alert_type]


# -------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def runs() -> Iterator[RunsTable]:
    """The runs table with template.yaml's key schema and sparse index, in moto."""
    declared = load_template(DEFAULT_TEMPLATE)["Resources"]["RunsTable"]["Properties"]
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="runs",
            BillingMode=declared["BillingMode"],
            AttributeDefinitions=declared["AttributeDefinitions"],
            KeySchema=declared["KeySchema"],
            GlobalSecondaryIndexes=declared["GlobalSecondaryIndexes"],
        )
        yield RunsTable("runs", retention_days=90)


@pytest.fixture
def batch() -> FakeBatch:
    return FakeBatch()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def alerts() -> FakeAlerts:
    return FakeAlerts()


class Sweeper:
    def __init__(self, runs: RunsTable, batch: FakeBatch, queue: FakeQueue, alerts: FakeAlerts) -> None:
        self.runs, self.batch, self.queue, self.alerts = runs, batch, queue, alerts

    def __call__(self, at: datetime, settings: WatchdogSettings = SETTINGS, **kwargs: Any) -> Any:
        return sweep(
            runs=self.runs,
            jobs=self.batch,
            retry_queue=self.queue,
            resubmit_queue=self.queue,
            alerts=self.alerts,
            settings=settings,
            now=at,
            **kwargs,
        )


@pytest.fixture
def sweep_at(runs: RunsTable, batch: FakeBatch, queue: FakeQueue, alerts: FakeAlerts) -> Sweeper:
    return Sweeper(runs, batch, queue, alerts)


# --------------------------------------------------------------------------------------- builders
def new_claim(runs: RunsTable, name: str, *, at: datetime = T0) -> tuple[str, S3Source]:
    """A run exactly as the submit path claims it (SUBMITTED, no job id, a lease of LEASE seconds)."""
    source = S3Source(bucket="batch-orch-input", key=f"incoming/{name}.csv", sequencer="00A1")
    run_id = run_id_for(source)
    claimed = runs.claim_first_attempt(
        run_id=run_id,
        source=source,
        job_name=job_name_for(run_id, 1, source),
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at,
        claimed_until=epoch_seconds(at) + LEASE,
    )
    assert claimed.applied
    return run_id, source


def job_detail(
    run_id: str,
    source: S3Source,
    status: str,
    *,
    attempt: int = 1,
    job_id: str | None = None,
    exit_code: int | None = None,
    status_reason: str | None = None,
    batch_attempts: int = 0,
) -> dict[str, Any]:
    """A DescribeJobs entry of the run's job, in the shape AWS Batch documents."""
    job: dict[str, Any] = {
        "jobId": job_id or f"{run_id[-8:]}-0000-4000-8000-00000000000{attempt}",
        "jobName": job_name_for(run_id, attempt, source),
        "jobQueue": QUEUE,
        "jobDefinition": DEFINITION,
        "status": status,
        "createdAt": epoch_seconds(T0) * 1000,
        "tags": {"batch-orchestrator:run-id": run_id, "batch-orchestrator:attempt": str(attempt)},
        "attempts": [
            {"container": {"logStreamName": "batch-orchestrator/default/abc"}, "statusReason": "Task failed to start"}
        ]
        * batch_attempts,
        "container": {"logStreamName": "batch-orchestrator/default/abc"},
    }
    if status in ("SUCCEEDED", "FAILED"):
        job["container"]["exitCode"] = 0 if status == "SUCCEEDED" else exit_code
        job["startedAt"] = epoch_seconds(T0) * 1000 + 60_000
        job["stoppedAt"] = epoch_seconds(T0) * 1000 + 120_000
    if status_reason:
        job["statusReason"] = status_reason
    return job


def observe(runs: RunsTable, job: dict[str, Any], *, at: datetime = T0) -> Run:
    """Apply one event of ``job`` the way the tracker does (for non-failure statuses)."""
    observation = parse_describe_jobs_entry(job)
    assert observation is not None
    written = runs.apply_observation(observation, now=at, new_status=observation.status)
    assert written.applied
    assert written.run is not None
    return written.run


def item(runs: RunsTable, run_id: str) -> dict[str, Any]:
    raw = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="runs", Key={"runId": {"S": run_id}}, ConsistentRead=True
    )["Item"]
    return {name: TypeDeserializer().deserialize(value) for name, value in raw.items()}


# ------------------------------------------------------------------------------------ lost events
def test_a_lost_succeeded_is_applied_from_describe_jobs(runs, batch, sweep_at) -> None:
    # Given a run RUNNING since T0 whose SUCCEEDED event never arrived
    run_id, source = new_claim(runs, "lost-success")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    batch.jobs[next(iter(batch.jobs))] = job_detail(run_id, source, "SUCCEEDED")

    # When the watchdog sweeps 15 minutes later
    report = sweep_at(T0 + timedelta(minutes=15))

    # Then the run is SUCCEEDED, out of the index, and the sweep says so
    stored = item(runs, run_id)
    assert stored["status"] == "SUCCEEDED"
    assert "activeStatus" not in stored
    assert (report.items_read, report.runs_reconciled, report.errors) == (1, 1, 0)
    assert sweep_at(T0 + timedelta(minutes=20)).items_read == 0


def test_a_lost_failed_with_a_retryable_exit_code_is_retried(runs, batch, queue, alerts, sweep_at) -> None:
    run_id, source = new_claim(runs, "lost-failure")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    job_id = next(iter(batch.jobs))
    batch.jobs[job_id] = job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=75)

    report = sweep_at(T0 + timedelta(minutes=15))

    stored = item(runs, run_id)
    assert (stored["status"], stored["attempt"], stored["lastJobId"]) == ("RETRY_WAIT", 2, job_id)
    assert queue.retries == [(run_id, 2, 0)]
    assert alerts.published == []
    assert report.runs_reconciled == 1


def test_a_lost_failed_for_good_is_alerted_once(runs, batch, alerts, sweep_at) -> None:
    run_id, source = new_claim(runs, "lost-final-failure")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    job_id = next(iter(batch.jobs))
    batch.jobs[job_id] = job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=2)

    sweep_at(T0 + timedelta(minutes=15))
    sweep_at(T0 + timedelta(minutes=20))

    assert [a["attributes"]["alertType"]["StringValue"] for a in alerts.published] == ["RUN_FAILED"]
    stored = item(runs, run_id)
    assert stored["status"] == "FAILED"
    assert "activeStatus" not in stored  # the alert is confirmed: the run left the index


def test_recent_runs_are_left_to_their_events(runs, batch, sweep_at) -> None:
    run_id, source = new_claim(runs, "young")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")), at=T0)

    report = sweep_at(T0 + timedelta(minutes=5))

    assert report.items_read == 0
    assert batch.describe_calls == []


# -------------------------------------------------------------------------- abandoned side effects
def _failed_with_lease(runs: RunsTable, name: str, *, kind: str, exit_code: int) -> tuple[str, S3Source, str]:
    """A run whose FAILED event was applied, but whose retry/alert was never performed (a crash)."""
    run_id, source = new_claim(runs, name)
    job = job_detail(run_id, source, "FAILED", exit_code=exit_code)
    observation = parse_describe_jobs_entry(job)
    assert observation is not None
    retry = kind == "retry"
    written = runs.apply_observation(
        observation,
        now=T0,
        new_status=RunStatus.RETRY_WAIT if retry else RunStatus.FAILED,
        next_attempt=2 if retry else None,
        next_attempt_at=T0 if retry else None,
        side_effect=SideEffect(kind=kind, token="crashed-holder", due=epoch_seconds(T0) + LEASE, job_id=job["jobId"]),
    )
    assert written.applied
    return run_id, source, job["jobId"]


@pytest.mark.parametrize("batch_still_knows_the_job", [True, False])
def test_a_retry_whose_message_never_went_out_is_sent(runs, batch, queue, sweep_at, batch_still_knows_the_job) -> None:
    # Given a run in RETRY_WAIT whose retry lease expired without the message being sent
    run_id, source, job_id = _failed_with_lease(runs, "retry-lost", kind="retry", exit_code=75)
    if batch_still_knows_the_job:
        batch.add(job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=75))

    # When the watchdog sweeps (before and after the lease expires)
    early = sweep_at(T0 + timedelta(seconds=LEASE - 1), settings=_eager())
    late = sweep_at(T0 + timedelta(minutes=15))

    # Then the retry is sent once, after the lease, for attempt 2
    assert early.side_effects_recovered == 0
    assert late.side_effects_recovered == 1
    assert queue.retries == [(run_id, 2, 0)]
    assert item(runs, run_id)["sideEffect"]["token"] != "crashed-holder"


@pytest.mark.parametrize("batch_still_knows_the_job", [True, False])
def test_an_alert_that_was_never_published_is_published(
    runs, batch, alerts, sweep_at, batch_still_knows_the_job
) -> None:
    run_id, source, job_id = _failed_with_lease(runs, "alert-lost", kind="alert", exit_code=2)
    if batch_still_knows_the_job:
        batch.add(job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=2))

    report = sweep_at(T0 + timedelta(minutes=15))
    sweep_at(T0 + timedelta(minutes=20))

    (alert,) = alerts.published
    assert "exit 2" in alert["subject"]
    assert report.side_effects_recovered == 1
    assert "activeStatus" not in item(runs, run_id)


# ------------------------------------------------------------------------------------ stale claims
def test_a_claim_whose_job_never_existed_is_resubmitted_once(runs, queue, sweep_at) -> None:
    # Given a claim whose holder crashed before SubmitJob (no job by its name in Batch)
    run_id, _ = new_claim(runs, "never-submitted")

    # When the watchdog sweeps several times
    reports = [sweep_at(T0 + timedelta(minutes=m)) for m in (11, 12, 13)]

    # Then one resubmit request was sent for attempt 1
    assert queue.resubmits == [(run_id, 1)]
    assert [r.claims_recovered for r in reports] == [1, 0, 0]
    assert item(runs, run_id)["resubmissions"] == 1


def test_a_claim_still_leased_is_left_alone(runs, queue, sweep_at) -> None:
    long_lease = replace(SETTINGS, reconcile_after_seconds=60)
    new_claim(runs, "in-progress")

    report = sweep_at(T0 + timedelta(seconds=LEASE - 10), settings=long_lease)

    assert report.items_read == 1
    assert queue.resubmits == []


def test_a_claim_whose_job_exists_adopts_it_instead_of_resubmitting(runs, batch, queue, sweep_at) -> None:
    # Given a crash after SubmitJob succeeded: the job exists, its events were lost
    run_id, source = new_claim(runs, "submitted-then-crashed")
    batch.add(job_detail(run_id, source, "RUNNABLE"))

    report = sweep_at(T0 + timedelta(minutes=11))

    assert queue.resubmits == []
    assert report.runs_reconciled == 1
    stored = item(runs, run_id)
    assert (stored["status"], stored["jobId"]) == ("RUNNABLE", next(iter(batch.jobs)))


def test_resubmissions_stop_at_the_limit_and_the_claim_is_then_alerted_as_stuck(runs, queue, alerts, sweep_at) -> None:
    # Given a claim that every resubmission leaves unsubmitted (SubmitJob refused each time)
    run_id, _ = new_claim(runs, "always-refused")
    at = T0
    for _ in range(SETTINGS.max_resubmissions + 1):
        at += timedelta(minutes=11)
        sweep_at(at)
        # the submit path takes the claim over, SubmitJob is refused, the claim is released
        run = runs.get(run_id)
        assert run is not None
        taken = runs.take_over_claim(
            run_id=run_id,
            attempt=1,
            previous_until=run.claimed_until or 0,
            job_queue=QUEUE,
            job_definition=DEFINITION,
            now=at,
            claimed_until=epoch_seconds(at),
        )
        if taken.applied:
            runs.release_claim(run_id=run_id, attempt=1, claimed_until=epoch_seconds(at), error="refused", now=at)

    # When the watchdog keeps sweeping past the QUEUED threshold
    sweep_at(at + timedelta(minutes=16))
    sweep_at(at + timedelta(minutes=21))

    # Then it resubmitted MAX times, then alerted once that the run is stuck in QUEUED
    assert len(queue.resubmits) == SETTINGS.max_resubmissions
    (stuck,) = alerts.of_type(ALERT_RUN_STUCK)
    assert stuck["subject"].startswith("Batch job stuck in QUEUED")


# ------------------------------------------------------------------------------------ stuck runs
def test_a_run_stuck_in_runnable_is_alerted_once_per_episode(runs, batch, alerts, sweep_at) -> None:
    # Given a job RUNNABLE since T0, with the reason Batch gives
    run_id, source = new_claim(runs, "stuck")
    reason = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no Fargate capacity in the subnets' zones"
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE", status_reason=reason)))

    # When the watchdog sweeps before and after the threshold, several times
    reports = [sweep_at(T0 + timedelta(minutes=m)) for m in (20, 31, 36, 41)]

    # Then exactly one alert, with the queue and the status reason; StuckRuns counts it every time
    assert [r.stuck_runs for r in reports] == [0, 1, 1, 1]
    assert [r.stuck_alerts_sent for r in reports] == [0, 1, 0, 0]
    (alert,) = alerts.published
    assert alert["subject"] == "Batch job stuck in RUNNABLE: stuck.csv (31 min)"
    assert alert["attributes"]["alertType"]["StringValue"] == ALERT_RUN_STUCK
    assert alert["attributes"]["jobQueue"]["StringValue"] == "batch-orchestrator-queue"
    assert reason in alert["message"]
    details = json.loads(alert["message"].split(JSON_SEPARATOR, 1)[1])
    assert (details["status"], details["statusReason"], details["stuckSeconds"]) == ("RUNNABLE", reason, 31 * 60)

    # When the job goes back to RUNNABLE after a failed Batch attempt (a new episode) and stays there
    later = T0 + timedelta(minutes=45)
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE", batch_attempts=1, status_reason=reason)), at=later)
    sweep_at(later + timedelta(minutes=31))
    sweep_at(later + timedelta(minutes=40))

    # Then that episode is alerted once too
    assert len(alerts.published) == 2


def test_a_stuck_runnable_job_is_terminated_once_past_the_limit(runs, batch, sweep_at) -> None:
    cancelling = replace(SETTINGS, cancel_runnable_after_seconds=60 * MINUTE)
    run_id, source = new_claim(runs, "cancel-me")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE")))
    job_id = next(iter(batch.jobs))

    reports = [sweep_at(T0 + timedelta(minutes=m), settings=cancelling) for m in (31, 59, 61, 66)]

    assert [r.jobs_cancelled for r in reports] == [0, 0, 1, 0]
    ((terminated_id, reason),) = batch.terminated
    assert terminated_id == job_id
    assert "RUNNABLE for 61 min (limit 60 min)" in reason


def test_the_cancel_option_is_off_by_default(runs, batch, sweep_at) -> None:
    run_id, source = new_claim(runs, "never-cancelled")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE")))

    sweep_at(T0 + timedelta(days=2))

    assert batch.terminated == []


def test_a_run_whose_job_batch_forgot_is_still_reported_when_stuck(runs, batch, alerts, sweep_at) -> None:
    run_id, source = new_claim(runs, "forgotten")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    batch.jobs.clear()  # Batch keeps finished jobs for a limited time only

    report = sweep_at(T0 + timedelta(minutes=71))

    assert report.stuck_runs == 1
    (alert,) = alerts.published
    assert "RUNNING" in alert["subject"]


# ---------------------------------------------------------------------------- scale and robustness
def test_describe_jobs_is_called_with_at_most_100_ids(runs, batch, sweep_at) -> None:
    for index in range(201):
        run_id, source = new_claim(runs, f"many-{index}")
        observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))

    report = sweep_at(T0 + timedelta(minutes=15))

    assert report.items_read == 201
    assert sorted(len(call) for call in batch.describe_calls) == [1, 100, 100]


def test_a_failing_describe_is_counted_and_the_sweep_goes_on(runs, batch, sweep_at) -> None:
    run_id, source = new_claim(runs, "describe-fails")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    batch.fail_describe = True

    report = sweep_at(T0 + timedelta(minutes=15))

    assert report.errors == 1
    assert report.runs_reconciled == 0


def test_a_sweep_out_of_time_stops_before_the_next_chunk(runs, batch, sweep_at) -> None:
    run_id, source = new_claim(runs, "no-time")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))

    report = sweep_at(T0 + timedelta(minutes=15), out_of_time=lambda: True)

    assert report.truncated
    assert batch.describe_calls == []


def test_episodes_differ_when_the_run_moves_or_its_claim_is_taken_over(runs) -> None:
    run_id, _ = new_claim(runs, "episodes")
    first = runs.get(run_id)
    assert first is not None
    runs.take_over_claim(
        run_id=run_id,
        attempt=1,
        previous_until=first.claimed_until or 0,
        job_queue=QUEUE,
        job_definition=DEFINITION,
        now=T0 + timedelta(minutes=1),
        claimed_until=0,
    )
    second = runs.get(run_id)
    assert second is not None
    assert episode_of(first) != episode_of(second)


def test_every_active_status_is_swept() -> None:
    active = {status for status in RunStatus if not status.is_terminal} | {RunStatus.FAILED}
    assert set(WATCHED_STATUSES) == active


def _eager() -> WatchdogSettings:
    return replace(SETTINGS, reconcile_after_seconds=60)


# ------------------------------------------------------------------------------------ the alert
def _stuck_run(**changes: Any) -> Run:
    source = S3Source(bucket="in", key="incoming/" + "very-long-name-" * 12 + ".csv", sequencer="01")
    run_id = run_id_for(source)
    fields: dict[str, Any] = {
        "run_id": run_id,
        "status": RunStatus.RUNNABLE,
        "attempt": 1,
        "max_attempts": 3,
        "source": source,
        "progress": 10_003,
        "job_name": job_name_for(run_id, 1, source),
        "job_id": "0f0e0d0c-0000-4000-8000-000000000001",
        "job_queue": QUEUE,
        "updated_at": "2026-11-21T12:00:00.000Z",
    }
    fields.update(changes)
    return Run(**fields)


def test_the_stuck_alert_keeps_sns_limits_and_advises_by_reason() -> None:
    run = _stuck_run()
    observation = JobObservation(
        run_id=run.run_id,
        attempt=1,
        job_id=run.job_id or "",
        job_name=run.job_name or "",
        job_queue=QUEUE,
        status=RunStatus.RUNNABLE,
        status_reason="MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - no environment offers 16 vCPU",
    )

    alert = build_stuck_run_alert(
        run,
        stuck_seconds=3_700,
        threshold_seconds=1_800,
        observation=observation,
        region="us-east-1",
        cancel_after_seconds=7_200,
    )

    assert len(alert.subject) <= SUBJECT_MAX_CHARS
    assert alert.subject.endswith("(61 min)")
    assert "Lower the job definition's resource requirements" in alert.message
    assert "the watchdog terminates the job after 2 h 0 min" in alert.message
    assert "aws batch terminate-job --region us-east-1 --job-id 0f0e0d0c" in alert.message
    assert alert.attributes["status"] == {"DataType": "String", "StringValue": "RUNNABLE"}


def test_the_stuck_alert_of_a_claim_without_a_job_says_so() -> None:
    run = _stuck_run(status=RunStatus.QUEUED, job_id=None, job_queue=None)

    alert = build_stuck_run_alert(run, stuck_seconds=1_000, threshold_seconds=900, observation=None, region="us-east-1")

    assert "none yet (no job was found for this run)" in alert.message
    assert "terminate-job" not in alert.message
    assert alert.attributes["jobQueue"]["StringValue"] == "unknown"


# ------------------------------------------------------------------------------ messages and config
def test_a_resubmit_request_is_a_submit_request_for_the_same_attempt() -> None:
    source = S3Source(bucket="in", key="incoming/a.csv", sequencer="01")
    run_id = run_id_for(source)

    (request,) = parse_submit_message(resubmit_message(run_id=run_id, attempt=1, source=source), input_prefix="x/")

    assert (request.run_id, request.attempt, request.source) == (run_id, 1, source)


@pytest.mark.parametrize("attempt", [0, 11, "1", True])
def test_a_resubmit_request_with_a_bad_attempt_is_malformed(attempt: Any) -> None:
    from batch_orchestrator.errors import MalformedMessage

    source = S3Source(bucket="in", key="incoming/a.csv", sequencer="01")
    body = json.dumps({"kind": "resubmit", "runId": run_id_for(source), "attempt": attempt, "source": source.to_dict()})
    with pytest.raises(MalformedMessage, match="resubmit request has an invalid attempt"):
        parse_submit_message(body, input_prefix="incoming/")


WATCHDOG_ENV = {
    "RUNS_TABLE": "runs",
    "AWS_REGION": "us-east-1",
    "JOB_QUEUE_ARN": QUEUE,
    "SUBMIT_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/submit",
    "ALERTS_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts",
    "MAX_ATTEMPTS": "3",
    "RETRY_EXIT_CODES": "75",
    "RETRY_BASE_DELAY_SECONDS": "30",
    "JOB_LOG_GROUP": "/aws/batch/jobs",
    "SIDE_EFFECT_LEASE_SECONDS": "330",
    "RECONCILE_AFTER_SECONDS": "600",
    "STUCK_SUBMITTED_MINUTES": "15",
    "STUCK_RUNNABLE_MINUTES": "30",
    "STUCK_STARTING_MINUTES": "15",
    "STUCK_RUNNING_MINUTES": "0",
    "JOB_TIMEOUT_SECONDS": "3600",
    "CANCEL_STUCK_RUNNABLE_AFTER_MINUTES": "0",
}


def test_watchdog_config_derives_the_running_threshold_from_the_job_timeout() -> None:
    config = WatchdogConfig.from_env(WATCHDOG_ENV)

    stuck = config.watchdog.stuck_after_seconds
    assert stuck[RunStatus.RUNNING] == 3600 + RUNNING_MARGIN_SECONDS
    assert stuck[RunStatus.RUNNABLE] == 1800
    assert stuck[RunStatus.QUEUED] == stuck[RunStatus.SUBMITTED] == stuck[RunStatus.PENDING] == 900
    assert config.watchdog.cancel_runnable_after_seconds == 0
    assert config.watchdog.track == config.track.track
    assert (
        WatchdogConfig.from_env({**WATCHDOG_ENV, "STUCK_RUNNING_MINUTES": "90"}).watchdog.stuck_after_seconds[
            RunStatus.RUNNING
        ]
        == 90 * 60
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RECONCILE_AFTER_SECONDS", "", "RECONCILE_AFTER_SECONDS is required"),
        ("STUCK_RUNNABLE_MINUTES", "0", "outside 1..10080"),
        ("STUCK_RUNNING_MINUTES", "soon", "not an integer"),
        ("CANCEL_STUCK_RUNNABLE_AFTER_MINUTES", "-1", "outside 0..10080"),
        ("SUBMIT_QUEUE_URL", "submit", "not an SQS queue URL"),
    ],
)
def test_bad_watchdog_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WatchdogConfig.from_env({**WATCHDOG_ENV, name: value})
