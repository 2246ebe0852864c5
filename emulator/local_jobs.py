"""What the local job runner knows of a job it took over from moto's Batch: ``LocalJob`` and its attempts.

SIMULATED (see ``emulator.runner``). Invariant: ``LocalJob.attempts_for_batch`` is ``attempts[]`` exactly as
DescribeJobs and the job's events show it: finished attempts only, each with its exit code, reasons,
log stream and times. An array job is one ``LocalJob`` for the parent (``array_size`` set, no attempts ever)
and one per child (``array_index`` and ``array_size`` set, id ``<parent id>:<index>``; ``emulator.local_arrays``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_orchestrator.ids import RUN_ID_TAG
from emulator.batch_event_builder import attempt_entry
from emulator.task_limits import TaskResources, task_resources

# The statusReason of an attempt whose container exited (by itself, or killed out of memory).
EXITED_STATUS_REASON = "Essential container in task exited"
LOG_BATCH = 500  # log events per PutLogEvents call


@dataclass
class LocalAttempt:
    """One Batch attempt (one task) of a job, as the runner saw it."""

    number: int
    task_id: str
    log_stream_name: str
    started_at: int  # epoch ms
    stopped_at: int | None = None
    exit_code: int | None = None
    reason: str | None = None  # container.reason (no exit code: the task never ran)
    status_reason: str | None = None
    timed_out: bool = False
    pid: int | None = None  # of the local process standing in for the task


@dataclass
class LocalJob:
    """A job the runner took over from moto's Batch."""

    job_id: str
    job_name: str
    job_queue: str
    job_definition: str
    tags: dict[str, str]
    command: list[str]
    environment: dict[str, str]
    timeout_seconds: int | None
    retry_attempts: int
    evaluate_on_exit: list[dict[str, Any]]
    log_group: str | None
    log_stream_prefix: str
    resources: TaskResources = field(default_factory=TaskResources)  # every attempt's (overrides applied)
    spot: bool = False  # its queue's compute environment is Fargate Spot
    array_size: int | None = None  # an array parent's size; a child's parent's (AWS_BATCH_JOB_ARRAY_SIZE)
    array_index: int | None = None  # an array child's index (AWS_BATCH_JOB_ARRAY_INDEX); None for any other job
    status: str = "SUBMITTED"
    attempts: list[LocalAttempt] = field(default_factory=list)
    output: list[tuple[int, int, str]] = field(default_factory=list)  # (attempt, epoch ms, line)

    @property
    def run_id(self) -> str | None:
        return self.tags.get(RUN_ID_TAG)

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None and self.array_index is None

    @property
    def parent_id(self) -> str | None:
        """The array parent's job id of a child (Batch names a child ``<parent id>:<index>``); None otherwise."""
        return self.job_id.rsplit(":", 1)[0] if self.array_index is not None else None

    @property
    def exit_code(self) -> int | None:
        return self.attempts[-1].exit_code if self.attempts else None

    def attempts_for_batch(self) -> list[dict[str, Any]]:
        """``attempts[]`` as DescribeJobs and the events show it (finished attempts only)."""
        return [
            attempt_entry(
                exit_code=a.exit_code,
                reason=a.reason,
                status_reason=a.status_reason or EXITED_STATUS_REASON,
                log_stream_name=a.log_stream_name,
                started_at=a.started_at,
                stopped_at=a.stopped_at,
            )
            for a in self.attempts
            if a.stopped_at is not None
        ]


def local_job(described: Mapping[str, Any], definition: Mapping[str, Any], *, spot: bool) -> LocalJob:
    """The job a runner takes over, from its DescribeJobs entry and its job definition (DescribeJobDefinitions)."""
    container = described.get("container") or {}
    properties = definition.get("containerProperties") or {}
    log_options = (properties.get("logConfiguration") or {}).get("options") or {}
    timeout = (described.get("timeout") or definition.get("timeout") or {}).get("attemptDurationSeconds")
    retry = definition.get("retryStrategy") or {}
    array = described.get("arrayProperties") or {}
    return LocalJob(
        job_id=described["jobId"],
        job_name=described["jobName"],
        job_queue=described["jobQueue"],
        job_definition=described["jobDefinition"],
        tags=dict(described.get("tags") or {}),
        command=[str(part) for part in container.get("command") or properties.get("command") or []],
        environment={item["name"]: item["value"] for item in container.get("environment") or []},
        timeout_seconds=int(timeout) if timeout else None,
        retry_attempts=max(1, int(retry.get("attempts") or 1)),
        evaluate_on_exit=list(retry.get("evaluateOnExit") or []),
        log_group=log_options.get("awslogs-group"),
        log_stream_prefix=log_options.get("awslogs-stream-prefix") or "batch",
        resources=task_resources(container),
        spot=spot,
        array_size=int(array["size"]) if array.get("size") is not None and array.get("index") is None else None,
    )


def write_attempt_logs(logs_client: Any, job: LocalJob, attempt: LocalAttempt) -> None:
    """The attempt's output → CloudWatch Logs, as the awslogs driver would send it: the job definition's
    group, the attempt's stream (nothing when the job definition names no awslogs group)."""
    if not job.log_group:
        return
    events = [
        {"timestamp": stamp, "message": line or " "} for number, stamp, line in job.output if number == attempt.number
    ]
    with contextlib.suppress(logs_client.exceptions.ResourceAlreadyExistsException):
        logs_client.create_log_group(logGroupName=job.log_group)
    logs_client.create_log_stream(logGroupName=job.log_group, logStreamName=attempt.log_stream_name)
    for start in range(0, len(events), LOG_BATCH):
        logs_client.put_log_events(
            logGroupName=job.log_group,
            logStreamName=attempt.log_stream_name,
            logEvents=events[start : start + LOG_BATCH],
        )
