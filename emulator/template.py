"""template.yaml → the CloudFormation template moto creates.

Steps: load the YAML (short-form tags included), point every local CodeUri/ContentUri at a
placeholder zip in S3 (the code itself runs in-process, see ``invoke``), transform with
aws-sam-translator (no network: managed policies come from a static map), then apply the shims
below. Every shim is a named function that covers one gap of moto 5.2's CloudFormation; none of
them changes what template.yaml means on AWS, they only change what moto is handed.

Resources moto's CloudFormation cannot create at all are *deferred*: they leave the template,
and an extra stack output carries their properties, so moto itself resolves every Ref, GetAtt,
Sub and If in them. ``stack`` then creates them through the service APIs moto does implement.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

SHIM_OUTPUT_PREFIX = "EmulatorShim"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"

# Resource types moto 5.2's CloudFormation skips (it logs "No Moto CloudFormation support")
# but whose service API moto implements; ``stack`` creates them after the stack.
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


class TemplateError(Exception):
    """template.yaml cannot be turned into a stack moto can create; the message says why."""


# --------------------------------------------------------------------------------------- loading
class _CfnYamlLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that turns CloudFormation short forms (!Ref, !GetAtt, !Sub, ...) into long forms."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnYamlLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template, short-form tags included."""
    with Path(path).open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CfnYamlLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources mapping)")
    return document


# ------------------------------------------------------------------------------------- packaging
def code_key(logical_id: str) -> str:
    """S3 key of the placeholder zip standing in for a function's or layer's code."""
    return f"local-stack/{logical_id}.zip"


def _local_uri(value: Any) -> str | None:
    if isinstance(value, str) and not value.startswith("s3://"):
        return value
    return None


def point_code_at_s3(
    sam_template: dict[str, Any], template_dir: Path, code_bucket: str
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Replace local CodeUri/ContentUri with placeholder zips in ``code_bucket``.

    Returns the new template and, per SAM logical id, the local directory the code comes from
    (the handlers run from there, in-process).
    """
    template = copy.deepcopy(sam_template)
    code_dirs: dict[str, Path] = {}
    global_code_uri = _local_uri(template.get("Globals", {}).get("Function", {}).get("CodeUri"))
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            uri_property = "CodeUri"
        elif kind == "AWS::Serverless::LayerVersion":
            uri_property = "ContentUri"
        else:
            continue
        properties = resource.setdefault("Properties", {})
        if "InlineCode" in properties or properties.get("PackageType") == "Image":
            continue
        local = _local_uri(properties.get(uri_property))
        if local is None and uri_property == "CodeUri" and uri_property not in properties:
            local = global_code_uri
        if local is None:
            continue
        code_dirs[logical_id] = (template_dir / local).resolve()
        properties[uri_property] = {"Bucket": code_bucket, "Key": code_key(logical_id)}
    if global_code_uri is not None:
        del template["Globals"]["Function"]["CodeUri"]
    return template, code_dirs


# ------------------------------------------------------------------------------------- transform
class StaticManagedPolicyLoader:
    """Stands in for samtranslator's IAM-backed ManagedPolicyLoader: no network.

    The translator first looks policy names up in the map it bundles (which knows the
    ``service-role/`` paths); only names missing there reach ``load``, which maps each name
    the template uses to ``arn:<partition>:iam::aws:policy/<name>``.
    """

    def __init__(self, names: Iterable[str], partition: str = "aws") -> None:
        self._arns = {name: f"arn:{partition}:iam::aws:policy/{name}" for name in names}

    def load(self) -> dict[str, str]:
        return dict(self._arns)


def _policy_names(sam_template: dict[str, Any]) -> set[str]:
    """Every bare policy name in the functions' (and state machines') Policies properties."""
    names: set[str] = set()
    for resource in sam_template["Resources"].values():
        policies = resource.get("Properties", {}).get("Policies")
        for policy in policies if isinstance(policies, list) else [policies]:
            if isinstance(policy, str) and not policy.startswith("arn:"):
                names.add(policy)
    return names


def transform_sam(sam_template: dict[str, Any], parameters: Mapping[str, str], region: str) -> dict[str, Any]:
    """aws-sam-translator's transform, offline. Returns plain CloudFormation."""
    transforms = sam_template.get("Transform")
    names = transforms if isinstance(transforms, list) else [transforms]
    unsupported = [name for name in names if name not in (None, SAM_TRANSFORM)]
    if unsupported:
        raise TemplateError(f"emulator applies only {SAM_TRANSFORM}; the template also asks for {unsupported}")
    if transforms is None:
        return copy.deepcopy(sam_template)
    partition = ArnGenerator.get_partition_name(region)
    loader = StaticManagedPolicyLoader(_policy_names(sam_template), partition)
    values = {**parameters, "AWS::Region": region, "AWS::Partition": partition}
    # The translator records metrics nobody publishes here; its logger would warn when they are dropped.
    metrics_log = logging.getLogger("samtranslator.metrics.metrics")
    level = metrics_log.level
    metrics_log.setLevel(logging.ERROR)
    # The translator asks boto3 for the region itself and fails without one.
    region_was_set = "AWS_DEFAULT_REGION" in os.environ
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    try:
        result: dict[str, Any] = transform(copy.deepcopy(sam_template), values, loader)
        return result
    finally:
        metrics_log.setLevel(level)
        if not region_was_set:
            os.environ.pop("AWS_DEFAULT_REGION", None)


# ----------------------------------------------------------------------------------------- rules
def parameter_values(sam_template: dict[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter's value as CloudFormation sees it: the override or the Default, lists split."""
    values: dict[str, Any] = {}
    for name, declaration in sam_template.get("Parameters", {}).items():
        value = overrides.get(name, declaration.get("Default"))
        kind = str(declaration.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            value = value if isinstance(value, list) else str(value if value is not None else "").split(",")
            values[name] = [str(item) for item in value]
        else:
            values[name] = None if value is None else str(value)
    return values


def check_parameters(sam_template: dict[str, Any], overrides: Mapping[str, str]) -> None:
    """CloudFormation's parameter validation (moto does none): names, AllowedValues,
    AllowedPattern, MinValue/MaxValue, MinLength/MaxLength. Raises TemplateError."""
    declarations = sam_template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declarations))
    if unknown:
        raise TemplateError(f"unknown template parameters {unknown}; the template has {sorted(declarations)}")
    problems = []
    for name, value in parameter_values(sam_template, overrides).items():
        declaration = declarations[name]
        if value is None:
            problems.append(f"{name} has no value and no Default")
            continue
        for item in value if isinstance(value, list) else [value]:
            problems += [f"{name}={item!r}: {problem}" for problem in _parameter_problems(declaration, item)]
    if problems:
        raise TemplateError("invalid template parameters: " + "; ".join(problems))


def _parameter_problems(declaration: Mapping[str, Any], value: str) -> list[str]:
    problems = []
    allowed = declaration.get("AllowedValues")
    if allowed is not None and value not in [str(option) for option in allowed]:
        problems.append(f"not one of {allowed}")
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        problems.append(declaration.get("ConstraintDescription") or f"does not match {pattern}")
    if declaration.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return [*problems, "not a number"]
        if "MinValue" in declaration and number < float(declaration["MinValue"]):
            problems.append(f"below MinValue {declaration['MinValue']}")
        if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
            problems.append(f"above MaxValue {declaration['MaxValue']}")
    if "MinLength" in declaration and len(value) < int(declaration["MinLength"]):
        problems.append(f"shorter than MinLength {declaration['MinLength']}")
    if "MaxLength" in declaration and len(value) > int(declaration["MaxLength"]):
        problems.append(f"longer than MaxLength {declaration['MaxLength']}")
    return problems


def check_rules(sam_template: dict[str, Any], overrides: Mapping[str, str]) -> None:
    """What CloudFormation does with the template's Rules before creating anything; moto ignores them.

    Supports the rule functions Fn::Equals, Not, And, Or, Contains, EachMemberEquals and
    EachMemberIn over Ref'd parameters and literals; a rule using anything else is skipped.
    Raises TemplateError listing the AssertDescription of every failed assertion.
    """
    values = parameter_values(sam_template, overrides)
    failures = []
    for rule_name, rule in (sam_template.get("Rules") or {}).items():
        try:
            if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
                continue
            for assertion in rule.get("Assertions", []):
                if not _rule_value(assertion["Assert"], values):
                    failures.append(f"{rule_name}: {assertion.get('AssertDescription', 'assertion failed')}")
        except _UnsupportedRuleFunctionError:
            continue
    if failures:
        raise TemplateError("template Rules refuse these parameters: " + "; ".join(failures))


class _UnsupportedRuleFunctionError(Exception):
    pass


def _rule_value(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_rule_value(item, values) for item in node]
    if not isinstance(node, dict):
        return node if isinstance(node, bool) else str(node)
    if set(node) == {"Ref"}:
        if node["Ref"] not in values:
            raise _UnsupportedRuleFunctionError(node["Ref"])
        return values[node["Ref"]]
    (function, argument), *_ = node.items()
    if function == "Fn::Not":
        return not _rule_value(argument[0], values)
    if function in ("Fn::And", "Fn::Or"):
        results = [bool(_rule_value(item, values)) for item in argument]
        return all(results) if function == "Fn::And" else any(results)
    left, right = (_rule_value(item, values) for item in argument)
    if function == "Fn::Equals":
        return left == right
    if function == "Fn::Contains":
        return right in left
    if function == "Fn::EachMemberEquals":
        return all(item == right for item in left)
    if function == "Fn::EachMemberIn":
        return all(item in right for item in left)
    raise _UnsupportedRuleFunctionError(function)


# ------------------------------------------------------------------------------------------ shims
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
    ``stack`` creates them with the matching API call after the stack is complete.
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
    truthy string). An output carries them out, resolved, and ``stack`` applies them with the
    service API once the stack (and so the queue) exists.
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
    leave the template; ``stack`` publishes them with PublishLayerVersion first and
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


# ---------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class PreparedTemplate:
    """Everything derived from template.yaml before anything is created."""

    path: Path
    sam: dict[str, Any]  # template.yaml as written (long-form intrinsics)
    cloudformation: dict[str, Any]  # after aws-sam-translator: what AWS would create
    deployable: dict[str, Any]  # after the shims: what moto is handed
    code_dirs: dict[str, Path]  # SAM and CloudFormation logical id → local code directory
    shims: ShimReport

    def resources_of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """Logical id → resource of the transformed (unshimmed) template, for one type."""
        return {
            logical_id: resource
            for logical_id, resource in self.cloudformation["Resources"].items()
            if resource.get("Type") == kind
        }


def prepare_template(
    parameters: Mapping[str, str] | None = None,
    *,
    template_path: Path = DEFAULT_TEMPLATE,
    code_bucket: str = "local-stack-code",
    region: str = "us-east-1",
) -> PreparedTemplate:
    """Load, package, transform and shim template.yaml. Pure: touches no AWS API."""
    parameters = dict(parameters or {})
    sam = load_template(template_path)
    check_parameters(sam, parameters)
    check_rules(sam, parameters)
    packaged, code_dirs = point_code_at_s3(sam, Path(template_path).resolve().parent, code_bucket)
    cloudformation = transform_sam(packaged, parameters, region)
    code_dirs.update(_transformed_code_dirs(cloudformation, code_dirs))
    deployable = copy.deepcopy(cloudformation)
    report = ShimReport()
    for shim in SHIMS:
        if shim(deployable, report):
            report.applied.append(shim.__name__)
    return PreparedTemplate(
        path=Path(template_path),
        sam=sam,
        cloudformation=cloudformation,
        deployable=deployable,
        code_dirs=code_dirs,
        shims=report,
    )


def _transformed_code_dirs(cloudformation: dict[str, Any], code_dirs: dict[str, Path]) -> dict[str, Path]:
    """SAM renames layers (LayerVersion ids get a content hash): map the new ids too."""
    by_key = {code_key(logical_id): path for logical_id, path in code_dirs.items()}
    found: dict[str, Path] = {}
    for logical_id, resource in cloudformation["Resources"].items():
        properties = resource.get("Properties", {})
        location = properties.get("Code") or properties.get("Content")
        if isinstance(location, dict) and location.get("S3Key") in by_key:
            found[logical_id] = by_key[location["S3Key"]]
    return found
