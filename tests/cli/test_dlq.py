"""`orchestrator dlq list | redrive` against the stack's three dead-letter queues."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source
from batch_orchestrator.submit_messages import retry_message
from emulator import EmulatedStack
from orchestrator_cli.aws import Aws
from orchestrator_cli.commands.dlq_list import describe_message
from orchestrator_cli.commands.dlq_redrive import redrive_payload
from orchestrator_cli.commands.submit import notification_body
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner, discard_submit_queue, drain_submit_queue, input_bucket, read_run, upload

BATCH_EVENT = {
    "version": "0",
    "detail-type": "Batch Job State Change",
    "source": "aws.batch",
    "detail": {"jobName": "s3-0123456789abcdef01234567-a1-x", "status": "FAILED"},
}


def _send(stack: EmulatedStack, output: str, body: str, **attributes: str) -> None:
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs[output],
        MessageBody=body,
        MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
    )


def _count(stack: EmulatedStack, output: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[output], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _lost_upload(stack: EmulatedStack, key: str) -> tuple[str, str]:
    """An upload whose notification ended in the SubmitDLQ: (its notification body, its run id)."""
    source = upload(stack, key)
    discard_submit_queue(stack)
    body = notification_body(
        S3Source(bucket=source.bucket, key=key, version_id=source.version_id, size=8),
        region=stack.region,
        etag=None,
        principal=None,
    )
    return body, run_id_for(source)


def test_dlq_list_counts_and_peeks(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given an S3 notification and a retry request in the SubmitDLQ, and a failed Batch event in the TrackingDLQ
    body, _ = _lost_upload(stack, "incoming/lost.csv")
    _send(stack, "SubmitDLQUrl", body)
    source = S3Source(bucket=input_bucket(stack), key="incoming/x.csv", version_id="v")
    _send(stack, "SubmitDLQUrl", retry_message(run_id=run_id_for(source), attempt=2, source=source))
    _send(stack, "TrackingDLQUrl", json.dumps(BATCH_EVENT), ERROR_CODE="Lambda.Throttled", ERROR_MESSAGE="slow down")

    # When the DLQs are listed
    result = cli("dlq", "list", stack=stack)

    # Then each shows its count, and the peek says what the messages are
    assert result.code == ExitCode.OK, result.err
    rows = {line.split()[0]: line.split() for line in result.out.splitlines()[1:4]}
    assert rows["submit"][2] == "2"
    assert rows["schedule"][2] == "0"
    assert rows["tracking"][2] == "1"
    assert "ObjectCreated:Put s3://" in result.out
    assert "incoming/lost.csv" in result.out
    assert f"retry request: {run_id_for(source)} attempt 2" in result.out
    assert "Batch Job State Change: s3-0123456789abcdef01234567-a1-x FAILED [Lambda.Throttled: slow down]" in result.out

    # And as JSON; the peek left every message in place
    document = cli("--json", "dlq", "list", "--queue", "tracking", "--peek", "1", stack=stack).json()
    (tracking,) = document["queues"]
    assert tracking["visible"] == 1
    assert tracking["redrivesTo"] == stack.outputs["TrackJobsFunctionName"]
    assert json.loads(tracking["peek"][0]["body"]) == BATCH_EVENT
    assert _count(stack, "SubmitDLQUrl") == 2


def test_redrive_submit_dlq_moves_messages_back_and_the_runs_start(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given two uploads whose notifications ended in the SubmitDLQ
    lost = [_lost_upload(stack, f"incoming/lost-{n}.csv") for n in range(2)]
    for body, _ in lost:
        _send(stack, "SubmitDLQUrl", body)

    # When the SubmitDLQ is redriven
    result = cli("--json", "dlq", "redrive", stack=stack)

    # Then moto (without StartMessageMoveTask) got the fallback, and the CLI says so
    assert result.code == ExitCode.OK, result.err
    document = result.json()
    assert document["method"] == "receive/send/delete"
    assert "StartMessageMoveTask is not available" in document["reason"]
    assert (document["moved"], document["messagesBefore"], document["messagesAfter"]) == (2, 2, 0)

    # And the submit function starts both runs from the SubmitQueue
    assert drain_submit_queue(stack) == 2
    assert {read_run(stack, run_id)["status"] for _, run_id in lost} == {"SUBMITTED"}


def test_redrive_with_max_moves_only_that_many(stack: EmulatedStack, cli: CliRunner) -> None:
    for n in range(3):
        _send(stack, "SubmitDLQUrl", json.dumps({"Event": "s3:TestEvent", "n": n}))

    result = cli("dlq", "redrive", "--queue", "submit", "--max", "2", stack=stack)
    empty = cli("dlq", "redrive", "--queue", "schedule", stack=stack)

    assert result.code == ExitCode.OK, result.err
    assert "Moved 2 messages from SubmitDLQ to the SubmitQueue by receive/send/delete (--max 2 given)" in result.out
    assert _count(stack, "SubmitDLQUrl") == 1
    assert empty.out.strip() == "ScheduleDLQ is empty: nothing to redrive."


def test_redrive_tracking_dlq_invokes_the_function_again(
    stack: EmulatedStack, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the TrackingDLQ holding a rule dead letter (the event itself), a Lambda on-failure record
    # (the event inside requestPayload), and something that is no event at all
    _send(stack, "TrackingDLQUrl", json.dumps(BATCH_EVENT), ERROR_CODE="SDK_CLIENT_ERROR")
    record = {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {**BATCH_EVENT, "id": "second"},
        "responsePayload": {"errorMessage": "boom"},
    }
    _send(stack, "TrackingDLQUrl", json.dumps(record))
    _send(stack, "TrackingDLQUrl", "not json")
    # and a Lambda client that records the invocations (moto would not run the function)
    import boto3

    lambda_client = boto3.client("lambda", region_name=stack.region)
    stubber = Stubber(lambda_client)
    function = stack.outputs["TrackJobsFunctionName"]
    for payload in (BATCH_EVENT, {**BATCH_EVENT, "id": "second"}):
        stubber.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": function, "InvocationType": "Event", "Payload": json.dumps(payload).encode()},
        )
    stubber.activate()
    original = Aws.client

    def client(self: Aws, service: str) -> Any:
        return lambda_client if service == "lambda" else original(self, service)

    monkeypatch.setattr(Aws, "client", client)

    # When the TrackingDLQ is redriven
    result = cli("--json", "dlq", "redrive", "--queue", "tracking", stack=stack)

    # Then both events went back to track_jobs, asynchronously, and the non-event stays
    assert result.code == ExitCode.OK, result.err
    document = result.json()
    assert document["method"] == "lambda:Invoke (asynchronous)"
    assert (document["moved"], document["skipped"], document["messagesAfter"]) == (2, 1, 1)
    stubber.assert_no_pending_responses()


def test_describe_and_payload_of_dead_letters() -> None:
    schedule_input = {"scheduleName": "s", "scheduledTime": "2026-11-21T03:00:00Z"}
    assert describe_message(json.dumps(schedule_input)) == "schedule s @ 2026-11-21T03:00:00Z"
    assert redrive_payload(json.dumps(schedule_input)) == schedule_input
    wrapped = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": schedule_input}
    assert redrive_payload(json.dumps(wrapped)) == schedule_input
    assert describe_message(json.dumps(wrapped)) == (
        "failed invocation (RetriesExhausted) of schedule s @ 2026-11-21T03:00:00Z"
    )
    assert redrive_payload("[1, 2]") is None
    assert describe_message("x" * 300).startswith("raw: x")


def test_the_watchdog_dlq_is_listed_but_never_redriven(stack: EmulatedStack, cli: CliRunner) -> None:
    if "WatchdogDLQUrl" not in stack.outputs:
        pytest.skip("this template has no watchdog")
    _send(stack, "WatchdogDLQUrl", json.dumps({"scheduleName": "watchdog"}))

    listed = cli("--json", "dlq", "list", stack=stack).json()
    refused = cli("dlq", "redrive", "--queue", "watchdog", stack=stack)

    watchdog = next(queue for queue in listed["queues"] if queue["queue"] == "watchdog")
    assert watchdog["visible"] == 1
    assert refused.code == ExitCode.REFUSED
    assert "nothing to redrive" in refused.err
    assert _count(stack, "WatchdogDLQUrl") == 1
