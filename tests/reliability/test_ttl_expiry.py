"""TTL expiry: DynamoDB deletes an item whose ``expiresAt`` has passed, whatever the item says.

DynamoDB's TTL deletes expired items in the background, typically within a few days of expiry and
at no moment the application chooses. Here a sweeper plays that deletion on the virtual clock,
removing every item whose ``expiresAt`` (epoch seconds) is in the past, at the worst moments: while
a job runs longer than RunRetentionDays, and between the attempts of a retried run.

The promise: only finished runs expire. A run in flight keeps its record however long its job takes
(JobTimeoutSeconds may be up to 14 days, RunRetentionDays as short as 1), so its final event finds
it: one job per attempt, the retry and the one alert happen. A finished run then expires
RunRetentionDays after it finished, not before and not never.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from batch_orchestrator.timeutil import epoch_seconds
from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry
from tests.reliability.harness import Function, SubmitQueuePoller, VirtualClock
from tests.support.figures import figure
from tests.support.runs import (
    all_jobs,
    get_run,
    job_environment,
    job_event,
    received_alerts,
    subscribe_alerts,
    take_all_bodies,
    upload,
)

RETENTION_DAYS = 1
JOB_DAYS = 2  # longer than the retention: the longest jobs run 14 days
TTL_PARAMS = {
    "RunRetentionDays": str(RETENTION_DAYS),
    "JobTimeoutSeconds": str(14 * 24 * 3600),
    "RetryExitCodes": "75",
    "MaxAttempts": "2",
    "RetryBaseDelaySeconds": "0",
}


def expire_items(stack: EmulatedStack, clock: VirtualClock) -> list[str]:
    """What DynamoDB's TTL may do at any moment: delete every item whose expiresAt has passed."""
    dynamodb = stack.client("dynamodb")
    table = stack.outputs["RunsTableName"]
    deleted = []
    for item in dynamodb.scan(TableName=table)["Items"]:
        expires = item.get("expiresAt", {}).get("N")
        if expires is not None and int(expires) < epoch_seconds(clock.now()):
            dynamodb.delete_item(TableName=table, Key={"runId": item["runId"]})
            deleted.append(item["runId"]["S"])
    return deleted


def _latest_job(stack: EmulatedStack, run_id: str) -> dict[str, Any]:
    jobs = [job for job in all_jobs(stack) if job["tags"]["batch-orchestrator:run-id"] == run_id]
    return max(jobs, key=lambda job: int(job["tags"]["batch-orchestrator:attempt"]))


@pytest.mark.stack_params(**TTL_PARAMS)
def test_runs_in_flight_never_expire_and_finished_runs_expire_after_the_retention(stack: EmulatedStack) -> None:
    # Given an upload whose every attempt runs for two days, with runs kept one day after they finish
    clock = VirtualClock()
    submit = Function(stack, "SubmitJobsFunction", clock=clock)
    track = Function(stack, "TrackJobsFunction", clock=clock)
    poller = SubmitQueuePoller(stack, submit, clock)
    inbox = subscribe_alerts(stack)
    take_all_bodies(stack)  # the s3:TestEvent
    upload(stack, "incoming/long-running.csv")
    poller.drain()
    (job,) = all_jobs(stack)
    run_id = job["tags"]["batch-orchestrator:run-id"]
    deleted: list[str] = []

    # When attempt 1 runs two days, with TTL sweeping before, during and after, then exits 75 (retryable)
    deleted += expire_items(stack, clock)
    track(job_event(stack, job, "RUNNING"))
    clock.advance(JOB_DAYS * 86_400)
    deleted += expire_items(stack, clock)
    track(job_event(stack, job, "FAILED", exit_code=75, attempts=[attempt_entry(exit_code=75)]))
    deleted += expire_items(stack, clock)
    # and attempt 2 runs two days too, then exits 3 (not retryable): the run fails for good
    poller.drain()
    second = _latest_job(stack, run_id)
    track(job_event(stack, second, "RUNNING"))
    clock.advance(JOB_DAYS * 86_400)
    deleted += expire_items(stack, clock)
    finished_at = clock.now()
    track(job_event(stack, second, "FAILED", exit_code=3, attempts=[attempt_entry(exit_code=3)]))
    deleted += expire_items(stack, clock)

    # Then nothing was deleted while the run was in flight: both attempts ran once, one alert went out
    assert deleted == []
    assert sorted(job["tags"]["batch-orchestrator:attempt"] for job in all_jobs(stack)) == ["1", "2"]
    assert len(received_alerts(stack, inbox)) == 1
    run = get_run(stack, run_id)
    assert run is not None
    assert (run["status"], run["attempt"]) == ("FAILED", 2)
    # and the finished run expires RunRetentionDays after it finished, in epoch SECONDS (DynamoDB's TTL unit)
    assert run["expiresAt"] == epoch_seconds(finished_at + timedelta(days=RETENTION_DAYS))
    clock.advance(RETENTION_DAYS * 86_400 - 1)
    assert expire_items(stack, clock) == []
    clock.advance(2)
    assert expire_items(stack, clock) == [run_id]
    for function in (submit, track):
        function.close()
    figure(
        "TTL expiry",
        f"jobs of {JOB_DAYS} days with RunRetentionDays={RETENTION_DAYS}, TTL sweeping at every step -> 0 runs "
        "deleted in flight, 1 job per attempt, 1 alert; the finished run expired exactly RunRetentionDays later",
    )


@pytest.mark.stack_params(**TTL_PARAMS)
def test_a_succeeded_run_expires_and_a_run_waiting_for_its_retry_does_not(stack: EmulatedStack) -> None:
    # Given two uploads: one succeeds, the other fails with a retryable code whose retry is delayed
    clock = VirtualClock()
    submit = Function(stack, "SubmitJobsFunction", clock=clock)
    track = Function(stack, "TrackJobsFunction", clock=clock)
    poller = SubmitQueuePoller(stack, submit, clock)
    take_all_bodies(stack)
    upload(stack, "incoming/ok.csv")
    upload(stack, "incoming/retry.csv")
    poller.drain()
    ok, retried = sorted(all_jobs(stack), key=lambda job: job_environment(job)["INPUT_KEY"])

    # When both finish, and two retention periods pass before the retry message is taken
    track(job_event(stack, ok, "SUCCEEDED", exit_code=0, attempts=[attempt_entry(exit_code=0)]))
    track(job_event(stack, retried, "FAILED", exit_code=75, attempts=[attempt_entry(exit_code=75)]))
    clock.advance(2 * RETENTION_DAYS * 86_400)
    deleted = expire_items(stack, clock)

    # Then only the finished run expired
    assert deleted == [ok["tags"]["batch-orchestrator:run-id"]]
    waiting = get_run(stack, retried["tags"]["batch-orchestrator:run-id"])
    assert waiting is not None
    assert waiting["status"] == "RETRY_WAIT"
    assert "expiresAt" not in waiting
    for function in (submit, track):
        function.close()
