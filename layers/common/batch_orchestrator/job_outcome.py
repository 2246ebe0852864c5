"""How a Batch job ended, read from its JobDetail: the exit code that decided it, the reasons, the log stream.

Invariants: only the container that decided the outcome supplies the exit code and the container
reason (a sidecar's would mislead); a timeout is read from the status reasons, never from the exit
code (a timed-out container may still exit 137); free text leaves this module at most
REASON_MAX_CHARS long, so what the run record stores per attempt is bounded whatever Batch sends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from batch_orchestrator.batch_json import list_of_mappings, optional_bool, optional_int, optional_mapping, optional_str
from batch_orchestrator.limits import BATCH_TERMINATE_REASON
from batch_orchestrator.models import JobFailure

# Batch's statusReason when it stops an attempt at timeout.attemptDurationSeconds. Matched as a
# case-insensitive substring: the container may still report an exit code (137 after SIGKILL),
# so the reason, not the exit code, is what tells a timeout apart.
TIMEOUT_STATUS_REASON = "Job attempt duration exceeded timeout"

# The longest reason a parsed job or blocked queue carries. Batch documents no maximum for a
# statusReason, and the run record keeps one per attempt in an item DynamoDB refuses past 400 KB, so
# free text is clipped here, where it enters the domain. The bound is the longest reason Batch does
# document (TerminateJob's, which DescribeJobs then returns as the statusReason).
REASON_MAX_CHARS = BATCH_TERMINATE_REASON.value


class _Container(NamedTuple):
    """One container's end state, from whichever of Batch's shapes it came."""

    exit_code: int | None
    reason: str | None
    log_stream_name: str | None
    essential: bool


class JobOutcome(NamedTuple):
    """What the containers of one job say about how it ended (all None while it has not)."""

    exit_code: int | None
    container_reason: str | None
    log_stream_name: str | None
    timed_out: bool


def extract_failure(detail: Mapping[str, Any]) -> JobFailure:
    """How the job ended: an exit code, or no exit code and Batch's reason for that.

    The exit code is searched where Batch puts it, most specific first: the job's container,
    the last attempt's container, then (multi-container jobs) the task's containers and the last
    attempt's task containers. The last attempt matters because with native retries only the
    final attempt decided the outcome. ``timed_out`` is read from the status reasons, never from
    the exit code, because a timed-out container may still exit with 137.
    """
    outcome = outcome_of(detail, "detail", finished=True)
    status_reason = status_reason_of(detail, "detail")
    return JobFailure(
        exit_code=outcome.exit_code,
        reason=outcome.container_reason or status_reason,
        timed_out=outcome.timed_out,
        status_reason=status_reason,
    )


def outcome_of(job: Mapping[str, Any], where: str, *, finished: bool) -> JobOutcome:
    """What the containers say. For an unfinished job only the log stream is read.

    While a job is RUNNABLE again after a native retry, attempts[-1] is the attempt that already
    failed: its exit code and reason describe the past, not this job's outcome.
    """
    groups = list(_container_groups(job, where))
    # Order of authority across groups, essential containers first within a task.
    ordered = [c for group in groups for c in sorted(group, key=lambda c: not c.essential)]
    if not finished:
        return JobOutcome(None, None, _first_log_stream(ordered), timed_out=False)
    decisive = (_decisive_container(group) for group in groups)
    chosen = next((c for c in decisive if c is not None), None)
    if chosen is not None:
        # Only the container that decided the outcome explains it: a sidecar's reason would not.
        return JobOutcome(
            exit_code=chosen.exit_code,
            container_reason=chosen.reason,
            log_stream_name=chosen.log_stream_name or _first_log_stream(ordered),
            timed_out=_timed_out(job, where),
        )
    return JobOutcome(
        exit_code=None,
        container_reason=next((c.reason for c in ordered if c.reason), None),
        log_stream_name=_first_log_stream(ordered),
        timed_out=_timed_out(job, where),
    )


def status_reason_of(job: Mapping[str, Any], where: str) -> str | None:
    """The job's statusReason, else the last attempt's (Batch fills one or both), clipped."""
    reason = optional_reason(job, "statusReason", where)
    if reason:
        return reason
    attempts = list_of_mappings(job, "attempts", where)
    if attempts:
        return optional_reason(attempts[-1], "statusReason", f"{where}.attempts[{len(attempts) - 1}]")
    return None


def clip_reason(reason: str) -> str:
    """At most REASON_MAX_CHARS: the start stays, because that is where Batch puts the reason's code."""
    return reason if len(reason) <= REASON_MAX_CHARS else reason[: REASON_MAX_CHARS - 1] + "…"


def optional_reason(data: Mapping[str, Any], key: str, where: str) -> str | None:
    """A free-text reason field, clipped (see REASON_MAX_CHARS)."""
    reason = optional_str(data, key, where)
    return None if reason is None else clip_reason(reason)


def says_timed_out(reason: str | None) -> bool:
    """True when a status reason is Batch's for an attempt stopped at its timeout."""
    return reason is not None and TIMEOUT_STATUS_REASON.casefold() in reason.casefold()


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
    attempts = list_of_mappings(job, "attempts", where)
    last_where = f"{where}.attempts[{len(attempts) - 1}]"
    last = attempts[-1] if attempts else None

    container = optional_mapping(job, "container", where)
    if container is not None:
        yield [_container(container, f"{where}.container", essential=True)]
    if last is not None:
        attempt_container = optional_mapping(last, "container", last_where)
        if attempt_container is not None:
            yield [_container(attempt_container, f"{last_where}.container", essential=True)]

    essential_by_name: dict[str, bool] = {}
    ecs = optional_mapping(job, "ecsProperties", where)
    if ecs is not None:
        ecs_where = f"{where}.ecsProperties"
        for t, task in enumerate(list_of_mappings(ecs, "taskProperties", ecs_where)):
            task_where = f"{ecs_where}.taskProperties[{t}]"
            group = []
            for c, raw in enumerate(list_of_mappings(task, "containers", task_where)):
                c_where = f"{task_where}.containers[{c}]"
                # Batch: "If this parameter is omitted, a container is assumed to be essential."
                essential = optional_bool(raw, "essential", c_where) is not False
                name = optional_str(raw, "name", c_where)
                if name is not None:
                    essential_by_name[name] = essential
                group.append(_container(raw, c_where, essential=essential))
            yield group
    if last is not None:
        for t, task in enumerate(list_of_mappings(last, "taskProperties", last_where)):
            task_where = f"{last_where}.taskProperties[{t}]"
            group = []
            for c, raw in enumerate(list_of_mappings(task, "containers", task_where)):
                c_where = f"{task_where}.containers[{c}]"
                # Attempt containers carry no `essential`: it lives in ecsProperties, by name.
                name = optional_str(raw, "name", c_where)
                essential = essential_by_name.get(name, True) if name is not None else True
                group.append(_container(raw, c_where, essential=essential))
            yield group


def _container(raw: Mapping[str, Any], where: str, *, essential: bool) -> _Container:
    return _Container(
        exit_code=optional_int(raw, "exitCode", where),
        reason=optional_reason(raw, "reason", where),
        log_stream_name=optional_str(raw, "logStreamName", where),
        essential=essential,
    )


def _timed_out(job: Mapping[str, Any], where: str) -> bool:
    reasons = [optional_str(job, "statusReason", where)]
    attempts = list_of_mappings(job, "attempts", where)
    if attempts:
        last_where = f"{where}.attempts[{len(attempts) - 1}]"
        reasons.append(optional_str(attempts[-1], "statusReason", last_where))
    return any(says_timed_out(reason) for reason in reasons)
