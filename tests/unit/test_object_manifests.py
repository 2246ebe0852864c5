"""Arrays of the objects beside an upload (``array: {manifest: upload-directory}``): the listing of the upload's
directory, written once per run and read back by every later delivery; on the fakes (ArrayStack) and, for the S3
adapter, on moto with the fake's assertions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from batch_orchestrator.adapters.objects import S3Objects
from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.errors import ManifestUnreadable
from batch_orchestrator.models import RunStatus, SubmitRequest
from batch_orchestrator.object_manifests import objects_manifest_key, upload_directory
from batch_orchestrator.submit import SubmitOutcome, submit_run
from tests.support.array_runs import ArrayStack
from tests.support.environments import DEFINITION, GLOBALS, QUEUE, job_definition, with_workloads, workload_json
from tests.support.fake_objects import FakeObjects
from tests.support.fakes import FakeJobGateway, FakeManifests
from tests.support.workload_runs import BUCKET

DROPS = workload_json(
    "drops",
    match={"prefix": "drops/", "suffix": "/_READY"},
    retry={"exit_codes": "75", "max_attempts": 2},
    array={"manifest": "upload-directory"},
)
OUTPUT = GLOBALS["OUTPUT_PREFIX"]


class DirectoryStack(ArrayStack):
    """``ArrayStack`` on a table of one upload-directory workload, with S3's keys in a FakeObjects."""

    def __init__(self) -> None:
        super().__init__(
            table=workload_table_from_env(with_workloads(GLOBALS, [DROPS])),
            jobs=FakeJobGateway(job_queues=[QUEUE], job_definitions=[DEFINITION, job_definition("drops")]),
        )
        self.objects = FakeObjects(self.manifests)

    def submit(self, request: SubmitRequest) -> Any:
        return submit_run(
            request,
            runs=self.runs,
            jobs=self.jobs,
            settings=self.submit_settings,
            now=self.tick(),
            manifests=self.manifests,
            objects=self.objects,
        )


@pytest.fixture
def stack() -> DirectoryStack:
    return DirectoryStack()


def test_the_directory_is_the_keys_prefix_up_to_its_last_slash() -> None:
    assert upload_directory("drops/2026-12-01/_READY") == "drops/2026-12-01/"
    assert upload_directory("_READY") == ""


def test_the_objects_beside_the_marker_size_the_array_and_the_children_read_their_listing(
    stack: DirectoryStack,
) -> None:
    # Given three objects (one of them a folder placeholder) and the marker, uploaded last
    stack.objects.put(BUCKET, "drops/d1/", "drops/d1/b.csv", "drops/d1/a.csv", "drops/d1/_READY", "drops/d2/x.csv")

    # When the marker's upload is submitted
    job = stack.start("drops/d1/_READY")

    # Then the array is of the two objects (not the marker, the placeholder or another directory), in S3's order,
    # and the children are told where the listing is
    run = stack.run_of("drops/d1/_READY")
    key = objects_manifest_key(OUTPUT, run.run_id, "drops")
    assert (job.spec.array_size, job.spec.environment["MANIFEST_KEY"]) == (2, key)
    assert json.loads(stack.manifests.objects[(BUCKET, key, None)]) == ["drops/d1/a.csv", "drops/d1/b.csv"]
    assert run.plan.array_size == 2


def test_a_later_delivery_reads_the_listing_written_before_and_lists_nothing(stack: DirectoryStack) -> None:
    # Given the run's listing written by a first delivery (two objects), then a third object lands
    stack.objects.put(BUCKET, "drops/d1/a.csv", "drops/d1/b.csv")
    request = stack.upload("drops/d1/_READY")
    assert isinstance(request, SubmitRequest)
    assert stack.submit(request).outcome is SubmitOutcome.SUBMITTED
    stack.objects.put(BUCKET, "drops/d1/c.csv")
    listings = stack.objects.listings

    # When the notification is delivered again
    assert stack.submit(request).outcome is SubmitOutcome.DUPLICATE

    # Then it read the listing back: no new listing, no second write, the run's size unchanged
    assert (stack.objects.listings, len(stack.objects.creates)) == (listings, 1)
    assert stack.run_of("drops/d1/_READY").plan.array_size == 2


def test_a_delivery_that_loses_the_race_counts_the_listing_the_other_wrote(stack: DirectoryStack) -> None:
    # Given another delivery wrote the run's listing (one object) after this one found none
    stack.objects.put(BUCKET, "drops/d1/a.csv", "drops/d1/b.csv")
    request = stack.upload("drops/d1/_READY")
    assert isinstance(request, SubmitRequest)
    key = objects_manifest_key(OUTPUT, request.run_id, "drops")
    real_create = stack.objects.create

    def racing_create(*, bucket: str, key: str, body: bytes) -> bool:
        real_create(bucket=bucket, key=key, body=json.dumps(["drops/d1/a.csv"]).encode())  # the other's, first
        return real_create(bucket=bucket, key=key, body=body)

    stack.objects.create = racing_create  # type: ignore[method-assign]

    # When this one submits: its write is refused (the key exists) and it counts the other's
    stack.submit(request)

    # Then the run is sized from that listing
    assert stack.run_of("drops/d1/_READY").plan.array_size == 1
    assert json.loads(stack.manifests.objects[(BUCKET, key, None)]) == ["drops/d1/a.csv"]


@pytest.mark.parametrize(
    ("keys", "why"),
    [((), "the manifest holds no items"), (("drops/d1/",), "the manifest holds no items")],
)
def test_an_empty_directory_refuses_the_run(stack: DirectoryStack, keys: tuple[str, ...], why: str) -> None:
    stack.objects.put(BUCKET, *keys)
    request = stack.upload("drops/d1/_READY")
    assert isinstance(request, SubmitRequest)
    result = stack.submit(request)
    assert result.outcome is SubmitOutcome.REFUSED
    assert why in result.detail
    assert stack.run_of("drops/d1/_READY").status is RunStatus.FAILED


def test_a_listing_s3_would_not_give_fails_the_delivery_so_sqs_redelivers_it(stack: DirectoryStack) -> None:
    stack.objects.put(BUCKET, "drops/d1/a.csv")
    request = stack.upload("drops/d1/_READY")
    assert isinstance(request, SubmitRequest)
    stack.objects.fail_next()
    with pytest.raises(ManifestUnreadable):
        stack.submit(request)
    assert stack.runs.get(request.run_id) is None
    assert stack.submit(request).outcome is SubmitOutcome.SUBMITTED


# ------------------------------------------------------------------------------------------ the S3 adapter
@pytest.fixture(params=["memory", "moto"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """(an ObjectStore, a function that puts keys in its bucket)."""
    if request.param == "memory":
        fake = FakeObjects(FakeManifests())
        yield fake, lambda *keys: fake.put(BUCKET, *keys)
    else:
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)

            def put(*keys: str) -> None:
                for key in keys:
                    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")

            yield S3Objects(), put


def test_keys_are_listed_under_the_prefix_in_order_up_to_the_limit(store: tuple[Any, Any]) -> None:
    objects, put = store
    put("d/b", "d/a", "d/é", "e/a", *(f"d/n{i:04d}" for i in range(1_005)))  # more than one page of 1,000
    listed = objects.list_keys(bucket=BUCKET, prefix="d/", limit=2_000)
    assert listed[:2] == ["d/a", "d/b"]
    assert listed[-1] == "d/é"  # UTF-8 binary order: after ASCII
    assert len(listed) == 1_008
    assert objects.list_keys(bucket=BUCKET, prefix="d/", limit=3) == ["d/a", "d/b", "d/n0000"]


def test_a_listing_is_written_once(store: tuple[Any, Any]) -> None:
    objects, _ = store
    assert objects.create(bucket=BUCKET, key="out/r/w/objects", body=b'["a"]') is True
    assert objects.create(bucket=BUCKET, key="out/r/w/objects", body=b'["b"]') is False


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"match": None, "schedules": [{"name": "n", "expression": "rate(1 day)", "timezone": "UTC"}]},
            "needs a key rule",
        ),
        ({"schedules": [{"name": "n", "expression": "rate(1 day)", "timezone": "UTC"}]}, "cannot go with schedules"),
    ],
)
def test_an_upload_directory_array_needs_uploads(fields: dict[str, Any], expected: str) -> None:
    from batch_orchestrator.workloads import WorkloadTableError, parse_workloads

    entry = {**DROPS, **fields}
    entry = {key: value for key, value in entry.items() if value is not None}
    with pytest.raises(WorkloadTableError, match=expected):
        parse_workloads([entry], source="workload_table.json", runtime=True)


def test_a_stack_with_an_upload_directory_array_needs_an_output_prefix() -> None:
    from batch_orchestrator.errors import ConfigError

    with pytest.raises(ConfigError, match="upload-directory arrays write under the stack's OutputPrefix"):
        workload_table_from_env({**with_workloads(GLOBALS, [DROPS]), "OUTPUT_PREFIX": ""})
