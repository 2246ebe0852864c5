"""The deferred resources: what moto's CloudFormation cannot create, created through the service APIs.

``template_shims`` takes these resources (and the properties moto ignores) out of the template and
has an output carry their properties; moto resolves every Ref, GetAtt, Sub and If in them. Once
the stack is complete, ``apply_deferred_resources`` makes one API call per item, as CloudFormation
would have: schedules, EventInvokeConfigs, SNS subscriptions, queue and topic policies, alarms,
bucket and table settings (a bucket policy is recorded, not applied: see ``_record_bucket_policy``).

The invariant: an item whose output is missing (its Condition is false) is not created, as on AWS;
a created one is recorded in ``stack.resources`` under its logical id (settings are not resources).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from batch_orchestrator.limits import NAME_RULES
from emulator.template_shims import BUCKET_SETTINGS, SETTINGS_SUFFIX, TABLE_SETTINGS, Deferred

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack

SCHEDULE_NAME_MAX_LENGTH = NAME_RULES[("AWS::Scheduler::Schedule", "Name")].max_length


def apply_deferred_resources(stack: EmulatedStack, deferred: list[Deferred], outputs: Mapping[str, str]) -> None:
    """Create the deferred resources whose output the stack has, and record their physical ids."""
    for item in _in_apply_order(deferred):
        if item.output_key not in outputs:
            continue  # its Condition is false: AWS would not create it either
        properties = json.loads(outputs[item.output_key])
        physical_id = DEFERRED_APPLIERS[item.kind](stack, item, properties)
        if not item.kind.endswith(SETTINGS_SUFFIX):
            stack.resources[item.logical_id] = physical_id


def _in_apply_order(items: list[Deferred]) -> list[Deferred]:
    """Policies first, bucket settings next (their test event needs the queue policy on AWS), the rest after."""
    order = {
        "AWS::SQS::QueuePolicy": 0,
        "AWS::SNS::TopicPolicy": 0,
        "AWS::S3::BucketPolicy": 0,
        BUCKET_SETTINGS: 1,
        TABLE_SETTINGS: 1,
    }
    return sorted(items, key=lambda item: order.get(item.kind, 2))


def _apply_schedule(stack: EmulatedStack, deferred: Deferred, properties: dict[str, Any]) -> str:
    keys = (
        "Description",
        "EndDate",
        "FlexibleTimeWindow",
        "GroupName",
        "KmsKeyArn",
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "StartDate",
        "State",
        "Target",
    )
    name = properties.get("Name") or f"{stack.name}-{deferred.logical_id}"[:SCHEDULE_NAME_MAX_LENGTH]
    arguments = {key: properties[key] for key in keys if key in properties}
    stack.client("scheduler").create_schedule(Name=name, **arguments)
    return str(name)


def _apply_event_invoke_config(stack: EmulatedStack, deferred: Deferred, properties: dict[str, Any]) -> str:
    keys = ("FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
    stack.client("lambda").put_function_event_invoke_config(**{k: properties[k] for k in keys if k in properties})
    return f"{properties['FunctionName']}:{properties.get('Qualifier', '$LATEST')}"


def _apply_subscription(stack: EmulatedStack, deferred: Deferred, properties: dict[str, Any]) -> str:
    attribute_names = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
    attributes = {
        name: value if isinstance(value, str) else json.dumps(value)
        for name in attribute_names
        if (value := properties.get(name)) is not None
    }
    response = stack.client("sns").subscribe(
        TopicArn=properties["TopicArn"],
        Protocol=properties["Protocol"],
        Endpoint=properties.get("Endpoint", ""),
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )
    return str(response["SubscriptionArn"])


def _apply_queue_policy(stack: EmulatedStack, deferred: Deferred, properties: dict[str, Any]) -> str:
    policy = json.dumps(properties["PolicyDocument"])
    for queue_url in properties["Queues"]:
        stack.client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    return f"{stack.name}-{deferred.logical_id}"


def _apply_topic_policy(stack: EmulatedStack, deferred: Deferred, properties: dict[str, Any]) -> str:
    policy = json.dumps(properties["PolicyDocument"])
    for topic_arn in properties["Topics"]:
        stack.client("sns").set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=policy)
    return f"{stack.name}-{deferred.logical_id}"


def _record_bucket_policy(stack: EmulatedStack, deferred: Deferred, properties: dict[str, Any]) -> str:
    """Not applied: moto 5.2 evaluates bucket policies on object requests, but it denies on any
    statement whose Condition it cannot match, whatever its Effect. A TLS-only policy (Deny when
    aws:SecureTransport is false) would then refuse every upload. The resolved policy is kept in
    ``stack.unapplied_bucket_policies`` for tests that want to look at it."""
    stack.unapplied_bucket_policies[str(properties["Bucket"])] = properties["PolicyDocument"]
    return str(properties["Bucket"])


def _apply_bucket_settings(stack: EmulatedStack, deferred: Deferred, settings: dict[str, Any]) -> str:
    s3 = stack.client("s3")
    bucket = stack.resources[deferred.logical_id]
    if "VersioningConfiguration" in settings:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": settings["VersioningConfiguration"]["Status"]}
        )
    if "PublicAccessBlockConfiguration" in settings:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=settings["PublicAccessBlockConfiguration"]
        )
    if "NotificationConfiguration" in settings:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration=notification_configuration_for_api(settings["NotificationConfiguration"]),
        )
    return bucket


def _apply_table_settings(stack: EmulatedStack, deferred: Deferred, settings: dict[str, Any]) -> str:
    dynamodb = stack.client("dynamodb")
    table = stack.resources[deferred.logical_id]
    ttl = settings.get("TimeToLiveSpecification")
    if ttl and _truthy(ttl.get("Enabled")):
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    pitr = settings.get("PointInTimeRecoverySpecification")
    if pitr and _truthy(pitr.get("PointInTimeRecoveryEnabled")):
        dynamodb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    if "DeletionProtectionEnabled" in settings:
        dynamodb.update_table(TableName=table, DeletionProtectionEnabled=_truthy(settings["DeletionProtectionEnabled"]))
    return table


def _truthy(value: Any) -> bool:
    """A CloudFormation Boolean: true, or the string "true" a parameter passes."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def notification_configuration_for_api(cfn: Mapping[str, Any]) -> dict[str, Any]:
    """AWS::S3::Bucket NotificationConfiguration (CloudFormation shape) → PutBucketNotificationConfiguration."""
    api: dict[str, Any] = {}
    for cfn_key, api_key, target_key, api_target_key in (
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
    ):
        configurations = []
        for item in cfn.get(cfn_key, []):
            configuration: dict[str, Any] = {api_target_key: item[target_key], "Events": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                configuration["Filter"] = {
                    "Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}
                }
            configurations.append(configuration)
        if configurations:
            api[api_key] = configurations
    if cfn.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        api["EventBridgeConfiguration"] = {}
    return api


def _apply_alarm(stack: EmulatedStack, deferred: Deferred, properties: dict[str, Any]) -> str:
    """AWS::CloudWatch::Alarm → PutMetricAlarm (the template's single-metric alarms; same property names)."""
    keys = (
        "AlarmDescription",
        "ActionsEnabled",
        "AlarmActions",
        "OKActions",
        "InsufficientDataActions",
        "Namespace",
        "MetricName",
        "Dimensions",
        "Statistic",
        "ExtendedStatistic",
        "Period",
        "Unit",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
    )
    numbers = {"Period": int, "EvaluationPeriods": int, "DatapointsToAlarm": int, "Threshold": float}
    arguments = {key: numbers.get(key, _same)(properties[key]) for key in keys if key in properties}
    if isinstance(arguments.get("ActionsEnabled"), str):
        arguments["ActionsEnabled"] = _truthy(arguments["ActionsEnabled"])
    name = properties.get("AlarmName") or f"{stack.name}-{deferred.logical_id}"
    stack.client("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)
    return str(name)


def _same(value: Any) -> Any:
    return value


DEFERRED_APPLIERS: dict[str, Callable[[EmulatedStack, Deferred, dict[str, Any]], str]] = {
    "AWS::Scheduler::Schedule": _apply_schedule,
    "AWS::Lambda::EventInvokeConfig": _apply_event_invoke_config,
    "AWS::SNS::Subscription": _apply_subscription,
    "AWS::SNS::TopicPolicy": _apply_topic_policy,
    "AWS::SQS::QueuePolicy": _apply_queue_policy,
    "AWS::S3::BucketPolicy": _record_bucket_policy,
    "AWS::CloudWatch::Alarm": _apply_alarm,
    BUCKET_SETTINGS: _apply_bucket_settings,
    TABLE_SETTINGS: _apply_table_settings,
}
