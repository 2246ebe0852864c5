"""Reading a workload's ``array:``: its runs are AWS Batch array jobs, of a fixed size or of an uploaded manifest's.

``workload_parser`` calls ``array_spec`` for every workload entry, file and runtime form alike. Invariants,
as in the rest of the parser: every problem is reported through ``problem(field, message)``, one line each,
and nothing is coerced silently. The rules:

* ``{size: N}``: N children on every run, from BATCH_ARRAY_MIN_SIZE to ARRAY_RUN_MAX_ITEMS (more than one array job
  takes run as parts: ``array_parts``; SubmitJob: "The
  array size can be between 2 and 10,000").
* ``{manifest: upload}``: the uploaded object is the manifest; its number of items is the run's size. Only a
  workload triggered by uploads alone may have one: a schedule's firing has no object to count.
* ``{manifest: previous-step}``: a pipeline step's, the manifest its previous step wrote (``workload_steps``, which
  checks that there is a previous step).
* ``{manifest: upload-directory}``: one item per object beside the upload (``object_manifests``); as ``upload``, only
  for a workload triggered by uploads alone.
* Exactly one of the two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from batch_orchestrator.limits import ARRAY_RUN_MAX_ITEMS, BATCH_ARRAY_MIN_SIZE
from batch_orchestrator.workload_fields import FieldReport, either, is_int, kind
from batch_orchestrator.workloads import ArraySpec, ManifestSource

Report = Callable[[str, str], None]  # (field, message)

ARRAY_KEYS = ("size", "manifest")
_MANIFESTS = tuple(source.value for source in ManifestSource)
_SHAPES = f"{{size: N}} or {{manifest: {' | '.join(_MANIFESTS)}}}"


def array_spec(problem: Report, entry: Mapping[Any, Any]) -> ArraySpec | None:
    """The entry's ``array``: None when it has none, or when it is wrong (then with its problems reported)."""
    value = entry.get("array")
    if value is None:
        if "array" in entry:
            problem("array", f"must be a mapping, {_SHAPES}, got nothing (null)")
        return None
    if not isinstance(value, Mapping):
        problem("array", f"must be a mapping, {_SHAPES}, got {kind(value)}")
        return None
    report = FieldReport(problem)
    report.unknown_keys(value, ARRAY_KEYS, "array")
    has_size, has_manifest = "size" in value, "manifest" in value
    if has_size == has_manifest and not (report.failed and not has_size):  # a misspelt key is one problem, not two
        report("array", "needs exactly one of size (a fixed number of children) and manifest (upload)")
    size = _size(report, value["size"]) if has_size else None
    manifest = _manifest(report, value["manifest"], entry) if has_manifest else None
    if report.failed:
        return None
    return ArraySpec(size=size, manifest=manifest)


def _size(report: Report, value: object) -> int | None:
    low, high = BATCH_ARRAY_MIN_SIZE.value, ARRAY_RUN_MAX_ITEMS.value
    if not is_int(value) or not isinstance(value, int):
        report("array.size", f"must be a whole number of children, {low} to {high:,}, got {kind(value)}")
        return None
    if not low <= value <= high:
        why = "more than 10,000 run as array jobs of 10,000 one after another; for one item, leave array out"
        report("array.size", f"must be between {low} and {high:,} ({why}), got {value}")
        return None
    return value


def _manifest(report: Report, value: object, entry: Mapping[Any, Any]) -> ManifestSource | None:
    if value not in _MANIFESTS:
        why = "the uploaded object, the manifest the previous pipeline step wrote, or the objects beside the upload"
        report("array.manifest", f"must be {either(_MANIFESTS)} ({why}), got {kind(value)}")
        return None
    if value == ManifestSource.PREVIOUS_STEP.value:
        return ManifestSource.PREVIOUS_STEP
    if entry.get("match") is None:
        report(
            "array.manifest",
            f"{value} needs a key rule (match): the manifest comes from the upload, and only uploads have one",
        )
        return None
    if entry.get("schedules"):
        report(
            "array.manifest",
            "cannot go with schedules: a schedule's firing uploads nothing, so it has no manifest to count",
        )
        return None
    return ManifestSource(str(value))
