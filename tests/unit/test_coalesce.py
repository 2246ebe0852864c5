"""Burst coalescing's logic (``coalesce_batch``) on the in-memory fakes: one run per batch over exactly its distinct
keys, duplicates start nothing, and every crash point leaves each key a child of exactly one run once redelivered.

The crash points of the module docstring, each followed by SQS's redelivery of the batch's messages: during the
claims (the runs table fails half way), after the claims (the manifest cannot be written), and at SubmitJob (its
answer lost, the job created or not). The adapter's own behaviour (transactions, conditions) is checked on moto in
tests/unit/adapters/test_coalesced_keys.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from batch_orchestrator.coalesce import (
    CoalescedUpload,
    CoalesceResult,
    coalesce_batch,
    coalesce_message,
    manifest_key,
    parse_coalesce_message,
)
from batch_orchestrator.errors import (
    JobSubmitError,
    MalformedMessage,
    ManifestUnwritable,
    RunStoreError,
    WorkloadUnavailable,
)
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import RunStatus, S3Source
from batch_orchestrator.submit import SubmitOutcome, SubmitSettings
from batch_orchestrator.workloads import WorkloadTable, parse_workloads
from tests.support.decision_values import QUEUE, T0
from tests.support.fake_coalesced_keys import FakeCoalescedKeys, FakeManifestWriter
from tests.support.fake_runs import FakeRunStore
from tests.support.fakes import FakeJobGateway

BUCKET = "in"
LEASE = 150
PREFIX = "batch-orch-abc-"
TABLE = WorkloadTable(
    parse_workloads(
        [
            {
                "name": "frames",
                "match": {"prefix": "frames/"},
                "vcpu": "0.25",
                "memory": 512,
                "timeout_seconds": 60,
                "coalesce": {"window_seconds": 5, "max_items": 10_000},
            },
            {"name": "single", "match": {"prefix": "single/"}, "vcpu": "0.25", "memory": 512, "timeout_seconds": 60},
        ],
        source="test",
        runtime=True,
    )
).with_job_definitions(PREFIX)
SETTINGS = SubmitSettings(
    job_queue=QUEUE, job_definition="unused", max_attempts=3, claim_lease_seconds=LEASE, workloads=TABLE
)


class World:
    def __init__(self) -> None:
        self.runs = FakeRunStore()
        self.keys = FakeCoalescedKeys(self.runs)
        self.manifests = FakeManifestWriter()
        self.jobs = FakeJobGateway(job_queues=[QUEUE], job_definitions=[f"{PREFIX}frames"])
        self.batches = 0

    def coalesce(self, uploads: list[CoalescedUpload], *, now: datetime = T0) -> CoalesceResult:
        self.batches += 1
        return coalesce_batch(
            uploads,
            workload="frames",
            bucket=BUCKET,
            batch_id=f"{self.batches:032x}",
            keys=self.keys,
            manifests=self.manifests,
            runs=self.runs,
            jobs=self.jobs,
            settings=SETTINGS,
            now=now,
        )

    def manifest(self, result: CoalesceResult) -> list[str]:
        key = manifest_key("frames", f"{self.batches:032x}")
        return [item["key"] for item in json.loads(self.manifests.objects[key])]

    def children_of(self, run_id: str) -> dict[str, int]:
        """key -> child index of every key item naming ``run_id``."""
        return {
            upload_key: found.index
            for upload_key, found in ((k, v) for k, v in self.keys.keys.items())
            if found.batch_run_id == run_id and found.index is not None
        }


def upload(name: str, *, version: str = "v1", message: str | None = None) -> CoalescedUpload:
    source = S3Source(bucket=BUCKET, key=f"frames/{name}", version_id=version, sequencer="00A1")
    return CoalescedUpload(
        message_id=message or f"m-{name}", workload="frames", source=source, run_id=run_id_for(source)
    )


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def world() -> World:
    return World()


def test_a_burst_with_duplicates_in_the_batch_becomes_one_array_of_its_distinct_keys(world: World) -> None:
    # Given 5 uploads, a and b notified twice in the same batch
    uploads = [upload(n) for n in "abcde"] + [upload("a", message="m-a2"), upload("b", message="m-b2")]

    # When the batch is coalesced
    result = world.coalesce(uploads)

    # Then one run was submitted: an array of the 5 distinct keys, the manifest listing them in child order
    assert result.submit is not None
    assert result.submit.outcome is SubmitOutcome.SUBMITTED
    assert (len(result.claimed), result.duplicates, result.failed_message_ids) == (5, 2, [])
    (job,) = world.jobs.jobs
    assert job.spec.array_size == 5
    assert world.manifest(result) == [f"frames/{n}" for n in "abcde"]
    run = world.runs.get(result.batch_run_id)
    assert run is not None
    assert (run.plan.workload, run.plan.array_size) == ("frames", 5)
    assert run.source == S3Source(bucket=BUCKET, key=manifest_key("frames", f"{1:032x}"))
    # and each key's item names the run and its child, as the manifest does
    assert {k: v.index for k, v in world.keys.keys.items()} == {upload(n).run_id: i for i, n in enumerate("abcde")}


def test_a_key_taken_by_an_earlier_run_starts_nothing(world: World) -> None:
    # Given a batch already submitted with a and b
    first = world.coalesce([upload("a"), upload("b")])

    # When a later batch holds a again (a duplicate notification) and c
    second = world.coalesce([upload("a", message="m-a-again"), upload("c")])

    # Then only c runs in the second batch; a stays the first run's child
    assert (len(second.claimed), second.duplicates) == (1, 1)
    assert world.keys.keys[upload("a").run_id].batch_run_id == first.batch_run_id
    assert [job.spec.array_size for job in world.jobs.jobs] == [2, 1]  # 1 item: a single job of a 1-item array
    # and a batch of duplicates only submits nothing
    third = world.coalesce([upload("a", message="m3"), upload("c", message="m4")])
    assert (third.claimed, third.submit, third.duplicates) == ([], None, 2)
    assert len(world.jobs.jobs) == 2


def test_a_plain_run_of_the_upload_is_a_duplicate(world: World) -> None:
    # Given a run of the same upload made before the workload coalesced
    world.keys.plain_runs.add(upload("a").run_id)

    # When the upload is coalesced
    result = world.coalesce([upload("a"), upload("b")])

    # Then only b runs
    assert world.manifest(result) == ["frames/b"]
    assert result.duplicates == 1


def test_more_keys_than_a_transaction_takes_are_claimed_100_at_a_time_with_contiguous_children(world: World) -> None:
    # Given 250 uploads, of which one (k150) another batch already holds
    world.coalesce([upload("k150")])
    uploads = [upload(f"k{i}") for i in range(250)]
    before = world.keys.transactions

    # When they are coalesced
    result = world.coalesce(uploads)

    # Then 249 are children 0..248 of one run, claimed in 3 transactions plus the one that found k150 taken
    indexes = sorted(world.children_of(result.batch_run_id).values())
    assert indexes == list(range(249))
    assert world.keys.transactions - before == 4
    assert world.jobs.jobs[-1].spec.array_size == 249


def test_a_crash_during_the_claims_is_recovered_by_the_redelivery_after_the_lease(world: World) -> None:
    # Given a batch of 150 whose second transaction fails (the first 100 keys are claimed, no run written)
    uploads = [upload(f"k{i}") for i in range(150)]
    world.keys.fail_claims_after(1)
    with pytest.raises(RunStoreError):
        world.coalesce(uploads)
    dead = world.keys.keys[uploads[0].run_id].batch_run_id
    assert world.runs.get(dead) is None
    world.keys.fail_claims_after(100)

    # When the messages come back while the dead batch's lease runs: its keys are busy, nothing is submitted for them
    early = world.coalesce(uploads, now=later(LEASE - 10))
    assert len(early.failed_message_ids) == 100
    assert early.submit is not None
    assert world.jobs.jobs[-1].spec.array_size == 50

    # and once more after the lease: the 100 are taken over, the 50 already claimed are duplicates
    late = world.coalesce([u for u in uploads if u.message_id in early.failed_message_ids], now=later(LEASE + 10))

    # Then every key is the child of exactly one run that was submitted, and the dead batch never ran
    assert late.failed_message_ids == []
    assert len(late.claimed) == 100
    assert sorted(world.children_of(early.batch_run_id).values()) == list(range(50))
    assert sorted(world.children_of(late.batch_run_id).values()) == list(range(100))
    assert world.children_of(dead) == {}
    assert [job.spec.array_size for job in world.jobs.jobs] == [50, 100]


def test_a_crash_before_the_manifest_is_recovered_the_same_way(world: World) -> None:
    # Given a batch whose manifest cannot be written (its keys claimed)
    world.manifests.fail_next()
    with pytest.raises(ManifestUnwritable):
        world.coalesce([upload("a"), upload("b")])

    # When its messages come back after the lease
    result = world.coalesce([upload("a"), upload("b")], now=later(LEASE + 1))

    # Then the new batch takes both keys over and runs them once
    assert world.manifest(result) == ["frames/a", "frames/b"]
    assert [job.spec.array_size for job in world.jobs.jobs] == [2]


@pytest.mark.parametrize("job_created", [True, False], ids=["job created", "no job"])
def test_a_lost_submit_job_answer_is_recovered_by_a_later_delivery_with_one_job(
    world: World, job_created: bool
) -> None:
    # Given a batch whose SubmitJob answer is lost (its run claimed SUBMITTED, no job id)
    world.jobs.lose_next_answer(job_created=job_created)
    with pytest.raises(JobSubmitError):
        world.coalesce([upload("a"), upload("b")])
    (batch_run_id,) = {found.batch_run_id for found in world.keys.keys.values()}

    # When a message of the batch comes back after the run's claim lease
    again = world.coalesce([upload("a")], now=later(LEASE + 1))

    # Then the key is a duplicate, and the batch run is handed to submit_run: adopted, or submitted once
    assert (again.claimed, again.duplicates) == ([], 1)
    (recovered,) = again.recovered
    assert recovered.outcome is (SubmitOutcome.ADOPTED if job_created else SubmitOutcome.SUBMITTED)
    assert len(world.jobs.jobs) == 1
    assert world.jobs.jobs[0].spec.array_size == 2
    run = world.runs.get(batch_run_id)
    assert run is not None
    assert run.status is RunStatus.SUBMITTED
    # and a later duplicate finds the run's job known (or its claim live): nothing more is submitted
    world.coalesce([upload("b")], now=later(LEASE + 2))
    assert len(world.jobs.jobs) == 1


def test_a_workload_that_does_not_coalesce_is_refused_before_any_write(world: World) -> None:
    with pytest.raises(WorkloadUnavailable):
        coalesce_batch(
            [upload("a")],
            workload="single",
            bucket=BUCKET,
            batch_id="0" * 32,
            keys=world.keys,
            manifests=world.manifests,
            runs=world.runs,
            jobs=world.jobs,
            settings=SETTINGS,
            now=T0,
        )
    assert world.keys.transactions == 0


def test_the_forwarded_message_reads_back_and_bad_ones_are_malformed() -> None:
    source = S3Source(bucket=BUCKET, key="frames/été 1.png", version_id="v", sequencer="00A1", size=3)
    parsed = parse_coalesce_message("m1", coalesce_message(workload="frames", source=source))
    assert (parsed.workload, parsed.source, parsed.run_id) == ("frames", source, run_id_for(source))
    for body in (
        "not json",
        "[]",
        '{"kind": "retry"}',
        '{"kind": "coalesce", "workload": "w"}',
        '{"kind": "coalesce", "workload": "w", "source": {"trigger": "schedule"}}',
    ):
        with pytest.raises(MalformedMessage):
            parse_coalesce_message("m", body)
