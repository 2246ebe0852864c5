"""An attempt's original items as ranges (batch_orchestrator.array_items): one spelling per set, read back exactly,
and the child's decoding snippet of docs/workloads.md ("Arrays") reads them as the orchestrator does."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_orchestrator.array_items import MAX_ITEM, items_text, parse_items
from tests.support.events import REPO_ROOT


@pytest.mark.parametrize(
    ("items", "text"),
    [
        ([3, 7, 8, 9, 42], "3,7-9,42"),
        ([42, 9, 3, 8, 7, 8], "3,7-9,42"),
        ([0], "0"),
        (range(10_000), "0-9999"),
        ([1, 2], "1-2"),
        ([], ""),
    ],
)
def test_a_set_of_items_has_one_spelling(items: list[int], text: str) -> None:
    # Given / When / Then
    assert items_text(items) == text


@given(st.sets(st.integers(min_value=0, max_value=MAX_ITEM), min_size=1, max_size=200))
def test_the_ranges_read_back_as_the_sorted_items(items: set[int]) -> None:
    # Given a set of items written as ranges
    text = items_text(items)

    # When it is read back
    read = parse_items(text)

    # Then it is the items in ascending order, the order children get them, and the text has no spaces
    assert read == tuple(sorted(items))
    assert " " not in text


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("", "empty"),
        ("3,,4", "is not an item"),
        ("9-7", "reversed"),
        ("3,2", "does not come after 3"),
        ("1-5,4", "does not come after 5"),
        ("100000", "past the largest item"),
        ("a", "is not an item"),
        (" 3", "is not an item"),
        ("-3", "is not an item"),
    ],
)
def test_anything_else_is_refused_naming_the_fault(text: str, fault: str) -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match=fault):
        parse_items(text)


def test_an_item_outside_an_array_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="outside"):
        items_text([MAX_ITEM + 1])
    with pytest.raises(ValueError, match="outside"):
        items_text([-1])


def _docs_snippet() -> Any:
    """The decoding snippet of docs/workloads.md's "Arrays" section, as a child would paste it."""
    text = (REPO_ROOT / "docs" / "workloads.md").read_text(encoding="utf-8")
    section = text.split("\n## Arrays", 1)[1].split("\n## ", 1)[0]
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "def array_items" in block]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["array_items"]


@given(st.sets(st.integers(min_value=0, max_value=MAX_ITEM), min_size=1, max_size=100))
def test_the_documented_snippet_decodes_as_the_orchestrator_writes(items: set[int]) -> None:
    # Given the snippet a child uses to read ARRAY_ITEMS
    decode = _docs_snippet()

    # When it decodes what the orchestrator wrote
    # Then it finds the same items in the same order
    assert decode(items_text(items)) == sorted(items)
