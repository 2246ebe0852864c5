"""The watchdog's sweep (batch_orchestrator.watchdog): lost Batch events, abandoned side effects, scale and
robustness, resubmit messages and its settings (the machinery: tests/support/sweeps.py).

Stale claims: test_watchdog_stale_claims.py; stuck runs: test_watchdog_stuck_runs.py.
"""

from __future__ import annotations

import json
from copy import replace
from datetime import timedelta
from typing import Any

import pytest

from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.config import RUNNING_MARGIN_SECONDS, WatchdogConfig
from batch_orchestrator.errors import ConfigError
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import AttemptPlan, JobObservation, Run, RunStatus, S3Source, SideEffect, SubmitRequest
from batch_orchestrator.submit_messages import parse_submit_message, resubmit_message
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.watchdog import WATCHED_STATUSES, WatchdogSettings, episode_of
from tests.support.environments import WATCHDOG_ENV, with_workloads, workload_json
from tests.support.fakes import FakeAlertSink, FakeJobInspector, FakeRetryQueue
from tests.support.sweeps import (
    DEFINITION,
    LEASE,
    QUEUE,
    SETTINGS,
    T0,
    Store,
    Sweeper,
    indexed,
    job_detail,
    new_claim,
    observe,
    retries,
    stored,
)


# ------------------------------------------------------------------------------------ lost events
def test_a_lost_succeeded_is_applied_from_describe_jobs(
    runs: Store, batch: FakeJobInspector, sweep_at: Sweeper
) -> None:
    # Given a run RUNNING since T0 whose SUCCEEDED event never arrived
    run_id, source = new_claim(runs, "lost-success")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    batch.jobs[next(iter(batch.jobs))] = job_detail(run_id, source, "SUCCEEDED")

    # When the watchdog sweeps 15 minutes later
    report = sweep_at(T0 + timedelta(minutes=15))

    # Then the run is SUCCEEDED, out of the index, and the sweep says so
    assert stored(runs, run_id).status is RunStatus.SUCCEEDED
    assert indexed(runs, run_id) is None
    assert (report.items_read, report.runs_reconciled, report.errors) == (1, 1, 0)
    assert sweep_at(T0 + timedelta(minutes=20)).items_read == 0


def test_a_lost_failed_with_a_retryable_exit_code_is_retried(
    runs: Store, batch: FakeJobInspector, retry_queue: FakeRetryQueue, alerts: FakeAlertSink, sweep_at: Sweeper
) -> None:
    run_id, source = new_claim(runs, "lost-failure")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    job_id = next(iter(batch.jobs))
    batch.jobs[job_id] = job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=75)

    report = sweep_at(T0 + timedelta(minutes=15))

    run = stored(runs, run_id)
    assert (run.status, run.attempt, run.last_job_id) == (RunStatus.RETRY_WAIT, 2, job_id)
    assert retries(retry_queue) == [(run_id, 2, 0)]
    assert alerts.published == []
    assert report.runs_reconciled == 1


def test_a_lost_failed_for_good_is_alerted_once(
    runs: Store, batch: FakeJobInspector, alerts: FakeAlertSink, sweep_at: Sweeper
) -> None:
    run_id, source = new_claim(runs, "lost-final-failure")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    job_id = next(iter(batch.jobs))
    batch.jobs[job_id] = job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=2)

    sweep_at(T0 + timedelta(minutes=15))
    sweep_at(T0 + timedelta(minutes=20))

    assert [alert.alert_type for alert in alerts.published] == ["RUN_FAILED"]
    assert stored(runs, run_id).status is RunStatus.FAILED
    assert indexed(runs, run_id) is None  # the alert is confirmed: the run left the index


def test_recent_runs_are_left_to_their_events(runs: Store, batch: FakeJobInspector, sweep_at: Sweeper) -> None:
    run_id, source = new_claim(runs, "young")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")), at=T0)

    report = sweep_at(T0 + timedelta(minutes=5))

    assert report.items_read == 0
    assert batch.describe_calls == []


# -------------------------------------------------------------------------- abandoned side effects
def _failed_with_lease(runs: Store, name: str, *, kind: str, exit_code: int) -> tuple[str, S3Source, str]:
    """A run whose FAILED event was applied, but whose retry/alert was never performed (a crash)."""
    run_id, source = new_claim(runs, name)
    job = job_detail(run_id, source, "FAILED", exit_code=exit_code)
    observation = parse_describe_jobs_entry(job)
    assert isinstance(observation, JobObservation)
    retry = kind == "retry"
    written = runs.apply_observation(
        observation,
        now=T0,
        new_status=RunStatus.RETRY_WAIT if retry else RunStatus.FAILED,
        next_attempt=2 if retry else None,
        next_attempt_at=T0 if retry else None,
        side_effect=SideEffect(kind=kind, token="crashed-holder", due=epoch_seconds(T0) + LEASE, job_id=job["jobId"]),
    )
    assert written.applied
    return run_id, source, job["jobId"]


@pytest.mark.parametrize("batch_still_knows_the_job", [True, False])
def test_a_retry_whose_message_never_went_out_is_sent(
    runs: Store,
    batch: FakeJobInspector,
    retry_queue: FakeRetryQueue,
    sweep_at: Sweeper,
    batch_still_knows_the_job: bool,
) -> None:
    # Given a run in RETRY_WAIT whose retry lease expired without the message being sent
    run_id, source, job_id = _failed_with_lease(runs, "retry-lost", kind="retry", exit_code=75)
    if batch_still_knows_the_job:
        batch.add(job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=75))

    # When the watchdog sweeps (before and after the lease expires)
    early = sweep_at(T0 + timedelta(seconds=LEASE - 1), settings=_eager())
    late = sweep_at(T0 + timedelta(minutes=15))

    # Then the retry is sent once, after the lease, for attempt 2
    assert early.side_effects_recovered == 0
    assert late.side_effects_recovered == 1
    assert retries(retry_queue) == [(run_id, 2, 0)]
    side_effect = stored(runs, run_id).side_effect
    assert side_effect is not None
    assert side_effect.token != "crashed-holder"


@pytest.mark.parametrize("batch_still_knows_the_job", [True, False])
def test_an_alert_that_was_never_published_is_published(
    runs: Store, batch: FakeJobInspector, alerts: FakeAlertSink, sweep_at: Sweeper, batch_still_knows_the_job: bool
) -> None:
    run_id, source, job_id = _failed_with_lease(runs, "alert-lost", kind="alert", exit_code=2)
    if batch_still_knows_the_job:
        batch.add(job_detail(run_id, source, "FAILED", job_id=job_id, exit_code=2))

    report = sweep_at(T0 + timedelta(minutes=15))
    sweep_at(T0 + timedelta(minutes=20))

    (alert,) = alerts.published
    assert "exit 2" in alert.subject
    assert report.side_effects_recovered == 1
    assert indexed(runs, run_id) is None


# ---------------------------------------------------------------------------- scale and robustness
def test_describe_jobs_is_called_with_at_most_100_ids(runs: Store, batch: FakeJobInspector, sweep_at: Sweeper) -> None:
    for index in range(201):
        run_id, source = new_claim(runs, f"many-{index}")
        observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))

    report = sweep_at(T0 + timedelta(minutes=15))

    assert report.items_read == 201
    assert sorted(len(call) for call in batch.describe_calls) == [1, 100, 100]


def test_a_failing_describe_is_counted_and_the_sweep_goes_on(
    runs: Store, batch: FakeJobInspector, sweep_at: Sweeper
) -> None:
    run_id, source = new_claim(runs, "describe-fails")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    batch.fail_describe = True

    report = sweep_at(T0 + timedelta(minutes=15))

    assert report.errors == 1
    assert report.runs_reconciled == 0


def test_a_sweep_out_of_time_stops_before_the_next_chunk(
    runs: Store, batch: FakeJobInspector, sweep_at: Sweeper
) -> None:
    run_id, source = new_claim(runs, "no-time")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))

    report = sweep_at(T0 + timedelta(minutes=15), out_of_time=lambda: True)

    assert report.truncated
    assert batch.describe_calls == []


def test_episodes_differ_when_the_run_moves_or_its_claim_is_taken_over(runs: Store) -> None:
    run_id, _ = new_claim(runs, "episodes")
    first = stored(runs, run_id)
    runs.take_over_claim(
        run_id=run_id,
        attempt=1,
        previous_until=first.claimed_until or 0,
        job_queue=QUEUE,
        job_definition=DEFINITION,
        now=T0 + timedelta(minutes=1),
        claimed_until=0,
    )
    second = stored(runs, run_id)
    assert episode_of(first) != episode_of(second)


def test_every_active_status_is_swept() -> None:
    active = {status for status in RunStatus if not status.is_terminal} | {RunStatus.FAILED}
    assert set(WATCHED_STATUSES) == active


def _eager() -> WatchdogSettings:
    return replace(SETTINGS, reconcile_after_seconds=60)


# ------------------------------------------------------------------------------ messages and config
def test_a_resubmit_request_is_a_submit_request_for_the_same_attempt() -> None:
    source = S3Source(bucket="in", key="incoming/a.csv", sequencer="01")
    run_id = run_id_for(source)

    (request,) = parse_submit_message(resubmit_message(run_id=run_id, attempt=1, source=source), input_prefix="x/")

    assert isinstance(request, SubmitRequest)
    assert (request.run_id, request.attempt, request.source) == (run_id, 1, source)


@pytest.mark.parametrize("attempt", [0, 100, "1", True])
def test_a_resubmit_request_with_a_bad_attempt_is_malformed(attempt: Any) -> None:
    from batch_orchestrator.errors import MalformedMessage

    source = S3Source(bucket="in", key="incoming/a.csv", sequencer="01")
    body = json.dumps({"kind": "resubmit", "runId": run_id_for(source), "attempt": attempt, "source": source.to_dict()})
    with pytest.raises(MalformedMessage, match="resubmit request has an invalid attempt"):
        parse_submit_message(body, input_prefix="incoming/")


def test_watchdog_config_derives_the_running_threshold_from_the_job_timeout() -> None:
    config = WatchdogConfig.from_env(WATCHDOG_ENV)

    stuck = config.watchdog.stuck_after_seconds
    assert stuck[RunStatus.RUNNING] == 3600 + RUNNING_MARGIN_SECONDS
    assert stuck[RunStatus.RUNNABLE] == 1800
    assert stuck[RunStatus.QUEUED] == stuck[RunStatus.SUBMITTED] == stuck[RunStatus.PENDING] == 900
    assert config.watchdog.cancel_runnable_after_seconds == 0
    assert config.watchdog.track == config.track.track
    assert (
        WatchdogConfig.from_env({**WATCHDOG_ENV, "STUCK_RUNNING_MINUTES": "90"}).watchdog.stuck_after_seconds[
            RunStatus.RUNNING
        ]
        == 90 * 60
    )


def test_a_running_run_may_run_as_long_as_its_own_workloads_timeout() -> None:
    # Given a workload whose jobs time out after 15 minutes, next to the default's hour
    env = with_workloads(WATCHDOG_ENV, [workload_json("quick", match={"prefix": "quick/"}, timeout_seconds=900)])
    settings = WatchdogConfig.from_env(env).watchdog
    source = S3Source(bucket="in", key="quick/a.csv", sequencer="01")

    def running(workload: str) -> Run:
        plan = AttemptPlan(workload=workload)
        return Run(run_id_for(source), RunStatus.RUNNING, 1, 3, source, progress=10_005, plan=plan)

    # Then each run is stuck after its own workload's timeout plus the margin
    assert settings.stuck_threshold(running("quick")) == 900 + RUNNING_MARGIN_SECONDS
    assert settings.stuck_threshold(running("default")) == 3600 + RUNNING_MARGIN_SECONDS
    # and a run of a workload the table no longer holds after the default's
    assert settings.stuck_threshold(running("gone")) == 3600 + RUNNING_MARGIN_SECONDS
    # An explicit STUCK_RUNNING_MINUTES holds for every workload
    fixed = WatchdogConfig.from_env({**env, "STUCK_RUNNING_MINUTES": "90"}).watchdog
    assert fixed.stuck_threshold(running("quick")) == 90 * 60


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RECONCILE_AFTER_SECONDS", "", "RECONCILE_AFTER_SECONDS is required"),
        ("STUCK_RUNNABLE_MINUTES", "0", "outside 1..10080"),
        ("STUCK_RUNNING_MINUTES", "soon", "not an integer"),
        ("CANCEL_STUCK_RUNNABLE_AFTER_MINUTES", "-1", "outside 0..10080"),
        ("SUBMIT_QUEUE_URL", "submit", "not an SQS queue URL"),
    ],
)
def test_bad_watchdog_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WatchdogConfig.from_env({**WATCHDOG_ENV, name: value})
