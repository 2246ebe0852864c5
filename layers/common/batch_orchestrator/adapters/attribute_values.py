"""DynamoDB attribute values to Python values and back, as boto3.dynamodb.types converts them.

Not boto3.dynamodb.types itself: importing it imports all of boto3 (its session, resources and
s3transfer) for two small functions, about 30 ms of every cold start (`make bench`), while the
functions need nothing of boto3 but botocore's clients. The mapping and the errors are boto3's:
numbers come back as Decimal in DynamoDB's 38-digit context, floats are refused, sets are SS/NS/BS.
One difference: a binary value comes back as ``bytes``, not boto3's ``Binary`` wrapper (the runs
table holds none).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def serialize(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value, e.g. ``"a"`` → ``{"S": "a"}``."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": value}
    if isinstance(value, set | frozenset):
        # boto3's order: an empty set is a number set.
        if all(_is_number(item) for item in value):
            return {"NS": [_number(item) for item in value]}
        if all(isinstance(item, str) for item in value):
            return {"SS": list(value)}
        if all(isinstance(item, bytes | bytearray) for item in value):
            return {"BS": list(value)}
    if isinstance(value, Mapping):
        return {"M": {key: serialize(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(item) for item in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(value: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as a Python value, e.g. ``{"N": "5"}`` → ``Decimal("5")``."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind, data = next(iter(value.items()))
    kind = kind.upper()  # boto3 looks the type up case-insensitively
    if kind == "S":
        return data
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(data)
    if kind == "BOOL":
        return data
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: deserialize(item) for key, item in data.items()}
    if kind == "L":
        return [deserialize(item) for item in data]
    if kind == "SS":
        return set(data)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(item) for item in data}
    if kind == "B":
        return data
    if kind == "BS":
        return set(data)
    raise TypeError(f"Dynamodb type {next(iter(value))} is not supported")


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal)  # bool too, as in boto3: serialize() tests for bool first


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number
