"""What `orchestrator runs retry` may do with a run: a pure decision, no AWS.

A retry goes through the normal submit path: the run moves to RETRY_WAIT for its next attempt and
a retry request goes on the SubmitQueue, whose consumer claims that attempt (conditionally) and
submits it exactly once, as it does for the tracker's retries.

    FAILED                      → attempt n+1 (a rejected run request: refused, even with --force)
    RETRY_WAIT                  → the pending attempt n, requested again now (skips the backoff)
    SUCCEEDED                   → refused; with --force, attempt n+1 (a re-run)
    QUEUED … RUNNING (in flight)→ refused; with --force (a stuck run), attempt n+1 and attempt n is
                                  recorded as abandoned; its job is NOT cancelled

The attempt runs as the last one did (``manual_attempt_plan``): its workload, ladder step and capacity; for a
FAILED array run, over the items whose children failed when the run kept all of them, else over the failed
attempt's items again.

A manual attempt may go one beyond the run's maxAttempts, which is then raised to it (and recorded),
but never beyond MAX_ATTEMPTS_LIMIT, the most the submit path accepts. Each request is recorded in the
run's manualRetries; a run takes at most MAX_MANUAL_RETRIES of them (a RETRY_WAIT run may have its
request sent again and again), so the audit trail cannot grow the item towards DynamoDB's 400 KB.
"""

from __future__ import annotations

from copy import replace
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batch_orchestrator.array_items import items_text
from batch_orchestrator.limits import ARRAY_ITEMS_BUDGET
from batch_orchestrator.models import AttemptPlan, AttemptRecord, RequestSource, Run, RunStatus
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT
from batch_orchestrator.timeutil import iso
from orchestrator_cli.errors import Refused

MAX_MANUAL_RETRIES = 50  # about 200 bytes each: 10 KB of a 400 KB item

IN_FLIGHT = frozenset(
    {
        RunStatus.QUEUED,
        RunStatus.SUBMITTED,
        RunStatus.PENDING,
        RunStatus.RUNNABLE,
        RunStatus.STARTING,
        RunStatus.RUNNING,
    }
)


@dataclass(frozen=True)
class RetryPlan:
    run_id: str
    previous_status: RunStatus
    previous_attempt: int
    attempt: int
    max_attempts: int
    forced: bool
    resend: bool  # RETRY_WAIT: the pending attempt's request is sent again, no new attempt
    max_attempts_raised_from: int | None
    previous_job_id: str | None
    abandoned: AttemptRecord | None

    def record(self, *, now: datetime, requested_by: str | None) -> dict[str, Any]:
        """The entry appended to the run's manualRetries (the audit trail of operator actions)."""
        entry: dict[str, Any] = {
            "attempt": self.attempt,
            "requestedAt": iso(now),
            "previousStatus": self.previous_status.value,
            "previousAttempt": self.previous_attempt,
            "forced": self.forced,
            "resend": self.resend,
        }
        optional = (
            ("maxAttemptsRaisedFrom", self.max_attempts_raised_from),
            ("previousJobId", self.previous_job_id),
            ("requestedBy", requested_by),
        )
        entry.update({name: value for name, value in optional if value is not None})
        return entry


def manual_attempt_plan(run: Run) -> AttemptPlan:
    """The plan of a manual attempt: the run's (the last attempt's), and for a FAILED array run whose failed
    children it kept every one of, just their items (as the tracker's child-only retry would)."""
    plan = run.plan
    failed = run.failed_children
    if run.status is not RunStatus.FAILED or not plan.array_size or not failed:
        return plan
    if run.failed_children_count != len(failed):
        return plan  # the run keeps the first ones only: rerun the failed attempt's items, all of them
    items = tuple(sorted({child.item for child in failed}))
    return replace(plan, items=items) if len(items_text(items)) <= ARRAY_ITEMS_BUDGET.value else plan


def plan_manual_retry(run: Run, *, force: bool, manual_retries: int = 0) -> RetryPlan:
    """The retry an operator may start for ``run``; Refused (exit 5) when the run's state forbids it.

    ``manual_retries``: how many manual retries the run has recorded already.
    """
    if manual_retries >= MAX_MANUAL_RETRIES:
        raise Refused(
            f"run {run.run_id} has had {manual_retries} manual retries, the most one run records",
            hint="upload the input again (a new object version is a new run) or submit it with `orchestrator submit`",
        )
    status = run.status
    job_id = run.job_id or run.last_job_id
    if isinstance(run.source, RequestSource) and run.source.rejected:
        # Not even with --force: the request was never accepted (its variables were not judged allowed), and its
        # caller, who heard "Run Rejected", sends it again.
        raise Refused(
            f"run {run.run_id} is a rejected run request: {run.status_reason}",
            hint="the application that sent it sends it again, corrected (`orchestrator request` does the same)",
        )
    if status is RunStatus.FAILED and run.history and not run.history[-1].job_id and not force:
        raise Refused(
            f"run {run.run_id} was refused before any job was submitted: {run.status_reason}",
            hint="upload an input that can run (a new object version is a new run); --force retries it anyway",
        )
    if status is RunStatus.RETRY_WAIT:
        return RetryPlan(
            run_id=run.run_id,
            previous_status=status,
            previous_attempt=run.attempt,
            attempt=run.attempt,
            max_attempts=run.max_attempts,
            forced=force,
            resend=True,
            max_attempts_raised_from=None,
            previous_job_id=job_id,
            abandoned=None,
        )
    if status is RunStatus.SUCCEEDED and not force:
        raise Refused(
            f"run {run.run_id} SUCCEEDED at attempt {run.attempt}: nothing to retry",
            hint="pass --force to run it again as a new attempt",
        )
    if status in IN_FLIGHT and not force:
        job = f", job {run.job_id}" if run.job_id else ""
        raise Refused(
            f"run {run.run_id} is in flight ({status.value} at attempt {run.attempt}{job}, updated {run.updated_at})",
            hint="wait for it to finish; if it is stuck, --force starts a new attempt (the current job is not "
            "cancelled: `aws batch terminate-job` it if it must not run)",
        )
    attempt = run.attempt + 1
    if attempt > MAX_ATTEMPTS_LIMIT:
        raise Refused(
            f"run {run.run_id} has used attempt {run.attempt}; the submit path accepts at most {MAX_ATTEMPTS_LIMIT}",
            hint="upload the input again (a new object version is a new run) or submit it with `orchestrator submit`",
        )
    abandoned = None
    if status in IN_FLIGHT:
        abandoned = AttemptRecord(
            attempt=run.attempt,
            job_id=run.job_id or "",
            status=status,
            exit_code=None,
            reason=f"abandoned in {status.value} by a forced manual retry",
        )
    raised_from = run.max_attempts if attempt > run.max_attempts else None
    return RetryPlan(
        run_id=run.run_id,
        previous_status=status,
        previous_attempt=run.attempt,
        attempt=attempt,
        max_attempts=max(run.max_attempts, attempt),
        forced=force,
        resend=False,
        max_attempts_raised_from=raised_from,
        previous_job_id=job_id,
        abandoned=abandoned,
    )
