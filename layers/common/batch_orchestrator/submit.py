"""Submitting one attempt of a run to AWS Batch, exactly once.

Happy path: one conditional write (the claim) and one SubmitJob. Batch emits no event for a
submission, so the claim itself records the run as SUBMITTED; the job id arrives with the first
state-change event, which carries the run id in its job name and tags.

SubmitJob has no idempotency token, so the claim is what makes delivery duplicates harmless:

* the claim already exists and its job is known, or its lease is still running → duplicate;
* the claim was released after AWS refused the job → take it over and submit at once;
* the claim's lease expired with no job id (the holder crashed, or SubmitJob's outcome was
  unknown) → take it over, look the deterministic job name up in the queue, and submit only if no
  such job exists.

Every submission, a takeover's included, names the stack's CURRENT job queue and job definition
(``SubmitSettings``), never the ones stored on the run: a deploy that changes the job definition
makes CloudFormation deregister the old revision, and SubmitJob refuses an inactive one, so a claim
written before the deploy would otherwise be refused at every redelivery until it reached the DLQ.
The stored queue is still where an interrupted submission may have left its job, so the lookup
before a takeover's submission searches there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from batch_orchestrator.errors import JobSubmitError
from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG, job_name_for
from batch_orchestrator.models import Run, RunStatus, S3Source, ScheduleSource, SubmitRequest
from batch_orchestrator.observability import logger
from batch_orchestrator.ports import JobGateway, JobSpec, RunStore
from batch_orchestrator.timeutil import epoch_seconds


class SubmitOutcome(StrEnum):
    SUBMITTED = "SUBMITTED"
    DUPLICATE = "DUPLICATE"  # another delivery owns (or owned) this attempt
    ADOPTED = "ADOPTED"  # a crashed delivery had already started the job; nothing to submit


@dataclass(frozen=True)
class SubmitSettings:
    job_queue: str
    job_definition: str
    max_attempts: int
    claim_lease_seconds: int


@dataclass(frozen=True)
class SubmitResult:
    outcome: SubmitOutcome
    run_id: str
    attempt: int
    job_name: str
    job_id: str | None = None
    detail: str = ""


def job_environment(request: SubmitRequest) -> dict[str, str]:
    """The container's view of its input: plain environment values, never part of a command line."""
    env = {"RUN_ID": request.run_id, "RUN_ATTEMPT": str(request.attempt), "TRIGGER": request.source.trigger.value}
    source = request.source
    if isinstance(source, S3Source):
        env["INPUT_BUCKET"] = source.bucket
        env["INPUT_KEY"] = source.key
        if source.version_id:
            env["INPUT_VERSION_ID"] = source.version_id
    elif isinstance(source, ScheduleSource):
        env["SCHEDULE_NAME"] = source.schedule_name
        env["SCHEDULED_TIME"] = source.scheduled_time
    return env


def submit_run(
    request: SubmitRequest,
    *,
    runs: RunStore,
    jobs: JobGateway,
    settings: SubmitSettings,
    now: datetime,
) -> SubmitResult:
    """Claim attempt ``request.attempt`` of the run and submit its Batch job, at most once."""
    job_name = job_name_for(request.run_id, request.attempt, request.source)
    lease_until = epoch_seconds(now) + settings.claim_lease_seconds
    if request.attempt == 1:
        claim = runs.claim_first_attempt(
            run_id=request.run_id,
            source=request.source,
            job_name=job_name,
            job_queue=settings.job_queue,
            job_definition=settings.job_definition,
            max_attempts=settings.max_attempts,
            now=now,
            claimed_until=lease_until,
        )
    else:
        claim = runs.claim_retry_attempt(
            run_id=request.run_id,
            attempt=request.attempt,
            job_name=job_name,
            job_queue=settings.job_queue,
            job_definition=settings.job_definition,
            now=now,
            claimed_until=lease_until,
        )

    if not claim.applied:
        existing = claim.run
        verdict = _judge_existing_claim(request, existing, now=now)
        if verdict is not None:
            return SubmitResult(SubmitOutcome.DUPLICATE, request.run_id, request.attempt, job_name, detail=verdict)
        assert existing is not None
        assert existing.claimed_until is not None
        # The job name is deterministic, but keep the stored one: it is what an earlier holder submitted.
        job_name = existing.job_name or job_name
        taken = runs.take_over_claim(
            run_id=request.run_id,
            attempt=request.attempt,
            previous_until=existing.claimed_until,
            job_queue=settings.job_queue,
            job_definition=settings.job_definition,
            now=now,
            claimed_until=lease_until,
        )
        if not taken.applied:
            return SubmitResult(
                SubmitOutcome.DUPLICATE,
                request.run_id,
                request.attempt,
                job_name,
                detail="claim taken over by another delivery",
            )
        if existing.status is RunStatus.SUBMITTED:
            # The previous holder may have crashed after SubmitJob succeeded: look before submitting.
            found = jobs.find_job_id(job_queue=existing.job_queue or settings.job_queue, job_name=job_name)
            if found is not None:
                logger.info("adopted job of an interrupted submission", extra={"job_id": found, "job_name": job_name})
                return SubmitResult(SubmitOutcome.ADOPTED, request.run_id, request.attempt, job_name, job_id=found)
        logger.info("took over stale claim", extra={"job_name": job_name, "previous_status": existing.status.value})

    spec = JobSpec(
        job_name=job_name,
        job_queue=settings.job_queue,
        job_definition=settings.job_definition,
        environment=job_environment(request),
        tags={RUN_ID_TAG: request.run_id, ATTEMPT_TAG: str(request.attempt)},
    )
    try:
        job_id = jobs.submit(spec)
    except JobSubmitError as exc:
        if exc.definitely_not_submitted:
            # No job exists: release the claim so the next delivery submits without a Batch lookup.
            runs.release_claim(
                run_id=request.run_id, attempt=request.attempt, claimed_until=lease_until, error=str(exc), now=now
            )
        raise
    return SubmitResult(SubmitOutcome.SUBMITTED, request.run_id, request.attempt, job_name, job_id=job_id)


def _judge_existing_claim(request: SubmitRequest, existing: Run | None, *, now: datetime) -> str | None:
    """Why this delivery must not submit (a duplicate), or None when it should take the claim over."""
    if existing is None:
        return "run no longer exists" if request.attempt > 1 else "claim failed but no run was returned"
    if existing.attempt > request.attempt:
        return f"run is already at attempt {existing.attempt}"
    if existing.attempt < request.attempt:
        return (
            f"run is at attempt {existing.attempt} ({existing.status.value}), not waiting for attempt {request.attempt}"
        )
    if existing.status not in (RunStatus.SUBMITTED, RunStatus.QUEUED) or existing.job_id:
        return f"attempt {request.attempt} is already {existing.status.value}"
    if existing.claimed_until is None:
        return "claim has no lease"
    if existing.claimed_until > epoch_seconds(now):
        return "attempt is being submitted by another delivery"
    return None
