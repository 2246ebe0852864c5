"""Which original items one attempt of an array run processes, written as ranges: ``3,7-9,42``.

An array run's first attempt processes every item: its child ``i`` processes item ``i``. A child-only retry
processes the items that failed, and only them, as a smaller array (a single job for one item): its child
``i`` processes the ``i``-th of those items in ascending order. The same text travels twice with the job:
as ARRAY_ITEMS in its environment (what the child reads, docs/workloads.md "Arrays") and as SubmitJob's
``parameters.arrayItems``, which Batch repeats in every event of the job, so the tracker maps a failed
child's index back to its item from the event alone.

Invariants: one set has one spelling (ascending, adjacent items merged into ranges, no spaces), and
``parse_items`` reads back exactly the sets ``items_text`` writes, in the order children get them; anything
else (a reversed or overlapping range, an item past the largest array) is a ValueError naming the fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from batch_orchestrator.limits import ARRAY_RUN_MAX_ITEMS

MAX_ITEM = ARRAY_RUN_MAX_ITEMS.value - 1
_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def items_text(items: Iterable[int]) -> str:
    """``[3, 7, 8, 9, 42]`` -> ``"3,7-9,42"`` (any order, duplicates ignored; ``""`` for none)."""
    parts: list[str] = []
    start = previous = None
    for item in sorted(set(items)):
        if not 0 <= item <= MAX_ITEM:
            raise ValueError(f"array item {item} is outside 0..{MAX_ITEM}")
        if previous is not None and item == previous + 1:
            previous = item
            continue
        if start is not None:
            parts.append(_range(start, previous))
        start = previous = item
    if start is not None:
        parts.append(_range(start, previous))
    return ",".join(parts)


def _range(low: int, high: int | None) -> str:
    return str(low) if high is None or high == low else f"{low}-{high}"


def parse_items(text: str) -> tuple[int, ...]:
    """``"3,7-9,42"`` -> ``(3, 7, 8, 9, 42)``: ascending, each item once; ValueError for anything else."""
    if not text:
        raise ValueError("array items are empty")
    items: list[int] = []
    for part in text.split(","):
        match = _RANGE.fullmatch(part)
        if match is None:
            raise ValueError(f"array items {_shown(text)}: {part!r} is not an item or a range like 7-9")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if high < low:
            raise ValueError(f"array items {_shown(text)}: range {part!r} is reversed")
        if high > MAX_ITEM:
            raise ValueError(f"array items {_shown(text)}: {high} is past the largest item, {MAX_ITEM}")
        if items and low <= items[-1]:
            raise ValueError(f"array items {_shown(text)}: {part!r} does not come after {items[-1]}")
        items.extend(range(low, high + 1))
    return tuple(items)


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")
