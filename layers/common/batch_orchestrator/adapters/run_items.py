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
from batch_orchestrator.models import (
    DEFAULT_PLAN,
    AttemptPlan,
    AttemptRecord,
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
# Keys of the items that are not runs: one per job that blocked a job queue (its one alert).
QUEUE_BLOCKED_KEY_PREFIX = "queue-blocked#"
# The run's workload and its current attempt's plan and size (models.AttemptPlan). Items written before
# workloads existed have none of them: they read as models.DEFAULT_PLAN, with no size.
WORKLOAD = "workload"
SIZE_STEP = "sizeStep"
CAPACITY = "capacity"
SPOT_INTERRUPTIONS = "spotInterruptions"
VCPU = "vcpu"
MEMORY_MIB = "memoryMib"

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
    if size is None:
        return values, (VCPU, MEMORY_MIB)
    return {**values, VCPU: size.vcpu, MEMORY_MIB: size.memory_mib}, ()


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _plan_of(item: Mapping[str, Any]) -> AttemptPlan:
    return AttemptPlan(
        workload=str(item.get(WORKLOAD, DEFAULT_PLAN.workload)),
        size_step=int(item.get(SIZE_STEP, DEFAULT_PLAN.size_step)),
        capacity=Capacity(item.get(CAPACITY, DEFAULT_PLAN.capacity.value)),
        spot_interruptions=int(item.get(SPOT_INTERRUPTIONS, DEFAULT_PLAN.spot_interruptions)),
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
