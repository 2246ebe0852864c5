"""An array run of more items than one array job takes, end to end: template.yaml rendered with a manifest workload,
created in the emulator, driven by one upload of 10,005 lines; the local job runner runs the children without
processes (SIMULATED AWS Batch: emulator/local_arrays.py, ``array_child_outcome``), so 10,000 children take seconds.

The run is two array jobs under one run, one after another: items 0-9999, then items 10000-10004, whose child 3 (item
10003) exits 75 once and is retried alone (a single job: the sample job, as a process).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT
from tests.support.runs import job_environment

pytestmark = pytest.mark.slow

BULK_YAML = """
workloads:
  - name: bulk
    match: {prefix: bulk/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    retry: {exit_codes: "75", max_attempts: 2, base_delay_seconds: 1}
    array: {manifest: upload}
"""
ITEMS = 10_005


class FailOnce:
    """SIMULATED children: every child exits 0, except the second array's child 3, once (the first array's child 3
    has been asked before it: each child's attempt asks once)."""

    def __init__(self) -> None:
        self.asked: Counter[int] = Counter()

    def __call__(self, index: int) -> int:
        self.asked[index] += 1
        return 75 if index == 3 and self.asked[index] == 2 else 0


@pytest.fixture
def bulk() -> Iterator[LocalPipeline]:
    running = LocalPipeline(workloads_yaml=BULK_YAML, array_child_outcome=FailOnce()).start()
    try:
        yield running
    finally:
        running.stop()


def test_an_array_over_10000_items_runs_as_parts_under_one_run(bulk: LocalPipeline) -> None:
    # Given a manifest of 10,005 items
    upload = bulk.upload("bulk/big.txt", "".join(f"item-{i}\n" for i in range(ITEMS)))

    # When the run finishes
    run = bulk.wait_for_runs([upload.run_id], timeout=180)[upload.run_id]
    bulk.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it SUCCEEDED as one run of three attempts: part 1, part 2, item 10003 again
    assert (run.status.value, run.attempt, run.plan.array_size) == ("SUCCEEDED", 3, ITEMS)
    assert [(r.attempt, r.status.value, r.items, r.failed_children) for r in run.history] == [
        (1, "SUCCEEDED", "0-9999", None),
        (2, "FAILED", "10000-10004", 1),
        (3, "SUCCEEDED", "10003", None),
    ]
    # and Batch ran two arrays (10,000, then 5) and a single job, each told its items
    parents = [job for job in bulk.jobs_of(upload.run_id) if ":" not in job["jobId"]]
    sizes = [(job.get("arrayProperties") or {}).get("size") for job in parents]
    assert sizes == [10_000, 5, None]
    assert [job_environment(job)["ARRAY_ITEMS"] for job in parents] == ["0-9999", "10000-10004", "10003"]
    assert bulk.alerts() == []
    assert bulk.errors == []
