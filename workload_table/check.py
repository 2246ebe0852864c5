"""``make validate``: is workloads.yaml a table that deploys, and is template.yaml rendered from it?

Checks, each problem printed as one line (``workloads.yaml: <workload>: <field>: <message>``):

1. the table parses and validates (``parse_workloads`` + ``validate_table``: the functions' own checks);
2. it is not ambiguous with the default workload's rule (InputPrefix), and no rule lies wholly under
   OutputPrefix, for the parameter values of the deployment (samconfig.toml's parameter_overrides of
   the chosen environment over the template's defaults);
3. each rendered schedule name fits EventBridge Scheduler's limit;
4. every function's environment fits Lambda's 4 KB with every ARN at its longest (``budget``; the table
   itself is in the layer, so this holds whatever the number of workloads);
5. the stack, after the SAM transform, declares no more resources than CloudFormation's quota: the one
   limit on the number of workloads;
6. template.yaml and the layer's workload_table.json are what ``make template`` renders from
   workloads.yaml (the CI guard against a stale render: ``sam build`` deploys those two, not workloads.yaml).

The invariant: ``check`` returns no problem only if rendering would change nothing and the rendered
stack passes every check above; it stops after (1) when the table itself is broken.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_orchestrator.limits import CLOUDFORMATION_RESOURCES, LAMBDA_ENVIRONMENT, NAME_RULES
from batch_orchestrator.workload_table_file import FILE_NAME
from batch_orchestrator.workloads import Problem, WorkloadTable, WorkloadTableError
from workload_table.budget import EnvironmentSize, environment_sizes
from workload_table.names import STACK_TAIL_LENGTH, schedule_name
from workload_table.render import render_table, table_file_text
from workload_table.table import load_table, with_stack_default
from workload_table.yaml_text import load_cloudformation

STALE = "template.yaml is out of date with workloads.yaml: run `make template`"
STALE_TABLE = f"layers/common/batch_orchestrator/{FILE_NAME} is out of date with workloads.yaml: run `make template`"
SCHEDULE_NAME_RULE = NAME_RULES[("AWS::Scheduler::Schedule", "Name")]


@dataclass(frozen=True)
class CheckResult:
    problems: tuple[str, ...]
    summary: str  # one line for the reader when all is well

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    template_text: str,
    workloads_text: str,
    *,
    table_text: str | None = None,
    overrides: Mapping[str, str] | None = None,
    source: str = "workloads.yaml",
) -> CheckResult:
    """Every problem of the table and of the template rendered from it (see the module docstring).

    ``table_text``: the layer's workload_table.json as it is (None: not checked).
    """
    try:
        table = load_table(workloads_text, source=source)
    except WorkloadTableError as exc:
        return CheckResult(tuple(str(p) for p in exc.problems), "")
    template = load_cloudformation(template_text)
    parameters = effective_parameters(template, overrides or {})
    problems: list[Problem] = []
    try:
        with_stack_default(table, parameters, source=source)
    except WorkloadTableError as exc:
        problems += exc.problems
    problems += schedule_name_problems(table, source=source)
    rendered = render_table(template_text, table)
    sizes = environment_sizes(load_cloudformation(rendered), parameters)
    problems += [budget_problem(size, source=source) for size in sizes if size.over_budget]
    resources = resource_count(load_cloudformation(rendered), parameters)
    if resources > CLOUDFORMATION_RESOURCES.value:
        problems.append(resource_problem(resources, len(table.workloads), source=source))
    lines = [str(p) for p in problems]
    if rendered != template_text:
        lines.append(STALE)
    if table_text is not None and table_text != table_file_text(table):
        lines.append(STALE_TABLE)
    largest = max(sizes, key=lambda size: size.size)
    summary = (
        f"{source}: {len(table.workloads)} workload(s); template.yaml and {FILE_NAME} are up to date; "
        f"{resources} of CloudFormation's {CLOUDFORMATION_RESOURCES.value} resources; the largest function "
        f"environment, {largest.function}'s, is {largest.size} of {LAMBDA_ENVIRONMENT.value} bytes with every ARN "
        "at its longest"
    )
    return CheckResult(tuple(lines), summary)


def effective_parameters(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Each parameter's value for this deployment: the override, else the template's Default."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ValueError(f"samconfig.toml overrides parameters the template does not declare: {unknown}")
    return {name: str(overrides.get(name, d.get("Default", ""))) for name, d in declared.items()}


def schedule_name_problems(table: WorkloadTable, *, source: str) -> list[Problem]:
    problems = []
    for workload in table.workloads:
        for schedule in workload.schedules:
            name = schedule_name(workload, schedule, "x" * STACK_TAIL_LENGTH)
            if len(name) > SCHEDULE_NAME_RULE.max_length:
                message = (
                    f"{schedule.name!r}: the schedule's name {schedule_name(workload, schedule)} is {len(name)} "
                    f"characters, over EventBridge Scheduler's {SCHEDULE_NAME_RULE.max_length}: shorten the "
                    "workload's or the schedule's name"
                )
                problems.append(Problem(workload.name, "schedules", message, source))
    return problems


def resource_count(template: Mapping[str, Any], parameters: Mapping[str, str]) -> int:
    """Resources the stack declares once SAM has expanded its functions, layer and events (every condition
    counted: the quota is on what the template declares)."""
    # The offline SAM transform the emulator uses (aws-sam-translator, no AWS call).
    from emulator.template import point_code_at_s3, transform_sam

    packaged, _ = point_code_at_s3(dict(template), Path("."), "code-bucket")  # as `sam package` leaves it
    return len(transform_sam(packaged, parameters, "us-east-1")["Resources"])


def resource_problem(count: int, workloads: int, *, source: str) -> Problem:
    message = (
        f"the stack declares {count} resources after the SAM transform, over CloudFormation's "
        f"{CLOUDFORMATION_RESOURCES.value} ({CLOUDFORMATION_RESOURCES.source}); each of the {workloads} workloads "
        "adds its job definition and one resource per schedule: move some workloads to a second stack"
    )
    return Problem("", "workloads", message, source)


def budget_problem(size: EnvironmentSize, *, source: str) -> Problem:
    largest = ", ".join(f"{name} {count}" for name, count in size.largest)
    message = (
        f"{size.function}'s environment is {size.size} bytes with every ARN at its longest, over Lambda's "
        f"{LAMBDA_ENVIRONMENT.value}-byte budget for all of a function's variables ({LAMBDA_ENVIRONMENT.source}); "
        f"largest: {largest}. The workload table is not in the environment (it is in the layer): the largest "
        "variables are the ones to shorten"
    )
    return Problem("", "workloads", message, source)


def samconfig_overrides(path: Path, config_env: str) -> dict[str, str]:
    """The parameter_overrides of ``[<config_env>.deploy.parameters]`` (else ``.global.``), as sam reads them."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    if config_env not in document:
        raise ValueError(
            f"{path}: no environment {config_env!r} (it has {sorted(k for k in document if k != 'version')})"
        )
    environment = document[config_env]
    for command in ("deploy", "global"):
        raw = environment.get(command, {}).get("parameters", {}).get("parameter_overrides")
        if raw is not None:
            return _overrides(raw, path)
    return {}


def _overrides(raw: Any, path: Path) -> dict[str, str]:
    items = shlex.split(raw) if isinstance(raw, str) else [str(item) for item in raw]
    overrides = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals:
            raise ValueError(f"{path}: parameter_overrides item {item!r} is not Name=Value")
        overrides[name] = value
    return overrides
