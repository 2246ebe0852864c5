"""A stack rendered from a two-workload table: every request it makes is allowed, and its names and
environment fit their limits.

Proven, on template.yaml rendered from ``workload_stacks.TWO_WORKLOADS`` (a Fargate Spot workload with
a memory ladder, and a workload with a schedule), resolved like test_permissions.py resolves
template.yaml: every request of the request table (now including SubmitJob on each workload's job
definition, submitted by name and so authorised on whichever revision is the latest, on its On-Demand
queue and, for the Spot workload, on SpotJobQueue; the workload scheduler role invoking submit_scheduled
and dead-lettering to ScheduleDLQ; each workload job reading the keys its rule matches) is one AWS could
receive and is allowed, for several parameter sets; the tracker's rule listens to every job queue;
mutated copies (the workloads' job definitions or the Spot queue missing from a SubmitJob statement, the
job definitions named without a revision wildcard or with another stack's tail, a scheduler role that may
not invoke the function or that another account's schedules could assume) are denied. Every explicit
name fits its service with a 128-character stack name, and ``workload_table.budget`` bounds each
function's resolved environment from above.

Not proven: what test_permissions.py does not prove either (SCPs, other accounts, service-linked roles).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from tests.conformance.calls import SUBMITTED_REVISION
from tests.conformance.iam import Decision
from tests.conformance.iam_database import request_problems
from tests.conformance.requests import Call, all_calls, decide
from tests.conformance.resolve import ResolvedStack, Template, resolve_stack, resolve_template, transformed_template
from tests.conformance.test_resource_names import LONGEST_STACK_NAME, name_problems, tag_problems
from tests.conformance.workload_stacks import WORKLOAD_JOB_DEFINITIONS, rendered_stack, rendered_template_path
from workload_table.budget import environment_sizes
from workload_table.yaml_text import load_cloudformation

PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "UseFargateSpot=true": {"UseFargateSpot": "true"},
    'OutputPrefix=""': {"OutputPrefix": ""},
    "NetworkMode=existing": {
        "NetworkMode": "existing",
        "SubnetIds": "subnet-0123456789abcdef0",
        "SecurityGroupIds": "sg-0123456789abcdef0",
    },
}


@cache
def stack_for(name: str) -> ResolvedStack:
    return rendered_stack(PARAMETER_SETS[name])


def denied(stack: ResolvedStack) -> list[str]:
    return [
        f"{call.describe(resource)}\n    -> {decision.reason}"
        for call in all_calls(stack)
        for resource, decision in decide(stack, call)
        if not decision.allowed
    ]


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_every_request_of_the_rendered_stack_is_allowed(name: str) -> None:
    # Given the two-workload stack with this parameter set, and its requests
    stack = stack_for(name)
    calls = all_calls(stack)

    # Then each is a request AWS could receive, and none is denied
    assert [f"{c.describe()}: {p}" for c in calls for p in request_problems(c.action, c.resources)] == []
    assert denied(stack) == []


def _calls(stack: ResolvedStack, who: str, action: str) -> list[Call]:
    return [call for call in all_calls(stack) if call.who.startswith(who) and call.action == action]


def _submitted(stack: ResolvedStack, logical_id: str) -> str:
    """The job definition ARN IAM sees when a function submits workload ``logical_id`` by name (calls.py)."""
    return f"{stack.ref(logical_id).rsplit(':', 1)[0]}:{SUBMITTED_REVISION}"


def test_the_request_table_holds_each_workloads_requests() -> None:
    # Given the two-workload stack
    stack = stack_for("defaults")
    definitions = {_submitted(stack, logical_id) for logical_id in WORKLOAD_JOB_DEFINITIONS}
    spot, on_demand = stack.ref("SpotJobQueue"), stack.ref("JobQueue")

    # Then both submit functions submit each workload's job definition, the Spot workload's on both queues
    for function in ("SubmitJobsFunction", "SubmitScheduledFunction"):
        submitted = {
            (call.resources[0].arn, call.resources[1].arn)
            for call in _calls(stack, f"{function} (code)", "batch:SubmitJob")
        }
        assert {(on_demand, definition) for definition in definitions} <= submitted, function
        assert (spot, _submitted(stack, "WorkloadImagesJobDefinition")) in submitted, function
        assert (spot, _submitted(stack, "WorkloadReportsJobDefinition")) not in submitted, function
    # and each workload's job definition is the one the template names for the stack and the workload
    images = stack.ref("WorkloadImagesJobDefinition")
    assert re.search(r":job-definition/batch-orch-[0-9a-f]{12}-images:1$", images), images
    # and the workloads' scheduler role invokes submit_scheduled, and is assumed by the scheduler
    (invoke,) = _calls(
        stack, "WorkloadSchedulerRole (scheduler, WorkloadReportsNightlySchedule)", "lambda:InvokeFunction"
    )
    assert [r.arn for r in invoke.resources] == [stack.get_att("SubmitScheduledFunction", "Arn")]
    assert _calls(stack, "scheduler.amazonaws.com (WorkloadReportsNightlySchedule)", "sts:AssumeRole")
    # and each job reads the keys of its own workload's rule
    (read,) = _calls(stack, "JobRole (job of WorkloadImagesJobDefinition)", "s3:GetObject")
    key = read.resources[0].arn.split(":::", 1)[1].split("/", 1)[1]
    assert key.startswith("images/")
    assert key.endswith(".jpg")


@pytest.mark.parametrize("stack", ["default template", "two workloads"])
def test_the_tracker_hears_every_job_queue(stack: str) -> None:
    # Given the stack (template.yaml as it is, and rendered with a Spot workload)
    resolved = resolve_stack() if stack == "default template" else stack_for("defaults")

    # Then the Batch events rule names every job queue of the stack
    pattern = resolved.resources["TrackJobsFunctionBatchEvents"].properties["EventPattern"]
    queues = {resolved.ref(logical_id) for logical_id in resolved.of_type("AWS::Batch::JobQueue")}
    assert set(pattern["detail"]["jobQueue"]) == queues
    assert len(queues) == (1 if stack == "default template" else 2)


# ------------------------------------------------------------------------------------------ mutations
def _statement(template: Template, role: str, action: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        statement
        for policy in template["Resources"][role]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if action in str(statement.get("Action"))
    ]
    (statement,) = found
    return statement


def _without(resource: str) -> Callable[[Template, str], None]:
    def change(template: Template, role: str) -> None:
        statement = _statement(template, role, "batch:SubmitJob")
        statement["Resource"] = [r for r in statement["Resource"] if r != {"Ref": resource}]

    return change


def _workload_definitions(change: Callable[[str], str | None]) -> Callable[[Template, str], None]:
    """A mutation of the SubmitJob statement's entry for the workloads' job definitions (None: drop it)."""

    def mutate(template: Template, role: str) -> None:
        statement = _statement(template, role, "batch:SubmitJob")
        kept = []
        for resource in statement["Resource"]:
            if isinstance(resource, dict) and ":job-definition/" in str(resource.get("Fn::Sub")):
                pattern, variables = resource["Fn::Sub"]
                changed = change(pattern)
                if changed is not None:
                    kept.append({"Fn::Sub": [changed, variables]})
            else:
                kept.append(resource)
        statement["Resource"] = kept

    return mutate


def _invoke_another_function(template: Template, role: str) -> None:
    _statement(template, role, "lambda:InvokeFunction")["Resource"] = {"Fn::GetAtt": ["WatchdogFunction", "Arn"]}


def _trust_another_account(template: Template, role: str) -> None:
    (statement,) = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    statement["Condition"]["StringEquals"]["aws:SourceAccount"] = "210987654321"


# (id, mutation, role it changes, actor, action, the resource the denial is about, the reason it must give)
CASES = [
    (
        "workload-job-definitions-missing-from-submit-job",
        _workload_definitions(lambda pattern: None),
        "SubmitJobsFunctionRole",
        "SubmitJobsFunction (code)",
        "batch:SubmitJob",
        "WorkloadImagesJobDefinition",
        "implicitly",
    ),
    (
        # The request ARN carries the revision: a name without a wildcard matches no SubmitJob.
        "workload-job-definition-named-without-its-revision",
        _workload_definitions(lambda pattern: pattern.replace("-*", "-images")),
        "SubmitJobsFunctionRole",
        "SubmitJobsFunction (code)",
        "batch:SubmitJob",
        "WorkloadImagesJobDefinition",
        "implicitly",
    ),
    (
        "workload-job-definitions-of-another-stack",
        _workload_definitions(lambda pattern: pattern.replace("${StackTail}", "0123456789ab")),
        "SubmitScheduledFunctionRole",
        "SubmitScheduledFunction (code)",
        "batch:SubmitJob",
        "WorkloadReportsJobDefinition",
        "implicitly",
    ),
    (
        "spot-queue-missing-from-scheduled-submit-job",
        _without("SpotJobQueue"),
        "SubmitScheduledFunctionRole",
        "SubmitScheduledFunction (code)",
        "batch:SubmitJob",
        "SpotJobQueue",
        "implicitly",
    ),
    (
        "scheduler-role-invokes-another-function",
        _invoke_another_function,
        "WorkloadSchedulerRole",
        "WorkloadSchedulerRole (scheduler",
        "lambda:InvokeFunction",
        "SubmitScheduledFunction",
        "implicitly",
    ),
    (
        "scheduler-role-trusts-another-account",
        _trust_another_account,
        "WorkloadSchedulerRole",
        "scheduler.amazonaws.com",
        "sts:AssumeRole",
        "WorkloadSchedulerRole",
        "trust policy",
    ),
]


def _target_arn(stack: ResolvedStack, logical_id: str) -> str:
    kind = stack.resources[logical_id].type
    if kind == "AWS::Batch::JobDefinition":
        return _submitted(stack, logical_id)
    return (
        stack.get_att(logical_id, "Arn")
        if kind in ("AWS::Lambda::Function", "AWS::IAM::Role")
        else stack.ref(logical_id)
    )


def _decisions(stack: ResolvedStack, who: str, action: str, target: str) -> list[Decision]:
    arn = _target_arn(stack, target)
    found = [
        decision
        for call in all_calls(stack)
        if call.who.startswith(who) and call.action == action
        for resource, decision in decide(stack, call)
        if resource.arn == arn
    ]
    assert found, f"no {action} by {who} on {target} in the table"
    return found


@pytest.mark.parametrize(
    ("mutation", "role", "who", "action", "target", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_broken_rendered_template_is_denied(
    mutation: Callable[[Template, str], None], role: str, who: str, action: str, target: str, reason: str
) -> None:
    # Given the transformed two-workload template with one defect
    template = transformed_template(template_path=rendered_template_path())
    mutation(template, role)
    stack = resolve_template(template)

    # When the request the defect breaks is evaluated
    found = _decisions(stack, who, action, target)

    # Then AWS would deny it, for that reason, while the unbroken template allows it
    assert [decision.allowed for decision in found] == [False] * len(found)
    assert all(reason in decision.reason for decision in found), [d.reason for d in found]
    assert all(d.allowed for d in _decisions(stack_for("defaults"), who, action, target))


# ------------------------------------------------------------------------------------------ limits
def test_every_name_of_the_rendered_stack_fits_with_the_longest_stack_name() -> None:
    # Given the two-workload stack named with CloudFormation's longest stack name
    stack = rendered_stack(stack_name=LONGEST_STACK_NAME)

    # Then every explicit name (the workload schedules' included) and every tag fits its service
    assert name_problems(stack) == []
    assert tag_problems(stack) == []
    names = [str(r.properties["Name"]) for r in stack.of_type("AWS::Scheduler::Schedule").values()]
    assert any(name.endswith("-reports-nightly") for name in names)


def _size(environment: dict[str, str]) -> int:
    return sum(len(name.encode()) + len(value.encode()) for name, value in environment.items())


@pytest.mark.parametrize("region", ["us-east-1", "ap-northeast-1"])
def test_the_budget_bounds_every_resolved_environment(region: str) -> None:
    # Given the two-workload stack with the longest stack name, and the budget's bound for its template
    stack = rendered_stack(stack_name=LONGEST_STACK_NAME, region=region)
    template = load_cloudformation(rendered_template_path().read_text(encoding="utf-8"))
    bounds = {size.function: size.size for size in environment_sizes(template, {})}

    # Then each function's environment, resolved as AWS would hold it, is within the bound
    resolved = {function: _size(stack.function_environment(function)) for function in bounds}
    assert set(resolved) == {
        "SubmitJobsFunction",
        "SubmitScheduledFunction",
        "TrackJobsFunction",
        "WatchdogFunction",
        "PublishEventsFunction",
    }
    assert {f: (resolved[f], bounds[f]) for f in bounds if resolved[f] > bounds[f]} == {}
