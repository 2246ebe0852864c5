"""Which policies AWS evaluates for a request on the resolved stack: a role's identity policies (inline,
AWS managed, and AWS::IAM::Policy/ManagedPolicy resources attached to it), and the resource policy of the
resource the request names (queue, topic, bucket, key, function permissions, trust policy).

AWS managed policies are not in the template, only their ARNs: ``MANAGED_POLICIES`` holds the documents
of those the template attaches, copied from the AWS managed policy reference (URL next to each). An
attached managed policy missing from that table raises, so a new one cannot pass unread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.conformance.iam import Mode, Policy
from tests.conformance.resolve import ResolvedResource, ResolvedStack, UnresolvableError

_MANAGED_REFERENCE = "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/"


@dataclass(frozen=True)
class ManagedPolicy:
    path_and_name: str  # what follows arn:<partition>:iam::aws:policy/
    document: Mapping[str, Any]
    source: str


MANAGED_POLICIES: dict[str, ManagedPolicy] = {
    policy.path_and_name: policy
    for policy in (
        ManagedPolicy(
            "service-role/AWSLambdaBasicExecutionRole",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": "*",
                    }
                ],
            },
            _MANAGED_REFERENCE + "AWSLambdaBasicExecutionRole.html",
        ),
        ManagedPolicy(
            "AWSXrayWriteOnlyAccess",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "xray:PutTraceSegments",
                            "xray:PutTelemetryRecords",
                            "xray:GetSamplingRules",
                            "xray:GetSamplingTargets",
                            "xray:GetSamplingStatisticSummaries",
                        ],
                        "Resource": ["*"],
                    }
                ],
            },
            _MANAGED_REFERENCE + "AWSXrayWriteOnlyAccess.html",
        ),
    )
}


class UnknownPolicy(LookupError):
    """A policy AWS would evaluate that this module cannot produce (the message says which)."""


def role_logical_id(stack: ResolvedStack, arn: str) -> str:
    """The AWS::IAM::Role of the stack whose Arn is ``arn``."""
    found = [logical_id for logical_id in stack.of_type("AWS::IAM::Role") if stack.get_att(logical_id, "Arn") == arn]
    if len(found) != 1:
        raise UnknownPolicy(f"{arn} is not the ARN of exactly one role of the stack (found {found})")
    return found[0]


def identity_policies(stack: ResolvedStack, role: str) -> list[Policy]:
    """Every identity policy attached to the role ``role`` (a logical id)."""
    properties = stack.resources[role].properties
    policies = [
        Policy(f"{role}/{policy['PolicyName']}", policy["PolicyDocument"]) for policy in properties.get("Policies", [])
    ]
    for arn in properties.get("ManagedPolicyArns", []):
        policies.append(_managed(stack, role, arn))
    role_name = stack.ref(role)
    for logical_id, resource in {
        **stack.of_type("AWS::IAM::Policy"),
        **stack.of_type("AWS::IAM::ManagedPolicy"),
    }.items():
        if role_name in resource.properties.get("Roles", []):
            policies.append(Policy(logical_id, resource.properties["PolicyDocument"]))
    return policies


def _managed(stack: ResolvedStack, role: str, arn: str) -> Policy:
    match = re.fullmatch(rf"arn:{re.escape(stack.partition)}:iam::aws:policy/(.+)", arn)
    if match is None:
        raise UnknownPolicy(f"{role}: managed policy {arn} is not an AWS managed policy of this partition")
    policy = MANAGED_POLICIES.get(match.group(1))
    if policy is None:
        raise UnknownPolicy(f"{role}: add the document of the AWS managed policy {arn} to MANAGED_POLICIES")
    return Policy(f"{role}/{match.group(1)}", policy.document)


def queue_arn(stack: ResolvedStack, url: str) -> str:
    """The ARN of a queue given its URL (https://sqs.<region>.<suffix>/<account>/<name>)."""
    match = re.fullmatch(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(\d{12})/([A-Za-z0-9_.-]+)", url)
    if match is None:
        raise UnknownPolicy(f"{url!r} is not an SQS queue URL")
    region, account, name = match.groups()
    return f"arn:{stack.partition}:sqs:{region}:{account}:{name}"


def resource_policy(stack: ResolvedStack, action: str, arn: str) -> tuple[Policy | None, Mode]:
    """The resource policy AWS evaluates for ``action`` on ``arn``, and how it combines with identity policies."""
    service = arn.split(":")[2] if arn.startswith("arn:") else ""
    if action.lower() == "sts:assumerole":
        role = role_logical_id(stack, arn)
        return Policy(
            f"{role}/AssumeRolePolicyDocument", stack.resources[role].properties["AssumeRolePolicyDocument"]
        ), ("trust")
    if service == "sqs":
        found = _attached(stack, "AWS::SQS::QueuePolicy", "Queues", lambda url: queue_arn(stack, url) == arn)
        return found, "default"
    if service == "sns":
        return _attached(stack, "AWS::SNS::TopicPolicy", "Topics", lambda topic: topic == arn), "default"
    if service == "s3":
        bucket = arn.split(":::", 1)[1].split("/", 1)[0]
        policies = [
            Policy(logical_id, resource.properties["PolicyDocument"])
            for logical_id, resource in stack.of_type("AWS::S3::BucketPolicy").items()
            if resource.properties["Bucket"] == bucket
        ]
        return _one(policies, arn), "default"
    if service == "kms":
        keys = [logical_id for logical_id in stack.of_type("AWS::KMS::Key") if stack.get_att(logical_id, "Arn") == arn]
        if len(keys) != 1:
            raise UnknownPolicy(f"{arn} is not a key of the stack: its key policy is unknown")
        policy = stack.resources[keys[0]].properties.get("KeyPolicy")
        if not isinstance(policy, Mapping):
            raise UnknownPolicy(f"{keys[0]} has no KeyPolicy object (the default key policy is not modelled)")
        return Policy(f"{keys[0]}/KeyPolicy", policy), "kms"
    if service == "lambda":
        return _function_policy(stack, arn), "default"
    return None, "default"


def _attached(stack: ResolvedStack, kind: str, targets: str, names: Any) -> Policy | None:
    policies = [
        Policy(logical_id, resource.properties["PolicyDocument"])
        for logical_id, resource in stack.of_type(kind).items()
        if any(names(target) for target in resource.properties.get(targets, []))
    ]
    return _one(policies, kind)


def _one(policies: list[Policy], what: str) -> Policy | None:
    if len(policies) > 1:
        raise UnknownPolicy(f"{what}: several resource policies apply ({[p.source for p in policies]})")
    return policies[0] if policies else None


def _function_policy(stack: ResolvedStack, arn: str) -> Policy | None:
    """A function's resource policy: one statement per AWS::Lambda::Permission, as AddPermission writes it."""
    statements = []
    for logical_id, permission in stack.of_type("AWS::Lambda::Permission").items():
        if _function_arn(stack, permission) != arn:
            continue
        statements.append(_permission_statement(logical_id, permission, arn))
    return (
        Policy(f"{arn} (function policy)", {"Version": "2012-10-17", "Statement": statements}) if statements else None
    )


def _function_arn(stack: ResolvedStack, permission: ResolvedResource) -> str:
    name = str(permission.properties["FunctionName"])
    if name.startswith("arn:"):
        return name
    functions = [f for f in stack.of_type("AWS::Lambda::Function") if stack.ref(f) == name]
    if len(functions) != 1:
        raise UnresolvableError(f"{permission.logical_id}: FunctionName {name!r} is not a function of the stack")
    return stack.get_att(functions[0], "Arn")


def _permission_statement(logical_id: str, permission: ResolvedResource, arn: str) -> dict[str, Any]:
    properties = permission.properties
    unsupported = set(properties) - {"Action", "FunctionName", "Principal", "SourceArn", "SourceAccount"}
    if unsupported:
        raise UnknownPolicy(f"{logical_id}: Lambda permission properties {sorted(unsupported)} are not modelled")
    principal = str(properties["Principal"])
    condition: dict[str, Any] = {}
    # What AddPermission writes into the function policy (Lambda Developer Guide, "Resource-based policies").
    if "SourceArn" in properties:
        condition["ArnLike"] = {"AWS:SourceArn": properties["SourceArn"]}
    if "SourceAccount" in properties:
        condition["StringEquals"] = {"AWS:SourceAccount": properties["SourceAccount"]}
    statement: dict[str, Any] = {
        "Sid": logical_id,
        "Effect": "Allow",
        "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
        "Action": properties["Action"],
        "Resource": arn,
    }
    if condition:
        statement["Condition"] = condition
    return statement
