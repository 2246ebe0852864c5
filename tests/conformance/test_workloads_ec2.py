"""A stack rendered with an ec2 workload: every request it makes is allowed, and the EC2 parts are denied when broken.

Proven, on template.yaml rendered from ``GPU_TABLE`` (a GPU workload on the managed EC2 compute environment
next to a Fargate one), resolved like test_permissions.py resolves template.yaml: every request of the
request table is one AWS could receive and is allowed, for several parameter sets, including SubmitJob of
the ec2 workload's job definition on Ec2JobQueue by both submit functions, and EC2 assuming the instance
role of the compute environment's instance profile; the tracker's rule listens to Ec2JobQueue; mutated
copies (Ec2JobQueue or the ec2 job definition missing from a SubmitJob statement, an instance role that
trusts another service) are denied. Every explicit name fits with a 128-character stack name.

Not proven: what test_permissions.py does not prove either, and what the managed policy
AmazonEC2ContainerServiceforEC2Role lets the instances do (AWS's policy, not modelled here).
"""

from __future__ import annotations

from functools import cache

import pytest

from tests.conformance.calls import SUBMITTED_REVISION
from tests.conformance.iam_database import request_problems
from tests.conformance.requests import Call, all_calls, decide
from tests.conformance.resolve import Mutation, ResolvedStack, Template, resolve_template, transformed_template
from tests.conformance.test_resource_names import LONGEST_STACK_NAME, name_problems, tag_problems
from tests.conformance.test_workloads import PARAMETER_SETS, denied
from tests.conformance.workload_stacks import rendered_stack, rendered_template_path

GPU_TABLE = """\
workloads:
  - name: images
    match: {prefix: images/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "1"
    memory: 2048
    timeout_seconds: 600
  - name: inference
    match: {prefix: models/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: 8
    memory: [30000, 60000]
    gpus: 1
    timeout_seconds: 7200
    retry: {max_attempts: 2}
    compute: {type: ec2}
ec2_compute:
  instance_types: [g5.2xlarge]
  max_vcpus: 64
"""


@cache
def stack_for(name: str) -> ResolvedStack:
    return rendered_stack(PARAMETER_SETS[name], workloads_yaml=GPU_TABLE)


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_every_request_of_the_ec2_stack_is_allowed(name: str) -> None:
    # Given the GPU stack with this parameter set, and its requests
    stack = stack_for(name)
    calls = all_calls(stack)

    # Then each is a request AWS could receive, and none is denied
    assert [f"{c.describe()}: {p}" for c in calls for p in request_problems(c.action, c.resources)] == []
    assert denied(stack) == []


def _calls(stack: ResolvedStack, who: str, action: str) -> list[Call]:
    return [call for call in all_calls(stack) if call.who.startswith(who) and call.action == action]


def test_the_ec2_workload_is_submitted_on_ec2_job_queue_only() -> None:
    stack = stack_for("defaults")
    ec2, on_demand = stack.ref("Ec2JobQueue"), stack.ref("JobQueue")
    # Workloads are submitted by name; IAM sees the latest revision's ARN (calls.SUBMITTED_REVISION).
    definition = f"{stack.ref('WorkloadInferenceJobDefinition').rsplit(':', 1)[0]}:{SUBMITTED_REVISION}"
    images = f"{stack.ref('WorkloadImagesJobDefinition').rsplit(':', 1)[0]}:{SUBMITTED_REVISION}"

    for function in ("SubmitJobsFunction", "SubmitScheduledFunction"):
        submitted = {
            (call.resources[0].arn, call.resources[1].arn)
            for call in _calls(stack, f"{function} (code)", "batch:SubmitJob")
        }
        assert (ec2, definition) in submitted, function
        assert (on_demand, definition) not in submitted, function
        assert (on_demand, images) in submitted, function


def test_ec2_assumes_the_instance_role_and_the_tracker_hears_ec2_job_queue() -> None:
    stack = stack_for("defaults")

    (assume,) = _calls(stack, "ec2.amazonaws.com", "sts:AssumeRole")
    assert [r.arn for r in assume.resources] == [stack.get_att("Ec2InstanceRole", "Arn")]
    assert [decision.allowed for _, decision in decide(stack, assume)] == [True]
    pattern = stack.resources["TrackJobsFunctionBatchEvents"].properties["EventPattern"]
    assert set(pattern["detail"]["jobQueue"]) == {stack.ref("JobQueue"), stack.ref("Ec2JobQueue")}


# ------------------------------------------------------------------------------------------ mutations
def _without(resource: str) -> Mutation:
    """Drop ``{"Ref": resource}`` from SubmitJob, or with "job-definition/", the workloads' job definitions."""

    def dropped(entry: object) -> bool:
        return entry == {"Ref": resource} or (resource in str(entry) and isinstance(entry, dict) and "Fn::Sub" in entry)

    def change(template: Template) -> None:
        for policy in template["Resources"]["SubmitJobsFunctionRole"]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "batch:SubmitJob" in str(statement.get("Action")):
                    statement["Resource"] = [r for r in statement["Resource"] if not dropped(r)]

    return change


def _trust_lambda(template: Template) -> None:
    (statement,) = template["Resources"]["Ec2InstanceRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    statement["Principal"] = {"Service": "lambda.amazonaws.com"}


CASES = [
    ("ec2-queue-missing-from-submit-job", _without("Ec2JobQueue"), "SubmitJobsFunction (code)", "batch:SubmitJob"),
    (
        "ec2-job-definition-missing-from-submit-job",
        _without(":job-definition/"),
        "SubmitJobsFunction (code)",
        "batch:SubmitJob",
    ),
    ("instance-role-trusts-another-service", _trust_lambda, "ec2.amazonaws.com", "sts:AssumeRole"),
]


@pytest.mark.parametrize(("mutation", "who", "action"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_broken_ec2_template_is_denied(mutation: Mutation, who: str, action: str) -> None:
    # Given the transformed GPU template with one defect
    template = transformed_template(template_path=rendered_template_path(GPU_TABLE))
    mutation(template)
    stack = resolve_template(template)

    # Then some request the defect breaks is denied, while the unbroken template allows them all
    decisions = [d.allowed for call in _calls(stack, who, action) for _, d in decide(stack, call)]
    assert decisions, f"no {action} by {who} in the table"
    assert False in decisions
    assert all(
        d.allowed for call in _calls(stack_for("defaults"), who, action) for _, d in decide(stack_for("defaults"), call)
    )


def test_every_name_of_the_ec2_stack_fits_with_the_longest_stack_name() -> None:
    stack = rendered_stack(stack_name=LONGEST_STACK_NAME, workloads_yaml=GPU_TABLE)
    assert name_problems(stack) == []
    assert tag_problems(stack) == []
