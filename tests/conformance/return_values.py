"""What CloudFormation returns for ``Ref`` and ``Fn::GetAtt`` of each resource type the template uses.

Each entry is transcribed from the "Return values" section of the type's page in the CloudFormation
template reference (``SOURCE`` + the page named in the entry), and the example value the page shows
is quoted in a comment next to it. A type or attribute missing here is not guessed: the resolver
raises ``UnknownReturnValue`` naming it, and someone looks it up and adds it.

Physical names: a resource without an explicit name gets the name CloudFormation generates, the
stack name, the logical id and a random suffix ("the stack name, the logical ID of the resource,
and a random string", CloudFormation User Guide, "Name type"), e.g. ``mystack-ScheduledRule-ABCDEFGHIJK``
(events rule page). Here the suffix is 12 characters derived from the stack id and the logical id,
so one stack always resolves the same way and two stacks differ. Where the service limits the name,
the stack and logical id part is cut so that the whole name fits (``GENERATED_NAME_LIMITS``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SOURCE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/"
NAME_TYPE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html"
GENERATED_SUFFIX_LENGTH = 12
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class UnknownReturnValue(LookupError):
    """A Ref or Fn::GetAtt this table does not know: look it up in the type's "Return values" section."""


@dataclass(frozen=True)
class Context:
    """What one return value may depend on: the resource's physical name, its properties, the stack."""

    logical_id: str
    name: str
    partition: str
    region: str
    account: str
    url_suffix: str
    stack_id: str
    prop: Callable[[str], Any]  # the resolved value of one of the resource's properties (None when absent)

    def unique(self, what: str) -> str:
        """32 lowercase hex digits, fixed for (stack, resource, what): stands in for an id AWS generates."""
        return hashlib.sha256(f"{self.stack_id}|{self.logical_id}|{what}".encode()).hexdigest()[:32]

    def uuid(self, what: str) -> str:
        return str(uuid.UUID(self.unique(what)))

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        where = f"{self.region if region else ''}:{self.account if account else ''}"
        return f"arn:{self.partition}:{service}:{where}:{resource}"


Value = Callable[[Context], str]


@dataclass(frozen=True)
class ReturnValues:
    page: str  # the type's page under SOURCE
    ref: Value | None  # None: the page documents no Ref value this template may use
    attributes: Mapping[str, Value]
    name_property: str | None = None  # the property that names the resource, if it has one
    generated_name_limit: int | None = None  # longest name CloudFormation may generate; None: no name at all


def generated_name(stack_name: str, logical_id: str, stack_id: str, limit: int, *, lowercase: bool = False) -> str:
    """``<stack>-<LogicalId>-<12 characters>``, the stack and logical id part cut to fit ``limit``."""
    digest = hashlib.sha256(f"{stack_id}|{logical_id}".encode()).digest()
    suffix = "".join(_SUFFIX_ALPHABET[byte % len(_SUFFIX_ALPHABET)] for byte in digest[:GENERATED_SUFFIX_LENGTH])
    prefix = f"{stack_name}-{logical_id}"[: limit - GENERATED_SUFFIX_LENGTH - 1].rstrip("-")
    name = f"{prefix}-{suffix}"
    return name.lower() if lowercase else name


def _ec2_id(prefix: str) -> Value:
    # EC2 ids are the resource's prefix and 17 hex digits, e.g. "vpc-0e9801d129EXAMPLE" on the VPC page.
    return lambda c: f"{prefix}-{c.unique('id')[:17]}"


def _sqs_url(c: Context) -> str:
    return f"https://sqs.{c.region}.{c.url_suffix}/{c.account}/{c.name}"


def _role_path(c: Context) -> str:
    path = c.prop("Path") or "/"
    return str(path)


def _events_rule_arn(c: Context) -> str:
    # "arn:aws:events:region:account:rule/[event-bus-name]/rule-name": the bus's name only for a custom bus
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-manage-iam-access.html, "EventBridge resources").
    bus = c.prop("EventBusName")
    if bus not in (None, "default"):
        if not isinstance(bus, str) or bus.startswith("arn:"):
            raise UnknownReturnValue(f"{c.logical_id}: Arn of a rule on the event bus {bus!r} (named by ARN)")
        return c.arn("events", f"rule/{bus}/{c.name}")
    return c.arn("events", f"rule/{c.name}")


def _schedule_arn(c: Context) -> str:
    group = c.prop("GroupName") or "default"
    return c.arn("scheduler", f"schedule/{group}/{c.name}")


def _topic_arn(c: Context) -> str:
    return c.arn("sns", c.name)


def _layer_arn(c: Context) -> str:
    return c.arn("lambda", f"layer:{c.name}:1")


TYPES: dict[str, ReturnValues] = {
    # Ref: "the resource name"; Arn: "arn:aws:logs:us-east-1:123456789012:log-group:/mystack-testgroup-12ABC1AB12A1:*"
    "AWS::Logs::LogGroup": ReturnValues(
        "aws-resource-logs-loggroup.html",
        ref=lambda c: c.name,
        attributes={"Arn": lambda c: c.arn("logs", f"log-group:{c.name}:*")},
        name_property="LogGroupName",
        generated_name_limit=512,
    ),
    # Ref: "the compute environment ARN, such as
    # arn:aws:batch:us-east-1:111122223333:compute-environment/ComputeEnvironmentName"
    "AWS::Batch::ComputeEnvironment": ReturnValues(
        "aws-resource-batch-computeenvironment.html",
        ref=lambda c: c.arn("batch", f"compute-environment/{c.name}"),
        attributes={"ComputeEnvironmentArn": lambda c: c.arn("batch", f"compute-environment/{c.name}")},
        name_property="ComputeEnvironmentName",
        generated_name_limit=128,
    ),
    # Ref: "the job queue ARN, such as arn:aws:batch:us-east-1:111122223333:job-queue/HighPriority"
    "AWS::Batch::JobQueue": ReturnValues(
        "aws-resource-batch-jobqueue.html",
        ref=lambda c: c.arn("batch", f"job-queue/{c.name}"),
        attributes={"JobQueueArn": lambda c: c.arn("batch", f"job-queue/{c.name}")},
        name_property="JobQueueName",
        generated_name_limit=128,
    ),
    # Ref: "the job definition ARN, such as arn:aws:batch:us-east-1:111122223333:job-definition/test-gpu:2";
    # a new job definition's revision is 1 (CloudFormation replaces the resource on change).
    "AWS::Batch::JobDefinition": ReturnValues(
        "aws-resource-batch-jobdefinition.html",
        ref=lambda c: c.arn("batch", f"job-definition/{c.name}:1"),
        attributes={},
        name_property="JobDefinitionName",
        generated_name_limit=128,
    ),
    # Ref: "the resource name, such as mystack-myrole-1AB2CD3EF4GH";
    # Arn: "arn:aws:iam::1234567890:role/MyRole-AJJHDSKSDF"; RoleId: "AROADBQP57FF2AEXAMPLE".
    "AWS::IAM::Role": ReturnValues(
        "aws-resource-iam-role.html",
        ref=lambda c: c.name,
        attributes={
            "Arn": lambda c: c.arn("iam", f"role{_role_path(c)}{c.name}", region=False),
            "RoleId": lambda c: "AROA" + c.unique("role-id")[:17].upper(),
        },
        name_property="RoleName",
        generated_name_limit=64,
    ),
    # Ref: "the resource name"; Arn: "arn:aws:iam::1234567891012:instance-profile/MyProfile-ASDNSDLKJ" (with its Path).
    "AWS::IAM::InstanceProfile": ReturnValues(
        "aws-resource-iam-instanceprofile.html",
        ref=lambda c: c.name,
        attributes={"Arn": lambda c: c.arn("iam", f"instance-profile{_role_path(c)}{c.name}", region=False)},
        name_property="InstanceProfileName",
        generated_name_limit=128,
    ),
    # Ref: "the resource name" (the bucket name); Arn: "arn:aws:s3:::mybucket". Generated names are lowercase.
    "AWS::S3::Bucket": ReturnValues(
        "aws-resource-s3-bucket.html",
        ref=lambda c: c.name,
        attributes={"Arn": lambda c: c.arn("s3", c.name, region=False, account=False)},
        name_property="BucketName",
        generated_name_limit=63,
    ),
    # Ref: "the queue URL, for example https://sqs.us-east-2.amazonaws.com/123456789012/ab1-MyQueue-A2BCDEF3GHI4";
    # Arn: "arn:aws:sqs:us-east-2:123456789012:mystack-myqueue-15PG5C2FC1CW8";
    # QueueName: "mystack-myqueue-1VF9BKQH5BJVI"; QueueUrl: the URL.
    "AWS::SQS::Queue": ReturnValues(
        "aws-resource-sqs-queue.html",
        ref=_sqs_url,
        attributes={
            "Arn": lambda c: c.arn("sqs", c.name),
            "QueueName": lambda c: c.name,
            "QueueUrl": _sqs_url,
        },
        name_property="QueueName",
        generated_name_limit=80,
    ),
    # Ref: "the resource name"; Arn: "arn:aws:dynamodb:us-east-1:123456789012:table/myDynamoDBTable"; StreamArn:
    # "arn:aws:dynamodb:us-east-1:123456789012:table/testddbstack-myDynamoDBTable-012A1SL7SMP5Q/stream/
    # 2015-11-30T20:10:00.000" (the label is the stream's creation time: a fixed one here).
    "AWS::DynamoDB::Table": ReturnValues(
        "aws-resource-dynamodb-table.html",
        ref=lambda c: c.name,
        attributes={
            "Arn": lambda c: c.arn("dynamodb", f"table/{c.name}"),
            "StreamArn": lambda c: c.arn("dynamodb", f"table/{c.name}/stream/2026-03-14T00:00:00.000"),
        },
        name_property="TableName",
        generated_name_limit=255,
    ),
    # Ref: "the key ID, such as 1234abcd-12ab-34cd-56ef-1234567890ab"; Arn:
    # "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"; KeyId: the key ID.
    "AWS::KMS::Key": ReturnValues(
        "aws-resource-kms-key.html",
        ref=lambda c: c.uuid("key-id"),
        attributes={"Arn": lambda c: c.arn("kms", f"key/{c.uuid('key-id')}"), "KeyId": lambda c: c.uuid("key-id")},
    ),
    # Ref: "the alias name, such as alias/exampleAlias".
    "AWS::KMS::Alias": ReturnValues(
        "aws-resource-kms-alias.html", ref=lambda c: c.name, attributes={}, name_property="AliasName"
    ),
    # Ref: "the topic ARN, for example: arn:aws:sns:us-east-1:123456789012:mystack-mytopic-NZJ5JSMVGFIE";
    # TopicArn: the ARN; TopicName: "mystack-mytopic-NZJ5JSMVGFIE".
    "AWS::SNS::Topic": ReturnValues(
        "aws-resource-sns-topic.html",
        ref=_topic_arn,
        attributes={"TopicArn": _topic_arn, "TopicName": lambda c: c.name},
        name_property="TopicName",
        generated_name_limit=256,
    ),
    # Ref: "the subscription's ARN" (the topic ARN and a subscription id).
    "AWS::SNS::Subscription": ReturnValues(
        "aws-resource-sns-subscription.html",
        ref=lambda c: f"{c.prop('TopicArn')}:{c.uuid('subscription')}",
        attributes={"Arn": lambda c: f"{c.prop('TopicArn')}:{c.uuid('subscription')}"},
    ),
    # Ref: "the resource name"; Arn: "arn:aws:lambda:us-west-2:123456789012:function:my-function".
    "AWS::Lambda::Function": ReturnValues(
        "aws-resource-lambda-function.html",
        ref=lambda c: c.name,
        attributes={"Arn": lambda c: c.arn("lambda", f"function:{c.name}")},
        name_property="FunctionName",
        generated_name_limit=64,
    ),
    # Ref: "the ARN of the layer version, such as arn:aws:lambda:us-west-2:123456789012:layer:my-layer:1".
    "AWS::Lambda::LayerVersion": ReturnValues(
        "aws-resource-lambda-layerversion.html",
        ref=_layer_arn,
        attributes={"LayerVersionArn": _layer_arn},
        name_property="LayerName",
        generated_name_limit=64,
    ),
    # Ref: "the mapping's ID" (a UUID).
    "AWS::Lambda::EventSourceMapping": ReturnValues(
        "aws-resource-lambda-eventsourcemapping.html", ref=lambda c: c.uuid("mapping"), attributes={}
    ),
    # Ref: "event rule ID, such as mystack-ScheduledRule-ABCDEFGHIJK" (its name on the default bus);
    # Arn: "arn:aws:events:us-east-2:123456789012:rule/example".
    "AWS::Events::Rule": ReturnValues(
        "aws-resource-events-rule.html",
        ref=lambda c: c.name,
        attributes={"Arn": _events_rule_arn},
        name_property="Name",
        generated_name_limit=64,
    ),
    # Ref: "the Name attribute of the schedule"; Arn: the schedule's ARN,
    # arn:aws:scheduler:<region>:<account>:schedule/<group>/<name> (the group is "default" unless GroupName says).
    "AWS::Scheduler::Schedule": ReturnValues(
        "aws-resource-scheduler-schedule.html",
        ref=lambda c: c.name,
        attributes={"Arn": _schedule_arn},
        name_property="Name",
        generated_name_limit=64,
    ),
    # Ref: "the alarm name, such as MyAlarm"; Arn: "arn:aws:cloudwatch:us-west-2:123456789012:alarm:MyAlarm".
    "AWS::CloudWatch::Alarm": ReturnValues(
        "aws-resource-cloudwatch-alarm.html",
        ref=lambda c: c.name,
        attributes={"Arn": lambda c: c.arn("cloudwatch", f"alarm:{c.name}")},
        name_property="AlarmName",
        generated_name_limit=255,
    ),
    # Ref: "the dashboard name".
    "AWS::CloudWatch::Dashboard": ReturnValues(
        "aws-resource-cloudwatch-dashboard.html",
        ref=lambda c: c.name,
        attributes={},
        name_property="DashboardName",
        generated_name_limit=255,
    ),
    # EC2: Ref is the resource's id ("vpc-...", "subnet-...", "sg-..." for a VPC security group, "igw-...",
    # "rtb-...", "rtbassoc-..."; a route's and a gateway attachment's ids are opaque).
    "AWS::EC2::VPC": ReturnValues("aws-resource-ec2-vpc.html", ref=_ec2_id("vpc"), attributes={}),
    "AWS::EC2::Subnet": ReturnValues("aws-resource-ec2-subnet.html", ref=_ec2_id("subnet"), attributes={}),
    "AWS::EC2::SecurityGroup": ReturnValues(
        "aws-resource-ec2-securitygroup.html", ref=_ec2_id("sg"), attributes={"GroupId": _ec2_id("sg")}
    ),
    "AWS::EC2::InternetGateway": ReturnValues(
        "aws-resource-ec2-internetgateway.html", ref=_ec2_id("igw"), attributes={}
    ),
    "AWS::EC2::RouteTable": ReturnValues("aws-resource-ec2-routetable.html", ref=_ec2_id("rtb"), attributes={}),
    "AWS::EC2::Route": ReturnValues("aws-resource-ec2-route.html", ref=_ec2_id("r"), attributes={}),
    "AWS::EC2::SubnetRouteTableAssociation": ReturnValues(
        "aws-resource-ec2-subnetroutetableassociation.html", ref=_ec2_id("rtbassoc"), attributes={}
    ),
    "AWS::EC2::VPCGatewayAttachment": ReturnValues(
        "aws-resource-ec2-vpcgatewayattachment.html", ref=_ec2_id("IGW"), attributes={}
    ),
    # Ref: the launch template's id ("lt-01238c059e3466abc"); LatestVersionNumber and DefaultVersionNumber: "1"
    # for a template CloudFormation has just created.
    "AWS::EC2::LaunchTemplate": ReturnValues(
        "aws-resource-ec2-launchtemplate.html",
        ref=_ec2_id("lt"),
        attributes={
            "LaunchTemplateId": _ec2_id("lt"),
            "LatestVersionNumber": lambda c: "1",
            "DefaultVersionNumber": lambda c: "1",
        },
        name_property="LaunchTemplateName",
        generated_name_limit=128,
    ),
    # Ref: "a presigned URL" (to signal the wait condition).
    "AWS::CloudFormation::WaitConditionHandle": ReturnValues(
        "aws-resource-cloudformation-waitconditionhandle.html",
        ref=lambda c: f"https://cloudformation-waitcondition-{c.region}.s3.{c.url_suffix}/{c.unique('handle')}",
        attributes={},
    ),
}


def ref_value(kind: str, context: Context) -> str:
    entry = TYPES.get(kind)
    if entry is None or entry.ref is None:
        raise UnknownReturnValue(f"Ref of {context.logical_id} ({kind}): not in tests/conformance/return_values.py")
    return entry.ref(context)


def attribute_value(kind: str, attribute: str, context: Context) -> str:
    entry = TYPES.get(kind)
    if entry is None or attribute not in entry.attributes:
        raise UnknownReturnValue(
            f"Fn::GetAtt {context.logical_id}.{attribute} ({kind}): not in tests/conformance/return_values.py"
        )
    return entry.attributes[attribute](context)
