"""The shims: what turns the transformed template into one moto 5.2's CloudFormation can create.

Owns every shim (one named function per moto gap, run in the order of ``SHIMS``), the record of
what they did (``ShimReport``), and the constants that say which resource types and properties
moto cannot create. The invariant: no shim changes what template.yaml means on AWS; they only
change what moto is handed, and ``ShimReport.applied`` names every shim that changed something.

Resources moto's CloudFormation cannot create at all are *deferred*: they leave the template,
and an extra stack output carries their properties, so moto itself resolves every Ref, GetAtt,
Sub and If in them. ``deferred_resources`` then creates them through the service APIs moto does
implement. Layers are published before the stack instead (``publish_layers_separately``, with
``substitute_refs`` writing their ARNs into the template).

These are the "documented shims" of docs/testing.md; ``template.prepare_template`` applies them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.template_error import TemplateError

# Outputs the shims add to carry resolved values back out of moto; not the template's own outputs.
SHIM_OUTPUT_PREFIX = "EmulatorShim"

# Resource types moto 5.2's CloudFormation skips (it logs "No Moto CloudFormation support")
# but whose service API moto implements; ``deferred_resources`` creates them after the stack.
DEFERRED_TYPES = (
    "AWS::Scheduler::Schedule",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
)

# Properties moto's CloudFormation ignores, applied with the service API once the stack exists.
# (AWS::S3::Bucket: moto applies only BucketEncryption and Tags. AWS::DynamoDB::Table: moto ignores
# TTL and PITR, and keeps DeletionProtectionEnabled as the string CloudFormation passes.)
IGNORED_PROPERTIES: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": ("VersioningConfiguration", "PublicAccessBlockConfiguration", "NotificationConfiguration"),
    "AWS::DynamoDB::Table": (
        "TimeToLiveSpecification",
        "PointInTimeRecoverySpecification",
        "DeletionProtectionEnabled",
    ),
}
SETTINGS_SUFFIX = "#settings"
BUCKET_SETTINGS = "AWS::S3::Bucket" + SETTINGS_SUFFIX
TABLE_SETTINGS = "AWS::DynamoDB::Table" + SETTINGS_SUFFIX

# moto has no model for these and skips them with a warning; on AWS they create nothing we use here.
NO_OP_TYPES = ("AWS::CloudFormation::WaitConditionHandle",)


@dataclass(frozen=True)
class Deferred:
    """A resource (or part of one) created through the service API after the stack."""

    logical_id: str
    kind: str  # a resource type from DEFERRED_TYPES, or "<type>#settings" (IGNORED_PROPERTIES)
    output_key: str  # the stack output through which moto hands back the resolved properties


@dataclass
class ShimReport:
    """What the shims did to one template."""

    applied: list[str] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    # EventSourceMapping logical id → the Enabled value the template asks for
    disabled_mappings: dict[str, bool] = field(default_factory=dict)
    # LayerVersion logical id → its properties; published before the stack is created
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)


def _shim_output(logical_id: str, suffix: str = "") -> str:
    return f"{SHIM_OUTPUT_PREFIX}{logical_id}{suffix}"


def _carry_properties(template: dict[str, Any], output_key: str, value: Any, condition: str | None) -> None:
    output: dict[str, Any] = {"Value": {"Fn::ToJsonString": value}}
    if condition:
        output["Condition"] = condition
    template.setdefault("Outputs", {})[output_key] = output


def add_batch_service_role(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: AWS::Batch::ComputeEnvironment without ServiceRole fails with KeyError.

    On AWS, omitting ServiceRole means "use the AWSServiceRoleForBatch service-linked role".
    moto requires the property and an existing IAM role, so we add a stand-in role.
    """
    environments = [
        resource
        for resource in template["Resources"].values()
        if resource.get("Type") == "AWS::Batch::ComputeEnvironment"
        and "ServiceRole" not in resource.get("Properties", {})
    ]
    if not environments:
        return False
    role_id = "EmulatorBatchServiceRole"
    template["Resources"][role_id] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Path": "/aws-service-role/batch.amazonaws.com/",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "batch.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
        },
    }
    for resource in environments:
        resource.setdefault("Properties", {})["ServiceRole"] = {"Fn::GetAtt": [role_id, "Arn"]}
    return True


def copy_job_definition_timeout(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: AWS::Batch::JobDefinition's Timeout is dropped.

    moto's CloudFormation reads the job timeout from a lower-case ``timeout`` key only, so the
    template's ``Timeout`` is copied there. (moto also drops PlatformCapabilities and
    PropagateTags; no template change can bring those back.)
    """
    changed = False
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Batch::JobDefinition" and "Timeout" in properties:
            properties["timeout"] = copy.deepcopy(properties["Timeout"])
            changed = True
    return changed


def disable_sqs_event_source_mappings(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: an enabled SQS event source mapping makes moto consume the queue itself.

    On every SendMessage moto receives the batch, "invokes" the function (a no-op without
    Docker) and deletes the messages, so nothing would ever be left for the real handler. The
    mappings are created disabled; ``invoke.deliver_sqs_batch`` plays the poller instead, with
    the mapping's settings read back from Lambda.
    """
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        properties = resource.setdefault("Properties", {})
        source = properties.get("EventSourceArn")
        if _mentions_sqs(source, template):
            enabled = properties.get("Enabled", True)
            report.disabled_mappings[logical_id] = enabled if isinstance(enabled, bool) else True
            properties["Enabled"] = False
    return bool(report.disabled_mappings)


def disable_stream_event_source_mappings(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: an enabled DynamoDB stream event source mapping makes moto "invoke" the function (a no-op without
    Docker) on every write and empty the stream's shard.

    The mappings are created disabled (``moto_fidelity`` makes moto leave a disabled mapping's records in the
    stream); ``stream_source.StreamEventSource`` plays the poller instead, with the mapping's settings read back
    from Lambda (filters, batch size and window, retries, on-failure destination).
    """
    changed = False
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        properties = resource.setdefault("Properties", {})
        source = properties.get("EventSourceArn")
        if _attribute_named(source) == "StreamArn":
            enabled = properties.get("Enabled", True)
            report.disabled_mappings[logical_id] = enabled if isinstance(enabled, bool) else True
            properties["Enabled"] = False
            changed = True
    return changed


def _attribute_named(source: Any) -> str | None:
    """The attribute a Fn::GetAtt reads (list or dotted form), else None."""
    if not isinstance(source, dict) or "Fn::GetAtt" not in source:
        return None
    target = source["Fn::GetAtt"]
    parts = target if isinstance(target, list) else str(target).split(".", 1)
    return str(parts[1]) if len(parts) > 1 else None


def _mentions_sqs(source: Any, template: dict[str, Any]) -> bool:
    if isinstance(source, str):
        return ":sqs:" in source
    if isinstance(source, dict) and "Fn::GetAtt" in source:
        target = template["Resources"].get(source["Fn::GetAtt"][0], {})
        return bool(target.get("Type") == "AWS::SQS::Queue")
    return False


def defer_unsupported_resources(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: Scheduler schedules, Lambda EventInvokeConfig, SNS subscriptions and topic
    policies, SQS queue policies, S3 bucket policies and CloudWatch alarms are silently skipped
    by moto's CloudFormation.

    They leave the template; an output carries their properties (resolved by moto), and
    ``deferred_resources`` creates them with the matching API call after the stack is complete.
    """
    deferred_ids = [
        logical_id for logical_id, resource in template["Resources"].items() if resource.get("Type") in DEFERRED_TYPES
    ]
    for logical_id in deferred_ids:
        resource = template["Resources"].pop(logical_id)
        output_key = _shim_output(logical_id)
        _carry_properties(template, output_key, resource.get("Properties", {}), resource.get("Condition"))
        report.deferred.append(Deferred(logical_id, resource["Type"], output_key))
    _drop_dependencies_on(template, set(deferred_ids))
    _refuse_references_to(template, set(deferred_ids))
    return bool(deferred_ids)


def defer_ignored_properties(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: properties moto's CloudFormation ignores (see IGNORED_PROPERTIES).

    S3: VersioningConfiguration, PublicAccessBlockConfiguration and NotificationConfiguration
    (the S3 → SubmitQueue wiring). DynamoDB: TimeToLiveSpecification,
    PointInTimeRecoverySpecification, and DeletionProtectionEnabled (moto keeps "false" as a
    truthy string). An output carries them out, resolved, and ``deferred_resources`` applies them
    with the service API once the stack (and so the queue) exists.
    """
    changed = False
    for logical_id, resource in template["Resources"].items():
        names = IGNORED_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        settings = {name: properties[name] for name in names or () if name in properties}
        if not settings:
            continue
        if resource["Type"] == "AWS::DynamoDB::Table":
            properties.pop("DeletionProtectionEnabled", None)  # applied afterwards, as a real boolean
        output_key = _shim_output(logical_id, "Settings")
        _carry_properties(template, output_key, settings, resource.get("Condition"))
        report.deferred.append(Deferred(logical_id, resource["Type"] + SETTINGS_SUFFIX, output_key))
        changed = True
    return changed


def rename_table_sse_specification(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: AWS::DynamoDB::Table's SSESpecification is read with the API's key names.

    moto looks for ``Enabled`` where CloudFormation says ``SSEEnabled``, so the table would show
    no encryption. The key is renamed for moto.
    """
    changed = False
    for resource in template["Resources"].values():
        sse = resource.get("Properties", {}).get("SSESpecification")
        if resource.get("Type") == "AWS::DynamoDB::Table" and isinstance(sse, dict) and "SSEEnabled" in sse:
            sse["Enabled"] = sse.pop("SSEEnabled")
            changed = True
    return changed


def stringify_kms_key_policies(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: AWS::KMS::Key keeps a KeyPolicy object as a dict, and every later KMS call on the
    key (DescribeKey, Encrypt, ...) then fails parsing it as JSON.

    CloudFormation takes the policy as a JSON object; moto needs the JSON text, so the policy is
    wrapped in Fn::ToJsonString (moto resolves the Refs and Subs inside it first).
    """
    changed = False
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::KMS::Key" and isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = {"Fn::ToJsonString": properties["KeyPolicy"]}
            changed = True
    return changed


def compare_number_parameters_as_strings(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: a Number parameter's Ref is an int in moto, a string on AWS.

    A condition such as ``!Equals [!Ref IntervalMinutes, "1"]`` is therefore always false in moto.
    Inside the Conditions' Fn::Equals, such a Ref is wrapped in Fn::Join (which moto renders as
    the string AWS would pass); nothing else in the template changes.
    """
    numbers = {name for name, p in template.get("Parameters", {}).items() if p.get("Type") == "Number"}
    changed = False

    def visit(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, list):
            return [visit(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::Equals"}:
            arguments = []
            for argument in node["Fn::Equals"]:
                if isinstance(argument, dict) and set(argument) == {"Ref"} and argument["Ref"] in numbers:
                    argument = {"Fn::Join": ["", [argument]]}
                    changed = True
                arguments.append(visit(argument))
            return {"Fn::Equals": arguments}
        return {key: visit(value) for key, value in node.items()}

    if template.get("Conditions"):
        template["Conditions"] = visit(template["Conditions"])
    return changed


def drop_no_op_resources(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: no model for AWS::CloudFormation::WaitConditionHandle (moto warns and skips it).

    The template uses one only to carry DependsOn ordering; moto orders creation by references
    anyway. It leaves the template, and DependsOn entries naming it go too.
    """
    removed = [k for k, r in template["Resources"].items() if r.get("Type") in NO_OP_TYPES]
    for logical_id in removed:
        del template["Resources"][logical_id]
    _drop_dependencies_on(template, set(removed))
    _refuse_references_to(template, set(removed))
    return bool(removed)


def publish_layers_separately(template: dict[str, Any], report: ShimReport) -> bool:
    """moto gap: AWS::Lambda::LayerVersion has no physical id in moto's CloudFormation.

    ``!Ref MyLayer`` resolves to a Python object there: an output prints its repr, a function
    loses the layer, and the layer gets a generated name instead of its LayerName. The layers
    leave the template; ``code_and_layers`` publishes them with PublishLayerVersion first and
    ``substitute_refs`` writes their LayerVersionArn wherever the template says ``!Ref``.
    """
    for logical_id in [k for k, r in template["Resources"].items() if r.get("Type") == "AWS::Lambda::LayerVersion"]:
        resource = template["Resources"].pop(logical_id)
        if resource.get("Condition"):
            raise TemplateError(f"layer {logical_id} has a Condition; emulator publishes layers unconditionally")
        report.layers[logical_id] = resource.get("Properties", {})
    return bool(report.layers)


def substitute_refs(node: Any, values: Mapping[str, str]) -> Any:
    """A copy of ``node`` with ``{"Ref": name}`` and ``${name}`` in Fn::Sub replaced for ``values``."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if set(node) == {"Fn::Sub"}:
            body = node["Fn::Sub"]
            text, variables = (body[0], body[1]) if isinstance(body, list) else (body, None)
            if isinstance(text, str):
                for name, value in values.items():
                    text = text.replace(f"${{{name}}}", value)
            replaced: Any = [text, substitute_refs(variables, values)] if variables is not None else text
            return {"Fn::Sub": replaced}
        return {key: substitute_refs(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute_refs(item, values) for item in node]
    return node


SHIMS = (
    add_batch_service_role,
    publish_layers_separately,
    copy_job_definition_timeout,
    disable_sqs_event_source_mappings,
    disable_stream_event_source_mappings,
    defer_unsupported_resources,
    defer_ignored_properties,
    rename_table_sse_specification,
    stringify_kms_key_policies,
    compare_number_parameters_as_strings,
    drop_no_op_resources,
)


def _drop_dependencies_on(template: dict[str, Any], removed: set[str]) -> None:
    for resource in template["Resources"].values():
        depends_on = resource.get("DependsOn")
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        if depends_on:
            kept = [name for name in depends_on if name not in removed]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]


def _refuse_references_to(template: dict[str, Any], removed: set[str]) -> None:
    """A kept resource or output that points at a deferred one cannot be resolved by moto."""
    if not removed:
        return
    places = [("Resources", name, body) for name, body in template["Resources"].items()]
    places += [
        ("Outputs", name, body)
        for name, body in template.get("Outputs", {}).items()
        if not name.startswith(SHIM_OUTPUT_PREFIX)
    ]
    for section, name, body in places:
        hit = sorted(removed & set(_referenced_names(body)))
        if hit:
            raise TemplateError(
                f"{section}.{name} references {hit}, which moto's CloudFormation cannot create; "
                "emulator creates them after the stack and cannot resolve that reference"
            )


_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[^}]*)?\}")


def _referenced_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt" and isinstance(value, list) and value:
                yield str(value[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    yield from _SUB_NAME.findall(text)
                if isinstance(value, list) and len(value) > 1:
                    yield from _referenced_names(value[1])
            else:
                yield from _referenced_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _referenced_names(item)
