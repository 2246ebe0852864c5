"""The stack's dead-letter queues: which stack outputs name each one and where its messages go back to.

Owns the table of DLQs the `dlq` subcommands act on and the reading of a queue's message counts.
Invariant: a DLQ is redrivable exactly when it names a target queue or a target function; the
watchdog's DLQ names neither and is never redriven.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator_cli.context import Context


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


def queue_counts(ctx: Context, url: str) -> dict[str, int]:
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
