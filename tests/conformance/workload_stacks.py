"""A two-workload table rendered into template.yaml, for the conformance and unit tests of the rendered stack.

``TWO_WORKLOADS`` exercises every kind of generated resource: ``images`` is a key-rule workload on
Fargate Spot with a memory ladder and environment of its own; ``reports`` has a key rule and a
schedule with a time zone and a payload. ``rendered_template_path`` renders it with the same
``render`` as ``make template`` into a file of its own (template.yaml is not touched), its layer table
registered with ``calls.register_table``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from emulator.template import DEFAULT_TEMPLATE
from tests.conformance.calls import register_table
from tests.conformance.requests import Call, all_calls, decide
from tests.conformance.resolve import ResolvedStack, resolve_stack, resolve_template, transformed_template
from workload_table.render import render

TWO_WORKLOADS = """\
workloads:
  - name: images
    match: {prefix: images/, suffix: .jpg}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('thumbnail')"]
    vcpu: "0.5"
    memory: [1024, 2048, 4096]
    timeout_seconds: 600
    environment: {THUMBNAIL_WIDTH: "320"}
    retry: {exit_codes: "75", max_attempts: 4}
    compute: {type: fargate-spot, on_demand_after: 2}
  - name: reports
    match: {prefix: reports/}
    schedules:
      - name: nightly
        expression: cron(0 2 * * ? *)
        timezone: Asia/Tokyo
        payload: {report: daily}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('report')"]
    vcpu: "1"
    memory: 2048
    timeout_seconds: 3600
    retry: {exit_codes: "3,75", max_attempts: 3, base_delay_seconds: 60}
"""
WORKLOAD_JOB_DEFINITIONS = ("WorkloadImagesJobDefinition", "WorkloadReportsJobDefinition")


@cache
def _directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="rendered-template-"))


@cache
def rendered_template_path(workloads_yaml: str = TWO_WORKLOADS) -> Path:
    """template.yaml rendered from ``workloads_yaml``, written once per table to a temporary file."""
    path = _directory() / f"template-{abs(hash(workloads_yaml)):x}.yaml"
    rendered = render(DEFAULT_TEMPLATE.read_text(encoding="utf-8"), workloads_yaml)
    path.write_text(rendered.template_text, encoding="utf-8")
    register_table(rendered.table_text)  # the layer the rendered stack's functions read
    return path


def rendered_stack(
    parameters: Mapping[str, str] | None = None,
    *,
    workloads_yaml: str = TWO_WORKLOADS,
    stack_name: str = "batch-orchestrator",
    region: str = "us-east-1",
) -> ResolvedStack:
    """The rendered template, transformed and resolved like ``resolve_stack`` resolves template.yaml."""
    return resolve_stack(
        parameters, stack_name=stack_name, region=region, template_path=rendered_template_path(workloads_yaml)
    )


def calls_of(resolved: ResolvedStack, who: str, action: str) -> list[Call]:
    """The requests of ``resolved`` made by ``who`` (a prefix: "SubmitJobsFunction (code)") for ``action``."""
    return [call for call in all_calls(resolved) if call.who.startswith(who) and call.action == action]


def verdicts(resolved: ResolvedStack, who: str, action: str) -> list[tuple[str, bool]]:
    """(resource ARN, allowed) of each resource of those requests, as IAM decides on ``resolved``'s policies."""
    return [
        (resource.arn, decision.allowed)
        for call in calls_of(resolved, who, action)
        for resource, decision in decide(resolved, call)
    ]


def without_statement(workloads_yaml: str, policy: str, sid: str) -> ResolvedStack:
    """The stack rendered from ``workloads_yaml``, its policy resource ``policy`` without statement ``sid``."""
    template = transformed_template(template_path=rendered_template_path(workloads_yaml))
    statements = template["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Sid"] != sid]
    return resolve_template(template)
