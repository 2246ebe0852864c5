# Over 400 lines on purpose: one table per rule of the workload model (parsing, table checks, routing, the
# runtime form), each short; splitting them would scatter the one schema they describe.
"""The workload model: reading workloads.yaml and the layer's table, validating it, routing keys, the runtime form."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from copy import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_orchestrator import workload_fields
from batch_orchestrator.failure_kinds import is_out_of_memory, is_spot_interruption
from batch_orchestrator.fargate_sizes import MEMORY_BY_VCPU, VCPU_VALUES, canonical_vcpu, describe_memory_choices
from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.workload_table_file import file_text
from batch_orchestrator.workloads import (
    DEFAULT_WORKLOAD,
    NO_RULE_MATCHES,
    UNDER_OUTPUT_PREFIX,
    CoalesceSpec,
    ComputeType,
    Container,
    KeyRule,
    NoWorkload,
    Problem,
    Schedule,
    Size,
    Workload,
    WorkloadTable,
    WorkloadTableError,
    ambiguous_key,
    parse_workloads,
    to_runtime_json,
    validate_table,
)

REPO = Path(__file__).resolve().parents[2]

# The contract's worked example, as a user writes it.
EXAMPLE_YAML = """
workloads:
  - name: thumbnails
    match: {prefix: images/, suffix: .jpg}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "1"
    memory: [2048, 4096, 8192]
    timeout_seconds: 900
    environment: {QUALITY: "85"}
    retry: {exit_codes: "3,75,137-143", max_attempts: 3, base_delay_seconds: 10}
    compute: {type: fargate-spot, on_demand_after: 2}
  - name: reports
    schedules:
      - name: nightly
        expression: cron(0 2 * * ? *)
        timezone: Asia/Tokyo
        payload: {report: daily}
    image: public.ecr.aws/docker/library/python:3.13-slim
    cpu_architecture: ARM64
    vcpu: 0.5
    memory: 1024
    timeout_seconds: 600
"""


def entry(**fields: Any) -> dict[str, Any]:
    """A valid file-form workload; a field given as None is left out."""
    base: dict[str, Any] = {
        "name": "thumbnails",
        "match": {"prefix": "images/"},
        "image": "public.ecr.aws/docker/library/python:3.13-slim",
        "vcpu": "1",
        "memory": 2048,
        "timeout_seconds": 900,
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def problems(entries: Any, *, runtime: bool = False) -> list[str]:
    with pytest.raises(WorkloadTableError) as raised:
        parse_workloads(entries, source="workload_table.json" if runtime else "workloads.yaml", runtime=runtime)
    return [str(p) for p in raised.value.problems]


def workload(name: str, prefix: str = "", suffix: str = "", **fields: Any) -> Workload:
    base: dict[str, Any] = {
        "name": name,
        "key_rule": KeyRule(prefix, suffix) if prefix or suffix else None,
        "schedules": (),
        "ladder": (Size("1", 2048),),
        "timeout_seconds": 900,
        "retry": RetryPolicy(ExitCodeSet(), 1, 30, 900),
    }
    base.update(fields)
    return Workload(**base)


# ---------------------------------------------------------------------------------------------
# Valid tables
# ---------------------------------------------------------------------------------------------


def test_the_worked_example_reads_as_written() -> None:
    # Given the contract's example as YAML
    data = yaml.safe_load(EXAMPLE_YAML)["workloads"]

    # When it is parsed in the file form
    thumbnails, reports = parse_workloads(data, source="workloads.yaml", runtime=False)

    # Then every field lands where the runtime and the template read it
    assert thumbnails.key_rule == KeyRule("images/", ".jpg")
    assert thumbnails.ladder == (Size("1", 2048), Size("1", 4096), Size("1", 8192))
    assert thumbnails.has_ladder
    assert thumbnails.size(2) == Size("1", 8192)
    assert thumbnails.retry == RetryPolicy(ExitCodeSet.parse("3,75,137-143"), 3, 10, 900)
    assert (thumbnails.compute, thumbnails.on_demand_after) == (ComputeType.FARGATE_SPOT, 2)
    assert thumbnails.container == Container(
        "public.ecr.aws/docker/library/python:3.13-slim", ("python3", "/app/job.py"), {"QUALITY": "85"}, "X86_64"
    )
    assert thumbnails.job_definition == ""
    assert reports.key_rule is None
    assert reports.schedules == (Schedule("nightly", "cron(0 2 * * ? *)", "Asia/Tokyo", {"report": "daily"}),)
    assert reports.schedule("nightly") is reports.schedules[0]
    assert reports.schedule("weekly") is None
    assert reports.ladder == (Size("0.5", 1024),)
    assert not reports.has_ladder
    assert reports.retry == RetryPolicy(ExitCodeSet(), 1, 30, 900)  # every retry default
    assert reports.compute is ComputeType.FARGATE
    assert reports.container is not None
    assert (reports.container.command, reports.container.cpu_architecture) == ((), "ARM64")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("0.25", "0.25"), (0.25, "0.25"), (0.5, "0.5"), ("0.50", "0.5"), (1, "1"), (1.0, "1"), ("16", "16"), (16, "16")],
)
def test_vcpu_is_read_in_any_spelling_and_kept_as_batch_writes_it(written: object, canonical: str) -> None:
    memory = MEMORY_BY_VCPU[canonical][0]
    (parsed,) = parse_workloads([entry(vcpu=written, memory=memory)], source="workloads.yaml", runtime=False)
    assert parsed.ladder == (Size(canonical, memory),)


@pytest.mark.parametrize("written", [True, "1 ", "one", 3, 0.75, None, "32"])
def test_vcpu_values_fargate_does_not_offer_are_none(written: object) -> None:
    assert canonical_vcpu(written) is None


def test_an_empty_table_is_valid() -> None:
    assert parse_workloads([], source="workloads.yaml", runtime=False) == ()
    assert validate_table(()) == WorkloadTable(())


# ---------------------------------------------------------------------------------------------
# One mutation per rule, with the exact line it produces
# ---------------------------------------------------------------------------------------------

T = "workloads.yaml: thumbnails: "
SPOT = {"type": "fargate-spot", "on_demand_after": 1}
NAME_RULE = "must be 1 to 20 characters: a lowercase letter, then lowercase letters, digits or '-'"
RESERVED = (
    "is set by the orchestrator on every job (RUN_ID, RUN_ATTEMPT, TRIGGER, INPUT_*, SCHEDULE_*, SCHEDULED_TIME, "
    "OUTPUT_*, ARRAY_*, STEP_*, PREVIOUS_STEP_*, MANIFEST_*, REQUEST_*): choose another name"
)
TIMEOUT_RANGE = "must be between 60 and 1209600 seconds (Batch's minimum; a Fargate job runs 14 days at most)"
TRIGGER = (
    "match: a workload needs a trigger: match (an S3 key rule), at least one schedule, or requests (runs other "
    "applications request), unless it is a pipeline's later step (another workload names it in `then`)"
)
GROW = "memory: a ladder's steps must grow, each larger than the one before: got"
ARGV = "command: must be a non-empty list of strings (argv), e.g. [python3, /app/job.py], got"
RATE = "schedules[0].expression: must be rate(<whole number> <minute(s)|hour(s)|day(s)>)"
NONE_HINT = "(write `workloads: []` for none)"
FILE_KEYS = (
    "name, match, schedules, vcpu, memory, timeout_seconds, retry, compute, gpus, array, then, coalesce, notify, "
    "requests, "
    "image, command, cpu_architecture, environment"
)


def schedule(expression: str = "rate(1 day)", timezone: str | None = "UTC", **fields: Any) -> dict[str, Any]:
    """One schedule in a list, as workloads.yaml holds it; timezone None leaves it out."""
    item = {"name": "n", "expression": expression, "timezone": timezone, **fields}
    return {"schedules": [{key: value for key, value in item.items() if value is not None}]}


RULES: list[tuple[dict[str, Any], str]] = [
    ({"timeout": 5}, T + "timeout: unknown key; did you mean 'timeout_seconds'?"),
    ({"match": {"prefix": "a/", "suffx": ".jpg"}}, T + "match.suffx: unknown key; did you mean 'suffix'?"),
    ({"job_definition": "arn:x"}, T + f"job_definition: unknown key; expected one of: {FILE_KEYS}"),
    ({"image": None}, T + "image: required"),
    (
        {"timeout_seconds": None},
        T + "timeout_seconds: required: Batch stops an attempt after this many seconds (60..1209600)",
    ),
    ({"name": "Thumbs"}, f"workloads.yaml: Thumbs: name: {NAME_RULE}, got 'Thumbs'"),
    ({"name": "a" * 21}, f"workloads.yaml: {'a' * 21}: name: {NAME_RULE}, got '{'a' * 21}'"),
    ({"vcpu": True}, T + "vcpu: must be a Fargate vCPU value (0.25, 0.5, 1, 2, 4, 8, 16), got true"),
    ({"memory": True}, T + "memory: must be a whole number of MiB, got true"),
    ({"memory": "2048"}, T + "memory: must be a whole number of MiB, got '2048'"),
    (
        {"vcpu": "2", "memory": 1024},
        T + "memory: 1024 MiB is not a Fargate size with 2 vCPU, which takes 4096 to 16384 in steps of 1024 MiB "
        "(1024 MiB goes with vcpu 0.25 or 0.5)",
    ),
    (
        {"vcpu": "0.25", "memory": 3072},
        T + "memory: 3072 MiB is not a Fargate size with 0.25 vCPU, which takes 512, 1024 or 2048 MiB "
        "(3072 MiB goes with vcpu 0.5 or 1)",
    ),
    (
        {"vcpu": "8", "memory": 18432},
        T + "memory: 18432 MiB is not a Fargate size with 8 vCPU, which takes 16384 to 61440 in steps of 4096 MiB "
        "(18432 MiB goes with vcpu 4)",
    ),
    (
        {"memory": [2048, 9000], "retry": {"max_attempts": 2}},
        T + "memory[1]: 9000 MiB is not a Fargate size with 1 vCPU, which takes 2048 to 8192 in steps of 1024 MiB",
    ),
    ({"memory": [4096, 2048], "retry": {"max_attempts": 2}}, T + f"{GROW} [4096, 2048]"),
    ({"memory": [2048, 2048], "retry": {"max_attempts": 2}}, T + f"{GROW} [2048, 2048]"),
    ({"memory": []}, T + "memory: is an empty ladder: give a size in MiB, or a list of growing sizes"),
    (
        {"memory": [2048, 4096, 8192], "retry": {"max_attempts": 2}},
        T + "memory: a ladder of 3 steps needs retry.max_attempts >= 3 (each out-of-memory attempt moves up "
        "one step), got 2",
    ),
    ({"timeout_seconds": 59}, T + f"timeout_seconds: {TIMEOUT_RANGE}, got 59"),
    ({"timeout_seconds": 1209601}, T + f"timeout_seconds: {TIMEOUT_RANGE}, got 1209601"),
    ({"timeout_seconds": True}, T + "timeout_seconds: must be a whole number, got true"),
    ({"match": None}, T + TRIGGER),
    ({"match": None, "schedules": []}, T + TRIGGER),
    (
        {"match": {"prefix": "", "suffix": ""}},
        T + "match: needs a non-empty prefix or suffix: a rule with neither would match every key",
    ),
    ({"match": "images/"}, T + "match: must be a mapping with a prefix and/or a suffix, got 'images/'"),
    ({"match": {"prefix": 5}}, T + "match.prefix: must be a string, got 5"),
    ({"match": {"prefix": "a" * 1025}}, T + "match: prefix and suffix together exceed the 1024 bytes of an S3 key"),
    ({"match": {"prefix": "\ud800"}}, T + "match: holds a lone surrogate: an S3 key is Unicode text"),
    (
        schedule(timezone=None),
        T + "schedules[0].timezone: required: the IANA time zone the expression is evaluated in, e.g. Asia/Tokyo "
        "or UTC",
    ),
    (
        schedule(timezone="Asia/Tokio"),
        T + "schedules[0].timezone: 'Asia/Tokio' is not an IANA time zone name; did you mean 'Asia/Tokyo'?",
    ),
    (
        schedule(timezone=""),
        T + "schedules[0].timezone: must be an IANA time zone name such as Asia/Tokyo or UTC, got ''",
    ),
    (schedule(timezone="A" * 51), T + "schedules[0].timezone: is longer than EventBridge Scheduler's 50 characters"),
    (schedule("rate(0 minutes)"), T + RATE),
    (schedule("rate(2 weeks)"), T + RATE),
    (
        schedule("cron(0 2 * * ?)"),
        T + "schedules[0].expression: must have six fields: cron(minutes hours day-of-month month day-of-week "
        "year), e.g. cron(0 2 * * ? *)",
    ),
    (
        schedule("cron(0 2 * * * *)"),
        T + "schedules[0].expression: must have ? in exactly one of day-of-month and day-of-week (fields 3 and 5), "
        "e.g. cron(0 2 * * ? *)",
    ),
    (
        schedule("at(2030-02-30T02:00:00)"),
        T + "schedules[0].expression: must be at(yyyy-mm-ddThh:mm:ss) with a real date and time, "
        "e.g. at(2030-01-31T02:00:00)",
    ),
    (
        schedule("every day"),
        T + "schedules[0].expression: must be a rate(...), cron(...) or at(...) expression, e.g. cron(0 2 * * ? *), "
        "rate(15 minutes) or at(2030-01-31T02:00:00); got 'every day'",
    ),
    (
        schedule("rate(" + "1" * 251 + " day)"),
        T + "schedules[0].expression: is longer than EventBridge Scheduler's 256 characters",
    ),
    (schedule(name="Nightly"), T + f"schedules[0].name: {NAME_RULE.replace('20', '16')}, got 'Nightly'"),
    ({"schedules": schedule()["schedules"] * 2}, T + "schedules[1].name: 'n' is already schedules[0]"),
    (
        schedule(payload=[1]),
        T + "schedules[0].payload: must be a mapping (a JSON object: the job reads it from SCHEDULE_PAYLOAD), "
        "got a list",
    ),
    (
        schedule(payload={"k": "x" * 4090}),
        T + "schedules[0].payload: is 4098 bytes as JSON, over the 4096 a payload may take: put bulk data in S3",
    ),
    (schedule(payload={"k": [float("nan")]}), T + "schedules[0].payload.k[0]: is not JSON: nan is not a JSON number"),
    (
        schedule(payload={1: "x"}),
        T + "schedules[0].payload: is not JSON: key 1 is not a string of Unicode text (quote it)",
    ),
    ({"schedules": "nightly"}, T + "schedules: must be a list of schedules, got 'nightly'"),
    ({"environment": {"RUN_ID": "x"}}, T + f"environment.RUN_ID: {RESERVED}"),
    ({"environment": {"INPUT_KEY": "x"}}, T + f"environment.INPUT_KEY: {RESERVED}"),
    ({"environment": {"SCHEDULE_PAYLOAD": "x"}}, T + f"environment.SCHEDULE_PAYLOAD: {RESERVED}"),
    (
        {"environment": {"AWS_BATCH_JOB_ID": "x"}},
        T + "environment.AWS_BATCH_JOB_ID: names starting with AWS_BATCH are reserved for Batch's own variables "
        "(https://docs.aws.amazon.com/batch/latest/APIReference/API_ContainerOverrides.html)",
    ),
    (
        {"environment": {"1ST": "x"}},
        T + "environment.1ST: is not a variable name: letters, digits and _, not starting with a digit",
    ),
    ({"environment": {"LEVEL": 5}}, T + "environment.LEVEL: must be a string, got 5 (quote it)"),
    ({"environment": ["A=1"]}, T + "environment: must be a mapping of NAME: value, got a list"),
    ({"command": "python3 job.py"}, T + f"{ARGV} 'python3 job.py'"),
    ({"command": []}, T + f"{ARGV} an empty list"),
    ({"command": ["python3", 3]}, T + "command[1]: must be a string, got 3 (quote it)"),
    ({"image": "my image"}, T + "image: must be an image reference without spaces, got 'my image'"),
    ({"cpu_architecture": "arm64"}, T + "cpu_architecture: must be X86_64 or ARM64, got 'arm64'"),
    ({"retry": {"exit_codes": 3}}, T + 'retry.exit_codes: must be a string such as "3,75,137-143" (quote it), got 3'),
    (
        {"retry": {"exit_codes": "3,x"}},
        T + "retry.exit_codes: exit code list '3,x': 'x' is not an exit code or a range like 137-143",
    ),
    ({"retry": {"max_attempts": 11}}, T + "retry.max_attempts: must be between 1 and 10, got 11"),
    ({"retry": {"max_attempts": True}}, T + "retry.max_attempts: must be a whole number, got true"),
    (
        {"retry": {"max_delay_seconds": 901}},
        T + "retry.max_delay_seconds: must be between 0 and 900 (the SQS DelaySeconds limit), got 901",
    ),
    (
        {"retry": {"base_delay_seconds": 60, "max_delay_seconds": 30}},
        T + "retry.base_delay_seconds: base_delay_seconds (60) must not exceed max_delay_seconds (30)",
    ),
    ({"retry": {"on_timeout": "yes"}}, T + "retry.on_timeout: must be true or false, got 'yes'"),
    ({"retry": {"attempts": 3}}, T + "retry.attempts: unknown key; did you mean 'max_attempts'?"),
    ({"retry": 3}, T + "retry: must be a mapping (exit_codes, max_attempts, ...), got 3"),
    ({"compute": {"type": "batch"}}, T + "compute.type: must be fargate, fargate-spot or ec2, got 'batch'"),
    (
        {"compute": {"type": "fargate", "on_demand_after": 1}},
        T + "compute.on_demand_after: applies only to type fargate-spot",
    ),
    (
        {"compute": {"type": "fargate-spot"}, "retry": {"max_attempts": 3}},
        T + "compute.on_demand_after: required with fargate-spot: the Spot interruptions (1..9) after which attempts "
        "run On-Demand",
    ),
    (
        {"compute": {**SPOT, "on_demand_after": 0}, "retry": {"max_attempts": 3}},
        T + "compute.on_demand_after: must be between 1 and 9, got 0",
    ),
    (
        {"compute": {**SPOT, "on_demand_after": 10}, "retry": {"max_attempts": 10}},
        T + "compute.on_demand_after: must be between 1 and 9, got 10",
    ),
    (
        {"compute": {**SPOT, "on_demand_after": 3}, "retry": {"max_attempts": 3}},
        T + "compute.on_demand_after: must be less than retry.max_attempts (3), or no attempt would run On-Demand",
    ),
    (
        {"compute": SPOT, "retry": {"max_attempts": 2}, "cpu_architecture": "ARM64"},
        T + "cpu_architecture: Fargate Spot runs X86_64 only "
        "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html): "
        "use compute type fargate",
    ),
]


@pytest.mark.parametrize(("mutation", "line"), RULES, ids=[line.split(": ", 2)[2][:50] for _, line in RULES])
def test_each_rule_reports_one_line_naming_workload_and_field(mutation: dict[str, Any], line: str) -> None:
    # Given a valid workload with one mutation
    # When it is parsed
    # Then exactly the one problem line comes out
    assert problems([entry(**mutation)]) == [line]


def test_unmutated_entry_is_valid() -> None:
    # The mutations above start from a valid workload: it parses (so each line is the mutation's own).
    assert len(parse_workloads([entry()], source="workloads.yaml", runtime=False)) == 1


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"a": {}}, f"workloads.yaml: workloads: must be a list of workloads, got a mapping {NONE_HINT}"),
        (None, f"workloads.yaml: workloads: must be a list of workloads, got nothing (null) {NONE_HINT}"),
        ([5], "workloads.yaml: workloads[0]: must be a mapping of a workload's fields (name, image, ...), got 5"),
        ([entry(name=7)], f"workloads.yaml: workloads[0]: name: {NAME_RULE}, got 7"),
    ],
)  # fmt: skip
def test_table_shape_problems(data: Any, line: str) -> None:
    assert problems(data) == [line]


def test_every_problem_of_every_workload_is_reported_together() -> None:
    # Given three workloads: one valid, two with several problems each
    data = [
        entry(name="good"),
        entry(name="bad", vcpu="3", timeout_seconds=10, environment={"RUN_ID": "x"}),
        entry(name="worse", match=None, retry={"max_attempts": 0, "max_delay_seconds": -1}),
    ]

    # When the table is parsed
    lines = problems(data)

    # Then every problem is there, in table and field order, and the valid workload contributes none
    assert [line.split(": ")[1:3] for line in lines] == [
        ["bad", "vcpu"],
        ["bad", "timeout_seconds"],
        ["bad", "environment.RUN_ID"],
        ["worse", "retry.max_attempts"],
        ["worse", "retry.max_delay_seconds"],
        ["worse", "match"],
    ]


def test_the_runtime_form_has_no_container_fields_and_no_job_definition() -> None:
    # Given a file-form entry handed to the runtime reader, and an entry naming a job definition
    lines = problems(
        [entry(command=["x"]), {**entry(image=None, name="named"), "job_definition": "arn:x"}], runtime=True
    )

    # Then the container fields and the job definition are unknown there (the functions find it by name)
    keys = (
        "name, match, schedules, vcpu, memory, timeout_seconds, retry, compute, gpus, array, then, coalesce, notify, "
        "requests"
    )
    assert lines == [
        f"workload_table.json: thumbnails: image: unknown key; expected one of: {keys}",
        f"workload_table.json: thumbnails: command: unknown key; expected one of: {keys}",
        f"workload_table.json: named: job_definition: unknown key; expected one of: {keys}",
    ]


def test_the_runtime_form_never_reads_the_time_zone_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a time zone database that fails when read
    def no_database() -> frozenset[str]:
        raise AssertionError("the runtime form read the time zone database")

    monkeypatch.setattr(workload_fields, "iana_zones", no_database)
    schedule = {"name": "n", "expression": "rate(1 day)", "timezone": "Asia/Tokyo"}
    runtime_entry = entry(image=None, schedules=[schedule])

    # When the runtime form is parsed, then it passes; the file form does consult the database
    assert (
        parse_workloads([runtime_entry], source="workload_table.json", runtime=True)[0].schedules[0].timezone
        == "Asia/Tokyo"
    )
    with pytest.raises(AssertionError, match="time zone database"):
        parse_workloads([entry(schedules=[schedule])], source="workloads.yaml", runtime=False)


def test_importing_the_model_and_reading_the_runtime_form_loads_no_yaml_and_no_tz_database() -> None:
    # Cold start: the functions import the model and parse the layer's table; `make bench` counts every import.
    code = (
        "import sys\n"
        "from batch_orchestrator.workloads import parse_workloads\n"
        "parse_workloads([{'name': 'a', 'match': {'prefix': 'a/'}, 'schedules': [{'name': 'n', "
        "'expression': 'rate(1 day)', 'timezone': 'UTC'}], 'vcpu': '1', 'memory': 2048, "
        "'timeout_seconds': 60}], source='workload_table.json', runtime=True)\n"
        "print(sorted(m for m in ('yaml', 'zoneinfo', 'difflib') if m in sys.modules))\n"
    )
    env = {"PYTHONPATH": str(REPO / "layers" / "common"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"


def test_problem_lines_leave_out_empty_parts() -> None:
    assert (
        str(Problem("images", "memory", "too small", "workloads.yaml")) == "workloads.yaml: images: memory: too small"
    )
    assert (
        str(Problem("", "workloads", "must be a list", "workloads.yaml")) == "workloads.yaml: workloads: must be a list"
    )
    assert str(Problem("images", "memory", "too small")) == "images: memory: too small"


# ---------------------------------------------------------------------------------------------
# The table as a whole
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "line"),
    [
        (["images", "images"], "workloads.yaml: images: name: another workload has this name"),
        (["default"], "workloads.yaml: default: name: 'default' is the workload the stack's parameters describe; "
                      "choose another name"),
        (["a1", "a-1"], "workloads.yaml: a-1: name: gives the same resource names (A1) as workload 'a1': rename one"),
    ],
)  # fmt: skip
def test_names_are_unique_also_as_resource_names(names: list[str], line: str) -> None:
    table = [workload(name, prefix=f"{index}/") for index, name in enumerate(names)]
    with pytest.raises(WorkloadTableError) as raised:
        validate_table(table)
    assert [str(p) for p in raised.value.problems] == [line]


def test_schedules_of_two_workloads_may_not_give_one_resource_name() -> None:
    # Given workload a-b with schedule c, and workload a with schedule b-c: both "a-b-c"
    def with_schedule(name: str, schedule: str) -> Workload:
        return workload(name, schedules=(Schedule(schedule, "rate(1 day)", "UTC"),))

    # When the table is validated, then the second is refused
    with pytest.raises(WorkloadTableError) as raised:
        validate_table([with_schedule("a-b", "c"), with_schedule("a", "b-c")])
    assert [str(p) for p in raised.value.problems] == [
        "workloads.yaml: a: schedules: 'b-c' gives the same schedule resource names as a-b/c: rename one"
    ]


@pytest.mark.parametrize(
    ("first", "second", "example"),
    [
        (("img/", ""), ("", ".jpg"), "img/example.jpg"),  # the contract's example: 4 characters each
        (("images/", ""), ("images/", ""), "images/example"),  # identical rules
        (("a/", ".png"), ("a/b", ".pn"), None),  # one prefix inside the other, but suffixes incompatible
        (("a/", "x"), ("a/b", ""), "a/bexamplex"),  # compatible prefixes and suffixes, equal specificity
        (("images/", ""), ("images/raw/", ""), None),  # compatible, but one more specific: never a tie
        (("images/", ""), ("videos/", ""), None),  # equally specific, but no key starts with both
        (("", ".jpg"), ("", ".png"), None),  # equally specific suffixes no key ends with both
    ],
)
def test_ambiguity_needs_equal_specificity_and_compatible_prefixes_and_suffixes(
    first: tuple[str, str], second: tuple[str, str], example: str | None
) -> None:
    a, b = KeyRule(*first), KeyRule(*second)
    assert ambiguous_key(a, b) == ambiguous_key(b, a) == example


def test_an_ambiguous_table_names_both_workloads_and_an_example_key() -> None:
    with pytest.raises(WorkloadTableError) as raised:
        validate_table([workload("images", prefix="img/"), workload("jpegs", suffix=".jpg")])
    assert [str(p) for p in raised.value.problems] == [
        "workloads.yaml: jpegs: match: ambiguous with workload 'images': a key like 'img/example.jpg' matches both "
        "rules equally specifically (4 characters each); lengthen one rule's prefix or suffix, or change them so "
        "that no key matches both"
    ]


AFFIXES = st.text(alphabet="ab", max_size=3)


@settings(max_examples=300)
@given(AFFIXES, AFFIXES, AFFIXES, AFFIXES)
def test_ambiguous_key_agrees_with_trying_every_short_key(p1: str, s1: str, p2: str, s2: str) -> None:
    # A tie needs a key matched by both; over "ab" every candidate up to the longer prefix plus the longer
    # suffix (6 characters) is tried, which is where the shortest such key lies.
    a, b = KeyRule(p1, s1), KeyRule(p2, s2)
    keys = ["".join(chars) for n in range(7) for chars in itertools.product("ab", repeat=n)]
    tie = a.specificity == b.specificity and any(a.matches(k) and b.matches(k) for k in keys)
    example = ambiguous_key(a, b)
    assert (example is not None) == tie
    if example is not None:
        assert a.matches(example)
        assert b.matches(example)


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------

TABLE = validate_table(
    [
        workload("images", prefix="images/"),
        workload("originals", prefix="images/originals/"),
        workload("thumbs", prefix="images/", suffix=".jpg"),
        workload("pdfs", suffix=".pdf"),
        workload("nightly", schedules=(Schedule("n", "rate(1 day)", "UTC"),)),
    ]
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("images/a.png", "images"),
        ("images/originals/a.png", "originals"),  # the longer prefix (17) wins
        ("images/a.jpg", "thumbs"),  # prefix + suffix (11) beats the prefix alone (7)
        ("images/originals/a.jpg", "originals"),  # 17 beats 11
        ("docs/a.pdf", "pdfs"),
        ("images/a.pdf", "images"),  # a prefix of 7 beats a suffix of 4
    ],
)
def test_the_most_specific_rule_wins(key: str, expected: str) -> None:
    routed = TABLE.route(key)
    assert isinstance(routed, Workload)
    assert routed.name == expected


def test_a_hand_built_table_with_a_tie_routes_to_the_first() -> None:
    # validate_table refuses ties; route() stays deterministic on a table built without it
    tie = WorkloadTable((workload("first", prefix="img/"), workload("second", suffix=".jpg")))
    assert tie.route("img/a.jpg").name == "first"  # type: ignore[union-attr]


def test_a_key_no_rule_matches_is_no_workload_with_its_reason() -> None:
    assert TABLE.route("videos/a.mp4") == NoWorkload("videos/a.mp4", NO_RULE_MATCHES)


def test_prefix_and_suffix_may_not_overlap_inside_a_key() -> None:
    # "images/.jpg"-like keys shorter than prefix + suffix do not match: "ab" + "bc" needs 4 characters
    rule = KeyRule("ab", "bc")
    assert not rule.matches("abc")
    assert rule.matches("abbc")
    assert rule.specificity == 4


def test_keys_under_the_output_prefix_are_never_routed() -> None:
    # Given the default workload as the catch-all and an output prefix
    table = WorkloadTable((workload("images", prefix="images/"),)).with_default(
        workload(DEFAULT_WORKLOAD, key_rule=KeyRule("")), output_prefix="output/"
    )

    # Then a result written back is not routed, while anything else is
    assert table.route("output/images/a.png") == NoWorkload("output/images/a.png", UNDER_OUTPUT_PREFIX)
    assert table.route("outputs.csv").name == DEFAULT_WORKLOAD  # type: ignore[union-attr]
    assert table.route("images/a.png").name == "images"  # type: ignore[union-attr]
    assert table.workloads[0].name == DEFAULT_WORKLOAD
    assert table.output_prefix == "output/"


def test_get_and_uses_spot() -> None:
    spot = workload("cheap", prefix="c/", compute=ComputeType.FARGATE_SPOT, on_demand_after=1)
    assert TABLE.get("originals") is TABLE.workloads[1]
    assert TABLE.get("missing") is None
    assert not TABLE.uses_spot
    assert WorkloadTable((*TABLE.workloads, spot)).uses_spot


# ---------------------------------------------------------------------------------------------
# Cold start: the table with the stack's own workload
# ---------------------------------------------------------------------------------------------


def default(input_prefix: str) -> Workload:
    return workload(DEFAULT_WORKLOAD, key_rule=KeyRule(input_prefix))


@pytest.mark.parametrize(
    ("input_prefix", "table", "output_prefix", "lines"),
    [
        ("img/", [workload("jpegs", suffix=".jpg")], "",
         ["workloads.yaml: jpegs: match: ambiguous with the default workload (InputPrefix 'img/'): a key like "
          "'img/example.jpg' matches both rules equally specifically (4 characters each); lengthen one rule's "
          "prefix or suffix, or change them so that no key matches both"]),
        ("incoming/", [workload("results", prefix="output/results/")], "output/",
         ["workloads.yaml: results: match.prefix: every key the rule matches is under the output prefix "
          "'output/', where keys are never routed (what the stack writes must not start runs)"]),
        ("output/in/", [], "output/",
         ["workloads.yaml: default: match.prefix: every key the rule matches is under the output prefix "
          "'output/', where keys are never routed (what the stack writes must not start runs)"]),
        ("", [workload("default", prefix="d/")], "",
         ["workloads.yaml: default: name: the table already has a workload of this name"]),
        ("in/", [workload("frames", prefix="frames/", coalesce=CoalesceSpec(60, 100)),
                 workload("stray", prefix="batch-orchestrator/coalesced/frames/")], "",
         ["workloads.yaml: stray: match.prefix: every key the rule matches is under the coalescer's manifests "
          "'batch-orchestrator/coalesced/', where keys are never routed (what the stack writes must not start runs)"]),
    ],
)  # fmt: skip
def test_with_default_refuses_what_only_cold_start_can_see(
    input_prefix: str, table: list[Workload], output_prefix: str, lines: list[str]
) -> None:
    with pytest.raises(WorkloadTableError) as raised:
        WorkloadTable(tuple(table)).with_default(default(input_prefix), output_prefix=output_prefix)
    assert [str(p) for p in raised.value.problems] == lines


def test_a_rule_under_the_coalescers_manifests_is_refused_only_in_a_table_that_coalesces() -> None:
    # Given a rule under batch-orchestrator/coalesced/ in a table without a coalescing workload: routed as any key
    stray = workload("stray", prefix="batch-orchestrator/coalesced/")
    table = WorkloadTable((stray,)).with_default(default("in/"), output_prefix="")
    assert table.route("batch-orchestrator/coalesced/x.json") == stray


def test_with_default_requires_the_default_name() -> None:
    with pytest.raises(WorkloadTableError, match="must be named 'default'"):
        WorkloadTable(()).with_default(workload("main", prefix="in/"), output_prefix="")


def test_an_empty_input_prefix_makes_the_default_the_catch_all() -> None:
    table = WorkloadTable((workload("images", prefix="images/"),)).with_default(default(""), output_prefix="")
    assert table.route("anything/at/all").name == DEFAULT_WORKLOAD  # type: ignore[union-attr]
    assert table.route("images/a.png").name == "images"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# The runtime form (the layer's workload_table.json)
# ---------------------------------------------------------------------------------------------


def test_the_runtime_form_is_compact() -> None:
    # Given a workload whose retry and compute are the defaults except max_attempts
    w = workload("images", prefix="images/", retry=RetryPolicy(ExitCodeSet(), 2, 30, 900), container=None)

    # Then only what differs from a default is written
    assert to_runtime_json(w) == {
        "name": "images",
        "match": {"prefix": "images/"},
        "vcpu": "1",
        "memory": 2048,
        "timeout_seconds": 900,
        "retry": {"max_attempts": 2},
    }


def test_a_ladder_with_two_vcpus_has_no_runtime_form() -> None:
    w = workload("mixed", prefix="m/", ladder=(Size("1", 2048), Size("2", 4096)))
    with pytest.raises(ValueError, match="keeps one vcpu"):
        to_runtime_json(w)


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    vcpu = draw(st.sampled_from(VCPU_VALUES))
    memory = sorted(draw(st.sets(st.sampled_from(MEMORY_BY_VCPU[vcpu]), min_size=1, max_size=3)))
    attempts = draw(st.integers(3, 10))
    base = draw(st.integers(0, 60))
    retry = RetryPolicy(
        draw(st.sampled_from([ExitCodeSet(), ExitCodeSet.parse("3,75,137-143"), ExitCodeSet.parse("1,2")])),
        attempts,
        base,
        draw(st.integers(base, 900)),
        draw(st.booleans()),
        draw(st.booleans()),
    )
    text = st.text(st.characters(codec="utf-8"), max_size=6)
    rule = draw(st.none() | st.builds(KeyRule, text, text).filter(lambda r: bool(r.prefix or r.suffix)))
    payload = st.dictionaries(text, st.none() | st.booleans() | st.integers() | text, max_size=3)
    schedule = st.builds(
        Schedule,
        st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True),
        st.sampled_from(["rate(1 day)", "cron(0 2 * * ? *)", "at(2030-01-31T02:00:00)"]),
        st.sampled_from(["UTC", "Asia/Tokyo"]),
        payload,
    )
    schedules = draw(st.lists(schedule, min_size=0 if rule else 1, max_size=2, unique_by=lambda s: s.name))
    spot = draw(st.booleans())
    return Workload(
        name=draw(st.from_regex(r"[a-z][a-z0-9-]{0,19}", fullmatch=True)),
        key_rule=rule,
        schedules=tuple(schedules),
        ladder=tuple(Size(vcpu, m) for m in memory),
        timeout_seconds=draw(st.integers(60, 1_209_600)),
        retry=retry,
        compute=ComputeType.FARGATE_SPOT if spot else ComputeType.FARGATE,
        on_demand_after=draw(st.integers(1, attempts - 1)) if spot else 0,
    )


@settings(max_examples=200)
@given(workloads())
def test_the_runtime_form_reads_back_as_the_workload_without_its_container(w: Workload) -> None:
    # Given a workload, written as `make template` renders it into the layer's table
    text = file_text([to_runtime_json(replace(w, container=Container("img", ("run",))))])

    # When the functions read it back at cold start
    (back,) = parse_workloads(json.loads(text), source="workload_table.json", runtime=True)

    # Then it is the same workload, without the container the functions never need
    assert back == w


def test_describe_memory_choices() -> None:
    assert describe_memory_choices("0.25") == "512, 1024 or 2048"
    assert describe_memory_choices("0.5") == "1024 to 4096 in steps of 1024"
    assert describe_memory_choices("16") == "32768 to 122880 in steps of 8192"


# ---------------------------------------------------------------------------------------------
# Fargate sizes and failure kinds
# ---------------------------------------------------------------------------------------------


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml's parameters; intrinsic functions (!Ref, !Sub, ...) become None."""


_CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_the_sizes_are_the_ones_the_template_offers_the_default_workload() -> None:
    # Two independent spellings of Fargate's table: the template's JobVcpu/JobMemory parameters and ours
    parameters = yaml.load((REPO / "template.yaml").read_text(), Loader=_CloudFormationLoader)["Parameters"]
    memory = {m for choices in MEMORY_BY_VCPU.values() for m in choices}
    assert list(VCPU_VALUES) == parameters["JobVcpu"]["AllowedValues"]
    assert sorted(memory) == [int(m) for m in parameters["JobMemory"]["AllowedValues"]]


@pytest.mark.parametrize(
    ("exit_code", "container_reason", "status_reason", "expected"),
    [
        (137, "OutOfMemoryError: Container killed due to memory usage", "Essential container in task exited", True),
        (None, None, "OutOfMemoryError: Container killed due to memory usage", True),  # only the job's reason
        (137, "OutOfMemory: container exceeded its memory limit", None, True),  # another (EC2) wording
        (137, None, "Essential container in task exited", False),  # any SIGKILL: more memory would not help
        (137, "DockerTimeoutError: could not stop the container", None, False),
        (1, "Essential container in task exited", None, False),
        (None, None, None, False),
    ],
)
def test_out_of_memory_is_read_from_the_reasons(
    exit_code: int | None, container_reason: str | None, status_reason: str | None, expected: bool
) -> None:
    assert is_out_of_memory(exit_code, container_reason, status_reason) is expected


@pytest.mark.parametrize(
    ("status_reason", "expected"),
    [
        ("Your Spot Task was interrupted.", True),  # Fargate Spot
        ("Host EC2 (instance i-0abc123def4567890) terminated.", True),  # EC2 Spot
        ("Essential container in task exited", False),
        ("Task failed to start", False),
        ("your spot task was interrupted.", False),  # AWS's spelling only
        (None, False),
    ],
)
def test_spot_interruptions_are_read_from_the_status_reason(status_reason: str | None, expected: bool) -> None:
    assert is_spot_interruption(status_reason) is expected
