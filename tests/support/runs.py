"""Helpers that play the pipeline on the stack of template.yaml (created in moto) the way AWS would:
upload a file, start a run, read a run, deliver Batch events and finish an attempt, read the queues.

SIMULATED: moto's Batch emits no events and reports no exit codes, so ``job_event`` and
``finish_attempt`` build the "Batch Job State Change" event Batch would send from moto's DescribeJobs
entry; ``job_event`` hands it over only after checking that the template's EventBridge rule admits it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source
from emulator import EmulatedStack, deliver_sqs_batch, invoke_handler
from emulator.batch_event_builder import attempt_entry, job_state_change

BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
SUBMIT_FUNCTION = "SubmitJobsFunction"
TRACK_FUNCTION = "TrackJobsFunction"


# ------------------------------------------------------------------------------------ uploads and runs
def input_bucket(stack: EmulatedStack) -> str:
    return stack.outputs["InputBucketName"]


def runs_table(stack: EmulatedStack) -> str:
    return stack.outputs["RunsTableName"]


def upload(stack: EmulatedStack, key: str, body: bytes = b"a,b\n1,2\n") -> S3Source:
    """Put an object in the input bucket; its S3 notification goes to the SubmitQueue (as on AWS)."""
    bucket = input_bucket(stack)
    version_id = stack.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    return S3Source(bucket=bucket, key=key, version_id=version_id)


def drain_test_event(stack: EmulatedStack) -> None:
    """Consume the s3:TestEvent S3 sends when the notification is configured."""
    delivery = deliver_sqs_batch(stack, SUBMIT_FUNCTION, raise_errors=True)
    assert delivery.failed == (), delivery.result


def deliver_all(stack: EmulatedStack, *, max_rounds: int = 50) -> list[Any]:
    """Run submit_jobs until the SubmitQueue has nothing visible; return each batch's response."""
    results: list[Any] = []
    for _ in range(max_rounds):
        delivery = deliver_sqs_batch(stack, SUBMIT_FUNCTION, raise_errors=True)
        if delivery.event is None:
            return results
        results.append(delivery.result)
    raise AssertionError("SubmitQueue did not drain")


def drain_submit_queue(stack: EmulatedStack) -> int:
    """Run the submit function until the SubmitQueue is empty; returns how many messages it handled."""
    handled = 0
    for _ in range(20):
        delivery = deliver_sqs_batch(stack, SUBMIT_FUNCTION, raise_errors=True)
        if delivery.event is None:
            return handled
        handled += delivery.size
    raise AssertionError("the SubmitQueue did not drain")


def start_run(stack: EmulatedStack, key: str = "incoming/report.csv") -> str:
    """Upload a file and let the submit function start its run; returns the run id."""
    source = upload(stack, key)
    drain_submit_queue(stack)
    return run_id_for(source)


def failed_bodies(delivery: Any) -> list[str]:
    """The bodies of the records a delivery reported as failed."""
    return [record["body"] for record in delivery.event["Records"] if record["messageId"] in delivery.failed]


def get_run(stack: EmulatedStack, run_id: str) -> dict[str, Any] | None:
    """The run's item (deserialised), read consistently; None if there is none."""
    item = stack.client("dynamodb").get_item(
        TableName=runs_table(stack), Key={"runId": {"S": run_id}}, ConsistentRead=True
    )
    if "Item" not in item:
        return None
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item["Item"].items()}


def read_run(stack: EmulatedStack, run_id: str) -> dict[str, Any]:
    """The run's item (deserialised), read consistently; the run must exist."""
    run = get_run(stack, run_id)
    if run is None:
        raise KeyError(f"no run {run_id} in the runs table")
    return run


def iter_runs(stack: EmulatedStack) -> Iterator[dict[str, Any]]:
    deserializer = TypeDeserializer()
    paginator = stack.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=runs_table(stack)):
        for item in page["Items"]:
            yield {name: deserializer.deserialize(value) for name, value in item.items()}


# ------------------------------------------------------------------------------------ Batch jobs and events
def job_queues(stack: EmulatedStack) -> list[str]:
    """The stack's job queues: the On-Demand one, and the Spot one when a workload runs on Fargate Spot."""
    return [stack.outputs[name] for name in ("JobQueueArn", "SpotJobQueueArn") if name in stack.outputs]


def all_jobs(stack: EmulatedStack) -> list[dict[str, Any]]:
    """Every job in the stack's queues, whatever its status (full DescribeJobs entries)."""
    batch = stack.client("batch")
    ids: list[str] = []
    for queue in job_queues(stack):
        for status in BATCH_STATUSES:
            for page in batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus=status):
                ids.extend(summary["jobId"] for summary in page["jobSummaryList"])
    jobs: list[dict[str, Any]] = []
    for start in range(0, len(ids), 100):
        jobs.extend(batch.describe_jobs(jobs=sorted(set(ids[start : start + 100])))["jobs"])
    return sorted(jobs, key=lambda job: job["jobName"])


def jobs_of(stack: EmulatedStack, run_id: str) -> list[dict[str, Any]]:
    """Every Batch job of the run (all attempts, in any of the stack's queues), found by the run id that starts
    its name."""
    found: list[dict[str, Any]] = []
    for queue in job_queues(stack):
        response = stack.client("batch").list_jobs(
            jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [f"{run_id}*"]}]
        )
        found.extend(response["jobSummaryList"])
    return found


def job_environment(job: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in job["container"].get("environment", [])}


def job_event(stack: EmulatedStack, job: dict[str, Any], status: str, **details: Any) -> dict[str, Any]:
    """The state-change event Batch would emit for ``job``; asserts the template's rule admits it."""
    event = job_state_change(job, status, region=stack.region, account=stack.account_id, **details)
    assert stack.rules_matching(event), "the template's EventBridge rule would not deliver this event"
    return event


def track(stack: EmulatedStack, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = invoke_handler(stack, TRACK_FUNCTION, event)
    return result


def finish_attempt(
    stack: EmulatedStack,
    run_id: str,
    status: str,
    *,
    exit_code: int | None = None,
    reason: str | None = None,
    log_stream: str | None = "sample/default/0123456789abcdef",
    job_name: str | None = None,
    status_reason: str | None = None,
) -> dict[str, Any]:
    """Send the track function the Batch event of the run's current job (or of ``job_name``) reaching ``status``
    (``reason``: the container's; ``status_reason``: Batch's, e.g. a Spot interruption)."""
    name = job_name or read_run(stack, run_id)["jobName"]
    # An array's children carry their parent's name: the parent (no ":<index>" in its id) is the run's job.
    (summary,) = [job for job in jobs_of(stack, run_id) if job["jobName"] == name and ":" not in job["jobId"]]
    (job,) = stack.client("batch").describe_jobs(jobs=[summary["jobId"]])["jobs"]
    attempts = []
    if status in ("SUCCEEDED", "FAILED"):
        entry = attempt_entry(exit_code=exit_code, reason=reason, log_stream_name=log_stream)
        if status_reason is not None:
            entry["statusReason"] = status_reason
        attempts = [entry]
    event = job_state_change(
        job,
        status,
        region=stack.region,
        account=stack.account_id,
        exit_code=exit_code,
        container_reason=reason,
        attempts=attempts,
        log_stream_name=log_stream,
        status_reason=status_reason,
    )
    invoke_handler(stack, TRACK_FUNCTION, event)
    return read_run(stack, run_id)


# ------------------------------------------------------------------------------------ queues and alerts
def send_bodies(stack: EmulatedStack, bodies: Sequence[str]) -> None:
    sqs = stack.client("sqs")
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=stack.outputs["SubmitQueueUrl"],
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
        )


def upload_and_take_notifications(stack: EmulatedStack, keys: Sequence[str], *, chunk: int = 20) -> list[str]:
    """Upload ``keys`` to the input bucket and take the S3 notifications S3 sent for them off the queue."""
    s3 = stack.client("s3")
    bucket = input_bucket(stack)
    bodies: list[str] = []
    for start in range(0, len(keys), chunk):
        for key in keys[start : start + chunk]:
            s3.put_object(Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
        bodies.extend(body for body in take_all_bodies(stack) if "Records" in json.loads(body))
    return bodies


def take_all_bodies(stack: EmulatedStack, queue_output: str = "SubmitQueueUrl") -> list[str]:
    """Receive and delete every visible message of a queue; their bodies, in the order received."""
    sqs = stack.client("sqs")
    url = stack.outputs[queue_output]
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(message["Body"] for message in messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def discard_submit_queue(stack: EmulatedStack) -> int:
    """Delete what is on the SubmitQueue without handling it, as if S3's notifications had been lost."""
    sqs = stack.client("sqs")
    url = stack.outputs["SubmitQueueUrl"]
    discarded = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        discarded += len(messages)
    return discarded


def visible_messages(stack: EmulatedStack, queue_output: str) -> int:
    """Messages visible or in flight (not delayed ones) on a queue of the stack."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[queue_output],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def queue_depth(stack: EmulatedStack, output_name: str) -> int:
    """Messages visible, in flight or delayed on a queue of the stack."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[output_name],
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def subscribe_alerts(stack: EmulatedStack) -> str:
    """An SQS queue subscribed to the alerts topic: what an SNS subscriber would receive."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.client("sns").subscribe(TopicArn=stack.outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=arn)
    return str(url)


def received_alerts(stack: EmulatedStack, inbox_url: str) -> list[dict[str, Any]]:
    """Every SNS notification in the inbox (the SNS envelope: Subject, Message, MessageAttributes)."""
    sqs = stack.client("sqs")
    alerts: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return alerts
        for message in messages:
            alerts.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=inbox_url, ReceiptHandle=message["ReceiptHandle"])
