"""``CoalescedKeys`` in memory, over a FakeRunStore (a batch run exists once the submit path claimed it).

As the adapter (adapters/coalesced_keys.py, checked against it on moto by tests/unit/adapters/test_coalesced_keys.py):
a claim of up to 100 keys is all or none; a key whose item exists is answered with what the item holds; a take-over
applies only on the lease and batch it replaces. ``fail_claims_after`` makes a later claim raise (a crash, or the
runs table unavailable, half way through a batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from batch_orchestrator.errors import ManifestUnwritable, RunStoreError
from batch_orchestrator.limits import DYNAMODB_TRANSACT_WRITE_ITEMS
from batch_orchestrator.models import Run, S3Source
from batch_orchestrator.ports import KeyClaim, TakenKey
from tests.support.fake_runs import FakeRunStore


class FakeCoalescedKeys:
    def __init__(self, runs: FakeRunStore) -> None:
        self._runs = runs
        self.keys: dict[str, TakenKey] = {}
        self.transactions = 0
        self.plain_runs: set[str] = set()  # run ids taken by a plain run of the upload (no batch)
        self._fail_after: int | None = None

    def fail_claims_after(self, transactions: int) -> None:
        self._fail_after = self.transactions + transactions

    def claim(self, claims: Sequence[KeyClaim], *, claimed_until: int, now: datetime) -> dict[str, TakenKey]:
        assert 0 < len(claims) <= DYNAMODB_TRANSACT_WRITE_ITEMS.value
        assert len({c.run_id for c in claims}) == len(claims), "two actions on one item"
        if self._fail_after is not None and self.transactions >= self._fail_after:
            raise RunStoreError("runs table unavailable")
        self.transactions += 1
        taken: dict[str, TakenKey] = {}
        for c in claims:
            found = self._found(c.run_id)
            if found is not None:
                taken[c.run_id] = found
        if taken:
            return taken
        for c in claims:
            self.keys[c.run_id] = TakenKey(c.run_id, c.batch_run_id, c.index, claimed_until)
        return {}

    def _found(self, run_id: str) -> TakenKey | None:
        if run_id in self.plain_runs:
            return TakenKey(run_id)
        return self.keys.get(run_id)

    def take_over(self, claim: KeyClaim, *, previous: TakenKey, claimed_until: int, now: datetime) -> bool:
        current = self.keys.get(claim.run_id)
        if current is None or (current.batch_run_id, current.claimed_until) != (
            previous.batch_run_id,
            previous.claimed_until,
        ):
            return False
        self.keys[claim.run_id] = TakenKey(claim.run_id, claim.batch_run_id, claim.index, claimed_until)
        return True

    def run_exists(self, run_id: str) -> bool:
        return self._runs.get(run_id) is not None

    def read_run(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def find_key(self, run_id: str) -> TakenKey | None:
        return self.keys.get(run_id)


class FakeManifestWriter:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._failures = 0

    def fail_next(self) -> None:
        self._failures += 1

    def write(self, source: S3Source, body: bytes) -> None:
        if self._failures:
            self._failures -= 1
            raise ManifestUnwritable("PutObject failed")
        self.objects[source.key] = body
