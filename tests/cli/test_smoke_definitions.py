"""`orchestrator smoke` step 5: every job definition the functions submit is the revision the stack deployed.

On template.yaml rendered with one workload and created in the emulator (moto: its DescribeJobDefinitions
filters by name and status as the API documents). The step's judgement is pure (``judge_definitions``); what
it reads is checked here against moto: the default job definition by ARN, the workload's by name, before and
after a revision registered by hand, and after the default's revision is deregistered.
"""

from __future__ import annotations

import pytest

from emulator import EmulatedStack
from orchestrator_cli.smoke_definitions import PREFIX_OUTPUT, judge_definitions, stack_definitions, what_runs
from orchestrator_cli.smoke_report import Result

TABLE = """
workloads:
  - name: thumbnails
    match: {prefix: images/, suffix: .jpg}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('thumbnail')"]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 600
"""


@pytest.fixture
def stack_workloads() -> str:
    return TABLE


def _judge(stack: EmulatedStack) -> tuple[Result, str, str]:
    resources = stack.client("cloudformation").list_stack_resources(StackName=stack.name)["StackResourceSummaries"]
    deployed = stack_definitions(resources)
    prefix = stack.outputs[PREFIX_OUTPUT]
    batch = stack.client("batch")
    outcome = judge_definitions(deployed, {k: what_runs(batch, arn, prefix) for k, arn in deployed.items()}, prefix, 0)
    return outcome.result, outcome.detail, outcome.seen or ""


def test_the_deployed_revisions_pass_and_a_revision_registered_by_hand_fails(stack: EmulatedStack) -> None:
    # Given the stack as deployed: both job definitions ACTIVE, the workload's the latest of its name
    result, detail, _ = _judge(stack)
    assert (result, detail) == (
        Result.PASSED,
        "2 job definition(s) ACTIVE as deployed, 1 of them found by name as the workloads submit them",
    )

    # When someone registers a newer revision of the workload's name by hand
    batch = stack.client("batch")
    name = stack.outputs[PREFIX_OUTPUT] + "thumbnails"
    newer = batch.register_job_definition(
        jobDefinitionName=name, type="container", containerProperties={"image": "other", "vcpus": 1, "memory": 512}
    )["jobDefinitionArn"]

    # Then the step fails, naming the workload's resource and the revision its jobs would run instead
    result, _, seen = _judge(stack)
    assert result is Result.FAILED
    assert f"WorkloadThumbnailsJobDefinition deployed {stack.resources['WorkloadThumbnailsJobDefinition']}" in seen
    assert f"submitted by name {name}, the jobs would run {newer}" in seen


def test_a_deregistered_default_job_definition_fails(stack: EmulatedStack) -> None:
    # Given the default job definition's revision deregistered (SubmitJob refuses an inactive revision)
    stack.client("batch").deregister_job_definition(jobDefinition=stack.resources["JobDefinition"])

    # Then the step fails for it: submitted by ARN, nothing ACTIVE
    result, _, seen = _judge(stack)
    assert result is Result.FAILED
    assert "JobDefinition deployed" in seen
    assert "submitted by ARN, nothing ACTIVE: SubmitJob would fail" in seen
    assert "WorkloadThumbnailsJobDefinition" not in seen


def test_a_stack_without_job_definitions_fails() -> None:
    outcome = judge_definitions({}, {}, None, 0)
    assert (outcome.result, outcome.detail) == (Result.FAILED, "the stack lists no job definition")
