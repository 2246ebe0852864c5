"""The rules for single values of a workload table: names, schedule expressions, time zones, payloads, sizes.

Each rule is a pure function that returns the problem's message, or None when the value is fine;
``workload_parser`` decides which field the message belongs to. Messages say what is wrong and what
would be right, in the words of ``workloads.yaml`` (YAML's null/true/false, MiB, IANA names).
Only ``timezone_problem`` in the file form reads the time zone database (imported on first use).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from batch_orchestrator.fargate_sizes import describe_memory_choices, is_fargate_size, vcpus_accepting
from batch_orchestrator.limits import (
    BATCH_RESERVED_ENVIRONMENT_PREFIX,
    SCHEDULER_EXPRESSION,
    SCHEDULER_TIMEZONE,
)

WORKLOAD_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")
SCHEDULE_NAME = re.compile(r"[a-z][a-z0-9-]{0,15}")
ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What the orchestrator sets on jobs (submit.job_environment, and the job definitions' OUTPUT_*); ARRAY_* on
# the attempts of array workloads (ARRAY_ITEMS, and names kept for what arrays may hand their children next); STEP_*,
# PREVIOUS_STEP_* and MANIFEST_* on a pipeline's steps (workload_steps.step_environment); REQUEST_* on the runs other
# applications request (run_requests).
ORCHESTRATOR_VARIABLES = frozenset({"RUN_ID", "RUN_ATTEMPT", "TRIGGER", "SCHEDULED_TIME"})
ORCHESTRATOR_PREFIXES = (
    "INPUT_",
    "SCHEDULE_",
    "OUTPUT_",
    "ARRAY_",
    "STEP_",
    "PREVIOUS_STEP_",
    "MANIFEST_",
    "REQUEST_",
)
CPU_ARCHITECTURES = ("X86_64", "ARM64")

_RATE = re.compile(r"rate\([1-9][0-9]* (?:minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(([^()]*)\)")
_AT = re.compile(r"at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)")


def kind(value: object) -> str:
    """How a value reads in a message ("got ..."): strings quoted, YAML's words for null and booleans."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def either(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + f" or {values[-1]}"


class FieldReport:
    """Reports the problems of one mapping field (``array``, ``coalesce``, ``requests``) through ``problem``, one
    line each, remembering whether it reported any (a reader returns nothing once it did)."""

    def __init__(self, problem: Callable[[str, str], None]) -> None:
        self._problem = problem
        self.failed = False

    def __call__(self, field: str, message: str) -> None:
        self.failed = True
        self._problem(field, message)

    def unknown_keys(self, value: Mapping[Any, Any], allowed: Sequence[str], path: str) -> None:
        """One line per key of ``value`` not in ``allowed``, with the closest allowed key when one is close."""
        for key in value:
            if key not in allowed:
                close = close_match(str(key), allowed)
                hint = f"did you mean {close!r}?" if close else f"expected {either(allowed)}"
                self(f"{path}.{key}", f"unknown key; {hint}")


def close_match(word: str, choices: Iterable[str]) -> str | None:
    import difflib  # only when there is a mistake to explain

    matches = difflib.get_close_matches(word, list(choices), n=1)
    return matches[0] if matches else None


@cache
def iana_zones() -> frozenset[str]:
    import zoneinfo  # the file form only: cold start never pays for the tz database

    return frozenset(zoneinfo.available_timezones())


def expression_problem(value: object) -> str | None:
    """EventBridge Scheduler's three shapes: rate(N unit), cron(six fields), at(yyyy-mm-ddThh:mm:ss).

    The shape only, as the Scheduler API reference describes it; whether a cron's fields make sense
    beyond that (and the "?" rule) is left to CloudFormation at deploy.
    """
    example = "e.g. cron(0 2 * * ? *), rate(15 minutes) or at(2030-01-31T02:00:00)"
    if not isinstance(value, str):
        return f"must be a string, {example}; got {kind(value)}"
    if len(value) > SCHEDULER_EXPRESSION.value:
        return f"is longer than EventBridge Scheduler's {SCHEDULER_EXPRESSION.value} characters"
    if value.startswith("rate("):
        return None if _RATE.fullmatch(value) else "must be rate(<whole number> <minute(s)|hour(s)|day(s)>)"
    if value.startswith("cron("):
        return cron_problem(value)
    if value.startswith("at("):
        at = _AT.fullmatch(value)
        try:
            datetime.fromisoformat(at[1] if at else "")
        except ValueError:
            return "must be at(yyyy-mm-ddThh:mm:ss) with a real date and time, e.g. at(2030-01-31T02:00:00)"
        return None
    return f"must be a rate(...), cron(...) or at(...) expression, {example}; got {value!r}"


def cron_problem(value: str) -> str | None:
    cron = _CRON.fullmatch(value)
    fields = cron[1].split() if cron else []
    if len(fields) != 6:
        return "must have six fields: cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 2 * * ? *)"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "must have ? in exactly one of day-of-month and day-of-week (fields 3 and 5), e.g. cron(0 2 * * ? *)"
    return None


def timezone_problem(value: object, *, runtime: bool) -> str | None:
    """A non-empty name within Scheduler's length; in the file form (``runtime=False``) also an IANA zone."""
    if not isinstance(value, str) or not value:
        return f"must be an IANA time zone name such as Asia/Tokyo or UTC, got {kind(value)}"
    if len(value) > SCHEDULER_TIMEZONE.value:
        return f"is longer than EventBridge Scheduler's {SCHEDULER_TIMEZONE.value} characters"
    if runtime:
        return None
    zones = iana_zones()
    if not zones:
        return "cannot be checked: this Python finds no IANA time zone database (install the tzdata package)"
    if value in zones:
        return None
    close = close_match(value, zones)
    return f"{value!r} is not an IANA time zone name" + (
        f"; did you mean {close!r}?" if close else " (e.g. Asia/Tokyo)"
    )


def is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_json(value: object, path: str) -> tuple[str, str] | None:
    """The first part of ``value`` JSON cannot carry as it is (path and why), or None."""
    if isinstance(value, str):
        return None if value.isascii() or is_unicode(value) else (path, "holds a lone surrogate, not Unicode text")
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"{value!r} is not a JSON number")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not is_unicode(key):
                return path, f"key {key!r} is not a string of Unicode text (quote it)"
            found = not_json(item, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(value, list):
        return next((f for i, item in enumerate(value) if (f := not_json(item, f"{path}[{i}]"))), None)
    return path, f"a {type(value).__name__} ({value!r}): YAML reads an unquoted date or time as one; quote it"


def memory_problem(vcpu: str | None, memory: object) -> str | None:
    """A whole number of MiB that makes a Fargate size with ``vcpu`` (None: the vcpu is already reported)."""
    if not isinstance(memory, int) or isinstance(memory, bool):
        return f"must be a whole number of MiB, got {kind(memory)}"
    if vcpu is None or is_fargate_size(vcpu, memory):
        return None
    message = f"{memory} MiB is not a Fargate size with {vcpu} vCPU, which takes {describe_memory_choices(vcpu)} MiB"
    others = vcpus_accepting(memory)
    return message + (f" ({memory} MiB goes with vcpu {either(others)})" if others else "")


def environment_name_problem(name: object) -> str | None:
    """A variable name the job may set: POSIX-shaped, not Batch's AWS_BATCH*, not one the orchestrator sets."""
    if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
        return "is not a variable name: letters, digits and _, not starting with a digit"
    reserved = BATCH_RESERVED_ENVIRONMENT_PREFIX
    if name.startswith(reserved.prefix):
        return f"names starting with {reserved.prefix} are reserved for Batch's own variables ({reserved.source})"
    if name in ORCHESTRATOR_VARIABLES or name.startswith(ORCHESTRATOR_PREFIXES):
        return (
            "is set by the orchestrator on every job (RUN_ID, RUN_ATTEMPT, TRIGGER, INPUT_*, SCHEDULE_*, "
            "SCHEDULED_TIME, OUTPUT_*, ARRAY_*, STEP_*, PREVIOUS_STEP_*, MANIFEST_*, REQUEST_*): choose another name"
        )
    return None
