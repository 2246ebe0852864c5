"""SQS: retry requests go back on the SubmitQueue, delayed by the backoff."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.errors import RetryEnqueueError
from batch_orchestrator.limits import SQS_MAX_DELAY
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, Source
from batch_orchestrator.submit_messages import resubmit_message, retry_message


class SubmitQueue:
    def __init__(self, queue_url: str) -> None:
        self._url = queue_url

    def send_retry(
        self, *, run_id: str, attempt: int, source: Source, delay_seconds: int, plan: AttemptPlan = DEFAULT_PLAN
    ) -> None:
        try:
            client("sqs").send_message(
                QueueUrl=self._url,
                MessageBody=retry_message(run_id=run_id, attempt=attempt, source=source, plan=plan),
                DelaySeconds=max(0, min(delay_seconds, SQS_MAX_DELAY.value)),
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetryEnqueueError(f"cannot enqueue attempt {attempt} of {run_id}: {exc}") from exc

    def send_resubmit(self, *, run_id: str, attempt: int, source: Source, plan: AttemptPlan = DEFAULT_PLAN) -> None:
        """The watchdog's request to submit a stale claim again (no delay: it is already late)."""
        try:
            client("sqs").send_message(
                QueueUrl=self._url,
                MessageBody=resubmit_message(run_id=run_id, attempt=attempt, source=source, plan=plan),
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetryEnqueueError(f"cannot enqueue resubmission of attempt {attempt} of {run_id}: {exc}") from exc
