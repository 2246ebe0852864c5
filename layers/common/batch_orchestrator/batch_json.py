"""Typed reads of the JSON AWS Batch sends (event details, DescribeJobs entries).

Invariant: a field that is present but not of the type Batch documents is a MalformedMessage whose
text names the field's path (``detail.attempts[0].container.exitCode``), never a guess; an absent
optional field is None (or an empty list). Batch adds fields at any time, so what is not read here
is never looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_orchestrator.errors import MalformedMessage


def describe(value: object) -> str:
    """A value as an error message shows it: its type and a short repr, or "missing"/"empty"."""
    if value is None:
        return "missing"
    if value == "":
        return "empty"
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def required_str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{where}.{key} is {describe(value)}, expected a non-empty string")
    return value


def optional_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MalformedMessage(f"{where}.{key} is {describe(value)}, expected a string")


def optional_int(data: Mapping[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MalformedMessage(f"{where}.{key} is {describe(value)}, expected an integer")


def optional_bool(data: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise MalformedMessage(f"{where}.{key} is {describe(value)}, expected a boolean")


def optional_mapping(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise MalformedMessage(f"{where}.{key} is {describe(value)}, expected an object")


def list_of_mappings(data: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedMessage(f"{where}.{key} is {describe(value)}, expected a list")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise MalformedMessage(f"{where}.{key}[{index}] is {describe(item)}, expected an object")
    return value
