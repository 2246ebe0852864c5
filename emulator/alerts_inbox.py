"""SIMULATED SNS subscriber: an SQS queue subscribed to the stack's alerts topic stands in for e-mail and chat.

The queue is not part of the template; the pipeline subscribes it when it starts. What the
functions published comes back as the layer's own ``batch_orchestrator.alerts.Alert``. As an SQS
subscriber it receives the structured message's "default" (the body); the e-mail and the chat card
are views of that body (``batch_orchestrator.alert_chat``), so they can be rebuilt from it exactly.

Invariant: ``AlertsInbox.received`` returns every notification delivered so far, in delivery
order, each equal to the ``Alert`` the function published: same subject, same body, and the
message attributes back in Publish's shape.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from emulator.queue_inbox import QueueInbox

if TYPE_CHECKING:
    from batch_orchestrator.alert_format import Alert
    from emulator.stack import EmulatedStack


class AlertsInbox:
    """An SQS queue subscribed to the alerts topic, and the alerts read from it so far."""

    def __init__(self, stack: EmulatedStack, queue_name: str) -> None:
        self._inbox = QueueInbox(stack, queue_name, lambda body: alert_from_notification(json.loads(body)))
        stack.client("sns").subscribe(
            TopicArn=stack.outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=self._inbox.arn
        )

    def received(self) -> list[Alert]:
        """Every notification the alerts topic delivered so far (the queue is drained into the list)."""
        return self._inbox.received()


def alert_from_notification(envelope: Mapping[str, Any]) -> Alert:
    """The published ``Alert`` back from the SNS notification an SQS subscriber receives.

    SNS renames each message attribute's keys on the way (DataType → Type, StringValue or
    BinaryValue → Value); this puts Publish's names back.
    """
    from batch_orchestrator.alert_format import Alert

    attributes = {
        name: {
            "DataType": str(value.get("Type")),
            ("BinaryValue" if str(value.get("Type")).startswith("Binary") else "StringValue"): str(value.get("Value")),
        }
        for name, value in (envelope.get("MessageAttributes") or {}).items()
    }
    return Alert(
        subject=str(envelope.get("Subject", "")), message=str(envelope.get("Message", "")), attributes=attributes
    )


def alert_details(alert: Alert) -> dict[str, Any]:
    """The JSON that ends an alert's body (empty when the body has none)."""
    start = alert.message.rfind("\n{")
    if start != -1:
        with contextlib.suppress(ValueError):
            details = json.loads(alert.message[start + 1 :])
            if isinstance(details, dict):
                return details
    return {}


def alert_run_id(alert: Alert) -> str | None:
    """The run an alert is about (None for an alert about no single run, e.g. a blocked queue without one)."""
    value = alert_details(alert).get("runId")
    return value if isinstance(value, str) else None
