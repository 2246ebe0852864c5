"""template.yaml → the CloudFormation template moto creates (``prepare_template``).

Owns the steps before the shims: load the YAML (short-form tags included), check the parameters
and Rules as CloudFormation would (moto checks neither), point every local CodeUri/ContentUri at
a placeholder zip in S3 (the code itself runs in-process, see ``invoke``), and transform with
aws-sam-translator (no network: managed policies come from a static map). ``prepare_template``
then applies the shims of ``template_shims``, each covering one gap of moto 5.2's CloudFormation;
none of them changes what template.yaml means on AWS, they only change what moto is handed.

The invariant: preparing touches no AWS API, and a template or parameters CloudFormation would
refuse raise ``TemplateError`` here, before anything is created.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform

if TYPE_CHECKING:
    from workload_table.render import Rendered

from emulator.template_error import TemplateError
from emulator.template_shims import SHIMS, ShimReport

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


# --------------------------------------------------------------------------------------- loading
class _CfnYamlLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short forms (!Ref, !GetAtt, !Sub, ...) into long forms."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise TemplateError(f"!{tag_suffix}: unsupported YAML node {type(node).__name__}")
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnYamlLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path, *, text: str | None = None) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template, short-form tags included.

    ``text``: the template's text, parsed instead of the file at ``path`` (``path`` then only names it).
    """
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    document = yaml.load(text, Loader=_CfnYamlLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources mapping)")
    return document


def render_workloads(workloads_yaml: str, *, template_path: Path = DEFAULT_TEMPLATE) -> Rendered:
    """The text of ``template_path`` with its workload regions rendered from ``workloads_yaml`` (the text of a
    workloads.yaml), and the layer's workload_table.json for it, in memory, as ``make template`` renders them;
    the files themselves are not changed. ``deploy_stack(rendered=...)`` creates that stack.

    Raises whatever the renderer raises for a table that must not deploy (``WorkloadTableError``: one
    problem a line), before anything is created.
    """
    from workload_table.render import render

    return render(Path(template_path).read_text(encoding="utf-8"), workloads_yaml)


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
    template_text: str | None = None,
    code_bucket: str = "local-stack-code",
    region: str = "us-east-1",
) -> PreparedTemplate:
    """Load, package, transform and shim template.yaml. Pure: touches no AWS API.

    ``template_text``: the template to use instead of the file's own text (e.g. ``render_workloads``'s
    output); the local CodeUri/ContentUri paths are still read relative to ``template_path``'s directory.
    """
    parameters = dict(parameters or {})
    sam = load_template(template_path, text=template_text)
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
