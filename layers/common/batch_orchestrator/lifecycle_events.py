"""Which change of a runs-table item is a run transition others care about, and the event it is published as.

Invariant: one applied write of the runs table is at most ONE lifecycle event. The event comes from the item's
change alone (its image before and after the write, as the table's stream carries them), never from a read: the
handlers make exactly one conditional write per transition and a duplicate Batch event writes nothing (its
condition fails), so a change exists exactly once per transition, and so does its event. Everything else the
table sees (RUNNABLE, STARTING, RUNNING progress, claims and their take-overs, side-effect leases and their
confirmation, an array's children counts, the watchdog's marks other than a stuck alert, coalesced keys, TTL
deletions) publishes nothing.

``TRANSITIONS`` is the whole table, tried in order, first match wins: a detail-type, the key its events are
deduplicated by, the test on the change, the detail it builds (``lifecycle_details``). A new detail-type is one
entry here, one branch of ``events/schemas/lifecycle-event.schema.json`` and one sample under ``events/``.
Pure: no boto3, no environment (the stream record becomes an ``ItemChange`` in ``adapters.stream_records``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from batch_orchestrator.models import RequestSource, Run, RunStatus

SCHEMA_VERSION = "1.0"


class DetailType(StrEnum):
    """The ``detail-type`` of each lifecycle event (docs/integration.md describes each one)."""

    RUN_STARTED = "Run Started"
    RUN_ATTEMPT_FAILED = "Run Attempt Failed"
    RUN_STEP_FINISHED = "Run Step Finished"
    RUN_RETRY_REQUESTED = "Run Retry Requested"
    RUN_SUCCEEDED = "Run Succeeded"
    RUN_FAILED = "Run Failed"
    RUN_STUCK = "Run Stuck"
    QUEUE_BLOCKED = "Queue Blocked"
    RUN_REJECTED = "Run Rejected"


class RunImage(NamedTuple):
    """A run item as one side of a change: the Run, and the attributes its transitions are told by that a Run
    does not carry (the latest observation's times, the watchdog's stuck mark, the operator's retries)."""

    run: Run
    started_at: int | None = None  # epoch ms of the latest accepted observation (startedAt, stoppedAt)
    stopped_at: int | None = None
    stuck_alerted_for: str | None = None  # the stay in one state the watchdog alerted as stuck (its episode)
    stuck_alerted_at: str | None = None
    manual_retries: tuple[Mapping[str, Any], ...] = ()  # `orchestrator runs retry` requests, oldest first


class BlockedQueueImage(NamedTuple):
    """The item that leases the one alert of a job blocking a job queue (``queue-blocked#<job id>``)."""

    job_id: str
    job_queue: str
    first_seen_at: str | None = None
    run_id: str | None = None  # the blocked run, when the job is one of ours
    job_name: str | None = None
    reason: str | None = None  # Batch's statusReason (items written before it was kept have none)


Image = RunImage | BlockedQueueImage | None  # None: no item, or an item that is neither (a coalesced key)


class ItemChange(NamedTuple):
    """One applied write of the runs table: the item before (None on INSERT) and after (None on REMOVE)."""

    old: Image
    new: Image


class EventContext(NamedTuple):
    """What a detail needs beyond the item: where job logs and outputs are (the publishing function's settings)."""

    region: str
    job_log_group: str
    output_bucket: str  # where jobs write results ("" when the stack gives them no output prefix)
    output_prefix: str


class LifecycleEvent(NamedTuple):
    """One event to put on the bus (its ``source`` is the stack's: ``adapters.event_bus``)."""

    detail_type: DetailType
    detail: dict[str, Any]
    resources: tuple[str, ...] = ()


Applies = Callable[[ItemChange], bool]
# (change, context, the transition's key) -> (detail, resources)
Build = Callable[[ItemChange, EventContext, str], "tuple[dict[str, Any], tuple[str, ...]]"]


class Transition(NamedTuple):
    detail_type: DetailType
    key: str  # the transition's name in the event's eventKey
    applies: Applies
    build: Build


# ------------------------------------------------------------------------------------------- the tests
def _runs(change: ItemChange) -> tuple[Run | None, Run | None]:
    old = change.old.run if isinstance(change.old, RunImage) else None
    new = change.new.run if isinstance(change.new, RunImage) else None
    return old, new


def queue_blocked(change: ItemChange) -> bool:
    """A job blocking a queue is first seen (the lease item is created; a later take-over of its lease is not)."""
    return change.old is None and isinstance(change.new, BlockedQueueImage)


def run_started(change: ItemChange) -> bool:
    """The run is created and its first attempt claimed for submission (the claim's conditional PutItem)."""
    _, new = _runs(change)
    return change.old is None and new is not None and new.status is RunStatus.SUBMITTED


def run_failed(change: ItemChange) -> bool:
    """The run fails for good: a failure without retry, a run refused at submission (created FAILED), a waiting
    pipeline step refused. Confirming its alert later rewrites a FAILED item: not a transition."""
    old, new = _runs(change)
    return new is not None and new.status is RunStatus.FAILED and (old is None or old.status is not RunStatus.FAILED)


def run_rejected(change: ItemChange) -> bool:
    """Another application's run request the stack will not run (``run_requests``: created FAILED, keeping the id
    of its event or message, which only rejections keep)."""
    _, new = _runs(change)
    if change.old is not None or new is None or new.status is not RunStatus.FAILED:
        return False
    return isinstance(new.source, RequestSource) and new.source.rejected


def run_succeeded(change: ItemChange) -> bool:
    old, new = _runs(change)
    return new is not None and new.status is RunStatus.SUCCEEDED and old is not None and old.status is not new.status


def retry_requested(change: ItemChange) -> bool:
    """An operator's `orchestrator runs retry` (it appends to manualRetries in the write that moves the run)."""
    if not isinstance(change.old, RunImage) or not isinstance(change.new, RunImage):
        return False
    return len(change.new.manual_retries) > len(change.old.manual_retries)


def _waits_after(change: ItemChange, finished: RunStatus) -> bool:
    """The tracker moved the run to RETRY_WAIT in the write that appended its attempt, ended ``finished``."""
    old, new = _runs(change)
    if old is None or new is None or new.status is not RunStatus.RETRY_WAIT or old.status is RunStatus.RETRY_WAIT:
        return False
    return len(new.history) > len(old.history) and new.history[-1].status is finished


def attempt_failed(change: ItemChange) -> bool:
    return _waits_after(change, RunStatus.FAILED)


def step_finished(change: ItemChange) -> bool:
    """A pipeline step, or a part of an array of more items than one array job takes, SUCCEEDED; the next is due."""
    return _waits_after(change, RunStatus.SUCCEEDED)


def run_stuck(change: ItemChange) -> bool:
    """The watchdog marked a new stay of the run as stuck (the mark it writes before its one stuck alert)."""
    if not isinstance(change.old, RunImage) or not isinstance(change.new, RunImage):
        return False
    marked = change.new.stuck_alerted_for
    return marked is not None and marked != change.old.stuck_alerted_for


def _table() -> tuple[Transition, ...]:
    from batch_orchestrator import lifecycle_details as details

    return (
        Transition(DetailType.QUEUE_BLOCKED, "QUEUE_BLOCKED", queue_blocked, details.queue_blocked),
        Transition(DetailType.RUN_STARTED, "RUN_STARTED", run_started, details.run_started),
        # Before Run Failed: a rejected request is a run created FAILED too.
        Transition(DetailType.RUN_REJECTED, "RUN_REJECTED", run_rejected, details.run_failed),
        Transition(DetailType.RUN_FAILED, "RUN_FAILED", run_failed, details.run_failed),
        Transition(DetailType.RUN_SUCCEEDED, "RUN_SUCCEEDED", run_succeeded, details.run_succeeded),
        # Before the tracker's RETRY_WAIT: an operator's retry also moves a run to RETRY_WAIT.
        Transition(DetailType.RUN_RETRY_REQUESTED, "RUN_RETRY_REQUESTED", retry_requested, details.retry_requested),
        Transition(DetailType.RUN_ATTEMPT_FAILED, "RUN_ATTEMPT_FAILED", attempt_failed, details.attempt_failed),
        Transition(DetailType.RUN_STEP_FINISHED, "RUN_STEP_FINISHED", step_finished, details.step_finished),
        Transition(DetailType.RUN_STUCK, "RUN_STUCK", run_stuck, details.run_stuck),
    )


TRANSITIONS: tuple[Transition, ...] = _table()


def transition_of(change: ItemChange) -> Transition | None:
    """The first transition of the table the change is, or None (a write others need not hear of)."""
    return next((t for t in TRANSITIONS if t.applies(change)), None)


def event_for(change: ItemChange, context: EventContext) -> LifecycleEvent | None:
    """The one lifecycle event of an applied write, or None when the write is no transition."""
    transition = transition_of(change)
    if transition is None:
        return None
    detail, resources = transition.build(change, context, transition.key)
    return LifecycleEvent(transition.detail_type, detail, resources)
