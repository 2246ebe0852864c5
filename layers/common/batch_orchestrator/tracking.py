"""Applying Batch job events to runs: forward-only status, retries, and final-failure alerts.

Every event is one conditional write. When the event is a FAILED attempt, the retry decision is
made first (a pure function of the job's workload and the failure, ``attempt_plan``: Spot fallback,
memory ladder, then the retry policy) and written in the same update as the status, with the next
attempt's plan and the side effect it owes: a delayed retry request, or an alert. Only after the
write succeeds is the side effect performed, so a duplicate or late event can never cause a second
retry or a second alert, and a crash between the write and the side effect leaves a lease on the run
that a redelivered event (or the watchdog) takes over once it expires. The tracker learns the job's
workload, ladder step and Spot interruptions from its tags: it never reads the run to decide.

An array job's children do not speak for the run: its parent does. A parent's FAILED event (or DescribeJobs
entry) is first completed with the failed children Batch lists (``with_failed_children``, one ListJobs per page
of 1,000, mapped back to the original items through the event's ``parameters.arrayItems``): the decision is
then made from them (``array_retry``), still before the one conditional write.

A pipeline's step that SUCCEEDED is not the end of its run: the run waits for its next step as for a retry (RETRY_WAIT,
no delay), owing the submit request of the next step's first attempt (``attempt_plan.next_step``), with the same
lease, so a lost request is sent again by a redelivered event or the watchdog. A part of an array of more items than
one array job takes hands over to the array's next part the same way (``array_parts``). Only the success of the last
part of the last step ends the run.
"""

from __future__ import annotations

import uuid
from copy import replace
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from batch_orchestrator.attempt_plan import (
    AttemptDecision,
    decide_attempt,
    next_part,
    next_step,
    size_at,
    undeclared_default,
)
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.limits import BATCH_ARRAY_MAX_SIZE
from batch_orchestrator.models import (
    SIDE_EFFECT_ALERT,
    SIDE_EFFECT_RETRY,
    JobObservation,
    QueueBlocked,
    Run,
    RunStatus,
    SideEffect,
)
from batch_orchestrator.observability import logger
from batch_orchestrator.ports import AlertSink, ArrayChildren, RetryQueue, RunStore
from batch_orchestrator.retry_policy import RetryPolicy
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.workloads import DEFAULT_WORKLOAD, Workload, WorkloadTable

if TYPE_CHECKING:
    from batch_orchestrator.array_retry import ChildVerdict


class TrackOutcome(StrEnum):
    UPDATED = "UPDATED"  # the run moved forward
    SUCCEEDED = "SUCCEEDED"
    RETRY_SCHEDULED = "RETRY_SCHEDULED"
    STEP_ADVANCED = "STEP_ADVANCED"  # a pipeline step succeeded: its next step was requested
    PART_ADVANCED = "PART_ADVANCED"  # a part of an array of over 10,000 items succeeded: its next part was requested
    FAILED = "FAILED"  # failed for good; alert published
    STALE = "STALE"  # duplicate or late event: nothing changed
    RECOVERED = "RECOVERED"  # a duplicate found an abandoned side effect and performed it
    UNKNOWN_RUN = "UNKNOWN_RUN"  # tagged as ours, but no such run in the table


@dataclass(frozen=True)
class TrackSettings:
    """What the tracker decides with. ``policy`` is the default workload's retry policy; settings made
    without a ``workloads`` table (tools and tests that predate workloads) know the default workload alone,
    with that policy and no ladder."""

    policy: RetryPolicy
    side_effect_lease_seconds: int
    region: str
    job_log_group: str
    workloads: WorkloadTable | None = None

    def workload(self, name: str) -> Workload | None:
        if self.workloads is not None:
            return self.workloads.get(name)
        return undeclared_default(self.policy) if name == DEFAULT_WORKLOAD else None


@dataclass(frozen=True)
class TrackResult:
    outcome: TrackOutcome
    run_id: str
    status: RunStatus | None = None
    detail: str = ""


def _after_success(obs: JobObservation, workload: Workload | None, table: WorkloadTable) -> AttemptDecision | None:
    """What a SUCCEEDED attempt hands over to: the next part of its array, else its pipeline's next step; None when
    the run is done."""
    if obs.array_size > BATCH_ARRAY_MAX_SIZE.value:
        part = next_part(obs, workload)
        if part is not None:
            return part
    return next_step(obs, table)


def with_failed_children(obs: JobObservation, *, jobs: ArrayChildren) -> JobObservation:
    """``obs`` with the failed children of its array, when it is an array parent's FAILED; else ``obs`` itself.

    What the track_jobs handler and the watchdog both do before ``apply_job_event``, so a FAILED array is judged
    alike from an event and from DescribeJobs. Each child's index is mapped to its original item: the attempt's
    ``items`` at that index (a child-only retry), or the index itself. MalformedMessage for an index the attempt
    has no item for; BatchLookupError when ListJobs fails (the event is retried).
    """
    if obs.status is not RunStatus.FAILED or obs.array is None:
        return obs
    children = []
    for child in jobs.failed_children(obs.job_id):
        size = len(obs.items) if obs.items else obs.array.size
        if child.index >= size:
            raise MalformedMessage(f"failed child {child.index} of job {obs.job_id} is past its {size} children")
        children.append(replace(child, item=obs.items[child.index] if obs.items else child.index))
    return replace(obs, failed_children=tuple(children))


def apply_job_event(
    obs: JobObservation,
    *,
    runs: RunStore,
    retry_queue: RetryQueue,
    alerts: AlertSink,
    settings: TrackSettings,
    now: datetime,
) -> TrackResult:
    """Apply one observation of one of our jobs to its run (see the module docstring)."""
    workload = settings.workload(obs.workload)
    planned: AttemptDecision | None = None
    new_status = obs.status
    next_attempt_at: datetime | None = None
    side_effect: SideEffect | None = None
    if obs.status is RunStatus.SUCCEEDED and settings.workloads is not None:
        planned = _after_success(obs, workload, settings.workloads)
        if planned is not None:
            new_status = RunStatus.RETRY_WAIT
            next_attempt_at = now
            due = epoch_seconds(now) + settings.side_effect_lease_seconds
            side_effect = SideEffect(kind=SIDE_EFFECT_RETRY, token=uuid.uuid4().hex, due=due, job_id=obs.job_id)
    if obs.status is RunStatus.FAILED:
        planned = decide_attempt(obs, workload)
        if planned.decision.retry:
            new_status = RunStatus.RETRY_WAIT
            next_attempt_at = now + timedelta(seconds=planned.decision.delay_seconds)
            due = epoch_seconds(next_attempt_at) + settings.side_effect_lease_seconds
            side_effect = SideEffect(kind=SIDE_EFFECT_RETRY, token=uuid.uuid4().hex, due=due, job_id=obs.job_id)
        else:
            due = epoch_seconds(now) + settings.side_effect_lease_seconds
            side_effect = SideEffect(kind=SIDE_EFFECT_ALERT, token=uuid.uuid4().hex, due=due, job_id=obs.job_id)

    next_plan = planned.next_plan if planned else None
    written = runs.apply_observation(
        obs,
        now=now,
        new_status=new_status,
        next_attempt=planned.decision.next_attempt if planned else None,
        next_attempt_at=next_attempt_at,
        side_effect=side_effect,
        attempt_size=size_at(workload, obs.size_step) if obs.status.is_terminal else None,
        next_plan=next_plan,
        next_size=size_at(settings.workload(next_plan.workload), next_plan.size_step) if next_plan else None,
        step_workload=obs.workload if workload is not None and (obs.step or workload.then) else None,
    )
    if not written.applied:
        return _after_stale_event(
            obs, written.run, runs=runs, retry_queue=retry_queue, alerts=alerts, settings=settings, now=now
        )
    run = written.run
    assert run is not None, "an applied update returns the new item"
    if side_effect is None:
        outcome = TrackOutcome.SUCCEEDED if obs.status is RunStatus.SUCCEEDED else TrackOutcome.UPDATED
        return TrackResult(outcome, obs.run_id, run.status)
    assert planned is not None
    decision = planned.decision
    _perform(
        side_effect,
        run,
        obs,
        decision.reason,
        decision.delay_seconds,
        children=planned.children,
        runs=runs,
        retry_queue=retry_queue,
        alerts=alerts,
        settings=settings,
        now=now,
    )
    if side_effect.kind == SIDE_EFFECT_ALERT:
        outcome = TrackOutcome.FAILED
    else:
        outcome = TrackOutcome.RETRY_SCHEDULED
        if obs.status is RunStatus.SUCCEEDED:
            same = planned.next_plan is not None and planned.next_plan.workload == obs.workload
            outcome = TrackOutcome.PART_ADVANCED if same else TrackOutcome.STEP_ADVANCED
    return TrackResult(outcome, obs.run_id, run.status, detail=decision.reason)


def _after_stale_event(
    obs: JobObservation,
    existing: Run | None,
    *,
    runs: RunStore,
    retry_queue: RetryQueue,
    alerts: AlertSink,
    settings: TrackSettings,
    now: datetime,
) -> TrackResult:
    """A duplicate or late event changes nothing, unless it finds this job's side effect abandoned."""
    if existing is None:
        return TrackResult(TrackOutcome.UNKNOWN_RUN, obs.run_id, detail="no run with this id")
    pending = existing.side_effect
    if pending is None or pending.job_id != obs.job_id or pending.due > epoch_seconds(now):
        return TrackResult(TrackOutcome.STALE, obs.run_id, existing.status)
    recovered = recover_side_effect(
        existing, obs, runs=runs, retry_queue=retry_queue, alerts=alerts, settings=settings, now=now
    )
    if not recovered:
        return TrackResult(TrackOutcome.STALE, obs.run_id, existing.status)
    return TrackResult(
        TrackOutcome.RECOVERED, obs.run_id, existing.status, detail=f"performed abandoned {pending.kind}"
    )


def recover_side_effect(
    run: Run,
    obs: JobObservation,
    *,
    runs: RunStore,
    retry_queue: RetryQueue,
    alerts: AlertSink,
    settings: TrackSettings,
    now: datetime,
) -> bool:
    """Take over an expired side-effect lease and perform it; False if someone else took it first."""
    pending = run.side_effect
    assert pending is not None
    token = uuid.uuid4().hex
    due = epoch_seconds(now) + settings.side_effect_lease_seconds
    taken = runs.take_over_side_effect(run_id=run.run_id, previous_token=pending.token, token=token, due=due)
    if not taken.applied or taken.run is None:
        return False
    mine = SideEffect(kind=pending.kind, token=token, due=due, job_id=pending.job_id)
    # Only an alert shows the decision; a retry's reason would name a fresh random delay it never waits. A run
    # refused before any job (pending.job_id "": its manifest could not run) has its reason as its status reason.
    planned = None
    reason = ""
    if pending.kind == SIDE_EFFECT_ALERT and pending.job_id:
        planned = decide_attempt(obs, settings.workload(obs.workload))
        reason = planned.decision.reason
    elif pending.kind == SIDE_EFFECT_ALERT:
        reason = run.status_reason or ""
    logger.warning("taking over abandoned side effect", extra={"kind": pending.kind, "run_id": run.run_id})
    _perform(
        mine,
        taken.run,
        obs,
        reason,
        0,
        children=planned.children if planned else (),
        runs=runs,
        retry_queue=retry_queue,
        alerts=alerts,
        settings=settings,
        now=now,
    )
    return True


def _perform(
    side_effect: SideEffect,
    run: Run,
    obs: JobObservation,
    reason: str,
    delay_seconds: int,
    *,
    children: tuple[ChildVerdict, ...],
    runs: RunStore,
    retry_queue: RetryQueue,
    alerts: AlertSink,
    settings: TrackSettings,
    now: datetime,
) -> None:
    if side_effect.kind == SIDE_EFFECT_RETRY:
        # The submit path's claim of the next attempt clears the lease, so no confirming write here. The run
        # after the decision holds the next attempt's plan.
        retry_queue.send_retry(
            run_id=run.run_id, attempt=run.attempt, source=run.source, delay_seconds=delay_seconds, plan=run.plan
        )
        return
    # Alerts are built only when one is due: a tracker's cold start on a status change does not load them.
    from batch_orchestrator.alerts import build_run_failed_alert

    step = None
    if settings.workloads is not None and (obs.step or obs.workload != DEFAULT_WORKLOAD):
        from batch_orchestrator.workload_steps import step_position

        step = step_position(settings.workloads, obs.workload)
    alert = build_run_failed_alert(
        run,
        obs,
        decision_reason=reason,
        region=settings.region,
        log_group=settings.job_log_group,
        children=children,
        step=step,
    )
    alerts.publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)
    runs.complete_side_effect(run_id=run.run_id, token=side_effect.token, now=now)


def handle_queue_blocked(
    blocked: QueueBlocked, *, runs: RunStore, alerts: AlertSink, settings: TrackSettings, now: datetime
) -> bool:
    """Alert once per blocking job, ours or not; False when its alert was sent (or is being sent) already.

    EventBridge delivers at least once, so the alert is leased by the blocking job's id before it is
    published and confirmed after: a duplicate finds it taken; a delivery whose holder died before
    confirming performs it again once the lease has expired (at least once, like a run's alert).
    """
    taken = runs.claim_queue_blocked_alert(
        job_id=blocked.job_id,
        job_queue=blocked.job_queue,
        run_id=blocked.run_id,
        now=now,
        lease_until=epoch_seconds(now) + settings.side_effect_lease_seconds,
        job_name=blocked.job_name,
        reason=blocked.status_reason,
    )
    if not taken:
        return False
    from batch_orchestrator.alert_queue_blocked import build_queue_blocked_alert

    alert = build_queue_blocked_alert(blocked, region=settings.region)
    alerts.publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)
    runs.confirm_queue_blocked_alert(job_id=blocked.job_id, now=now)
    return True
