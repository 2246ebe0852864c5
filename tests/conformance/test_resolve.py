"""The resolver gives the values AWS documents, resolves every intrinsic the template uses, and refuses
what it does not know.

Proven: each return-value format the template relies on has the shape of the example on the type's
CloudFormation page (table below); Fn::If, Conditions, Fn::Sub (both forms), Join/Select/Split, GetAZs
and AWS::NoValue behave as documented; an unknown intrinsic, pseudo parameter or attribute raises; the
transformed template is exactly ``emulator.prepare_template(...).cloudformation``.
Not proven: the generated parts of physical names (random suffixes, key ids) match AWS's, only their shape.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from emulator import prepare_template
from tests.conformance.resolve import (
    ResolvedStack,
    UnresolvableError,
    resolve_stack,
    resolve_template,
    transformed_template,
)
from tests.conformance.return_values import SOURCE, TYPES

ACCOUNT = "123456789012"
PREFIX = "batch-orchestrator"
R = "us-east-1"

# (logical id, "Ref" or attribute, the shape AWS documents, the page (under return_values.SOURCE) and its example)
DOCUMENTED: list[tuple[str, str, str, str]] = [
    (
        "JobLogGroup",
        "Arn",
        rf"arn:aws:logs:{R}:{ACCOUNT}:log-group:/aws/batch/{PREFIX}-jobs:\*",
        "aws-resource-logs-loggroup.html: arn:aws:logs:us-east-1:123456789012:log-group:/mystack-testgroup-12ABC1AB12A1:*",  # noqa: E501
    ),
    ("JobLogGroup", "Ref", rf"/aws/batch/{PREFIX}-jobs", "aws-resource-logs-loggroup.html: the resource name"),
    (
        "JobDefinition",
        "Ref",
        rf"arn:aws:batch:{R}:{ACCOUNT}:job-definition/{PREFIX}-JobDefinition-[A-Z0-9]{{12}}:1",
        "aws-resource-batch-jobdefinition.html: arn:aws:batch:us-east-1:111122223333:job-definition/test-gpu:2",
    ),
    (
        "JobQueue",
        "Ref",
        rf"arn:aws:batch:{R}:{ACCOUNT}:job-queue/{PREFIX}-JobQueue-[A-Z0-9]{{12}}",
        "aws-resource-batch-jobqueue.html: arn:aws:batch:us-east-1:111122223333:job-queue/HighPriority",
    ),
    (
        "ComputeEnvironment",
        "Ref",
        rf"arn:aws:batch:{R}:{ACCOUNT}:compute-environment/{PREFIX}-ComputeEnvironment-[A-Z0-9]{{12}}",
        "aws-resource-batch-computeenvironment.html: arn:aws:batch:us-east-1:555555555555:compute-environment/M4OnDemand",  # noqa: E501
    ),
    (
        "SubmitQueue",
        "Ref",
        rf"https://sqs\.{R}\.amazonaws\.com/{ACCOUNT}/{PREFIX}-SubmitQueue-[A-Z0-9]{{12}}",
        "aws-resource-sqs-queue.html: https://sqs.us-east-2.amazonaws.com/123456789012/ab1-MyQueue-A2BCDEF3GHI4",
    ),
    (
        "SubmitQueue",
        "Arn",
        rf"arn:aws:sqs:{R}:{ACCOUNT}:{PREFIX}-SubmitQueue-[A-Z0-9]{{12}}",
        "aws-resource-sqs-queue.html: arn:aws:sqs:us-east-2:123456789012:mystack-myqueue-15PG5C2FC1CW8",
    ),
    (
        "SubmitQueue",
        "QueueName",
        rf"{PREFIX}-SubmitQueue-[A-Z0-9]{{12}}",
        "aws-resource-sqs-queue.html: mystack-myqueue-1VF9BKQH5BJVI",
    ),
    ("RunsTable", "Ref", rf"{PREFIX}-RunsTable-[A-Z0-9]{{12}}", "aws-resource-dynamodb-table.html: the resource name"),
    (
        "RunsTable",
        "Arn",
        rf"arn:aws:dynamodb:{R}:{ACCOUNT}:table/{PREFIX}-RunsTable-[A-Z0-9]{{12}}",
        "aws-resource-dynamodb-table.html: arn:aws:dynamodb:us-east-1:123456789012:table/myDynamoDBTable",
    ),
    (
        "SubmitJobsFunctionRole",
        "Ref",
        rf"{PREFIX}-SubmitJobsFunctionRole-[A-Z0-9]{{12}}",
        "aws-resource-iam-role.html: the resource name",
    ),
    (
        "SubmitJobsFunctionRole",
        "Arn",
        rf"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-SubmitJobsFunctionRole-[A-Z0-9]{{12}}",
        "aws-resource-iam-role.html: arn:aws:iam::1234567890:role/MyRole-AJJHDSKSDF",
    ),
    (
        "SubmitJobsFunction",
        "Ref",
        rf"{PREFIX}-SubmitJobsFunction-[A-Z0-9]{{12}}",
        "aws-resource-lambda-function.html: the resource name",
    ),
    (
        "SubmitJobsFunction",
        "Arn",
        rf"arn:aws:lambda:{R}:{ACCOUNT}:function:{PREFIX}-SubmitJobsFunction-[A-Z0-9]{{12}}",
        "aws-resource-lambda-function.html: arn:aws:lambda:us-west-2:123456789012:function:my-function",
    ),
    (
        "AlertsKey",
        "Ref",
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "aws-resource-kms-key.html: 1234abcd-12ab-34cd-56ef-1234567890ab",
    ),
    (
        "AlertsKey",
        "Arn",
        rf"arn:aws:kms:{R}:{ACCOUNT}:key/[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}",
        "aws-resource-kms-key.html: arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ),
    (
        "AlertsTopic",
        "Ref",
        rf"arn:aws:sns:{R}:{ACCOUNT}:{PREFIX}-AlertsTopic-[A-Z0-9]{{12}}",
        "aws-resource-sns-topic.html: arn:aws:sns:us-east-1:123456789012:mystack-mytopic-NZJ5JSMVGFIE",
    ),
    (
        "TrackJobsFunctionBatchEvents",
        "Ref",
        rf"{PREFIX}-TrackJobsFunctionBatchEvents-[A-Z0-9]{{12}}",
        "aws-resource-events-rule.html: mystack-ScheduledRule-ABCDEFGHIJK",
    ),
    (
        "TrackJobsFunctionBatchEvents",
        "Arn",
        rf"arn:aws:events:{R}:{ACCOUNT}:rule/{PREFIX}-TrackJobsFunctionBatchEvents-[A-Z0-9]{{12}}",
        "aws-resource-events-rule.html: arn:aws:events:us-east-2:123456789012:rule/example",
    ),
    (
        "SubmitScheduledFunctionSchedule",
        "Arn",
        rf"arn:aws:scheduler:{R}:{ACCOUNT}:schedule/default/[0-9a-zA-Z_.-]+",
        "aws-resource-scheduler-schedule.html: the schedule's ARN (schedule/<group>/<name>)",
    ),
    (
        "InputBucket",
        "Arn",
        r"arn:aws:s3:::batch-orch-input-123456789012-[0-9a-f]{12}",
        "aws-resource-s3-bucket.html: arn:aws:s3:::mybucket",
    ),
    (
        "SubmitDLQAlarm",
        "Arn",
        rf"arn:aws:cloudwatch:{R}:{ACCOUNT}:alarm:{PREFIX}-SubmitDLQ-not-empty",
        "aws-resource-cloudwatch-alarm.html: arn:aws:cloudwatch:us-west-2:123456789012:alarm:MyAlarm",
    ),
]


@pytest.fixture(scope="module")
def stack() -> ResolvedStack:
    return resolve_stack()


def _value(stack: ResolvedStack, logical_id: str, what: str) -> str:
    return stack.ref(logical_id) if what == "Ref" else stack.get_att(logical_id, what)


@pytest.mark.parametrize(
    ("logical_id", "what", "shape", "documented"), DOCUMENTED, ids=[f"{d[0]}.{d[1]}" for d in DOCUMENTED]
)
def test_each_return_value_has_the_documented_format(
    stack: ResolvedStack, logical_id: str, what: str, shape: str, documented: str
) -> None:
    # Given the resolved default stack
    # When the template's Ref or GetAtt is resolved
    value = _value(stack, logical_id, what)

    # Then it has the shape of the documented example
    assert re.fullmatch(shape, value), f"{value} does not look like {documented}"
    page = documented.split(":", 1)[0]
    assert TYPES[stack.resources[logical_id].type].page == page, f"{SOURCE}{page}"


def test_the_transformed_template_is_prepare_templates() -> None:
    # Given parameters that switch optional parts on
    parameters = {"CancelStuckRunnableAfterMinutes": "60", "AlertEmail": "ops@example.com"}

    # Then the resolver starts from exactly what emulator hands AWS (before moto's shims)
    assert transformed_template(parameters) == prepare_template(parameters).cloudformation


def test_the_stack_id_is_fixed_per_stack_and_differs_between_stacks() -> None:
    # Given two resolutions of one stack name and one of another
    first, again, other = resolve_stack(), resolve_stack(), resolve_stack(stack_name="other-stack")

    # Then the id (and the bucket name built from it) is stable for one name and differs for another
    assert re.fullmatch(rf"arn:aws:cloudformation:{R}:{ACCOUNT}:stack/{PREFIX}/[0-9a-f-]{{36}}", first.stack_id)
    assert first.stack_id == again.stack_id
    assert first.outputs["InputBucketName"] == again.outputs["InputBucketName"]
    assert first.outputs["InputBucketName"] != other.outputs["InputBucketName"]


def test_generated_names_fit_the_service_limit() -> None:
    # Given the longest stack name CloudFormation accepts
    stack = resolve_stack(stack_name="s" + "x" * 127)

    # Then generated names are cut to the service's limit and keep their random suffix
    assert len(stack.ref("SubmitJobsFunction")) == 64
    assert len(stack.get_att("SubmitQueue", "QueueName")) == 80
    assert re.search(r"-[A-Z0-9]{12}$", stack.ref("SubmitJobsFunction"))


def test_a_false_condition_removes_the_resource_and_picks_the_other_branch() -> None:
    # Given an existing network instead of a created one
    stack = resolve_stack({"NetworkMode": "existing", "SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1"})

    # Then the conditional resources are gone and Fn::If took the other branch
    assert "Vpc" not in stack.resources
    assert stack.conditions["CreateNetwork"] is False
    resources = stack.resources["ComputeEnvironment"].properties["ComputeResources"]
    assert (resources["Subnets"], resources["SecurityGroupIds"]) == (["subnet-1", "subnet-2"], ["sg-1"])
    with pytest.raises(UnresolvableError, match="Condition is false"):
        stack.ref("Vpc")


def test_no_value_removes_the_property() -> None:
    # Given read-only jobs (no OutputPrefix)
    stack = resolve_stack({"OutputPrefix": ""})

    # Then the job definition has no Environment and the role no write statement
    assert "Environment" not in stack.resources["JobDefinition"].properties["ContainerProperties"]
    statements = stack.resources["JobRole"].properties["Policies"][0]["PolicyDocument"]["Statement"]
    assert "s3:PutObject" not in str(statements)


def _template(properties: dict[str, Any], conditions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Parameters": {
            "Mode": {"Type": "String", "Default": "a"},
            "Cidr": {"Type": "String", "Default": "10.4.0.0/16"},
        },
        "Conditions": conditions or {},
        "Resources": {"Thing": {"Type": "AWS::SQS::Queue", "Properties": properties}},
    }


def test_intrinsics_resolve_as_documented() -> None:
    # Given a template with each intrinsic the project uses
    template = _template(
        {
            "QueueName": "q",
            "Sub": {"Fn::Sub": "${AWS::Region}-${Mode}-${!Literal}"},
            "SubList": {"Fn::Sub": ["${A}/${Thing.QueueName}", {"A": {"Ref": "AWS::AccountId"}}]},
            "Join": {"Fn::Join": [".", [{"Fn::Select": [1, {"Fn::Split": [".", {"Ref": "Cidr"}]}]}, "0"]]},
            "Zone": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
            "If": {"Fn::If": ["IsB", "b", {"Ref": "AWS::NoValue"}]},
            "List": ["x", {"Ref": "AWS::NoValue"}, {"Fn::If": ["NotB", "y", "z"]}],
        },
        {
            "IsB": {"Fn::Equals": [{"Ref": "Mode"}, "b"]},
            "NotB": {"Fn::And": [{"Fn::Not": [{"Condition": "IsB"}]}, {"Fn::Or": [True, {"Condition": "IsB"}]}]},
        },
    )

    # When it is resolved
    properties = resolve_template(template).resources["Thing"].properties

    # Then each value is what CloudFormation would pass
    assert properties == {
        "QueueName": "q",
        "Sub": "us-east-1-a-${Literal}",
        "SubList": f"{ACCOUNT}/q",
        "Join": "4.0",
        "Zone": "us-east-1a",
        "List": ["x", "y"],
    }


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"Fn::Base64": "x"}, "Fn::Base64 is not supported"),
        ({"Fn::FindInMap": ["M", "a", "b"]}, "Fn::FindInMap is not supported"),
        ({"Ref": "AWS::NotificationARNs"}, "pseudo parameter AWS::NotificationARNs"),
        ({"Ref": "Nothing"}, "no parameter or resource of that name"),
        ({"Fn::GetAtt": ["Thing", "DeadLetterQueueUrl"]}, "Fn::GetAtt Thing.DeadLetterQueueUrl"),
        ({"Fn::GetAZs": "mars-north-1"}, "Fn::GetAZs 'mars-north-1'"),
    ],
)
def test_what_the_resolver_does_not_know_raises(node: dict[str, Any], message: str) -> None:
    # Given a property using something outside the resolver's tables
    template = _template({"QueueName": "q", "Unknown": node})

    # Then resolving fails and names it, instead of guessing a value
    with pytest.raises(UnresolvableError, match=re.escape(message)):
        resolve_template(template)


def test_a_type_without_documented_return_values_raises() -> None:
    # Given a resource type the return-value table does not hold
    template = _template({"QueueName": "q", "Other": {"Ref": "Topic"}})
    template["Resources"]["Topic"] = {"Type": "AWS::SES::Template", "Properties": {}}

    # Then its Ref is refused
    with pytest.raises(UnresolvableError, match=r"Ref of Topic \(AWS::SES::Template\)"):
        resolve_template(template)


def test_an_invalid_stack_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a CloudFormation stack name"):
        resolve_stack(stack_name="1-starts-with-a-digit")


def test_a_rule_on_a_custom_bus_has_the_bus_in_its_arn() -> None:
    # Given the stack on the default bus and on a bus of its own
    default, custom = resolve_stack(), resolve_stack({"EventBusName": "orchestrator-events"})

    # Then the RunRequests rule's ARN names the bus only for the custom one, as EventBridge's resource table documents
    # ("arn:aws:events:region:account:rule/[event-bus-name]/rule-name", eb-manage-iam-access.html)
    assert re.fullmatch(
        rf"arn:aws:events:{R}:{ACCOUNT}:rule/{PREFIX}-RunRequests-[A-Z0-9]{{12}}", default.get_att("RunRequests", "Arn")
    )
    assert re.fullmatch(
        rf"arn:aws:events:{R}:{ACCOUNT}:rule/orchestrator-events/{PREFIX}-RunRequests-[A-Z0-9]{{12}}",
        custom.get_att("RunRequests", "Arn"),
    )
