"""A stack of three workloads played on the in-memory fakes: upload, submit, and Batch's FAILED or SUCCEEDED event.

For the unit tests of the workload decisions (tests/unit/test_workload_*.py). The table is built the way the
functions build it (``config.workload_table_from_env`` over the template's environment), so routing,
validation and the runtime JSON are the real ones. Batch is the ``FakeJobGateway``: the events are JobDetail
entries built here from what was submitted (job name, queue, tags), the way Batch reports a job, and parsed
with ``batch_events`` like the tracker parses them: the plan a job carries in its tags is the plan the
tracker sees. SIMULATED: the exit codes and reasons are the ones Fargate documents, not a container's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import JobObservation, Run, S3Source, SubmitRequest
from batch_orchestrator.routing import UploadRoutes
from batch_orchestrator.s3_events import Skipped
from batch_orchestrator.submit import SubmitResult, SubmitSettings, submit_run
from batch_orchestrator.submit_messages import parse_submit_message
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.tracking import TrackResult, TrackSettings, apply_job_event
from batch_orchestrator.workloads import WorkloadTable
from tests.support.decision_values import T0
from tests.support.environments import (
    DEFINITION,
    GLOBALS,
    QUEUE,
    SPOT_QUEUE,
    job_definition,
    with_workloads,
    workload_json,
)
from tests.support.fakes import FakeAlertSink, FakeJobGateway, FakeRetryQueue, FakeRunStore, SubmittedJob

if TYPE_CHECKING:
    from batch_orchestrator.watchdog import SweepReport

BUCKET = "batch-orch-input"
IMAGES_DEFINITION = job_definition("images")
VIDEO_DEFINITION = job_definition("video")
REPORTS_DEFINITION = job_definition("reports")
# images: a memory ladder of three steps; video: Fargate Spot, On-Demand after 2 interruptions; reports: a schedule.
WORKLOADS = (
    workload_json(
        "images",
        match={"prefix": "images/", "suffix": ".jpg"},
        vcpu="1",
        memory=[2048, 4096, 8192],
        retry={"exit_codes": "75", "max_attempts": 4},
    ),
    workload_json(
        "video",
        match={"prefix": "video/"},
        vcpu="2",
        memory=4096,
        retry={"max_attempts": 5},
        compute={"type": "fargate-spot", "on_demand_after": 2},
    ),
    workload_json(
        "reports",
        schedules=[
            {"name": "nightly", "expression": "cron(0 2 * * ? *)", "timezone": "Asia/Tokyo", "payload": {"a": 1}}
        ],
        vcpu="0.5",
        memory=1024,
    ),
)
ENV = with_workloads(GLOBALS, WORKLOADS, SPOT_JOB_QUEUE_ARN=SPOT_QUEUE)

# What Fargate reports (see batch_orchestrator.failure_kinds).
OUT_OF_MEMORY: dict[str, Any] = {"exit_code": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"}
SPOT_INTERRUPTED: dict[str, Any] = {"status_reason": "Your Spot Task was interrupted."}


def table() -> WorkloadTable:
    return workload_table_from_env(ENV)


@dataclass
class WorkloadStack:
    """The submit path and the tracker of one stack, on the fakes, with a clock that moves a minute per step."""

    table: WorkloadTable = field(default_factory=table)
    runs: FakeRunStore = field(default_factory=FakeRunStore)
    jobs: FakeJobGateway = field(
        default_factory=lambda: FakeJobGateway(
            job_queues=[QUEUE, SPOT_QUEUE],
            job_definitions=[DEFINITION, IMAGES_DEFINITION, VIDEO_DEFINITION, REPORTS_DEFINITION],
        )
    )
    retry_queue: FakeRetryQueue = field(default_factory=FakeRetryQueue)
    alerts: FakeAlertSink = field(default_factory=FakeAlertSink)
    now: datetime = T0

    @property
    def submit_settings(self) -> SubmitSettings:
        return SubmitSettings(
            job_queue=QUEUE,
            job_definition=DEFINITION,
            max_attempts=3,
            claim_lease_seconds=90,
            workloads=self.table,
            spot_job_queue=SPOT_QUEUE,
        )

    @property
    def track_settings(self) -> TrackSettings:
        default = self.table.get("default")
        assert default is not None
        return TrackSettings(
            policy=default.retry,
            side_effect_lease_seconds=120,
            region="us-east-1",
            job_log_group="/aws/batch/jobs",
            workloads=self.table,
        )

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def upload(self, key: str) -> SubmitRequest | Skipped:
        """The SubmitQueue message S3 sends for an upload of ``key``, as the submit path reads it."""
        record = {
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 10, "sequencer": "00A1"}},
        }
        (request,) = parse_submit_message(json.dumps({"Records": [record]}), routes=UploadRoutes(self.table))
        assert isinstance(request, SubmitRequest | Skipped)  # the tables here have no coalescing workload
        return request

    def submit(self, request: SubmitRequest) -> SubmitResult:
        return submit_run(request, runs=self.runs, jobs=self.jobs, settings=self.submit_settings, now=self.tick())

    def start(self, key: str) -> SubmittedJob:
        """Upload ``key`` and submit its first attempt; the job Batch got."""
        request = self.upload(key)
        assert isinstance(request, SubmitRequest), request
        self.submit(request)
        return self.jobs.jobs[-1]

    def finish(self, job: SubmittedJob, status: str = "FAILED", **how: Any) -> TrackResult:
        """Batch reports ``job`` finished (``how``: exit_code, reason, status_reason); the tracker applies it."""
        return apply_job_event(
            observation(job, status, **how),
            runs=self.runs,
            retry_queue=self.retry_queue,
            alerts=self.alerts,
            settings=self.track_settings,
            now=self.tick(),
        )

    def next_attempt(self) -> SubmittedJob:
        """Submit the retry request the tracker sent last, as the submit path reads it; the job Batch got."""
        self.submit(self.retry_queue.sent[-1].request)
        return self.jobs.jobs[-1]

    def sweep(self, *, after: timedelta) -> SweepReport:
        """The watchdog's sweep of this stack's runs, ``after`` its clock, Batch describing no job (the runs table
        must be a FakeWatchdogStore: the one the sweep can query)."""
        from batch_orchestrator.watchdog import WatchdogSettings, sweep
        from tests.support.fakes import FakeJobInspector, FakeResubmitQueue, FakeWatchdogStore
        from tests.support.sweeps import SETTINGS

        assert isinstance(self.runs, FakeWatchdogStore), "sweep needs a FakeWatchdogStore runs table"
        return sweep(
            runs=self.runs,
            jobs=FakeJobInspector(),
            retry_queue=self.retry_queue,
            resubmit_queue=FakeResubmitQueue(),
            alerts=self.alerts,
            settings=WatchdogSettings(**{**SETTINGS.__dict__, "track": self.track_settings}),
            now=self.now + after,
        )

    def run_of(self, key: str) -> Run:
        run = self.runs.get(run_id_for(S3Source(bucket=BUCKET, key=key, sequencer="00A1")))
        assert run is not None
        return run


def job_detail(
    job: SubmittedJob,
    status: str,
    *,
    exit_code: int | None = None,
    reason: str | None = None,
    status_reason: str | None = None,
) -> dict[str, Any]:
    """The JobDetail Batch reports for a submitted job (DescribeJobs, or an event's detail)."""
    finished = status in ("SUCCEEDED", "FAILED")
    container: dict[str, Any] = {"logStreamName": f"jobs/default/{job.job_id[:8]}"}
    if finished and exit_code is not None:
        container["exitCode"] = exit_code
    if reason:
        container["reason"] = reason
    detail: dict[str, Any] = {
        "jobId": job.job_id,
        "jobName": job.spec.job_name,
        "jobQueue": job.spec.job_queue,
        "jobDefinition": job.spec.job_definition,
        "status": status,
        "createdAt": epoch_seconds(T0) * 1000,
        "tags": dict(job.spec.tags),
        "container": container,
        "attempts": [
            {"container": dict(container), "statusReason": status_reason or "Essential container in task exited"}
        ]
        if finished
        else [],
    }
    if finished:
        detail["statusReason"] = status_reason or "Essential container in task exited"
    return detail


def observation(job: SubmittedJob, status: str, **how: Any) -> JobObservation:
    parsed = parse_describe_jobs_entry(job_detail(job, status, **how))
    assert isinstance(parsed, JobObservation)
    return parsed
