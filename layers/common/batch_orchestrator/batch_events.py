"""Reading AWS Batch events (and DescribeJobs entries) into domain values.

Pure functions: no boto3, no environment. Batch describes a job the same way in a
"Batch Job State Change" event's ``detail``, in a "Batch Job Queue Blocked" event's ``detail`` and
in a DescribeJobs ``jobs[]`` entry (a JobDetail), so one parser serves the tracker and the watchdog.

Invariant: every well-formed input yields one value that says what it is — a ``JobObservation`` of
one of our runs, a ``QueueBlocked``, or ``Ignored`` with the reason — and anything else is a
MalformedMessage naming the offending field (see ``batch_json``), because guessing would corrupt a
run's record. How a finished job ended (exit code, reasons, timeout) is read by ``job_outcome``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batch_orchestrator.batch_arrays import array_state, attempt_items
from batch_orchestrator.batch_json import describe, list_of_mappings, optional_int, optional_str, required_str
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import (
    ARRAY_SIZE_PATTERN,
    ARRAY_SIZE_TAG,
    ATTEMPT_PATTERN,
    ATTEMPT_TAG,
    ATTEMPTS_BEFORE_STEP_TAG,
    COUNT_PATTERN,
    JOB_QUEUE_ARN_PART,
    RUN_ID_PATTERN,
    RUN_ID_TAG,
    SIZE_STEP_TAG,
    SPOT_INTERRUPTIONS_TAG,
    STEP_TAG,
    WORKLOAD_NAME_PATTERN,
    WORKLOAD_TAG,
    run_of_job_name,
)
from batch_orchestrator.job_outcome import (
    clip_reason,
    optional_reason,
    outcome_of,
    status_reason_of,
)
from batch_orchestrator.models import DEFAULT_PLAN, JobObservation, QueueBlocked, RunStatus

JOB_STATE_CHANGE = "Batch Job State Change"
QUEUE_BLOCKED = "Batch Job Queue Blocked"
EVENT_SOURCE = "aws.batch"

# The reasons an Ignored carries.
IGNORED_ARRAY_CHILD = "array child job: the parent job carries the run's status"
IGNORED_NOT_OURS = "job not submitted by batch-orchestrator"

_BATCH_STATUSES: dict[str, RunStatus] = {
    status.value: status
    for status in (
        RunStatus.SUBMITTED,
        RunStatus.PENDING,
        RunStatus.RUNNABLE,
        RunStatus.STARTING,
        RunStatus.RUNNING,
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
    )
}


@dataclass(frozen=True)
class Ignored:
    """A well-formed job that is not the tracker's to act on (``reason`` is one of IGNORED_*)."""

    reason: str
    job_name: str


# --------------------------------------------------------------------------------------------
# Identity
# --------------------------------------------------------------------------------------------


def run_identity(detail: Mapping[str, Any]) -> tuple[str, int] | None:
    """The (runId, attempt) of a job this stack submitted, or None for anybody else's job.

    Tags are preferred because they are exact; the job name is the fallback because it survives
    where tags do not (an event or a DescribeJobs entry without ``tags``). Both tags must be
    valid to be used: a half-written pair is more likely someone else's job than ours.
    """
    tags = detail.get("tags")
    if isinstance(tags, Mapping):
        run_id = tags.get(RUN_ID_TAG)
        attempt = tags.get(ATTEMPT_TAG)
        if (
            isinstance(run_id, str)
            and RUN_ID_PATTERN.fullmatch(run_id)
            and isinstance(attempt, str)
            and ATTEMPT_PATTERN.fullmatch(attempt)
        ):
            return run_id, int(attempt)
    job_name = detail.get("jobName")
    if isinstance(job_name, str):
        return run_of_job_name(job_name)
    return None


def is_array_child(detail: Mapping[str, Any]) -> bool:
    """True for a child of an array job.

    Only the parent speaks for the run (its events carry the children's counts, and its FAILED event has
    the tracker list the failed children): N children would otherwise race each other on one record.
    A child is recognised by ``arrayProperties.index`` or by Batch's "<parentId>:<index>" job id.
    """
    array = detail.get("arrayProperties")
    if isinstance(array, Mapping) and array.get("index") is not None:
        return True
    job_id = detail.get("jobId")
    return isinstance(job_id, str) and ":" in job_id


# --------------------------------------------------------------------------------------------
# Job observations
# --------------------------------------------------------------------------------------------


def parse_job_state_change(event: Mapping[str, Any]) -> JobObservation | Ignored:
    """A "Batch Job State Change" event as an observation of one of our runs.

    Ignored for jobs this stack did not submit and for array children. Raises MalformedMessage when
    the envelope or a field we read is not what Batch sends: such an event must fail loudly rather
    than move a run to a wrong state.
    """
    detail = _envelope(event, JOB_STATE_CHANGE)
    return _observation(detail, "detail")


def parse_describe_jobs_entry(job: Mapping[str, Any]) -> JobObservation | Ignored:
    """One DescribeJobs ``jobs[]`` entry as an observation, exactly as if it came as an event.

    The watchdog uses this to repair runs whose events were lost, so both paths must agree.
    """
    if not isinstance(job, Mapping):
        raise MalformedMessage(f"job is {describe(job)}, expected an object")
    return _observation(job, "job")


def _observation(job: Mapping[str, Any], where: str) -> JobObservation | Ignored:
    # Fields every JobDetail has are checked before deciding the job is not ours, so a broken
    # event is reported rather than silently dropped; the rest only for our own jobs.
    job_id = required_str(job, "jobId", where)
    job_name = required_str(job, "jobName", where)
    job_queue = required_str(job, "jobQueue", where)
    status = _batch_status(job, where)
    if is_array_child(job):
        return Ignored(IGNORED_ARRAY_CHILD, job_name)
    identity = run_identity(job)
    if identity is None:
        return Ignored(IGNORED_NOT_OURS, job_name)
    run_id, attempt = identity

    attempts = list_of_mappings(job, "attempts", where)
    finished = status.is_terminal
    outcome = outcome_of(job, where, finished=finished)
    # attempts[] only explains a finished job (see outcome_of); until then it is history.
    last = attempts[-1] if attempts and finished else None
    last_where = f"{where}.attempts[{len(attempts) - 1}]"
    status_reason = status_reason_of(job, where) if finished else optional_reason(job, "statusReason", where)
    workload, size_step, spot_interruptions, array_size = _plan_tags(job, where)
    step, attempts_before_step = _step_tags(job, where, attempt)
    array = array_state(job, where)
    items = attempt_items(job, where)
    if array is not None and items and len(items) != array.size:
        raise MalformedMessage(
            f"{where}.parameters.arrayItems names {len(items)} items for an array of {array.size} children"
        )

    return JobObservation(
        run_id=run_id,
        attempt=attempt,
        job_id=job_id,
        job_name=job_name,
        job_queue=job_queue,
        status=status,
        batch_attempts=len(attempts),
        status_reason=status_reason,
        exit_code=outcome.exit_code,
        container_reason=outcome.container_reason,
        log_stream_name=outcome.log_stream_name,
        created_at=optional_int(job, "createdAt", where),
        started_at=_timestamp(job, last, "startedAt", where, last_where),
        stopped_at=_timestamp(job, last, "stoppedAt", where, last_where),
        timed_out=outcome.timed_out,
        workload=workload,
        size_step=size_step,
        spot_interruptions=spot_interruptions,
        array_size=array_size,
        items=items,
        array=array,
        step=step,
        attempts_before_step=attempts_before_step,
    )


def _step_tags(job: Mapping[str, Any], where: str, attempt: int) -> tuple[int, int]:
    """A pipeline's later step's tags (``ids.plan_tags``): its index and the run's attempts before it; (0, 0) for
    any other job."""
    tags = job.get("tags")
    if not isinstance(tags, Mapping) or STEP_TAG not in tags:
        return DEFAULT_PLAN.step, DEFAULT_PLAN.attempts_before_step
    values = []
    for tag in (STEP_TAG, ATTEMPTS_BEFORE_STEP_TAG):
        value = tags.get(tag)
        if not isinstance(value, str) or not COUNT_PATTERN.match(value):
            raise MalformedMessage(f"{where}.tags[{tag!r}] is {value!r}, not a count from 0 to 99")
        values.append(int(value))
    step, before = values
    if before >= attempt:
        raise MalformedMessage(f"{where}.tags say attempt {attempt} began after {before} attempts of earlier steps")
    return step, before


def _plan_tags(job: Mapping[str, Any], where: str) -> tuple[str, int, int, int]:
    """The workload, ladder step, Spot interruptions and array size our job's tags carry (``ids.plan_tags``).

    A tag a job submitted before workloads (or arrays) existed lacks is the default plan's; a tag present with
    a value submit never writes is malformed: deciding the next attempt from a guess could run the wrong job.
    """
    tags = job.get("tags")
    if not isinstance(tags, Mapping):
        return DEFAULT_PLAN.workload, DEFAULT_PLAN.size_step, DEFAULT_PLAN.spot_interruptions, DEFAULT_PLAN.array_size
    workload = tags.get(WORKLOAD_TAG, DEFAULT_PLAN.workload)
    if not isinstance(workload, str) or not WORKLOAD_NAME_PATTERN.match(workload):
        raise MalformedMessage(f"{where}.tags[{WORKLOAD_TAG!r}] is {workload!r}, not a workload name")
    counts = []
    for tag, default in (
        (SIZE_STEP_TAG, DEFAULT_PLAN.size_step),
        (SPOT_INTERRUPTIONS_TAG, DEFAULT_PLAN.spot_interruptions),
    ):
        value = tags.get(tag, str(default))
        if not isinstance(value, str) or not COUNT_PATTERN.match(value):
            raise MalformedMessage(f"{where}.tags[{tag!r}] is {value!r}, not a count from 0 to 99")
        counts.append(int(value))
    array_size = tags.get(ARRAY_SIZE_TAG)
    if array_size is None:
        return workload, counts[0], counts[1], DEFAULT_PLAN.array_size
    if not isinstance(array_size, str) or not ARRAY_SIZE_PATTERN.match(array_size):
        raise MalformedMessage(
            f"{where}.tags[{ARRAY_SIZE_TAG!r}] is {array_size!r}, not an array size from 1 to 100000"
        )
    return workload, counts[0], counts[1], int(array_size)


def _timestamp(
    job: Mapping[str, Any],
    last_attempt: Mapping[str, Any] | None,
    key: str,
    where: str,
    last_where: str,
) -> int | None:
    value = optional_int(job, key, where)
    if value is None and last_attempt is not None:
        value = optional_int(last_attempt, key, last_where)
    return value


def _batch_status(job: Mapping[str, Any], where: str) -> RunStatus:
    status = required_str(job, "status", where)
    try:
        return _BATCH_STATUSES[status]
    except KeyError:
        allowed = ", ".join(_BATCH_STATUSES)
        raise MalformedMessage(f"{where}.status is {status!r}, expected one of {allowed}") from None


# --------------------------------------------------------------------------------------------
# Queue blocked and dispatch
# --------------------------------------------------------------------------------------------


def parse_queue_blocked(event: Mapping[str, Any]) -> QueueBlocked:
    """A "Batch Job Queue Blocked" event: which queue, which job blocks it, and why.

    Returned for any job, ours or not, because a blocked queue stops our runs either way;
    run_id/attempt are filled when the blocking job is one of ours. The queue comes from the
    detail, else from the event's resources (Batch lists the job ARN and the queue ARN there).
    A blocking array child ("<parentId>:<index>") is reported as its array job: its siblings block the
    queue for the same reason, the alert is claimed once per job id (one per array, not one per child),
    and cancelling the parent cancels every child ("Array jobs", AWS Batch User Guide).
    """
    detail = _envelope(event, QUEUE_BLOCKED)
    job_id = required_str(detail, "jobId", "detail")
    if is_array_child(detail) and ":" in job_id:
        job_id = job_id.rsplit(":", 1)[0]
    job_name = required_str(detail, "jobName", "detail")
    status_reason = clip_reason(required_str(detail, "statusReason", "detail"))
    job_queue = optional_str(detail, "jobQueue", "detail") or _queue_from_resources(event)
    if not job_queue:
        raise MalformedMessage("detail.jobQueue is missing and resources holds no job-queue ARN")
    identity = run_identity(detail)
    return QueueBlocked(
        job_queue=job_queue,
        job_id=job_id,
        job_name=job_name,
        status_reason=status_reason,
        run_id=identity[0] if identity else None,
        attempt=identity[1] if identity else None,
        workload=_blocking_workload(detail) if identity else None,
    )


def _blocking_workload(detail: Mapping[str, Any]) -> str:
    """The workload tag of one of our blocking jobs; a job from before workloads (no tag) is the default's.

    Lenient where ``_plan_tags`` is strict: the alert about a blocked queue must go out even if the tag is
    odd, so an unreadable value names the default workload rather than failing the event.
    """
    tags = detail.get("tags")
    value = tags.get(WORKLOAD_TAG) if isinstance(tags, Mapping) else None
    return value if isinstance(value, str) and WORKLOAD_NAME_PATTERN.fullmatch(value) else DEFAULT_PLAN.workload


def parse_event(event: Mapping[str, Any]) -> JobObservation | QueueBlocked | Ignored:
    """Dispatch an aws.batch event on its detail-type; any other detail-type is malformed.

    The tracker's EventBridge rule only routes these two types, so a third one means the rule
    and the code disagree, which should surface rather than be skipped.
    """
    if not isinstance(event, Mapping):
        raise MalformedMessage(f"event is {describe(event)}, expected an object")
    detail_type = event.get("detail-type")
    if detail_type == JOB_STATE_CHANGE:
        return parse_job_state_change(event)
    if detail_type == QUEUE_BLOCKED:
        return parse_queue_blocked(event)
    raise MalformedMessage(f"detail-type is {detail_type!r}, expected {JOB_STATE_CHANGE!r} or {QUEUE_BLOCKED!r}")


def _envelope(event: Mapping[str, Any], detail_type: str) -> Mapping[str, Any]:
    if not isinstance(event, Mapping):
        raise MalformedMessage(f"event is {describe(event)}, expected an object")
    source = event.get("source")
    if source != EVENT_SOURCE:
        raise MalformedMessage(f"source is {source!r}, expected {EVENT_SOURCE!r}")
    actual = event.get("detail-type")
    if actual != detail_type:
        raise MalformedMessage(f"detail-type is {actual!r}, expected {detail_type!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedMessage(f"detail is {describe(detail)}, expected an object")
    return detail


def _queue_from_resources(event: Mapping[str, Any]) -> str | None:
    resources = event.get("resources")
    if not isinstance(resources, list):
        return None
    return next((r for r in resources if isinstance(r, str) and JOB_QUEUE_ARN_PART in r), None)
