"""EventBridge: the run lifecycle events, put on the stack's bus under the stack's own ``source``.

At most EVENTBRIDGE_PUT_EVENTS_ENTRIES entries per PutEvents call, in the order given. PutEvents answers a call
that went through with one result per entry, some of which may have failed (``FailedEntryCount``, each failed
entry's ``ErrorCode``): those entries alone are put again, up to ``attempts`` times in all, after a short pause;
what still fails is returned for the caller to fail its records (the stream retries them). A call that fails as
a whole (after botocore's retries) fails its entries and every later one. An entry larger than
EVENTBRIDGE_ENTRY_SIZE is never sent: it fails at once (its record ends in the mapping's on-failure destination).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.errors import EventPublishError
from batch_orchestrator.lifecycle_events import LifecycleEvent
from batch_orchestrator.limits import EVENTBRIDGE_ENTRY_SIZE, EVENTBRIDGE_PUT_EVENTS_ENTRIES

RETRY_PAUSE_SECONDS = 0.2  # doubled after each try of the refused entries


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge counts it ("Calculating PutEvents event entry size")."""
    size = 14 if "Time" in entry else 0
    size += len(entry["Source"].encode()) + len(entry["DetailType"].encode())
    size += len(entry.get("Detail", "").encode())
    return size + sum(len(resource.encode()) for resource in entry.get("Resources", ()))


class EventBus:
    def __init__(
        self,
        bus_name: str,
        source: str,
        *,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bus = bus_name
        self._source = source
        self._attempts = attempts
        self._sleep = sleep
        self.calls = 0  # PutEvents calls made by this object (the handler's metric)
        self.errors: list[str] = []  # the calls that failed as a whole

    def entry(self, event: LifecycleEvent) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Source": self._source,
            "DetailType": event.detail_type.value,
            "Detail": json.dumps(event.detail, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
            "EventBusName": self._bus,
        }
        if event.resources:
            entry["Resources"] = list(event.resources)
        return entry

    def put(self, events: Sequence[LifecycleEvent]) -> list[int]:
        """Put every event; the indexes (into ``events``) of those not published, ascending. A call that fails as a
        whole (EventPublishError, kept in ``errors``) fails its entries and every later one: none is tried after it.
        """
        entries = [self.entry(event) for event in events]
        failed = [i for i, entry in enumerate(entries) if entry_size(entry) > EVENTBRIDGE_ENTRY_SIZE.value]
        pending = [i for i in range(len(entries)) if i not in set(failed)]
        step = EVENTBRIDGE_PUT_EVENTS_ENTRIES.value
        for start in range(0, len(pending), step):
            try:
                failed += self._put_chunk(entries, pending[start : start + step])
            except EventPublishError as exc:
                self.errors.append(str(exc))
                failed += pending[start:]
                break
        return sorted(failed)

    def _put_chunk(self, entries: list[dict[str, Any]], indexes: list[int]) -> list[int]:
        pause = RETRY_PAUSE_SECONDS
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(pause)
                pause *= 2
            try:
                self.calls += 1
                answer = client("events").put_events(Entries=[entries[i] for i in indexes])
            except (ClientError, BotoCoreError) as exc:
                raise EventPublishError(f"PutEvents to {self._bus} failed: {exc}") from exc
            if not answer.get("FailedEntryCount"):
                return []
            results = answer.get("Entries", [])
            indexes = [i for i, result in zip(indexes, results, strict=True) if result.get("ErrorCode")]
        return indexes
