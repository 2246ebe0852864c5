"""The watchdog's sweep under test (tests/unit/test_watchdog*.py), on both runs tables: the in-memory fake and
the real RunsTable adapter on a moto table shaped like template.yaml's (key, sparse index); the same
assertions hold on both. Batch, the SubmitQueue and SNS are the fakes of tests/support.

The Batch fake answers DescribeJobs with JobDetail entries built here (``job_detail``) in the documented
shape, so every state a job can be in (including FAILED with an exit code, which moto's Batch cannot
report) is reachable. The fixtures are re-exported by tests/unit/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import JobObservation, Run, RunStatus, S3Source
from batch_orchestrator.ports import ActiveRun
from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.tracking import TrackSettings
from batch_orchestrator.watchdog import WATCHED_STATUSES, WatchdogSettings, sweep
from tests.support.aws_doubles import ReadableRunsTable, runs_table_in_moto
from tests.support.fakes import FakeAlertSink, FakeJobInspector, FakeResubmitQueue, FakeRetryQueue, FakeWatchdogStore

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


Store = FakeWatchdogStore | ReadableRunsTable


# -------------------------------------------------------------------------------------- fixtures
@pytest.fixture(params=["memory", "dynamodb"])
def runs(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The runs table: in memory, and the adapter on a moto table with template.yaml's key schema and index."""
    if request.param == "memory":
        yield FakeWatchdogStore()
    else:
        with runs_table_in_moto() as table:
            yield table


@pytest.fixture
def batch() -> FakeJobInspector:
    return FakeJobInspector()


@pytest.fixture
def retry_queue() -> FakeRetryQueue:
    return FakeRetryQueue()


@pytest.fixture
def resubmit_queue() -> FakeResubmitQueue:
    return FakeResubmitQueue()


@pytest.fixture
def alerts() -> FakeAlertSink:
    return FakeAlertSink()


class Sweeper:
    def __init__(
        self,
        runs: Store,
        batch: FakeJobInspector,
        retry_queue: FakeRetryQueue,
        resubmit_queue: FakeResubmitQueue,
        alerts: FakeAlertSink,
    ) -> None:
        self.runs, self.batch, self.alerts = runs, batch, alerts
        self.retry_queue, self.resubmit_queue = retry_queue, resubmit_queue

    def __call__(self, at: datetime, settings: WatchdogSettings = SETTINGS, **kwargs: Any) -> Any:
        return sweep(
            runs=self.runs,
            jobs=self.batch,
            retry_queue=self.retry_queue,
            resubmit_queue=self.resubmit_queue,
            alerts=self.alerts,
            settings=settings,
            now=at,
            **kwargs,
        )


@pytest.fixture
def sweep_at(
    runs: Store,
    batch: FakeJobInspector,
    retry_queue: FakeRetryQueue,
    resubmit_queue: FakeResubmitQueue,
    alerts: FakeAlertSink,
) -> Sweeper:
    return Sweeper(runs, batch, retry_queue, resubmit_queue, alerts)


def retries(queue: FakeRetryQueue) -> list[tuple[str, int, int]]:
    return [(sent.request.run_id, sent.request.attempt, sent.delay_seconds) for sent in queue.sent]


def resubmits(queue: FakeResubmitQueue) -> list[tuple[str, int]]:
    return [(request.run_id, request.attempt) for request in queue.requests()]


# --------------------------------------------------------------------------------------- builders
def new_claim(runs: Store, name: str, *, at: datetime = T0) -> tuple[str, S3Source]:
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


def observe(runs: Store, job: dict[str, Any], *, at: datetime = T0) -> Run:
    """Apply one event of ``job`` the way the tracker does (for non-failure statuses)."""
    observation = parse_describe_jobs_entry(job)
    assert isinstance(observation, JobObservation)
    written = runs.apply_observation(observation, now=at, new_status=observation.status)
    assert written.applied
    assert written.run is not None
    return written.run


def stored(runs: Store, run_id: str) -> Run:
    run = runs.get(run_id)
    assert run is not None
    return run


def indexed(runs: Store, run_id: str) -> ActiveRun | None:
    """The run's entry in the sparse index of active runs; None once nobody has to act on it."""
    entries = (
        entry
        for status in WATCHED_STATUSES
        for page in runs.active_runs(status=status, updated_before=T0 + timedelta(days=365))
        for entry in page.runs
    )
    return next((entry for entry in entries if entry.run.run_id == run_id), None)
