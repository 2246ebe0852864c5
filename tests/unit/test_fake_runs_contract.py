# Over 400 lines on purpose: one contract table: every RunsTable operation, each on the fake and on moto.
"""The in-memory runs table (tests/support/fake_runs.py) keeps RunsTable's contract (batch_orchestrator.ports).

Every test runs twice, against the fake ("memory") and against RunsTable on a moto table shaped like
template.yaml's, with the same assertions; a differential test then plays one script of every write on
both and requires identical answers, field for field. A fake that drifts from the adapter fails here
before a logic test built on it can pass for the wrong reason.

Over 400 lines because the runs table's Protocols hold eleven conditional writes and an index, each
with a contract of its own; the other fakes' contracts are in test_fakes_contract.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import (
    SIDE_EFFECT_ALERT,
    SIDE_EFFECT_RETRY,
    AttemptRecord,
    JobObservation,
    RunStatus,
    S3Source,
    SideEffect,
    progress_of,
)
from batch_orchestrator.ports import WriteResult
from batch_orchestrator.timeutil import epoch_seconds, iso
from tests.support.aws_doubles import ReadableRunsTable, runs_table_in_moto
from tests.support.fakes import FakeWatchdogStore

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LEASE = 90
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/jobs-queue"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/jobs-definition:1"
NEW_QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/jobs-queue-2"
NEW_DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/jobs-definition:2"
SOURCE = S3Source(bucket="in", key="incoming/a.csv", sequencer="01")
RUN_ID = run_id_for(SOURCE)
JOB_1 = "0f0e0d0c-0000-4000-8000-000000000001"
JOB_2 = "0f0e0d0c-0000-4000-8000-000000000002"
FAR_FUTURE = T0 + timedelta(days=365)

Store = FakeWatchdogStore | ReadableRunsTable


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def lease_at(minutes: float) -> int:
    return epoch_seconds(at(minutes)) + LEASE


def claim(store: Store, *, minutes: float = 0, source: S3Source = SOURCE) -> WriteResult:
    run_id = run_id_for(source)
    return store.claim_first_attempt(
        run_id=run_id,
        source=source,
        job_name=job_name_for(run_id, 1, source),
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at(minutes),
        claimed_until=lease_at(minutes),
    )


def claim_retry(store: Store, attempt: int, *, minutes: float = 1) -> WriteResult:
    return store.claim_retry_attempt(
        run_id=RUN_ID,
        attempt=attempt,
        job_name=job_name_for(RUN_ID, attempt, SOURCE),
        job_queue=QUEUE,
        job_definition=DEFINITION,
        now=at(minutes),
        claimed_until=lease_at(minutes),
    )


def take_over(store: Store, previous_until: int, *, minutes: float = 2) -> WriteResult:
    return store.take_over_claim(
        run_id=RUN_ID,
        attempt=1,
        previous_until=previous_until,
        job_queue=NEW_QUEUE,
        job_definition=NEW_DEFINITION,
        now=at(minutes),
        claimed_until=lease_at(minutes),
    )


def observation(
    status: RunStatus,
    *,
    attempt: int = 1,
    job_id: str = JOB_1,
    exit_code: int | None = None,
    run_id: str = RUN_ID,
    source: S3Source = SOURCE,
) -> JobObservation:
    finished = status.is_terminal
    return JobObservation(
        run_id=run_id,
        attempt=attempt,
        job_id=job_id,
        job_name=job_name_for(run_id, attempt, source),
        job_queue=QUEUE,
        status=status,
        status_reason="Essential container in task exited" if finished else None,
        exit_code=exit_code,
        log_stream_name="jobs/default/abc" if status is RunStatus.RUNNING or finished else None,
        started_at=1_700_000_000_000 if finished else None,
        stopped_at=1_700_000_060_000 if finished else None,
    )


def active(store: Store, status: RunStatus, before: datetime = FAR_FUTURE) -> list[str]:
    return [entry.run.run_id for page in store.active_runs(status=status, updated_before=before) for entry in page.runs]


def test_a_first_claim_creates_the_run_and_any_later_one_is_refused_with_it(store: Store) -> None:
    # When
    first = claim(store)
    second = claim(store, minutes=1)

    # Then
    assert first == WriteResult(applied=True, run=None)
    assert not second.applied
    run = second.run
    assert run is not None
    assert (run.status, run.attempt, run.progress) == (RunStatus.SUBMITTED, 1, progress_of(1, RunStatus.SUBMITTED))
    assert (run.claimed_until, run.created_at, run.updated_at) == (lease_at(0), iso(T0), iso(T0))
    assert (run.job_queue, run.job_definition, run.job_id) == (QUEUE, DEFINITION, None)
    assert store.get(RUN_ID) == run


def test_a_retry_claim_needs_the_run_waiting_for_exactly_that_attempt(store: Store) -> None:
    # Given no run, then a run at attempt 1
    assert claim_retry(store, 2) == WriteResult(applied=False, run=None)
    claim(store)
    refused_while_submitted = claim_retry(store, 2)
    retry = SideEffect(kind=SIDE_EFFECT_RETRY, token="t1", due=lease_at(1), job_id=JOB_1)
    store.apply_observation(
        observation(RunStatus.FAILED, exit_code=75),
        now=at(1),
        new_status=RunStatus.RETRY_WAIT,
        next_attempt=2,
        next_attempt_at=at(1.5),
        side_effect=retry,
    )

    # When
    wrong_attempt = claim_retry(store, 3)
    claimed = claim_retry(store, 2, minutes=2)

    # Then
    assert not refused_while_submitted.applied
    assert refused_while_submitted.run is not None
    assert refused_while_submitted.run.status is RunStatus.SUBMITTED
    assert not wrong_attempt.applied
    assert claimed == WriteResult(applied=True, run=None)
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.status, run.attempt, run.progress) == (RunStatus.SUBMITTED, 2, progress_of(2, RunStatus.SUBMITTED))
    assert (run.side_effect, run.job_id, run.exit_code, run.next_attempt_at) == (None, None, None, None)
    assert (run.last_job_id, run.job_name) == (JOB_1, job_name_for(RUN_ID, 2, SOURCE))


def test_a_claim_is_taken_over_only_by_whoever_saw_its_lease(store: Store) -> None:
    # Given
    claim(store)

    # When
    wrong = take_over(store, lease_at(0) + 1)
    taken = take_over(store, lease_at(0))
    again = take_over(store, lease_at(0), minutes=3)

    # Then
    assert not wrong.applied
    assert taken == WriteResult(applied=True, run=None)
    assert not again.applied
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.claimed_until, run.job_queue, run.job_definition) == (lease_at(2), NEW_QUEUE, NEW_DEFINITION)
    assert (run.status, run.progress, run.updated_at) == (
        RunStatus.SUBMITTED,
        progress_of(1, RunStatus.SUBMITTED),
        iso(at(2)),
    )


def test_a_released_claim_is_queued_without_a_lease_and_taken_over_keeping_its_progress(store: Store) -> None:
    # Given
    claim(store)

    # When
    not_mine = store.release_claim(run_id=RUN_ID, attempt=1, claimed_until=lease_at(0) + 1, error="x", now=at(1))
    released = store.release_claim(run_id=RUN_ID, attempt=1, claimed_until=lease_at(0), error="refused", now=at(1))
    queued = store.get(RUN_ID)
    taken = take_over(store, 0)

    # Then
    assert not not_mine.applied
    assert released == WriteResult(applied=True, run=None)
    assert queued is not None
    assert (queued.status, queued.claimed_until, queued.progress) == (
        RunStatus.QUEUED,
        0,
        progress_of(1, RunStatus.QUEUED),
    )
    assert taken.applied
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.status, run.progress) == (RunStatus.SUBMITTED, progress_of(1, RunStatus.QUEUED))


def test_observations_move_the_run_forward_for_its_own_attempt_and_job_only(store: Store) -> None:
    # Given no run, then a claimed run
    missing = store.apply_observation(observation(RunStatus.RUNNING), now=at(1), new_status=RunStatus.RUNNING)
    claim(store)

    # When
    running = store.apply_observation(observation(RunStatus.RUNNING), now=at(1), new_status=RunStatus.RUNNING)
    duplicate = store.apply_observation(observation(RunStatus.RUNNING), now=at(2), new_status=RunStatus.RUNNING)
    late = store.apply_observation(observation(RunStatus.RUNNABLE), now=at(2), new_status=RunStatus.RUNNABLE)
    other_attempt = store.apply_observation(
        observation(RunStatus.SUCCEEDED, attempt=2, exit_code=0), now=at(2), new_status=RunStatus.SUCCEEDED
    )
    other_job = store.apply_observation(
        observation(RunStatus.SUCCEEDED, job_id=JOB_2, exit_code=0), now=at(2), new_status=RunStatus.SUCCEEDED
    )
    succeeded = store.apply_observation(
        observation(RunStatus.SUCCEEDED, exit_code=0), now=at(3), new_status=RunStatus.SUCCEEDED
    )

    # Then
    assert missing == WriteResult(applied=False, run=None)
    assert running.applied
    assert running.run is not None
    assert (running.run.status, running.run.job_id, running.run.claimed_until) == (RunStatus.RUNNING, JOB_1, None)
    assert [duplicate.applied, late.applied, other_attempt.applied, other_job.applied] == [False] * 4
    assert duplicate.run == late.run == running.run
    assert succeeded.applied
    assert succeeded.run is not None
    assert succeeded.run.history == (
        AttemptRecord(
            attempt=1,
            job_id=JOB_1,
            status=RunStatus.SUCCEEDED,
            exit_code=0,
            log_stream_name="jobs/default/abc",
            started_at=1_700_000_000_000,
            stopped_at=1_700_000_060_000,
        ),
    )
    assert all(RUN_ID not in active(store, status) for status in RunStatus)


def test_a_retry_wait_moves_the_run_to_its_next_attempt_and_needs_one(store: Store) -> None:
    # Given
    claim(store)
    failed = observation(RunStatus.FAILED, exit_code=75)
    retry = SideEffect(kind=SIDE_EFFECT_RETRY, token="t1", due=lease_at(1), job_id=JOB_1)

    # When
    with pytest.raises(ValueError, match="RETRY_WAIT needs the next attempt"):
        store.apply_observation(failed, now=at(1), new_status=RunStatus.RETRY_WAIT)
    written = store.apply_observation(
        failed, now=at(1), new_status=RunStatus.RETRY_WAIT, next_attempt=2, next_attempt_at=at(1.5), side_effect=retry
    )

    # Then
    run = written.run
    assert written.applied
    assert run is not None
    assert (run.status, run.attempt, run.progress) == (RunStatus.RETRY_WAIT, 2, progress_of(2, RunStatus.RETRY_WAIT))
    assert (run.job_id, run.last_job_id, run.next_attempt_at) == (None, JOB_1, iso(at(1.5)))
    assert run.side_effect == retry
    assert [(record.attempt, record.exit_code, record.reason) for record in run.history] == [
        (1, 75, "Essential container in task exited")
    ]
    assert active(store, RunStatus.RETRY_WAIT) == [RUN_ID]


def test_a_side_effect_is_taken_over_and_completed_by_its_token_only(store: Store) -> None:
    # Given a run that failed for good and owes its alert
    claim(store)
    alert = SideEffect(kind=SIDE_EFFECT_ALERT, token="first", due=lease_at(1), job_id=JOB_1)
    store.apply_observation(
        observation(RunStatus.FAILED, exit_code=2), now=at(1), new_status=RunStatus.FAILED, side_effect=alert
    )

    # When
    wrong = store.take_over_side_effect(run_id=RUN_ID, previous_token="other", token="x", due=1)
    taken = store.take_over_side_effect(run_id=RUN_ID, previous_token="first", token="second", due=lease_at(5))
    stale_completion = store.complete_side_effect(run_id=RUN_ID, token="first", now=at(5))
    in_index_before = active(store, RunStatus.FAILED)
    completed = store.complete_side_effect(run_id=RUN_ID, token="second", now=at(5))

    # Then
    assert not wrong.applied
    assert taken.applied
    assert taken.run is not None
    assert taken.run.side_effect == SideEffect(kind=SIDE_EFFECT_ALERT, token="second", due=lease_at(5), job_id=JOB_1)
    assert not stale_completion.applied
    assert completed == WriteResult(applied=True, run=None)
    run = store.get(RUN_ID)
    assert run is not None
    assert run.side_effect is None
    assert (in_index_before, active(store, RunStatus.FAILED)) == ([RUN_ID], [])
    assert store.take_over_side_effect(run_id="s3-" + "0" * 24, previous_token="a", token="b", due=1) == WriteResult(
        applied=False, run=None
    )


def test_a_blocked_queue_alert_is_leased_once_and_confirmed_for_good(store: Store) -> None:
    def take(minutes: float) -> bool:
        return store.claim_queue_blocked_alert(
            job_id=JOB_1, job_queue=QUEUE, run_id=None, now=at(minutes), lease_until=lease_at(minutes)
        )

    # When / Then
    assert take(0)
    assert not take(1)  # leased to the first delivery
    assert take(2)  # its holder died: the lease expired
    store.confirm_queue_blocked_alert(job_id=JOB_1, now=at(2))
    assert not take(60 * 24)
    store.confirm_queue_blocked_alert(job_id=JOB_2, now=at(2))  # nothing to confirm: no error


def test_the_active_index_holds_what_someone_must_act_on_oldest_first(store: Store) -> None:
    # Given three claims a minute apart
    sources = [S3Source(bucket="in", key=f"incoming/{name}.csv", sequencer="01") for name in "abc"]
    ids = [run_id_for(source) for source in sources]
    for minutes, source in enumerate(sources):
        claim(store, minutes=minutes, source=source)

    # When the first succeeds
    store.apply_observation(
        observation(RunStatus.SUCCEEDED, exit_code=0, run_id=ids[0], source=sources[0]),
        now=at(5),
        new_status=RunStatus.SUCCEEDED,
    )

    # Then the index holds the other two, oldest first, and a cut-off in time leaves out the newer
    pages = list(store.active_runs(status=RunStatus.SUBMITTED, updated_before=FAR_FUTURE))
    assert [entry.run.run_id for page in pages for entry in page.runs] == ids[1:]
    assert sum(page.items_read for page in pages) == 2
    assert active(store, RunStatus.SUBMITTED, before=at(1.5)) == [ids[1]]
    assert active(store, RunStatus.RUNNING) == []


def test_a_mark_is_made_once_per_episode_and_only_on_the_run_as_read(store: Store) -> None:
    # Given
    claim(store)
    read = store.get(RUN_ID)
    assert read is not None

    # When
    first = store.mark_stuck_alerted(run=read, episode="e1", now=at(20))
    again = store.mark_stuck_alerted(run=read, episode="e1", now=at(21))
    next_episode = store.mark_stuck_alerted(run=read, episode="e2", now=at(22))
    cancel = store.mark_cancel_requested(run=read, episode="e2", now=at(22))
    store.apply_observation(observation(RunStatus.RUNNING), now=at(23), new_status=RunStatus.RUNNING)
    moved = store.mark_cancel_requested(run=read, episode="e3", now=at(24))

    # Then
    assert first == WriteResult(applied=True, run=None)
    assert not again.applied
    assert next_episode.applied
    assert cancel.applied
    assert not moved.applied
    (entry,) = [
        entry for page in store.active_runs(status=RunStatus.RUNNING, updated_before=FAR_FUTURE) for entry in page.runs
    ]
    assert (entry.stuck_alerted_for, entry.cancel_requested_for) == ("e2", "e2")


def test_resubmission_marks_stop_at_the_cap_and_a_lost_one_may_be_taken_again(store: Store) -> None:
    # Given
    claim(store)
    read = store.get(RUN_ID)
    assert read is not None

    def mark(episode: str, resubmissions: int, minutes: float, lost_before: datetime | None = None) -> bool:
        written = store.mark_resubmitted(
            run=read,
            episode=episode,
            resubmissions=resubmissions,
            max_resubmissions=2,
            now=at(minutes),
            lost_before=lost_before,
        )
        return written.applied

    # When / Then
    assert mark("e1", 0, 11)
    assert not mark("e1", 1, 12)  # the same stale claim, resubmitted already
    assert mark("e1", 1, 25, lost_before=at(15))  # that resubmission moved nothing: lost
    assert not mark("e2", 2, 40)  # two resubmissions: the cap
    (entry,) = [
        entry
        for page in store.active_runs(status=RunStatus.SUBMITTED, updated_before=FAR_FUTURE)
        for entry in page.runs
    ]
    assert (entry.resubmissions, entry.resubmitted_for, entry.resubmitted_at) == (2, "e1", iso(at(25)))


def _life_of_two_runs(store: Store) -> list[Any]:
    """Every write of the Protocols on two runs, and what the index shows between them."""
    other = S3Source(bucket="in", key="incoming/other.csv", sequencer="02")
    other_id = run_id_for(other)
    answers: list[Any] = []

    def snapshot() -> None:
        for status in RunStatus:
            answers.append([page.runs for page in store.active_runs(status=status, updated_before=FAR_FUTURE)])

    answers += [claim(store), claim(store, minutes=1), claim(store, minutes=0.5, source=other)]
    answers.append(store.release_claim(run_id=RUN_ID, attempt=1, claimed_until=lease_at(0), error="refused", now=at(1)))
    answers.append(take_over(store, 0, minutes=2))
    snapshot()
    minutes: float
    for status, minutes in ((RunStatus.RUNNABLE, 3), (RunStatus.RUNNING, 4), (RunStatus.PENDING, 5)):
        answers.append(store.apply_observation(observation(status), now=at(minutes), new_status=status))
    read = store.get(RUN_ID)
    assert read is not None
    answers.append(store.mark_stuck_alerted(run=read, episode="e", now=at(6)))
    answers.append(store.mark_resubmitted(run=read, episode="e", resubmissions=0, max_resubmissions=3, now=at(6)))
    answers.append(store.mark_cancel_requested(run=read, episode="e", now=at(6)))
    answers.append(
        store.apply_observation(
            observation(RunStatus.FAILED, exit_code=75),
            now=at(7),
            new_status=RunStatus.RETRY_WAIT,
            next_attempt=2,
            next_attempt_at=at(8),
            side_effect=SideEffect(kind=SIDE_EFFECT_RETRY, token="r1", due=lease_at(8), job_id=JOB_1),
        )
    )
    snapshot()
    answers.append(store.take_over_side_effect(run_id=RUN_ID, previous_token="r1", token="r2", due=lease_at(9)))
    answers.append(claim_retry(store, 2, minutes=9))
    answers.append(
        store.apply_observation(
            observation(RunStatus.FAILED, attempt=2, job_id=JOB_2, exit_code=2),
            now=at(10),
            new_status=RunStatus.FAILED,
            side_effect=SideEffect(kind=SIDE_EFFECT_ALERT, token="a1", due=lease_at(10), job_id=JOB_2),
        )
    )
    answers.append(store.apply_observation(observation(RunStatus.RUNNING), now=at(11), new_status=RunStatus.RUNNING))
    snapshot()
    answers.append(store.complete_side_effect(run_id=RUN_ID, token="a1", now=at(11)))
    answers.append(
        store.apply_observation(
            observation(RunStatus.SUCCEEDED, exit_code=0, run_id=other_id, source=other),
            now=at(12),
            new_status=RunStatus.SUCCEEDED,
        )
    )
    for minutes in (12, 12.5, 14):
        answers.append(
            store.claim_queue_blocked_alert(
                job_id=JOB_2, job_queue=QUEUE, run_id=RUN_ID, now=at(minutes), lease_until=lease_at(minutes)
            )
        )
    store.confirm_queue_blocked_alert(job_id=JOB_2, now=at(14))
    snapshot()
    answers += [store.get(RUN_ID), store.get(other_id)]
    return answers


def test_the_fake_answers_a_whole_life_of_writes_exactly_as_the_table_does() -> None:
    # Given / When
    in_memory = _life_of_two_runs(FakeWatchdogStore())
    with runs_table_in_moto() as table:
        in_dynamodb = _life_of_two_runs(table)

    # Then
    assert len(in_memory) == len(in_dynamodb)
    for step, (fake, real) in enumerate(zip(in_memory, in_dynamodb, strict=True)):
        assert fake == real, f"step {step}"
