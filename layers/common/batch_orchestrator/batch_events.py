"""Reading AWS Batch events (and DescribeJobs entries) into domain observations.

Pure functions: no boto3, no environment. Batch describes a job the same way in a
"Batch Job State Change" event's ``detail``, in a "Batch Job Queue Blocked" event's ``detail`` and
in a DescribeJobs ``jobs[]`` entry (a JobDetail), so one parser serves the tracker and the watchdog.

Batch may add fields at any time, so unknown keys are ignored; a field we read that has the wrong
type is a MalformedMessage naming its path, because guessing would corrupt a run's record. Free text
(status and container reasons) leaves this module at most REASON_MAX_CHARS long, so what the run
record stores per attempt is bounded whatever Batch sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG
from batch_orchestrator.limits import BATCH_TERMINATE_REASON
from batch_orchestrator.models import JobFailure, JobObservation, QueueBlocked, RunStatus

JOB_STATE_CHANGE = "Batch Job State Change"
QUEUE_BLOCKED = "Batch Job Queue Blocked"
EVENT_SOURCE = "aws.batch"


# Batch's statusReason when it stops an attempt at timeout.attemptDurationSeconds. Matched as a
# case-insensitive substring: the container may still report an exit code (137 after SIGKILL),
# so the reason, not the exit code, is what tells a timeout apart.
TIMEOUT_STATUS_REASON = "Job attempt duration exceeded timeout"

# The longest reason a parsed job or blocked queue carries. Batch documents no maximum for a
# statusReason, and the run record keeps one per attempt in an item DynamoDB refuses past 400 KB, so
# free text is clipped here, where it enters the domain. The bound is the longest reason Batch does
# document (TerminateJob's, which DescribeJobs then returns as the statusReason).
REASON_MAX_CHARS = BATCH_TERMINATE_REASON.value

# Why parse_job_state_change / parse_describe_jobs_entry returned None (see ignore_reason).
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

_RUN_ID = r"(?:s3|sch)-[0-9a-f]{24}"
_RUN_ID_RE = re.compile(_RUN_ID)
_ATTEMPT = r"[1-9][0-9]?"  # 1..99 without leading zeros, as the submit path writes it
_ATTEMPT_RE = re.compile(_ATTEMPT)
_JOB_NAME_RE = re.compile(rf"(?P<run_id>{_RUN_ID})-a(?P<attempt>{_ATTEMPT})(?:-[A-Za-z0-9_-]+)?")


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
            and _RUN_ID_RE.fullmatch(run_id)
            and isinstance(attempt, str)
            and _ATTEMPT_RE.fullmatch(attempt)
        ):
            return run_id, int(attempt)
    job_name = detail.get("jobName")
    if isinstance(job_name, str):
        match = _JOB_NAME_RE.fullmatch(job_name)
        if match:
            return match["run_id"], int(match["attempt"])
    return None


def is_array_child(detail: Mapping[str, Any]) -> bool:
    """True for a child of an array job.

    The orchestrator never submits array jobs, but if one lands in our queue under our identity,
    only the parent speaks for the run: N children would otherwise race each other on one record.
    A child is recognised by ``arrayProperties.index`` or by Batch's "<parentId>:<index>" job id.
    """
    array = detail.get("arrayProperties")
    if isinstance(array, Mapping) and array.get("index") is not None:
        return True
    job_id = detail.get("jobId")
    return isinstance(job_id, str) and ":" in job_id


def ignore_reason(detail: Mapping[str, Any]) -> str | None:
    """Why the job parsers return None for this detail (None when they would not).

    Lets the handler log the skip at the right level (debug for array children, info for
    foreign jobs) without this module depending on a logger.
    """
    if is_array_child(detail):
        return IGNORED_ARRAY_CHILD
    if run_identity(detail) is None:
        return IGNORED_NOT_OURS
    return None


# --------------------------------------------------------------------------------------------
# Failure extraction
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Container:
    """One container's end state, from whichever of Batch's shapes it came."""

    exit_code: int | None
    reason: str | None
    log_stream_name: str | None
    essential: bool


def extract_failure(detail: Mapping[str, Any]) -> JobFailure:
    """How the job ended: an exit code, or no exit code and Batch's reason for that.

    The exit code is searched where Batch puts it, most specific first: the job's container,
    the last attempt's container, then (multi-container jobs) the task's containers and the last
    attempt's task containers. The last attempt matters because with native retries only the
    final attempt decided the outcome. ``timed_out`` is read from the status reasons, never from
    the exit code, because a timed-out container may still exit with 137.
    """
    outcome = _outcome(detail, "detail", finished=True)
    return JobFailure(
        exit_code=outcome.exit_code,
        reason=outcome.container_reason or _status_reason(detail, "detail"),
        timed_out=outcome.timed_out,
    )


@dataclass(frozen=True)
class _Outcome:
    exit_code: int | None
    container_reason: str | None
    log_stream_name: str | None
    timed_out: bool


def _outcome(job: Mapping[str, Any], where: str, *, finished: bool) -> _Outcome:
    """What the containers say. For an unfinished job only the log stream is read.

    While a job is RUNNABLE again after a native retry, attempts[-1] is the attempt that already
    failed: its exit code and reason describe the past, not this job's outcome.
    """
    groups = list(_container_groups(job, where))
    # Order of authority across groups, essential containers first within a task.
    ordered = [c for group in groups for c in sorted(group, key=lambda c: not c.essential)]
    if not finished:
        return _Outcome(None, None, _first_log_stream(ordered), timed_out=False)
    decisive = (_decisive_container(group) for group in groups)
    chosen = next((c for c in decisive if c is not None), None)
    if chosen is not None:
        # Only the container that decided the outcome explains it: a sidecar's reason would not.
        return _Outcome(
            exit_code=chosen.exit_code,
            container_reason=chosen.reason,
            log_stream_name=chosen.log_stream_name or _first_log_stream(ordered),
            timed_out=_timed_out(job, where),
        )
    return _Outcome(
        exit_code=None,
        container_reason=next((c.reason for c in ordered if c.reason), None),
        log_stream_name=_first_log_stream(ordered),
        timed_out=_timed_out(job, where),
    )


def _first_log_stream(containers: Sequence[_Container]) -> str | None:
    return next((c.log_stream_name for c in containers if c.log_stream_name), None)


def _decisive_container(group: Sequence[_Container]) -> _Container | None:
    """In one task, the first essential container that failed, else one that exited 0.

    Only essential containers decide a task's fate: a sidecar killed with 137 when the main
    container exits is noise. Batch treats a container without ``essential`` as essential.
    """
    essential = [c for c in group if c.essential and c.exit_code is not None]
    failed = next((c for c in essential if c.exit_code != 0), None)
    return failed or next(iter(essential), None)


def _container_groups(job: Mapping[str, Any], where: str) -> Iterator[list[_Container]]:
    """Containers in order of authority, grouped by the task they belong to."""
    attempts = _list_of_mappings(job, "attempts", where)
    last_where = f"{where}.attempts[{len(attempts) - 1}]"
    last = attempts[-1] if attempts else None

    container = _mapping(job, "container", where)
    if container is not None:
        yield [_container(container, f"{where}.container", essential=True)]
    if last is not None:
        attempt_container = _mapping(last, "container", last_where)
        if attempt_container is not None:
            yield [_container(attempt_container, f"{last_where}.container", essential=True)]

    essential_by_name: dict[str, bool] = {}
    ecs = _mapping(job, "ecsProperties", where)
    if ecs is not None:
        ecs_where = f"{where}.ecsProperties"
        for t, task in enumerate(_list_of_mappings(ecs, "taskProperties", ecs_where)):
            task_where = f"{ecs_where}.taskProperties[{t}]"
            group = []
            for c, raw in enumerate(_list_of_mappings(task, "containers", task_where)):
                c_where = f"{task_where}.containers[{c}]"
                # Batch: "If this parameter is omitted, a container is assumed to be essential."
                essential = _opt_bool(raw, "essential", c_where) is not False
                name = _opt_str(raw, "name", c_where)
                if name is not None:
                    essential_by_name[name] = essential
                group.append(_container(raw, c_where, essential=essential))
            yield group
    if last is not None:
        for t, task in enumerate(_list_of_mappings(last, "taskProperties", last_where)):
            task_where = f"{last_where}.taskProperties[{t}]"
            group = []
            for c, raw in enumerate(_list_of_mappings(task, "containers", task_where)):
                c_where = f"{task_where}.containers[{c}]"
                # Attempt containers carry no `essential`: it lives in ecsProperties, by name.
                name = _opt_str(raw, "name", c_where)
                essential = essential_by_name.get(name, True) if name is not None else True
                group.append(_container(raw, c_where, essential=essential))
            yield group


def _container(raw: Mapping[str, Any], where: str, *, essential: bool) -> _Container:
    return _Container(
        exit_code=_opt_int(raw, "exitCode", where),
        reason=_opt_reason(raw, "reason", where),
        log_stream_name=_opt_str(raw, "logStreamName", where),
        essential=essential,
    )


def _status_reason(job: Mapping[str, Any], where: str) -> str | None:
    """The job's statusReason, else the last attempt's (Batch fills one or both), clipped."""
    reason = _opt_reason(job, "statusReason", where)
    if reason:
        return reason
    attempts = _list_of_mappings(job, "attempts", where)
    if attempts:
        return _opt_reason(attempts[-1], "statusReason", f"{where}.attempts[{len(attempts) - 1}]")
    return None


def _clip(reason: str) -> str:
    """At most REASON_MAX_CHARS: the start stays, because that is where Batch puts the reason's code."""
    return reason if len(reason) <= REASON_MAX_CHARS else reason[: REASON_MAX_CHARS - 1] + "…"


def _opt_reason(data: Mapping[str, Any], key: str, where: str) -> str | None:
    """A free-text reason field, clipped (see REASON_MAX_CHARS)."""
    reason = _opt_str(data, key, where)
    return None if reason is None else _clip(reason)


def _timed_out(job: Mapping[str, Any], where: str) -> bool:
    reasons = [_opt_str(job, "statusReason", where)]
    attempts = _list_of_mappings(job, "attempts", where)
    if attempts:
        last_where = f"{where}.attempts[{len(attempts) - 1}]"
        reasons.append(_opt_str(attempts[-1], "statusReason", last_where))
    needle = TIMEOUT_STATUS_REASON.casefold()
    return any(reason is not None and needle in reason.casefold() for reason in reasons)


# --------------------------------------------------------------------------------------------
# Job observations
# --------------------------------------------------------------------------------------------


def parse_job_state_change(event: Mapping[str, Any]) -> JobObservation | None:
    """A "Batch Job State Change" event as an observation of one of our runs.

    None for jobs this stack did not submit and for array children (``ignore_reason`` says
    which). Raises MalformedMessage when the envelope or a field we read is not what Batch sends:
    such an event must fail loudly rather than move a run to a wrong state.
    """
    detail = _envelope(event, JOB_STATE_CHANGE)
    return _observation(detail, "detail")


def parse_describe_jobs_entry(job: Mapping[str, Any]) -> JobObservation | None:
    """One DescribeJobs ``jobs[]`` entry as an observation, exactly as if it came as an event.

    The watchdog uses this to repair runs whose events were lost, so both paths must agree.
    """
    if not isinstance(job, Mapping):
        raise MalformedMessage(f"job is {_describe(job)}, expected an object")
    return _observation(job, "job")


def _observation(job: Mapping[str, Any], where: str) -> JobObservation | None:
    # Fields every JobDetail has are checked before deciding the job is not ours, so a broken
    # event is reported rather than silently dropped; the rest only for our own jobs.
    job_id = _req_str(job, "jobId", where)
    job_name = _req_str(job, "jobName", where)
    job_queue = _req_str(job, "jobQueue", where)
    status = _batch_status(job, where)
    if is_array_child(job):
        return None
    identity = run_identity(job)
    if identity is None:
        return None
    run_id, attempt = identity

    attempts = _list_of_mappings(job, "attempts", where)
    finished = status.is_terminal
    outcome = _outcome(job, where, finished=finished)
    # attempts[] only explains a finished job (see _outcome); until then it is history.
    last = attempts[-1] if attempts and finished else None
    last_where = f"{where}.attempts[{len(attempts) - 1}]"
    status_reason = _status_reason(job, where) if finished else _opt_reason(job, "statusReason", where)

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
        created_at=_opt_int(job, "createdAt", where),
        started_at=_timestamp(job, last, "startedAt", where, last_where),
        stopped_at=_timestamp(job, last, "stoppedAt", where, last_where),
        timed_out=outcome.timed_out,
    )


def _timestamp(
    job: Mapping[str, Any],
    last_attempt: Mapping[str, Any] | None,
    key: str,
    where: str,
    last_where: str,
) -> int | None:
    value = _opt_int(job, key, where)
    if value is None and last_attempt is not None:
        value = _opt_int(last_attempt, key, last_where)
    return value


def _batch_status(job: Mapping[str, Any], where: str) -> RunStatus:
    status = _req_str(job, "status", where)
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
    """
    detail = _envelope(event, QUEUE_BLOCKED)
    job_id = _req_str(detail, "jobId", "detail")
    job_name = _req_str(detail, "jobName", "detail")
    status_reason = _clip(_req_str(detail, "statusReason", "detail"))
    job_queue = _opt_str(detail, "jobQueue", "detail") or _queue_from_resources(event)
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
    )


def parse_event(event: Mapping[str, Any]) -> JobObservation | QueueBlocked | None:
    """Dispatch an aws.batch event on its detail-type; any other detail-type is malformed.

    The tracker's EventBridge rule only routes these two types, so a third one means the rule
    and the code disagree, which should surface rather than be skipped.
    """
    if not isinstance(event, Mapping):
        raise MalformedMessage(f"event is {_describe(event)}, expected an object")
    detail_type = event.get("detail-type")
    if detail_type == JOB_STATE_CHANGE:
        return parse_job_state_change(event)
    if detail_type == QUEUE_BLOCKED:
        return parse_queue_blocked(event)
    raise MalformedMessage(f"detail-type is {detail_type!r}, expected {JOB_STATE_CHANGE!r} or {QUEUE_BLOCKED!r}")


def _envelope(event: Mapping[str, Any], detail_type: str) -> Mapping[str, Any]:
    if not isinstance(event, Mapping):
        raise MalformedMessage(f"event is {_describe(event)}, expected an object")
    source = event.get("source")
    if source != EVENT_SOURCE:
        raise MalformedMessage(f"source is {source!r}, expected {EVENT_SOURCE!r}")
    actual = event.get("detail-type")
    if actual != detail_type:
        raise MalformedMessage(f"detail-type is {actual!r}, expected {detail_type!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedMessage(f"detail is {_describe(detail)}, expected an object")
    return detail


def _queue_from_resources(event: Mapping[str, Any]) -> str | None:
    resources = event.get("resources")
    if not isinstance(resources, list):
        return None
    return next((r for r in resources if isinstance(r, str) and ":job-queue/" in r), None)


# --------------------------------------------------------------------------------------------
# Typed field access: every message names the path of the offending field
# --------------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    if value is None:
        return "missing"
    if value == "":
        return "empty"
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _req_str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{where}.{key} is {_describe(value)}, expected a non-empty string")
    return value


def _opt_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MalformedMessage(f"{where}.{key} is {_describe(value)}, expected a string")


def _opt_int(data: Mapping[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MalformedMessage(f"{where}.{key} is {_describe(value)}, expected an integer")


def _opt_bool(data: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise MalformedMessage(f"{where}.{key} is {_describe(value)}, expected a boolean")


def _mapping(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise MalformedMessage(f"{where}.{key} is {_describe(value)}, expected an object")


def _list_of_mappings(data: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedMessage(f"{where}.{key} is {_describe(value)}, expected a list")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise MalformedMessage(f"{where}.{key}[{index}] is {_describe(item)}, expected an object")
    return value
