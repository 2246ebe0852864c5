"""The submit path's claim protocol (batch_orchestrator.submit): every decision of ``submit_run``, on the
in-memory fakes of the runs table and of Batch (tests/support/fakes.py), with no emulator.

The fakes keep the adapters' contracts (tests/unit/test_fakes_contract.py), including the AWS facts the
protocol exists for: Batch does not deduplicate job names, and a SubmitJob whose answer was lost may or
may not have created its job.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from batch_orchestrator.errors import JobSubmitError
from batch_orchestrator.ids import (
    ATTEMPT_TAG,
    RUN_ID_TAG,
    SIZE_STEP_TAG,
    SPOT_INTERRUPTIONS_TAG,
    WORKLOAD_TAG,
    job_name_for,
)
from batch_orchestrator.models import (
    SIDE_EFFECT_RETRY,
    JobObservation,
    RunStatus,
    SideEffect,
    SubmitRequest,
)
from batch_orchestrator.ports import JobSpec, WriteResult
from batch_orchestrator.submit import SubmitOutcome, SubmitResult, SubmitSettings, submit_run
from batch_orchestrator.timeutil import epoch_seconds
from tests.support.decision_values import DEFINITION, JOB_1, QUEUE, RUN_ID, SOURCE, T0
from tests.support.fakes import FakeJobGateway, FakeRunStore
from tests.support.handlers import load_handler

LEASE = 90
NEW_QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/jobs-2"
NEW_DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/job:2"
SETTINGS = SubmitSettings(job_queue=QUEUE, job_definition=DEFINITION, max_attempts=3, claim_lease_seconds=LEASE)
FIRST = SubmitRequest(run_id=RUN_ID, attempt=1, source=SOURCE)


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


@pytest.fixture
def runs() -> FakeRunStore:
    return FakeRunStore()


@pytest.fixture
def jobs() -> FakeJobGateway:
    return FakeJobGateway(job_queues=[QUEUE, NEW_QUEUE], job_definitions=[DEFINITION, NEW_DEFINITION])


def deliver(
    request: SubmitRequest,
    runs: FakeRunStore,
    jobs: FakeJobGateway,
    *,
    at: datetime = T0,
    settings: SubmitSettings = SETTINGS,
) -> SubmitResult:
    return submit_run(request, runs=runs, jobs=jobs, settings=settings, now=at)


def crashed_holder(runs: FakeRunStore, *, at: datetime = T0) -> None:
    """Another invocation claimed attempt 1 at ``at`` and then vanished, before or after SubmitJob."""
    claimed = runs.claim_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=job_name_for(RUN_ID, 1, SOURCE),
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at,
        claimed_until=epoch_seconds(at) + LEASE,
    )
    assert claimed.applied


def observed(
    status: RunStatus, *, attempt: int = 1, job_id: str = JOB_1, exit_code: int | None = None
) -> JobObservation:
    return JobObservation(
        run_id=RUN_ID,
        attempt=attempt,
        job_id=job_id,
        job_name=job_name_for(RUN_ID, attempt, SOURCE),
        job_queue=QUEUE,
        status=status,
        exit_code=exit_code,
    )


def waiting_for_attempt_2(runs: FakeRunStore) -> None:
    """The run as the tracker leaves it after attempt 1 failed with a retryable exit code."""
    crashed_holder(runs)
    written = runs.apply_observation(
        observed(RunStatus.FAILED, exit_code=75),
        now=seconds(60),
        new_status=RunStatus.RETRY_WAIT,
        next_attempt=2,
        next_attempt_at=seconds(90),
        side_effect=SideEffect(kind=SIDE_EFFECT_RETRY, token="t", due=epoch_seconds(seconds(90)) + LEASE, job_id=JOB_1),
    )
    assert written.applied


# ------------------------------------------------------------------------------------------ first claim
def test_the_first_delivery_claims_the_run_and_submits_its_job(runs: FakeRunStore, jobs: FakeJobGateway) -> None:
    # When
    result = deliver(FIRST, runs, jobs)

    # Then one job, named and tagged for the run, with its input as environment values
    (job,) = jobs.jobs
    assert result == SubmitResult(
        SubmitOutcome.SUBMITTED, RUN_ID, 1, job_name_for(RUN_ID, 1, SOURCE), job_id=job.job_id
    )
    assert (job.spec.job_name, job.spec.job_queue, job.spec.job_definition) == (result.job_name, QUEUE, DEFINITION)
    assert job.spec.tags == {
        RUN_ID_TAG: RUN_ID,
        ATTEMPT_TAG: "1",
        WORKLOAD_TAG: "default",
        SIZE_STEP_TAG: "0",
        SPOT_INTERRUPTIONS_TAG: "0",
    }
    assert job.spec.resources is None
    assert job.spec.environment == {
        "RUN_ID": RUN_ID,
        "RUN_ATTEMPT": "1",
        "TRIGGER": "s3",
        "INPUT_BUCKET": "in",
        "INPUT_KEY": "incoming/data.csv",
    }
    # And the run is recorded as SUBMITTED, its claim leased for LEASE seconds
    run = runs.get(RUN_ID)
    assert run is not None
    assert (run.status, run.attempt, run.claimed_until) == (RunStatus.SUBMITTED, 1, epoch_seconds(T0) + LEASE)
    # with what it was submitted with: the watchdog and the alerts read these back
    recorded = (run.source, run.job_name, run.job_queue, run.job_definition, run.max_attempts)
    assert recorded == (SOURCE, result.job_name, QUEUE, DEFINITION, 3)
    assert jobs.lookups == []


# ------------------------------------------------------------------------------------------ duplicates
def test_a_duplicate_delivery_while_the_claim_is_leased_submits_nothing(
    runs: FakeRunStore, jobs: FakeJobGateway
) -> None:
    # Given
    deliver(FIRST, runs, jobs)

    # When the same message is delivered again within the lease
    duplicate = deliver(FIRST, runs, jobs, at=seconds(LEASE - 1))

    # Then
    assert (duplicate.outcome, duplicate.detail) == (
        SubmitOutcome.DUPLICATE,
        "attempt is being submitted by another delivery",
    )
    assert len(jobs.jobs) == 1
    assert jobs.lookups == []


@pytest.mark.parametrize("status", [RunStatus.RUNNABLE, RunStatus.SUCCEEDED, RunStatus.FAILED])
def test_a_duplicate_delivery_after_the_job_reported_back_submits_nothing(
    runs: FakeRunStore, jobs: FakeJobGateway, status: RunStatus
) -> None:
    # Given a submitted job whose events reached the run
    deliver(FIRST, runs, jobs)
    assert runs.apply_observation(
        observed(status, job_id=jobs.jobs[0].job_id), now=seconds(30), new_status=status
    ).applied

    # When the message is delivered again long after the lease
    duplicate = deliver(FIRST, runs, jobs, at=seconds(10 * LEASE))

    # Then
    assert (duplicate.outcome, duplicate.detail) == (SubmitOutcome.DUPLICATE, f"attempt 1 is already {status.value}")
    assert len(jobs.jobs) == 1


def test_a_claim_held_by_another_invocation_is_left_to_it(runs: FakeRunStore, jobs: FakeJobGateway) -> None:
    # Given another invocation that claimed the run a moment ago and is still submitting
    crashed_holder(runs, at=seconds(-10))

    # When
    result = deliver(FIRST, runs, jobs)

    # Then
    assert result.outcome is SubmitOutcome.DUPLICATE
    assert jobs.jobs == []
    assert jobs.lookups == []


# ------------------------------------------------------------------------------------------ takeovers
def test_an_expired_claim_whose_holder_never_submitted_is_taken_over_and_submitted(
    runs: FakeRunStore, jobs: FakeJobGateway
) -> None:
    # Given a holder that crashed between its claim and SubmitJob
    crashed_holder(runs)

    # When a redelivery arrives after the lease
    result = deliver(FIRST, runs, jobs, at=seconds(LEASE + 1))

    # Then it looked for the job by name first, found none, and submitted one
    assert result.outcome is SubmitOutcome.SUBMITTED
    assert jobs.lookups == [(QUEUE, job_name_for(RUN_ID, 1, SOURCE))]
    assert [job.job_id for job in jobs.jobs] == [result.job_id]
    run = runs.get(RUN_ID)
    assert run is not None
    assert run.claimed_until == epoch_seconds(seconds(LEASE + 1)) + LEASE


def test_an_expired_claim_whose_holder_did_submit_adopts_that_job(runs: FakeRunStore, jobs: FakeJobGateway) -> None:
    # Given a holder that crashed after SubmitJob succeeded (its job exists; the run does not know it)
    crashed_holder(runs)
    holders_job = jobs.submit(
        JobSpec(
            job_name=job_name_for(RUN_ID, 1, SOURCE),
            job_queue=QUEUE,
            job_definition=DEFINITION,
            environment={},
            tags={},
        )
    )

    # When
    result = deliver(FIRST, runs, jobs, at=seconds(LEASE + 1))

    # Then no second job: the holder's is adopted
    assert (result.outcome, result.job_id) == (SubmitOutcome.ADOPTED, holders_job)
    assert len(jobs.jobs) == 1


def test_a_takeover_submits_with_the_current_definition_and_looks_in_the_stored_queue(
    runs: FakeRunStore, jobs: FakeJobGateway
) -> None:
    # Given a claim written before a deploy replaced the queue and deregistered the job definition
    crashed_holder(runs)
    jobs.deregister(DEFINITION)
    deployed = replace(SETTINGS, job_queue=NEW_QUEUE, job_definition=NEW_DEFINITION)

    # When
    result = deliver(FIRST, runs, jobs, at=seconds(LEASE + 1), settings=deployed)

    # Then the lookup searched where the old claim could have left its job; the job uses the new revision
    assert result.outcome is SubmitOutcome.SUBMITTED
    assert jobs.lookups == [(QUEUE, job_name_for(RUN_ID, 1, SOURCE))]
    (job,) = jobs.jobs
    assert (job.spec.job_queue, job.spec.job_definition) == (NEW_QUEUE, NEW_DEFINITION)
    # and the run records what the new claim submitted with
    run = runs.get(RUN_ID)
    assert run is not None
    assert (run.job_name, run.job_queue, run.job_definition) == (result.job_name, NEW_QUEUE, NEW_DEFINITION)


class _RacingStore(FakeRunStore):
    """Lets a rival delivery run between this delivery's read of an expired claim and its takeover."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: Callable[[], Any] | None = None

    def take_over_claim(self, **kwargs: Any) -> WriteResult:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        return super().take_over_claim(**kwargs)


def test_two_deliveries_racing_for_an_expired_claim_submit_once(jobs: FakeJobGateway) -> None:
    # Given an expired claim and two deliveries finding it at once
    runs = _RacingStore()
    crashed_holder(runs)
    later = seconds(LEASE + 1)
    rival_results: list[SubmitResult] = []
    runs.rival = lambda: rival_results.append(deliver(FIRST, runs, jobs, at=later))

    # When
    result = deliver(FIRST, runs, jobs, at=later)

    # Then the rival took the claim and submitted; this delivery stood down
    assert [r.outcome for r in rival_results] == [SubmitOutcome.SUBMITTED]
    assert (result.outcome, result.detail) == (SubmitOutcome.DUPLICATE, "claim taken over by another delivery")
    assert len(jobs.jobs) == 1


# ------------------------------------------------------------------------------------------ failed submissions
def test_a_refused_submission_releases_the_claim_and_the_next_delivery_submits_at_once(
    runs: FakeRunStore, jobs: FakeJobGateway
) -> None:
    # Given SubmitJob refused (throttled past the adapter's retries): AWS created nothing
    jobs.refuse_next("TooManyRequestsException")
    with pytest.raises(JobSubmitError) as refused:
        deliver(FIRST, runs, jobs)
    released = runs.get(RUN_ID)

    # When SQS redelivers the message, well within the original lease
    result = deliver(FIRST, runs, jobs, at=seconds(5))

    # Then
    assert refused.value.definitely_not_submitted
    assert released is not None
    assert (released.status, released.claimed_until) == (RunStatus.QUEUED, 0)
    assert result.outcome is SubmitOutcome.SUBMITTED
    assert jobs.lookups == []  # no job can exist: nothing to look for
    assert len(jobs.jobs) == 1


@pytest.mark.parametrize("job_created", [True, False], ids=["job created", "job not created"])
def test_a_submission_whose_answer_was_lost_keeps_its_claim_until_the_lease_ends(
    runs: FakeRunStore, jobs: FakeJobGateway, job_created: bool
) -> None:
    # Given SubmitJob's answer lost: the job may or may not exist
    jobs.lose_next_answer(job_created=job_created)
    with pytest.raises(JobSubmitError) as unknown:
        deliver(FIRST, runs, jobs)

    # When SQS redelivers within the lease, and again after it
    within = deliver(FIRST, runs, jobs, at=seconds(LEASE - 1))
    after = deliver(FIRST, runs, jobs, at=seconds(LEASE + 1))

    # Then nothing is decided while the claim may still be in use; afterwards exactly one job exists
    assert not unknown.value.definitely_not_submitted
    assert within.outcome is SubmitOutcome.DUPLICATE
    assert after.outcome is (SubmitOutcome.ADOPTED if job_created else SubmitOutcome.SUBMITTED)
    (job,) = jobs.jobs
    assert after.job_id == job.job_id


# ------------------------------------------------------------------------------------------ retry attempts
def test_a_retry_request_claims_the_waiting_attempt_and_submits_it(runs: FakeRunStore, jobs: FakeJobGateway) -> None:
    # Given
    waiting_for_attempt_2(runs)

    # When
    result = deliver(SubmitRequest(RUN_ID, 2, SOURCE), runs, jobs, at=seconds(120))

    # Then
    (job,) = jobs.jobs
    assert (result.outcome, result.job_name) == (SubmitOutcome.SUBMITTED, job_name_for(RUN_ID, 2, SOURCE))
    assert (job.spec.tags[ATTEMPT_TAG], job.spec.environment["RUN_ATTEMPT"]) == ("2", "2")
    run = runs.get(RUN_ID)
    assert run is not None
    assert (run.status, run.attempt, run.side_effect) == (RunStatus.SUBMITTED, 2, None)
    assert (run.job_name, run.job_queue, run.job_definition) == (result.job_name, QUEUE, DEFINITION)


@pytest.mark.parametrize(
    ("attempt", "detail"),
    [
        (3, "run is at attempt 2 (RETRY_WAIT), not waiting for attempt 3"),
        (1, "run is already at attempt 2"),
    ],
    ids=["a later attempt", "a redelivered first attempt"],
)
def test_a_request_for_another_attempt_than_the_waiting_one_is_a_duplicate(
    runs: FakeRunStore, jobs: FakeJobGateway, attempt: int, detail: str
) -> None:
    # Given
    waiting_for_attempt_2(runs)

    # When
    result = deliver(SubmitRequest(RUN_ID, attempt, SOURCE), runs, jobs, at=seconds(120))

    # Then
    assert (result.outcome, result.detail) == (SubmitOutcome.DUPLICATE, detail)
    assert jobs.jobs == []


def test_a_retry_for_a_run_that_no_longer_exists_is_a_duplicate(runs: FakeRunStore, jobs: FakeJobGateway) -> None:
    # When a retry request arrives for a run the table does not hold (it expired, or was deleted)
    result = deliver(SubmitRequest(RUN_ID, 2, SOURCE), runs, jobs)

    # Then
    assert (result.outcome, result.detail) == (SubmitOutcome.DUPLICATE, "run no longer exists")
    assert jobs.jobs == []


def test_a_refused_retry_is_submitted_by_the_next_delivery_of_its_request(
    runs: FakeRunStore, jobs: FakeJobGateway
) -> None:
    # Given attempt 2's SubmitJob refused
    waiting_for_attempt_2(runs)
    retry = SubmitRequest(RUN_ID, 2, SOURCE)
    jobs.refuse_next()
    with pytest.raises(JobSubmitError):
        deliver(retry, runs, jobs, at=seconds(120))

    # When SQS redelivers the retry request
    result = deliver(retry, runs, jobs, at=seconds(125))

    # Then
    assert result.outcome is SubmitOutcome.SUBMITTED
    (job,) = jobs.jobs
    assert job.spec.tags[ATTEMPT_TAG] == "2"


# ------------------------------------------------------------------------------------------ the handler
def test_every_submit_outcome_has_a_metric() -> None:
    # When
    app = load_handler("submit_jobs")

    # Then a new outcome cannot be added without deciding its metric
    assert set(app.OUTCOME_METRICS) == set(SubmitOutcome)
