"""A small IAM policy evaluator: does AWS allow this request, given these policies? Same account only.

Why not a library: every evaluator that handles conditions is AGPL (``@cloud-copilot/iam-simulate`` on npm,
principalmapper) or knows only ``StringEquals`` (moto); policyuniverse, parliament and policy_sentry parse,
lint or generate but do not evaluate. This module implements the documented evaluation logic for the
policy shapes this project uses and refuses everything else:

* an explicit Deny (identity or resource policy) wins;
* otherwise the request is allowed if an identity policy OR the resource policy allows it, except that
  for a KMS key the key policy must allow it, directly or by allowing the account (``arn:aws:iam::A:root``),
  in which case the identity policies count ("Key policies in AWS KMS"), and for ``sts:AssumeRole`` by a
  service the role's trust policy must allow that service principal;
* Action/NotAction (case-insensitive) and Resource/NotResource with ``*`` and ``?``; Principal ``*``,
  ``{"AWS": account, root or role ARN}`` and ``{"Service": ...}``;
* condition operators String*, Arn*, Bool, Numeric*, Null, their ``...IfExists`` forms and the
  ForAnyValue:/ForAllValues: qualifiers, with the documented rules for a key missing from the request
  ("IAM JSON policy elements: Condition operators").

It fails closed: an operator, a principal form, a policy variable or a condition key it does not know
raises ``UnsupportedPolicyError``, so a policy the evaluator cannot read can never pass as allowed.

Not modelled: other accounts, SCPs and RCPs, permission boundaries, session policies, ACLs, and checks a
service makes beyond IAM.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

ContextValue = str | bool | int | tuple[str, ...]

# The condition keys the request table sets whenever AWS sets them (lowercase; key names are
# case-insensitive). A policy testing any other key raises: its value in the request would be a guess.
KNOWN_CONDITION_KEYS = frozenset(
    {
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:securetransport",
        "aws:principalarn",
        "aws:principalaccount",
        "kms:viaservice",
        "kms:calleraccount",
        "s3:prefix",
    }
)
NEGATED = frozenset(
    {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike", "NumericNotEquals"}
)
_POSITIVE_OF = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
_NUMERIC = {
    "NumericEquals": lambda a, b: a == b,
    "NumericLessThan": lambda a, b: a < b,
    "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
}
OPERATORS = frozenset(
    {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool", "Null", *_NUMERIC}
    | NEGATED
)


class UnsupportedPolicyError(Exception):
    """The policy uses something this evaluator does not implement; the message names it."""


@dataclass(frozen=True)
class Principal:
    kind: Literal["role", "service"]
    name: str  # a role ARN, or a service principal such as "s3.amazonaws.com"

    @property
    def account(self) -> str | None:
        return self.name.split(":")[4] if self.kind == "role" else None


def role(arn: str) -> Principal:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn):
        raise ValueError(f"{arn!r} is not a role ARN")
    return Principal("role", arn)


def service(name: str) -> Principal:
    if not re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", name):
        raise ValueError(f"{name!r} is not a service principal")
    return Principal("service", name)


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    source: str  # where it comes from, for messages: "SubmitJobsFunctionRole/SubmitJobsFunctionRolePolicy0"
    document: Mapping[str, Any]


Mode = Literal["default", "kms", "trust"]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    allowed_by: tuple[str, ...] = ()
    denied_by: tuple[str, ...] = ()


class _PrincipalMatch(Enum):
    NONE = 0
    ACCOUNT = 1  # the statement names the principal's account: it delegates to the account's IAM policies
    DIRECT = 2


def evaluate(
    request: Request, identity: Sequence[Policy], resource: Policy | None = None, *, mode: Mode = "default"
) -> Decision:
    """AWS's decision for ``request`` (same account) under these identity policies and this resource policy."""
    if request.principal.kind == "service" and identity:
        raise UnsupportedPolicyError("a service principal has no identity policies here")
    identity_allows: list[str] = []
    direct: list[str] = []
    delegated: list[str] = []
    denies: list[str] = []
    for name, statement in _statements(identity):
        if "Principal" in statement or "NotPrincipal" in statement:
            raise UnsupportedPolicyError(f"{name}: an identity policy statement names a principal")
        if statement_applies(statement, request):
            (denies if _effect(statement, name) == "Deny" else identity_allows).append(name)
    for name, statement in _statements([resource] if resource is not None else []):
        match = _principal_match(statement, request.principal, name)
        # A trust policy names no Resource: its statements are about the role itself.
        implicit = mode == "trust" and "Resource" not in statement and "NotResource" not in statement
        if match is _PrincipalMatch.NONE or not statement_applies(statement, request, implicit_resource=implicit):
            continue
        if _effect(statement, name) == "Deny":
            denies.append(name)
        else:
            (direct if match is _PrincipalMatch.DIRECT else delegated).append(name)
    if denies:
        return Decision(False, "explicitly denied by " + ", ".join(denies), denied_by=tuple(denies))
    if mode == "kms":
        granted = direct or (identity_allows if delegated else [])
        missing = "the key policy allows neither the principal nor (with an identity policy allowing it) the account"
    elif mode == "trust":
        granted = direct
        missing = "the trust policy does not allow this principal"
    else:
        granted = identity_allows + direct
        missing = "no identity or resource policy statement allows it"
    if granted:
        return Decision(True, "allowed by " + ", ".join(granted), allowed_by=tuple(granted))
    return Decision(False, f"implicitly denied: {missing}")


def _statements(policies: Sequence[Policy]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for policy in policies:
        statements = policy.document.get("Statement", [])
        for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
            yield f"{policy.source}/{statement.get('Sid', index)}", statement


def _effect(statement: Mapping[str, Any], name: str) -> str:
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise UnsupportedPolicyError(f"{name}: Effect {effect!r}")
    return str(effect)


def _values(node: Any) -> list[str]:
    items = node if isinstance(node, list) else [node]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            values.append(str(item))
        else:
            raise UnsupportedPolicyError(f"policy value {item!r} is not a string")
    return values


def _principal_match(statement: Mapping[str, Any], principal: Principal, name: str) -> _PrincipalMatch:  # noqa: C901 - one branch per Principal form IAM documents (*, AWS, Service, Federated; Not-)
    if "NotPrincipal" in statement:
        raise UnsupportedPolicyError(f"{name}: NotPrincipal")
    if "Principal" not in statement:
        raise UnsupportedPolicyError(f"{name}: a resource policy statement without Principal")
    declared = statement["Principal"]
    if declared == "*":
        return _PrincipalMatch.DIRECT
    if not isinstance(declared, Mapping) or not set(declared) <= {"AWS", "Service"}:
        raise UnsupportedPolicyError(f"{name}: Principal {declared!r}")
    best = _PrincipalMatch.NONE
    for value in _values(declared.get("Service", [])):
        if principal.kind == "service" and value.lower() == principal.name.lower():
            best = _PrincipalMatch.DIRECT
    for value in _values(declared.get("AWS", [])):
        if value == "*":
            return _PrincipalMatch.DIRECT
        account = re.fullmatch(r"(\d{12})|arn:aws[a-z-]*:iam::(\d{12}):root", value)
        if account is not None:
            if principal.account == (account.group(1) or account.group(2)):
                best = max(best, _PrincipalMatch.ACCOUNT, key=lambda match: match.value)
        elif re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+", value):
            if principal.kind == "role" and value == principal.name:
                best = _PrincipalMatch.DIRECT
        else:
            raise UnsupportedPolicyError(f"{name}: principal {value!r}")
    return best


def statement_applies(statement: Mapping[str, Any], request: Request, *, implicit_resource: bool = False) -> bool:
    """Action, resource and condition match (the principal is the caller's business). With
    ``implicit_resource`` (a trust policy), a statement without Resource applies to the request's resource."""
    if ("Action" in statement) == ("NotAction" in statement):
        raise UnsupportedPolicyError(f"statement {statement!r}: needs exactly one of Action and NotAction")
    if implicit_resource:
        pass
    elif ("Resource" in statement) == ("NotResource" in statement):
        raise UnsupportedPolicyError(f"statement {statement!r}: needs exactly one of Resource and NotResource")
    if "Action" in statement:
        if not any(_action_matches(pattern, request.action) for pattern in _values(statement["Action"])):
            return False
    elif any(_action_matches(pattern, request.action) for pattern in _values(statement["NotAction"])):
        return False
    if implicit_resource:
        pass
    elif "Resource" in statement:
        if not any(_resource_matches(pattern, request.resource) for pattern in _values(statement["Resource"])):
            return False
    elif any(_resource_matches(pattern, request.resource) for pattern in _values(statement["NotResource"])):
        return False
    return conditions_hold(statement.get("Condition", {}), request.context)


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    if "${" in pattern:
        raise UnsupportedPolicyError(f"policy variable in {pattern!r}")
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _action_matches(pattern: str, action: str) -> bool:
    if pattern != "*" and ":" not in pattern:
        raise UnsupportedPolicyError(f"action {pattern!r} is not service:Action")
    return _wildcard(pattern, ignore_case=True).fullmatch(action) is not None


def _resource_matches(pattern: str, resource: str) -> bool:
    return _wildcard(pattern).fullmatch(resource) is not None


# ------------------------------------------------------------------------------------------ conditions
def conditions_hold(block: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    """Every operator, every key under it: all must hold (values under one key are alternatives)."""
    by_key = {name.lower(): value for name, value in context.items()}
    for operator, tests in block.items():
        if not isinstance(tests, Mapping):
            raise UnsupportedPolicyError(f"condition {operator}: {tests!r}")
        for key, policy_values in tests.items():
            if not condition_holds(operator, key, _values(policy_values), by_key):
                return False
    return True


def condition_holds(operator: str, key: str, policy_values: list[str], context: Mapping[str, ContextValue]) -> bool:  # noqa: C901 - one branch per condition operator family of the IAM reference
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicyError(f"condition qualifier {qualifier!r}")
    if_exists = base.endswith("IfExists") and base != "Null"
    base = base.removesuffix("IfExists") if if_exists else base
    if base not in OPERATORS:
        raise UnsupportedPolicyError(f"condition operator {operator!r}")
    if key.lower() not in KNOWN_CONDITION_KEYS:
        raise UnsupportedPolicyError(f"condition key {key!r}: the request table does not model it")
    for value in policy_values:
        if "${" in value:
            raise UnsupportedPolicyError(f"policy variable in condition value {value!r}")
    present = key.lower() in context
    if base == "Null":
        if qualifier:
            raise UnsupportedPolicyError(f"{operator} with a qualifier")
        (expected,) = {value.lower() for value in policy_values}
        if expected not in ("true", "false"):
            raise UnsupportedPolicyError(f"Null condition value {expected!r}")
        return (not present) if expected == "true" else present
    raw = context.get(key.lower())
    if qualifier:
        if if_exists:
            raise UnsupportedPolicyError(f"{operator}: a qualifier with ...IfExists")
        values = [] if raw is None else [_context_text(item) for item in (raw if isinstance(raw, tuple) else (raw,))]
        if qualifier == "ForAnyValue":
            return any(_single(base, value, policy_values) for value in values)
        return all(_single(base, value, policy_values) for value in values)
    if isinstance(raw, tuple):
        raise UnsupportedPolicyError(f"{operator} on the multivalued key {key} needs ForAnyValue or ForAllValues")
    if raw is None:
        return if_exists or base in NEGATED
    return _single(base, _context_text(raw), policy_values)


def _context_text(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _single(base: str, value: str, policy_values: list[str]) -> bool:
    if base in NEGATED:
        return not _single(_POSITIVE_OF[base], value, policy_values)
    return any(_compare(base, value, expected) for expected in policy_values)


def _compare(base: str, value: str, expected: str) -> bool:
    if base == "StringEquals":
        return value == expected
    if base == "StringEqualsIgnoreCase":
        return value.lower() == expected.lower()
    if base == "StringLike":
        return _wildcard(expected).fullmatch(value) is not None
    if base in ("ArnEquals", "ArnLike"):
        return _arn_like(value, expected)
    if base == "Bool":
        if expected.lower() not in ("true", "false"):
            raise UnsupportedPolicyError(f"Bool condition value {expected!r}")
        return value.lower() == expected.lower()
    if base in _NUMERIC:
        try:
            return bool(_NUMERIC[base](float(value), float(expected)))
        except ValueError as exc:
            raise UnsupportedPolicyError(f"{base}: {value!r} or {expected!r} is not a number") from exc
    raise UnsupportedPolicyError(f"condition operator {base!r}")  # pragma: no cover - OPERATORS guards it


def _arn_like(value: str, pattern: str) -> bool:
    """ArnEquals/ArnLike: each of the six colon-separated parts matched on its own, with wildcards."""
    actual, expected = value.split(":", 5), pattern.split(":", 5)
    if len(expected) != 6:
        raise UnsupportedPolicyError(f"ARN condition value {pattern!r} is not an ARN")
    if len(actual) != 6:
        return False
    return all(_wildcard(part).fullmatch(text) is not None for part, text in zip(expected, actual, strict=True))
