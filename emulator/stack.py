"""Create the stack of template.yaml inside moto (``deploy_stack``) and read back what it made (``EmulatedStack``).

Works against in-process moto (inside ``moto.mock_aws()``) and against a moto server
(``AWS_ENDPOINT_URL`` set). Every read goes through the AWS APIs, so tests see what the
template actually produced, not what we think it should produce: that is the invariant this
module keeps, and why ``EmulatedStack`` holds ids and reads everything else on demand.

``deploy_stack`` drives the creation; the steps around moto's CreateStack live apart:
``code_and_layers`` (placeholder code, layers published before the stack), ``deferred_resources``
(what moto's CloudFormation cannot create, made through the service APIs after it) and
``create_diagnostics`` (what to say when moto fails or skips a resource).

Over 400 lines because ``EmulatedStack`` is most of it (one read-back per kind of wiring the tests
inspect) and stays with ``deploy_stack``, its only constructor, where every importer finds both.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from batch_orchestrator.limits import NAME_RULES
from emulator import moto_fidelity
from emulator.code_and_layers import attach_layers, publish_layers, upload_placeholders
from emulator.create_diagnostics import describe_create_failure, failed_resources, skipped_resources
from emulator.deferred_resources import apply_deferred_resources
from emulator.template import DEFAULT_TEMPLATE, PreparedTemplate, prepare_template
from emulator.template_shims import SHIM_OUTPUT_PREFIX, substitute_refs

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

    from workload_table.render import Rendered

DEFAULT_STACK_NAME = "batch-orchestrator-local"
CONDITIONS_OUTPUT = f"{SHIM_OUTPUT_PREFIX}Conditions"
CREATE_TIMEOUT_SECONDS = 120
BUCKET_NAME_MAX_LENGTH = NAME_RULES[("AWS::S3::Bucket", "BucketName")].max_length

# Without this, moto runs Batch jobs and Lambda functions in Docker containers.
MOTO_CONFIG: DefaultConfig = {"batch": {"use_docker": False}, "lambda": {"use_docker": False}}


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
    enabled_in_template: bool  # moto's copy is disabled (see template_shims.disable_*_event_source_mappings)
    # Stream mappings only (None / empty for SQS): FilterCriteria's patterns (JSON text), retries and the
    # on-failure destination.
    filter_patterns: tuple[str, ...] = ()
    starting_position: str | None = None
    maximum_retry_attempts: int | None = None
    maximum_record_age_seconds: int | None = None
    bisect_batch_on_function_error: bool = False
    on_failure_destination: str | None = None

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types

    @property
    def is_stream(self) -> bool:
        """A DynamoDB stream's mapping (arn:...:dynamodb:...:table/<name>/stream/<label>), not a queue's."""
        return ":dynamodb:" in self.event_source_arn and "/stream/" in self.event_source_arn


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
    # The workload table its functions read, when it is not the layer directory's (deploy_stack's ``rendered``).
    workload_table_file: Path | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- clients
    def client(self, service: str) -> Any:
        """A boto3 client in the stack's region (honours AWS_ENDPOINT_URL for a moto server)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
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
                filter_patterns=tuple(
                    str(f["Pattern"]) for f in (mapping.get("FilterCriteria") or {}).get("Filters", []) or ()
                ),
                starting_position=mapping.get("StartingPosition"),
                maximum_retry_attempts=_int_or_none(mapping.get("MaximumRetryAttempts")),
                maximum_record_age_seconds=_int_or_none(mapping.get("MaximumRecordAgeInSeconds")),
                bisect_batch_on_function_error=bool(mapping.get("BisectBatchOnFunctionError")),
                on_failure_destination=((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                    "Destination"
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


# ---------------------------------------------------------------------------------------- deploy
def deploy_stack(
    parameters: Mapping[str, str] | None = None,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    template_path: Path = DEFAULT_TEMPLATE,
    rendered: Rendered | None = None,
) -> EmulatedStack:
    """Create the stack of ``template_path`` (template.yaml) in moto and return what it made.

    ``rendered``: template.yaml rendered with another workloads table (``template.render_workloads``), created
    instead of the file's, code paths staying relative to the file; its functions read that table's
    workload_table.json (``EmulatedStack.workload_table_file``) instead of the layer directory's.
    """
    template_text = rendered.template_text if rendered is not None else None
    started = time.perf_counter()
    parameters = {name: str(value) for name, value in (parameters or {}).items()}
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    configure_moto(endpoint_url)
    moto_fidelity.apply()
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    account_id = session.client("sts", region_name=region).get_caller_identity()["Account"]

    code_bucket = f"{stack_name.lower()}-code-{account_id}"[:BUCKET_NAME_MAX_LENGTH]
    prepared = prepare_template(
        parameters, template_path=template_path, template_text=template_text, code_bucket=code_bucket, region=region
    )
    upload_placeholders(session, region, code_bucket, prepared)
    layer_arns = publish_layers(session, region, stack_name, account_id, prepared)
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
        raise StackCreationError(describe_create_failure(exc, prepared, stack_name, account_id, region)) from exc
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
    apply_deferred_resources(stack, prepared.shims.deferred, all_outputs)
    attach_layers(stack, deployable)
    stack.skipped = skipped_resources(prepared, resources, conditions)
    if stack.skipped:
        warnings.warn(
            f"moto's CloudFormation did not create {stack.skipped}; no emulator shim covers them", stacklevel=2
        )
    if rendered is not None:
        stack.workload_table_file = _write_workload_table(stack_name, rendered.table_text)
    stack.creation_seconds = time.perf_counter() - started
    return stack


def _write_workload_table(stack_name: str, text: str) -> Path:
    """SIMULATED layer content: the rendered table in a file of its own, removed when the process exits.

    On Lambda the table is the layer's workload_table.json; here every stack shares this process's copy
    of layers/common, so a stack rendered with another table names its file in WORKLOAD_TABLE_FILE.
    """
    handle, name = tempfile.mkstemp(prefix=f"{stack_name}-", suffix="-workload_table.json")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    atexit.register(Path(name).unlink, missing_ok=True)
    return Path(name)


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
        failed = failed_resources(cloudformation, stack_name)
        raise StackCreationError(f"stack {stack_name} ended {status}; failed resources: {failed or 'none reported'}")
    return dict(description)


def _stack_resources(cloudformation: Any, stack_name: str) -> dict[str, str]:
    resources = {}
    for item in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]:
        logical_id = item.get("LogicalResourceId")
        if logical_id:  # moto lists resources it skipped with no id
            resources[logical_id] = item.get("PhysicalResourceId") or ""
    return resources
