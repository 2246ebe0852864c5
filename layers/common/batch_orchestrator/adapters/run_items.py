"""How a run is stored in the runs table: its attribute and index names, and Run <-> item.

Every name the table's items and expressions use is spelled once, here, and a stored item becomes a
Run only through ``run_from_item`` (numbers arrive as Decimal and are made ints here, nowhere else).
What reads an item gets either a complete Run or an exception (KeyError, TypeError, ValueError):
never a Run with a field silently defaulted from a missing required attribute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from batch_orchestrator.adapters.attribute_values import deserialize, serialize
from batch_orchestrator.array_items import items_text, parse_items
from batch_orchestrator.limits import FAILED_CHILD_REASON_CHARS, RUN_FAILED_CHILDREN_KEPT
from batch_orchestrator.models import (
    DEFAULT_PLAN,
    AttemptPlan,
    AttemptRecord,
    ChildFailure,
    JobObservation,
    Run,
    RunStatus,
    SideEffect,
    source_from_dict,
)
from batch_orchestrator.ports import ActiveRun
from batch_orchestrator.workloads import Capacity, Size

# The sparse index of the runs that may still need work (template.yaml's RunsTable): an item is in it
# while it carries activeStatus.
ACTIVE_RUNS_INDEX = "ActiveRunsIndex"
# The id each conditional write stamps on the item, to recognise its own earlier try (see runs_table).
WRITE_ID = "writeId"
# The TTL attribute (template.yaml's TimeToLiveSpecification): epoch seconds.
EXPIRES_AT = "expiresAt"
# When a run's alert, or a blocked queue's, was published (ISO time): the alert is no longer owed.
ALERT_SENT_AT = "alertSentAt"
# Keys of the items that are not runs: one per job that blocked a job queue (its one alert), with the blocking job's
# name and Batch's reason (for the Queue Blocked lifecycle event, read from the table's stream).
QUEUE_BLOCKED_KEY_PREFIX = "queue-blocked#"
BLOCKED_JOB_NAME = "jobName"
BLOCKED_REASON = "statusReason"
# The run's workload and its current attempt's plan and size (models.AttemptPlan). Items written before
# workloads existed have none of them: they read as models.DEFAULT_PLAN, with no size.
WORKLOAD = "workload"
SIZE_STEP = "sizeStep"
CAPACITY = "capacity"
SPOT_INTERRUPTIONS = "spotInterruptions"
VCPU = "vcpu"
MEMORY_MIB = "memoryMib"
# An array workload's run only: its whole array's size and the current attempt's items (ranges; absent: all of
# them), its children by status at the last parent event, and the failed children of its last failed attempt
# (at most RUN_FAILED_CHILDREN_KEPT, each reason cut to FAILED_CHILD_REASON_CHARS) with their count.
ARRAY_SIZE = "arraySize"
ARRAY_ITEMS = "arrayItems"
# A pipeline's later step only (AttemptPlan.step, attempts_before_step): absent on every other run.
STEP = "step"
ATTEMPTS_BEFORE_STEP = "attemptsBeforeStep"
ARRAY_CHILDREN = "arrayChildren"
FAILED_CHILDREN = "failedChildren"
FAILED_CHILDREN_COUNT = "failedChildrenCount"

_PLACEHOLDER = re.compile(r"#(\w+)")


def to_attribute_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values by name as DynamoDB attribute values: an item, a key, or expression values."""
    return {name: serialize(value) for name, value in values.items()}


def from_attribute_values(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored item as Python values (numbers as Decimal)."""
    return {name: deserialize(value) for name, value in item.items()}


def attribute_names(*expressions: str) -> dict[str, str]:
    """ExpressionAttributeNames in which each ``#name`` of the expressions stands for the attribute ``name``.

    Every attribute is referred to by placeholder, so no attribute name can collide with one of
    DynamoDB's reserved words.
    """
    return {f"#{name}": name for name in _PLACEHOLDER.findall(" ".join(expressions))}


def side_effect_attribute(side_effect: SideEffect) -> dict[str, Any]:
    """The ``sideEffect`` map: the lease on an action a run still owes (an alert, a retry request)."""
    return {"kind": side_effect.kind, "token": side_effect.token, "due": side_effect.due, "jobId": side_effect.job_id}


def plan_attributes(plan: AttemptPlan, size: Size | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The attributes an attempt's plan and size set, and those to remove (a size the table does not know)."""
    values: dict[str, Any] = {
        WORKLOAD: plan.workload,
        SIZE_STEP: plan.size_step,
        CAPACITY: plan.capacity.value,
        SPOT_INTERRUPTIONS: plan.spot_interruptions,
    }
    removed: tuple[str, ...] = ()
    if plan.array_size:  # an array workload's: a single job's plan writes what it always did
        values[ARRAY_SIZE] = plan.array_size
        if plan.items:
            values[ARRAY_ITEMS] = items_text(plan.items)
        else:
            removed = (ARRAY_ITEMS,)
    elif plan.step:  # a single-job step after an array step: the previous step's array is not this attempt's
        removed = (ARRAY_SIZE, ARRAY_ITEMS)
    if plan.step or plan.attempts_before_step:
        values[STEP] = plan.step
        values[ATTEMPTS_BEFORE_STEP] = plan.attempts_before_step
    if size is None:
        return values, (*removed, VCPU, MEMORY_MIB)
    return {**values, VCPU: size.vcpu, MEMORY_MIB: size.memory_mib}, removed


def previous_attempt_array_attributes(plan: AttemptPlan) -> tuple[str, ...]:
    """What a retry's claim removes of an array run, or of a pipeline's later step (whose previous step may have been
    an array): the children of the attempt before it (its history keeps their count)."""
    return (ARRAY_CHILDREN, FAILED_CHILDREN, FAILED_CHILDREN_COUNT) if plan.array_size or plan.step else ()


def observed_array_attributes(obs: JobObservation) -> dict[str, Any]:
    """What an array parent's observation sets: its children by status, and on FAILED its failed children."""
    if obs.array is None:
        return {}
    values: dict[str, Any] = {}
    if obs.array.status_summary:
        values[ARRAY_CHILDREN] = dict(obs.array.status_summary)
    if obs.failed_children is not None:
        kept = sorted(obs.failed_children, key=lambda child: child.item)[: RUN_FAILED_CHILDREN_KEPT.value]
        values[FAILED_CHILDREN] = [failed_child_attribute(child) for child in kept]
        values[FAILED_CHILDREN_COUNT] = len(obs.failed_children)
    return values


def failed_child_attribute(child: ChildFailure) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": child.index, "item": child.item}
    if child.exit_code is not None:
        entry["exitCode"] = child.exit_code
    if child.reason:
        limit = FAILED_CHILD_REASON_CHARS.value
        entry["reason"] = child.reason if len(child.reason) <= limit else child.reason[: limit - 1] + "…"
    return entry


def attempt_items_text(obs: JobObservation) -> str | None:
    """The original items an array attempt ran, as ranges ("0-2" for a whole array of 3); None for a single job."""
    if obs.items:
        return items_text(obs.items)
    return items_text(range(obs.array_size)) if obs.array_size else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _plan_of(item: Mapping[str, Any]) -> AttemptPlan:
    items = item.get(ARRAY_ITEMS)
    return AttemptPlan(
        workload=str(item.get(WORKLOAD, DEFAULT_PLAN.workload)),
        size_step=int(item.get(SIZE_STEP, DEFAULT_PLAN.size_step)),
        capacity=Capacity(item.get(CAPACITY, DEFAULT_PLAN.capacity.value)),
        spot_interruptions=int(item.get(SPOT_INTERRUPTIONS, DEFAULT_PLAN.spot_interruptions)),
        array_size=int(item.get(ARRAY_SIZE, DEFAULT_PLAN.array_size)),
        items=parse_items(str(items)) if items else (),
        step=int(item.get(STEP, DEFAULT_PLAN.step)),
        attempts_before_step=int(item.get(ATTEMPTS_BEFORE_STEP, DEFAULT_PLAN.attempts_before_step)),
    )


def _failed_children_of(item: Mapping[str, Any]) -> tuple[ChildFailure, ...]:
    return tuple(
        ChildFailure(
            index=int(entry["index"]),
            item=int(entry["item"]),
            exit_code=_int(entry.get("exitCode")),
            reason=entry.get("reason"),
        )
        for entry in item.get(FAILED_CHILDREN, [])
    )


def _side_effect_of(item: Mapping[str, Any]) -> SideEffect | None:
    raw = item.get("sideEffect")
    if not raw:
        return None
    return SideEffect(kind=raw["kind"], token=raw["token"], due=int(raw["due"]), job_id=raw.get("jobId", ""))


def run_from_item(item: Mapping[str, Any]) -> Run:
    """A Run from a deserialised item (numbers arrive as Decimal)."""
    history = tuple(
        AttemptRecord(
            attempt=int(entry["attempt"]),
            job_id=str(entry.get("jobId", "")),
            status=RunStatus(entry["status"]),
            exit_code=_int(entry.get("exitCode")),
            reason=entry.get("reason"),
            log_stream_name=entry.get("logStreamName"),
            started_at=_int(entry.get("startedAt")),
            stopped_at=_int(entry.get("stoppedAt")),
            vcpu=entry.get(VCPU),
            memory_mib=_int(entry.get(MEMORY_MIB)),
            items=entry.get("items"),
            failed_children=_int(entry.get("failedChildren")),
            workload=entry.get("workload"),
        )
        for entry in item.get("history", [])
    )
    return Run(
        run_id=item["runId"],
        status=RunStatus(item["status"]),
        attempt=int(item["attempt"]),
        max_attempts=int(item["maxAttempts"]),
        source=source_from_dict(dict(item["source"])),
        progress=int(item["progress"]),
        job_name=item.get("jobName"),
        job_id=item.get("jobId"),
        job_queue=item.get("jobQueue"),
        job_definition=item.get("jobDefinition"),
        created_at=item.get("createdAt"),
        updated_at=item.get("updatedAt"),
        exit_code=_int(item.get("exitCode")),
        status_reason=item.get("statusReason"),
        log_stream_name=item.get("logStreamName"),
        claimed_until=_int(item.get("claimedUntil")),
        next_attempt_at=item.get("nextAttemptAt"),
        last_job_id=item.get("lastJobId"),
        side_effect=_side_effect_of(item),
        history=history,
        plan=_plan_of(item),
        vcpu=item.get(VCPU),
        memory_mib=_int(item.get(MEMORY_MIB)),
        array_status=tuple(sorted((str(k), int(v)) for k, v in (item.get(ARRAY_CHILDREN) or {}).items())),
        failed_children=_failed_children_of(item),
        failed_children_count=int(item.get(FAILED_CHILDREN_COUNT, 0)),
    )


def active_run_from_item(item: Mapping[str, Any]) -> ActiveRun:
    """A run read from the sparse index, with the episode markers the watchdog left on it."""
    return ActiveRun(
        run=run_from_item(item),
        stuck_alerted_for=item.get("stuckAlertedFor"),
        cancel_requested_for=item.get("cancelRequestedFor"),
        resubmitted_for=item.get("resubmittedFor"),
        resubmitted_at=item.get("resubmittedAt"),
        resubmissions=int(item.get("resubmissions", 0)),
    )
