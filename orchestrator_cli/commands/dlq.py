"""`orchestrator dlq list | redrive`: the three dead-letter queues, counted, peeked at, moved back.

    submit    SubmitDLQ: S3 notifications and retry requests the submit function failed
              SubmitMaxReceiveCount times          → back onto the SubmitQueue
    schedule  ScheduleDLQ: schedule firings that never produced a run (scheduler target failures,
              failed submit_scheduled invocations)  → submit_scheduled, invoked again (async)
    tracking  TrackingDLQ: Batch events that never updated a run (rule target failures, failed
              track_jobs invocations)               → track_jobs, invoked again (async)

    watchdog  WatchdogDLQ (stacks with the watchdog): failed sweeps. Listed, never redriven: the
              next sweep redoes the work; read the watchdog's logs, then purge the queue.

Only SubmitDLQ is the dead-letter queue of another queue, so only it can use SQS's own redrive
(StartMessageMoveTask); schedule and tracking hold events for Lambda functions, which are sent again
by invoking the function asynchronously: a failure lands in the same queue again.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator_cli.context import Context
from orchestrator_cli.errors import Refused, error_code, error_message, from_aws
from orchestrator_cli.parsing import positive_int
from orchestrator_cli.render import epoch_ms_time, one_line, shorten, table

PEEK_DEFAULT = 3
RECEIVE_VISIBILITY_SECONDS = 60  # long enough to send and delete one batch
# SQS answers these when an action is unknown to it (moto in-process raises NotImplementedError instead).
_UNSUPPORTED_CODES = {
    "NotImplemented",
    "InvalidAction",
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
}


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str
    url_output: str
    arn_output: str
    target_queue_url_output: str | None = None
    target_queue_arn_output: str | None = None
    target_function_output: str | None = None

    @property
    def redrivable(self) -> bool:
        return bool(self.target_queue_url_output or self.target_function_output)

    @property
    def label(self) -> str:
        return self.url_output.removesuffix("Url")


QUEUES = {
    "submit": DeadLetterQueue(
        "submit",
        "SubmitDLQUrl",
        "SubmitDLQArn",
        target_queue_url_output="SubmitQueueUrl",
        target_queue_arn_output="SubmitQueueArn",
    ),
    "schedule": DeadLetterQueue(
        "schedule", "ScheduleDLQUrl", "ScheduleDLQArn", target_function_output="SubmitScheduledFunctionName"
    ),
    "tracking": DeadLetterQueue(
        "tracking", "TrackingDLQUrl", "TrackingDLQArn", target_function_output="TrackJobsFunctionName"
    ),
    "watchdog": DeadLetterQueue("watchdog", "WatchdogDLQUrl", "WatchdogDLQArn"),
}


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    dlq = subparsers.add_parser(
        "dlq",
        help="dead-letter queues: counts, a peek, redrive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = dlq.add_subparsers(dest="dlq_command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list",
        parents=parents,
        help="message counts of each DLQ and a peek at the first messages",
        description="Message counts of the DLQs and a peek at the first messages (a peek receives them with a "
        "visibility timeout of 0: they stay in the queue, their receive count goes up).",
    )
    listing.add_argument("--queue", choices=sorted(QUEUES), action="append", help="only this DLQ (repeatable)")
    listing.add_argument(
        "--peek",
        type=int,
        default=PEEK_DEFAULT,
        choices=range(11),
        metavar="N",
        help=f"messages to show per DLQ, 0-10 (default {PEEK_DEFAULT})",
    )
    listing.set_defaults(handler=list_dlqs)

    redrive = commands.add_parser(
        "redrive",
        parents=parents,
        help="move DLQ messages back to where they failed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    redrive.add_argument("--queue", choices=sorted(QUEUES), default="submit", help="which DLQ (default submit)")
    redrive.add_argument(
        "--max",
        type=positive_int,
        metavar="N",
        help="move at most N messages (the submit DLQ then moves them itself instead of with StartMessageMoveTask, "
        "which always moves everything)",
    )
    redrive.set_defaults(handler=redrive_dlq)


# ------------------------------------------------------------------------------------- describing
def describe_message(body: str, attributes: dict[str, Any] | None = None) -> str:
    """One line saying what a DLQ message is: which upload, retry, schedule firing or Batch event."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    text = _describe(data) if isinstance(data, dict) else None
    if text is None:
        text = "raw: " + shorten(one_line(body), 100)
    error = (attributes or {}).get("ERROR_CODE", {}).get("StringValue")
    if error:
        message = (attributes or {}).get("ERROR_MESSAGE", {}).get("StringValue", "")
        text += f" [{error}{': ' + shorten(one_line(message), 80) if message else ''}]"
    return text


def _describe(data: dict[str, Any]) -> str | None:
    if data.get("Event") == "s3:TestEvent":
        return "s3:TestEvent"
    if data.get("kind") == "retry":
        return f"retry request: {data.get('runId')} attempt {data.get('attempt')}"
    records = data.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        s3 = records[0].get("s3", {})
        key = unquote_plus(str(s3.get("object", {}).get("key", "")))
        more = f" (+{len(records) - 1} more)" if len(records) > 1 else ""
        return f"{records[0].get('eventName')} s3://{s3.get('bucket', {}).get('name')}/{key}{more}"
    if "requestPayload" in data:  # a Lambda on-failure destination record
        context = data.get("requestContext") or {}
        response = data.get("responsePayload") or {}
        why = response.get("errorMessage") if isinstance(response, dict) else None
        inner = data["requestPayload"]
        what = _describe(inner) if isinstance(inner, dict) else None
        reason = f"{context.get('condition', 'failed')}" + (f": {shorten(one_line(str(why)), 80)}" if why else "")
        return f"failed invocation ({reason}) of {what or 'an event'}"
    if "detail-type" in data:
        detail = data.get("detail") or {}
        return f"{data['detail-type']}: {detail.get('jobName')} {detail.get('status')}"
    if "scheduleName" in data:
        return f"schedule {data.get('scheduleName')} @ {data.get('scheduledTime')}"
    return None


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


# ------------------------------------------------------------------------------------------- list
def _counts(ctx: Context, url: str) -> dict[str, int]:
    attributes = ctx.aws.call(
        f"reading the attributes of {url}",
        ctx.aws.client("sqs").get_queue_attributes,
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    ).get("Attributes", {})
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "inFlight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def list_dlqs(ctx: Context, args: argparse.Namespace) -> int:
    deployment = ctx.deployment()
    # Without --queue: the DLQs this stack has (older stacks have no watchdog).
    present = [name for name, queue in QUEUES.items() if queue.url_output in deployment.outputs]
    names = list(dict.fromkeys(args.queue)) if args.queue else present
    report: list[dict[str, Any]] = []
    for name in names:
        queue = QUEUES[name]
        url = deployment.output(queue.url_output)
        peeked = []
        if args.peek:
            messages = ctx.aws.call(
                f"peeking at {queue.label}",
                ctx.aws.client("sqs").receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=args.peek,
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in messages:
                attributes = message.get("Attributes", {})
                peeked.append(
                    {
                        "messageId": message["MessageId"],
                        "sentAt": epoch_ms_time(attributes.get("SentTimestamp")),
                        "receiveCount": int(attributes.get("ApproximateReceiveCount", 0)),
                        "summary": describe_message(message["Body"], message.get("MessageAttributes")),
                        "body": message["Body"],
                    }
                )
        if queue.target_function_output:
            target = deployment.outputs.get(queue.target_function_output, "")
        else:
            target = "SubmitQueue" if queue.target_queue_url_output else "(none: purge after reading)"
        report.append(
            {"queue": name, "name": queue.label, "url": url, **_counts(ctx, url), "redrivesTo": target, "peek": peeked}
        )

    if ctx.out.json_mode:
        ctx.out.json({"queues": report})
        return 0
    ctx.out.lines(
        table(
            ["QUEUE", "DLQ", "MESSAGES", "IN FLIGHT", "REDRIVE TO"],
            [[r["queue"], r["name"], r["visible"], r["inFlight"], r["redrivesTo"]] for r in report],
        )
    )
    for entry in report:
        if entry["peek"]:
            ctx.out.line()
            ctx.out.line(f"{entry['name']} (first {len(entry['peek'])}):")
            ctx.out.lines(
                "  " + line
                for line in table(
                    ["MESSAGE ID", "SENT", "RECEIVES", "WHAT"],
                    [[m["messageId"], m["sentAt"], m["receiveCount"], m["summary"]] for m in entry["peek"]],
                )
            )
    waiting = [entry["queue"] for entry in report if entry["visible"] and QUEUES[entry["queue"]].redrivable]
    if waiting:
        ctx.out.line()
        ctx.out.lines(f"Move them back with: orchestrator dlq redrive --queue {name}" for name in waiting)
    return 0


# ---------------------------------------------------------------------------------------- redrive
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
    before = _counts(ctx, url)["visible"]
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
    result["messagesAfter"] = _counts(ctx, url)["visible"]
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
