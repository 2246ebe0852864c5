"""Reading what AWS Batch says of array jobs: a parent's ``arrayProperties``, an attempt's items, a failed child.

Pure functions over the JSON Batch sends, like ``batch_events`` (which calls the first two for every job of
ours) and with the same invariant: a field present in a shape Batch does not document is a MalformedMessage
naming its path, never a guess. What AWS documents (API Reference, by title):

* ArrayPropertiesDetail / ArrayPropertiesSummary: ``size`` and ``statusSummary`` "for parent array jobs",
  ``index`` "for array job children" (so a parent is told by its ``size``, a child by its ``index``).
* JobSummary (ListJobs): ``container`` (a ContainerSummary: ``exitCode``, ``reason``), ``statusReason``,
  ``arrayProperties``. "Array jobs" (User Guide): a child's job id is ``<parent id>:<index>``, which serves
  when a summary lacks ``arrayProperties`` (moto's ListJobs leaves it out).
* "Resource: Job state change events": the event's ``detail`` resembles the JobDetail, ``parameters`` included,
  so the ``arrayItems`` parameter a child-only retry was submitted with comes back in each of its events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_orchestrator.array_items import parse_items
from batch_orchestrator.batch_json import describe, optional_int, optional_mapping, optional_str
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.job_outcome import optional_reason, says_timed_out
from batch_orchestrator.models import ArrayState, ChildFailure

# SubmitJob's ``parameters`` key of a child-only retry's items (the same ranges as ARRAY_ITEMS).
ARRAY_ITEMS_PARAMETER = "arrayItems"


def array_state(job: Mapping[str, Any], where: str) -> ArrayState | None:
    """The parent's size and children by status; None for a job that is no array parent."""
    array = optional_mapping(job, "arrayProperties", where)
    if array is None:
        return None
    array_where = f"{where}.arrayProperties"
    size = optional_int(array, "size", array_where)
    if size is None:
        return None
    if size < 1:
        raise MalformedMessage(f"{array_where}.size is {size}, expected a count of children")
    summary = optional_mapping(array, "statusSummary", array_where) or {}
    counts = []
    for status, count in summary.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise MalformedMessage(f"{array_where}.statusSummary.{status} is {describe(count)}, expected a count")
        counts.append((str(status), count))
    return ArrayState(size=size, status_summary=tuple(sorted(counts)))


def attempt_items(job: Mapping[str, Any], where: str) -> tuple[int, ...]:
    """The original items the attempt runs, from ``parameters.arrayItems``; () when it runs all of them."""
    parameters = optional_mapping(job, "parameters", where)
    if parameters is None:
        return ()
    text = optional_str(parameters, ARRAY_ITEMS_PARAMETER, f"{where}.parameters")
    if text is None:
        return ()
    try:
        return parse_items(text)
    except ValueError as exc:
        raise MalformedMessage(f"{where}.parameters.{ARRAY_ITEMS_PARAMETER}: {exc}") from None


def child_failure(summary: Mapping[str, Any], where: str) -> ChildFailure:
    """A failed child as ListJobs lists it, its ``item`` still its index (``tracking`` maps it to the original)."""
    if not isinstance(summary, Mapping):
        raise MalformedMessage(f"{where} is {describe(summary)}, expected an object")
    array = optional_mapping(summary, "arrayProperties", where) or {}
    index = optional_int(array, "index", f"{where}.arrayProperties")
    if index is None:
        job_id = optional_str(summary, "jobId", where) or ""
        suffix = job_id.rpartition(":")[2] if ":" in job_id else ""
        index = int(suffix) if suffix.isascii() and suffix.isdigit() else None
    if index is None or index < 0:
        raise MalformedMessage(f"{where}.arrayProperties.index is {describe(index)}, expected a child's index")
    container = optional_mapping(summary, "container", where) or {}
    status_reason = optional_reason(summary, "statusReason", where)
    return ChildFailure(
        index=index,
        item=index,
        exit_code=optional_int(container, "exitCode", f"{where}.container"),
        reason=optional_reason(container, "reason", f"{where}.container") or status_reason,
        status_reason=status_reason,
        timed_out=says_timed_out(status_reason),
    )
