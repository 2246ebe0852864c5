"""Amazon S3: the objects beside an upload (ListObjectsV2, 1,000 keys a page) and the one-time write of their listing
(PutObject with If-None-Match: *, which S3 refuses with 412 PreconditionFailed when the key exists: "How to prevent
object overwrites with conditional writes", Amazon S3 User Guide)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.errors import ManifestUnreadable

# The key exists (412); or a concurrent conditional write to it is in flight (409 ConditionalRequestConflict, which the
# same page says to retry: the next delivery reads the listing the other write left).
_EXISTS = frozenset({"PreconditionFailed", "412"})


class S3Objects:
    """``ObjectStore`` on Amazon S3."""

    def list_keys(self, *, bucket: str, prefix: str, limit: int) -> list[str]:
        keys: list[str] = []
        try:
            pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                keys.extend(str(entry["Key"]) for entry in page.get("Contents", []))
                if len(keys) >= limit:
                    return keys[:limit]
        except (ClientError, BotoCoreError) as exc:
            raise ManifestUnreadable(f"ListObjectsV2 of s3://{bucket}/{prefix} failed: {exc}") from exc
        return keys

    def create(self, *, bucket: str, key: str, body: bytes) -> bool:
        try:
            client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _EXISTS:
                return False
            raise ManifestUnreadable(f"PutObject of the manifest s3://{bucket}/{key} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise ManifestUnreadable(f"PutObject of the manifest s3://{bucket}/{key} failed: {exc}") from exc
        return True
