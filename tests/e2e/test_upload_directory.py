"""An array of the objects beside an upload, end to end: template.yaml rendered with an upload-directory workload,
created in the emulator; a producer writes files into a directory, then the marker; the local job runner runs one
child per file (SIMULATED AWS Batch: emulator/local_arrays.py), each reading its key from the run's listing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT
from tests.support.runs import job_environment
from tests.support.workload_yaml import SAMPLE_CONTAINER

pytestmark = pytest.mark.slow

DROPS_YAML = f"""
workloads:
  - name: drops
    match: {{prefix: drops/, suffix: /_READY}}{SAMPLE_CONTAINER}
    environment: {{SAMPLE_FAIL_INDEXES: "1", SAMPLE_FAIL_EXIT_CODE: "75", SAMPLE_FAIL_UNTIL_RUN_ATTEMPT: "1"}}
    retry: {{exit_codes: "75", max_attempts: 2, base_delay_seconds: 1}}
    array: {{manifest: upload-directory}}
"""


@pytest.fixture
def pipeline_workloads() -> str:
    return DROPS_YAML


def _object(pipeline: LocalPipeline, key: str) -> Any:
    outputs = pipeline.stack.outputs
    return json.loads(pipeline.stack.client("s3").get_object(Bucket=outputs["InputBucketName"], Key=key)["Body"].read())


def test_one_child_per_object_beside_the_marker_and_its_failed_child_alone_again(pipeline: LocalPipeline) -> None:
    # Given three files in a directory (uploads no workload takes), then the marker
    for name in ("c.csv", "a.csv", "b.csv"):
        pipeline.upload(f"drops/2026-12-01/{name}", f"rows of {name}\n")
    marker = pipeline.upload("drops/2026-12-01/_READY", "")

    # When the run finishes
    run = pipeline.wait_for_runs([marker.run_id], timeout=RUN_TIMEOUT)[marker.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it ran an array of the three files, item 1 (b.csv) again alone, and SUCCEEDED
    assert (run.status.value, run.attempt, run.plan.array_size) == ("SUCCEEDED", 2, 3)
    assert [(r.items, r.failed_children) for r in run.history] == [("0-2", 1), ("1", None)]
    # and the listing, in S3's order, is what each child read its key from
    parents = [job for job in pipeline.jobs_of(marker.run_id) if ":" not in job["jobId"]]
    listing_key = job_environment(parents[0])["MANIFEST_KEY"]
    assert _object(pipeline, listing_key) == [f"drops/2026-12-01/{n}" for n in ("a.csv", "b.csv", "c.csv")]
    output = f"{pipeline.stack.outputs['OutputPrefix']}{marker.run_id}"
    items = [_object(pipeline, f"{output}/{i}/result.json")["manifestItem"] for i in range(3)]
    assert items == ["drops/2026-12-01/a.csv", "drops/2026-12-01/b.csv", "drops/2026-12-01/c.csv"]
    assert pipeline.errors == []
