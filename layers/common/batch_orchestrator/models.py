"""Domain models shared by the submit, track and watchdog paths.

Immutable records: no boto3, no environment. Adapters translate them to and from DynamoDB items,
Batch requests and SNS messages.

Records are ``typing.NamedTuple`` classes, here and in the other modules every function loads at cold
start (ports, config, workloads, submit, job_outcome). The reason is cold start, measured on Python
3.13: a frozen dataclass generates and compiles its methods when its module is imported, about 1 ms
a class, against about 0.2 ms for a NamedTuple. Each handler loads some 45 record classes, so
dataclasses cost 40 ms of import, a third of the 1.3x cold-start budget (``make bench``). A record
stays a frozen dataclass where it validates itself in ``__post_init__``, or has a field named like a
tuple method (``index``, ``count``). Copies use ``copy.replace``, which serves both kinds. Being
tuples, records compare equal to tuples of the same values: compare records of one class only.

Every run belongs to a workload (``workloads``) and every attempt has an ``AttemptPlan``: what was
written before workloads existed (run items, queue messages, job tags) carries none and reads as
``DEFAULT_PLAN``, the default workload's first step on On-Demand capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from batch_orchestrator.workloads import DEFAULT_WORKLOAD, Capacity


class RunStatus(StrEnum):
    """Where a run is in its life. SUCCEEDED and FAILED are terminal."""

    QUEUED = "QUEUED"  # claimed; its SubmitJob was rejected and will be retried by SQS
    SUBMITTED = "SUBMITTED"  # claimed and handed to batch:SubmitJob (Batch emits no event for this)
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RETRY_WAIT = "RETRY_WAIT"  # attempt failed with a retryable exit code; next attempt is delayed
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED)


# Rank of each Batch job status within one Batch attempt. Terminal statuses outrank everything
# of the same orchestrator attempt (see progress_of), whatever the attempts[] length says.
BATCH_STATUS_RANK: dict[RunStatus, int] = {
    RunStatus.QUEUED: 0,
    RunStatus.SUBMITTED: 1,
    RunStatus.PENDING: 2,
    RunStatus.RUNNABLE: 3,
    RunStatus.STARTING: 4,
    RunStatus.RUNNING: 5,
}

_ATTEMPT_WEIGHT = 10_000
_BATCH_ATTEMPT_WEIGHT = 100
_TERMINAL_PROGRESS = _ATTEMPT_WEIGHT - 1


def progress_of(attempt: int, status: RunStatus, batch_attempts: int = 0) -> int:
    """Total order of a run's observations: (attempt, Batch attempt count, status rank).

    An update is applied only when its progress is greater than the stored one; DynamoDB
    enforces this with a condition expression, so duplicate and late events are no-ops.
    RETRY_WAIT for attempt n+1 sorts after everything of attempt n and before its SUBMITTED.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    base = attempt * _ATTEMPT_WEIGHT
    if status.is_terminal:
        return base + _TERMINAL_PROGRESS
    if status is RunStatus.RETRY_WAIT:
        return base
    return base + min(batch_attempts, 98) * _BATCH_ATTEMPT_WEIGHT + BATCH_STATUS_RANK[status]


class Trigger(StrEnum):
    S3 = "s3"
    SCHEDULE = "schedule"
    REQUEST = "request"  # a run requested by another application (``run_requests``)


class S3Source(NamedTuple):
    """One uploaded object version (key already URL-decoded)."""

    bucket: str
    key: str
    version_id: str | None = None
    sequencer: str | None = None
    size: int | None = None
    event_time: str | None = None

    @property
    def trigger(self) -> Trigger:
        return Trigger.S3

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"trigger": self.trigger.value, "bucket": self.bucket, "key": self.key}
        for name, value in (
            ("versionId", self.version_id),
            ("sequencer", self.sequencer),
            ("size", self.size),
            ("eventTime", self.event_time),
        ):
            if value is not None:
                data[name] = value
        return data


class ScheduleSource(NamedTuple):
    """One firing of a schedule: the stack's own schedule (``workload`` None), or a workload's schedule.

    A workload's schedule names are unique only within the workload, so the workload is part of the
    source (and of its run id: see ``ids.run_id_for``).
    """

    schedule_name: str
    scheduled_time: str  # ISO-8601 UTC as delivered by the scheduler
    workload: str | None = None

    @property
    def trigger(self) -> Trigger:
        return Trigger.SCHEDULE

    def to_dict(self) -> dict[str, Any]:
        data = {
            "trigger": self.trigger.value,
            "scheduleName": self.schedule_name,
            "scheduledTime": self.scheduled_time,
        }
        if self.workload is not None:
            data["workload"] = self.workload
        return data


class RequestSource(NamedTuple):
    """One request of another application to run a workload (``run_requests``): by a "Run Requested" event on the
    stack's bus, or by a message on the SubmitQueue.

    The run's identity is the workload and the caller's ``request_key`` (its idempotency key: the same key twice is
    one run, whatever the second request carries). A rejected request's is ``message_id`` alone (the event's id,
    else the SQS message's), which only rejections keep; its ``workload`` and ``request_key`` are "" when the
    request had none usable (``ids.run_id_for``).
    ``environment`` holds the variables the request sets, by name (only names the workload's ``requests:`` allows);
    ``payload`` the request's JSON object, as compact JSON text (the job reads it as REQUEST_PAYLOAD).
    """

    workload: str
    request_key: str
    requester: str  # the event's source, or the message's "requester" ("" when it names none)
    requested_at: str  # ISO-8601 UTC: the event's time, else when the submit function read the message
    environment: tuple[tuple[str, str], ...] = ()
    payload: str | None = None
    message_id: str | None = None  # a rejected request's event id (else SQS message id): its identity

    @property
    def trigger(self) -> Trigger:
        return Trigger.REQUEST

    @property
    def rejected(self) -> bool:
        """A request the stack would not run (``run_requests``): only a rejection keeps its event or message id."""
        return self.message_id is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "trigger": self.trigger.value,
            "workload": self.workload,
            "requestKey": self.request_key,
            "requester": self.requester,
            "requestedAt": self.requested_at,
        }
        if self.environment:
            data["environment"] = dict(self.environment)
        for name, value in (("payload", self.payload), ("messageId", self.message_id)):
            if value is not None:
                data[name] = value
        return data


Source = S3Source | ScheduleSource | RequestSource


def source_from_dict(data: dict[str, Any]) -> Source:
    """Inverse of ``Source.to_dict``; raises ValueError on an unknown or incomplete map."""
    trigger = data.get("trigger")
    try:
        if trigger == Trigger.S3.value:
            size = data.get("size")
            return S3Source(
                bucket=str(data["bucket"]),
                key=str(data["key"]),
                version_id=data.get("versionId"),
                sequencer=data.get("sequencer"),
                size=int(size) if size is not None else None,
                event_time=data.get("eventTime"),
            )
        if trigger == Trigger.SCHEDULE.value:
            workload = data.get("workload")
            if workload is not None and not isinstance(workload, str):
                raise ValueError(f"source map's workload is {workload!r}, not a name")
            return ScheduleSource(
                schedule_name=str(data["scheduleName"]), scheduled_time=str(data["scheduledTime"]), workload=workload
            )
        if trigger == Trigger.REQUEST.value:
            return _request_source(data)
    except KeyError as exc:
        raise ValueError(f"source map lacks {exc.args[0]!r}") from exc
    raise ValueError(f"unknown source trigger {trigger!r}")


def _request_source(data: dict[str, Any]) -> RequestSource:
    environment = data.get("environment") or {}
    if not isinstance(environment, dict) or not all(isinstance(v, str) for v in environment.values()):
        raise ValueError("source map's environment is not a map of strings")
    payload, message_id = data.get("payload"), data.get("messageId")
    for name, value in (("payload", payload), ("messageId", message_id)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"source map's {name} is {value!r}, not a string")
    return RequestSource(
        workload=str(data["workload"]),
        request_key=str(data["requestKey"]),
        requester=str(data.get("requester", "")),
        requested_at=str(data["requestedAt"]),
        environment=tuple((str(k), v) for k, v in environment.items()),
        payload=payload,
        message_id=message_id,
    )


class AttemptPlan(NamedTuple):
    """How one attempt is submitted: its workload, its memory-ladder step, the capacity it runs on and the
    Spot interruptions the run has had before it.

    It travels with the attempt: in the retry and resubmit messages, on the run item and as tags on the
    Batch job, so the tracker decides the next attempt from the event alone. ``size_step`` indexes the
    workload's ladder (0 is the job definition's own size).
    """

    workload: str = DEFAULT_WORKLOAD
    size_step: int = 0
    capacity: Capacity = Capacity.ON_DEMAND
    spot_interruptions: int = 0
    # Array workloads only (``array_items``): how many items the run's whole array holds (0: not an array), and the
    # original items this attempt runs, ascending (empty: all of them, 0 to array_size - 1).
    array_size: int = 0
    items: tuple[int, ...] = ()
    # A pipeline's later steps only (``workload_steps``): the step's index (0: the first step, or no pipeline) and how
    # many attempts the run made before this step began (its own attempts are counted from there).
    step: int = 0
    attempts_before_step: int = 0

    @property
    def children(self) -> int:
        """How many items this attempt runs: an array job of that size from 2 on, a single job for 1 (0: not an
        array workload, a single job)."""
        return len(self.items) if self.items else self.array_size

    def step_attempt(self, attempt: int) -> int:
        """Run attempt ``attempt`` as its step counts it (the same number outside pipelines)."""
        return attempt - self.attempts_before_step


# What a run, message or job written before workloads existed stands for.
DEFAULT_PLAN = AttemptPlan()


class SubmitRequest(NamedTuple):
    """Ask the submit path to start attempt ``attempt`` of the run ``run_id``, as ``plan`` says."""

    run_id: str
    attempt: int
    source: Source
    plan: AttemptPlan = DEFAULT_PLAN

    @property
    def is_retry(self) -> bool:
        return self.attempt > 1


class JobFailure(NamedTuple):
    """How a Batch job (one orchestrator attempt) failed.

    ``exit_code`` is None for infrastructure failures (Spot reclaim, image pull, timeout);
    ``reason`` then carries Batch's statusReason / container.reason. ``status_reason`` is Batch's
    statusReason alone: a Spot interruption is told by it even when the container left a reason.
    """

    exit_code: int | None
    reason: str | None
    timed_out: bool = False
    status_reason: str | None = None


class ArrayState(NamedTuple):
    """What an array parent's event says of its children: ``size`` and how many are in each status (Batch's
    ``arrayProperties.statusSummary``, as fresh as the event: it may lag behind the children)."""

    size: int
    status_summary: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ChildFailure:
    """One failed child of an array attempt, as ListJobs(arrayJobId, jobStatus=FAILED) lists it.

    ``index`` is the child's AWS_BATCH_JOB_ARRAY_INDEX in this attempt; ``item`` the original item it ran (the
    attempt's items at ``index``, or ``index`` itself on a whole-array attempt).
    """

    index: int
    item: int
    exit_code: int | None
    reason: str | None  # container.reason, else statusReason
    status_reason: str | None = None
    timed_out: bool = False

    @property
    def failure(self) -> JobFailure:
        return JobFailure(
            exit_code=self.exit_code, reason=self.reason, timed_out=self.timed_out, status_reason=self.status_reason
        )


class JobObservation(NamedTuple):
    """What one Batch event (or a DescribeJobs entry) says about one of our jobs.

    ``workload``, ``size_step`` and ``spot_interruptions`` are read from the job's tags (jobs submitted
    before workloads existed have none: the default workload, step 0, no interruption).
    """

    run_id: str
    attempt: int
    job_id: str
    job_name: str
    job_queue: str
    status: RunStatus
    batch_attempts: int = 0
    status_reason: str | None = None
    exit_code: int | None = None
    container_reason: str | None = None
    log_stream_name: str | None = None
    created_at: int | None = None  # epoch milliseconds, as Batch reports them
    started_at: int | None = None
    stopped_at: int | None = None
    timed_out: bool = False
    workload: str = DEFAULT_WORKLOAD
    size_step: int = 0
    spot_interruptions: int = 0
    array_size: int = 0  # the run's whole array (the job's array-size tag; 0: not an array workload)
    items: tuple[int, ...] = ()  # the attempt's original items (parameters.arrayItems; empty: all of them)
    array: ArrayState | None = None  # an array parent's arrayProperties; None for a single job
    # The failed children of a FAILED array parent, once looked up (tracking.with_failed_children); None before.
    failed_children: tuple[ChildFailure, ...] | None = None
    step: int = 0  # a pipeline's later step: its index and the attempts before it (the job's step tags; AttemptPlan)
    attempts_before_step: int = 0

    @property
    def step_attempt(self) -> int:
        """This attempt as its pipeline step counts it (``attempt`` outside pipelines)."""
        return self.attempt - self.attempts_before_step

    @property
    def children(self) -> int:
        """How many items the attempt ran (as ``AttemptPlan.children``)."""
        return len(self.items) if self.items else self.array_size

    @property
    def progress(self) -> int:
        return progress_of(self.attempt, self.status, self.batch_attempts)

    @property
    def failure(self) -> JobFailure:
        return JobFailure(
            exit_code=self.exit_code,
            reason=self.container_reason or self.status_reason,
            timed_out=self.timed_out,
            status_reason=self.status_reason,
        )


class QueueBlocked(NamedTuple):
    """A "Batch Job Queue Blocked" event: a RUNNABLE job that cannot run, and why."""

    job_queue: str
    job_id: str
    job_name: str
    status_reason: str
    run_id: str | None = None
    attempt: int | None = None
    workload: str | None = None  # the blocking run's workload, when the job is one of ours


class AttemptRecord(NamedTuple):
    """One finished orchestrator attempt, kept in the run's short history, with the size it ran with
    (None when the workload table did not know it: an old entry, or a workload since removed)."""

    attempt: int
    job_id: str
    status: RunStatus
    exit_code: int | None = None
    reason: str | None = None
    log_stream_name: str | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    vcpu: str | None = None
    memory_mib: int | None = None
    items: str | None = None  # an array run's attempt: the original items it ran, as ranges ("0-2", "1")
    failed_children: int | None = None  # an array attempt that FAILED: how many of its children failed
    workload: str | None = None  # a pipeline run's attempt: the workload (step) it ran

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"attempt": self.attempt, "jobId": self.job_id, "status": self.status.value}
        for name, value in (
            ("exitCode", self.exit_code),
            ("reason", self.reason),
            ("logStreamName", self.log_stream_name),
            ("startedAt", self.started_at),
            ("stoppedAt", self.stopped_at),
            ("vcpu", self.vcpu),
            ("memoryMib", self.memory_mib),
            ("items", self.items),
            ("failedChildren", self.failed_children),
            ("workload", self.workload),
        ):
            if value is not None:
                data[name] = value
        return data


# The kinds of SideEffect: a retry request owed to the SubmitQueue, or an alert owed to the topic.
SIDE_EFFECT_RETRY = "retry"
SIDE_EFFECT_ALERT = "alert"


class SideEffect(NamedTuple):
    """Work owed after a state change (a retry message or an alert), leased to one worker.

    It is written in the same conditional update as the state change, so it can never be lost;
    whoever finds it with an expired lease (a redelivered event, the watchdog) may take it over.
    """

    kind: str  # SIDE_EFFECT_RETRY | SIDE_EFFECT_ALERT
    token: str
    due: int  # epoch seconds after which another worker may take it over
    job_id: str


class Run(NamedTuple):
    """A run as stored in the runs table (the fields the logic reads).

    ``plan`` is the plan of the run's current attempt (in RETRY_WAIT: of the attempt it waits for), and
    ``vcpu``/``memory_mib`` that attempt's size when the workload table knew it.
    """

    run_id: str
    status: RunStatus
    attempt: int
    max_attempts: int
    source: Source
    progress: int
    job_name: str | None = None
    job_id: str | None = None
    job_queue: str | None = None
    job_definition: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    exit_code: int | None = None
    status_reason: str | None = None
    log_stream_name: str | None = None
    claimed_until: int | None = None  # epoch seconds; a claim older than this may be taken over
    next_attempt_at: str | None = None
    last_job_id: str | None = None
    side_effect: SideEffect | None = None
    history: tuple[AttemptRecord, ...] = ()
    plan: AttemptPlan = DEFAULT_PLAN
    vcpu: str | None = None
    memory_mib: int | None = None
    # An array run: its children by status at the last parent event, and the failed children of its last failed
    # attempt (at most RUN_FAILED_CHILDREN_KEPT of them) with their count.
    array_status: tuple[tuple[str, int], ...] = ()
    failed_children: tuple[ChildFailure, ...] = ()
    failed_children_count: int = 0

    @property
    def workload(self) -> str:
        return self.plan.workload
