"""A temporary SQS queue subscribed to the stack's alerts topic: how `smoke` sees an alert arrive.

Encryption. The alerts topic is encrypted with a customer managed KMS key; SNS decrypts a message
before it delivers it, so a subscriber needs no access to that key (SNS developer guide, "Encryption
at rest"). What the subscriber's own encryption needs is the other way round: a queue encrypted with
a customer managed key must let sns.amazonaws.com use that key, while a queue with SQS-managed
encryption (SSE-SQS) needs nothing. So the inbox uses SSE-SQS, and the operator needs no KMS
permission at all. The queue policy lets only this topic send (aws:SourceArn).

The subscription filters on the ``alertType`` message attribute (RUN_FAILED): CloudWatch alarm
notifications carry no attributes and stay out, as do queue-blocked and stuck-run alerts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batch_orchestrator.alert_format import JSON_SEPARATOR
from batch_orchestrator.alerts import ALERT_RUN_FAILED
from orchestrator_cli.aws import Aws
from orchestrator_cli.errors import CliError

log = logging.getLogger("orchestrator_cli")

INBOX_RETENTION_SECONDS = 3_600  # a queue left behind by a crash holds its alerts for an hour, not 4 days
SMOKE_TAG = "batch-orchestrator:smoke"


@dataclass(frozen=True)
class ReceivedAlert:
    """An alert as the subscriber received it: the run it is about and what it says."""

    run_id: str | None
    alert_type: str | None
    exit_code: int | None
    subject: str

    def describe(self) -> str:
        exit_text = f", exit code {self.exit_code}" if self.exit_code is not None else ""
        return f"{self.alert_type or 'alert'}{exit_text}: {self.subject!r}"


def parse_notification(body: str) -> ReceivedAlert | None:
    """An SQS message body from the topic (raw delivery off: the SNS envelope) → the alert, or None."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification":
        return None
    message = str(envelope.get("Message", ""))
    details: dict[str, Any] = {}
    _, separator, data = message.partition(JSON_SEPARATOR)
    if separator:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        details = parsed if isinstance(parsed, dict) else {}
    attributes = envelope.get("MessageAttributes") or {}
    alert_type = (attributes.get("alertType") or {}).get("Value") or details.get("alertType")
    raw_exit = (attributes.get("exitCode") or {}).get("Value", details.get("exitCode"))
    try:
        exit_code = int(raw_exit) if raw_exit is not None else None
    except (TypeError, ValueError):
        exit_code = None
    run_id = details.get("runId")
    return ReceivedAlert(
        run_id=run_id if isinstance(run_id, str) else None,
        alert_type=str(alert_type) if alert_type else None,
        exit_code=exit_code,
        subject=str(envelope.get("Subject", "")),
    )


class AlertInbox:
    """The queue and its subscription. ``create`` registers each part in ``created`` as soon as it
    exists, so that a failure halfway still leaves a complete list of what to remove."""

    def __init__(self, queue_url: str, queue_arn: str, topic_arn: str) -> None:
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.topic_arn = topic_arn
        self.subscription_arn: str | None = None
        self.received: list[ReceivedAlert] = []

    @classmethod
    def create(
        cls, aws: Aws, *, topic_arn: str, queue_name: str, smoke_id: str, on_created: Callable[[AlertInbox], None]
    ) -> AlertInbox:
        sqs, sns = aws.client("sqs"), aws.client("sns")
        url = aws.call(
            f"creating the temporary queue {queue_name}",
            sqs.create_queue,
            QueueName=queue_name,
            Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(INBOX_RETENTION_SECONDS)},
            tags={SMOKE_TAG: smoke_id},
        )["QueueUrl"]
        arn = aws.call(
            "reading the temporary queue's ARN", sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        inbox = cls(url, arn, topic_arn)
        on_created(inbox)
        aws.call(
            "letting the alerts topic send to the temporary queue",
            sqs.set_queue_attributes,
            QueueUrl=url,
            Attributes={"Policy": json.dumps(queue_policy(arn, topic_arn))},
        )
        inbox.subscription_arn = aws.call(
            "subscribing the temporary queue to the alerts topic",
            sns.subscribe,
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"FilterPolicy": json.dumps({"alertType": [ALERT_RUN_FAILED]}), "RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return inbox

    def receive(self, aws: Aws) -> list[ReceivedAlert]:
        """Everything on the queue now (short poll: called in a loop); confirms a pending subscription."""
        sqs = aws.client("sqs")
        messages = aws.call(
            "reading the temporary alerts queue",
            sqs.receive_message,
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        for message in messages:
            body = str(message.get("Body", ""))
            self._confirm_if_asked(aws, body)
            alert = parse_notification(body)
            if alert is not None:
                self.received.append(alert)
            aws.call(
                "deleting a message of the temporary queue",
                sqs.delete_message,
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
            )
        return list(self.received)

    def _confirm_if_asked(self, aws: Aws, body: str) -> None:
        # Same-account SQS subscriptions are confirmed at once; a cross-account one asks first.
        try:
            envelope = json.loads(body)
        except ValueError:
            return
        if isinstance(envelope, dict) and envelope.get("Type") == "SubscriptionConfirmation":
            log.info("confirming the temporary subscription")
            aws.call(
                "confirming the temporary subscription",
                aws.client("sns").confirm_subscription,
                TopicArn=self.topic_arn,
                Token=envelope.get("Token", ""),
            )

    def remove(self, aws: Aws) -> tuple[list[str], list[str]]:
        """Unsubscribe, then delete the queue; returns (removed, could not remove)."""
        removed: list[str] = []
        left: list[str] = []
        if self.subscription_arn and self.subscription_arn.startswith("arn:"):
            try:
                aws.call(
                    "unsubscribing the temporary queue",
                    aws.client("sns").unsubscribe,
                    SubscriptionArn=self.subscription_arn,
                )
                removed.append(f"subscription {self.subscription_arn}")
            except CliError as exc:
                left.append(f"subscription {self.subscription_arn} ({exc.message})")
        try:
            aws.call("deleting the temporary queue", aws.client("sqs").delete_queue, QueueUrl=self.queue_url)
            removed.append(f"queue {self.queue_url}")
        except CliError as exc:
            left.append(f"queue {self.queue_url} ({exc.message})")
        return removed, left

    def describe(self) -> list[str]:
        parts = [f"queue {self.queue_url}"]
        if self.subscription_arn:
            parts.insert(0, f"subscription {self.subscription_arn}")
        return parts


def queue_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """Only the alerts topic may send, and only over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlertsTopicDelivers",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }
