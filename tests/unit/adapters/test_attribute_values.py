"""The runs table's attribute-value conversion is boto3.dynamodb.types', without importing boto3 in Lambda."""

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from batch_orchestrator.adapters.attribute_values import deserialize, serialize

numbers = st.one_of(
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
values = st.recursive(
    st.one_of(
        scalars,
        st.frozensets(st.text(min_size=1, max_size=5), min_size=1, max_size=4).map(set),
        st.frozensets(st.integers(), min_size=1, max_size=4).map(set),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _sets_as_sorted_lists(attribute: Any) -> Any:
    """Set attributes come out in the set's iteration order, which may differ between two set objects."""
    if isinstance(attribute, dict):
        return {
            key: sorted(value) if key in ("SS", "NS", "BS") else _sets_as_sorted_lists(value)
            for key, value in attribute.items()
        }
    if isinstance(attribute, list):
        return [_sets_as_sorted_lists(item) for item in attribute]
    return attribute


def _converted(convert: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", _sets_as_sorted_lists(convert(value))
    except Exception as exc:  # the type of the refusal is what is compared
        return "refused", type(exc)


@given(values)
def test_serialize_is_boto3s(value: Any) -> None:
    # Given any value the runs table could hold (or one boto3 refuses, e.g. a number of 39 digits)
    # When it is converted both ways
    ours = _converted(serialize, value)
    theirs = _converted(TypeSerializer().serialize, value)
    # Then the attribute values are the same (or both refuse it the same way), and read back the same
    assert ours == theirs
    if ours[0] == "ok":
        assert deserialize(serialize(value)) == TypeDeserializer().deserialize(TypeSerializer().serialize(value))


@pytest.mark.parametrize(
    "value",
    [1.5, {"nested": [0.1]}, Decimal("Infinity"), Decimal("NaN"), Decimal("1" * 39), object(), {1.0, 2.0}],
)
def test_what_boto3_refuses_is_refused(value: Any) -> None:
    # Given a value boto3 refuses (floats, infinities, more than 38 digits, unknown types)
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - the type is what we compare
        TypeSerializer().serialize(value)
    # When / Then it is refused with the same exception type
    with pytest.raises(type(theirs.value)):
        serialize(value)


def test_deserialize_reads_every_attribute_type_as_boto3_does() -> None:
    # Given an item with every attribute type DynamoDB returns (binary excepted: bytes, not Binary)
    item = {
        "M": {
            "s": {"S": "a"},
            "n": {"N": "12.50"},
            "b": {"BOOL": False},
            "z": {"NULL": True},
            "l": {"L": [{"N": "1"}, {"S": "x"}]},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2.5"]},
        }
    }
    # Then both read it the same
    assert deserialize(item) == TypeDeserializer().deserialize(item)
    assert deserialize({"B": b"\x00"}) == b"\x00"
    with pytest.raises(TypeError):
        deserialize({})
    with pytest.raises(TypeError):
        deserialize({"X": "?"})
