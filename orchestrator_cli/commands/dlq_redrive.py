"""`orchestrator dlq redrive`: move a DLQ's messages back to where they failed.

Owns the three ways back: SQS's StartMessageMoveTask for SubmitDLQ, receive/send/delete when that
is unavailable or --max is given, and an asynchronous Lambda invoke per event for the schedule and
tracking DLQs. Invariant: at least once, never lost: a message is deleted from the DLQ only after
it was sent or its invocation accepted, and a message not moved is made visible in the DLQ again.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator_cli.commands.dlq_queues import QUEUES, queue_counts
from orchestrator_cli.context import Context
from orchestrator_cli.errors import Refused, error_code, error_message, from_aws
from orchestrator_cli.render import one_line, shorten

RECEIVE_VISIBILITY_SECONDS = 60  # long enough to send and delete one batch
# SQS answers these when an action is unknown to it (moto in-process raises NotImplementedError instead).
_UNSUPPORTED_CODES = {
    "NotImplemented",
    "InvalidAction",
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
}


def redrive_payload(body: str) -> dict[str, Any] | None:
    """The event to invoke a function with again: a destination record's requestPayload, else the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "requestPayload" in data and "requestContext" in data:
        payload = data["requestPayload"]
        return payload if isinstance(payload, dict) else None
    return data


def redrive_dlq(ctx: Context, args: argparse.Namespace) -> int:
    deployment = ctx.deployment()
    queue = QUEUES[args.queue]
    url = deployment.output(queue.url_output)
    if not queue.redrivable:
        raise Refused(
            f"{queue.label} holds failed watchdog sweeps: there is nothing to redrive, the next sweep redoes the work",
            hint=f"read the watchdog's logs (`orchestrator dlq list --queue {queue.name}` shows the messages), "
            f"then `aws sqs purge-queue --queue-url {url}`",
        )
    before = queue_counts(ctx, url)["visible"]
    result: dict[str, Any] = {"queue": queue.name, "dlq": queue.label, "messagesBefore": before}

    if before == 0:
        result.update(method=None, moved=0, skipped=0)
        note = f"{queue.label} is empty: nothing to redrive."
    elif queue.target_queue_url_output:
        target_url = deployment.output(queue.target_queue_url_output)
        started = None
        unsupported = None
        if args.max is None:
            started, unsupported = _start_move_task(
                ctx, deployment.output(queue.arn_output), deployment.output(queue.target_queue_arn_output or "")
            )
        if started is not None:
            result.update(method="StartMessageMoveTask", taskHandle=started, moved=None, skipped=0)
            note = (
                f"Started an SQS message move task for about {before} messages from {queue.label} to the SubmitQueue "
                f"(StartMessageMoveTask, task {started}). `orchestrator dlq list` shows the progress."
            )
        else:
            moved, skipped = _move_by_hand(ctx, url, args.max, send_to=target_url)
            why = (
                f"--max {args.max} given"
                if args.max is not None
                else f"StartMessageMoveTask is not available here: {unsupported}"
            )
            result.update(method="receive/send/delete", reason=why, moved=moved, skipped=skipped)
            note = f"Moved {moved} messages from {queue.label} to the SubmitQueue by receive/send/delete ({why})."
    else:
        function = deployment.output(queue.target_function_output or "")
        moved, skipped = _move_by_hand(ctx, url, args.max, invoke=function)
        result.update(method="lambda:Invoke (asynchronous)", function=function, moved=moved, skipped=skipped)
        note = (
            f"Invoked {function} again (asynchronously) with {moved} events from {queue.label}; "
            "one that fails again comes back to the same DLQ."
        )
        if skipped:
            note += f" {skipped} messages are not events and stay in the DLQ."
    result["messagesAfter"] = queue_counts(ctx, url)["visible"]
    if ctx.out.json_mode:
        ctx.out.json(result)
    else:
        ctx.out.line(note)
    return 0


def _start_move_task(ctx: Context, source_arn: str, destination_arn: str) -> tuple[str | None, str | None]:
    """(task handle, None), or (None, why not) when this SQS does not know StartMessageMoveTask."""
    sqs = ctx.aws.client("sqs")
    try:
        response = sqs.start_message_move_task(SourceArn=source_arn, DestinationArn=destination_arn)
    except NotImplementedError as exc:  # moto in-process
        return None, str(exc)
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if error_code(exc) in _UNSUPPORTED_CODES:
            return None, f"{error_code(exc)}: {shorten(one_line(error_message(exc)), 100)}"
        if status >= 500:
            # A moto server answers an action it lacks with a bare 500; on AWS a 5xx that outlived
            # botocore's retries. Moving the messages ourselves has the same effect either way.
            return None, f"it failed with HTTP {status}"
        error = from_aws(exc, "starting the SQS message move task")
        error.hint = (
            "`--max N` moves messages with receive/send/delete instead (sqs:ReceiveMessage, SendMessage, DeleteMessage)"
        )
        raise error from exc
    except BotoCoreError as exc:
        raise from_aws(exc, "starting the SQS message move task") from exc
    return str(response["TaskHandle"]), None


def _move_by_hand(
    ctx: Context, url: str, limit: int | None, *, send_to: str | None = None, invoke: str | None = None
) -> tuple[int, int]:
    """Receive, re-send (or invoke), delete: at least once, so a crash midway duplicates, never loses.

    Returns (moved, skipped). Skipped messages (not events, or refused) stay in the DLQ; the
    visibility timeout keeps them out of the next receives of this loop.
    """
    sqs = ctx.aws.client("sqs")
    moved = 0
    seen: set[str] = set()
    left: list[dict[str, Any]] = []
    while limit is None or moved < limit:
        wanted = 10 if limit is None else max(1, min(10, limit - moved))
        messages = ctx.aws.call(
            "receiving from the DLQ",
            sqs.receive_message,
            QueueUrl=url,
            MaxNumberOfMessages=wanted,
            VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:
            break
        seen.update(message["MessageId"] for message in fresh)
        done = _send(ctx, fresh, send_to) if send_to else _invoke(ctx, fresh, invoke or "")
        left.extend(message for message in fresh if message not in done)
        if done:
            ctx.aws.call(
                "deleting moved messages from the DLQ",
                sqs.delete_message_batch,
                QueueUrl=url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(done)
                ],
            )
            moved += len(done)
    for message in left:  # visible again at once: still in the DLQ, counted, listed
        ctx.aws.call(
            "releasing a message left in the DLQ",
            sqs.change_message_visibility,
            QueueUrl=url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    return moved, len(left)


def _send(ctx: Context, messages: list[dict[str, Any]], queue_url: str) -> list[dict[str, Any]]:
    entries = []
    for index, message in enumerate(messages):
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
        attributes = {
            name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
            for name, value in message.get("MessageAttributes", {}).items()
        }
        if attributes:
            entry["MessageAttributes"] = attributes
        entries.append(entry)
    response = ctx.aws.call(
        "sending to the SubmitQueue", ctx.aws.client("sqs").send_message_batch, QueueUrl=queue_url, Entries=entries
    )
    sent = {item["Id"] for item in response.get("Successful", [])}
    return [message for index, message in enumerate(messages) if str(index) in sent]


def _invoke(ctx: Context, messages: list[dict[str, Any]], function: str) -> list[dict[str, Any]]:
    done = []
    lambda_client = ctx.aws.client("lambda")
    for message in messages:
        payload = redrive_payload(message["Body"])
        if payload is None:
            continue
        response = ctx.aws.call(
            f"invoking {function}",
            lambda_client.invoke,
            FunctionName=function,
            InvocationType="Event",
            Payload=json.dumps(payload).encode("utf-8"),
        )
        if int(response.get("StatusCode", 0)) == 202:
            done.append(message)
    return done
