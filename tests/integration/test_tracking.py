"""Tracking, retries and alerts on the stack of template.yaml in moto.

SIMULATED: moto's Batch neither emits events nor reports exit codes, so each scenario plays the
events Batch would send (built from moto's DescribeJobs entry of the real submitted job) through
the template's EventBridge rule pattern to the real track_jobs handler.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry, queue_blocked
from tests.support.events import load_event
from tests.support.runs import (
    all_jobs,
    deliver_all,
    drain_test_event,
    get_run,
    job_environment,
    job_event,
    queue_depth,
    received_alerts,
    subscribe_alerts,
    track,
    upload,
)

RETRY_ON_3 = {"RetryExitCodes": "3", "MaxAttempts": "3", "RetryBaseDelaySeconds": "0"}
LOG_STREAM = "batch-orchestrator/default/0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def _start(stack: EmulatedStack, key: str = "incoming/data.csv") -> tuple[str, str]:
    """Upload one file and run the submit path; returns (run id, inbox url)."""
    inbox = subscribe_alerts(stack)
    drain_test_event(stack)
    upload(stack, key)
    deliver_all(stack)
    (job,) = all_jobs(stack)
    return job_environment(job)["RUN_ID"], inbox


def _latest_job(stack: EmulatedStack, run_id: str) -> dict[str, Any]:
    jobs = [job for job in all_jobs(stack) if job_environment(job)["RUN_ID"] == run_id]
    return max(jobs, key=lambda job: int(job_environment(job)["RUN_ATTEMPT"]))


def _fail(stack: EmulatedStack, job: dict[str, Any], exit_code: int | None, **details: Any) -> dict[str, Any]:
    attempt = attempt_entry(exit_code=exit_code, reason=details.get("container_reason"), log_stream_name=LOG_STREAM)
    return track(
        stack,
        job_event(
            stack,
            job,
            "FAILED",
            exit_code=exit_code,
            attempts=[attempt],
            log_stream_name=LOG_STREAM,
            status_reason=details.get("status_reason", "Essential container in task exited"),
            container_reason=details.get("container_reason"),
        ),
    )


def _succeed(stack: EmulatedStack, job: dict[str, Any]) -> dict[str, Any]:
    attempt = attempt_entry(exit_code=0, log_stream_name=LOG_STREAM)
    return track(
        stack,
        job_event(
            stack,
            job,
            "SUCCEEDED",
            exit_code=0,
            attempts=[attempt],
            log_stream_name=LOG_STREAM,
            status_reason="Essential container in task exited",
        ),
    )


def _lifecycle(stack: EmulatedStack, job: dict[str, Any]) -> None:
    for status in ("RUNNABLE", "STARTING", "RUNNING"):
        track(stack, job_event(stack, job, status, log_stream_name=LOG_STREAM))


@pytest.mark.stack_params(**RETRY_ON_3)
def test_exit_code_3_is_retried_until_attempts_run_out_then_alerts_once(stack: EmulatedStack) -> None:
    # Given RetryExitCodes=3 and MaxAttempts=3, and an uploaded file
    run_id, inbox = _start(stack)

    # When every attempt's job fails with exit code 3 (each FAILED event delivered twice)
    for attempt in (1, 2, 3):
        job = _latest_job(stack, run_id)
        assert job_environment(job)["RUN_ATTEMPT"] == str(attempt)
        _lifecycle(stack, job)
        first = _fail(stack, job, 3)
        duplicate = _fail(stack, job, 3)
        assert duplicate["outcome"] == "STALE"
        if attempt < 3:
            assert first["outcome"] == "RETRY_SCHEDULED"
            run = get_run(stack, run_id)
            assert run is not None
            assert (run["status"], run["attempt"]) == ("RETRY_WAIT", attempt + 1)
        else:
            assert first["outcome"] == "FAILED"
        deliver_all(stack)

    # Then the run was submitted three times, is FAILED with three attempts in its history,
    # and exactly one alert went out
    assert len(all_jobs(stack)) == 3
    run = get_run(stack, run_id)
    assert run is not None
    assert run["status"] == "FAILED"
    assert run["exitCode"] == 3
    assert [entry["attempt"] for entry in run["history"]] == [1, 2, 3]
    assert {entry["exitCode"] for entry in run["history"]} == {3}
    assert "activeStatus" not in run  # the alert is confirmed: the run left the sparse index
    assert "alertSentAt" in run
    (alert,) = received_alerts(stack, inbox)
    assert alert["Subject"].startswith("Batch job failed: data.csv (exit 3, attempt 3/3)")
    assert alert["MessageAttributes"]["alertType"]["Value"] == "RUN_FAILED"
    assert alert["MessageAttributes"]["exitCode"]["Value"] == "3"
    assert run_id in alert["Message"]
    summary, _, payload = alert["Message"].partition("\n" + "-" * 72 + "\n")
    assert "attempts exhausted (3 of 3)" in summary
    assert json.loads(payload)["exitCode"] == 3


@pytest.mark.stack_params(**RETRY_ON_3)
def test_exit_code_1_alerts_once_without_retry(stack: EmulatedStack) -> None:
    # Given a run whose first job fails with a code that is not retried
    run_id, inbox = _start(stack)
    job = _latest_job(stack, run_id)

    # When the FAILED event arrives, and arrives again
    assert _fail(stack, job, 1)["outcome"] == "FAILED"
    assert _fail(stack, job, 1)["outcome"] == "STALE"

    # Then no retry was queued and exactly one alert was published
    assert queue_depth(stack, "SubmitQueueUrl") == 0
    (alert,) = received_alerts(stack, inbox)
    assert "exit code 1 is not in the retry list 3" in alert["Message"]
    run = get_run(stack, run_id)
    assert run is not None
    assert (run["status"], run["attempt"], len(run["history"])) == ("FAILED", 1, 1)


@pytest.mark.stack_params(**RETRY_ON_3)
def test_success_after_one_retry_sends_no_alert(stack: EmulatedStack) -> None:
    # Given a run whose first attempt fails with a retryable code
    run_id, inbox = _start(stack)
    _fail(stack, _latest_job(stack, run_id), 3)
    deliver_all(stack)

    # When the second attempt succeeds (and a late RUNNING of it arrives afterwards)
    second = _latest_job(stack, run_id)
    _lifecycle(stack, second)
    assert _succeed(stack, second)["outcome"] == "SUCCEEDED"
    assert track(stack, job_event(stack, second, "RUNNING", log_stream_name=LOG_STREAM))["outcome"] == "STALE"

    # Then the run is SUCCEEDED on attempt 2, out of the sparse index, and nobody was alerted
    run = get_run(stack, run_id)
    assert run is not None
    assert (run["status"], run["attempt"], run["exitCode"]) == ("SUCCEEDED", 2, 0)
    assert [(entry["attempt"], entry["status"]) for entry in run["history"]] == [(1, "FAILED"), (2, "SUCCEEDED")]
    assert "activeStatus" not in run
    assert run["logStreamName"] == LOG_STREAM
    assert received_alerts(stack, inbox) == []


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="2", RetryBaseDelaySeconds="0")
def test_a_retry_message_delivered_twice_submits_the_next_attempt_once(stack: EmulatedStack) -> None:
    # Given a retry request on the SubmitQueue, duplicated
    run_id, _ = _start(stack)
    _fail(stack, _latest_job(stack, run_id), 3)
    sqs = stack.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=stack.outputs["SubmitQueueUrl"])["Messages"]
    sqs.send_message(QueueUrl=stack.outputs["SubmitQueueUrl"], MessageBody=message["Body"])
    sqs.change_message_visibility(
        QueueUrl=stack.outputs["SubmitQueueUrl"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )

    # When both are delivered
    deliver_all(stack)

    # Then attempt 2 has exactly one job
    attempts = sorted(job_environment(job)["RUN_ATTEMPT"] for job in all_jobs(stack))
    assert attempts == ["1", "2"]
    run = get_run(stack, run_id)
    assert run is not None
    assert (run["status"], run["attempt"]) == ("SUBMITTED", 2)
    assert "sideEffect" not in run  # the claim of attempt 2 settled the retry


@pytest.mark.stack_params(**RETRY_ON_3)
def test_spot_reclaim_without_exit_code_is_not_retried_by_default(stack: EmulatedStack) -> None:
    # Given RetryOnNoExitCode at its default (false)
    run_id, inbox = _start(stack)

    # When the job fails without an exit code
    outcome = _fail(
        stack,
        _latest_job(stack, run_id),
        None,
        status_reason="Host EC2 (instance i-0123456789abcdef0) terminated.",
    )

    # Then the run failed for good, and the alert says there was no exit code and why
    assert outcome["outcome"] == "FAILED"
    (alert,) = received_alerts(stack, inbox)
    assert "exitCode" not in alert["MessageAttributes"]
    assert "Host EC2 (instance i-0123456789abcdef0) terminated." in alert["Message"]


def test_events_of_jobs_this_stack_did_not_submit_are_ignored(stack: EmulatedStack) -> None:
    # Given a job in our queue that the orchestrator did not submit
    batch = stack.client("batch")
    batch.submit_job(
        jobName="someone-elses-job",
        jobQueue=stack.outputs["JobQueueArn"],
        jobDefinition=stack.outputs["JobDefinitionArn"],
    )
    (job,) = all_jobs(stack)

    # When its events arrive
    result = track(stack, job_event(stack, job, "FAILED", exit_code=3))

    # Then nothing is recorded
    assert result == {"outcome": "IGNORED"}
    assert stack.client("dynamodb").scan(TableName=stack.outputs["RunsTableName"])["Count"] == 0


def test_a_blocked_queue_alerts_once_per_blocking_job(stack: EmulatedStack) -> None:
    # Given a run whose job is stuck RUNNABLE in a blocked queue
    run_id, inbox = _start(stack)
    job = _latest_job(stack, run_id)
    reason = (
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU)"
        " is higher than that can be met by the CE(s) attached to the job queue."
    )
    event = queue_blocked(job, region=stack.region, account=stack.account_id, status_reason=reason)
    assert stack.rules_matching(event)

    # When the queue-blocked event arrives twice
    first = track(stack, event)
    second = track(stack, event)

    # Then one alert names the queue and the reason
    assert (first["alerted"], second["alerted"]) == (True, False)
    (alert,) = received_alerts(stack, inbox)
    assert alert["MessageAttributes"]["alertType"]["Value"] == "QUEUE_BLOCKED"
    assert "JOB_RESOURCE_REQUIREMENT" in alert["Message"]


def _foreign_blocking_job(stack: EmulatedStack) -> dict[str, Any]:
    """A "Batch Job Queue Blocked" event, as AWS documents it, for a job this stack did not submit."""
    event = load_event("batch_queue_blocked.json")
    detail = event["detail"]
    queue = stack.outputs["JobQueueArn"]
    detail["jobQueue"] = queue
    detail["jobName"] = "nightly-etl-by-another-team"
    detail["tags"] = {"team": "data-platform"}
    event["resources"] = [detail["jobArn"], queue]
    return event


def test_a_job_the_stack_did_not_submit_blocking_the_queue_alerts_once_however_often_delivered(
    stack: EmulatedStack,
) -> None:
    # Given the queue blocked by a job without the orchestrator's tags, and EventBridge's at-least-once delivery
    inbox = subscribe_alerts(stack)
    event = _foreign_blocking_job(stack)
    assert stack.rules_matching(event)

    # When the event arrives three times
    results = [track(stack, event) for _ in range(3)]

    # Then one alert went out, naming the blocking job
    assert [result["alerted"] for result in results] == [True, False, False]
    (alert,) = received_alerts(stack, inbox)
    assert alert["MessageAttributes"]["alertType"]["Value"] == "QUEUE_BLOCKED"
    assert event["detail"]["jobId"] in alert["Message"]
    # and the marker that remembers it is no run: no run listing or sweep sees it
    (marker,) = stack.client("dynamodb").scan(TableName=stack.outputs["RunsTableName"])["Items"]
    assert "status" not in marker
    assert "activeStatus" not in marker
    assert int(marker["expiresAt"]["N"]) > 0


def test_a_blocked_queue_alert_whose_sender_died_before_confirming_is_sent_by_a_later_delivery(
    stack: EmulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a delivery that took the alert of a blocking job and died before publishing it
    from batch_orchestrator.adapters.runs_table import RunsTable

    inbox = subscribe_alerts(stack)
    event = _foreign_blocking_job(stack)
    runs = RunsTable(stack.outputs["RunsTableName"], retention_days=1)
    lease = int(stack.function_environment("TrackJobsFunction")["SIDE_EFFECT_LEASE_SECONDS"])
    died_at = datetime.now(UTC) - timedelta(seconds=lease + 1)
    assert runs.claim_queue_blocked_alert(
        job_id=event["detail"]["jobId"],
        job_queue=stack.outputs["JobQueueArn"],
        run_id=None,
        now=died_at,
        lease_until=int(died_at.timestamp()) + lease,
    )

    # When EventBridge delivers the event again after the lease
    result = track(stack, event)

    # Then the alert goes out, once
    assert result["alerted"] is True
    assert len(received_alerts(stack, inbox)) == 1
    assert track(stack, event)["alerted"] is False


def test_a_malformed_batch_event_raises_so_lambda_keeps_it(stack: EmulatedStack) -> None:
    # Given an event that claims to be a Batch state change but has no job id
    event = {"source": "aws.batch", "detail-type": "Batch Job State Change", "detail": {"status": "RUNNING"}}

    # Then the handler raises (Lambda retries it, then the on-failure destination keeps it)
    with pytest.raises(Exception, match="jobId"):
        track(stack, event)
