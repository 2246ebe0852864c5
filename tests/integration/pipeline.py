"""Test helpers that drive the stack of template.yaml (created in moto) the way AWS would.

SIMULATED: moto's Batch emits no events and reports no exit codes, so ``job_event`` builds the
"Batch Job State Change" event Batch would send from moto's DescribeJobs entry, and the tests
hand it to track_jobs only after checking that the template's EventBridge rule admits it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from batch_orchestrator.adapters import aws
from emulator import EmulatedStack, deliver_sqs_batch, invoke_handler
from emulator.batch_events import job_state_change

BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def upload(stack: EmulatedStack, key: str, body: bytes = b"a,b\n1,2\n") -> None:
    stack.client("s3").put_object(Bucket=stack.outputs["InputBucketName"], Key=key, Body=body)


def drain_test_event(stack: EmulatedStack) -> None:
    """Consume the s3:TestEvent S3 sends when the notification is configured."""
    delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True)
    assert delivery.failed == (), delivery.result


def deliver_all(stack: EmulatedStack, *, max_rounds: int = 50) -> list[Any]:
    """Run submit_jobs until the SubmitQueue has nothing visible; return each batch's response."""
    results = []
    for _ in range(max_rounds):
        delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True)
        if delivery.event is None:
            return results
        results.append(delivery.result)
    raise AssertionError("SubmitQueue did not drain")


def all_jobs(stack: EmulatedStack) -> list[dict[str, Any]]:
    """Every job in the stack's queue, whatever its status (full DescribeJobs entries)."""
    batch = stack.client("batch")
    queue = stack.outputs["JobQueueArn"]
    ids: list[str] = []
    for status in BATCH_STATUSES:
        for page in batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus=status):
            ids.extend(summary["jobId"] for summary in page["jobSummaryList"])
    jobs: list[dict[str, Any]] = []
    for start in range(0, len(ids), 100):
        jobs.extend(batch.describe_jobs(jobs=sorted(set(ids[start : start + 100])))["jobs"])
    return sorted(jobs, key=lambda job: job["jobName"])


def failed_bodies(delivery: Any) -> list[str]:
    """The bodies of the records a delivery reported as failed."""
    return [record["body"] for record in delivery.event["Records"] if record["messageId"] in delivery.failed]


def job_environment(job: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in job["container"].get("environment", [])}


def get_run(stack: EmulatedStack, run_id: str) -> dict[str, Any] | None:
    table = stack.client("dynamodb")
    item = table.get_item(TableName=stack.outputs["RunsTableName"], Key={"runId": {"S": run_id}}, ConsistentRead=True)
    if "Item" not in item:
        return None
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item["Item"].items()}


def job_event(stack: EmulatedStack, job: dict[str, Any], status: str, **details: Any) -> dict[str, Any]:
    """The state-change event Batch would emit for ``job``; asserts the template's rule admits it."""
    event = job_state_change(job, status, region=stack.region, account=stack.account_id, **details)
    assert stack.rules_matching(event), "the template's EventBridge rule would not deliver this event"
    return event


def track(stack: EmulatedStack, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = invoke_handler(stack, "TrackJobsFunction", event)
    return result


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
    alerts = []
    while True:
        messages = sqs.receive_message(QueueUrl=inbox_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return alerts
        for message in messages:
            alerts.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=inbox_url, ReceiptHandle=message["ReceiptHandle"])


def queue_depth(stack: EmulatedStack, output_name: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[output_name],
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


class CallCounter:
    """Counts the AWS API calls the shared package's cached clients make (botocore's before-call event)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def attach(self) -> CallCounter:
        for client in (
            aws.client("dynamodb"),
            aws.client("sqs"),
            aws.client("sns"),
            aws.client("batch"),
            aws.submit_client(),
        ):
            client.meta.events.register("before-call", self._count)
        return self

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}:{model.name}")

    def reset(self) -> None:
        self.calls.clear()


class SubmitJobThrottle:
    """Makes SubmitJob answer TooManyRequestsException for chosen job names (fault injection at the client)."""

    def __init__(self, should_throttle: Any) -> None:
        self._should_throttle = should_throttle
        self.throttled: list[str] = []

    def attach(self) -> SubmitJobThrottle:
        aws.submit_client().meta.events.register("before-parameter-build.batch.SubmitJob", self._maybe_throttle)
        return self

    def stop(self) -> None:
        self._should_throttle = lambda name: False

    def _maybe_throttle(self, params: dict[str, Any], **_: Any) -> None:
        name = params["jobName"]
        if self._should_throttle(name):
            self.throttled.append(name)
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Too Many Requests"}}, "SubmitJob"
            )


def iter_runs(stack: EmulatedStack) -> Iterator[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    paginator = stack.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=stack.outputs["RunsTableName"]):
        for item in page["Items"]:
            yield {name: deserializer.deserialize(value) for name, value in item.items()}
