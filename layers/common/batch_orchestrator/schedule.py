"""Parsing of schedule firings into sources, and into the run each one asks for.

Two shapes are accepted: the input our EventBridge Scheduler schedules pass (scheduleName plus the
scheduler's ``<aws.scheduler.scheduled-time>``; a workload's schedule adds ``workload`` and ``schedule``,
its name within the workload), and a
classic EventBridge "Scheduled Event" from a rule, for users who wire their own rule to the function
(always the default workload's). A workload's firing names a workload and a schedule the stack has, or
it is malformed: a retry cannot make the stack grow the schedule it names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from batch_orchestrator.attempt_plan import first_plan
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import WORKLOAD_NAME_PATTERN, run_id_for
from batch_orchestrator.models import ScheduleSource, SubmitRequest
from batch_orchestrator.workloads import DEFAULT_WORKLOAD, Workload


def parse_schedule_firing(event: Mapping[str, Any], *, default_name: str) -> ScheduleSource:
    """The source of one firing; its scheduled time, not the delivery time, identifies it."""
    if not isinstance(event, Mapping):
        raise MalformedMessage("schedule event is not an object")
    if event.get("detail-type") == "Scheduled Event":
        resources = event.get("resources")
        rule_arn = resources[0] if isinstance(resources, list) and resources else None
        rule_name = rule_arn.rsplit("/", 1)[-1] if isinstance(rule_arn, str) else default_name
        return ScheduleSource(schedule_name=rule_name, scheduled_time=_normalise_time(event.get("time")))
    workload = event.get("workload")
    name: object
    if workload is None:
        name = event.get("scheduleName") or default_name
    elif not isinstance(workload, str) or not WORKLOAD_NAME_PATTERN.match(workload):
        raise MalformedMessage(f"schedule event has an invalid workload {workload!r}")
    else:
        # A workload's schedule: "schedule" is its name within the workload ("scheduleName" is the name the
        # template gives the EventBridge schedule, unique in the account); "scheduleName" alone is accepted.
        name = event.get("schedule") or event.get("scheduleName")
    if not isinstance(name, str) or not name:
        raise MalformedMessage("schedule event has no scheduleName")
    return ScheduleSource(
        schedule_name=name, scheduled_time=_normalise_time(event.get("scheduledTime")), workload=workload
    )


def scheduled_request(source: ScheduleSource, *, workload_of: Callable[[str], Workload | None]) -> SubmitRequest:
    """The first attempt a firing asks for: the stack's own schedule runs the default workload, a workload's
    schedule its workload (MalformedMessage when the stack has no such workload or schedule)."""
    name = source.workload or DEFAULT_WORKLOAD
    workload = workload_of(name)
    if workload is None:
        raise MalformedMessage(f"schedule {source.schedule_name!r} fired for workload {name!r}, which this stack lacks")
    if source.workload is not None and workload.schedule(source.schedule_name) is None:
        raise MalformedMessage(f"workload {name!r} has no schedule {source.schedule_name!r}")
    return SubmitRequest(run_id=run_id_for(source), attempt=1, source=source, plan=first_plan(workload))


def _normalise_time(value: Any) -> str:
    """ISO-8601 UTC with second precision, so equal instants give equal run ids."""
    if not isinstance(value, str) or not value:
        raise MalformedMessage("schedule event has no scheduled time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedMessage(f"scheduled time {value!r} is not ISO-8601") from exc
    if parsed.tzinfo is None:
        raise MalformedMessage(f"scheduled time {value!r} has no time zone")
    return parsed.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
