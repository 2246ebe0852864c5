"""Reading a workload table: ``workloads.yaml``'s ``workloads:`` list, or the layer's ``workload_table.json``.

One reader for both forms; ``workloads.parse_workloads`` is its entry point. What only ec2 workloads
have (whole-vCPU sizes, ``gpus``) is read by ``workload_ec2``. Invariants:

* Every problem is reported, not just the first, so a table is fixed in one pass. Each problem
  names the workload (``workloads[<i>]`` while it has no name) and the dotted field.
* Nothing is coerced silently: an unknown key, a bool where a number belongs (YAML reads ``yes`` as
  true), a number where a string belongs (``exit_codes: 3``) is a problem, not a guess.
* Only the file form looks time zones up in the IANA database (``zoneinfo``, imported then and only
  then); the runtime form is the rendering of a file that passed that check, and cold start must not
  read the tz database.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from copy import replace
from typing import Any

from batch_orchestrator.fargate_sizes import VCPU_VALUES, canonical_vcpu
from batch_orchestrator.limits import (
    BATCH_MIN_JOB_TIMEOUT,
    FARGATE_MAX_JOB_DURATION,
    FARGATE_SPOT_CPU_ARCHITECTURE,
    S3_MAX_KEY_BYTES,
    SCHEDULE_PAYLOAD_BUDGET,
)
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT, SQS_MAX_DELAY_SECONDS, ExitCodeSet, RetryPolicy
from batch_orchestrator.workload_array import array_spec
from batch_orchestrator.workload_ec2 import ec2_ladder, gpus, is_ec2
from batch_orchestrator.workload_fields import (
    CPU_ARCHITECTURES,
    SCHEDULE_NAME,
    WORKLOAD_NAME,
    close_match,
    either,
    environment_name_problem,
    expression_problem,
    is_int,
    is_unicode,
    kind,
    memory_problem,
    not_json,
    timezone_problem,
)
from batch_orchestrator.workloads import (
    RETRY_DEFAULTS,
    CoalesceSpec,
    ComputeType,
    Container,
    KeyRule,
    Problem,
    RequestPolicy,
    Schedule,
    Size,
    Workload,
    WorkloadTableError,
)

_COMMON_KEYS = (
    "name",
    "match",
    "schedules",
    "vcpu",
    "memory",
    "timeout_seconds",
    "retry",
    "compute",
    "gpus",
    "array",
    "then",
    "coalesce",
    "notify",
    "requests",
)
_FILE_KEYS = (*_COMMON_KEYS, "image", "command", "cpu_architecture", "environment")
_RUNTIME_KEYS = _COMMON_KEYS
_FILE_REQUIRED = ("name", "image", "vcpu", "memory", "timeout_seconds")
_RUNTIME_REQUIRED = ("name", "vcpu", "memory", "timeout_seconds")
_SCHEDULE_KEYS = ("name", "expression", "timezone", "payload")
_SCHEDULE_REQUIRED = ("name", "expression", "timezone")
_MIN_TIMEOUT, _MAX_TIMEOUT = BATCH_MIN_JOB_TIMEOUT.value, FARGATE_MAX_JOB_DURATION.value
_REQUIRED_HINTS = {
    "timezone": "required: the IANA time zone the expression is evaluated in, e.g. Asia/Tokyo or UTC",
    "timeout_seconds": f"required: Batch stops an attempt after this many seconds ({_MIN_TIMEOUT}..{_MAX_TIMEOUT})",
}
# RetryPolicy names the environment variable too: "max_attempts (MAX_ATTEMPTS) must ..." -> "max_attempts must ...".
_ENV_VAR_IN_MESSAGE = re.compile(r" \([A-Z][A-Z_]*\)")


class _Reader:
    """The problems of one workload entry, collected in the order its fields are read."""

    def __init__(self, source: str, workload: str, *, runtime: bool, steps: frozenset[str] = frozenset()) -> None:
        self.source = source
        self.workload = workload
        self.runtime = runtime
        self.steps = steps  # the table's later pipeline steps (named by a `then`): they need no trigger
        self.problems: list[Problem] = []

    def problem(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.workload, field, message, self.source))

    def keys(self, mapping: Mapping[Any, Any], allowed: Sequence[str], required: Sequence[str], path: str) -> None:
        for key in mapping:
            if key not in allowed:
                close = close_match(str(key), allowed)
                hint = f"did you mean {close!r}?" if close else f"expected one of: {', '.join(allowed)}"
                self.problem(_join(path, str(key)), f"unknown key; {hint}")
        for key in required:
            if key not in mapping:
                self.problem(_join(path, key), _REQUIRED_HINTS.get(key, "required"))

    def string(self, value: object, field: str) -> str | None:
        if not isinstance(value, str):
            self.problem(field, f"must be a string, got {kind(value)}")
            return None
        return value

    def integer(self, value: object, field: str, low: int, high: int, why: str = "") -> int | None:
        if not isinstance(value, int) or not is_int(value):
            self.problem(field, f"must be a whole number, got {kind(value)}")
            return None
        if not low <= value <= high:
            self.problem(field, f"must be between {low} and {high}{why}, got {value}")
            return None
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse(data: object, *, source: str, runtime: bool) -> tuple[Workload, ...]:
    """See ``workloads.parse_workloads``."""
    if not isinstance(data, list | tuple):
        message = f"must be a list of workloads, got {kind(data)} (write `workloads: []` for none)"
        raise WorkloadTableError([Problem("", "workloads", message, source)])
    problems: list[Problem] = []
    workloads: list[Workload] = []
    steps = _step_names(data)
    for index, entry in enumerate(data):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        shown = name if isinstance(name, str) and name else f"workloads[{index}]"
        reader = _Reader(source, shown, runtime=runtime, steps=steps)
        workload = _workload(reader, entry)
        problems += reader.problems
        if workload is not None:
            workloads.append(workload)
    if not problems:
        problems += _pipeline_problems(workloads, source)  # the rules between workloads: `then`, and runs' attempts
    if problems:
        raise WorkloadTableError(problems)
    return tuple(workloads)


def _workload(r: _Reader, entry: object) -> Workload | None:
    if not isinstance(entry, Mapping):
        r.problem("", f"must be a mapping of a workload's fields (name, image, ...), got {kind(entry)}")
        return None
    r.keys(entry, _RUNTIME_KEYS if r.runtime else _FILE_KEYS, _RUNTIME_REQUIRED if r.runtime else _FILE_REQUIRED, "")
    name = _name(r, entry["name"]) if "name" in entry else None
    key_rule = _key_rule(r, entry.get("match"))
    schedules = _schedules(r, entry.get("schedules"))
    ladder = ec2_ladder(r.problem, entry) if is_ec2(entry) else _ladder(r, entry)
    gpu_count = gpus(r.problem, entry)
    timeout = None
    if "timeout_seconds" in entry:
        why = " seconds (Batch's minimum; a Fargate job runs 14 days at most)"
        timeout = r.integer(entry["timeout_seconds"], "timeout_seconds", _MIN_TIMEOUT, _MAX_TIMEOUT, why)
    retry = _retry(r, entry.get("retry"))
    compute = _compute(r, entry.get("compute"), retry)
    container = None if r.runtime else _container(r, entry)
    array = array_spec(r.problem, entry)
    then = _then(r, entry)
    coalesce = _coalesce(r, entry)
    notify = _notify(r, entry)
    requests = _requests(r, entry)
    _cross_checks(r, entry, ladder, retry)
    if r.problems or name is None or ladder is None or timeout is None or retry is None or compute is None:
        assert r.problems, "a field reader returned nothing without reporting a problem"
        return None
    return Workload(
        name=name,
        key_rule=key_rule,
        schedules=schedules,
        ladder=ladder,
        timeout_seconds=timeout,
        retry=retry,
        compute=compute[0],
        on_demand_after=compute[1],
        gpus=gpu_count,
        container=container,
        array=array,
        then=then,
        coalesce=coalesce,
        notify_on_success=notify,
        requests=requests,
    )


# Pipelines and coalescing are read by modules of their own, loaded only for a table that has a workload (the default
# stack's table is empty: its cold start loads neither) or an entry that uses them.
def _step_names(data: Sequence[Any]) -> frozenset[str]:
    if not any(isinstance(entry, Mapping) and "then" in entry for entry in data):
        return frozenset()
    from batch_orchestrator.workload_steps import step_names

    return step_names(data)


def _pipeline_problems(workloads: Sequence[Workload], source: str) -> list[Problem]:
    if not workloads:
        return []
    from batch_orchestrator.workload_steps import pipeline_problems

    return pipeline_problems(workloads, source)


def _then(r: _Reader, entry: Mapping[Any, Any]) -> str | None:
    if "then" not in entry:
        return None
    from batch_orchestrator.workload_steps import read_then

    return read_then(r.problem, entry)


def _coalesce(r: _Reader, entry: Mapping[Any, Any]) -> CoalesceSpec | None:
    if "coalesce" not in entry:
        return None
    from batch_orchestrator.workload_coalesce import coalesce_spec

    return coalesce_spec(r.problem, entry)


def _requests(r: _Reader, entry: Mapping[Any, Any]) -> RequestPolicy | None:
    if "requests" not in entry:
        return None
    from batch_orchestrator.workload_requests import request_policy

    return request_policy(r.problem, entry, later_step=entry.get("name") in r.steps)


def _notify(r: _Reader, entry: Mapping[Any, Any]) -> bool:
    """``notify: {on_success: true|false}``: whether the workload's Run Succeeded events reach the alerts topic. A
    pipeline's later step cannot opt in: its run's events name the pipeline's first workload."""
    if "notify" not in entry:
        return False
    value = entry["notify"]
    if not isinstance(value, Mapping):
        r.problem("notify", f"must be a mapping such as {{on_success: true}}, got {kind(value)}")
        return False
    r.keys(value, ("on_success",), (), "notify")
    on_success = value.get("on_success", False)
    if not isinstance(on_success, bool):
        r.problem("notify.on_success", f"must be true or false, got {kind(on_success)}")
        return False
    if on_success and entry.get("name") in r.steps:
        r.problem("notify", "a pipeline's later step cannot notify: set it on the pipeline's first workload")
        return False
    return on_success


def _name(r: _Reader, value: object) -> str | None:
    if isinstance(value, str) and WORKLOAD_NAME.fullmatch(value):
        return value
    message = "must be 1 to 20 characters: a lowercase letter, then lowercase letters, digits or '-'"
    r.problem("name", f"{message}, got {kind(value)}")
    return None


def _key_rule(r: _Reader, value: object) -> KeyRule | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        r.problem("match", f"must be a mapping with a prefix and/or a suffix, got {kind(value)}")
        return None
    r.keys(value, ("prefix", "suffix"), (), "match")
    prefix = r.string(value.get("prefix", ""), "match.prefix")
    suffix = r.string(value.get("suffix", ""), "match.suffix")
    if prefix is None or suffix is None:
        return None
    if not prefix and not suffix:
        r.problem("match", "needs a non-empty prefix or suffix: a rule with neither would match every key")
        return None
    if not is_unicode(prefix + suffix):
        r.problem("match", "holds a lone surrogate: an S3 key is Unicode text")
        return None
    if len((prefix + suffix).encode("utf-8")) > S3_MAX_KEY_BYTES.value:
        r.problem("match", f"prefix and suffix together exceed the {S3_MAX_KEY_BYTES.value} bytes of an S3 key")
        return None
    return KeyRule(prefix, suffix)


def _schedules(r: _Reader, value: object) -> tuple[Schedule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        r.problem("schedules", f"must be a list of schedules, got {kind(value)}")
        return ()
    schedules: list[Schedule] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(value):
        schedule = _schedule(r, item, f"schedules[{index}]")
        if schedule is None:
            continue
        if schedule.name in first_index:
            r.problem(
                f"schedules[{index}].name", f"{schedule.name!r} is already schedules[{first_index[schedule.name]}]"
            )
            continue
        first_index[schedule.name] = index
        schedules.append(schedule)
    return tuple(schedules)


def _schedule(r: _Reader, item: object, path: str) -> Schedule | None:
    before = len(r.problems)
    if not isinstance(item, Mapping):
        r.problem(path, f"must be a mapping (name, expression, timezone, payload), got {kind(item)}")
        return None
    r.keys(item, _SCHEDULE_KEYS, _SCHEDULE_REQUIRED, path)
    name = item.get("name")
    if "name" in item and not (isinstance(name, str) and SCHEDULE_NAME.fullmatch(name)):
        rule = "must be 1 to 16 characters: a lowercase letter, then lowercase letters, digits or '-'"
        r.problem(f"{path}.name", f"{rule}, got {kind(name)}")
    expression = expression_problem(item["expression"]) if "expression" in item else None
    if expression:
        r.problem(f"{path}.expression", expression)
    timezone = timezone_problem(item["timezone"], runtime=r.runtime) if "timezone" in item else None
    if timezone:
        r.problem(f"{path}.timezone", timezone)
    payload = _payload(r, item.get("payload"), f"{path}.payload")
    if len(r.problems) > before:
        return None
    return Schedule(name=item["name"], expression=item["expression"], timezone=item["timezone"], payload=payload)


def _payload(r: _Reader, value: object, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        r.problem(
            field, f"must be a mapping (a JSON object: the job reads it from SCHEDULE_PAYLOAD), got {kind(value)}"
        )
        return {}
    found = not_json(value, field)
    if found:
        r.problem(found[0], f"is not JSON: {found[1]}")
        return {}
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size, budget = len(text.encode("utf-8")), SCHEDULE_PAYLOAD_BUDGET.value
    if size > budget:
        r.problem(field, f"is {size} bytes as JSON, over the {budget} a payload may take: put bulk data in S3")
        return {}
    parsed: dict[str, Any] = json.loads(text)  # plain JSON types, detached from the caller's objects
    return parsed


def _ladder(r: _Reader, entry: Mapping[Any, Any]) -> tuple[Size, ...] | None:
    """vcpu and memory: one Fargate size, or a ladder of them (one vcpu, growing memory)."""
    before = len(r.problems)
    vcpu = canonical_vcpu(entry.get("vcpu"))
    if vcpu is None and "vcpu" in entry:
        r.problem("vcpu", f"must be a Fargate vCPU value ({', '.join(VCPU_VALUES)}), got {kind(entry['vcpu'])}")
    if "memory" not in entry:
        return None
    memory = entry["memory"]
    steps: list[Any] = memory if isinstance(memory, list) else [memory]
    if not steps:
        r.problem("memory", "is an empty ladder: give a size in MiB, or a list of growing sizes")
        return None
    for index, step in enumerate(steps):
        message = memory_problem(vcpu, step)
        if message:
            r.problem(f"memory[{index}]" if isinstance(memory, list) else "memory", message)
    if all(is_int(step) for step in steps) and any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        r.problem("memory", f"a ladder's steps must grow, each larger than the one before: got {steps}")
    if vcpu is None or len(r.problems) > before:
        return None
    return tuple(Size(vcpu, step) for step in steps)


def _retry(r: _Reader, value: object) -> RetryPolicy | None:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        r.problem("retry", f"must be a mapping (exit_codes, max_attempts, ...), got {kind(value)}")
        return None
    r.keys(value, tuple(RETRY_DEFAULTS), (), "retry")
    settings = {key: value.get(key, default) for key, default in RETRY_DEFAULTS.items()}
    before = len(r.problems)
    codes = _exit_codes(r, settings["exit_codes"])
    for key in ("max_attempts", "base_delay_seconds", "max_delay_seconds"):
        if not is_int(settings[key]):
            r.problem(f"retry.{key}", f"must be a whole number, got {kind(settings[key])}")
    for key in ("on_timeout", "on_no_exit_code"):
        if not isinstance(settings[key], bool):
            r.problem(f"retry.{key}", f"must be true or false, got {kind(settings[key])}")
    policy = _retry_policy(r, settings)
    if len(r.problems) > before or codes is None or policy is None:
        return None
    return replace(policy, retry_exit_codes=codes)


def _exit_codes(r: _Reader, value: object) -> ExitCodeSet | None:
    if not isinstance(value, str):
        r.problem("retry.exit_codes", f'must be a string such as "3,75,137-143" (quote it), got {kind(value)}')
        return None
    try:
        return ExitCodeSet.parse(value)
    except ValueError as exc:
        r.problem("retry.exit_codes", str(exc))
        return None


def _policy(settings: Mapping[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        retry_exit_codes=ExitCodeSet(),
        max_attempts=settings["max_attempts"],
        base_delay_seconds=settings["base_delay_seconds"],
        max_delay_seconds=settings["max_delay_seconds"],
        retry_on_timeout=settings["on_timeout"],
        retry_on_no_exit_code=settings["on_no_exit_code"],
    )


def _retry_policy(r: _Reader, settings: Mapping[str, Any]) -> RetryPolicy | None:
    """RetryPolicy checks the numbers (one source of truth). Each whole number is tried alone among
    neutral values first, so every bad one is reported under its own field; then all of them together,
    for the one rule between two (base_delay_seconds <= max_delay_seconds)."""
    neutral = {"max_attempts": 1, "base_delay_seconds": 0, "max_delay_seconds": SQS_MAX_DELAY_SECONDS}
    flags = {"on_timeout": False, "on_no_exit_code": False}
    ok = True
    for key in neutral:
        if not is_int(settings[key]):
            ok = False  # reported by the caller
            continue
        try:
            _policy({**neutral, **flags, key: settings[key]})
        except ValueError as exc:
            r.problem(f"retry.{key}", _ENV_VAR_IN_MESSAGE.sub("", str(exc)).removeprefix(f"{key} "))
            ok = False
    if not ok or not all(isinstance(settings[flag], bool) for flag in flags):
        return None
    try:
        return _policy(settings)
    except ValueError as exc:
        r.problem("retry.base_delay_seconds", _ENV_VAR_IN_MESSAGE.sub("", str(exc)))
        return None


def _compute(r: _Reader, value: object, retry: RetryPolicy | None) -> tuple[ComputeType, int] | None:
    if value is None:
        return ComputeType.FARGATE, 0
    if not isinstance(value, Mapping):
        r.problem("compute", f"must be a mapping such as {{type: fargate}}, got {kind(value)}")
        return None
    r.keys(value, ("type", "on_demand_after"), ("type",), "compute")
    types = [t.value for t in ComputeType]
    chosen = value.get("type")
    if "type" in value and chosen not in types:
        r.problem("compute.type", f"must be {either(types)}, got {kind(chosen)}")
    if chosen not in types:
        return None
    compute = ComputeType(chosen)
    if compute is not ComputeType.FARGATE_SPOT:
        if "on_demand_after" in value:
            r.problem("compute.on_demand_after", "applies only to type fargate-spot")
        return compute, 0
    if "on_demand_after" not in value:
        why = f"the Spot interruptions (1..{MAX_ATTEMPTS_LIMIT - 1}) after which attempts run On-Demand"
        r.problem("compute.on_demand_after", f"required with fargate-spot: {why}")
        return None
    after = r.integer(value["on_demand_after"], "compute.on_demand_after", 1, MAX_ATTEMPTS_LIMIT - 1)
    if after is not None and retry is not None and after >= retry.max_attempts:
        message = f"must be less than retry.max_attempts ({retry.max_attempts}), or no attempt would run On-Demand"
        r.problem("compute.on_demand_after", message)
        return None
    return None if after is None else (compute, after)


def _container(r: _Reader, entry: Mapping[Any, Any]) -> Container | None:
    before = len(r.problems)
    image = r.string(entry["image"], "image") if "image" in entry else None
    if image is not None and (not image or any(c.isspace() for c in image)):
        r.problem("image", f"must be an image reference without spaces, got {image!r}")
    command = _command(r, entry.get("command"))
    environment = _environment(r, entry.get("environment"))
    architecture = entry.get("cpu_architecture", "X86_64")
    if architecture not in CPU_ARCHITECTURES:
        r.problem("cpu_architecture", f"must be {either(CPU_ARCHITECTURES)}, got {kind(architecture)}")
    if len(r.problems) > before or image is None:
        return None
    return Container(image=image, command=tuple(command), environment=environment, cpu_architecture=architecture)


def _command(r: _Reader, value: object) -> tuple[str, ...]:
    """The job's argv; () when absent: the image's own CMD runs."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        shown = "an empty list" if value == [] else kind(value)
        r.problem("command", f"must be a non-empty list of strings (argv), e.g. [python3, /app/job.py], got {shown}")
        return ()
    for index, arg in enumerate(value):
        if not isinstance(arg, str):
            r.problem(f"command[{index}]", f"must be a string, got {kind(arg)} (quote it)")
    return tuple(value)


def _environment(r: _Reader, value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        r.problem("environment", f"must be a mapping of NAME: value, got {kind(value)}")
        return {}
    for name, text in value.items():
        field = f"environment.{name}"
        message = environment_name_problem(name)
        if message:
            r.problem(field, message)
        if not isinstance(text, str):
            r.problem(field, f"must be a string, got {kind(text)} (quote it)")
    return dict(value)


def _cross_checks(
    r: _Reader,
    entry: Mapping[Any, Any],
    ladder: tuple[Size, ...] | None,
    retry: RetryPolicy | None,
) -> None:
    """The rules between fields, checked only where both fields read well (one problem, one line)."""
    triggered = entry.get("match") is not None or entry.get("schedules") or "requests" in entry
    if not triggered and entry.get("name") not in r.steps:
        r.problem(
            "match",
            "a workload needs a trigger: match (an S3 key rule), at least one schedule, or requests (runs other "
            "applications request), unless it is a pipeline's later step (another workload names it in `then`)",
        )
    if ladder is not None and retry is not None and len(ladder) > retry.max_attempts:
        r.problem(
            "memory",
            f"a ladder of {len(ladder)} steps needs retry.max_attempts >= {len(ladder)} (each out-of-memory "
            f"attempt moves up one step), got {retry.max_attempts}",
        )
    compute_entry = entry.get("compute")
    spot = isinstance(compute_entry, Mapping) and compute_entry.get("type") == ComputeType.FARGATE_SPOT.value
    architecture = entry.get("cpu_architecture", "X86_64")
    if (
        spot
        and architecture in CPU_ARCHITECTURES
        and not re.fullmatch(FARGATE_SPOT_CPU_ARCHITECTURE.pattern, architecture)
    ):
        r.problem(
            "cpu_architecture",
            f"Fargate Spot runs X86_64 only ({FARGATE_SPOT_CPU_ARCHITECTURE.source}): use compute type fargate",
        )
