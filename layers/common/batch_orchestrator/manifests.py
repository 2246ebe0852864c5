"""Counting the items of a manifest: a workload with ``array: {manifest: upload}`` (or a pipeline step with
``{manifest: previous-step}``) runs one child per item.

Pure (the bytes come from the ManifestReader port). A manifest is either a JSON array (its elements are the items,
whatever they are) or text with one item per line (blank lines do not count). The first character that is not
whitespace tells them apart: ``[`` is JSON. Invariants:

* A manifest is counted, never truncated: one of more items than an array run takes (ARRAY_RUN_MAX_ITEMS), or
  larger than MANIFEST_MAX_BYTES, refuses the run with the reason; so does an empty one, or a JSON document that is
  not an array.
* 1 item runs as a single job (AWS Batch's arrays start at 2 children), 2 to 10,000 as an array job, more as array
  jobs of at most 10,000, one after another (``array_parts``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from batch_orchestrator.array_parts import PART_SIZE, part_count
from batch_orchestrator.errors import WorkloadUnavailable
from batch_orchestrator.ids import MAX_RUN_ATTEMPT
from batch_orchestrator.limits import ARRAY_RUN_MAX_ITEMS, MANIFEST_MAX_BYTES
from batch_orchestrator.models import S3Source, SubmitRequest
from batch_orchestrator.ports import ManifestReader, ObjectStore


@dataclass(frozen=True)
class ManifestRefused:
    """Why an upload's manifest cannot run: its run is recorded FAILED with this reason, and alerted."""

    reason: str


def count_items(data: bytes, *, truncated: bool = False) -> int | ManifestRefused:
    """The number of items in a manifest's bytes (at most MANIFEST_MAX_BYTES of them: ``truncated`` says the object
    had more), or why it cannot run."""
    limit, largest = MANIFEST_MAX_BYTES.value, ARRAY_RUN_MAX_ITEMS.value
    if truncated:
        return ManifestRefused(
            f"the manifest is larger than the {limit:,} bytes the submit function reads; split it into several "
            "uploads (runs)"
        )
    text = data.decode("utf-8", errors="replace")
    if text.lstrip().startswith("["):
        try:
            document = json.loads(text)
        except ValueError as exc:
            return ManifestRefused(f"the manifest starts as a JSON array but is not JSON: {exc}")
        if not isinstance(document, list):
            return ManifestRefused("the manifest starts as a JSON array but is not one")
        count = len(document)
    else:
        count = sum(1 for line in text.splitlines() if line.strip())
    if count == 0:
        return ManifestRefused("the manifest holds no items: an empty JSON array, or no line that is not blank")
    if count > largest:
        return ManifestRefused(
            f"the manifest holds {count:,} items, more than the {largest:,} one array run takes (as array jobs of "
            "10,000 one after another); split it into several uploads (runs)"
        )
    return count


def count_run_items(
    request: SubmitRequest,
    manifests: ManifestReader | None,
    *,
    step_manifest: str | None,
    bucket: str,
    max_attempts: int,
    later_attempts: int,
    directory: tuple[str, ObjectStore | None] | None = None,
) -> int | ManifestRefused:
    """The number of items a run's manifest gives its array (the uploaded object itself, or its previous pipeline
    step's ``step_manifest`` in ``bucket``: one GetObject; or, with ``directory`` (where its listing is kept, and S3),
    the objects beside the upload: ``object_manifests``), or why it cannot run: ``count_items``' reasons, or a run whose
    parts (each allowed ``max_attempts``) and later steps (``later_attempts``) could take more attempts than a run
    numbers. WorkloadUnavailable when this function has no reader; ManifestUnreadable (the reader's) when S3 fails."""
    source = request.source
    data: bytes | None
    if directory is not None:
        manifest_key, objects = directory
        if manifests is None or objects is None or not isinstance(source, S3Source):
            raise WorkloadUnavailable(f"run {request.run_id} lists its upload's directory, which this function cannot")
        from batch_orchestrator.object_manifests import directory_manifest  # only for upload-directory arrays

        listed = directory_manifest(source, manifest_key=manifest_key, objects=objects, manifests=manifests)
        if isinstance(listed, ManifestRefused):
            return listed
        data = listed
    elif step_manifest is not None:
        if manifests is None or not bucket:
            raise WorkloadUnavailable(
                f"run {request.run_id} counts its previous step's manifest, which this function cannot read "
                "(no manifest reader, or no OUTPUT_BUCKET)"
            )
        data = manifests.read(S3Source(bucket=bucket, key=step_manifest))
    else:
        if manifests is None or not isinstance(source, S3Source):
            raise WorkloadUnavailable(
                f"run {request.run_id} counts its upload's manifest, which this function cannot read"
            )
        data = manifests.read(source)
    if data is None:
        where = f"the previous step wrote no manifest at s3://{bucket}/{step_manifest}"
        return ManifestRefused(
            where if step_manifest else "the manifest (the uploaded object version) no longer exists"
        )
    counted = count_items(data[: MANIFEST_MAX_BYTES.value], truncated=len(data) > MANIFEST_MAX_BYTES.value)
    if isinstance(counted, ManifestRefused):
        return counted
    most = request.attempt - 1 + part_count(counted) * max_attempts + later_attempts
    if most <= MAX_RUN_ATTEMPT:
        return counted
    return ManifestRefused(
        f"the manifest's {counted:,} items run as {part_count(counted)} array jobs of up to {PART_SIZE:,}, each "
        f"allowed {max_attempts} attempts: with the run's other attempts that is up to {most}, over the "
        f"{MAX_RUN_ATTEMPT} a run can number; lower retry.max_attempts or split the manifest"
    )
