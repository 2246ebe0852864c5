# Over 400 lines on purpose: one decision table (the tracker on the fakes) whose builders every section uses.
"""The tracker's decisions (batch_orchestrator.tracking) on the in-memory fakes (tests/support/fakes.py).

An observation is applied, or found stale; a FAILED attempt owes a retry or an alert, written with the
state and performed after it under a lease; a later delivery performs what a dead worker left undone
once its lease has expired, but only for the job that owed it. No emulator: every test is milliseconds.
Just over 400 lines: one section per decision of tracking.py, each with the setup that reaches it.
"""

from __future__ import annotations

from copy import replace
from datetime import UTC, datetime, timedelta

import pytest

from batch_orchestrator.alerts import ALERT_QUEUE_BLOCKED, ALERT_RUN_FAILED
from batch_orchestrator.errors import AlertPublishError, RetryEnqueueError
from batch_orchestrator.ids import job_name_for
from batch_orchestrator.models import (
    SIDE_EFFECT_ALERT,
    SIDE_EFFECT_RETRY,
    JobObservation,
    QueueBlocked,
    RunStatus,
    SubmitRequest,
)
from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.tracking import (
    TrackOutcome,
    TrackResult,
    TrackSettings,
    apply_job_event,
    handle_queue_blocked,
    recover_side_effect,
)
from tests.support.decision_values import DEFINITION, JOB_1, JOB_2, QUEUE, RUN_ID, SOURCE, T0
from tests.support.fakes import FakeAlertSink, FakeRetryQueue, FakeRunStore
from tests.support.handlers import load_handler

LEASE = 120
SETTINGS = TrackSettings(
    policy=RetryPolicy(
        retry_exit_codes=ExitCodeSet.parse("75"), max_attempts=3, base_delay_seconds=30, max_delay_seconds=900
    ),
    side_effect_lease_seconds=LEASE,
    region="us-east-1",
    job_log_group="/aws/batch/jobs",
)
RETRYABLE, FINAL = 75, 2


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def runs() -> FakeRunStore:
    """A run of attempt 1, claimed and submitted at T0 (Batch has not reported back yet)."""
    store = FakeRunStore()
    claimed = store.claim_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=job_name_for(RUN_ID, 1, SOURCE),
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=T0,
        claimed_until=epoch_seconds(T0) + 90,
    )
    assert claimed.applied
    return store


@pytest.fixture
def retry_queue() -> FakeRetryQueue:
    return FakeRetryQueue()


@pytest.fixture
def alerts() -> FakeAlertSink:
    return FakeAlertSink()


def event(
    status: RunStatus,
    *,
    attempt: int = 1,
    job_id: str = JOB_1,
    exit_code: int | None = None,
    batch_attempts: int = 1,
) -> JobObservation:
    """What a "Batch Job State Change" event of the run's job says (see batch_events)."""
    finished = status.is_terminal
    return JobObservation(
        run_id=RUN_ID,
        attempt=attempt,
        job_id=job_id,
        job_name=job_name_for(RUN_ID, attempt, SOURCE),
        job_queue=QUEUE,
        status=status,
        batch_attempts=batch_attempts if status in (RunStatus.RUNNING, RunStatus.STARTING) or finished else 0,
        status_reason="Essential container in task exited" if finished else None,
        exit_code=exit_code,
        log_stream_name="jobs/default/0f1e2d3c" if finished else None,
        started_at=epoch_seconds(T0) * 1000 + 60_000 if finished else None,
        stopped_at=epoch_seconds(T0) * 1000 + 120_000 if finished else None,
    )


def track(
    observation: JobObservation,
    runs: FakeRunStore,
    retry_queue: FakeRetryQueue,
    alerts: FakeAlertSink,
    *,
    at: datetime,
    settings: TrackSettings = SETTINGS,
) -> TrackResult:
    return apply_job_event(observation, runs=runs, retry_queue=retry_queue, alerts=alerts, settings=settings, now=at)


def submit_attempt(runs: FakeRunStore, attempt: int, *, at: datetime) -> None:
    """What the submit path does with the retry request: claim the attempt (its job is then JOB_<attempt>)."""
    claimed = runs.claim_retry_attempt(
        run_id=RUN_ID,
        attempt=attempt,
        job_name=job_name_for(RUN_ID, attempt, SOURCE),
        job_queue=QUEUE,
        job_definition=DEFINITION,
        now=at,
        claimed_until=epoch_seconds(at) + 90,
    )
    assert claimed.applied


# ------------------------------------------------------------------------------------------ observations
def test_observations_that_move_the_run_forward_are_applied(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # When
    runnable = track(event(RunStatus.RUNNABLE), runs, retry_queue, alerts, at=minutes(1))
    running = track(event(RunStatus.RUNNING), runs, retry_queue, alerts, at=minutes(2))

    # Then
    assert runnable == TrackResult(TrackOutcome.UPDATED, RUN_ID, RunStatus.RUNNABLE)
    assert running == TrackResult(TrackOutcome.UPDATED, RUN_ID, RunStatus.RUNNING)
    run = runs.get(RUN_ID)
    assert run is not None
    assert (run.status, run.job_id, run.claimed_until) == (RunStatus.RUNNING, JOB_1, None)


def test_a_duplicate_or_late_observation_changes_nothing(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # Given
    track(event(RunStatus.RUNNING), runs, retry_queue, alerts, at=minutes(2))
    before = runs.get(RUN_ID)

    # When the same event comes again, then an older one
    duplicate = track(event(RunStatus.RUNNING), runs, retry_queue, alerts, at=minutes(3))
    late = track(event(RunStatus.RUNNABLE), runs, retry_queue, alerts, at=minutes(4))

    # Then
    assert duplicate == late == TrackResult(TrackOutcome.STALE, RUN_ID, RunStatus.RUNNING)
    assert runs.get(RUN_ID) == before


def test_an_event_of_a_run_the_table_does_not_hold_is_reported_unknown(
    retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # When
    result = track(event(RunStatus.RUNNING), FakeRunStore(), retry_queue, alerts, at=minutes(1))

    # Then
    assert result.outcome is TrackOutcome.UNKNOWN_RUN


def test_success_finishes_the_run_and_takes_it_out_of_the_index(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # When
    result = track(event(RunStatus.SUCCEEDED, exit_code=0), runs, retry_queue, alerts, at=minutes(3))

    # Then
    assert result == TrackResult(TrackOutcome.SUCCEEDED, RUN_ID, RunStatus.SUCCEEDED)
    assert runs.active_status(RUN_ID) is None
    assert (retry_queue.sent, alerts.published) == ([], [])


# ------------------------------------------------------------------------------------------ failures
def test_a_final_failure_is_alerted_once_with_the_attempts_facts(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # When the FAILED event arrives, and again (EventBridge delivers at least once)
    failed = track(event(RunStatus.FAILED, exit_code=FINAL), runs, retry_queue, alerts, at=minutes(3))
    duplicate = track(event(RunStatus.FAILED, exit_code=FINAL), runs, retry_queue, alerts, at=minutes(30))

    # Then one alert, naming the exit code and the attempt, and the run no longer owes it
    assert failed.outcome is TrackOutcome.FAILED
    assert "exit code 2 is not in the retry list" in failed.detail
    assert duplicate.outcome is TrackOutcome.STALE
    (alert,) = alerts.published
    assert alert.alert_type == ALERT_RUN_FAILED
    assert alert.subject == "Batch job failed: data.csv (exit 2, attempt 1/3)"
    assert (alert.details["exitCode"], alert.details["jobId"], alert.details["runId"]) == (FINAL, JOB_1, RUN_ID)
    run = runs.get(RUN_ID)
    assert run is not None
    assert (run.status, run.side_effect) == (RunStatus.FAILED, None)
    assert runs.active_status(RUN_ID) is None
    assert runs.alert_sent_at(RUN_ID) is not None
    assert retry_queue.sent == []


def test_a_retryable_exit_code_schedules_the_next_attempt_once(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # When
    failed = track(event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=minutes(3))
    duplicate = track(event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=minutes(4))

    # Then one retry request, for attempt 2, delayed by the backoff (base 30 s, equal jitter)
    assert failed.outcome is TrackOutcome.RETRY_SCHEDULED
    assert duplicate.outcome is TrackOutcome.STALE
    (sent,) = retry_queue.sent
    assert sent.request == SubmitRequest(RUN_ID, 2, SOURCE)
    assert 15 <= sent.delay_seconds <= 30
    run = runs.get(RUN_ID)
    assert run is not None
    assert (run.status, run.attempt, run.last_job_id) == (RunStatus.RETRY_WAIT, 2, JOB_1)
    assert run.side_effect is not None
    assert run.side_effect.kind == SIDE_EFFECT_RETRY
    assert alerts.published == []


def test_a_retryable_failure_of_the_last_attempt_is_alerted_instead(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # Given a policy of one attempt
    one_attempt = replace(SETTINGS, policy=replace(SETTINGS.policy, max_attempts=1))

    # When
    result = track(
        event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=minutes(3), settings=one_attempt
    )

    # Then
    assert result.outcome is TrackOutcome.FAILED
    assert "attempts exhausted (1 of 1)" in result.detail
    assert [alert.alert_type for alert in alerts.published] == [ALERT_RUN_FAILED]
    assert retry_queue.sent == []


# ------------------------------------------------------------------------------------------ side-effect leases
def test_an_alert_whose_worker_died_is_sent_by_a_delivery_after_its_lease(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # Given the FAILED event applied, but SNS unreachable: the alert is owed, leased to the dead worker
    alerts.fail_next()
    with pytest.raises(AlertPublishError):
        track(event(RunStatus.FAILED, exit_code=FINAL), runs, retry_queue, alerts, at=minutes(3))
    leased = runs.get(RUN_ID)

    # When the event is redelivered before the lease expires, after it, and once more
    early = track(event(RunStatus.FAILED, exit_code=FINAL), runs, retry_queue, alerts, at=minutes(3.5))
    expired = minutes(3) + timedelta(seconds=LEASE + 1)
    recovered = track(event(RunStatus.FAILED, exit_code=FINAL), runs, retry_queue, alerts, at=expired)
    after = track(event(RunStatus.FAILED, exit_code=FINAL), runs, retry_queue, alerts, at=minutes(60))

    # Then the alert went out exactly once, by the delivery that found the lease expired
    assert leased is not None
    assert leased.side_effect is not None
    assert leased.side_effect.kind == SIDE_EFFECT_ALERT
    assert [early.outcome, recovered.outcome, after.outcome] == [
        TrackOutcome.STALE,
        TrackOutcome.RECOVERED,
        TrackOutcome.STALE,
    ]
    (alert,) = alerts.published
    assert "exit 2, attempt 1/3" in alert.subject
    assert "exit code 2 is not in the retry list" in alert.details["decision"]
    assert runs.active_status(RUN_ID) is None


def test_a_retry_whose_worker_died_is_sent_by_a_delivery_after_its_lease(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # Given the FAILED event applied, but SQS unreachable: the retry is owed
    retry_queue.fail_next()
    with pytest.raises(RetryEnqueueError):
        track(event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=minutes(3))
    leased = runs.get(RUN_ID)
    assert leased is not None
    assert leased.side_effect is not None
    due = datetime.fromtimestamp(leased.side_effect.due, tz=UTC)

    # When the event is redelivered before its lease (the retry's delay plus the lease) and after
    early = track(
        event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=due - timedelta(seconds=1)
    )
    recovered = track(event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=due)

    # Then one retry request, for attempt 2, sent without a further delay (it is late already)
    assert (early.outcome, recovered.outcome) == (TrackOutcome.STALE, TrackOutcome.RECOVERED)
    (sent,) = retry_queue.sent
    assert (sent.request, sent.delay_seconds) == (SubmitRequest(RUN_ID, 2, SOURCE), 0)


def test_a_lease_another_worker_took_over_first_is_left_to_it(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink
) -> None:
    # Given an alert lease expired, and two workers that read the run before either acted
    alerts.fail_next()
    with pytest.raises(AlertPublishError):
        track(event(RunStatus.FAILED, exit_code=FINAL), runs, retry_queue, alerts, at=minutes(3))
    read_by_both = runs.get(RUN_ID)
    assert read_by_both is not None
    later = minutes(30)

    # When both try to take it over
    first = recover_side_effect(
        read_by_both, event(RunStatus.FAILED, exit_code=FINAL), runs=runs, retry_queue=retry_queue, alerts=alerts,
        settings=SETTINGS, now=later,
    )  # fmt: skip
    second = recover_side_effect(
        read_by_both, event(RunStatus.FAILED, exit_code=FINAL), runs=runs, retry_queue=retry_queue, alerts=alerts,
        settings=SETTINGS, now=later,
    )  # fmt: skip

    # Then only the first performs it
    assert (first, second) == (True, False)
    assert len(alerts.published) == 1


@pytest.mark.parametrize(
    ("second_exit_code", "owed"),
    [(FINAL, SIDE_EFFECT_ALERT), (RETRYABLE, SIDE_EFFECT_RETRY)],
    ids=["attempt 2 owes an alert", "attempt 2 owes a retry"],
)
def test_a_late_event_of_an_earlier_attempt_never_performs_a_later_attempts_side_effect(
    runs: FakeRunStore, retry_queue: FakeRetryQueue, alerts: FakeAlertSink, second_exit_code: int, owed: str
) -> None:
    # Given attempt 1 failed and was retried; attempt 2 (JOB_2) failed too, and the worker that owed its
    # alert or retry died, so the lease stays on the run and has expired
    track(event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=minutes(3))
    submit_attempt(runs, 2, at=minutes(5))
    (alerts if owed == SIDE_EFFECT_ALERT else retry_queue).fail_next()
    with pytest.raises((AlertPublishError, RetryEnqueueError)):
        track(
            event(RunStatus.FAILED, attempt=2, job_id=JOB_2, exit_code=second_exit_code),
            runs,
            retry_queue,
            alerts,
            at=minutes(10),
        )
    owing = runs.get(RUN_ID)
    assert owing is not None
    assert owing.side_effect is not None
    assert (owing.side_effect.kind, owing.side_effect.job_id) == (owed, JOB_2)
    sent_before = list(retry_queue.sent)
    long_after = minutes(60)
    assert owing.side_effect.due < epoch_seconds(long_after)

    # When attempt 1's FAILED event is delivered late (EventBridge retried it)
    late = track(event(RunStatus.FAILED, exit_code=RETRYABLE), runs, retry_queue, alerts, at=long_after)

    # Then it is stale: nothing built from attempt 1 is sent, and attempt 2's lease is untouched
    assert late.outcome is TrackOutcome.STALE
    assert alerts.published == []
    assert retry_queue.sent == sent_before
    assert runs.get(RUN_ID) == owing

    # When attempt 2's own event is redelivered
    recovered = track(
        event(RunStatus.FAILED, attempt=2, job_id=JOB_2, exit_code=second_exit_code),
        runs,
        retry_queue,
        alerts,
        at=long_after,
    )

    # Then attempt 2's side effect is performed, from attempt 2's facts
    assert recovered.outcome is TrackOutcome.RECOVERED
    if owed == SIDE_EFFECT_ALERT:
        (alert,) = alerts.published
        assert (alert.details["attempt"], alert.details["jobId"], alert.details["exitCode"]) == (2, JOB_2, FINAL)
    else:
        assert [sent.request.attempt for sent in retry_queue.sent] == [2, 3]
        assert alerts.published == []


# ------------------------------------------------------------------------------------------ blocked queues
def blocked(job_id: str = JOB_1) -> QueueBlocked:
    return QueueBlocked(
        job_queue=QUEUE,
        job_id=job_id,
        job_name="someone-elses-job",
        status_reason="MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - no environment offers 64 vCPU",
    )


def test_a_blocked_queue_is_alerted_once_per_blocking_job(runs: FakeRunStore, alerts: FakeAlertSink) -> None:
    # When the same blocking job is reported twice, then another one
    first = handle_queue_blocked(blocked(), runs=runs, alerts=alerts, settings=SETTINGS, now=minutes(1))
    duplicate = handle_queue_blocked(blocked(), runs=runs, alerts=alerts, settings=SETTINGS, now=minutes(60))
    other = handle_queue_blocked(blocked(JOB_2), runs=runs, alerts=alerts, settings=SETTINGS, now=minutes(61))

    # Then
    assert (first, duplicate, other) == (True, False, True)
    assert [alert.alert_type for alert in alerts.published] == [ALERT_QUEUE_BLOCKED] * 2
    assert alerts.published[0].details["reasonCode"] == "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
    # and the alert names the stack's region, which its cancel-job command needs
    assert alerts.published[0].details["region"] == SETTINGS.region


def test_a_blocked_queue_alert_whose_sender_died_is_sent_after_its_lease(
    runs: FakeRunStore, alerts: FakeAlertSink
) -> None:
    # Given the alert claimed, but SNS unreachable
    alerts.fail_next()
    with pytest.raises(AlertPublishError):
        handle_queue_blocked(blocked(), runs=runs, alerts=alerts, settings=SETTINGS, now=minutes(1))

    # When the event is redelivered within the lease, then after it
    within = handle_queue_blocked(blocked(), runs=runs, alerts=alerts, settings=SETTINGS, now=minutes(2))
    expired = minutes(1) + timedelta(seconds=LEASE + 1)
    after = handle_queue_blocked(blocked(), runs=runs, alerts=alerts, settings=SETTINGS, now=expired)

    # Then
    assert (within, after) == (False, True)
    assert len(alerts.published) == 1


# ------------------------------------------------------------------------------------------ the handler
def test_every_track_outcome_has_an_entry_in_the_metric_table() -> None:
    # When
    app = load_handler("track_jobs")

    # Then a new outcome cannot be added without deciding its metric (None: deliberately none)
    assert set(app.OUTCOME_METRICS) == set(TrackOutcome)
