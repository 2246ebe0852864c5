"""The watchdog's sweep and claims whose job never started: resubmitted once, adopted, or given up and
alerted (the machinery: tests/support/sweeps.py)."""

from __future__ import annotations

from copy import replace
from datetime import timedelta

from batch_orchestrator.alerts import ALERT_RUN_STUCK
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import AttemptPlan, RunStatus, S3Source
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.workloads import Capacity, Size
from tests.support.fakes import FakeAlertSink, FakeJobInspector, FakeResubmitQueue
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
    resubmits,
    stored,
)


# ------------------------------------------------------------------------------------ stale claims
def test_a_claim_whose_job_never_existed_is_resubmitted_once(
    runs: Store, resubmit_queue: FakeResubmitQueue, sweep_at: Sweeper
) -> None:
    # Given a claim whose holder crashed before SubmitJob (no job by its name in Batch)
    run_id, _ = new_claim(runs, "never-submitted")

    # When the watchdog sweeps several times
    reports = [sweep_at(T0 + timedelta(minutes=m)) for m in (11, 12, 13)]

    # Then one resubmit request was sent for attempt 1
    assert resubmits(resubmit_queue) == [(run_id, 1)]
    assert [r.claims_recovered for r in reports] == [1, 0, 0]
    entry = indexed(runs, run_id)
    assert entry is not None
    assert entry.resubmissions == 1


def test_a_claim_still_leased_is_left_alone(runs: Store, resubmit_queue: FakeResubmitQueue, sweep_at: Sweeper) -> None:
    long_lease = replace(SETTINGS, reconcile_after_seconds=60)
    new_claim(runs, "in-progress")

    report = sweep_at(T0 + timedelta(seconds=LEASE - 10), settings=long_lease)

    assert report.items_read == 1
    assert resubmit_queue.sent == []


def test_a_claim_whose_job_exists_adopts_it_instead_of_resubmitting(
    runs: Store, batch: FakeJobInspector, resubmit_queue: FakeResubmitQueue, sweep_at: Sweeper
) -> None:
    # Given a crash after SubmitJob succeeded: the job exists, its events were lost
    run_id, source = new_claim(runs, "submitted-then-crashed")
    batch.add(job_detail(run_id, source, "RUNNABLE"))

    report = sweep_at(T0 + timedelta(minutes=11))

    assert resubmit_queue.sent == []
    assert report.runs_reconciled == 1
    run = stored(runs, run_id)
    assert (run.status, run.job_id) == (RunStatus.RUNNABLE, next(iter(batch.jobs)))


def test_resubmissions_stop_at_the_limit_and_the_claim_is_then_alerted_as_stuck(
    runs: Store, resubmit_queue: FakeResubmitQueue, alerts: FakeAlertSink, sweep_at: Sweeper
) -> None:
    # Given a claim that every resubmission leaves unsubmitted (SubmitJob refused each time)
    run_id, _ = new_claim(runs, "always-refused")
    at = T0
    for _ in range(SETTINGS.max_resubmissions + 1):
        at += timedelta(minutes=11)
        sweep_at(at)
        # the submit path takes the claim over, SubmitJob is refused, the claim is released
        run = stored(runs, run_id)
        taken = runs.take_over_claim(
            run_id=run_id,
            attempt=1,
            previous_until=run.claimed_until or 0,
            job_queue=QUEUE,
            job_definition=DEFINITION,
            now=at,
            claimed_until=epoch_seconds(at),
        )
        if taken.applied:
            runs.release_claim(run_id=run_id, attempt=1, claimed_until=epoch_seconds(at), error="refused", now=at)

    # When the watchdog keeps sweeping past the QUEUED threshold
    sweep_at(at + timedelta(minutes=16))
    sweep_at(at + timedelta(minutes=21))

    # Then it resubmitted MAX times, then alerted once that the run is stuck in QUEUED
    assert len(resubmit_queue.sent) == SETTINGS.max_resubmissions
    (stuck,) = alerts.of_type(ALERT_RUN_STUCK)
    assert stuck.subject.startswith("Batch job stuck in QUEUED")


def test_a_resubmission_asks_for_the_plan_the_claim_recorded(
    runs: Store, resubmit_queue: FakeResubmitQueue, sweep_at: Sweeper
) -> None:
    # Given a claim of attempt 1 of a Spot workload's run, whose holder crashed before SubmitJob
    source = S3Source(bucket="batch-orch-input", key="video/clip.mp4", sequencer="00A1")
    run_id = run_id_for(source)
    plan = AttemptPlan(workload="video", capacity=Capacity.SPOT)
    runs.claim_first_attempt(
        run_id=run_id,
        source=source,
        job_name=job_name_for(run_id, 1, source),
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=T0,
        claimed_until=epoch_seconds(T0) + LEASE,
        plan=plan,
        size=Size("2", 4096),
    )

    # When the watchdog sweeps
    sweep_at(T0 + timedelta(minutes=11))

    # Then the resubmit request asks for that plan, not the default workload's
    (request,) = resubmit_queue.requests()
    assert (request.run_id, request.attempt, request.plan) == (run_id, 1, plan)
