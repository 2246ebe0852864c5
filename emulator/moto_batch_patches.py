"""SIMULATED — the moto 5.2 Batch internals the local job runner depends on, in one place.

Owns every edit of moto's Batch: the submit hook that hands a job submitted to a runner's queue to
that runner instead of marking it SUCCEEDED (``route_submitted_jobs``), the record of a job that
DescribeJobs and ListJobs read (``record_job_state_in_moto``; its container shows the effective
``resourceRequirements`` from the takeover on), and the reading of a TerminateJob or
CancelJob request (``termination_requested``). The invariant: moto's record of a job taken over by a
runner says what the runner did, as AWS Batch's would; jobs of other queues keep moto's behaviour.

Array jobs (moto 5.2, ``batch_simple``): SubmitJob with ``arrayProperties.size`` N creates the parent and N child
``Job`` objects ``<parent id>:<index>`` (without the parent's tags) and marks every one SUCCEEDED at once; moto's
DescribeJobs shows a parent's ``arrayProperties`` (``size``, a ``statusSummary`` of all seven statuses counted from
its children, and sets the parent SUCCEEDED itself once every child is) but a child's not at all, and ListJobs no
``arrayProperties``. On a runner's queue the hook instead leaves the children PENDING (as Batch spawns them), hands
the parent to the runner, and makes DescribeJobs and ListJobs show ``arrayProperties`` as AWS documents them
(``_patch_array_details``): ``index`` for a child, ``size``, ``statusSummary`` and ``statusSummaryLastUpdatedAt``
for the parent.

Only this process's moto is reachable (in-process ``mock_aws`` or a ``ThreadedMotoServer``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from emulator.batch_event_builder import TERMINAL
from emulator.moto_fidelity import ORIGINAL_ATTRIBUTE
from emulator.task_limits import effective_resource_requirements


class SubmittedJobTaker(Protocol):
    """What the submit hook hands a job to (the local runner)."""

    def accept_submitted_job(self, job_id: str) -> None: ...


# ------------------------------------------------------------------------ moto's record of the job
def record_job_state_in_moto(
    job_id: str,
    *,
    account_id: str,
    region: str,
    status: str,
    attempts: Sequence[Mapping[str, Any]],
    started_at: int | None = None,
    stopped_at: int | None = None,
    status_reason: str | None = None,
    exit_code: int | None = None,
    container_reason: str | None = None,
    log_stream_name: str | None = None,
) -> None:
    """SIMULATED — the one place that edits moto's record of a Batch job (moto 5.2 internals).

    Sets the status, timestamps, status reason, exit code, log stream and ``attempts[]`` on
    moto's ``Job`` so that DescribeJobs (and ListJobs by status) report what the local runner
    did, as AWS Batch would. Two moto gaps are covered on the job itself: moto's DescribeJobs
    never shows ``container.exitCode``/``container.reason`` (its ``describe`` replaces them with
    the container properties), and it appends ``AWS_BATCH_JOB_ID`` to the job's environment
    again on every call. Only this process's moto is reachable (in-process or ThreadedMotoServer).
    """
    from moto.batch.models import batch_backends

    job: Any = batch_backends[account_id][region].get_job_by_id(job_id)
    if job is None:
        raise LookupError(f"moto has no Batch job {job_id}")
    _patch_container_details(job)
    job.attempts = [dict(entry) for entry in attempts]
    job.log_stream_name = log_stream_name
    if started_at is not None:
        job.job_started_at = datetime.fromtimestamp(started_at / 1000)
    terminal = status in TERMINAL
    job.job_stopped = terminal
    if terminal or not job.stop:  # keep the reason TerminateJob/CancelJob recorded until the runner acts
        job.job_stopped_reason = status_reason
    job.exit_code = exit_code if terminal else None
    job._local_runner_container = {"exitCode": exit_code, "reason": container_reason} if terminal else {}
    if terminal:
        job.job_stopped_at = datetime.fromtimestamp((stopped_at or int(time.time() * 1000)) / 1000)
    job._local_runner_changed_at = _now_ms()  # an array child's change updates its parent's statusSummary
    job.status = status  # last: DescribeJobs reads the other fields once the status says so


def describe_job_in_moto(job_id: str, *, account_id: str, region: str) -> dict[str, Any]:
    """SIMULATED (moto 5.2 internals): the JobDetail moto's DescribeJobs returns for one job, read in-process.

    moto's DescribeJobs looks at every job it holds for each id asked, so the runner reads the many jobs of an
    array job this way. The result shares moto's own lists: read it, do not change it (``job_state_change``
    copies what it takes).
    """
    from moto.batch.models import batch_backends

    job: Any = batch_backends[account_id][region].get_job_by_id(job_id)
    if job is None:
        raise LookupError(f"moto has no Batch job {job_id}")
    detail: dict[str, Any] = job.describe()
    return detail


def termination_requested(job_id: str, *, account_id: str, region: str) -> str | None:
    """SIMULATED (moto 5.2 internals): the reason of a TerminateJob/CancelJob call on the job, if any; for an
    array child, on the child or else on its parent ("Array jobs": cancelling or terminating the parent cancels
    or terminates every child).

    moto only flags the job (``stop``) and keeps the reason; the runner reads it and does what
    Batch does: a job not yet running fails with that reason, a running task is stopped.
    """
    from moto.batch.models import batch_backends

    backend = batch_backends[account_id][region]
    job: Any = backend.get_job_by_id(job_id)
    if job is not None and not job.stop and "index" in (job.array_properties or {}):
        job = backend.get_job_by_id(job_id.rsplit(":", 1)[0])
    if job is None or not job.stop:
        return None
    return str(job.job_stopped_reason or "Terminated by TerminateJob")


def _patch_container_details(job: Any) -> None:
    """The job's ``container`` as AWS shows it, from the moment a runner takes the job (moto 5.2 internals).

    Besides the gaps record_job_state_in_moto names (and an environment list that grew on every call, now
    copied: ``_CopyOnGet``): moto shows the legacy ``vcpus``/``memory`` of the job
    definition and ignores SubmitJob's ``containerOverrides.resourceRequirements``. For a job whose definition
    (or override) has ``resourceRequirements``, as every Fargate job's does, the container shows the effective
    ones instead (``task_limits.effective_resource_requirements``) and not the legacy fields, which Batch does
    not use on Fargate.
    """
    if "_container_details" in vars(job):
        return
    # moto appends the definition's variables and AWS_BATCH_JOB_ID to the overrides' own environment list on every
    # DescribeJobs (a list an array's children all share): it grows with every call, and DescribeJobs slows with it.
    job.container_overrides = _CopyOnGet(job.container_overrides)
    original = job._container_details
    properties = job.job_definition.container_properties or {}
    requirements = effective_resource_requirements(
        properties.get("resourceRequirements") or [], job.container_overrides.get("resourceRequirements") or []
    )

    def container_details() -> dict[str, Any]:
        details: dict[str, Any] = original()
        environment = {item["name"]: item["value"] for item in details.get("environment", [])}
        details["environment"] = [{"name": name, "value": value} for name, value in environment.items()]
        if requirements:
            details.pop("vcpus", None)
            details.pop("memory", None)
            details["resourceRequirements"] = [dict(item) for item in requirements]
        for key, value in getattr(job, "_local_runner_container", {}).items():
            if value is not None:
                details[key] = value
        return details

    job._container_details = container_details


# --------------------------------------------------------------------------- array jobs in moto
ARRAY_STATUSES = ("STARTING", "FAILED", "RUNNING", "SUCCEEDED", "RUNNABLE", "SUBMITTED", "PENDING")  # moto's order


def status_summary(children: Sequence[Any]) -> dict[str, int]:
    """``statusSummary``: how many children are in each of the seven statuses (every status named, as moto does)."""
    counts = dict.fromkeys(ARRAY_STATUSES, 0)
    for child in children:
        status = child.status
        if status in counts:
            counts[status] += 1
    return counts


def _patch_array_details(job: Any) -> None:
    """SIMULATED (moto 5.2 internals): ``arrayProperties`` of an array parent or child in DescribeJobs and ListJobs.

    ArrayPropertiesDetail (DescribeJobs) and ArrayPropertiesSummary (ListJobs) in the AWS Batch API Reference:
    ``index`` "is returned for array job children"; ``size`` and ``statusSummary`` "for parent array jobs";
    ``statusSummaryLastUpdatedAt`` is when ``statusSummary`` was last updated (here: the last change of a
    child recorded in moto). Installed on the job itself, so only jobs of a runner's queue see it. moto's own
    ``describe`` still runs first, so a parent whose children all SUCCEEDED reads SUCCEEDED a moment before the
    runner records it (DescribeJobs ahead of the event, never behind it).
    """
    describe, describe_short = job.describe, job.describe_short
    index = job.array_properties.get("index")

    def array_properties() -> dict[str, Any]:
        if index is not None:
            return {"index": index}
        children = list(job._child_jobs or [])
        changed = [getattr(child, "_local_runner_changed_at", 0) for child in children]
        return {
            "statusSummary": status_summary(children),
            "statusSummaryLastUpdatedAt": max(changed, default=0),
            "size": int(job.array_properties.get("size") or len(children)),
        }

    def describe_with_array() -> dict[str, Any]:
        details: dict[str, Any] = describe()
        details["arrayProperties"] = array_properties()
        return details

    def describe_short_with_array() -> dict[str, Any]:
        summary: dict[str, Any] = describe_short()
        summary["arrayProperties"] = array_properties()
        return summary

    job.describe = describe_with_array
    job.describe_short = describe_short_with_array


def _now_ms() -> int:
    return int(time.time() * 1000)


class _CopyOnGet(dict[str, Any]):
    """A job's SubmitJob overrides whose lists moto gets as copies, so what it appends to one is not kept."""

    def get(self, key: str, default: Any = None) -> Any:
        value = super().get(key, default)
        return list(value) if isinstance(value, list) else value


# ------------------------------------------------------------------------- taking jobs from moto
_HOOK_LOCK = threading.Lock()
_TAKERS: dict[str, SubmittedJobTaker] = {}  # job queue ARN → the runner that runs its jobs
_SPAWNED: dict[str, list[Any]] = {}  # parent job id → its children, between their creation and the parent's
_MOTO_JOB_MODEL = "batch::job"
# moto moves a job's status along SUBMITTED → ... → RUNNING by itself when it is read; "manual"
# with an unreachable count keeps the status the runner set.
_FROZEN_TRANSITIONS = {"progression": "manual", "times": 2**31}


def route_submitted_jobs(job_queue_arns: Sequence[str], taker: SubmittedJobTaker) -> None:
    """From now on, jobs submitted to ``job_queue_arns`` go to ``taker``; a queue has at most one taker."""
    with _HOOK_LOCK:
        for arn in job_queue_arns:
            if arn in _TAKERS:
                raise RuntimeError(f"job queue {arn} already has a local runner")
        for arn in job_queue_arns:
            _TAKERS[arn] = taker
        _install_submit_hook()


def stop_routing_submitted_jobs(job_queue_arns: Sequence[str], taker: SubmittedJobTaker) -> None:
    """Jobs submitted to ``job_queue_arns`` no longer go to ``taker``; moto's own behaviour is back once no
    queue has a taker."""
    with _HOOK_LOCK:
        for arn in job_queue_arns:
            if _TAKERS.get(arn) is taker:
                del _TAKERS[arn]
        if not _TAKERS:
            _remove_submit_hook()


def _install_submit_hook() -> None:
    """SIMULATED (moto 5.2 internals): jobs submitted to a runner's queue go to the runner.

    moto's Batch without Docker ends SubmitJob with ``_mark_job_as_finished`` (status SUCCEEDED
    at once). While a runner is registered for the job's queue, that step instead stores the job
    as SUBMITTED and hands its id to the runner (an array job's children stay PENDING, for the runner to
    find through their parent); other queues keep moto's behaviour.
    """
    from moto.batch_simple.models import BatchSimpleBackend
    from moto.moto_api import state_manager

    current = BatchSimpleBackend._mark_job_as_finished
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def hand_job_to_local_runner(self: Any, include_start_attempt: bool, job: Any) -> None:
        runner = _TAKERS.get(job.job_queue.arn)
        if runner is None:
            current(self, include_start_attempt, job)
            return
        self.backend._jobs[job.job_id] = job
        _patch_container_details(job)
        if "index" in job.array_properties:  # a child: moto spawns them all before it finishes their parent
            job.status = "PENDING"
            job._local_runner_changed_at = _now_ms()
            with _HOOK_LOCK:
                _SPAWNED.setdefault(job.job_id.rsplit(":", 1)[0], []).append(job)
            _patch_array_details(job)
            return
        job.status = "SUBMITTED"
        if job.array_properties:  # the parent, after its children (moto sets the same list once this returns)
            with _HOOK_LOCK:
                job._child_jobs = _SPAWNED.pop(job.job_id, [])
            _patch_array_details(job)
        runner.accept_submitted_job(job.job_id)

    setattr(hand_job_to_local_runner, ORIGINAL_ATTRIBUTE, current)
    BatchSimpleBackend._mark_job_as_finished = hand_job_to_local_runner  # type: ignore[method-assign]
    state_manager.set_transition(_MOTO_JOB_MODEL, _FROZEN_TRANSITIONS)


def _remove_submit_hook() -> None:
    from moto.batch_simple.models import BatchSimpleBackend
    from moto.moto_api import state_manager

    current = BatchSimpleBackend._mark_job_as_finished
    original = getattr(current, ORIGINAL_ATTRIBUTE, None)
    if original is not None:
        BatchSimpleBackend._mark_job_as_finished = original  # type: ignore[method-assign]
    state_manager.unset_transition(_MOTO_JOB_MODEL)
