"""``ObjectStore`` in memory: the keys of one bucket, listed in S3's order (UTF-8 binary), and the conditional write
of a listing (refused when the key exists, as S3's If-None-Match: * is). tests/unit/test_object_manifests.py holds it
to S3Objects on moto with the same assertions."""

from __future__ import annotations

from batch_orchestrator.errors import ManifestUnreadable
from batch_orchestrator.models import S3Source
from tests.support.fakes import FakeManifests


class FakeObjects:
    def __init__(self, manifests: FakeManifests) -> None:
        self.manifests = manifests  # what create() writes is read back through it, as S3Manifests reads S3
        self.keys: dict[str, set[str]] = {}
        self.listings = 0
        self.creates: list[str] = []
        self._failures = 0

    def put(self, bucket: str, *keys: str) -> None:
        self.keys.setdefault(bucket, set()).update(keys)

    def fail_next(self) -> None:
        self._failures += 1

    def list_keys(self, *, bucket: str, prefix: str, limit: int) -> list[str]:
        if self._failures:
            self._failures -= 1
            raise ManifestUnreadable(f"ListObjectsV2 of s3://{bucket}/{prefix} failed: SlowDown")
        self.listings += 1
        found = sorted((k for k in self.keys.get(bucket, set()) if k.startswith(prefix)), key=lambda k: k.encode())
        return found[:limit]

    def create(self, *, bucket: str, key: str, body: bytes) -> bool:
        self.creates.append(key)
        if self.manifests.read(S3Source(bucket=bucket, key=key)) is not None:
            return False
        self.manifests.put(S3Source(bucket=bucket, key=key), body)
        self.put(bucket, key)
        return True
