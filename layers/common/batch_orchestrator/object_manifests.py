"""An array of the objects beside an upload (``array: {manifest: upload-directory}``): one child per object.

The submit function lists the upload's "directory" (its key up to the last "/"), leaves out the upload itself (the
marker a producer writes last, such as ``_READY``) and any folder placeholder (a key ending in "/"), and writes the
keys, as a JSON array in S3's listing order, as the run's manifest under the output prefix
(``<OutputPrefix><run id>/<workload>/objects``). Its children read their key there (MANIFEST_KEY, item
``AWS_BATCH_JOB_ARRAY_INDEX``), so what lands in the directory afterwards changes nothing.

Invariant: every delivery of one run sizes its array from the same listing. The manifest is written with S3's
conditional write (``If-None-Match: *``: "How to prevent object overwrites with conditional writes", Amazon S3 User
Guide, which answers 412 Precondition Failed when the key exists); a delivery that finds it written (before listing, or
by the refused write) counts that one. Pure: S3 comes through the ports.
"""

from __future__ import annotations

import json

from batch_orchestrator.limits import ARRAY_RUN_MAX_ITEMS, MANIFEST_MAX_BYTES
from batch_orchestrator.manifests import ManifestRefused
from batch_orchestrator.models import S3Source
from batch_orchestrator.ports import ManifestReader, ObjectStore

OBJECTS_MANIFEST_NAME = "objects"


def upload_directory(key: str) -> str:
    """The key prefix up to and with the last "/" of ``key`` ("" for a key without one: the bucket's top)."""
    return key[: key.rfind("/") + 1]


def objects_manifest_key(output_prefix: str, run_id: str, workload: str) -> str:
    """Where the listing of run ``run_id``'s directory is kept: under the output prefix, never routed."""
    return f"{output_prefix}{run_id}/{workload}/{OBJECTS_MANIFEST_NAME}"


def directory_manifest(
    source: S3Source, *, manifest_key: str, objects: ObjectStore, manifests: ManifestReader
) -> bytes | ManifestRefused:
    """The run's manifest of the objects beside ``source``: the one written already, else the listing, written now.

    ManifestUnreadable (the ports') when S3 fails: the delivery fails and SQS delivers it again.
    """
    directory = upload_directory(source.key)
    if not directory:
        return ManifestRefused(
            f"the upload {source.key!r} has no directory (no '/' in its key), so there are no objects beside it to run"
        )
    written = S3Source(bucket=source.bucket, key=manifest_key)
    existing = manifests.read(written)
    if existing is not None:
        return existing
    limit = ARRAY_RUN_MAX_ITEMS.value
    keys = [
        key
        for key in objects.list_keys(bucket=source.bucket, prefix=directory, limit=limit + 2)
        if key != source.key and not key.endswith("/")
    ]
    if len(keys) > limit:
        return ManifestRefused(
            f"the directory {directory!r} holds more than {limit:,} objects, more than one array run takes"
        )
    body = json.dumps(keys, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MANIFEST_MAX_BYTES.value:
        return ManifestRefused(
            f"the keys of the {len(keys):,} objects under {directory!r} take {len(body):,} bytes, more than the "
            f"{MANIFEST_MAX_BYTES.value:,} a manifest may"
        )
    if objects.create(bucket=source.bucket, key=manifest_key, body=body):
        return body
    # Another delivery wrote it between our read and our write: its listing is the run's.
    existing = manifests.read(written)
    return existing if existing is not None else body
