"""Parsing of schedule firings into sources.

Two shapes are accepted: the input our EventBridge Scheduler schedule passes (scheduleName plus the
scheduler's ``<aws.scheduler.scheduled-time>``), and a classic EventBridge "Scheduled Event" from a
rule, for users who wire their own rule to the function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.models import ScheduleSource


def parse_schedule_firing(event: Mapping[str, Any], *, default_name: str) -> ScheduleSource:
    """The source of one firing; its scheduled time, not the delivery time, identifies it."""
    if not isinstance(event, Mapping):
        raise MalformedMessage("schedule event is not an object")
    if event.get("detail-type") == "Scheduled Event":
        resources = event.get("resources")
        rule_arn = resources[0] if isinstance(resources, list) and resources else None
        name = rule_arn.rsplit("/", 1)[-1] if isinstance(rule_arn, str) else default_name
        return ScheduleSource(schedule_name=name, scheduled_time=_normalise_time(event.get("time")))
    name = event.get("scheduleName") or default_name
    if not isinstance(name, str) or not name:
        raise MalformedMessage("schedule event has no scheduleName")
    return ScheduleSource(schedule_name=name, scheduled_time=_normalise_time(event.get("scheduledTime")))


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
