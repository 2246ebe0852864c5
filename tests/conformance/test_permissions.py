"""Every request the deployed stack makes at run time is allowed by the template's policies, as AWS
would evaluate them, for the default parameters and for every parameter set that switches optional
statements on or off.

Proven: for each request of ``requests.all_calls`` (the functions' code calls, Lambda's own calls with
the function roles, the Batch roles, the scheduler roles, S3/EventBridge/CloudWatch acting on their own,
and every sts:AssumeRole into the stack's roles), on each resource it names: the action exists in the
Service Authorization Reference, the resource ARN has the documented format of its type, every required
resource type is named, and the identity, resource, key and trust policies of the resolved template
allow it with the context keys AWS sets. Every DenyInsecureTransport statement denies plain HTTP and
lets TLS through. test_mutations.py proves the same machinery denies broken templates.

NOT proven: SCPs, RCPs, permission boundaries and session policies of the target account; other
accounts (cross-account images, subscribers); checks a service makes beyond IAM (S3's test notification
at deploy time, KMS grants); what service-linked roles do (Batch's AWSServiceRoleForBatch runs the compute
environment and the ECS tasks); what CloudFormation itself needs to deploy the stack (the deployer's
permissions, iam:PassRole); requests on paths the request table does not list (test_calls_from_code.py
keeps the functions' part of it honest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from tests.conformance.iam import Decision, Request, role, statement_applies
from tests.conformance.iam_database import TypedResource, request_problems
from tests.conformance.requests import Call, all_calls, decide
from tests.conformance.resolve import ResolvedStack, resolve_stack
from tests.support.figures import figure

PRIVATE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/batch-jobs/report:1.4"
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "CancelStuckRunnableAfterMinutes=60": {"CancelStuckRunnableAfterMinutes": "60"},
    "AlertEmail set": {"AlertEmail": "ops@example.com"},
    "NetworkMode=existing": {
        "NetworkMode": "existing",
        "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
        "SecurityGroupIds": "sg-0123456789abcdef0",
        "AssignPublicIp": "DISABLED",
    },
    "UseFargateSpot=true": {"UseFargateSpot": "true"},
    'OutputPrefix=""': {"OutputPrefix": ""},
    'InputPrefix="" OutputPrefix=""': {"InputPrefix": "", "OutputPrefix": ""},
    "private ECR image": {"ContainerImage": PRIVATE_IMAGE},
    "NotifyOnSuccess=true": {"NotifyOnSuccess": "true"},
    "EventBusName=orchestrator-events": {"EventBusName": "orchestrator-events"},
}
# Every kind of actor the table must cover on the defaults (a refactoring that drops one fails here).
ACTORS = (
    "(code)",
    "(Lambda)",
    "(event source mapping)",
    "(Lambda destination)",
    "(ECS agent of",
    "(job of",
    "(scheduler,",
    "events.amazonaws.com",
    "s3.amazonaws.com",
    "cloudwatch.amazonaws.com",
    "lambda.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "scheduler.amazonaws.com",
)


@dataclass(frozen=True)
class Outcome:
    call: Call
    resource: TypedResource
    decision: Decision

    def __str__(self) -> str:
        return f"{self.call.describe(self.resource)}\n    -> {self.decision.reason}"


@cache
def stack_for(name: str) -> ResolvedStack:
    return resolve_stack(PARAMETER_SETS[name])


@cache
def outcomes(name: str) -> tuple[Outcome, ...]:
    stack = stack_for(name)
    return tuple(
        Outcome(call, resource, decision) for call in all_calls(stack) for resource, decision in decide(stack, call)
    )


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_every_request_is_one_aws_could_receive(name: str) -> None:
    # Given the requests of the stack resolved with this parameter set
    calls = all_calls(stack_for(name))

    # When each is checked against the Service Authorization Reference
    problems = [
        f"{call.describe()}: {problem}" for call in calls for problem in request_problems(call.action, call.resources)
    ]

    # Then every action exists, every ARN has its type's format, every required resource type is named
    assert problems == []


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_every_request_is_allowed(name: str) -> None:
    # Given every request of the stack with this parameter set, and AWS's decision on each resource
    decided = outcomes(name)

    # Then none is denied
    denied = [str(outcome) for outcome in decided if not outcome.decision.allowed]
    assert denied == [], f"{len(denied)} of {len(decided)} requests denied:\n" + "\n".join(denied)


def test_the_table_covers_every_actor_and_reports_the_figure() -> None:
    # Given the requests of every parameter set
    decided = {name: outcomes(name) for name in PARAMETER_SETS}
    total = sum(len(found) for found in decided.values())
    allowed = sum(outcome.decision.allowed for found in decided.values() for outcome in found)
    figure(
        "Permissions",
        f"{allowed} of {total} requests allowed ({len(decided['defaults'])} with the defaults; {len(PARAMETER_SETS)} "
        f"parameter sets: {', '.join(PARAMETER_SETS)}), evaluated offline against the resolved template",
    )

    # Then the default stack has requests from every kind of actor, and every alarm notifies through the table
    whos = {outcome.call.who for outcome in decided["defaults"]}
    assert [actor for actor in ACTORS if not any(actor in who for who in whos)] == []
    alarms = stack_for("defaults").of_type("AWS::CloudWatch::Alarm")
    publishing = {
        o.call.who for o in decided["defaults"] if o.call.action == "sns:Publish" and "cloudwatch" in o.call.who
    }
    assert publishing == {f"cloudwatch.amazonaws.com ({alarm})" for alarm in alarms}


def test_optional_statements_add_their_requests() -> None:
    # Given the parameter sets that switch statements on or off
    def actions(name: str) -> set[str]:
        return {o.call.action for o in outcomes(name)}

    # Then their requests come and go with them
    assert "batch:TerminateJob" in actions("CancelStuckRunnableAfterMinutes=60") - actions("defaults")
    assert "s3:PutObject" in actions("defaults") - actions('OutputPrefix=""')
    assert "ecr:BatchGetImage" in actions("private ECR image") - actions("defaults")


# ------------------------------------------------------------------------------------------ TLS only
SAMPLE_ACTIONS = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "s3": "s3:GetObject"}


def _insecure_transport_denials(stack: ResolvedStack) -> list[tuple[str, Mapping[str, Any], str]]:
    """(where, statement, a resource it covers) for every Deny on aws:SecureTransport false."""
    found = []
    for logical_id, resource in stack.resources.items():
        document = resource.properties.get("PolicyDocument")
        if not isinstance(document, Mapping):
            continue
        for index, statement in enumerate(document.get("Statement", [])):
            if statement.get("Effect") == "Deny" and "aws:SecureTransport" in str(statement.get("Condition")):
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                found += [(f"{logical_id}/{statement.get('Sid', index)}", statement, str(arn)) for arn in resources]
    return found


def test_deny_insecure_transport_denies_http_and_lets_tls_through() -> None:
    # Given every statement that denies requests without TLS, and a request of this account on its resource
    stack = stack_for("defaults")
    denials = _insecure_transport_denials(stack)
    caller = role(f"arn:aws:iam::{stack.account_id}:role/any-role")
    wrong = []
    for where, statement, arn in denials:
        target = arn.replace("/*", "/incoming/a.csv") if arn.endswith("/*") else arn
        action = SAMPLE_ACTIONS[arn.split(":")[2]]
        # When the request comes over TLS, and when it does not
        over_tls = statement_applies(statement, Request(caller, action, target, {"aws:SecureTransport": True}))
        over_http = statement_applies(statement, Request(caller, action, target, {"aws:SecureTransport": False}))
        # Then only plain HTTP is denied
        if over_tls or not over_http:
            wrong.append(f"{where} on {target}: denies TLS={over_tls}, denies HTTP={over_http}")
    assert wrong == []
    assert {where.split("/")[0] for where, _, _ in denials} >= {
        "InputBucketPolicy",
        "SubmitQueuePolicy",
        "AlertsTopicPolicy",
    }
