# Over 400 lines on purpose: support code, no tests: one resolver of the transformed template and its entry points.
"""template.yaml as AWS would deploy it: the SAM-transformed template with every intrinsic resolved.

``resolve_stack(parameters)`` takes the template after aws-sam-translator (exactly
``emulator.prepare_template(parameters).cloudformation``, before any moto shim; a test checks the two
agree) and resolves Ref, Fn::GetAtt, Fn::Sub (both forms), Fn::Join, Fn::Select, Fn::Split, Fn::If with
the Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), Fn::GetAZs, AWS::NoValue and the pseudo
parameters AWS::AccountId, AWS::Region, AWS::Partition, AWS::StackName, AWS::StackId and AWS::URLSuffix,
with the values AWS documents for each resource type (``return_values``): a log group's Arn ends in
``:*``, a job definition's Ref is its ARN with the revision, a queue's Ref is its URL, and so on.

The invariant: anything this module does not know (an intrinsic, a pseudo parameter, a resource type's
Ref or attribute) raises ``UnresolvableError`` naming it. It never guesses a value, so a conformance
test built on it can only be wrong where AWS's documentation is.

Not modelled: Fn::GetAZs returns the Availability Zones a new account sees in the region (the real list
depends on the account); ids AWS generates (key ids, EC2 ids) are fixed, made-up values of the right shape.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from emulator.template import (
    DEFAULT_TEMPLATE,
    check_parameters,
    check_rules,
    load_template,
    parameter_values,
    point_code_at_s3,
    transform_sam,
)
from tests.conformance.return_values import (
    TYPES,
    Context,
    UnknownReturnValue,
    attribute_value,
    generated_name,
    ref_value,
)

STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
# Fn::GetAZs: the zones of a new account, alphabetical (the page says the list is account-specific).
AVAILABILITY_ZONES: dict[str, tuple[str, ...]] = {
    "us-east-1": ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"),
    "us-west-2": ("us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"),
    "eu-west-1": ("eu-west-1a", "eu-west-1b", "eu-west-1c"),
    "eu-central-1": ("eu-central-1a", "eu-central-1b", "eu-central-1c"),
    "ap-northeast-1": ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"),
}
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class UnresolvableError(Exception):
    """The template uses something the resolver does not know; the message names it."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class ResolvedResource:
    logical_id: str
    type: str
    properties: dict[str, Any]  # fully resolved, AWS::NoValue removed


@dataclass(frozen=True)
class ResolvedStack:
    stack_name: str
    region: str
    account_id: str
    resources: dict[str, ResolvedResource]  # logical id -> resource; resources whose Condition is false are absent
    outputs: dict[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)  # every parameter's value (lists for list types)
    conditions: dict[str, bool] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the unresolved template
    _resolver: _Resolver | None = field(default=None, repr=False, compare=False)

    @property
    def stack_id(self) -> str:
        return self._require_resolver().stack_id

    @property
    def partition(self) -> str:
        return self._require_resolver().partition

    def ref(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise UnresolvableError(f"Ref {logical_id}: no such resource in this stack (or its Condition is false)")
        return str(self._require_resolver().ref(logical_id))

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise UnresolvableError(f"GetAtt {logical_id}: no such resource in this stack (or its Condition is false)")
        return self._require_resolver().get_att(logical_id, attribute)

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """A Lambda function's Environment.Variables, resolved (values as the strings Lambda holds)."""
        resource = self.resources[logical_id]
        if resource.type != "AWS::Lambda::Function":
            raise UnresolvableError(f"{logical_id} is a {resource.type}, not an AWS::Lambda::Function")
        variables = resource.properties.get("Environment", {}).get("Variables", {})
        return {name: _text(value, f"{logical_id} environment {name}") for name, value in variables.items()}

    def of_type(self, resource_type: str) -> dict[str, ResolvedResource]:
        return {logical_id: r for logical_id, r in self.resources.items() if r.type == resource_type}

    def _require_resolver(self) -> _Resolver:
        if self._resolver is None:
            raise UnresolvableError("this ResolvedStack was not made by resolve_stack")
        return self._resolver


# --------------------------------------------------------------------------------------- entry points
def resolve_stack(
    parameters: Mapping[str, str] | None = None,
    *,
    stack_name: str = "batch-orchestrator",
    region: str = "us-east-1",
    account_id: str = "123456789012",
    template_path: Path = DEFAULT_TEMPLATE,
) -> ResolvedStack:
    """template.yaml (or another rendering of it, ``template_path``), transformed and resolved as a stack
    named ``stack_name`` would be in ``region``."""
    parameters = dict(parameters or {})
    return resolve_template(
        transformed_template(parameters, region=region, template_path=template_path),
        parameters,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
    )


# A transformed template as a test mutates it (resources under "Resources", SAM's roles expanded), and a mutation.
Template = dict[str, Any]
Mutation = Callable[[Template], None]


def resolve_template(
    cloudformation: Mapping[str, Any],
    parameters: Mapping[str, str] | None = None,
    *,
    stack_name: str = "batch-orchestrator",
    region: str = "us-east-1",
    account_id: str = "123456789012",
) -> ResolvedStack:
    """Resolve an already transformed template (a mutated copy, say) the way ``resolve_stack`` does."""
    if not STACK_NAME.fullmatch(stack_name):
        raise ValueError(f"{stack_name!r} is not a CloudFormation stack name ([A-Za-z][A-Za-z0-9-]*, 128 at most)")
    if not re.fullmatch(r"\d{12}", account_id):
        raise ValueError(f"{account_id!r} is not an AWS account id")
    template = copy.deepcopy(dict(cloudformation))
    resolver = _Resolver(template, dict(parameters or {}), stack_name=stack_name, region=region, account=account_id)
    resources = {
        logical_id: ResolvedResource(logical_id, str(body["Type"]), resolver.properties(logical_id))
        for logical_id, body in template["Resources"].items()
        if resolver.included(logical_id)
    }
    outputs: dict[str, str] = {}
    for name, output in template.get("Outputs", {}).items():
        if "Condition" in output and not resolver.condition(output["Condition"]):
            continue
        outputs[name] = _text(resolver.value(output["Value"]), f"output {name}")
    return ResolvedStack(
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        resources=resources,
        outputs=outputs,
        parameters=dict(resolver.parameters),
        conditions={name: resolver.condition(name) for name in template.get("Conditions", {})},
        template=template,
        _resolver=resolver,
    )


def transformed_template(
    parameters: Mapping[str, str] | None = None, *, region: str = "us-east-1", template_path: Path = DEFAULT_TEMPLATE
) -> dict[str, Any]:
    """``prepare_template(parameters, region=region).cloudformation``, with template.yaml parsed once per change.

    The same steps in the same order (parameter and Rules checks, code pointed at the placeholder bucket,
    the SAM transform); only the YAML parse (two thirds of the time) is cached. ``template_path`` may be a
    rendering of template.yaml elsewhere (a two-workload table, say): its code paths are the repository's.
    """
    parameters = dict(parameters or {})
    sam = copy.deepcopy(_sam_template(template_path, *_stamp(template_path)))
    check_parameters(sam, parameters)
    check_rules(sam, parameters)
    packaged, _ = point_code_at_s3(sam, DEFAULT_TEMPLATE.resolve().parent, "local-stack-code")
    return transform_sam(packaged, parameters, region)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@cache
def _sam_template(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    return load_template(path)


# ------------------------------------------------------------------------------------------ resolver
def _partition(region: str) -> tuple[str, str]:
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise UnresolvableError(f"{where}: expected a string, got {value!r}")


class _Resolver:
    def __init__(
        self, template: dict[str, Any], overrides: dict[str, str], *, stack_name: str, region: str, account: str
    ) -> None:
        self.template = template
        self.parameters: dict[str, Any] = parameter_values(template, overrides)
        self.stack_name = stack_name
        self.region = region
        self.account = account
        self.partition, self.url_suffix = _partition(region)
        stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.partition}/{region}/{account}/{stack_name}")
        self.stack_id = f"arn:{self.partition}:cloudformation:{region}:{account}:stack/{stack_name}/{stack_uuid}"
        self._conditions: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # ---- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {})
            if name not in conditions:
                raise UnresolvableError(f"Condition {name!r} is not defined")
            result = self._boolean(conditions[name], f"Condition {name}")
            self._conditions[name] = result
        return self._conditions[name]

    def included(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return True if condition is None else self.condition(condition)

    def _boolean(self, node: Any, where: str) -> bool:
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return self.condition(node["Condition"])
        value = self.value(node)
        if not isinstance(value, bool):
            raise UnresolvableError(f"{where}: {node!r} is not a condition")
        return value

    # ---- values
    def properties(self, logical_id: str) -> dict[str, Any]:
        body = self.template["Resources"][logical_id]
        resolved = self.value(body.get("Properties", {}))
        assert isinstance(resolved, dict)
        return resolved

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.value(element) for element in node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        resolved = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _intrinsic(self, function: str, argument: Any) -> Any:  # noqa: C901 - one branch per intrinsic function CloudFormation defines
        if function == "Ref":
            if not isinstance(argument, str):
                raise UnresolvableError(f"Ref of {argument!r}: only literal names are supported")
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = self._get_att_arguments(argument)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            separator, items = argument
            values = self.value(items)
            if not isinstance(values, list):
                raise UnresolvableError(f"Fn::Join of {items!r}: not a list")
            return str(separator).join(_text(item, "Fn::Join") for item in values)
        if function == "Fn::Select":
            index, items = argument
            values = self.value(items)
            position = int(_text(self.value(index), "Fn::Select index"))
            if not isinstance(values, list) or not 0 <= position < len(values):
                raise UnresolvableError(f"Fn::Select {position} of {values!r}: out of range")
            return values[position]
        if function == "Fn::Split":
            separator, text = argument
            return _text(self.value(text), "Fn::Split").split(str(separator))
        if function == "Fn::If":
            name, if_true, if_false = argument
            return self.value(if_true if self.condition(name) else if_false)
        if function == "Fn::Equals":
            left, right = (self.value(item) for item in argument)
            return _comparable(left) == _comparable(right)
        if function == "Fn::Not":
            (operand,) = argument
            return not self._boolean(operand, "Fn::Not")
        if function in ("Fn::And", "Fn::Or"):
            results = [self._boolean(operand, function) for operand in argument]
            return all(results) if function == "Fn::And" else any(results)
        if function == "Fn::GetAZs":
            region = _text(self.value(argument), "Fn::GetAZs") or self.region
            if region not in AVAILABILITY_ZONES:
                raise UnresolvableError(f"Fn::GetAZs {region!r}: add the region's zones to AVAILABILITY_ZONES")
            return list(AVAILABILITY_ZONES[region])
        raise UnresolvableError(f"{function} is not supported by tests/conformance/resolve.py")

    @staticmethod
    def _get_att_arguments(argument: Any) -> tuple[str, str]:
        if isinstance(argument, str) and "." in argument:
            logical_id, attribute = argument.split(".", 1)
            return logical_id, attribute
        if isinstance(argument, list) and len(argument) == 2 and all(isinstance(item, str) for item in argument):
            return argument[0], argument[1]
        raise UnresolvableError(f"Fn::GetAtt {argument!r}: only literal [LogicalId, Attribute] is supported")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
            text, variables = argument[0], {name: self.value(value) for name, value in argument[1].items()}
        else:
            raise UnresolvableError(f"Fn::Sub {argument!r}: expected a string or [string, variables]")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name], f"Fn::Sub variable {name}")
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return _text(self.ref(name), f"Fn::Sub ${{{name}}}")

        return _SUB_VARIABLE.sub(substitute, text)

    # ---- Ref and GetAtt
    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::URLSuffix": self.url_suffix,
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name.startswith("AWS::"):
            raise UnresolvableError(f"pseudo parameter {name} is not supported")
        if name in self.parameters:
            return self.parameters[name]
        resource = self._resource(name, "Ref")
        try:
            return ref_value(str(resource["Type"]), self._context(name))
        except UnknownReturnValue as exc:
            raise UnresolvableError(str(exc)) from exc

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self._resource(logical_id, f"Fn::GetAtt {attribute}")
        try:
            return attribute_value(str(resource["Type"]), attribute, self._context(logical_id))
        except UnknownReturnValue as exc:
            raise UnresolvableError(str(exc)) from exc

    def _resource(self, logical_id: str, what: str) -> dict[str, Any]:
        resource = self.template["Resources"].get(logical_id)
        if resource is None:
            raise UnresolvableError(f"{what} {logical_id}: no parameter or resource of that name")
        if not self.included(logical_id):
            raise UnresolvableError(f"{what} {logical_id}: the resource's Condition is false, it does not exist")
        return dict(resource)

    def _context(self, logical_id: str) -> Context:
        return Context(
            logical_id=logical_id,
            name=self.physical_name(logical_id),
            partition=self.partition,
            region=self.region,
            account=self.account,
            url_suffix=self.url_suffix,
            stack_id=self.stack_id,
            prop=lambda name: self._property(logical_id, name),
        )

    def _property(self, logical_id: str, name: str) -> Any:
        raw = self.template["Resources"][logical_id].get("Properties", {}).get(name)
        value = None if raw is None else self.value(raw)
        return None if value is NO_VALUE else value

    def physical_name(self, logical_id: str) -> str:
        """The explicit name property's value, else the name CloudFormation generates."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise UnresolvableError(f"the name of {logical_id} depends on itself")
        self._naming.add(logical_id)
        try:
            kind = str(self.template["Resources"][logical_id]["Type"])
            entry = TYPES.get(kind)
            explicit = self._property(logical_id, entry.name_property) if entry and entry.name_property else None
            if explicit is not None:
                name = _text(explicit, f"{logical_id}.{entry.name_property if entry else ''}")
            elif entry is not None and entry.generated_name_limit is not None:
                name = generated_name(
                    self.stack_name,
                    logical_id,
                    self.stack_id,
                    entry.generated_name_limit,
                    lowercase=kind == "AWS::S3::Bucket",
                )
            else:
                name = logical_id  # a resource without a name (a key, an EC2 resource): its ids say who it is
        finally:
            self._naming.discard(logical_id)
        self._names[logical_id] = name
        return name


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value
