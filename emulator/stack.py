"""Create the stack of template.yaml inside moto and read back what it made.

Works against in-process moto (inside ``moto.mock_aws()``) and against a moto server
(``AWS_ENDPOINT_URL`` set). Every read goes through the AWS APIs, so tests see what the
template actually produced, not what we think it should produce.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from emulator import moto_fidelity
from emulator.template import (
    BUCKET_SETTINGS,
    DEFAULT_TEMPLATE,
    SETTINGS_SUFFIX,
    SHIM_OUTPUT_PREFIX,
    TABLE_SETTINGS,
    Deferred,
    PreparedTemplate,
    TemplateError,
    prepare_template,
    substitute_refs,
)

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

DEFAULT_STACK_NAME = "batch-orchestrator-local"
CONDITIONS_OUTPUT = f"{SHIM_OUTPUT_PREFIX}Conditions"
CREATE_TIMEOUT_SECONDS = 120

# Without this, moto runs Batch jobs and Lambda functions in Docker containers.
MOTO_CONFIG: DefaultConfig = {"batch": {"use_docker": False}, "lambda": {"use_docker": False}}

PLACEHOLDER_README = (
    "Placeholder created by emulator: moto stores this zip as the function's code, but the\n"
    "handler runs in-process from the source directory (see emulator/invoke.py).\n"
)


class StackCreationError(Exception):
    """moto could not create the stack; the message names the resources involved."""


# ------------------------------------------------------------------------------- what we read back
@dataclass(frozen=True)
class EventSourceMapping:
    """An event source mapping as Lambda holds it, plus the state the template asked for."""

    logical_id: str
    uuid: str
    function_logical_id: str
    event_source_arn: str
    batch_size: int
    maximum_batching_window_seconds: int
    function_response_types: tuple[str, ...]
    maximum_concurrency: int | None
    enabled_in_template: bool  # moto's copy is disabled (see template.disable_sqs_event_source_mappings)

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class RuleTarget:
    id: str
    arn: str
    function_logical_id: str | None  # when the target is one of the stack's functions
    input: str | None = None
    input_path: str | None = None
    dead_letter_arn: str | None = None
    retry_policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class EventRule:
    """An EventBridge rule as moto holds it: the template's pattern with every Ref resolved."""

    logical_id: str
    name: str
    arn: str
    event_bus_name: str
    state: str
    pattern: dict[str, Any] | None
    schedule_expression: str | None
    targets: tuple[RuleTarget, ...]

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether EventBridge would route ``event`` to this rule (moto's pattern matcher)."""
        if self.pattern is None:
            return False
        from moto.events.models import EventPattern

        return bool(EventPattern.load(json.dumps(self.pattern)).matches_event(cast(Any, dict(event))))


@dataclass(frozen=True)
class Schedule:
    """An EventBridge Scheduler schedule as moto's scheduler holds it."""

    logical_id: str
    name: str
    group_name: str
    expression: str
    timezone: str | None
    state: str
    target_arn: str
    function_logical_id: str | None
    input: str | None
    dead_letter_arn: str | None
    retry_policy: dict[str, Any] | None


@dataclass
class EmulatedStack:
    """The created stack. Build it with ``deploy_stack``."""

    name: str
    stack_id: str
    region: str
    account_id: str
    template: PreparedTemplate
    parameters: dict[str, str]
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id → physical id (deferred resources included)
    conditions: dict[str, bool]
    skipped: list[str]  # logical ids moto's CloudFormation did not create and no shim covers
    creation_seconds: float
    # bucket name → resolved bucket policy that was not applied (see _record_bucket_policy)
    unapplied_bucket_policies: dict[str, Any] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- clients
    def client(self, service: str) -> Any:
        """A boto3 client in the stack's region (honours AWS_ENDPOINT_URL for a moto server)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    # ---------------------------------------------------------------- functions
    def function_name(self, logical_id: str) -> str:
        self._require_type(logical_id, "AWS::Lambda::Function")
        return self.resources[logical_id]

    def function_configuration(self, logical_id: str) -> dict[str, Any]:
        """Lambda's GetFunctionConfiguration for the function, read now."""
        return dict(self.client("lambda").get_function_configuration(FunctionName=self.function_name(logical_id)))

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The function's Environment.Variables exactly as Lambda holds them.

        Values are strings, as on AWS (moto keeps a Number parameter as a number; CloudFormation
        would pass its string form).
        """
        return environment_variables(self.function_configuration(logical_id))

    def function_log_group(self, logical_id: str) -> str:
        """The function's log group: LoggingConfig.LogGroup of the template, else /aws/lambda/<name>."""
        properties = self.template.cloudformation["Resources"][logical_id].get("Properties", {})
        group = properties.get("LoggingConfig", {}).get("LogGroup")
        if isinstance(group, str):
            return group
        if isinstance(group, dict) and self.resources.get(group.get("Ref", "")):
            return self.resources[group["Ref"]]
        return f"/aws/lambda/{self.function_name(logical_id)}"

    def function_dir(self, logical_id: str) -> Path:
        """The local directory of the function's (or layer's) code, from the template's CodeUri."""
        try:
            return self.template.code_dirs[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id} has no local CodeUri/ContentUri in {self.template.path}") from None

    def layer_dirs(self, logical_id: str) -> list[Path]:
        """Local directories of the layers the function uses (what Lambda puts on /opt/python)."""
        layers = self.template.cloudformation["Resources"][logical_id].get("Properties", {}).get("Layers", [])
        dirs = []
        for layer in layers:
            if isinstance(layer, dict) and "Ref" in layer and layer["Ref"] in self.template.code_dirs:
                dirs.append(self.template.code_dirs[layer["Ref"]])
        return dirs

    def function_logical_id_for_arn(self, arn: str) -> str | None:
        """The logical id of the stack's function an ARN (or name) designates, if any."""
        name = arn.split(":function:", 1)[-1].split(":", 1)[0]
        for logical_id, kind in self._resource_types.items():
            if kind == "AWS::Lambda::Function" and self.resources.get(logical_id) == name:
                return logical_id
        return None

    # ---------------------------------------------------------------- wiring
    @cached_property
    def event_source_mappings(self) -> dict[str, EventSourceMapping]:
        """Logical id → event source mapping, read back from Lambda."""
        lambda_client = self.client("lambda")
        found = {}
        for logical_id, resource in self.template.cloudformation["Resources"].items():
            if resource.get("Type") != "AWS::Lambda::EventSourceMapping" or logical_id not in self.resources:
                continue
            mapping = lambda_client.get_event_source_mapping(UUID=self.resources[logical_id])
            function_logical_id = self.function_logical_id_for_arn(mapping["FunctionArn"])
            found[logical_id] = EventSourceMapping(
                logical_id=logical_id,
                uuid=mapping["UUID"],
                function_logical_id=function_logical_id or "",
                event_source_arn=mapping["EventSourceArn"],
                batch_size=int(mapping.get("BatchSize", 10)),
                maximum_batching_window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds") or 0),
                function_response_types=tuple(mapping.get("FunctionResponseTypes") or ()),
                maximum_concurrency=_int_or_none(mapping.get("ScalingConfig", {}).get("MaximumConcurrency")),
                enabled_in_template=self.template.shims.disabled_mappings.get(
                    logical_id, mapping["State"] == "Enabled"
                ),
            )
        return found

    def event_source_mapping_for(self, function_logical_id: str) -> EventSourceMapping:
        matches = [m for m in self.event_source_mappings.values() if m.function_logical_id == function_logical_id]
        if len(matches) != 1:
            raise LookupError(f"{function_logical_id} has {len(matches)} event source mappings, expected 1")
        return matches[0]

    @cached_property
    def event_rules(self) -> dict[str, EventRule]:
        """Logical id → EventBridge rule, read back from EventBridge (patterns fully resolved)."""
        events = self.client("events")
        found = {}
        for logical_id, resource in self.template.cloudformation["Resources"].items():
            if resource.get("Type") != "AWS::Events::Rule" or logical_id not in self.resources:
                continue
            bus = resource.get("Properties", {}).get("EventBusName")
            bus_name = self._resolve_bus_name(bus)
            name = self.resources[logical_id].split("/")[-1].split("|")[-1]
            rule = events.describe_rule(Name=name, EventBusName=bus_name)
            targets = events.list_targets_by_rule(Rule=name, EventBusName=bus_name)["Targets"]
            found[logical_id] = EventRule(
                logical_id=logical_id,
                name=name,
                arn=rule["Arn"],
                event_bus_name=bus_name,
                state=rule.get("State", "ENABLED"),
                pattern=json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None,
                schedule_expression=rule.get("ScheduleExpression"),
                targets=tuple(
                    RuleTarget(
                        id=target["Id"],
                        arn=target["Arn"],
                        function_logical_id=self.function_logical_id_for_arn(target["Arn"]),
                        input=target.get("Input"),
                        input_path=target.get("InputPath"),
                        dead_letter_arn=target.get("DeadLetterConfig", {}).get("Arn"),
                        retry_policy=target.get("RetryPolicy"),
                    )
                    for target in targets
                ),
            )
        return found

    def rules_matching(self, event: Mapping[str, Any]) -> list[EventRule]:
        """The stack's enabled rules whose pattern matches ``event`` (as EventBridge would route it)."""
        return [rule for rule in self.event_rules.values() if rule.state == "ENABLED" and rule.matches(event)]

    @cached_property
    def schedules(self) -> dict[str, Schedule]:
        """Logical id → schedule, read back from moto's EventBridge Scheduler."""
        scheduler = self.client("scheduler")
        found = {}
        for logical_id, resource in self.template.cloudformation["Resources"].items():
            if resource.get("Type") != "AWS::Scheduler::Schedule" or logical_id not in self.resources:
                continue
            group = resource.get("Properties", {}).get("GroupName")
            group_name = group if isinstance(group, str) else "default"
            item = scheduler.get_schedule(Name=self.resources[logical_id], GroupName=group_name)
            target = item["Target"]
            found[logical_id] = Schedule(
                logical_id=logical_id,
                name=item["Name"],
                group_name=item.get("GroupName", group_name),
                expression=item["ScheduleExpression"],
                timezone=item.get("ScheduleExpressionTimezone"),
                state=item.get("State", "ENABLED"),
                target_arn=target["Arn"],
                function_logical_id=self.function_logical_id_for_arn(target["Arn"]),
                input=target.get("Input"),
                dead_letter_arn=target.get("DeadLetterConfig", {}).get("Arn"),
                retry_policy=target.get("RetryPolicy"),
            )
        return found

    # ---------------------------------------------------------------- resources by type
    def resources_of_type(self, kind: str) -> dict[str, str]:
        """Logical id → physical id of the created resources of one CloudFormation type."""
        return {
            logical_id: physical
            for logical_id, physical in self.resources.items()
            if self._resource_types.get(logical_id) == kind
        }

    def queue_url(self, queue_arn_or_logical_id: str) -> str:
        """The URL of one of the stack's queues, from its ARN or logical id."""
        if queue_arn_or_logical_id in self.resources:
            return self.resources[queue_arn_or_logical_id]
        name = queue_arn_or_logical_id.rsplit(":", 1)[-1]
        return str(self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    @cached_property
    def _resource_types(self) -> dict[str, str]:
        types = {logical_id: r["Type"] for logical_id, r in self.template.cloudformation["Resources"].items()}
        types.update({logical_id: r["Type"] for logical_id, r in self.template.deployable["Resources"].items()})
        return types

    def _require_type(self, logical_id: str, kind: str) -> None:
        actual = self._resource_types.get(logical_id)
        if actual != kind:
            raise KeyError(f"{logical_id} is {actual or 'not a resource of the stack'}, not {kind}")
        if logical_id not in self.resources:
            raise KeyError(f"{logical_id} was not created (its Condition is false?)")

    def _resolve_bus_name(self, bus: Any) -> str:
        if bus is None:
            return "default"
        if isinstance(bus, str):
            return bus.split("/")[-1]
        if isinstance(bus, dict) and bus.get("Ref") in self.resources:
            return self.resources[bus["Ref"]].split("/")[-1]
        return "default"


def environment_variables(configuration: Mapping[str, Any]) -> dict[str, str]:
    """Environment.Variables of a GetFunctionConfiguration result, as strings."""
    variables = configuration.get("Environment", {}).get("Variables", {})
    return {name: _as_env_string(value) for name, value in variables.items()}


def _as_env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# ------------------------------------------------------------------------------------ moto set-up
def configure_moto(endpoint_url: str | None = None) -> None:
    """Make moto run Batch jobs and Lambda functions without Docker (nothing waits on a daemon).

    In-process this updates moto's active configuration (``mock_aws`` restores it on exit);
    against a server it posts the same configuration to ``/moto-api/config``.
    """
    if endpoint_url:
        request = urllib.request.Request(  # noqa: S310 - the endpoint is the local moto server
            f"{endpoint_url.rstrip('/')}/moto-api/config",
            data=json.dumps(MOTO_CONFIG).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
        return
    from moto.core.config import default_user_config
    from moto.core.models import botocore_stubber

    if not botocore_stubber.enabled:
        raise RuntimeError(
            "no moto: call deploy_stack inside moto.mock_aws(), or set AWS_ENDPOINT_URL to a moto server"
        )
    default_user_config["batch"] = MOTO_CONFIG["batch"].copy()
    default_user_config["lambda"] = MOTO_CONFIG["lambda"].copy()


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("LOCAL_STACK_PLACEHOLDER.txt", PLACEHOLDER_README)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------- deploy
def deploy_stack(
    parameters: Mapping[str, str] | None = None,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    template_path: Path = DEFAULT_TEMPLATE,
) -> EmulatedStack:
    """Create the stack of ``template_path`` (template.yaml) in moto and return what it made."""
    started = time.perf_counter()
    parameters = {name: str(value) for name, value in (parameters or {}).items()}
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    configure_moto(endpoint_url)
    moto_fidelity.apply()
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    account_id = session.client("sts", region_name=region).get_caller_identity()["Account"]

    code_bucket = f"{stack_name.lower()}-code-{account_id}"[:63]
    prepared = prepare_template(parameters, template_path=template_path, code_bucket=code_bucket, region=region)
    _upload_placeholders(session, region, code_bucket, prepared)
    layer_arns = _publish_layers(session, region, stack_name, account_id, prepared)
    deployable = _with_conditions_output(substitute_refs(prepared.deployable, layer_arns))

    cloudformation = session.client("cloudformation", region_name=region, config=Config(retries={"max_attempts": 1}))
    try:
        stack_id = cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(deployable),
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v}
                for k, v in pass_list_parameter_defaults(prepared, parameters).items()
            ],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )["StackId"]
    except Exception as exc:
        raise StackCreationError(_describe_create_failure(exc, prepared, stack_name, account_id, region)) from exc
    description = _wait_for_create(cloudformation, stack_name)

    all_outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in description.get("Outputs", [])}
    conditions = {k: bool(v) for k, v in json.loads(all_outputs.get(CONDITIONS_OUTPUT, "{}")).items()}
    resources = _stack_resources(cloudformation, stack_name)
    stack = EmulatedStack(
        name=stack_name,
        stack_id=stack_id,
        region=region,
        account_id=account_id,
        template=prepared,
        parameters=parameters,
        outputs={k: v for k, v in all_outputs.items() if not k.startswith(SHIM_OUTPUT_PREFIX)},
        resources={**resources, **layer_arns},
        conditions=conditions,
        skipped=[],
        creation_seconds=0.0,
    )
    for deferred in _in_apply_order(prepared.shims.deferred):
        if deferred.output_key not in all_outputs:
            continue  # its Condition is false: AWS would not create it either
        properties = json.loads(all_outputs[deferred.output_key])
        physical_id = DEFERRED_APPLIERS[deferred.kind](stack, deferred, properties)
        if not deferred.kind.endswith(SETTINGS_SUFFIX):
            stack.resources[deferred.logical_id] = physical_id
    _attach_layers(stack, deployable)
    stack.skipped = _skipped_resources(prepared, resources, conditions)
    if stack.skipped:
        warnings.warn(
            f"moto's CloudFormation did not create {stack.skipped}; no emulator shim covers them", stacklevel=2
        )
    stack.creation_seconds = time.perf_counter() - started
    return stack


def _upload_placeholders(session: boto3.session.Session, region: str, bucket: str, prepared: PreparedTemplate) -> None:
    s3 = session.client("s3", region_name=region)
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    body = _placeholder_zip()
    keys = {
        location["S3Key"]
        for resource in prepared.cloudformation["Resources"].values()
        for location in (resource.get("Properties", {}).get("Code"), resource.get("Properties", {}).get("Content"))
        if isinstance(location, dict) and location.get("S3Bucket") == bucket
    }
    for key in sorted(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def _publish_layers(
    session: boto3.session.Session, region: str, stack_name: str, account_id: str, prepared: PreparedTemplate
) -> dict[str, str]:
    """Part of template.publish_layers_separately: publish each layer, return logical id → LayerVersionArn."""
    lambda_client = session.client("lambda", region_name=region)
    pseudo = {"AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account_id}
    arns = {}
    for logical_id, properties in prepared.shims.layers.items():
        name = properties.get("LayerName", logical_id)
        if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
            name = substitute_refs(name, pseudo)["Fn::Sub"]
        if not isinstance(name, str) or "${" in name:
            raise TemplateError(f"layer {logical_id}: emulator cannot resolve LayerName {name!r}")
        optional = ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")
        response = lambda_client.publish_layer_version(
            LayerName=name,
            Content={"S3Bucket": properties["Content"]["S3Bucket"], "S3Key": properties["Content"]["S3Key"]},
            **{key: properties[key] for key in optional if key in properties},
        )
        arns[logical_id] = response["LayerVersionArn"]
    return arns


def _attach_layers(stack: EmulatedStack, deployable: dict[str, Any]) -> None:
    """Part of template.publish_layers_separately: moto's CloudFormation ignores a function's
    Layers, so set them with UpdateFunctionConfiguration (when they are plain ARNs by now)."""
    for logical_id, resource in deployable["Resources"].items():
        layers = resource.get("Properties", {}).get("Layers")
        if resource.get("Type") != "AWS::Lambda::Function" or not layers or logical_id not in stack.resources:
            continue
        if all(isinstance(layer, str) for layer in layers):
            stack.client("lambda").update_function_configuration(
                FunctionName=stack.resources[logical_id], Layers=layers
            )


def _with_conditions_output(template: dict[str, Any]) -> dict[str, Any]:
    """Ask moto to report how it evaluated every Condition (one extra output)."""
    conditions = template.get("Conditions") or {}
    if not conditions:
        return template
    template = dict(template)
    template["Outputs"] = dict(template.get("Outputs") or {})
    template["Outputs"][CONDITIONS_OUTPUT] = {
        "Value": {"Fn::ToJsonString": {name: {"Fn::If": [name, True, False]} for name in conditions}}
    }
    return template


def pass_list_parameter_defaults(prepared: PreparedTemplate, parameters: Mapping[str, str]) -> dict[str, str]:
    """moto gap: a CommaDelimitedList / List<...> parameter left at its Default stays one string.

    moto splits list parameters on commas only when they are passed, so a defaulted JobCommand
    would reach the job definition as a string (and come back as a list of characters). The
    defaults of list parameters are passed explicitly; CloudFormation treats that the same.
    """
    passed = dict(parameters)
    for name, declaration in prepared.sam.get("Parameters", {}).items():
        kind = str(declaration.get("Type", "String"))
        is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
        if is_list and name not in passed and "Default" in declaration:
            default = declaration["Default"]
            passed[name] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
    return passed


def _wait_for_create(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    deadline = time.monotonic() + CREATE_TIMEOUT_SECONDS
    while True:
        description = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = description["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise StackCreationError(f"stack {stack_name} still {status} after {CREATE_TIMEOUT_SECONDS}s")
        time.sleep(0.2)
    if status != "CREATE_COMPLETE":
        failed = [
            f"{event['LogicalResourceId']} ({event.get('ResourceType')}): {event.get('ResourceStatusReason', '')}"
            for event in cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
            if event.get("ResourceStatus", "").endswith("_FAILED")
        ]
        raise StackCreationError(f"stack {stack_name} ended {status}; failed resources: {failed or 'none reported'}")
    return dict(description)


def _stack_resources(cloudformation: Any, stack_name: str) -> dict[str, str]:
    resources = {}
    for item in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]:
        logical_id = item.get("LogicalResourceId")
        if logical_id:  # moto lists resources it skipped with no id
            resources[logical_id] = item.get("PhysicalResourceId") or ""
    return resources


def _describe_create_failure(
    exc: Exception, prepared: PreparedTemplate, stack_name: str, account_id: str, region: str
) -> str:
    """A message naming what moto was creating when CreateStack failed.

    moto creates resources synchronously, one after another, and lazily (a Ref creates its
    target first). In-process, the traceback shows the chain of resources being created when
    an error escaped; an error moto turned into an API error leaves no such trace, so the
    resources it had not created yet are listed instead (read from moto's backend).
    """
    types = {k: r.get("Type") for k, r in prepared.deployable["Resources"].items()}
    chain: list[str] = []
    traceback = exc.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "parse_and_create_resource":
            logical_id = frame.f_locals.get("logical_id")
            if isinstance(logical_id, str) and logical_id not in chain:
                chain.append(logical_id)
        traceback = traceback.tb_next
    message = f"moto could not create stack {stack_name}: {_error_text(exc)}"
    if chain:
        where = " → ".join(f"{name} ({types.get(name)})" for name in chain)
        return f"{message}\nfailed resource: {chain[-1]} ({types.get(chain[-1])}); creation chain: {where}"
    progress = _moto_progress(stack_name, account_id, region)
    if progress is not None:
        created, conditions = progress
        missing = [
            f"{name} ({kind})"
            for name, kind in types.items()
            if name not in created and conditions.get(prepared.deployable["Resources"][name].get("Condition"), True)
        ]
        if missing:
            return (
                f"{message}\nfirst resource not created (the failed one, or one that needs it): {missing[0]}; "
                f"{len(missing) - 1} more not created: {missing[1:]}"
            )
    return message


_EMBEDDED_JSON_ERROR = re.compile(r'"__type": "([^"]*)", "message": "((?:[^"\\]|\\.)*)"')


def _error_text(exc: Exception) -> str:
    """moto answers some CreateStack errors in JSON where botocore expects XML; show just the error."""
    found = _EMBEDDED_JSON_ERROR.search(str(exc))
    return f"{found.group(1)}: {found.group(2)}" if found else f"{type(exc).__name__}: {exc}"


def _moto_progress(stack_name: str, account_id: str, region: str) -> tuple[set[str], dict[str, bool]] | None:
    """In-process only: the logical ids moto created for the stack, and its Conditions' values."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return None
    try:
        from moto.cloudformation.models import cloudformation_backends

        stacks = cloudformation_backends[account_id][region].stacks.values()
        resource_map = next(stack for stack in stacks if stack.name == stack_name).resource_map
        created = {name for name, value in resource_map._parsed_resources.items() if not isinstance(value, str)}
        return created, {name: bool(resource_map.lazy_condition_map[name]) for name in resource_map.lazy_condition_map}
    except (ImportError, StopIteration, AttributeError, KeyError):
        return None


def _skipped_resources(
    prepared: PreparedTemplate, created: Mapping[str, str], conditions: Mapping[str, bool]
) -> list[str]:
    skipped = []
    for logical_id, resource in prepared.deployable["Resources"].items():
        condition = resource.get("Condition")
        if logical_id not in created and (condition is None or conditions.get(condition, True)):
            skipped.append(logical_id)
    return skipped


# ------------------------------------------------------------------- deferred resources (shims)
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
    name = properties.get("Name") or f"{stack.name}-{deferred.logical_id}"[:64]
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
