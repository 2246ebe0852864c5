"""An SQS queue created in the emulator (not in the template) as a subscriber's inbox, drained into a list.

Used by ``emulator.alerts_inbox`` (subscribed to the alerts topic) and ``emulator.events_inbox`` (a rule's target
on the event bus): each subscribes ``QueueInbox.arn`` its own way and reads each message's body its own way.

Invariant: ``QueueInbox.received`` returns every message delivered so far, parsed, in delivery order (each is read
once, then deleted from the queue).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack


class QueueInbox[T]:
    """A queue named ``name`` in the stack's moto, and its messages' bodies read with ``parse`` so far."""

    def __init__(self, stack: EmulatedStack, name: str, parse: Callable[[str], T]) -> None:
        self._sqs = stack.client("sqs")
        self._queue_url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
        self.arn: str = attributes["Attributes"]["QueueArn"]
        self._parse = parse
        self._received: list[T] = []
        self._lock = threading.Lock()

    def received(self) -> list[T]:
        """Every message delivered so far (the queue is drained into the list)."""
        with self._lock:
            while True:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    return list(self._received)
                for message in messages:
                    self._received.append(self._parse(message["Body"]))
                    self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
