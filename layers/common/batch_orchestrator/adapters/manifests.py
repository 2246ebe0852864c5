"""Amazon S3: reading an uploaded manifest (one GetObject of at most MANIFEST_MAX_BYTES + 1 bytes)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.errors import ManifestUnreadable, ManifestUnwritable
from batch_orchestrator.limits import MANIFEST_MAX_BYTES
from batch_orchestrator.models import S3Source

# The object version is gone (deleted, or expired as a noncurrent version) between the upload and its run.
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "404"})
# An empty object: a range starting at byte 0 is "unsatisfiable" for a zero-length representation (HTTP range
# requests, RFC 9110 section 14.1.1), so S3 answers 416 InvalidRange instead of 0 bytes. Empty, not unreadable.
_EMPTY = "InvalidRange"


class S3Manifests:
    """Data access for the manifests array workloads run: the upload (``array: {manifest: upload}``), or the one a
    pipeline's previous step wrote (``{manifest: previous-step}``)."""

    def read(self, source: S3Source) -> bytes | None:
        """The first MANIFEST_MAX_BYTES + 1 bytes of the uploaded object version (so a longer one shows it is
        longer; b"" for an empty one), or None when it no longer exists; ManifestUnreadable for any other failure."""
        request = {"Bucket": source.bucket, "Key": source.key, "Range": f"bytes=0-{MANIFEST_MAX_BYTES.value}"}
        if source.version_id:
            request["VersionId"] = source.version_id
        try:
            response = client("s3").get_object(**request)
            data: bytes = response["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _GONE:
                return None
            if code == _EMPTY:
                return b""
            raise ManifestUnreadable(
                f"GetObject of the manifest s3://{source.bucket}/{source.key} failed: {exc}"
            ) from exc
        except BotoCoreError as exc:
            raise ManifestUnreadable(
                f"GetObject of the manifest s3://{source.bucket}/{source.key} failed: {exc}"
            ) from exc
        return data


class S3ManifestWriter:
    """Amazon S3: the coalescer writes each batch's manifest (one PutObject, under COALESCED_MANIFEST_PREFIX)."""

    def write(self, source: S3Source, body: bytes) -> None:
        try:
            client("s3").put_object(Bucket=source.bucket, Key=source.key, Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise ManifestUnwritable(
                f"PutObject of the manifest s3://{source.bucket}/{source.key} failed: {exc}"
            ) from exc
