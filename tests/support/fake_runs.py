"""In-memory runs table: the fakes of ``RunStore`` and ``WatchdogStore`` (batch_orchestrator.ports).

Each method is the conditional write the real ``RunsTable`` makes, evaluated on a dict: the same
condition, the same attributes set and removed, the same ``WriteResult`` (the run after the write only
where the real write asks DynamoDB for it, else None; the run as it was when the condition fails).
``tests/unit/test_fakes_contract.py`` runs the same scenarios on this fake and on ``RunsTable`` over
moto and requires equal answers, so the two cannot drift apart unnoticed.

Where this fake is simpler than AWS, on purpose:

* DynamoDB answers a write whose response was lost by retrying it; ``RunsTable`` recognises its own
  earlier try by a write id. Here no answer is ever lost, so there is nothing to recognise.
* The sparse index (``ActiveRunsIndex``) is eventually consistent in DynamoDB: a Query may return a
  run as it was a moment ago. Here it is always current. The watchdog's marks are conditional on the
  run being exactly as read, which is what makes a stale read harmless on AWS.
* TTL (``expiresAt``), ``lastError`` and the other attributes only operators read are not kept: no
  Protocol method returns them.
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import replace
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batch_orchestrator.array_items import items_text
from batch_orchestrator.job_outcome import clip_reason
from batch_orchestrator.limits import FAILED_CHILD_REASON_CHARS, RUN_FAILED_CHILDREN_KEPT
from batch_orchestrator.models import (
    DEFAULT_PLAN,
    AttemptPlan,
    AttemptRecord,
    ChildFailure,
    JobObservation,
    Run,
    RunStatus,
    SideEffect,
    Source,
    progress_of,
)
from batch_orchestrator.ports import ActivePage, ActiveRun, WriteResult
from batch_orchestrator.timeutil import epoch_seconds, iso
from batch_orchestrator.workloads import Size

NOT_APPLIED_NO_RUN = WriteResult(applied=False, run=None)
APPLIED = WriteResult(applied=True, run=None)


@dataclass
class _StoredRun:
    """One run item: the Run, plus the attributes the Protocols read that a Run does not carry."""

    run: Run
    active_status: RunStatus | None  # the sparse index's key: None means "not in the index"
    alert_sent_at: str | None = None  # when complete_side_effect recorded the alert published
    marks: dict[str, str] = field(default_factory=dict)  # stuckAlertedFor, resubmittedAt, ... -> value
    resubmissions: int | None = None  # None: the attribute was never written


@dataclass
class _BlockedQueueAlert:
    lease_until: int | None
    sent_at: str | None = None


def _planned(plan: AttemptPlan, size: Size | None) -> dict[str, Any]:
    """The Run fields a claim (or a retry decision) writes: the plan, and the size or none."""
    return {
        "plan": plan,
        "vcpu": size.vcpu if size else None,
        "memory_mib": size.memory_mib if size else None,
    }


def _stored_child(child: ChildFailure) -> ChildFailure:
    """A failed child as the run item keeps it: index, item, exit code, and its reason cut to the budget."""
    limit = FAILED_CHILD_REASON_CHARS.value
    reason = child.reason if not child.reason or len(child.reason) <= limit else child.reason[: limit - 1] + "…"
    return ChildFailure(index=child.index, item=child.item, exit_code=child.exit_code, reason=reason or None)


def _observed_array(run: Run, obs: JobObservation) -> Run:
    """The run after an array parent's observation: its children by status; on FAILED, its failed children."""
    if obs.array is None:
        return run
    if obs.array.status_summary:
        run = replace(run, array_status=obs.array.status_summary)
    if obs.failed_children is not None:
        kept = sorted(obs.failed_children, key=lambda child: child.item)[: RUN_FAILED_CHILDREN_KEPT.value]
        run = replace(
            run,
            failed_children=tuple(_stored_child(child) for child in kept),
            failed_children_count=len(obs.failed_children),
        )
    return run


def _attempt_items(obs: JobObservation) -> str | None:
    if obs.items:
        return items_text(obs.items)
    return items_text(range(obs.array_size)) if obs.array_size else None


class FakeRunStore:
    """``RunStore`` in memory (see the module docstring for what it does not model)."""

    def __init__(self) -> None:
        self._runs: dict[str, _StoredRun] = {}
        self._blocked_queue_alerts: dict[str, _BlockedQueueAlert] = {}

    # ------------------------------------------------------------------ what tests may look at
    def all_runs(self) -> list[Run]:
        """Every run item, in the order they were created (a Scan, for tests only)."""
        return [stored.run for stored in self._runs.values()]

    def get(self, run_id: str) -> Run | None:
        """The run as a consistent GetItem would read it (``RunsTable.get``)."""
        stored = self._runs.get(run_id)
        return stored.run if stored else None

    def active_status(self, run_id: str) -> RunStatus | None:
        """The run's key in the sparse index; None once it is finished and owes nothing."""
        stored = self._runs.get(run_id)
        return stored.active_status if stored else None

    def alert_sent_at(self, run_id: str) -> str | None:
        stored = self._runs.get(run_id)
        return stored.alert_sent_at if stored else None

    # ------------------------------------------------------------------------------ submit path
    def claim_first_attempt(
        self,
        *,
        run_id: str,
        source: Source,
        job_name: str,
        job_queue: str,
        job_definition: str,
        max_attempts: int,
        now: datetime,
        claimed_until: int,
        plan: AttemptPlan = DEFAULT_PLAN,
        size: Size | None = None,
    ) -> WriteResult:
        existing = self._runs.get(run_id)
        if existing is not None:
            return WriteResult(applied=False, run=existing.run)
        run = Run(
            run_id=run_id,
            status=RunStatus.SUBMITTED,
            attempt=1,
            max_attempts=max_attempts,
            source=source,
            progress=progress_of(1, RunStatus.SUBMITTED),
            job_name=job_name,
            job_queue=job_queue,
            job_definition=job_definition,
            created_at=iso(now),
            updated_at=iso(now),
            claimed_until=claimed_until,
            **_planned(plan, size),
        )
        self._runs[run_id] = _StoredRun(run=run, active_status=RunStatus.SUBMITTED)
        return APPLIED

    def refuse_first_attempt(
        self,
        *,
        run_id: str,
        source: Source,
        job_name: str,
        job_queue: str,
        job_definition: str,
        max_attempts: int,
        now: datetime,
        reason: str,
        side_effect: SideEffect | None,
        plan: AttemptPlan = DEFAULT_PLAN,
    ) -> WriteResult:
        existing = self._runs.get(run_id)
        if existing is not None:
            return WriteResult(applied=False, run=existing.run)
        run = Run(
            run_id=run_id,
            status=RunStatus.FAILED,
            attempt=1,
            max_attempts=max_attempts,
            source=source,
            progress=progress_of(1, RunStatus.FAILED),
            job_name=job_name,
            job_queue=job_queue,
            job_definition=job_definition,
            created_at=iso(now),
            updated_at=iso(now),
            status_reason=clip_reason(reason),
            side_effect=side_effect,
            history=(AttemptRecord(attempt=1, job_id="", status=RunStatus.FAILED, reason=clip_reason(reason)),),
            **_planned(plan, None),
        )
        # As the table: in the sparse index only while it owes its alert.
        self._runs[run_id] = _StoredRun(run=run, active_status=RunStatus.FAILED if side_effect is not None else None)
        return APPLIED

    def refuse_waiting_attempt(
        self,
        *,
        run_id: str,
        attempt: int,
        job_name: str,
        now: datetime,
        reason: str,
        side_effect: SideEffect,
        plan: AttemptPlan,
    ) -> WriteResult:
        stored = self._runs.get(run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        run = stored.run
        if run.status is not RunStatus.RETRY_WAIT or run.attempt != attempt:
            return WriteResult(applied=False, run=run)
        record = AttemptRecord(
            attempt=attempt, job_id="", status=RunStatus.FAILED, reason=clip_reason(reason), workload=plan.workload
        )
        stored.run = replace(
            run,
            status=RunStatus.FAILED,
            progress=progress_of(attempt, RunStatus.FAILED),
            job_name=job_name,
            updated_at=iso(now),
            status_reason=clip_reason(reason),
            side_effect=side_effect,
            next_attempt_at=None,
            job_id=None,
            exit_code=None,
            log_stream_name=None,
            history=(*run.history, record),
            **_planned(plan, None),
        )
        stored.active_status = RunStatus.FAILED
        return APPLIED

    def claim_retry_attempt(
        self,
        *,
        run_id: str,
        attempt: int,
        job_name: str,
        job_queue: str,
        job_definition: str,
        now: datetime,
        claimed_until: int,
        plan: AttemptPlan = DEFAULT_PLAN,
        size: Size | None = None,
        max_attempts: int | None = None,
    ) -> WriteResult:
        stored = self._runs.get(run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        if stored.run.status is not RunStatus.RETRY_WAIT or stored.run.attempt != attempt:
            return WriteResult(applied=False, run=stored.run)
        stored.run = replace(
            stored.run,
            max_attempts=stored.run.max_attempts if max_attempts is None else max_attempts,
            status=RunStatus.SUBMITTED,
            progress=progress_of(attempt, RunStatus.SUBMITTED),
            job_name=job_name,
            updated_at=iso(now),
            claimed_until=claimed_until,
            job_queue=job_queue,
            job_definition=job_definition,
            side_effect=None,
            next_attempt_at=None,
            job_id=None,
            exit_code=None,
            status_reason=None,
            log_stream_name=None,
            **_planned(plan, size),
        )
        if plan.array_size or plan.step:  # the previous attempt's children: its history entry keeps their count
            stored.run = replace(stored.run, array_status=(), failed_children=(), failed_children_count=0)
        stored.active_status = RunStatus.SUBMITTED
        return APPLIED

    def take_over_claim(
        self,
        *,
        run_id: str,
        attempt: int,
        previous_until: int,
        job_queue: str,
        job_definition: str,
        now: datetime,
        claimed_until: int,
        plan: AttemptPlan = DEFAULT_PLAN,
        size: Size | None = None,
    ) -> WriteResult:
        stored = self._runs.get(run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        run = stored.run
        if not (
            run.attempt == attempt
            and run.claimed_until is not None
            and run.claimed_until == previous_until
            and run.job_id is None
            and run.status in (RunStatus.SUBMITTED, RunStatus.QUEUED)
        ):
            return WriteResult(applied=False, run=run)
        # The progress stays as it was, as RunsTable writes it: a QUEUED run taken over keeps QUEUED's.
        stored.run = replace(
            run,
            status=RunStatus.SUBMITTED,
            updated_at=iso(now),
            claimed_until=claimed_until,
            job_queue=job_queue,
            job_definition=job_definition,
            **_planned(plan, size),
        )
        stored.active_status = RunStatus.SUBMITTED
        return APPLIED

    def release_claim(self, *, run_id: str, attempt: int, claimed_until: int, error: str, now: datetime) -> WriteResult:
        stored = self._runs.get(run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        run = stored.run
        if not (run.attempt == attempt and run.claimed_until == claimed_until and run.job_id is None):
            return WriteResult(applied=False, run=run)
        stored.run = replace(
            run,
            status=RunStatus.QUEUED,
            progress=progress_of(attempt, RunStatus.QUEUED),
            updated_at=iso(now),
            claimed_until=0,
        )
        stored.active_status = RunStatus.QUEUED
        return APPLIED

    # ------------------------------------------------------------------------------- track path
    def apply_observation(
        self,
        obs: JobObservation,
        *,
        now: datetime,
        new_status: RunStatus,
        next_attempt: int | None = None,
        next_attempt_at: datetime | None = None,
        side_effect: SideEffect | None = None,
        attempt_size: Size | None = None,
        next_plan: AttemptPlan | None = None,
        next_size: Size | None = None,
        step_workload: str | None = None,
    ) -> WriteResult:
        retrying = new_status is RunStatus.RETRY_WAIT
        if retrying and (next_attempt is None or next_attempt_at is None):
            raise ValueError("RETRY_WAIT needs the next attempt and its time")
        stored = self._runs.get(obs.run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        run = stored.run
        if not (
            run.attempt == obs.attempt
            and run.progress < obs.progress
            and (run.job_id is None or run.job_id == obs.job_id)
        ):
            return WriteResult(applied=False, run=run)
        history = run.history
        if obs.status.is_terminal:
            record = AttemptRecord(
                attempt=obs.attempt,
                job_id=obs.job_id,
                status=obs.status,
                exit_code=obs.exit_code,
                reason=obs.failure.reason if obs.status is RunStatus.FAILED else None,
                log_stream_name=obs.log_stream_name,
                started_at=obs.started_at,
                stopped_at=obs.stopped_at,
                vcpu=attempt_size.vcpu if attempt_size else None,
                memory_mib=attempt_size.memory_mib if attempt_size else None,
                items=_attempt_items(obs),
                failed_children=len(obs.failed_children) if obs.failed_children is not None else None,
                workload=step_workload,
            )
            history = (*history, record)
        updated = replace(
            run,
            status=new_status,
            job_id=obs.job_id,
            job_name=obs.job_name,
            updated_at=iso(now),
            claimed_until=None,
            status_reason=obs.status_reason,
            exit_code=obs.exit_code,
            log_stream_name=obs.log_stream_name,
            progress=obs.progress,
            side_effect=side_effect if side_effect is not None else run.side_effect,
            history=history,
        )
        updated = _observed_array(updated, obs)
        if retrying:
            assert next_attempt is not None
            assert next_attempt_at is not None
            updated = replace(
                updated,
                attempt=next_attempt,
                progress=progress_of(next_attempt, RunStatus.RETRY_WAIT),
                next_attempt_at=iso(next_attempt_at),
                last_job_id=obs.job_id,
                job_id=None,
            )
            if next_plan is not None:
                updated = replace(updated, **_planned(next_plan, next_size))
        stored.run = updated
        # The index holds what someone may still act on: active runs, and failed ones owing an alert.
        stored.active_status = new_status if not new_status.is_terminal or side_effect is not None else None
        return WriteResult(applied=True, run=updated)

    def take_over_side_effect(self, *, run_id: str, previous_token: str, token: str, due: int) -> WriteResult:
        stored = self._runs.get(run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        pending = stored.run.side_effect
        if pending is None or pending.token != previous_token:
            return WriteResult(applied=False, run=stored.run)
        stored.run = replace(stored.run, side_effect=replace(pending, token=token, due=due))
        return WriteResult(applied=True, run=stored.run)

    def complete_side_effect(self, *, run_id: str, token: str, now: datetime) -> WriteResult:
        stored = self._runs.get(run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        pending = stored.run.side_effect
        if pending is None or pending.token != token:
            return WriteResult(applied=False, run=stored.run)
        stored.run = replace(stored.run, side_effect=None)
        stored.alert_sent_at = iso(now)
        stored.active_status = None
        return APPLIED

    def claim_queue_blocked_alert(
        self,
        *,
        job_id: str,
        job_queue: str,
        run_id: str | None,
        now: datetime,
        lease_until: int,
        job_name: str | None = None,
        reason: str | None = None,
    ) -> bool:
        existing = self._blocked_queue_alerts.get(job_id)
        if existing is not None and (
            existing.sent_at is not None or existing.lease_until is None or existing.lease_until >= epoch_seconds(now)
        ):
            return False
        self._blocked_queue_alerts[job_id] = _BlockedQueueAlert(lease_until=lease_until)
        return True

    def confirm_queue_blocked_alert(self, *, job_id: str, now: datetime) -> None:
        existing = self._blocked_queue_alerts.get(job_id)
        if existing is not None:
            existing.sent_at = iso(now)
            existing.lease_until = None


class FakeWatchdogStore(FakeRunStore):
    """``WatchdogStore`` in memory: the runs of ``FakeRunStore`` plus the sparse index and the marks.

    ``page_size`` cuts ``active_runs`` into pages as DynamoDB does at 1 MB; a query always yields at
    least one page, possibly empty, as a Query does.
    """

    def __init__(self, *, page_size: int = 1_000) -> None:
        super().__init__()
        self._page_size = page_size

    def active_runs(self, *, status: RunStatus, updated_before: datetime) -> Iterator[ActivePage]:
        before = iso(updated_before)  # the index's sort key is the ISO string: compared as text
        matching = sorted(
            (
                stored
                for stored in self._runs.values()
                if stored.active_status is status
                and stored.run.updated_at is not None
                and stored.run.updated_at < before
            ),
            key=lambda stored: stored.run.updated_at or "",
        )
        for start in range(0, max(len(matching), 1), self._page_size):
            page = [self._active_run(stored) for stored in matching[start : start + self._page_size]]
            yield ActivePage(runs=tuple(page), items_read=len(page))

    def mark_stuck_alerted(self, *, run: Run, episode: str, now: datetime) -> WriteResult:
        return self._mark_episode(run, "stuckAlertedFor", "stuckAlertedAt", episode, now)

    def mark_cancel_requested(self, *, run: Run, episode: str, now: datetime) -> WriteResult:
        return self._mark_episode(run, "cancelRequestedFor", "cancelRequestedAt", episode, now)

    def mark_resubmitted(
        self,
        *,
        run: Run,
        episode: str,
        resubmissions: int,
        max_resubmissions: int,
        now: datetime,
        lost_before: datetime | None = None,
    ) -> WriteResult:
        stored = self._runs.get(run.run_id)
        under_cap = stored is not None and (stored.resubmissions is None or stored.resubmissions < max_resubmissions)
        result = self._mark_episode(
            run, "resubmittedFor", "resubmittedAt", episode, now, lost_before=lost_before, also_requires=under_cap
        )
        if result.applied:
            assert stored is not None
            stored.resubmissions = resubmissions + 1
        return result

    def _mark_episode(
        self,
        run: Run,
        field_name: str,
        at_field: str,
        episode: str,
        now: datetime,
        *,
        lost_before: datetime | None = None,
        also_requires: bool = True,
    ) -> WriteResult:
        if run.updated_at is None:
            return WriteResult(applied=False, run=run)
        stored = self._runs.get(run.run_id)
        if stored is None:
            return NOT_APPLIED_NO_RUN
        marked = stored.marks.get(field_name)
        marked_at = stored.marks.get(at_field)
        free = (
            marked is None
            or marked != episode
            or (lost_before is not None and marked_at is not None and marked_at < iso(lost_before))
        )
        if not (
            stored.run.progress == run.progress and stored.run.updated_at == run.updated_at and free and also_requires
        ):
            return WriteResult(applied=False, run=stored.run)
        # updatedAt stays: it is when the run entered its state, the index's sort key and part of the episode.
        stored.marks[field_name] = episode
        stored.marks[at_field] = iso(now)
        return APPLIED

    @staticmethod
    def _active_run(stored: _StoredRun) -> ActiveRun:
        return ActiveRun(
            run=stored.run,
            stuck_alerted_for=stored.marks.get("stuckAlertedFor"),
            cancel_requested_for=stored.marks.get("cancelRequestedFor"),
            resubmitted_for=stored.marks.get("resubmittedFor"),
            resubmitted_at=stored.marks.get("resubmittedAt"),
            resubmissions=stored.resubmissions or 0,
        )
