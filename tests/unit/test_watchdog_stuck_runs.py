"""The watchdog's sweep and stuck runs: one alert per episode, the cancel option, and the stuck-run alert
itself (the machinery: tests/support/sweeps.py)."""

from __future__ import annotations

from copy import replace
from datetime import timedelta
from typing import Any

from batch_orchestrator.alert_format import SUBJECT_MAX_CHARS
from batch_orchestrator.alert_stuck import build_stuck_run_alert
from batch_orchestrator.alerts import ALERT_RUN_STUCK
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import JobObservation, Run, RunStatus, S3Source
from tests.support.fakes import FakeAlertSink, FakeJobInspector
from tests.support.sweeps import MINUTE, QUEUE, SETTINGS, T0, Store, Sweeper, job_detail, new_claim, observe


# ------------------------------------------------------------------------------------ stuck runs
def test_a_run_stuck_in_runnable_is_alerted_once_per_episode(
    runs: Store, batch: FakeJobInspector, alerts: FakeAlertSink, sweep_at: Sweeper
) -> None:
    # Given a job RUNNABLE since T0, with the reason Batch gives
    run_id, source = new_claim(runs, "stuck")
    reason = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no Fargate capacity in the subnets' zones"
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE", status_reason=reason)))

    # When the watchdog sweeps before and after the threshold, several times
    reports = [sweep_at(T0 + timedelta(minutes=m)) for m in (20, 31, 36, 41)]

    # Then exactly one alert, with the queue and the status reason; StuckRuns counts it every time
    assert [r.stuck_runs for r in reports] == [0, 1, 1, 1]
    assert [r.stuck_alerts_sent for r in reports] == [0, 1, 0, 0]
    (alert,) = alerts.published
    assert alert.subject == "Batch job stuck in RUNNABLE: stuck.csv (31 min)"
    assert alert.alert_type == ALERT_RUN_STUCK
    assert alert.attributes["jobQueue"]["StringValue"] == "batch-orchestrator-queue"
    assert reason in alert.message
    details = alert.details
    assert (details["status"], details["statusReason"], details["stuckSeconds"]) == ("RUNNABLE", reason, 31 * 60)

    # When the job goes back to RUNNABLE after a failed Batch attempt (a new episode) and stays there
    later = T0 + timedelta(minutes=45)
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE", batch_attempts=1, status_reason=reason)), at=later)
    sweep_at(later + timedelta(minutes=31))
    sweep_at(later + timedelta(minutes=40))

    # Then that episode is alerted once too
    assert len(alerts.published) == 2


def test_a_run_is_stuck_only_once_it_stayed_longer_than_its_threshold(
    runs: Store, batch: FakeJobInspector, alerts: FakeAlertSink, sweep_at: Sweeper
) -> None:
    # Given a job RUNNABLE since T0, and the threshold docs/configuration.md words as "Alert once when a
    # job stays RUNNABLE longer than this" (StuckRunnableMinutes)
    run_id, source = new_claim(runs, "boundary")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE")))
    threshold = SETTINGS.stuck_after_seconds[RunStatus.RUNNABLE]

    # When the watchdog sweeps at exactly the threshold, then one second past it
    at_threshold = sweep_at(T0 + timedelta(seconds=threshold))
    just_past = sweep_at(T0 + timedelta(seconds=threshold + 1))

    # Then a run that stayed exactly as long as the threshold is not stuck yet; one second more is
    assert (at_threshold.stuck_runs, at_threshold.stuck_alerts_sent) == (0, 0)
    assert (just_past.stuck_runs, just_past.stuck_alerts_sent) == (1, 1)
    assert alerts.published[0].details["stuckSeconds"] == threshold + 1


def test_a_stuck_runnable_job_is_terminated_once_past_the_limit(
    runs: Store, batch: FakeJobInspector, sweep_at: Sweeper
) -> None:
    cancelling = replace(SETTINGS, cancel_runnable_after_seconds=60 * MINUTE)
    run_id, source = new_claim(runs, "cancel-me")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE")))
    job_id = next(iter(batch.jobs))

    reports = [sweep_at(T0 + timedelta(minutes=m), settings=cancelling) for m in (31, 59, 61, 66)]

    assert [r.jobs_cancelled for r in reports] == [0, 0, 1, 0]
    ((terminated_id, reason),) = batch.terminated
    assert terminated_id == job_id
    assert "RUNNABLE for 61 min (limit 60 min)" in reason


def test_the_cancel_option_is_off_by_default(runs: Store, batch: FakeJobInspector, sweep_at: Sweeper) -> None:
    run_id, source = new_claim(runs, "never-cancelled")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNABLE")))

    sweep_at(T0 + timedelta(days=2))

    assert batch.terminated == []


def test_a_run_whose_job_batch_forgot_is_still_reported_when_stuck(
    runs: Store, batch: FakeJobInspector, alerts: FakeAlertSink, sweep_at: Sweeper
) -> None:
    run_id, source = new_claim(runs, "forgotten")
    observe(runs, batch.add(job_detail(run_id, source, "RUNNING")))
    batch.jobs.clear()  # Batch keeps finished jobs for a limited time only

    report = sweep_at(T0 + timedelta(minutes=71))

    assert report.stuck_runs == 1
    (alert,) = alerts.published
    assert "RUNNING" in alert.subject


# ------------------------------------------------------------------------------------ the alert
def _stuck_run(**changes: Any) -> Run:
    source = S3Source(bucket="in", key="incoming/" + "very-long-name-" * 12 + ".csv", sequencer="01")
    run_id = run_id_for(source)
    fields: dict[str, Any] = {
        "run_id": run_id,
        "status": RunStatus.RUNNABLE,
        "attempt": 1,
        "max_attempts": 3,
        "source": source,
        "progress": 10_003,
        "job_name": job_name_for(run_id, 1, source),
        "job_id": "0f0e0d0c-0000-4000-8000-000000000001",
        "job_queue": QUEUE,
        "updated_at": "2026-11-21T12:00:00.000Z",
    }
    fields.update(changes)
    return Run(**fields)


def test_the_stuck_alert_keeps_sns_limits_and_advises_by_reason() -> None:
    run = _stuck_run()
    observation = JobObservation(
        run_id=run.run_id,
        attempt=1,
        job_id=run.job_id or "",
        job_name=run.job_name or "",
        job_queue=QUEUE,
        status=RunStatus.RUNNABLE,
        status_reason="MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - no environment offers 16 vCPU",
    )

    alert = build_stuck_run_alert(
        run,
        stuck_seconds=3_700,
        threshold_seconds=1_800,
        observation=observation,
        region="us-east-1",
        cancel_after_seconds=7_200,
    )

    assert len(alert.subject) <= SUBJECT_MAX_CHARS
    assert alert.subject.endswith("(61 min)")
    assert "Lower the job definition's resource requirements" in alert.message
    assert "the watchdog terminates the job after 2 h 0 min" in alert.message
    assert "aws batch terminate-job --region us-east-1 --job-id 0f0e0d0c" in alert.message
    assert alert.attributes["status"] == {"DataType": "String", "StringValue": "RUNNABLE"}


def test_the_stuck_alert_of_a_claim_without_a_job_says_so() -> None:
    run = _stuck_run(status=RunStatus.QUEUED, job_id=None, job_queue=None)

    alert = build_stuck_run_alert(run, stuck_seconds=1_000, threshold_seconds=900, observation=None, region="us-east-1")

    assert "none yet (no job was found for this run)" in alert.message
    assert "terminate-job" not in alert.message
    assert alert.attributes["jobQueue"]["StringValue"] == "unknown"
