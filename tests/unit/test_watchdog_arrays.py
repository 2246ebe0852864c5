"""The watchdog applies a FAILED array parent from DescribeJobs as the tracker applies its event: its failed
children listed and mapped to their items (tracking.with_failed_children), the failed items retried alone."""

from __future__ import annotations

from copy import replace
from datetime import timedelta

import pytest

from batch_orchestrator.errors import AlertPublishError
from batch_orchestrator.models import RunStatus
from batch_orchestrator.watchdog import WatchdogSettings, sweep
from tests.support.array_runs import ArrayStack, array_detail, failed
from tests.support.fakes import FakeJobInspector, FakeResubmitQueue, FakeWatchdogStore
from tests.support.sweeps import SETTINGS


def test_a_lost_failed_array_event_is_repaired_with_its_failed_children() -> None:
    # Given an array of 3 submitted, whose parent FAILED (child 2 exited 75) while every event was lost
    stack = ArrayStack(runs=FakeWatchdogStore())
    job = stack.start("tiles/a.txt")
    batch = FakeJobInspector()
    batch.add(array_detail(job, "FAILED", summary={"FAILED": 1, "SUCCEEDED": 2}))
    batch.fail_children(job.job_id, failed(2))
    assert isinstance(stack.runs, FakeWatchdogStore)

    # When the watchdog sweeps, long after
    report = sweep(
        runs=stack.runs,
        jobs=batch,
        retry_queue=stack.retry_queue,
        resubmit_queue=FakeResubmitQueue(),
        alerts=stack.alerts,
        settings=WatchdogSettings(**{**SETTINGS.__dict__, "track": stack.track_settings}),
        now=stack.now + timedelta(hours=1),
    )

    # Then it found the job by its name, listed its failed children and retried item 2 alone
    assert (report.runs_reconciled, report.errors) == (1, 0)
    assert batch.children_lookups == [job.job_id]
    run = stack.run_of("tiles/a.txt")
    assert (run.status, run.attempt, run.plan.items) == (RunStatus.RETRY_WAIT, 2, (2,))
    assert stack.retry_queue.sent[-1].request.plan.items == (2,)


def test_an_owed_array_alert_is_rebuilt_from_the_run_when_batch_forgot_the_job() -> None:
    # Given an array of 3 that failed for good (item 2 exited 3), whose alert could not be published
    stack = ArrayStack(runs=FakeWatchdogStore())
    job = stack.start("tiles/a.txt")
    stack.alerts.fail_next()
    with pytest.raises(AlertPublishError):
        stack.end(job, "FAILED", failed(2, 3))
    assert isinstance(stack.runs, FakeWatchdogStore)

    # When the watchdog sweeps after the lease, Batch no longer describing the job
    report = stack.sweep(after=timedelta(hours=1))

    # Then the alert is sent from what the run kept: the failed item, judged as the tracker judged it
    assert report.side_effects_recovered == 1
    (alert,) = stack.alerts.published
    assert "(1 of 3 children failed, attempt 1/3)" in alert.subject
    assert alert.details["array"]["notRetryableItems"] == [2]
    assert "not retryable: item 2 (exit code 3 is not in the retry list 75)" in alert.details["decision"]


def test_an_arrays_parent_pending_while_its_children_run_is_not_stuck_before_they_could_all_have_run() -> None:
    # Given tiles' array of 3 (timeout 900 s), its parent PENDING while its children run; a single job for contrast
    stack = ArrayStack()
    stack.start("tiles/a.txt")
    array_run = stack.run_of("tiles/a.txt")
    settings = WatchdogSettings(**{**SETTINGS.__dict__, "track": stack.track_settings, "running_margin_seconds": 600})
    pending = replace(array_run, status=RunStatus.PENDING)
    single = replace(pending, plan=replace(pending.plan, array_size=0))

    # When / Then the array may stay PENDING as long as its 3 children running one after another
    assert settings.stuck_threshold(pending) == 3 * (900 + 600)
    assert settings.stuck_threshold(single) == SETTINGS.stuck_after_seconds[RunStatus.PENDING]
