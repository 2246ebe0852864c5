"""Nothing the template repeats by hand can be forgotten: TLS-only policies and the alarms of DLQs and functions.

template.yaml writes each deny-insecure-transport policy and each alarm out in full. The rules it
follows today, checked here on the template AWS deploys (template.yaml after the SAM transform, where
each AWS::Serverless::Function is an AWS::Lambda::Function of the same logical id):

- every AWS::SQS::Queue, AWS::SNS::Topic and AWS::S3::Bucket is named by a policy resource
  (QueuePolicy, TopicPolicy, BucketPolicy) holding a statement that denies every action of the service
  to every principal when aws:SecureTransport is false, on the resource's ARN (a bucket: on the bucket
  and on its objects);
- every dead-letter queue (a queue that some resource names under a RedrivePolicy's
  deadLetterTargetArn, a DeadLetterConfig or an OnFailure destination) has an alarm on its
  ApproximateNumberOfMessagesVisible;
- every function has an alarm on its Errors and one on its Throttles.

An alarm counts only if it fires on the first message, error or throttle, and notifies: it publishes
to an SNS topic of the stack and its name starts with "${AWS::StackName}-" (the only alarms
AlertsTopicPolicy lets publish). A policy or alarm counts only if it exists whenever the resource it
covers does (no Condition, or the same one). The mutated templates below show each rule rejecting a
template that breaks it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from emulator import prepare_template
from tests.conformance.resolve import transformed_template
from tests.conformance.workload_stacks import rendered_template_path
from tests.support.figures import figure

Template = dict[str, Any]

# Resource type -> (the policy type that can cover it, the policy property naming what it covers, IAM service prefix)
TLS_POLICIES = {
    "AWS::SQS::Queue": ("AWS::SQS::QueuePolicy", "Queues", "sqs"),
    "AWS::SNS::Topic": ("AWS::SNS::TopicPolicy", "Topics", "sns"),
    "AWS::S3::Bucket": ("AWS::S3::BucketPolicy", "Bucket", "s3"),
}
# Properties under which a queue ARN makes that queue a dead-letter queue.
DEAD_LETTER_KEYS = frozenset({"deadLetterTargetArn", "DeadLetterConfig", "OnFailure"})
FUNCTION_ALARM_METRICS = ("Errors", "Throttles")


# ------------------------------------------------------------------------------------ reading the template
def _resources(template: Mapping[str, Any], kind: str) -> dict[str, Mapping[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _as_text(value: Any) -> str | None:
    """A value as the Fn::Sub text it stands for ({"Ref": X} -> "${X}", GetAtt X.Y -> "${X.Y}"); None if unknown."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((function, argument),) = value.items()
    if function == "Ref":
        return f"${{{argument}}}"
    if function == "Fn::GetAtt":
        return f"${{{'.'.join(argument) if isinstance(argument, list) else argument}}}"
    if function == "Fn::Sub" and isinstance(argument, str):
        return argument
    if function == "Fn::Join" and isinstance(argument, list) and argument[0] == "":
        parts = [_as_text(part) for part in argument[1]]
        return None if None in parts else "".join(part for part in parts if part is not None)
    return None


def _exists_whenever(covering: Mapping[str, Any], covered: Mapping[str, Any]) -> bool:
    return covering.get("Condition") in (None, covered.get("Condition"))


# ------------------------------------------------------------------------------------ TLS-only policies
def _denies_plain_http(statement: Mapping[str, Any], service: str, arns: set[str]) -> bool:
    condition = statement.get("Condition")
    secure_transport = condition.get("Bool", {}).get("aws:SecureTransport") if isinstance(condition, dict) else None
    resources = {_as_text(resource) for resource in _as_list(statement.get("Resource"))}
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and any(action in (f"{service}:*", "*") for action in _as_list(statement.get("Action")))
        and condition == {"Bool": {"aws:SecureTransport": secure_transport}}
        and str(secure_transport).lower() == "false"
        and ("*" in resources or arns <= resources)
    )


def _arns_to_deny(kind: str, name: str) -> set[str]:
    if kind == "AWS::SNS::Topic":
        return {f"${{{name}}}"}  # a topic's Ref is its ARN
    if kind == "AWS::S3::Bucket":
        return {f"${{{name}.Arn}}", f"${{{name}.Arn}}/*"}
    return {f"${{{name}.Arn}}"}


def resources_without_tls_policy(template: Mapping[str, Any]) -> list[str]:
    gaps = []
    for kind, (policy_kind, targets_key, service) in TLS_POLICIES.items():
        policies = _resources(template, policy_kind).values()
        for name, resource in _resources(template, kind).items():
            arns = _arns_to_deny(kind, name)
            if not any(
                _exists_whenever(policy, resource)
                and {"Ref": name} in _as_list(policy["Properties"][targets_key])
                and any(
                    _denies_plain_http(statement, service, arns)
                    for statement in _as_list(policy["Properties"]["PolicyDocument"]["Statement"])
                )
                for policy in policies
            ):
                gaps.append(f"{kind} {name}: no {policy_kind} denies it requests without TLS")
    return gaps


# ------------------------------------------------------------------------------------ alarms
def dead_letter_queues(template: Mapping[str, Any]) -> set[str]:
    """Queues some resource sends what it could not deliver or process to."""
    arns = {f"${{{name}.Arn}}": name for name in _resources(template, "AWS::SQS::Queue")}

    def named_under_dead_letter_key(node: Any, under: bool) -> Iterator[str]:
        if under and _as_text(node) in arns:
            yield arns[str(_as_text(node))]
        elif isinstance(node, dict):
            for key, value in node.items():
                yield from named_under_dead_letter_key(value, under or key in DEAD_LETTER_KEYS)
        elif isinstance(node, list):
            for item in node:
                yield from named_under_dead_letter_key(item, under)

    return {
        queue
        for resource in template["Resources"].values()
        for queue in named_under_dead_letter_key(resource.get("Properties", {}), False)
    }


def _alarms_on(
    template: Mapping[str, Any], covered: Mapping[str, Any], namespace: str, metric: str, dimension: tuple[str, str]
) -> list[str]:
    """The alarms that fire on the first datapoint above zero of this metric and notify the stack's topic."""
    topics = {f"${{{name}}}" for name in _resources(template, "AWS::SNS::Topic")}
    found = []
    for name, alarm in _resources(template, "AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        dimensions = {(d["Name"], _as_text(d["Value"])) for d in properties.get("Dimensions", [])}
        operator, threshold = properties.get("ComparisonOperator"), properties.get("Threshold")
        fires_on_first = (operator, threshold) in (("GreaterThanThreshold", 0), ("GreaterThanOrEqualToThreshold", 1))
        if (
            _exists_whenever(alarm, covered)
            and (properties.get("Namespace"), properties.get("MetricName")) == (namespace, metric)
            and dimensions == {dimension}
            and fires_on_first
            and str(_as_text(properties.get("AlarmName"))).startswith("${AWS::StackName}-")
            and any(_as_text(action) in topics for action in properties.get("AlarmActions", []))
        ):
            found.append(name)
    return found


def queues_and_functions_without_alarm(template: Mapping[str, Any]) -> list[str]:
    gaps = []
    queues = _resources(template, "AWS::SQS::Queue")
    for name in sorted(dead_letter_queues(template)):
        visible = "ApproximateNumberOfMessagesVisible"
        if not _alarms_on(template, queues[name], "AWS/SQS", visible, ("QueueName", f"${{{name}.QueueName}}")):
            gaps.append(f"dead-letter queue {name}: no alarm on {visible}")
    for name, function in _resources(template, "AWS::Lambda::Function").items():
        for metric in FUNCTION_ALARM_METRICS:
            if not _alarms_on(template, function, "AWS/Lambda", metric, ("FunctionName", f"${{{name}}}")):
                gaps.append(f"function {name}: no alarm on {metric}")
    return gaps


def completeness_gaps(template: Mapping[str, Any]) -> list[str]:
    return resources_without_tls_policy(template) + queues_and_functions_without_alarm(template)


# ------------------------------------------------------------------------------------ the real template
@pytest.fixture(scope="module")
def deployed_template() -> Template:
    return prepare_template().cloudformation


def test_every_queue_topic_and_bucket_refuses_plain_http_and_every_dlq_and_function_alarms(
    deployed_template: Template,
) -> None:
    # Given template.yaml as AWS deploys it
    template = deployed_template

    # When its resources are checked against the rules it follows
    gaps = completeness_gaps(template)

    # Then nothing is missing
    assert gaps == []
    covered = {kind: len(_resources(template, kind)) for kind in TLS_POLICIES}
    figure(
        "Security (template completeness)",
        f"{covered['AWS::SQS::Queue']} queues, {covered['AWS::SNS::Topic']} topic, {covered['AWS::S3::Bucket']} "
        f"bucket: each denies requests without TLS; {len(dead_letter_queues(template))} dead-letter queues and "
        f"{len(_resources(template, 'AWS::Lambda::Function'))} functions: each with its alarms",
    )


# ------------------------------------------------------------------------------------ mutated templates
def _add_queue(template: Template, name: str, *, with_policy: bool) -> None:
    template["Resources"][name] = {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}}
    if with_policy:
        policy = copy.deepcopy(template["Resources"]["SubmitDLQPolicy"])
        policy["Properties"]["Queues"] = [{"Ref": name}]
        document = policy["Properties"]["PolicyDocument"]
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") == "DenyInsecureTransport"]
        document["Statement"][0]["Resource"] = {"Fn::GetAtt": [name, "Arn"]}
        template["Resources"][f"{name}Policy"] = policy


def _delete(*names: str) -> Callable[[Template], None]:
    def mutate(template: Template) -> None:
        for name in names:
            del template["Resources"][name]

    return mutate


def _add_queue_without_policy(template: Template) -> None:
    _add_queue(template, "ReportQueue", with_policy=False)


def _deny_only_the_bucket_not_its_objects(template: Template) -> None:
    (statement,) = template["Resources"]["InputBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statement["Resource"] = [{"Fn::GetAtt": ["InputBucket", "Arn"]}]


def _deny_only_plain_http_publishes(template: Template) -> None:
    statements = template["Resources"]["AlertsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    next(s for s in statements if s.get("Effect") == "Deny")["Action"] = "sns:Publish"  # (Fn::If: no Effect)


def _make_the_queue_policy_conditional(template: Template) -> None:
    template["Resources"]["ScheduleDLQPolicy"]["Condition"] = "HasAlertEmail"


def _redrive_a_new_queue_to_a_new_dlq(template: Template) -> None:
    _add_queue(template, "ReportDLQ", with_policy=True)
    _add_queue(template, "ReportQueue", with_policy=True)
    properties = template["Resources"]["ReportQueue"]["Properties"]
    properties["RedrivePolicy"] = {"deadLetterTargetArn": {"Fn::GetAtt": ["ReportDLQ", "Arn"]}, "maxReceiveCount": 5}


def _send_failed_invocations_to_a_new_dlq(template: Template) -> None:
    _add_queue(template, "ReportDLQ", with_policy=True)
    config = template["Resources"]["SubmitScheduledFunctionEventInvokeConfig"]["Properties"]["DestinationConfig"]
    config["OnFailure"]["Destination"] = {"Fn::GetAtt": ["ReportDLQ", "Arn"]}


def _send_undelivered_events_to_a_new_dlq(template: Template) -> None:
    _add_queue(template, "ReportDLQ", with_policy=True)
    (target,) = template["Resources"]["TrackJobsFunctionBatchEvents"]["Properties"]["Targets"]
    target["DeadLetterConfig"]["Arn"] = {"Fn::GetAtt": ["ReportDLQ", "Arn"]}


def _alarm_without_action(template: Template) -> None:
    del template["Resources"]["WatchdogDLQAlarm"]["Properties"]["AlarmActions"]


def _alarm_outside_the_stack_prefix(template: Template) -> None:
    template["Resources"]["TrackJobsThrottlesAlarm"]["Properties"]["AlarmName"] = "track_jobs-throttles"


def _alarm_only_after_five_errors(template: Template) -> None:
    template["Resources"]["SubmitScheduledErrorsAlarm"]["Properties"]["Threshold"] = 5


def _add_function_without_alarms(template: Template) -> None:
    function = copy.deepcopy(template["Resources"]["WatchdogFunction"])
    template["Resources"]["ReportFunction"] = function


MUTATIONS = [
    pytest.param(
        _delete("SubmitDLQPolicy"),
        ["AWS::SQS::Queue SubmitDLQ: no AWS::SQS::QueuePolicy denies it requests without TLS"],
        id="a queue's policy deleted",
    ),
    pytest.param(
        _add_queue_without_policy,
        ["AWS::SQS::Queue ReportQueue: no AWS::SQS::QueuePolicy denies it requests without TLS"],
        id="a new queue without policy",
    ),
    pytest.param(
        _make_the_queue_policy_conditional,
        ["AWS::SQS::Queue ScheduleDLQ: no AWS::SQS::QueuePolicy denies it requests without TLS"],
        id="a queue's policy only under a condition",
    ),
    pytest.param(
        _deny_only_the_bucket_not_its_objects,
        ["AWS::S3::Bucket InputBucket: no AWS::S3::BucketPolicy denies it requests without TLS"],
        id="a bucket policy that leaves the objects out",
    ),
    pytest.param(
        _deny_only_plain_http_publishes,
        ["AWS::SNS::Topic AlertsTopic: no AWS::SNS::TopicPolicy denies it requests without TLS"],
        id="a topic policy denying one action only",
    ),
    pytest.param(
        _delete("TrackingDLQAlarm"),
        ["dead-letter queue TrackingDLQ: no alarm on ApproximateNumberOfMessagesVisible"],
        id="a DLQ alarm deleted",
    ),
    pytest.param(
        _redrive_a_new_queue_to_a_new_dlq,
        ["dead-letter queue ReportDLQ: no alarm on ApproximateNumberOfMessagesVisible"],
        id="a new RedrivePolicy target without alarm",
    ),
    pytest.param(
        _send_failed_invocations_to_a_new_dlq,
        ["dead-letter queue ReportDLQ: no alarm on ApproximateNumberOfMessagesVisible"],
        id="a new on-failure destination without alarm",
    ),
    pytest.param(
        _send_undelivered_events_to_a_new_dlq,
        ["dead-letter queue ReportDLQ: no alarm on ApproximateNumberOfMessagesVisible"],
        id="a new rule DeadLetterConfig without alarm",
    ),
    pytest.param(
        _alarm_without_action,
        ["dead-letter queue WatchdogDLQ: no alarm on ApproximateNumberOfMessagesVisible"],
        id="a DLQ alarm that notifies nobody",
    ),
    pytest.param(
        _delete("SubmitJobsErrorsAlarm"),
        ["function SubmitJobsFunction: no alarm on Errors"],
        id="a function's Errors alarm deleted",
    ),
    pytest.param(
        _alarm_outside_the_stack_prefix,
        ["function TrackJobsFunction: no alarm on Throttles"],
        id="an alarm AlertsTopicPolicy does not let publish",
    ),
    pytest.param(
        _alarm_only_after_five_errors,
        ["function SubmitScheduledFunction: no alarm on Errors"],
        id="an alarm that misses the first errors",
    ),
    pytest.param(
        _add_function_without_alarms,
        ["function ReportFunction: no alarm on Errors", "function ReportFunction: no alarm on Throttles"],
        id="a new function without alarms",
    ),
]


@pytest.mark.parametrize(("mutate", "expected_gaps"), MUTATIONS)
def test_a_template_missing_a_policy_or_an_alarm_is_rejected(
    deployed_template: Template, mutate: Callable[[Template], None], expected_gaps: list[str]
) -> None:
    # Given the deployed template with one policy or alarm missing, or one resource added without it
    template = copy.deepcopy(deployed_template)
    mutate(template)

    # When it is checked
    gaps = completeness_gaps(template)

    # Then exactly that gap is reported
    assert gaps == expected_gaps


# ------------------------------------------------------------------------------------ a rendered table
def test_a_rendered_two_workload_template_keeps_every_rule() -> None:
    # Given template.yaml rendered from two workloads (a Spot queue, job definitions, a schedule and its role)
    template = transformed_template(template_path=rendered_template_path())

    # Then the schedule's dead-letter queue keeps its alarm and nothing else is missing either
    assert completeness_gaps(template) == []
    assert "ScheduleDLQ" in dead_letter_queues(template)
    assert "WorkloadReportsNightlySchedule" in template["Resources"]
