"""Array workloads end to end: template.yaml rendered with array workloads, created in the emulator, driven by
uploads only, the children run by the local job runner (SIMULATED AWS Batch: emulator/local_arrays.py).

The table (``ARRAYS_YAML``) has three array workloads of the sample job, each failing chosen ORIGINAL items on
purpose (SAMPLE_FAIL_INDEXES, jobs/sample/job.py): ``tiles`` (3 items; item 1 exits 75, retryable, at attempt 1
only), ``broken`` (3 items; item 2 exits 3, not retryable) and ``chunks`` (as many items as the uploaded manifest;
item 0 exits 75 at attempt 1 only).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.alerts_inbox import alert_run_id
from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT
from tests.support.runs import job_environment
from tests.support.workload_yaml import SAMPLE_CONTAINER

pytestmark = pytest.mark.slow

SAMPLE = SAMPLE_CONTAINER
ARRAYS_YAML = f"""
workloads:
  - name: tiles
    match: {{prefix: tiles/}}{SAMPLE}
    environment: {{SAMPLE_FAIL_INDEXES: "1", SAMPLE_FAIL_EXIT_CODE: "75", SAMPLE_FAIL_UNTIL_RUN_ATTEMPT: "1"}}
    retry: {{exit_codes: "75", max_attempts: 3, base_delay_seconds: 1}}
    array: {{size: 3}}
  - name: broken
    match: {{prefix: broken/}}{SAMPLE}
    environment: {{SAMPLE_FAIL_INDEXES: "2", SAMPLE_FAIL_EXIT_CODE: "3"}}
    retry: {{exit_codes: "75", max_attempts: 3, base_delay_seconds: 1}}
    array: {{size: 3}}
  - name: chunks
    match: {{prefix: chunks/}}{SAMPLE}
    environment: {{SAMPLE_FAIL_INDEXES: "0", SAMPLE_FAIL_EXIT_CODE: "75", SAMPLE_FAIL_UNTIL_RUN_ATTEMPT: "1"}}
    retry: {{exit_codes: "75", max_attempts: 2, base_delay_seconds: 1}}
    array: {{manifest: upload}}
"""


@pytest.fixture
def pipeline_workloads() -> str:
    return ARRAYS_YAML


def parents(pipeline: LocalPipeline, run_id: str) -> list[dict[str, Any]]:
    """The run's jobs, one per attempt: an array's parent, not its children (whose names are the parent's)."""
    return [job for job in pipeline.jobs_of(run_id) if ":" not in job["jobId"]]


def result(pipeline: LocalPipeline, run_id: str, item: int) -> dict[str, Any]:
    """The sample job's result for one original item (OUTPUT_PREFIX + RUN_ID + /<item>/result.json)."""
    outputs = pipeline.stack.outputs
    body = (
        pipeline.stack.client("s3")
        .get_object(Bucket=outputs["InputBucketName"], Key=f"{outputs['OutputPrefix']}{run_id}/{item}/result.json")[
            "Body"
        ]
        .read()
    )
    found: dict[str, Any] = json.loads(body)
    return found


def test_a_child_failing_once_is_retried_alone_and_the_run_succeeds(pipeline: LocalPipeline) -> None:
    # Given an upload for tiles: an array of 3 whose item 1 exits 75 (retryable) at attempt 1
    upload = pipeline.upload("tiles/a.txt", "three tiles\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it SUCCEEDED at attempt 2; the history shows attempt 1 over the 3 items (1 failed), attempt 2 over item 1
    assert (run.status.value, run.attempt, run.plan.array_size, run.plan.items) == ("SUCCEEDED", 2, 3, (1,))
    assert [(r.attempt, r.status.value, r.items, r.failed_children) for r in run.history] == [
        (1, "FAILED", "0-2", 1),
        (2, "SUCCEEDED", "1", None),
    ]
    # and Batch ran an array of 3, then a single job of item 1 told its item
    first, second = parents(pipeline, upload.run_id)
    assert first["arrayProperties"]["size"] == 3
    assert "arrayProperties" not in second
    assert (job_environment(second)["ARRAY_ITEMS"], second["parameters"]) == ("1", {"arrayItems": "1"})
    assert second["tags"]["batch-orchestrator:array-size"] == "3"
    # and every item has its result, item 1 from attempt 2
    assert [
        (result(pipeline, upload.run_id, i)["arrayItem"], result(pipeline, upload.run_id, i)["attempt"])
        for i in range(3)
    ] == [
        (0, 1),
        (1, 2),
        (2, 1),
    ]
    assert pipeline.alerts() == []
    assert pipeline.errors == []


def test_a_child_failing_for_good_fails_the_run_with_one_alert_naming_its_item(pipeline: LocalPipeline) -> None:
    # Given an upload for broken: an array of 3 whose item 2 exits 3 (not retryable)
    upload = pipeline.upload("broken/a.txt", "three tiles\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it FAILED at attempt 1, the failed child recorded with its exit code
    assert (run.status.value, run.attempt, run.failed_children_count) == ("FAILED", 1, 1)
    ((item, exit_code),) = [(c.item, c.exit_code) for c in run.failed_children]
    assert (item, exit_code) == (2, 3)
    assert dict(run.array_status)["FAILED"] == 1
    # and one alert names the failed item, not retryable
    (alert,) = pipeline.alerts()
    assert alert_run_id(alert) == upload.run_id
    assert "(1 of 3 children failed, attempt 1/3)" in alert.subject
    assert "item 2 (child 2): exit code 3, not retryable: exit code 3 is not in the retry list 75" in alert.message
    assert pipeline.errors == []


def test_an_uploaded_manifest_sizes_the_array_and_its_failed_item_is_retried_alone(pipeline: LocalPipeline) -> None:
    # Given manifests for chunks: one of 2 items (item 0 exits 75 at attempt 1), one of a single item, an empty one
    two = pipeline.upload("chunks/two.txt", '["first.csv", "second.csv"]')
    one = pipeline.upload("chunks/one.txt", "only.csv\n")
    empty = pipeline.upload("chunks/empty.txt", "\n\n")

    # When the runs finish (the refused one has no job, so no event: read once everything is idle)
    runs = pipeline.wait_for_runs([two.run_id, one.run_id], timeout=RUN_TIMEOUT)
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then the 2-item manifest ran as an array of 2, then item 0 alone, and succeeded
    assert (runs[two.run_id].status.value, runs[two.run_id].attempt) == ("SUCCEEDED", 2)
    first, second = parents(pipeline, two.run_id)
    assert (first["arrayProperties"]["size"], job_environment(second)["ARRAY_ITEMS"]) == (2, "0")
    # and the 1-item manifest as a single job (item 0 fails at attempt 1 there too, and is retried)
    assert (runs[one.run_id].status.value, runs[one.run_id].plan.array_size) == ("SUCCEEDED", 1)
    assert all("arrayProperties" not in job for job in parents(pipeline, one.run_id))
    # and the empty one was refused: FAILED with the reason, no job submitted
    refused = pipeline.run(empty.run_id)
    assert refused is not None
    assert (refused.status.value, refused.job_id) == ("FAILED", None)
    assert "the manifest holds no items" in (refused.status_reason or "")
    assert pipeline.jobs_of(empty.run_id) == []
    assert pipeline.errors == []
