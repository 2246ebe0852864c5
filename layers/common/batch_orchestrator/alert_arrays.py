"""What a run-failed alert adds for an array run: its size, the items of the failed attempt, the failed children.

``alerts.build_run_failed_alert`` calls these for an array run's attempt only, so a single job's alert is the
one it always was. Invariant: the failed items are listed those that could not be retried first (they failed the run),
each group in item order, the first ALERT_FAILED_ITEMS with their exit code, reason and verdict, then "and N
more"; the JSON carries the same entries and the counts of all of them. Free text is clipped as in every alert
(``alert_format``), so the body stays far below SNS's size whatever the array's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from batch_orchestrator.alert_format import clip, display
from batch_orchestrator.array_items import items_text
from batch_orchestrator.models import JobObservation

if TYPE_CHECKING:
    from batch_orchestrator.array_retry import ChildVerdict

ALERT_FAILED_ITEMS = 20  # failed items an alert lists one by one; the rest are counted
_REASON_CHARS = 200


def is_array_attempt(observation: JobObservation) -> bool:
    """An attempt of an array workload's run: an array job, or a single job of one of its items."""
    return observation.array is not None or observation.array_size > 0


def attempt_items(observation: JobObservation) -> str:
    """The original items the attempt ran, as ranges ("0-2" for a whole array of 3)."""
    if observation.items:
        return items_text(observation.items)
    return items_text(range(observation.array_size)) if observation.array_size else "0"


def failed_counts(observation: JobObservation, verdicts: Sequence[ChildVerdict]) -> tuple[int, int]:
    """(failed children, children of the attempt)."""
    total = observation.children or (observation.array.size if observation.array is not None else 1)
    return len(verdicts), total


def array_rows(observation: JobObservation, verdicts: Sequence[ChildVerdict]) -> list[tuple[str, str]]:
    """The summary's rows: the array, the attempt's items, how many children failed."""
    rows = [("Array", f"{observation.array_size} items" if observation.array_size else "an array")]
    rows.append(("Items", f"{attempt_items(observation)} ({observation.children or 1} in this attempt)"))
    if verdicts:
        failed, total = failed_counts(observation, verdicts)
        refused = sum(1 for verdict in verdicts if not verdict.retryable)
        rows.append(("Failed", f"{failed} of {total} children ({refused} not retryable)"))
    return rows


def _ordered(verdicts: Sequence[ChildVerdict]) -> list[ChildVerdict]:
    return sorted(verdicts, key=lambda verdict: (verdict.retryable, verdict.child.item))


def failed_item_lines(verdicts: Sequence[ChildVerdict]) -> list[str]:
    """ "Failed items:" and one line per listed item, then "and N more"."""
    if not verdicts:
        return []
    lines = ["Failed items:"]
    for verdict in _ordered(verdicts)[:ALERT_FAILED_ITEMS]:
        child = verdict.child
        code = f"exit code {child.exit_code}" if child.exit_code is not None else "no exit code"
        retry = "retryable" if verdict.retryable else f"not retryable: {verdict.why}"
        line = f"  item {child.item} (child {child.index}): {code}, {retry}"
        lines.append(f"{line} - {display(child.reason, _REASON_CHARS)}" if child.reason else line)
    rest = len(verdicts) - ALERT_FAILED_ITEMS
    if rest > 0:
        lines.append(f"  and {rest} more")
    return lines


def array_details(observation: JobObservation, verdicts: Sequence[ChildVerdict]) -> dict[str, Any]:
    """The JSON fields of an array attempt."""
    failed, total = failed_counts(observation, verdicts)
    listed = _ordered(verdicts)[:ALERT_FAILED_ITEMS]
    refused = [verdict.child.item for verdict in _ordered(verdicts) if not verdict.retryable]
    return {
        "arraySize": observation.array_size or None,
        "items": attempt_items(observation),
        "children": total,
        "failedChildren": failed,
        "failedItems": [
            {
                "item": verdict.child.item,
                "index": verdict.child.index,
                "exitCode": verdict.child.exit_code,
                "reason": clip(verdict.child.reason, _REASON_CHARS),
                "retryable": verdict.retryable,
                "why": clip(verdict.why, _REASON_CHARS),
            }
            for verdict in listed
        ],
        "moreFailedItems": max(0, failed - len(listed)),
        "notRetryableChildren": len(refused),
        "notRetryableItems": refused[:ALERT_FAILED_ITEMS],
    }
