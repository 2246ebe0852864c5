"""SIMULATED EventBridge Scheduler: which schedule, when it fires, and what its target receives.

``next_fire_time`` evaluates a schedule expression (rate(), at(), cron() in the schedule's time
zone); ``render_schedule_input`` fills the scheduler's context placeholders of one firing into
the target input; ``find_schedule`` picks a schedule of the stack by name. These are pure (no
clock, no AWS call). ``fire_on_time`` is the timer: it waits for each firing and calls ``fire``.

Invariant: an expression this module cannot evaluate exactly raises UnsupportedScheduleError,
never a guessed time (such a schedule can still be fired on demand).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack, Schedule

SCHEDULER_PLACEHOLDERS = (
    "<aws.scheduler.scheduled-time>",
    "<aws.scheduler.execution-id>",
    "<aws.scheduler.attempt-number>",
    "<aws.scheduler.schedule-arn>",
)


class UnsupportedScheduleError(ValueError):
    """An expression the local scheduler cannot evaluate (it can still be fired on demand)."""


_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The first firing strictly after ``after`` (UTC) of an EventBridge Scheduler expression.

    Supports rate(), at() and cron() with ``* ? , - /`` and month/day names; ``L``, ``W`` and
    ``#`` raise UnsupportedScheduleError. cron() and at() are read in ``timezone``. A rate()
    counts from ``after`` (the scheduler counts from the schedule's creation). None: never again.
    """
    text = expression.strip()
    zone = ZoneInfo(timezone)
    if match := _RATE.match(text):
        unit = match[2].rstrip("s")
        return after + timedelta(**{f"{unit}s": int(match[1])})
    if match := _AT.match(text):
        when = datetime.fromisoformat(match[1]).replace(tzinfo=zone).astimezone(UTC)
        return when if when > after else None
    if match := _CRON.match(text):
        return _next_cron(match[1].split(), zone, after)
    raise UnsupportedScheduleError(f"unknown schedule expression {expression!r}")


def _next_cron(fields: list[str], zone: ZoneInfo, after: datetime) -> datetime | None:
    if len(fields) != 6:
        raise UnsupportedScheduleError("cron() takes 6 fields: minutes hours day-of-month month day-of-week year")
    minute_f, hour_f, dom_f, month_f, dow_f, year_f = fields
    minutes = _cron_values(minute_f, 0, 59)
    hours = _cron_values(hour_f, 0, 23)
    months = _cron_values(month_f, 1, 12, _MONTHS)
    years = _cron_values(year_f, 1970, 2199)
    days = None if dom_f == "?" else _cron_values(dom_f, 1, 31)
    weekdays = None if dow_f == "?" else _cron_values(dow_f, 1, 7, _WEEKDAYS)
    local = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
    day = local.replace(hour=0, minute=0)
    for _ in range(366 * 5):
        aws_weekday = (day.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
        if (
            day.year in years
            and day.month in months
            and (days is None or day.day in days)
            and (weekdays is None or aws_weekday in weekdays)
        ):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= local:
                        return candidate.replace(tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)
    return None


def _cron_values(spec: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in spec.split(","):
        body, slash, step_text = part.partition("/")
        step = _cron_number(step_text, None) if slash else 1
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = _cron_number(first, names), _cron_number(last, names)
        else:
            start = _cron_number(body, names)
            end = high if slash else start
        values.update(range(start, end + 1, max(step, 1)))
    return {value for value in values if low <= value <= high}


def _cron_number(text: str, names: Mapping[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if text.isdigit():
        return int(text)
    raise UnsupportedScheduleError(f"cron value {text!r} is not supported locally (L, W and # are not)")


def render_schedule_input(schedule: Schedule, when: datetime, *, region: str, account_id: str) -> Any:
    """The target input the scheduler would deliver for one firing (context placeholders filled)."""
    text = schedule.input or "{}"
    values = {
        "<aws.scheduler.scheduled-time>": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
        "<aws.scheduler.schedule-arn>": (
            f"arn:aws:scheduler:{region}:{account_id}:schedule/{schedule.group_name}/{schedule.name}"
        ),
    }
    for placeholder in SCHEDULER_PLACEHOLDERS:
        text = text.replace(placeholder, values[placeholder])
    try:
        return json.loads(text)
    except ValueError:
        return text


def find_schedule(stack: EmulatedStack, name: str | None) -> Schedule:
    """A schedule by logical id or name; by default the one the ScheduleName output names."""
    schedules = stack.schedules
    wanted = name or stack.outputs.get("ScheduleName")
    found = [s for s in schedules.values() if wanted in (s.logical_id, s.name)] if wanted else []
    if not found and name is None and len(schedules) == 1:
        found = list(schedules.values())
    if len(found) != 1:
        names = sorted(s.name for s in schedules.values())
        raise LookupError(f"no single schedule {wanted!r} in the stack; its schedules are {names}")
    return found[0]


def fire_on_time(
    schedule: Schedule,
    fire: Callable[[datetime], object],
    *,
    stopping: threading.Event,
    say: Callable[[str], None],
) -> None:
    """Call ``fire(scheduled time)`` at each firing of ``schedule`` from now on, until ``stopping`` is set.

    A thread's body. An expression it cannot evaluate is reported through ``say`` and never fires.
    """
    try:
        after = datetime.now(UTC)
        while not stopping.is_set():
            when = next_fire_time(schedule.expression, schedule.timezone or "UTC", after)
            if when is None:
                return
            say(f"schedule {schedule.name}: next firing at {when.isoformat()}")
            while not stopping.is_set() and datetime.now(UTC) < when:
                stopping.wait(min(1.0, (when - datetime.now(UTC)).total_seconds()))
            if stopping.is_set():
                return
            fire(when)
            after = when
    except UnsupportedScheduleError as exc:
        say(f"schedule {schedule.name}: {exc}; fire it on demand instead")
