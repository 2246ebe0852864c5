# Over 400 lines on purpose: support code, no tests: one table of every request the stack makes at run time.
"""Every request the deployed stack makes at run time, as AWS authorises it, and AWS's decision on it.

Built from the resolved stack (real names and ARNs, ``resolve.py``), never typed as literals:

* the functions' own calls (``calls.OPERATIONS`` / ``FUNCTION_OPERATIONS``, checked against the code);
* what Lambda does with each function's role: its log stream (LoggingConfig), X-Ray segments (Tracing),
  the SQS event source mapping's polling, the on-failure destinations of asynchronous invocations;
* Batch on Fargate: the task execution role pulls a private ECR image of the account and writes the job's
  awslogs stream (``<awslogs-stream-prefix>/default/<task id>``); the job role reads its input object,
  lists the bucket under the input key (so a missing object answers 404, not 403) and writes results;
* services acting on their own: S3 notifications to the queue, the EventBridge rule invoking track_jobs
  and writing its dead-letter queue, CloudWatch alarms publishing to the encrypted alerts topic, and
  EventBridge Scheduler through the roles SAM generates;
* every sts:AssumeRole a service makes into the stack's roles (trust policies), with the context keys the
  service documents.

Every role-made request carries aws:SecureTransport=true (the SDKs and agents use TLS), aws:PrincipalArn
and aws:PrincipalAccount; a service's request carries the aws:SourceArn/aws:SourceAccount the service
documents setting. ``decide`` evaluates each resource of each request with ``iam.evaluate``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_orchestrator.object_manifests import objects_manifest_key
from batch_orchestrator.workloads import ManifestSource
from tests.conformance.calls import OPERATIONS, Scope, functions_of, runtime_workloads, topic_key_arn
from tests.conformance.iam import ContextValue, Decision, Principal, Request, evaluate, role, service
from tests.conformance.iam_database import TypedResource
from tests.conformance.policies import identity_policies, resource_policy, role_logical_id
from tests.conformance.resolve import ResolvedStack, UnresolvableError

SAMPLE_INPUT_KEY = "reports/2026/report 2026.csv"  # under InputPrefix
SAMPLE_RUN_ID = "s3-4cef758b2fc44b4843339f60"
SAMPLE_TASK_ID = "7d2a5b3e4f6c4a0b9c8d7e6f5a4b3c32"
SAMPLE_LAMBDA_STREAM = "2026/11/21/[$LATEST]5b0e3f1c2d4a4e8f9a7b6c5d4e3f2a10"
_PRIVATE_ECR = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?::[^@]+)?(?:@.+)?")


@dataclass(frozen=True)
class Call:
    """One request AWS authorises: who makes it, why, and what it names."""

    who: str  # the actor, e.g. "SubmitJobsFunction (code)" or "s3.amazonaws.com (InputBucket notifications)"
    why: str
    principal: Principal
    role: str | None  # the logical id of the role whose identity policies apply (None for a service principal)
    action: str
    resources: tuple[TypedResource, ...]
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def describe(self, resource: TypedResource | None = None) -> str:
        target = resource.arn if resource is not None else ", ".join(r.arn for r in self.resources)
        return f"{self.who}: {self.action} on {target} ({self.why})"


def all_calls(stack: ResolvedStack) -> list[Call]:
    return [
        *function_code_calls(stack),
        *lambda_runtime_calls(stack),
        *event_source_calls(stack),
        *destination_calls(stack),
        *batch_job_calls(stack),
        *scheduler_calls(stack),
        *event_rule_calls(stack),
        *s3_notification_calls(stack),
        *alarm_calls(stack),
        *trust_calls(stack),
    ]


def decide(stack: ResolvedStack, call: Call) -> list[tuple[TypedResource, Decision]]:
    """AWS's decision for each resource of the call (all must be allowed for the call to succeed)."""
    identity = identity_policies(stack, call.role) if call.role is not None else []
    decisions = []
    for resource in call.resources:
        policy, mode = resource_policy(stack, call.action, resource.arn)
        request = Request(call.principal, call.action, resource.arn, call.context)
        decisions.append((resource, evaluate(request, identity, policy, mode=mode)))
    return decisions


# ------------------------------------------------------------------------------------------ helpers
def _role_call(
    stack: ResolvedStack,
    role_id: str,
    who: str,
    why: str,
    action: str,
    resources: tuple[TypedResource, ...],
    context: Mapping[str, ContextValue] | None = None,
) -> Call:
    arn = stack.get_att(role_id, "Arn")
    keys: dict[str, ContextValue] = {
        "aws:SecureTransport": True,
        "aws:PrincipalArn": arn,
        "aws:PrincipalAccount": stack.account_id,
        **(context or {}),
    }
    return Call(who, why, role(arn), role_id, action, resources, keys)


def _service_call(
    principal: str, who: str, why: str, action: str, resource: TypedResource, context: Mapping[str, ContextValue]
) -> Call:
    return Call(f"{principal} ({who})", why, service(principal), None, action, (resource,), dict(context))


def _arn(stack: ResolvedStack, service_name: str, resource: str) -> str:
    return f"arn:{stack.partition}:{service_name}:{stack.region}:{stack.account_id}:{resource}"


def _function_role(stack: ResolvedStack, function: str) -> str:
    return role_logical_id(stack, str(stack.resources[function].properties["Role"]))


def _function_by_name(stack: ResolvedStack, name_or_arn: str) -> str:
    for logical_id in stack.of_type("AWS::Lambda::Function"):
        if name_or_arn in (stack.ref(logical_id), stack.get_att(logical_id, "Arn")):
            return logical_id
    raise UnresolvableError(f"{name_or_arn} is not a function of the stack")


def _typed(stack: ResolvedStack, arn: str) -> TypedResource:
    """The IAM resource type of a destination/target ARN the template names."""
    service_name = arn.split(":")[2]
    kinds = {"sqs": "queue", "sns": "topic", "lambda": "function"}
    if service_name not in kinds:
        raise UnresolvableError(f"{arn}: destinations of service {service_name!r} are not modelled")
    return TypedResource(kinds[service_name], arn)


_DELIVERY_ACTIONS = {"queue": "sqs:SendMessage", "topic": "sns:Publish", "function": "lambda:InvokeFunction"}


# ------------------------------------------------------------------------------------------ functions
def function_code_calls(stack: ResolvedStack) -> list[Call]:
    functions = set(stack.of_type("AWS::Lambda::Function"))
    table = functions_of(functions)
    if functions != set(table):
        raise UnresolvableError(f"functions {sorted(functions)} differ from FUNCTION_OPERATIONS {sorted(table)}")
    calls = []
    for function, operations in table.items():
        scope = Scope(stack, function, stack.function_environment(function))
        role_id = _function_role(stack, function)
        for operation, condition in operations.items():
            if condition is not None and not stack.conditions[condition]:
                continue
            for authorised in OPERATIONS[operation](scope):
                why = f"code: {operation}" + (f", {authorised.note}" if authorised.note else "")
                calls.append(
                    _role_call(
                        stack,
                        role_id,
                        f"{function} (code)",
                        why,
                        authorised.action,
                        authorised.resources,
                        authorised.context,
                    )
                )
    return calls


def lambda_runtime_calls(stack: ResolvedStack) -> list[Call]:
    """The log stream Lambda writes each function's output to, and its X-Ray segments (function role)."""
    calls = []
    for function, resource in stack.of_type("AWS::Lambda::Function").items():
        role_id = _function_role(stack, function)
        group = resource.properties.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{stack.ref(function)}"
        stream = TypedResource(
            "log-stream", _arn(stack, "logs", f"log-group:{group}:log-stream:{SAMPLE_LAMBDA_STREAM}")
        )
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            calls.append(_role_call(stack, role_id, f"{function} (Lambda)", "function logs", action, (stream,)))
        if resource.properties.get("TracingConfig", {}).get("Mode") == "Active":
            for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
                calls.append(
                    _role_call(
                        stack, role_id, f"{function} (Lambda)", "active tracing", action, (TypedResource(None, "*"),)
                    )
                )
    return calls


_QUEUE_POLLING = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")
# "Lambda permissions for DynamoDB streams": the mapping reads the stream with the function's role.
_STREAM_POLLING = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")


def event_source_calls(stack: ResolvedStack) -> list[Call]:
    """An event source mapping polls with the function's role (Lambda Developer Guide: SQS, DynamoDB streams), and
    sends what it gives up on to its OnFailure destination with that role too."""
    calls = []
    for logical_id, mapping in stack.of_type("AWS::Lambda::EventSourceMapping").items():
        source = str(mapping.properties["EventSourceArn"])
        if mapping.properties.get("Enabled") is False:
            continue
        function = _function_by_name(stack, str(mapping.properties["FunctionName"]))
        role_id = _function_role(stack, function)
        who = f"{function} (event source mapping)"
        if source.split(":")[2] == "sqs":
            polled = [(action, TypedResource("queue", source)) for action in _QUEUE_POLLING]
        elif source.split(":")[2] == "dynamodb" and "/stream/" in source:
            polled = [(action, TypedResource("stream", source)) for action in _STREAM_POLLING]
            polled.append(("dynamodb:ListStreams", TypedResource(None, "*")))
        else:
            raise UnresolvableError(f"{logical_id}: event sources other than SQS and DynamoDB streams are not modelled")
        calls += [_role_call(stack, role_id, who, logical_id, action, (resource,)) for action, resource in polled]
        destination = mapping.properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination is not None:
            target = _typed(stack, str(destination))
            action = _DELIVERY_ACTIONS[str(target.type)]
            calls.append(_role_call(stack, role_id, who, f"{logical_id} OnFailure", action, (target,)))
    return calls


def destination_calls(stack: ResolvedStack) -> list[Call]:
    """Lambda sends a failed asynchronous invocation to its destination with the function's role."""
    calls = []
    for logical_id, config in stack.of_type("AWS::Lambda::EventInvokeConfig").items():
        function = _function_by_name(stack, str(config.properties["FunctionName"]))
        for outcome, destination in config.properties.get("DestinationConfig", {}).items():
            target = _typed(stack, str(destination["Destination"]))
            calls.append(
                _role_call(
                    stack,
                    _function_role(stack, function),
                    f"{function} (Lambda destination)",
                    f"{logical_id} {outcome}",
                    _DELIVERY_ACTIONS[str(target.type)],
                    (target,),
                )
            )
    return calls


# ------------------------------------------------------------------------------------------ Batch
def batch_job_calls(stack: ResolvedStack) -> list[Call]:
    calls = []
    for logical_id, definition in stack.of_type("AWS::Batch::JobDefinition").items():
        container = definition.properties["ContainerProperties"]
        calls += _execution_role_calls(stack, logical_id, container)
        calls += _job_role_calls(stack, logical_id, container)
    return calls


def _execution_role_calls(stack: ResolvedStack, definition: str, container: Mapping[str, Any]) -> list[Call]:
    role_id = role_logical_id(stack, str(container["ExecutionRoleArn"]))
    who = f"{role_id} (ECS agent of {definition})"
    calls = []
    image = _PRIVATE_ECR.fullmatch(str(container["Image"]))
    if image is not None and image.group(1) == stack.account_id and image.group(2) == stack.region:
        repository = TypedResource("repository", _arn(stack, "ecr", f"repository/{image.group(3)}"))
        calls.append(
            _role_call(stack, role_id, who, "pull the image", "ecr:GetAuthorizationToken", (TypedResource(None, "*"),))
        )
        for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
            calls.append(_role_call(stack, role_id, who, "pull the image", action, (repository,)))
    logging = container.get("LogConfiguration")
    if not isinstance(logging, Mapping) or logging.get("LogDriver") != "awslogs":
        raise UnresolvableError(f"{definition}: only the awslogs driver with explicit options is modelled")
    options = logging["Options"]
    # The awslogs driver names the stream <awslogs-stream-prefix>/<container name>/<ECS task id>; Batch's
    # container is named "default" (AWS Batch User Guide, "awslogs log driver").
    stream_name = f"{options['awslogs-stream-prefix']}/default/{SAMPLE_TASK_ID}"
    stream = TypedResource(
        "log-stream", _arn(stack, "logs", f"log-group:{options['awslogs-group']}:log-stream:{stream_name}")
    )
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        calls.append(_role_call(stack, role_id, who, "the job's awslogs stream", action, (stream,)))
    return calls


def input_key(stack: ResolvedStack, definition: str) -> str | None:
    """A key the job of ``definition`` gets as its input: under InputPrefix for the stack's own job definition,
    matched by the workload's key rule for a workload's (None: a workload only schedules start)."""
    environment = stack.function_environment("SubmitJobsFunction")
    arn = stack.ref(definition)
    if arn == environment["JOB_DEFINITION_ARN"]:
        return f"{environment['INPUT_PREFIX']}{SAMPLE_INPUT_KEY}"
    name = arn.split(":job-definition/", 1)[1].rsplit(":", 1)[0]  # workloads' job definitions go by name
    (workload,) = [w for w in runtime_workloads(environment) if w.job_definition == name]
    rule = workload.key_rule
    return None if rule is None else f"{rule.prefix}{SAMPLE_INPUT_KEY}{rule.suffix}"


def _job_role_calls(stack: ResolvedStack, definition: str, container: Mapping[str, Any]) -> list[Call]:
    role_id = role_logical_id(stack, str(container["JobRoleArn"]))
    who = f"{role_id} (job of {definition})"
    bucket = input_bucket(stack)
    key = input_key(stack, definition)
    bucket_arn = f"arn:{stack.partition}:s3:::{bucket}"
    calls: list[Call] = []
    if key is not None:
        calls += [
            _role_call(
                stack, role_id, who, "read the input object", action, (TypedResource("object", f"{bucket_arn}/{key}"),)
            )
            for action in ("s3:GetObject", "s3:GetObjectVersion")
        ]
        calls.append(
            _role_call(
                stack,
                role_id,
                who,
                "HeadObject/GetObject of a missing key answers 404 only with ListBucket",
                "s3:ListBucket",
                (TypedResource("bucket", bucket_arn),),
                {"s3:prefix": key},
            )
        )
    environment = {str(item["Name"]): str(item["Value"]) for item in container.get("Environment", [])}
    if "OUTPUT_PREFIX" in environment:
        key = f"{environment['OUTPUT_PREFIX']}{SAMPLE_RUN_ID}/result.json"
        output = f"arn:{stack.partition}:s3:::{environment['OUTPUT_BUCKET']}/{key}"
        calls.append(
            _role_call(stack, role_id, who, "write the result", "s3:PutObject", (TypedResource("object", output),))
        )
        listing = _listing_key(stack, definition, environment["OUTPUT_PREFIX"])
        if listing is not None:  # an upload-directory array's child reads its key from the run's listing
            read = TypedResource("object", f"arn:{stack.partition}:s3:::{environment['OUTPUT_BUCKET']}/{listing}")
            calls.append(_role_call(stack, role_id, who, "read the directory's listing", "s3:GetObject", (read,)))
        previous = _previous_step(stack, definition)
        if previous is not None:  # a pipeline's later step reads what the step before it wrote (docs/pipelines.md)
            earlier = f"{environment['OUTPUT_PREFIX']}{SAMPLE_RUN_ID}/{previous}/"
            read = TypedResource(
                "object", f"arn:{stack.partition}:s3:::{environment['OUTPUT_BUCKET']}/{earlier}0/result.json"
            )
            calls.append(_role_call(stack, role_id, who, "read the previous step's outputs", "s3:GetObject", (read,)))
            calls.append(
                _role_call(
                    stack,
                    role_id,
                    who,
                    "list the previous step's outputs",
                    "s3:ListBucket",
                    (TypedResource("bucket", f"arn:{stack.partition}:s3:::{environment['OUTPUT_BUCKET']}"),),
                    {"s3:prefix": earlier},
                )
            )
    return calls


def _listing_key(stack: ResolvedStack, definition: str, output_prefix: str) -> str | None:
    """The run's listing the job of an upload-directory workload reads (None for any other job definition)."""
    environment = stack.function_environment("SubmitJobsFunction")
    arn = stack.ref(definition)
    if arn == environment["JOB_DEFINITION_ARN"]:
        return None
    name = arn.split(":job-definition/", 1)[1].rsplit(":", 1)[0]
    (workload,) = [w for w in runtime_workloads(environment) if w.job_definition == name]
    if workload.array is None or workload.array.manifest is not ManifestSource.UPLOAD_DIRECTORY:
        return None
    return objects_manifest_key(output_prefix, SAMPLE_RUN_ID, workload.name)


def _previous_step(stack: ResolvedStack, definition: str) -> str | None:
    """The workload before the job definition's in its pipeline (None: no later step of a pipeline)."""
    environment = stack.function_environment("SubmitJobsFunction")
    arn = stack.ref(definition)
    if arn == environment["JOB_DEFINITION_ARN"]:
        return None
    name = arn.split(":job-definition/", 1)[1].rsplit(":", 1)[0]
    workloads = runtime_workloads(environment)
    (workload,) = [w for w in workloads if w.job_definition == name]
    return next((w.name for w in workloads if w.then == workload.name), None)


def input_bucket(stack: ResolvedStack) -> str:
    """The bucket whose notifications feed a queue of the stack."""
    buckets = [
        stack.ref(logical_id)
        for logical_id, bucket in stack.of_type("AWS::S3::Bucket").items()
        if bucket.properties.get("NotificationConfiguration", {}).get("QueueConfigurations")
    ]
    if len(buckets) != 1:
        raise UnresolvableError(f"expected one input bucket, found {buckets}")
    return buckets[0]


# ------------------------------------------------------------------------------------------ services
def scheduler_calls(stack: ResolvedStack) -> list[Call]:
    """EventBridge Scheduler invokes the target and writes the dead-letter queue with the schedule's role."""
    calls = []
    for logical_id, schedule in stack.of_type("AWS::Scheduler::Schedule").items():
        target = schedule.properties["Target"]
        role_id = role_logical_id(stack, str(target["RoleArn"]))
        who = f"{role_id} (scheduler, {logical_id})"
        invoked = _typed(stack, str(target["Arn"]))
        calls.append(
            _role_call(stack, role_id, who, "fire the schedule", _DELIVERY_ACTIONS[str(invoked.type)], (invoked,))
        )
        if "DeadLetterConfig" in target:
            dead = _typed(stack, str(target["DeadLetterConfig"]["Arn"]))
            calls.append(
                _role_call(stack, role_id, who, "dead-letter a firing", _DELIVERY_ACTIONS[str(dead.type)], (dead,))
            )
    return calls


def event_rule_calls(stack: ResolvedStack) -> list[Call]:
    """EventBridge delivers to a Lambda target and to the target's DLQ as events.amazonaws.com, with the
    rule ARN as aws:SourceArn (EventBridge User Guide: resource-based policies, dead-letter queues)."""
    calls = []
    for logical_id, rule in stack.of_type("AWS::Events::Rule").items():
        context = {"aws:SourceArn": stack.get_att(logical_id, "Arn"), "aws:SourceAccount": stack.account_id}
        for target in rule.properties.get("Targets", []):
            if "RoleArn" in target:
                raise UnresolvableError(f"{logical_id}: targets invoked through a role are not modelled")
            delivered = _typed(stack, str(target["Arn"]))
            calls.append(
                _service_call(
                    "events.amazonaws.com",
                    logical_id,
                    "deliver an event",
                    _DELIVERY_ACTIONS[str(delivered.type)],
                    delivered,
                    context,
                )
            )
            key = topic_key_arn(stack, delivered.arn) if delivered.type == "topic" else None
            if key is not None:  # an SSE topic: SNS uses the key on EventBridge's behalf
                calls += [
                    _service_call(
                        "events.amazonaws.com",
                        logical_id,
                        "encrypted topic",
                        action,
                        TypedResource("key", key),
                        context,
                    )
                    for action in ("kms:GenerateDataKey", "kms:Decrypt")
                ]
            if "DeadLetterConfig" in target:
                dead = _typed(stack, str(target["DeadLetterConfig"]["Arn"]))
                calls.append(
                    _service_call(
                        "events.amazonaws.com",
                        logical_id,
                        "dead-letter an event",
                        _DELIVERY_ACTIONS[str(dead.type)],
                        dead,
                        context,
                    )
                )
    return calls


def s3_notification_calls(stack: ResolvedStack) -> list[Call]:
    calls = []
    for logical_id, bucket in stack.of_type("AWS::S3::Bucket").items():
        notifications = bucket.properties.get("NotificationConfiguration", {})
        if set(notifications) - {"QueueConfigurations"}:
            raise UnresolvableError(f"{logical_id}: notifications other than to SQS are not modelled")
        context = {"aws:SourceArn": stack.get_att(logical_id, "Arn"), "aws:SourceAccount": stack.account_id}
        for configuration in notifications.get("QueueConfigurations", []):
            queue = TypedResource("queue", str(configuration["Queue"]))
            calls.append(
                _service_call(
                    "s3.amazonaws.com",
                    f"{logical_id} notifications",
                    "an object was created",
                    "sqs:SendMessage",
                    queue,
                    context,
                )
            )
    return calls


def alarm_calls(stack: ResolvedStack) -> list[Call]:
    """Every alarm action that is a topic: CloudWatch publishes as cloudwatch.amazonaws.com with the alarm's
    ARN as aws:SourceArn, and, for an encrypted topic, SNS uses the key on CloudWatch's behalf."""
    calls = []
    for logical_id, alarm in stack.of_type("AWS::CloudWatch::Alarm").items():
        context = {"aws:SourceArn": stack.get_att(logical_id, "Arn"), "aws:SourceAccount": stack.account_id}
        actions = [*alarm.properties.get("AlarmActions", []), *alarm.properties.get("OKActions", [])]
        actions += alarm.properties.get("InsufficientDataActions", [])
        for action in dict.fromkeys(str(a) for a in actions):
            if action.split(":")[2] != "sns":
                raise UnresolvableError(f"{logical_id}: alarm action {action} is not modelled")
            calls.append(
                _service_call(
                    "cloudwatch.amazonaws.com",
                    logical_id,
                    "alarm notification",
                    "sns:Publish",
                    TypedResource("topic", action),
                    context,
                )
            )
            key = topic_key_arn(stack, action)
            if key is not None:
                for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    calls.append(
                        _service_call(
                            "cloudwatch.amazonaws.com",
                            logical_id,
                            "encrypted topic",
                            kms_action,
                            TypedResource("key", key),
                            context,
                        )
                    )
    return calls


def trust_calls(stack: ResolvedStack) -> list[Call]:
    """Each role a service assumes at run time, with the context keys the service documents setting."""
    assumed: list[tuple[str, str, str, Mapping[str, ContextValue]]] = []
    for function in stack.of_type("AWS::Lambda::Function"):
        # No context keys: the Lambda guide documents none for assuming the execution role, so a trust
        # condition on aws:SourceArn/aws:SourceAccount would be evaluated as a missing key (and denied).
        assumed.append((_function_role(stack, function), "lambda.amazonaws.com", f"runs {function}", {}))
    for definition, resource in stack.of_type("AWS::Batch::JobDefinition").items():
        container = resource.properties["ContainerProperties"]
        # ECS sets aws:SourceAccount and aws:SourceArn (an ECS resource of the account) when it assumes
        # task roles (Amazon ECS Developer Guide, task IAM role: "ArnLike aws:SourceArn arn:aws:ecs:...").
        task = _arn(stack, "ecs", f"task/AWSBatch-{definition}/{SAMPLE_TASK_ID}")
        ecs = {"aws:SourceAccount": stack.account_id, "aws:SourceArn": task}
        for property_name in ("ExecutionRoleArn", "JobRoleArn"):
            assumed.append(
                (
                    role_logical_id(stack, str(container[property_name])),
                    "ecs-tasks.amazonaws.com",
                    f"{definition} {property_name}",
                    ecs,
                )
            )
    assumed += _instance_role_trust(stack)
    for logical_id, schedule in stack.of_type("AWS::Scheduler::Schedule").items():
        group = schedule.properties.get("GroupName", "default")
        # EventBridge Scheduler sets aws:SourceArn to the schedule group's ARN (Scheduler User Guide,
        # "Confused deputy prevention") and aws:SourceAccount.
        context = {
            "aws:SourceAccount": stack.account_id,
            "aws:SourceArn": _arn(stack, "scheduler", f"schedule-group/{group}"),
        }
        assumed.append(
            (
                role_logical_id(stack, str(schedule.properties["Target"]["RoleArn"])),
                "scheduler.amazonaws.com",
                logical_id,
                context,
            )
        )
    return [
        _service_call(
            principal,
            why,
            "assume the role",
            "sts:AssumeRole",
            TypedResource("role", stack.get_att(role_id, "Arn")),
            context,
        )
        for role_id, principal, why, context in assumed
    ]


def _instance_role_trust(stack: ResolvedStack) -> list[tuple[str, str, str, Mapping[str, ContextValue]]]:
    """EC2 assumes the role of an EC2 compute environment's instance profile for each instance Batch launches
    (no context keys are documented for it). Fargate compute environments have no InstanceRole."""
    assumed: list[tuple[str, str, str, Mapping[str, ContextValue]]] = []
    profiles = {stack.get_att(p, "Arn"): p for p in stack.of_type("AWS::IAM::InstanceProfile")}
    roles = {stack.ref(r): r for r in stack.of_type("AWS::IAM::Role")}
    for environment_id, environment in stack.of_type("AWS::Batch::ComputeEnvironment").items():
        profile_arn = environment.properties["ComputeResources"].get("InstanceRole")
        if profile_arn is None:
            continue
        profile = stack.resources[profiles[str(profile_arn)]]
        for role_name in profile.properties["Roles"]:
            assumed.append((roles[str(role_name)], "ec2.amazonaws.com", f"instances of {environment_id}", {}))
    return assumed
