"""How many items an array attempt runs, counted before its claim: from the uploaded manifest, the manifest a pipeline's
previous step wrote, or the listing of the objects beside the upload, within the attempts a run can number.

The submit path calls ``count_run_items`` once per run (per pipeline step), before its claim; the claim records the
count, so no later attempt counts again. Pure: S3 comes through the ports.
"""

from __future__ import annotations

from batch_orchestrator.array_parts import PART_SIZE, part_count
from batch_orchestrator.errors import WorkloadUnavailable
from batch_orchestrator.ids import MAX_RUN_ATTEMPT
from batch_orchestrator.limits import MANIFEST_MAX_BYTES
from batch_orchestrator.manifests import ManifestRefused, count_items
from batch_orchestrator.models import S3Source, SubmitRequest
from batch_orchestrator.object_manifests import directory_manifest
from batch_orchestrator.ports import ManifestReader, ObjectStore


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
