"""Pipelines end to end: template.yaml rendered with pipelines (``then:``), created in the emulator, driven by uploads
only; the jobs are the sample job run by the local job runner (SIMULATED AWS Batch: emulator/local_arrays.py for the
arrays), so each step really reads what its previous step wrote.

The table (``PIPELINES_YAML``) has the three patterns of docs/workloads.md "Pipelines":

* preprocess -> array -> aggregate: ``split`` writes the upload's lines as a manifest; ``render`` runs one child per
  line (``{manifest: previous-step}``), item 1 exiting 75 (retryable) at its first attempt only; ``merge`` reads the
  children's results;
* array -> aggregate: ``tiles`` (a fixed array of 3), then ``stitch``;
* sequential steps: ``extract`` -> ``load`` -> ``report``, and ``check`` -> ``publish``, where ``publish`` exits 3
  (not retryable): the step that fails for good.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from emulator.alerts_inbox import alert_details, alert_run_id
from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT
from tests.support.runs import job_environment
from tests.support.workload_yaml import SAMPLE_CONTAINER

pytestmark = pytest.mark.slow

SAMPLE = SAMPLE_CONTAINER
PIPELINES_YAML = f"""
workloads:
  - name: split
    match: {{prefix: scenes/}}{SAMPLE}
    then: render
  - name: render{SAMPLE}
    environment: {{SAMPLE_FAIL_INDEXES: "1", SAMPLE_FAIL_EXIT_CODE: "75", SAMPLE_FAIL_UNTIL_RUN_ATTEMPT: "2"}}
    retry: {{exit_codes: "75", max_attempts: 2, base_delay_seconds: 1}}
    array: {{manifest: previous-step}}
    then: merge
  - name: merge{SAMPLE}
  - name: tiles
    match: {{prefix: tiles/}}{SAMPLE}
    array: {{size: 3}}
    then: stitch
  - name: stitch{SAMPLE}
  - name: extract
    match: {{prefix: sales/}}{SAMPLE}
    then: load
  - name: load{SAMPLE}
    then: report
  - name: report{SAMPLE}
  - name: check
    match: {{prefix: releases/}}{SAMPLE}
    then: publish
  - name: publish{SAMPLE}
    environment: {{SAMPLE_FAIL_INDEXES: "0", SAMPLE_FAIL_EXIT_CODE: "3"}}
    retry: {{exit_codes: "75", max_attempts: 3, base_delay_seconds: 1}}
"""


@pytest.fixture
def pipeline_workloads() -> str:
    return PIPELINES_YAML


def steps_result(pipeline: LocalPipeline, run_id: str, step: str, item: int | None = None) -> dict[str, Any]:
    """The sample job's result of one step (STEP_OUTPUT_PREFIX[<item>/]result.json)."""
    outputs = pipeline.stack.outputs
    key = f"{outputs['OutputPrefix']}{run_id}/{step}/{'' if item is None else f'{item}/'}result.json"
    body = pipeline.stack.client("s3").get_object(Bucket=outputs["InputBucketName"], Key=key)["Body"].read()
    found: dict[str, Any] = json.loads(body)
    return found


def jobs_by_step(pipeline: LocalPipeline, run_id: str) -> list[tuple[str, int, dict[str, str]]]:
    """The run's jobs (array parents, not children) in submission order: (workload, run attempt, environment)."""
    parents = [job for job in pipeline.jobs_of(run_id) if ":" not in job["jobId"]]
    return [
        (
            job["tags"]["batch-orchestrator:workload"],
            int(job["tags"]["batch-orchestrator:attempt"]),
            job_environment(job),
        )
        for job in parents
    ]


def test_preprocess_then_array_then_aggregate_retries_one_child_alone(pipeline: LocalPipeline) -> None:
    # Given an upload of three lines for split -> render (an array of its manifest; item 1 fails once) -> merge
    upload = pipeline.upload("scenes/night.txt", "sky\n# a comment, not an item\nmoon\nstars\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it SUCCEEDED after four attempts: split, render over 3 items, render over item 1 alone, merge
    assert (run.status.value, run.attempt, run.workload) == ("SUCCEEDED", 4, "merge")
    assert [(r.attempt, r.workload, r.status.value, r.items) for r in run.history] == [
        (1, "split", "SUCCEEDED", None),
        (2, "render", "FAILED", "0-2"),
        (3, "render", "SUCCEEDED", "1"),
        (4, "merge", "SUCCEEDED", None),
    ]
    jobs = jobs_by_step(pipeline, upload.run_id)
    assert [(workload, attempt) for workload, attempt, _ in jobs] == [
        ("split", 1),
        ("render", 2),
        ("render", 3),
        ("merge", 4),
    ]
    # and each step was told where it stands, where it writes and where its previous step wrote
    output = f"{pipeline.stack.outputs['OutputPrefix']}{upload.run_id}/"
    split_env, render_env, retry_env, merge_env = (env for _, _, env in jobs)
    assert (split_env["STEP_NAME"], split_env["STEP_NUMBER"], split_env["STEP_COUNT"]) == ("split", "1", "3")
    assert split_env["STEP_MANIFEST_KEY"] == f"{output}split/manifest"
    assert "PREVIOUS_STEP_OUTPUT_PREFIX" not in split_env
    assert render_env["MANIFEST_KEY"] == f"{output}split/manifest"
    assert (render_env["STEP_ATTEMPT"], retry_env["STEP_ATTEMPT"], retry_env["ARRAY_ITEMS"]) == ("1", "2", "1")
    assert merge_env["PREVIOUS_STEP_OUTPUT_PREFIX"] == f"{output}render/"
    # and the array read its items from the manifest split wrote (comment lines left out), each item once
    assert [steps_result(pipeline, upload.run_id, "render", i)["manifestItem"] for i in range(3)] == [
        "sky",
        "moon",
        "stars",
    ]
    assert steps_result(pipeline, upload.run_id, "render", 1)["attempt"] == 3
    # and merge saw the three results render left
    assert steps_result(pipeline, upload.run_id, "merge")["previousResults"]["count"] == 3
    assert pipeline.alerts() == []
    assert pipeline.errors == []


def test_array_then_aggregate(pipeline: LocalPipeline) -> None:
    # Given an upload for tiles (an array of 3) -> stitch
    upload = pipeline.upload("tiles/a.txt", "one tile set\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then stitch ran once, after the three children, as a single job (no array left over from tiles)
    assert (run.status.value, run.attempt, run.plan.array_size, run.array_status) == ("SUCCEEDED", 2, 0, ())
    assert [(workload, attempt) for workload, attempt, _ in jobs_by_step(pipeline, upload.run_id)] == [
        ("tiles", 1),
        ("stitch", 2),
    ]
    stitch = [job for job in pipeline.jobs_of(upload.run_id) if job["tags"]["batch-orchestrator:workload"] == "stitch"]
    assert len(stitch) == 1
    assert "arrayProperties" not in stitch[0]
    assert steps_result(pipeline, upload.run_id, "stitch")["previousResults"]["count"] == 3
    assert pipeline.errors == []


def test_sequential_steps_run_in_order_each_after_the_one_before(pipeline: LocalPipeline) -> None:
    # Given an upload for extract -> load -> report
    upload = pipeline.upload("sales/2026-12.csv", "a,b\n1,2\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then the three steps ran one after another, each started only after the one before had stopped
    assert (run.status.value, [r.workload for r in run.history]) == ("SUCCEEDED", ["extract", "load", "report"])
    ordered = sorted(run.history, key=lambda record: record.attempt)
    for before, after in itertools.pairwise(ordered):
        assert before.stopped_at is not None
        assert after.started_at is not None
        assert before.stopped_at <= after.started_at
    # and every step read the same input, the upload
    assert {env["INPUT_KEY"] for _, _, env in jobs_by_step(pipeline, upload.run_id)} == {"sales/2026-12.csv"}
    assert steps_result(pipeline, upload.run_id, "report")["previousResults"]["count"] == 1
    assert pipeline.errors == []


def test_a_step_failing_for_good_fails_the_run_with_one_alert_naming_the_step(pipeline: LocalPipeline) -> None:
    # Given an upload for check -> publish, where publish exits 3 (not retryable)
    upload = pipeline.upload("releases/v1.txt", "release notes\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it FAILED at publish's first attempt (run attempt 2), and no further step ran
    assert (run.status.value, run.attempt, run.workload, run.exit_code) == ("FAILED", 2, "publish", 3)
    assert [(r.workload, r.status.value) for r in run.history] == [("check", "SUCCEEDED"), ("publish", "FAILED")]
    # and one alert names the step, with the attempt as the step counts it
    (alert,) = pipeline.alerts()
    assert alert_run_id(alert) == upload.run_id
    assert "(step publish: exit 3, attempt 1/3)" in alert.subject
    assert "Step:" in alert.message
    assert "publish (step 2 of 2)" in alert.message
    assert alert_details(alert)["step"] == {"workload": "publish", "number": 2, "count": 2}
    assert pipeline.errors == []


def test_a_step_whose_manifest_is_empty_fails_naming_the_step_without_a_job(pipeline: LocalPipeline) -> None:
    # Given an upload for split whose lines are all comments: split writes an empty manifest for render
    upload = pipeline.upload("scenes/empty.txt", "# nothing to render\n")

    # When split has run and the run has settled (render is refused: no job, so no event)
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)
    run = pipeline.run(upload.run_id)

    # Then the run FAILED at render, before any render job, with the reason naming the step
    assert run is not None
    assert (run.status.value, run.attempt, run.workload) == ("FAILED", 2, "render")
    assert "step render cannot run its previous step's manifest: the manifest holds no items" in (
        run.status_reason or ""
    )
    assert [(workload, attempt) for workload, attempt, _ in jobs_by_step(pipeline, upload.run_id)] == [("split", 1)]
    assert [(r.workload, r.status.value) for r in run.history] == [("split", "SUCCEEDED"), ("render", "FAILED")]
    assert pipeline.errors == []
