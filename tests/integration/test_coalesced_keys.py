"""The coalesced keys' adapter on the runs table of template.yaml in moto, and its fake held to the same answers.

Proven: a claim of several keys is all or none, and a key already taken is answered with what its item holds (its
batch run, child index and lease) while nothing of the transaction is written; a take-over applies only on the lease
and batch it replaces, and a retry of an applied take-over (its answer lost) reads as applied; the keys' items carry
no status, so neither the sparse index nor a run listing sees them; a batch run is found once the submit path claims
it. The same sequence on ``FakeCoalescedKeys`` gives the same answers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from batch_orchestrator.adapters.coalesced_keys import CoalescedKeysTable
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import RunStatus, S3Source
from batch_orchestrator.ports import CoalescedKeys, KeyClaim, RunStore, TakenKey
from emulator import EmulatedStack
from tests.support.decision_values import T0
from tests.support.fake_coalesced_keys import FakeCoalescedKeys
from tests.support.fake_runs import FakeRunStore

BATCH_1 = "s3-" + "1" * 24
BATCH_2 = "s3-" + "2" * 24


def _claim(name: str, batch: str, index: int) -> KeyClaim:
    source = S3Source(bucket="in", key=f"frames/{name}", version_id="v1")
    return KeyClaim(run_id=run_id_for(source), source=source, workload="frames", batch_run_id=batch, index=index)


def _real(stack: EmulatedStack) -> tuple[CoalescedKeys, RunStore]:
    table = stack.outputs["RunsTableName"]
    return CoalescedKeysTable(table, retention_days=90), RunsTable(table, retention_days=90)


def _fake(_: EmulatedStack) -> tuple[CoalescedKeys, RunStore]:
    runs = FakeRunStore()
    return FakeCoalescedKeys(runs), runs


@pytest.mark.parametrize("make", [_real, _fake], ids=["adapter on moto", "fake"])
def test_claims_take_overs_and_reads(stack: EmulatedStack, make: Any) -> None:
    keys, runs = make(stack)
    a, b, c = _claim("a", BATCH_1, 0), _claim("b", BATCH_1, 1), _claim("c", BATCH_2, 0)

    # Given two keys claimed for batch 1
    assert keys.claim([a, b], claimed_until=1_000, now=T0) == {}

    # When batch 2 claims b (taken) and c (free) in one transaction
    taken = keys.claim([_claim("b", BATCH_2, 0), c], claimed_until=2_000, now=T0)

    # Then it learns who holds b, and c was not written (all or none)
    assert taken == {b.run_id: TakenKey(b.run_id, BATCH_1, 1, 1_000)}
    assert keys.find_key(c.run_id) is None
    assert keys.claim([c], claimed_until=2_000, now=T0) == {}

    # When batch 2 takes b over on the lease it saw, twice (the second a retry of a lost answer), and once more on
    # a lease that is no longer b's
    moved = _claim("b", BATCH_2, 1)
    assert keys.take_over(moved, previous=taken[b.run_id], claimed_until=2_000, now=T0)
    if isinstance(keys, CoalescedKeysTable):
        assert keys.take_over(moved, previous=taken[b.run_id], claimed_until=2_000, now=T0)
    assert not keys.take_over(_claim("b", BATCH_1, 5), previous=taken[b.run_id], claimed_until=3_000, now=T0)

    # Then b is batch 2's child 1
    assert keys.find_key(b.run_id) == TakenKey(b.run_id, BATCH_2, 1, 2_000)
    # and a batch run is found once the submit path claims it, never before
    assert not keys.run_exists(BATCH_2)
    assert keys.read_run(BATCH_2) is None
    manifest = S3Source(bucket="in", key="batch-orchestrator/coalesced/frames/2.json")
    runs.claim_first_attempt(
        run_id=BATCH_2,
        source=manifest,
        job_name=f"{BATCH_2}-a1-2_json",
        job_queue="q",
        job_definition="d",
        max_attempts=1,
        now=T0,
        claimed_until=1_000,
    )
    assert keys.run_exists(BATCH_2)
    run = keys.read_run(BATCH_2)
    assert run is not None
    assert (run.status, run.source) == (RunStatus.SUBMITTED, manifest)
    assert keys.read_run(a.run_id) is None  # a key's item is not a run


def test_the_keys_items_stay_out_of_the_index_and_expire(stack: EmulatedStack) -> None:
    keys, _ = _real(stack)
    keys.claim([_claim("a", BATCH_1, 0)], claimed_until=1_000, now=T0)
    table = stack.outputs["RunsTableName"]
    dynamodb = stack.client("dynamodb")
    (item,) = dynamodb.scan(TableName=table)["Items"]
    assert "status" not in item
    assert "activeStatus" not in item
    assert int(item["expiresAt"]["N"]) == int((T0 + timedelta(days=90)).timestamp())
