"""SNS: alerts for subscribers, with message attributes their filter policies can match."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.errors import AlertPublishError


class AlertsTopic:
    def __init__(self, topic_arn: str) -> None:
        self._arn = topic_arn

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        try:
            client("sns").publish(
                TopicArn=self._arn,
                Subject=subject,
                Message=message,
                MessageAttributes={name: dict(value) for name, value in attributes.items()},
            )
        except (ClientError, BotoCoreError) as exc:
            raise AlertPublishError(f"cannot publish alert {subject!r}: {exc}") from exc
