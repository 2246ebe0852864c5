"""The permission check can fail: broken copies of the template are denied by the same machinery.

Each case mutates the SAM-transformed template (the dict, never template.yaml) the way a real defect
would, resolves it, builds the same request table and asserts that the one request the defect breaks is
denied, for the reason the defect gives. The first case is the defect the committed template shipped
with: the job log stream resource built from ``Fn::GetAtt LogGroup.Arn``, which already ends in ``:*``.

Not proven: that every possible defect is caught; only that these classes of defect are (missing
statement, wrong resource format, wrong condition value, missing key policy statement, wrong trust).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conformance.iam import Decision
from tests.conformance.requests import all_calls, decide
from tests.conformance.resolve import ResolvedStack, Template, resolve_template, transformed_template


def statements(template: Template, logical_id: str) -> Iterator[dict[str, Any]]:
    """Every statement of a role's inline policies (both branches of an Fn::If included)."""
    for policy in template["Resources"][logical_id]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if isinstance(statement, dict) and "Fn::If" in statement:
                yield from (branch for branch in statement["Fn::If"][1:] if "Effect" in branch)
            else:
                yield statement


def statement_with(template: Template, logical_id: str, action: str) -> dict[str, Any]:
    (found,) = [s for s in statements(template, logical_id) if action in str(s.get("Action"))]
    return found


def decisions(stack: ResolvedStack, who: str, action: str, resource_type: str) -> list[Decision]:
    found = [
        decision
        for call in all_calls(stack)
        if call.who.startswith(who) and call.action == action
        for resource, decision in decide(stack, call)
        if resource.type == resource_type
    ]
    assert found, f"no {action} request on a {resource_type} by {who} in the table"
    return found


def mutated(change: Callable[[Template, ResolvedStack], None]) -> ResolvedStack:
    template = transformed_template()
    change(template, resolve_template(template))
    return resolve_template(template)


# ------------------------------------------------------------------------------------------ mutations
def log_stream_from_group_arn(template: Template, _: ResolvedStack) -> None:
    # The committed template's defect: "${JobLogGroup.Arn}" ends in ":*", so this never matches a stream ARN.
    statement = statement_with(template, "JobExecutionRole", "logs:PutLogEvents")
    statement["Resource"] = {"Fn::Sub": "${JobLogGroup.Arn}:log-stream:*"}


def drop_submit_job(template: Template, _: ResolvedStack) -> None:
    document = template["Resources"]["SubmitJobsFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if "batch:SubmitJob" not in str(s.get("Action"))]


def wrong_bucket_in_queue_policy(template: Template, _: ResolvedStack) -> None:
    (allow,) = [
        s
        for s in template["Resources"]["SubmitQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AllowInputBucketNotifications"
    ]
    allow["Condition"]["ArnLike"]["aws:SourceArn"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::another-bucket"}


def job_definition_without_revision(template: Template, original: ResolvedStack) -> None:
    definition = original.ref("JobDefinition").rsplit(":", 1)[0]  # arn:...:job-definition/NAME
    statement = statement_with(template, "SubmitJobsFunctionRole", "batch:SubmitJob")
    statement["Resource"] = [
        definition if resource == {"Ref": "JobDefinition"} else resource for resource in statement["Resource"]
    ]


def key_policy_without_cloudwatch(template: Template, _: ResolvedStack) -> None:
    policy = template["Resources"]["AlertsKey"]["Properties"]["KeyPolicy"]
    policy["Statement"] = [s for s in policy["Statement"] if "cloudwatch" not in str(s.get("Principal"))]


def trust_names_another_service(template: Template, _: ResolvedStack) -> None:
    trust = template["Resources"]["SubmitJobsFunctionRole"]["Properties"]["AssumeRolePolicyDocument"]
    for statement in trust["Statement"]:
        statement["Principal"] = {"Service": ["states.amazonaws.com"]}


def tracker_without_put_item(template: Template, _: ResolvedStack) -> None:
    # The blocked-queue alert's lease is a PutItem of track_jobs: a role that may only update is denied it.
    statement = statement_with(template, "TrackJobsFunctionRole", "dynamodb:PutItem")
    statement["Action"] = [action for action in statement["Action"] if action != "dynamodb:PutItem"]


def job_role_without_list_bucket(template: Template, _: ResolvedStack) -> None:
    # Without s3:ListBucket a missing input answers 403, and the job reads "access denied" for "input gone".
    policy = template["Resources"]["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if "s3:ListBucket" not in str(s.get("Action"))]


def tls_deny_without_condition(template: Template, _: ResolvedStack) -> None:
    for statement in template["Resources"]["SubmitQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Effect"] == "Deny":
            del statement["Condition"]  # denies every request, TLS or not


# (id, mutation, actor, action, resource type, the reason the denial must give)
CASES = [
    (
        "log-stream-resource-ends-in-:*",
        log_stream_from_group_arn,
        "JobExecutionRole",
        "logs:CreateLogStream",
        "log-stream",
        "implicitly",
    ),
    (
        "submit-job-statement-missing",
        drop_submit_job,
        "SubmitJobsFunction (code)",
        "batch:SubmitJob",
        "job-queue",
        "implicitly",
    ),
    (
        "s3-source-arn-of-another-bucket",
        wrong_bucket_in_queue_policy,
        "s3.amazonaws.com",
        "sqs:SendMessage",
        "queue",
        "implicitly",
    ),
    (
        "job-definition-without-revision",
        job_definition_without_revision,
        "SubmitJobsFunction (code)",
        "batch:SubmitJob",
        "job-definition-revision",
        "implicitly",
    ),
    (
        "key-policy-without-cloudwatch",
        key_policy_without_cloudwatch,
        "cloudwatch.amazonaws.com",
        "kms:GenerateDataKey",
        "key",
        "key policy",
    ),
    (
        "trust-policy-of-another-service",
        trust_names_another_service,
        "lambda.amazonaws.com (runs SubmitJobsFunction)",
        "sts:AssumeRole",
        "role",
        "trust policy",
    ),
    (
        "tracker-may-not-lease-a-blocked-queue-alert",
        tracker_without_put_item,
        "TrackJobsFunction (code)",
        "dynamodb:PutItem",
        "table",
        "implicitly",
    ),
    (
        "job-role-may-not-list-its-bucket",
        job_role_without_list_bucket,
        "JobRole (job of",
        "s3:ListBucket",
        "bucket",
        "implicitly",
    ),
    (
        "tls-deny-without-its-condition",
        tls_deny_without_condition,
        "SubmitJobsFunction (event source",
        "sqs:ReceiveMessage",
        "queue",
        "explicitly denied",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "who", "action", "resource_type", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_broken_template_is_denied(
    mutation: Callable[[Template, ResolvedStack], None], who: str, action: str, resource_type: str, reason: str
) -> None:
    # Given the transformed template with one defect
    stack = mutated(mutation)

    # When the request the defect breaks is evaluated
    found = decisions(stack, who, action, resource_type)

    # Then AWS would deny it, for that reason
    assert [decision.allowed for decision in found] == [False] * len(found)
    assert all(reason in decision.reason for decision in found), [d.reason for d in found]


def test_the_same_requests_are_allowed_without_the_mutations() -> None:
    # Given the template as it is (the control for every case above)
    stack = resolve_template(transformed_template())

    # Then each request the mutations break is allowed (unless the template itself is broken, which
    # test_permissions.py then reports request by request)
    for _, _, who, action, resource_type, _ in CASES:
        assert all(decision.allowed for decision in decisions(stack, who, action, resource_type)), (who, action)
