"""The whole pipeline, locally: upload → SubmitQueue → submit_jobs → Batch (local job runner) →
Batch events → EventBridge rule → track_jobs → runs table, retry or SNS alert.

Nothing is called directly: files are uploaded to the input bucket (or a schedule fires) and the
tests watch what the stack does, through the same AWS APIs a user would use.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from urllib.parse import unquote_plus

import pytest

from emulator.alerts_inbox import alert_run_id
from emulator.batch_event_builder import job_state_change
from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT, result_object, wait_for_status
from tests.support.runs import job_environment

BATCH_LIFE = ["SUBMITTED", "RUNNABLE", "STARTING", "RUNNING"]


def _statuses(pipeline: LocalPipeline, run_id: str) -> list[str]:
    return [change.status for change in pipeline.changes(run_id)]


def test_an_upload_runs_its_job_and_succeeds_with_the_result_written(pipeline: LocalPipeline) -> None:
    # Given a file with a space and a non-ASCII character in its name
    key = "incoming/daily report ü.csv"
    body = "day,total\nmon,3\ntue,5\n"

    # When it is uploaded
    upload = pipeline.upload(key, body)
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then the run went through every state of its one job and succeeded
    assert (run.status.value, run.attempt, run.exit_code) == ("SUCCEEDED", 1, 0)
    assert _statuses(pipeline, upload.run_id) == [*BATCH_LIFE, "SUCCEEDED"]
    assert [(entry.attempt, entry.status.value, entry.exit_code) for entry in run.history] == [(1, "SUCCEEDED", 0)]
    # and the job wrote the checksum, size and line count of that exact object version
    result = result_object(pipeline, upload.run_id)
    assert result["input"] == {
        "bucket": pipeline.stack.outputs["InputBucketName"],
        "key": key,
        "versionId": upload.version_id,
    }
    assert result["sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert (result["bytes"], result["lines"]) == (len(body.encode()), 3)
    # and Batch (DescribeJobs, which the watchdog reads) agrees with the run
    (job,) = pipeline.jobs_of(upload.run_id)
    assert job["status"] == "SUCCEEDED"
    assert job["container"]["exitCode"] == 0
    assert [attempt["container"]["exitCode"] for attempt in job["attempts"]] == [0]
    assert job_environment(job)["INPUT_KEY"] == key
    assert job["tags"]["batch-orchestrator:run-id"] == upload.run_id
    # and the job's output is in its CloudWatch Logs stream, named as the run records it
    events = pipeline.stack.client("logs").get_log_events(
        logGroupName=pipeline.stack.outputs["JobLogGroupName"], logStreamName=run.log_stream_name
    )["events"]
    assert any("result written" in event["message"] for event in events)
    # and the functions' logs are in their log groups, as Lambda would have sent them
    logs = pipeline.stack.client("logs")
    submit_log = logs.filter_log_events(logGroupName=pipeline.stack.function_log_group("SubmitJobsFunction"))
    assert any(upload.run_id in event["message"] for event in submit_log["events"])
    assert pipeline.alerts() == []
    assert pipeline.errors == []


def test_a_transient_exit_code_is_retried_and_then_succeeds(pipeline: LocalPipeline) -> None:
    # Given a file that makes the sample job exit 75 (in RetryExitCodes) on its first attempt only
    upload = pipeline.upload("incoming/flaky.txt", "#exit 75 until attempt 2\npayload\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then attempt 1 failed with 75, the run waited, and attempt 2 (a second Batch job) succeeded
    assert (run.status.value, run.attempt, run.exit_code) == ("SUCCEEDED", 2, 0)
    assert _statuses(pipeline, upload.run_id) == [*BATCH_LIFE, "RETRY_WAIT", *BATCH_LIFE, "SUCCEEDED"]
    assert [(entry.attempt, entry.status.value, entry.exit_code) for entry in run.history] == [
        (1, "FAILED", 75),
        (2, "SUCCEEDED", 0),
    ]
    jobs = pipeline.jobs_of(upload.run_id)
    assert [(job["jobName"].split("-")[2], job["status"], job["container"]["exitCode"]) for job in jobs] == [
        ("a1", "FAILED", 75),
        ("a2", "SUCCEEDED", 0),
    ]
    assert [job_environment(job)["RUN_ATTEMPT"] for job in jobs] == ["1", "2"]
    assert result_object(pipeline, upload.run_id)["attempt"] == 2
    # and a retried failure alerts nobody
    assert pipeline.alerts() == []


def test_a_permanent_exit_code_fails_the_run_with_exactly_one_alert(pipeline: LocalPipeline) -> None:
    # Given a file that makes the sample job exit 3 (not in RetryExitCodes)
    upload = pipeline.upload("incoming/broken.txt", "#exit 3\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it failed for good on its first attempt, without a retry
    assert (run.status.value, run.attempt, run.exit_code) == ("FAILED", 1, 3)
    assert _statuses(pipeline, upload.run_id) == [*BATCH_LIFE, "FAILED"]
    (job,) = pipeline.jobs_of(upload.run_id)
    assert (job["status"], job["container"]["exitCode"]) == ("FAILED", 3)
    # and subscribers got one alert saying so
    (alert,) = pipeline.alerts()
    assert alert_run_id(alert) == upload.run_id
    assert alert.subject == "Batch job failed: broken.txt (exit 3, attempt 1/3)"
    # (the attributes as track_jobs published them, in Publish's shape, for SNS filter policies)
    assert alert.attributes["alertType"] == {"DataType": "String", "StringValue": "RUN_FAILED"}
    assert alert.attributes["exitCode"] == {"DataType": "Number", "StringValue": "3"}
    assert "incoming/broken.txt" in alert.message

    # When Batch delivers the FAILED event once more (events are at least once)
    duplicate = job_state_change(
        job,
        "FAILED",
        region=pipeline.stack.region,
        account=pipeline.stack.account_id,
        exit_code=3,
        status_reason=job["statusReason"],
        attempts=job["attempts"],
        log_stream_name=job["container"].get("logStreamName"),
    )
    assert pipeline.put_events(duplicate) == 1
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then there is still exactly one alert
    assert len(pipeline.alerts()) == 1
    assert pipeline.errors == []


def test_a_job_terminated_through_the_batch_api_is_stopped_and_fails_its_run(pipeline: LocalPipeline) -> None:
    # Given a run whose job is running (the sample job sleeps 30 s first)
    upload = pipeline.upload("incoming/slow.txt", "#sleep 30\n")
    wait_for_status(pipeline, upload.run_id, "RUNNING")
    (job,) = pipeline.jobs_of(upload.run_id)

    # When someone terminates the job through Batch (the watchdog does, for jobs stuck too long)
    started = time.monotonic()
    pipeline.stack.client("batch").terminate_job(jobId=job["jobId"], reason="Terminated by an operator")
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then its task is stopped at once (SIGTERM: exit 143), and job and run fail with that reason
    assert time.monotonic() - started < 10
    (job,) = pipeline.jobs_of(upload.run_id)
    assert (job["status"], job["statusReason"], job["container"]["exitCode"]) == (
        "FAILED",
        "Terminated by an operator",
        143,
    )
    assert (run.status.value, run.attempt, run.exit_code) == ("FAILED", 1, 143)
    assert [alert_run_id(alert) for alert in pipeline.alerts()] == [upload.run_id]


def test_ten_files_uploaded_at_once_give_ten_runs_and_ten_jobs(pipeline: LocalPipeline) -> None:
    # Given ten different files uploaded back to back
    uploads = [pipeline.upload(f"incoming/batch/part-{n:02d}.csv", f"part,{n}\n") for n in range(10)]

    # When every run finishes
    runs = pipeline.wait_for_runs([upload.run_id for upload in uploads], timeout=RUN_TIMEOUT)
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then there are ten runs, all succeeded, each with exactly one Batch job of its own
    assert len(runs) == 10
    assert {run.status.value for run in runs.values()} == {"SUCCEEDED"}
    jobs = {upload.run_id: pipeline.jobs_of(upload.run_id) for upload in uploads}
    assert [len(run_jobs) for run_jobs in jobs.values()] == [1] * 10
    assert len({run_jobs[0]["jobId"] for run_jobs in jobs.values()}) == 10
    assert {result_object(pipeline, upload.run_id)["input"]["key"] for upload in uploads} == {u.key for u in uploads}
    # and the event source mapping batched the notifications (BatchSize 10, 1 s window)
    sizes = [len(delivery.bodies) for delivery in pipeline.deliveries()]
    assert max(sizes) > 1, sizes


def test_duplicate_notifications_give_no_extra_job(pipeline: LocalPipeline) -> None:
    # Given the S3 notification of one upload, delivered three times at once
    sqs = pipeline.stack.client("sqs")
    queue_url = pipeline.stack.outputs["SubmitQueueUrl"]
    with pipeline.submissions_paused():
        upload = pipeline.upload("incoming/twice.csv", "a\n")
        notification = _notification_for(pipeline, upload.key)
        for _ in range(2):
            sqs.send_message(QueueUrl=queue_url, MessageBody=notification)

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then all three were consumed, and they made one run with one job
    delivered = [body for delivery in pipeline.deliveries() for body in delivery.bodies if body == notification]
    assert len(delivered) == 3
    assert (run.status.value, run.attempt) == ("SUCCEEDED", 1)
    assert len(pipeline.jobs_of(upload.run_id)) == 1

    # When the same notification arrives again, late, after the run succeeded
    sqs.send_message(QueueUrl=queue_url, MessageBody=notification)
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then nothing changes: still one job, and the run as it was
    assert len(pipeline.jobs_of(upload.run_id)) == 1
    assert pipeline.run(upload.run_id) == run
    assert pipeline.queue_depth("SubmitDLQUrl") == 0


def test_a_schedule_firing_runs_one_job(pipeline: LocalPipeline) -> None:
    # Given the stack's schedule (off by default: fired on demand, as the scheduler would)
    # When it fires, and the scheduler delivers the same firing twice
    firing = pipeline.fire_schedule()
    pipeline.fire_schedule(scheduled_time=datetime.fromisoformat(firing.scheduled_time))
    assert firing.run_id is not None
    run = pipeline.wait_for_runs([firing.run_id], timeout=RUN_TIMEOUT)[firing.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then one run, one job, and the job knew which firing it served
    assert (run.status.value, run.attempt) == ("SUCCEEDED", 1)
    assert len(pipeline.jobs_of(firing.run_id)) == 1
    result = result_object(pipeline, firing.run_id)
    assert result["trigger"] == "schedule"
    assert result["schedule"] == {"name": firing.schedule_name, "scheduledTime": firing.scheduled_time}


@pytest.mark.parametrize("pipeline_parameters", [{"SubmitMaxReceiveCount": "2"}], indirect=True)
def test_a_message_that_always_fails_moves_to_the_dead_letter_queue(pipeline: LocalPipeline) -> None:
    # Given a SubmitQueue whose visibility timeout is cut to 2 s (420 s in the template; still longer
    # than the 1 s batching window, as it must be) so that redeliveries come quickly, and a message no
    # handler can parse next to a good upload
    sqs = pipeline.stack.client("sqs")
    queue_url = pipeline.stack.outputs["SubmitQueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "2"})
    poison = "this is not an S3 notification"
    sqs.send_message(QueueUrl=queue_url, MessageBody=poison)
    upload = pipeline.upload("incoming/good.csv", "ok\n")

    # Then the good upload is not held up by it
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    assert run.status.value == "SUCCEEDED"
    # and after SubmitMaxReceiveCount failed receives, SQS moves the bad one to SubmitDLQ
    max_receives = int(pipeline.stack.parameters["SubmitMaxReceiveCount"])
    deadline = time.monotonic() + 10 + 3 * max_receives
    while pipeline.queue_depth("SubmitDLQUrl") == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    (dead,) = sqs.receive_message(QueueUrl=pipeline.stack.outputs["SubmitDLQUrl"]).get("Messages", [])
    assert dead["Body"] == poison
    assert sum(delivery.bodies.count(poison) for delivery in pipeline.deliveries()) == max_receives
    assert all(delivery.failed >= 1 for delivery in pipeline.deliveries() if poison in delivery.bodies)
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)


def _notification_for(pipeline: LocalPipeline, key: str) -> str:
    """The body of the S3 notification of ``key`` on the SubmitQueue, left on the queue."""
    sqs = pipeline.stack.client("sqs")
    queue_url = pipeline.stack.outputs["SubmitQueueUrl"]
    for _ in range(20):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            records = json.loads(message["Body"]).get("Records", [])
            if any(unquote_plus(record["s3"]["object"]["key"]) == key for record in records):
                return str(message["Body"])
        time.sleep(0.1)
    raise AssertionError(f"no notification for {key} on the SubmitQueue")
