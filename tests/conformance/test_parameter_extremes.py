"""Every value the template accepts for a bounded parameter gives functions that start.

Proven:
* for every parameter with MinValue/MaxValue or AllowedValues, at each extreme (MinValue and MaxValue;
  the smallest and largest of numeric AllowedValues; every one of the others), one parameter at a time,
  the stack resolves and every function's environment parses with the function's own config class
  (the one its handler calls ``from_env`` on), as Lambda holds it (plus AWS_REGION). Combinations the
  template's Rules refuse are skipped, as CloudFormation refuses them before creating anything;
* for every Number parameter that feeds an environment variable by Ref, where the code bounds the
  variable, the template's MinValue/MaxValue are exactly the code's bounds: the code accepts MinValue and
  MaxValue and refuses MinValue - 1 and MaxValue + 1 (probed through the config classes, so the check
  reads the code's behaviour, not its source). A mutated template proves the check can fail.

Not proven: values between the extremes; parameters with only an AllowedPattern; that the functions
behave well at those values (only that they start).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from batch_orchestrator import config
from batch_orchestrator.errors import ConfigError
from emulator.template import DEFAULT_TEMPLATE, load_template
from emulator.template_error import TemplateError
from tests.conformance.resolve import ResolvedStack, resolve_stack, resolve_template, transformed_template

REPO = DEFAULT_TEMPLATE.resolve().parent
FAR = 10**12  # a value no bounded setting accepts: tells a bound from no bound


@cache
def config_classes() -> dict[str, Callable[[Mapping[str, str]], Any]]:
    """Function logical id -> the ``from_env`` its handler calls, read from functions/<CodeUri>/app.py."""
    sam = load_template(DEFAULT_TEMPLATE)
    found = {}
    for logical_id, resource in sam["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        source = (REPO / resource["Properties"]["CodeUri"] / "app.py").read_text(encoding="utf-8")
        names = {
            node.value.id
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr == "from_env" and isinstance(node.value, ast.Name)
        }
        (name,) = names
        found[logical_id] = getattr(config, name).from_env
    return found


def startup_errors(stack: ResolvedStack) -> list[str]:
    errors = []
    for function, from_env in config_classes().items():
        environment = {**stack.function_environment(function), "AWS_REGION": stack.region}
        try:
            from_env(environment)
        except ConfigError as exc:
            errors.append(f"{function}: {exc}")
    return errors


def extremes(declaration: Mapping[str, Any]) -> list[str]:
    values: list[str] = []
    if "MinValue" in declaration:
        values.append(str(declaration["MinValue"]))
    if "MaxValue" in declaration:
        values.append(str(declaration["MaxValue"]))
    allowed = [str(value) for value in declaration.get("AllowedValues", [])]
    try:
        numbers = sorted(allowed, key=float)
        values += [numbers[0], numbers[-1]] if numbers else []
    except ValueError:
        values += allowed
    return list(dict.fromkeys(values))


def cases() -> list[tuple[str, str]]:
    parameters = load_template(DEFAULT_TEMPLATE)["Parameters"]
    return [(name, value) for name, declaration in parameters.items() for value in extremes(declaration)]


@pytest.mark.parametrize(("parameter", "value"), cases())
def test_every_function_starts_at_each_extreme(parameter: str, value: str) -> None:
    # Given the stack with one parameter at an extreme, the others at their defaults
    try:
        stack = resolve_stack({parameter: value})
    except TemplateError as exc:
        if "Rules refuse" not in str(exc):
            raise
        pytest.skip(f"the template's Rules refuse {parameter}={value} with the other defaults")

    # When each function parses the environment the stack gives it
    errors = startup_errors(stack)

    # Then every function starts
    assert errors == []


def test_the_extremes_cover_every_bounded_parameter() -> None:
    # Given the template's parameters
    parameters = load_template(DEFAULT_TEMPLATE)["Parameters"]
    bounded = {name for name, d in parameters.items() if {"MinValue", "MaxValue", "AllowedValues"} & set(d)}

    # Then each bounded parameter has cases (a new one is picked up without touching this file)
    assert bounded == {name for name, _ in cases()}
    assert {"StuckRunningMinutes", "JobTimeoutSeconds", "JobMemory", "LogLevel"} <= bounded


# ------------------------------------------------------------------------------- one source of truth
def number_feeds(template: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(function, variable, parameter) for every environment variable set to Ref of a Number parameter."""
    numbers = {name for name, d in template["Parameters"].items() if d.get("Type") == "Number"}
    feeds = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        for variable, value in resource["Properties"].get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and value.get("Ref") in numbers:
                feeds.append((logical_id, variable, str(value["Ref"])))
    return feeds


def bound_mismatches(template: Mapping[str, Any]) -> list[str]:
    """Where the code bounds a variable fed by a Number parameter differently from the template."""
    stack = resolve_template(template)
    mismatches = []
    for function, variable, parameter in number_feeds(template):
        declaration = template["Parameters"][parameter]
        base = {**stack.function_environment(function), "AWS_REGION": stack.region}

        def accepts(
            number: float, *, variable: str = variable, base: dict[str, str] = base, function: str = function
        ) -> bool:
            try:
                config_classes()[function]({**base, variable: str(int(number))})
            except ConfigError:
                return False
            return True

        where = f"{function} {variable} (parameter {parameter})"
        for side, key, far, step in (("upper", "MaxValue", FAR, 1), ("lower", "MinValue", -FAR, -1)):
            if accepts(far):
                continue  # the code sets no bound on this side
            if key not in declaration:
                mismatches.append(f"{where}: the code has an {side} bound, the template no {key}")
                continue
            edge = float(declaration[key])
            if not accepts(edge):
                mismatches.append(f"{where}: the template allows {key} {declaration[key]}, the code refuses it")
            elif accepts(edge + step):
                mismatches.append(f"{where}: the code accepts {int(edge + step)}, beyond the template's {key}")
    return mismatches


def test_number_parameters_have_the_codes_bounds() -> None:
    # Given the template as deployed
    template = transformed_template()

    # When each bounded variable fed by a Number parameter is probed at the template's bounds
    mismatches = bound_mismatches(template)

    # Then the template's bounds are the code's, and the check covered the variables we know
    assert mismatches == []
    fed = {variable for _, variable, _ in number_feeds(template)}
    assert {"STUCK_RUNNING_MINUTES", "MAX_ATTEMPTS", "RUN_RETENTION_DAYS", "JOB_TIMEOUT_SECONDS"} <= fed


@pytest.mark.parametrize(
    ("parameter", "key", "value", "expected"),
    [
        ("RunRetentionDays", "MaxValue", 36500, "the template allows MaxValue 36500, the code refuses it"),
        ("MaxAttempts", "MinValue", 2, "the code accepts 1, beyond the template's MinValue"),
    ],
)
def test_a_template_with_other_bounds_than_the_code_fails_the_check(
    parameter: str, key: str, value: int, expected: str
) -> None:
    # Given the template with one parameter's bound moved away from the code's
    template = transformed_template()
    template["Parameters"][parameter][key] = value

    # Then the check reports it
    assert any(expected in mismatch for mismatch in bound_mismatches(template)), bound_mismatches(template)


def test_handlers_are_found(tmp_path: Path) -> None:
    # The mapping from function to config class is read from the handlers, so it cannot go stale
    assert {name: f.__qualname__ for name, f in config_classes().items()} == {
        "SubmitJobsFunction": "SubmitConfig.from_env",
        "SubmitScheduledFunction": "ScheduledSubmitConfig.from_env",
        "TrackJobsFunction": "TrackConfig.from_env",
        "WatchdogFunction": "WatchdogConfig.from_env",
        "PublishEventsFunction": "PublishConfig.from_env",
    }
