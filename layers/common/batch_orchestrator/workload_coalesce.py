"""Reading a workload's ``coalesce:``: a burst of its uploads runs as one array job over a manifest, not one job each.

``workload_parser`` calls ``coalesce_spec`` for every workload entry, file and runtime form alike. Invariants, as in
the rest of the parser: every problem is reported through ``problem(field, message)``, one line each, and nothing
is coerced silently. The rules:

* ``window_seconds``: 1 to 300 (default 60): the workload queue's event source mapping's
  MaximumBatchingWindowInSeconds ("Lambda parameters for Amazon SQS event source mappings": up to 300 s; a
  BatchSize above 10 needs a window of at least 1 s).
* ``max_items``: 2 to 10,000 (default 10,000): its BatchSize (10,000 at most on a standard queue, the same
  page) and so the largest array a batch becomes (Batch's array jobs hold 2 to 10,000 children).
* Only a workload with a key rule (its schedules, if any, still fire one job each: a firing is not an upload)
  and without ``array`` (a coalesced run IS an array, of its uploads); not combined with pipelines (``then``)
  in this change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from batch_orchestrator.limits import BATCH_ARRAY_MAX_SIZE, LAMBDA_MAX_BATCHING_WINDOW, LAMBDA_SQS_MAX_BATCH_SIZE
from batch_orchestrator.workload_fields import FieldReport, is_int, kind
from batch_orchestrator.workloads import CoalesceSpec

Report = Callable[[str, str], None]  # (field, message)

COALESCE_KEYS = ("window_seconds", "max_items")
DEFAULT_WINDOW_SECONDS = 60
DEFAULT_MAX_ITEMS = min(LAMBDA_SQS_MAX_BATCH_SIZE.value, BATCH_ARRAY_MAX_SIZE.value)
MIN_MAX_ITEMS = 2  # one item is a plain upload: leave coalesce out
_SHAPE = "{window_seconds: 1..300, max_items: 2..10000}"


def coalesce_spec(problem: Report, entry: Mapping[Any, Any]) -> CoalesceSpec | None:
    """The entry's ``coalesce``: None when it has none, or when it is wrong (then with its problems reported)."""
    if "coalesce" not in entry:
        return None
    value = entry["coalesce"]
    if not isinstance(value, Mapping):
        problem("coalesce", f"must be a mapping {_SHAPE} (or {{}} for the defaults), got {kind(value)}")
        return None
    report = FieldReport(problem)
    report.unknown_keys(value, COALESCE_KEYS, "coalesce")
    window = _number(report, value, "window_seconds", DEFAULT_WINDOW_SECONDS, 1, LAMBDA_MAX_BATCHING_WINDOW.value)
    items = _number(report, value, "max_items", DEFAULT_MAX_ITEMS, MIN_MAX_ITEMS, DEFAULT_MAX_ITEMS)
    _combinations(report, entry)
    if report.failed or window is None or items is None:
        return None
    return CoalesceSpec(window_seconds=window, max_items=items)


def _number(report: Report, value: Mapping[Any, Any], key: str, default: int, low: int, high: int) -> int | None:
    number = value.get(key, default)
    if not is_int(number) or not isinstance(number, int):
        report(f"coalesce.{key}", f"must be a whole number, {low} to {high:,}, got {kind(number)}")
        return None
    if not low <= number <= high:
        report(f"coalesce.{key}", f"must be between {low} and {high:,}, got {number}")
        return None
    return number


def _combinations(report: Report, entry: Mapping[Any, Any]) -> None:
    """One problem line for the first field coalescing cannot go with."""
    if entry.get("match") is None:
        report("coalesce", "needs a key rule (match): only uploads are coalesced, a schedule's firing is not one")
    elif entry.get("array") is not None:
        report("coalesce", "cannot go with array: a coalesced run is already an array, one child per upload")
    elif "then" in entry:
        report("coalesce", "cannot go with then: coalesced runs do not start pipelines yet")
