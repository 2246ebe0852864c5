"""SQS: submit_jobs forwards the uploads of coalescing workloads to each one's queue, 10 per SendMessageBatch.

The queues are named ``<prefix><workload>`` (COALESCE_QUEUE_URL_PREFIX, rendered by `make template`), so the
function's environment does not grow with the table. SendMessageBatch takes up to 10 entries and answers each one
on its own ("SendMessageBatch", Amazon SQS API Reference: check the Failed list even on HTTP 200).
"""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.limits import SQS_SEND_MESSAGE_BATCH_ENTRIES


class CoalesceQueues:
    def __init__(self, queue_url_prefix: str) -> None:
        self._prefix = queue_url_prefix

    def url_for(self, workload: str) -> str:
        return self._prefix + workload

    def forward(self, workload: str, bodies: Sequence[tuple[str, str]]) -> set[str]:
        """Send each (id, body) to the workload's queue; the ids that were NOT sent (empty: all were)."""
        failed: set[str] = set()
        step = SQS_SEND_MESSAGE_BATCH_ENTRIES.value
        for start in range(0, len(bodies), step):
            chunk = bodies[start : start + step]
            entries = [{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk)]
            try:
                response = client("sqs").send_message_batch(QueueUrl=self.url_for(workload), Entries=entries)
            except (ClientError, BotoCoreError):
                failed.update(message_id for message_id, _ in chunk)
                continue
            failed.update(chunk[int(entry["Id"])][0] for entry in response.get("Failed", []))
        return failed
