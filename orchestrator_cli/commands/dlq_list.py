"""`orchestrator dlq list`: each DLQ's message counts and a peek at its first messages.

Owns what a DLQ message is said to be (describe_message: an upload, a retry request, a schedule
firing, a Batch event, or a failed invocation of one) and the listing. Invariant: listing moves
nothing; a peek receives with a visibility timeout of 0, so the messages stay visible in their queue
(only their receive count goes up).
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import unquote_plus

from orchestrator_cli.commands.dlq_queues import QUEUES, queue_counts
from orchestrator_cli.context import Context
from orchestrator_cli.render import epoch_ms_time, one_line, shorten, table


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
            {
                "queue": name,
                "name": queue.label,
                "url": url,
                **queue_counts(ctx, url),
                "redrivesTo": target,
                "peek": peeked,
            }
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
