"""SNS: alerts for subscribers, with message attributes their filter policies can match.

Each alert is one Publish with MessageStructure=json: the body as written for SQS, Lambda and email-json
subscribers ("default"), the summary for e-mail, the custom notification for the chat service's https
subscription (``alert_chat`` writes all three and keeps them within SNS's limit together).
"""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.errors import AlertPublishError


class AlertsTopic:
    def __init__(self, topic_arn: str) -> None:
        self._arn = topic_arn

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        # Loaded when an alert is due, not at a handler's cold start (as the alert builders are).
        from batch_orchestrator.alert_chat import structured_message

        try:
            client("sns").publish(
                TopicArn=self._arn,
                Subject=subject,
                Message=structured_message(subject, message, attributes),
                MessageStructure="json",
                MessageAttributes={name: dict(value) for name, value in attributes.items()},
            )
        except (ClientError, BotoCoreError) as exc:
            raise AlertPublishError(f"cannot publish alert {subject!r}: {exc}") from exc
