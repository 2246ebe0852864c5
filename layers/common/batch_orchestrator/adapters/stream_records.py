"""A record of the runs table's stream (NEW_AND_OLD_IMAGES), as Lambda delivers it, read as an ``ItemChange``.

The item layout is ``run_items``'s; this module only tells the three kinds of item apart: a run (it has a
``status``), the lease of a blocked queue's alert (``queue-blocked#<job id>``), anything else (a coalesced key:
no status). Invariant: a run image that cannot be read as a Run raises MalformedMessage, so its record fails and
is retried, then reported by the mapping's on-failure destination; it is never skipped as "not a run".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_orchestrator.adapters.run_items import (
    BLOCKED_JOB_NAME,
    BLOCKED_REASON,
    QUEUE_BLOCKED_KEY_PREFIX,
    from_attribute_values,
    run_from_item,
)
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.lifecycle_events import BlockedQueueImage, Image, ItemChange, RunImage

# How a stream record names what happened to its item.
INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"


def item_change(record: Mapping[str, Any]) -> ItemChange:
    """The change one stream record carries; MalformedMessage for a record that is not one of the table's."""
    name = record.get("eventName")
    stream = record.get("dynamodb")
    if name not in (INSERT, MODIFY, REMOVE) or not isinstance(stream, Mapping):
        raise MalformedMessage(f"not a DynamoDB stream record: eventName {name!r}")
    return ItemChange(old=image_of(stream.get("OldImage")), new=image_of(stream.get("NewImage")))


def image_of(raw: Mapping[str, Any] | None) -> Image:
    """One side of the change: a RunImage, a BlockedQueueImage, or None (no item, or an item of neither kind)."""
    if not raw:
        return None
    try:
        item = from_attribute_values(raw)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise MalformedMessage(f"stream image does not parse: {exc}") from exc
    key = str(item.get("runId", ""))
    if key.startswith(QUEUE_BLOCKED_KEY_PREFIX):
        return BlockedQueueImage(
            job_id=str(item.get("jobId") or key.removeprefix(QUEUE_BLOCKED_KEY_PREFIX)),
            job_queue=str(item.get("jobQueue", "")),
            first_seen_at=item.get("firstSeenAt"),
            run_id=item.get("blockedRunId"),
            job_name=item.get(BLOCKED_JOB_NAME),
            reason=item.get(BLOCKED_REASON),
        )
    if "status" not in item:
        return None
    try:
        return RunImage(
            run=run_from_item(item),
            started_at=_int(item.get("startedAt")),
            stopped_at=_int(item.get("stoppedAt")),
            stuck_alerted_for=item.get("stuckAlertedFor"),
            stuck_alerted_at=item.get("stuckAlertedAt"),
            manual_retries=tuple(dict(entry) for entry in item.get("manualRetries") or ()),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise MalformedMessage(f"run image {key!r} is not a readable run: {exc!r}") from exc


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None
