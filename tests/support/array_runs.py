"""Array workloads played on the in-memory fakes: upload, submit, the parent's event with its failed children.

For the unit tests of array runs (tests/unit/test_tracking_arrays.py, test_array_retry.py, ...). As
``workload_runs`` (whose ``WorkloadStack`` this extends), the table is built the way the functions build it and
Batch is the ``FakeJobGateway``; an array job's FAILED event is a JobDetail with ``arrayProperties`` and, for a
child-only retry, the ``parameters`` it was submitted with, and the failed children are what ListJobs would
list (``FakeJobGateway.fail_children``), mapped to their items by ``tracking.with_failed_children`` as the
handler does. SIMULATED: exit codes and reasons are the ones Fargate documents, not a container's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.models import ChildFailure, JobObservation, S3Source, SubmitRequest
from batch_orchestrator.submit import SubmitResult, submit_run
from batch_orchestrator.tracking import TrackResult, apply_job_event, with_failed_children
from batch_orchestrator.workloads import WorkloadTable
from tests.support.environments import (
    DEFINITION,
    GLOBALS,
    QUEUE,
    SPOT_QUEUE,
    job_definition,
    with_workloads,
    workload_json,
)
from tests.support.fakes import FakeJobGateway, FakeManifests, SubmittedJob
from tests.support.workload_runs import OUT_OF_MEMORY, WorkloadStack, job_detail

TILES_DEFINITION = job_definition("tiles")
LADDER_DEFINITION = job_definition("ladder")
FRAMES_DEFINITION = job_definition("frames")
GRID_DEFINITION = job_definition("grid")
CHUNKS_DEFINITION = job_definition("chunks")
# tiles: 3 items, exit 75 retried, 3 attempts; ladder: 4 items on a memory ladder; frames: 2 items on Fargate Spot;
# grid: the largest array, 10,000 items, as tiles otherwise; chunks: as many items as the uploaded manifest holds.
ARRAY_WORKLOADS = (
    workload_json(
        "tiles", match={"prefix": "tiles/"}, retry={"exit_codes": "75", "max_attempts": 3}, array={"size": 3}
    ),
    workload_json(
        "ladder",
        match={"prefix": "ladder/"},
        vcpu="1",
        memory=[2048, 4096],
        retry={"max_attempts": 3},
        array={"size": 4},
    ),
    workload_json(
        "frames",
        match={"prefix": "frames/"},
        retry={"max_attempts": 3},
        compute={"type": "fargate-spot", "on_demand_after": 1},
        array={"size": 2},
    ),
    workload_json(
        "grid", match={"prefix": "grid/"}, retry={"exit_codes": "75", "max_attempts": 3}, array={"size": 10_000}
    ),
    workload_json(
        "chunks",
        match={"prefix": "chunks/"},
        retry={"exit_codes": "75", "max_attempts": 3},
        array={"manifest": "upload"},
    ),
)
ARRAY_ENV = with_workloads(GLOBALS, ARRAY_WORKLOADS, SPOT_JOB_QUEUE_ARN=SPOT_QUEUE)
ESSENTIAL = "Essential container in task exited"


def array_table() -> WorkloadTable:
    return workload_table_from_env(ARRAY_ENV)


def failed(index: int, exit_code: int | None = 75, reason: str | None = ESSENTIAL, **more: Any) -> ChildFailure:
    """A failed child as ListJobs lists it (``item`` still its index)."""
    status_reason = more.pop("status_reason", ESSENTIAL)
    return ChildFailure(
        index=index, item=index, exit_code=exit_code, reason=reason, status_reason=status_reason, **more
    )


def out_of_memory(index: int) -> ChildFailure:
    return failed(index, OUT_OF_MEMORY["exit_code"], OUT_OF_MEMORY["reason"])


def array_detail(
    job: SubmittedJob, status: str, *, summary: dict[str, int] | None = None, **how: Any
) -> dict[str, Any]:
    """The JobDetail of an array parent, or of a single job of an array run (``how``: its exit_code, reason,
    status_reason): a parent's ``arrayProperties``, and the ``parameters`` it was submitted with, as Batch repeats
    them in every event."""
    detail = job_detail(job, status, **how)
    if job.spec.array_size >= 2:
        detail["container"] = {}  # a parent runs no container: no exit code, no log stream
        if status in ("SUCCEEDED", "FAILED"):
            detail["attempts"] = []
            detail.pop("statusReason", None)
        counts = summary if summary is not None else {status: job.spec.array_size}
        detail["arrayProperties"] = {"size": job.spec.array_size, "statusSummary": counts}
    if job.spec.parameters:
        detail["parameters"] = dict(job.spec.parameters)
    return detail


@dataclass
class ArrayStack(WorkloadStack):
    """``WorkloadStack`` on the array table."""

    table: WorkloadTable = field(default_factory=array_table)
    jobs: FakeJobGateway = field(
        default_factory=lambda: FakeJobGateway(
            job_queues=[QUEUE, SPOT_QUEUE],
            job_definitions=[
                DEFINITION,
                TILES_DEFINITION,
                LADDER_DEFINITION,
                FRAMES_DEFINITION,
                GRID_DEFINITION,
                CHUNKS_DEFINITION,
            ],
        )
    )
    manifests: FakeManifests = field(default_factory=FakeManifests)

    def submit(self, request: SubmitRequest) -> SubmitResult:
        return submit_run(
            request,
            runs=self.runs,
            jobs=self.jobs,
            settings=self.submit_settings,
            now=self.tick(),
            manifests=self.manifests,
        )

    def upload_manifest(self, key: str, body: bytes) -> SubmitRequest:
        """Upload ``body`` as ``key`` (a manifest); the request the submit path reads from S3's notification."""
        request = self.upload(key)
        assert isinstance(request, SubmitRequest), request
        assert isinstance(request.source, S3Source)
        self.manifests.put(request.source, body)
        return request

    def observe(self, job: SubmittedJob, status: str, *children: ChildFailure, **how: Any) -> JobObservation:
        """What the tracker applies for Batch's ``status`` event of ``job`` whose failed children are ``children``
        (an array parent's FAILED: listed by ListJobs and mapped to their items); ``how`` for a single job."""
        if children:
            self.jobs.fail_children(job.job_id, *children)
        summary = None
        if status == "FAILED" and job.spec.array_size >= 2:
            summary = {"FAILED": len(children), "SUCCEEDED": job.spec.array_size - len(children)}
        parsed = parse_describe_jobs_entry(array_detail(job, status, summary=summary, **how))
        assert isinstance(parsed, JobObservation)
        return with_failed_children(parsed, jobs=self.jobs)

    def finish(self, job: SubmittedJob, status: str = "FAILED", **how: Any) -> TrackResult:
        """A single job of an array run ended (``how``: exit_code, reason, status_reason)."""
        return apply_job_event(
            self.observe(job, status, **how),
            runs=self.runs,
            retry_queue=self.retry_queue,
            alerts=self.alerts,
            settings=self.track_settings,
            now=self.tick(),
        )

    def end(self, job: SubmittedJob, status: str, *children: ChildFailure) -> TrackResult:
        """Batch reports the array ``job`` ended; the tracker applies it as the handler does."""
        return apply_job_event(
            self.observe(job, status, *children),
            runs=self.runs,
            retry_queue=self.retry_queue,
            alerts=self.alerts,
            settings=self.track_settings,
            now=self.tick(),
        )
