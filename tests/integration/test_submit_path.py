"""The submit path on the stack of template.yaml in moto: S3 upload or schedule → exactly one Batch job."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import S3Source, SubmitRequest
from batch_orchestrator.submit import SubmitOutcome, SubmitSettings, submit_run
from batch_orchestrator.timeutil import utcnow
from emulator import EmulatedStack, deliver_sqs_batch, invoke_handler
from tests.support.aws_doubles import CallCounter, SubmitJobThrottle
from tests.support.events import load_event
from tests.support.runs import all_jobs, deliver_all, drain_test_event, failed_bodies, get_run, job_environment, upload

UNICODE_KEY = "incoming/my report ü 2026.csv"


def _send(stack: EmulatedStack, body: str) -> None:
    stack.client("sqs").send_message(QueueUrl=stack.outputs["SubmitQueueUrl"], MessageBody=body)


def _settings(stack: EmulatedStack) -> SubmitSettings:
    env = stack.function_environment("SubmitJobsFunction")
    return SubmitSettings(
        job_queue=env["JOB_QUEUE_ARN"],
        job_definition=env["JOB_DEFINITION_ARN"],
        max_attempts=int(env["MAX_ATTEMPTS"]),
        claim_lease_seconds=int(env["CLAIM_LEASE_SECONDS"]),
    )


def _runs(stack: EmulatedStack) -> RunsTable:
    return RunsTable(stack.outputs["RunsTableName"], retention_days=90)


def _request(stack: EmulatedStack, key: str) -> SubmitRequest:
    source = S3Source(bucket=stack.outputs["InputBucketName"], key=key, sequencer="01")
    return SubmitRequest(run_id=run_id_for(source), attempt=1, source=source)


def _claim_only(runs: RunsTable, settings: SubmitSettings, request: SubmitRequest, *, at: datetime) -> None:
    """What a delivery that stopped right after its claim leaves behind."""
    runs.claim_first_attempt(
        run_id=request.run_id,
        source=request.source,
        job_name=job_name_for(request.run_id, 1, request.source),
        job_queue=settings.job_queue,
        job_definition=settings.job_definition,
        max_attempts=settings.max_attempts,
        now=at,
        claimed_until=int(at.timestamp()) + settings.claim_lease_seconds,
    )


def test_upload_starts_one_job_whose_environment_holds_the_exact_key(stack: EmulatedStack) -> None:
    # Given the stack, with S3's test event consumed
    drain_test_event(stack)

    # When a file with a space and a non-ASCII character in its name is uploaded
    upload(stack, UNICODE_KEY)
    deliver_all(stack)

    # Then exactly one Batch job ran for it, with the key as data in its environment
    (job,) = all_jobs(stack)
    env = job_environment(job)
    assert env["INPUT_KEY"] == UNICODE_KEY
    assert env["INPUT_BUCKET"] == stack.outputs["InputBucketName"]
    assert env["RUN_ATTEMPT"] == "1"
    assert env["TRIGGER"] == "s3"
    assert job["jobName"] == job_name_for(env["RUN_ID"], 1, S3Source(bucket="b", key=UNICODE_KEY))
    assert job["tags"]["batch-orchestrator:run-id"] == env["RUN_ID"]
    # and its run is recorded as SUBMITTED, in the sparse index of active runs
    run = get_run(stack, env["RUN_ID"])
    assert run is not None
    assert run["status"] == "SUBMITTED"
    assert run["activeStatus"] == "SUBMITTED"
    assert run["source"]["key"] == UNICODE_KEY
    assert run["jobQueue"] == stack.outputs["JobQueueArn"]


def test_happy_path_costs_two_aws_calls_per_uploaded_file(stack: EmulatedStack) -> None:
    # Given one notification waiting, and the shared clients instrumented
    drain_test_event(stack)
    upload(stack, "incoming/one.csv")
    counter = CallCounter().attach()

    # When submit_jobs handles it
    deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True)

    # Then the only calls were the conditional claim and SubmitJob
    assert counter.calls == ["dynamodb:PutItem", "batch:SubmitJob"]


def test_the_same_notification_delivered_twice_starts_one_job(stack: EmulatedStack) -> None:
    # Given one upload, and its notification delivered a second time (S3 delivers at least once)
    drain_test_event(stack)
    upload(stack, UNICODE_KEY)
    message = stack.client("sqs").receive_message(QueueUrl=stack.outputs["SubmitQueueUrl"])["Messages"][0]
    _send(stack, message["Body"])
    stack.client("sqs").change_message_visibility(
        QueueUrl=stack.outputs["SubmitQueueUrl"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )

    # When both deliveries are processed
    results = deliver_all(stack)

    # Then one job, and no delivery reported a failure
    assert len(all_jobs(stack)) == 1
    assert all(result["batchItemFailures"] == [] for result in results)


def test_test_event_placeholders_and_keys_outside_the_prefix_start_nothing(stack: EmulatedStack) -> None:
    # Given the sample batch: a real file, a folder placeholder and a key outside the prefix
    event = load_event("sqs_s3_batch.json")
    bucket = stack.outputs["InputBucketName"]
    for record in event["Records"]:
        body = json.loads(record["body"])
        for s3_record in body.get("Records", []):
            s3_record["s3"]["bucket"]["name"] = bucket
        _send(stack, json.dumps(body))

    # When they are processed (with the s3:TestEvent the subscription produced)
    results = deliver_all(stack)

    # Then only the real file under the prefix started a job
    jobs = all_jobs(stack)
    assert [job_environment(job)["INPUT_KEY"] for job in jobs] == ["incoming/data-2026-11-21.csv"]
    assert all(result["batchItemFailures"] == [] for result in results)


def test_a_malformed_message_fails_alone(stack: EmulatedStack) -> None:
    # Given a batch with a malformed body between two good uploads
    drain_test_event(stack)
    upload(stack, "incoming/a.csv")
    _send(stack, "{not json")
    upload(stack, "incoming/b.csv")

    # When the batch is processed
    delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True)

    # Then the malformed record alone is reported failed; both files got their job
    assert delivery.result["batchItemFailures"] == [{"itemIdentifier": delivery.failed[0]}]
    assert failed_bodies(delivery) == ["{not json"]
    assert sorted(job_environment(job)["INPUT_KEY"] for job in all_jobs(stack)) == ["incoming/a.csv", "incoming/b.csv"]


def test_a_throttled_submit_fails_only_its_record_and_is_submitted_on_redelivery(stack: EmulatedStack) -> None:
    # Given ten uploads, and SubmitJob throttled for one of them however often it is retried
    drain_test_event(stack)
    for index in range(10):
        upload(stack, f"incoming/file-{index}.csv")
    throttle = SubmitJobThrottle(lambda name: name.endswith("file-7_csv")).attach()

    # When one batch of ten is processed
    delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True, release_failed=True)

    # Then nine jobs were submitted and the tenth record alone was reported as a batch item failure
    assert delivery.event is not None
    assert len(delivery.event["Records"]) == 10
    assert len(delivery.failed) == 1
    assert len(all_jobs(stack)) == 9
    assert len(throttle.throttled) == 4  # the first call and three in-process throttling retries
    # and its run says why it waits
    (failed_body,) = failed_bodies(delivery)
    assert json.loads(failed_body)["Records"][0]["s3"]["object"]["key"].endswith("file-7.csv")

    # When the throttling stops and SQS redelivers the record
    throttle.stop()
    deliver_all(stack)

    # Then the tenth job is submitted, once
    jobs = all_jobs(stack)
    assert len(jobs) == 10
    assert len({job["jobName"] for job in jobs}) == 10


def test_throttled_run_is_released_for_an_immediate_resubmission(stack: EmulatedStack) -> None:
    # Given a run whose SubmitJob was throttled
    drain_test_event(stack)
    upload(stack, "incoming/slow.csv")
    SubmitJobThrottle(lambda name: True).attach()
    delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True)
    (body,) = failed_bodies(delivery)
    notified = json.loads(body)["Records"][0]["s3"]["object"]
    source = S3Source(
        bucket=stack.outputs["InputBucketName"],
        key="incoming/slow.csv",
        version_id=notified.get("versionId"),
        sequencer=notified.get("sequencer"),
    )

    # Then the run shows QUEUED with the error, and its claim is free for the next delivery
    run = get_run(stack, run_id_for(source))
    assert run is not None
    assert run["status"] == "QUEUED"
    assert "TooManyRequestsException" in run["lastError"]
    assert run["claimedUntil"] == 0


def test_a_claim_abandoned_before_submit_job_is_recovered_without_a_second_job(stack: EmulatedStack) -> None:
    # Given a run claimed by a delivery that crashed before calling SubmitJob (its lease has expired)
    runs, settings = _runs(stack), _settings(stack)
    request = _request(stack, "incoming/crash.csv")
    _claim_only(runs, settings, request, at=utcnow() - timedelta(seconds=settings.claim_lease_seconds + 1))

    # When the notification is redelivered, twice
    first = submit_run(request, runs=runs, jobs=BatchJobs(), settings=settings, now=utcnow())
    second = submit_run(request, runs=runs, jobs=BatchJobs(), settings=settings, now=utcnow())

    # Then the first redelivery submitted the job and the second was a duplicate
    assert first.outcome is SubmitOutcome.SUBMITTED
    assert second.outcome is SubmitOutcome.DUPLICATE
    assert len(all_jobs(stack)) == 1


def test_a_claim_abandoned_after_submit_job_adopts_the_job(stack: EmulatedStack) -> None:
    # Given a delivery that submitted the job and then crashed (so the run never learned the job id)
    runs, settings = _runs(stack), _settings(stack)
    request = _request(stack, "incoming/crash-late.csv")
    crashed_at = utcnow() - timedelta(seconds=settings.claim_lease_seconds + 1)
    submit_run(request, runs=runs, jobs=BatchJobs(), settings=settings, now=crashed_at)
    assert len(all_jobs(stack)) == 1

    # When the notification is redelivered after the lease
    result = submit_run(request, runs=runs, jobs=BatchJobs(), settings=settings, now=utcnow())

    # Then the existing job is adopted and no second job is submitted
    assert result.outcome is SubmitOutcome.ADOPTED
    assert result.job_id == all_jobs(stack)[0]["jobId"]
    assert len(all_jobs(stack)) == 1


def _redeploy_job_definition(stack: EmulatedStack, settings: SubmitSettings) -> SubmitSettings:
    """What `sam deploy` does to a changed job definition: a new revision, the old one deregistered,
    and the functions' JOB_DEFINITION_ARN pointing at the new one."""
    batch = stack.client("batch")
    (old,) = batch.describe_job_definitions(jobDefinitions=[settings.job_definition])["jobDefinitions"]
    new = batch.register_job_definition(
        jobDefinitionName=old["jobDefinitionName"],
        type=old["type"],
        containerProperties=old["containerProperties"],
        platformCapabilities=old.get("platformCapabilities", ["FARGATE"]),
    )
    batch.deregister_job_definition(jobDefinition=settings.job_definition)
    return SubmitSettings(
        job_queue=settings.job_queue,
        job_definition=new["jobDefinitionArn"],
        max_attempts=settings.max_attempts,
        claim_lease_seconds=settings.claim_lease_seconds,
    )


def test_a_claim_taken_over_after_a_deploy_submits_the_current_job_definition(stack: EmulatedStack) -> None:
    # Given a claim abandoned before SubmitJob, written with the job definition revision of the time,
    runs, settings = _runs(stack), _settings(stack)
    request = _request(stack, "incoming/across-a-deploy.csv")
    _claim_only(runs, settings, request, at=utcnow() - timedelta(seconds=settings.claim_lease_seconds + 1))
    # and a deploy that replaced the job definition (CloudFormation deregisters the old revision)
    current = _redeploy_job_definition(stack, settings)

    # When the notification is redelivered to a function with the new configuration
    result = submit_run(request, runs=runs, jobs=BatchJobs(), settings=current, now=utcnow())

    # Then the job is submitted from the current revision (SubmitJob refuses the deregistered one),
    assert result.outcome is SubmitOutcome.SUBMITTED
    (job,) = all_jobs(stack)
    assert job["jobDefinition"] == current.job_definition
    # and the run records what it was submitted with
    run = get_run(stack, request.run_id)
    assert run is not None
    assert run["jobDefinition"] == current.job_definition


def test_a_retry_after_a_deploy_records_the_job_definition_it_was_submitted_with(stack: EmulatedStack) -> None:
    # Given a run whose attempt 1 was submitted before a deploy replaced the job definition
    runs, settings = _runs(stack), _settings(stack)
    request = _request(stack, "incoming/retry-across-a-deploy.csv")
    submit_run(request, runs=runs, jobs=BatchJobs(), settings=settings, now=utcnow())
    current = _redeploy_job_definition(stack, settings)
    stack.client("dynamodb").update_item(
        TableName=stack.outputs["RunsTableName"],
        Key={"runId": {"S": request.run_id}},
        UpdateExpression="SET #s = :wait, #a = :two",
        ExpressionAttributeNames={"#s": "status", "#a": "attempt"},
        ExpressionAttributeValues={":wait": {"S": "RETRY_WAIT"}, ":two": {"N": "2"}},
    )

    # When attempt 2 is submitted by the new configuration
    retry = SubmitRequest(run_id=request.run_id, attempt=2, source=request.source)
    result = submit_run(retry, runs=runs, jobs=BatchJobs(), settings=current, now=utcnow())

    # Then the record names the revision attempt 2 runs, not attempt 1's
    assert result.outcome is SubmitOutcome.SUBMITTED
    run = get_run(stack, request.run_id)
    assert run is not None
    assert run["jobDefinition"] == current.job_definition


def test_a_claim_in_progress_elsewhere_is_a_duplicate(stack: EmulatedStack) -> None:
    # Given a run claimed a moment ago by a concurrent delivery that has not submitted yet
    runs, settings = _runs(stack), _settings(stack)
    request = _request(stack, "incoming/race.csv")
    _claim_only(runs, settings, request, at=utcnow())

    # When the duplicate delivery arrives
    result = submit_run(request, runs=runs, jobs=BatchJobs(), settings=settings, now=utcnow())

    # Then it submits nothing
    assert result.outcome is SubmitOutcome.DUPLICATE
    assert all_jobs(stack) == []


def test_a_schedule_firing_starts_one_run_even_when_delivered_twice(stack: EmulatedStack) -> None:
    # Given the firing the template's schedule sends, with this stack's schedule name
    event = load_event("schedule_firing.json")
    event["scheduleName"] = stack.outputs["ScheduleName"]

    # When it is delivered twice
    first = invoke_handler(stack, "SubmitScheduledFunction", event)
    second = invoke_handler(stack, "SubmitScheduledFunction", event)

    # Then one run, one job carrying the schedule's name and time
    assert first["outcome"] == "SUBMITTED"
    assert second["outcome"] == "DUPLICATE"
    assert first["runId"] == second["runId"]
    (job,) = all_jobs(stack)
    env = job_environment(job)
    assert env["TRIGGER"] == "schedule"
    assert env["SCHEDULE_NAME"] == stack.outputs["ScheduleName"]
    assert env["SCHEDULED_TIME"] == "2026-11-21T00:00:00Z"
    assert env["RUN_ID"] == first["runId"]


def test_a_malformed_schedule_event_raises_for_the_on_failure_destination(stack: EmulatedStack) -> None:
    with pytest.raises(Exception, match="no scheduled time"):
        invoke_handler(stack, "SubmitScheduledFunction", {"scheduleName": "x"})
    assert all_jobs(stack) == []
