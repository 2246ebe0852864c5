"""An array job on the local pipeline: its parent's events reach the tracker, its children's stop at the rule.

The local pipeline routes every Batch event with the stack's own EventBridge rules (``LocalPipeline.put_events``:
the pattern read back from moto's EventBridge, matched by moto's matcher, the evaluator
tests/conformance/test_event_patterns.py pins on AWS's documents). The orchestrator submits no array jobs yet, so
the test submits one itself, on the stack's job queue with the stack's job definition and a run's identity (a run
the table does not hold: the tracker counts its parent's events as an unknown run's). An upload runs beside it, so
the same rule is seen delivering a single job's events and completing its run.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG
from emulator.pipeline import LocalPipeline, RoutedEvent
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT

ARRAY_RUN_ID = "s3-0123456789abcdef01234567"
TRACKER = ("TrackJobsFunction",)


def _submit_array(pipeline: LocalPipeline, input_key: str, size: int, failing_index: int) -> str:
    """SubmitJob of an array on the stack's queue and job definition, named and tagged as the orchestrator names
    its jobs; child ``failing_index`` exits 3 (the sample job's SAMPLE_FAIL_INDEXES). Returns the parent's job id."""
    outputs = pipeline.stack.outputs
    environment = {
        "RUN_ID": ARRAY_RUN_ID,
        "RUN_ATTEMPT": "1",
        "TRIGGER": "s3",
        "INPUT_BUCKET": outputs["InputBucketName"],
        "INPUT_KEY": input_key,
        "SAMPLE_FAIL_INDEXES": str(failing_index),
        "SAMPLE_FAIL_EXIT_CODE": "3",
    }
    submitted = pipeline.stack.client("batch").submit_job(
        jobName=f"{ARRAY_RUN_ID}-a1-items_txt",
        jobQueue=outputs["JobQueueArn"],
        jobDefinition=outputs["JobDefinitionArn"],
        arrayProperties={"size": size},
        containerOverrides={"environment": [{"name": k, "value": v} for k, v in environment.items()]},
        tags={RUN_ID_TAG: ARRAY_RUN_ID, ATTEMPT_TAG: "1"},
    )
    return str(submitted["jobId"])


def _job_arn(routed: RoutedEvent) -> str:
    return routed.resources[0] if routed.resources else ""


def _tracker_log_of(pipeline: LocalPipeline, run_id: str) -> list[dict[str, Any]]:
    """The tracker's structured log lines about ``run_id`` (its correlation id), oldest first."""
    group = pipeline.stack.function_log_group("TrackJobsFunction")
    events = pipeline.stack.client("logs").filter_log_events(logGroupName=group)["events"]
    lines = [json.loads(e["message"]) for e in events if e["message"].startswith("{")]
    return [line for line in lines if line.get("correlation_id") == run_id]


def test_an_array_delivers_its_parents_events_to_the_tracker_and_none_of_its_childrens(
    pipeline: LocalPipeline,
) -> None:
    # Given an upload (a single job) and, beside it, an array of 3 over the same file whose child 1 fails
    upload = pipeline.upload("incoming/items.txt", "one\ntwo\nthree\n")
    parent_id = _submit_array(pipeline, upload.key, size=3, failing_index=1)

    # When both have run to their end
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)
    batch = pipeline.stack.client("batch")
    (parent,) = batch.describe_jobs(jobs=[parent_id])["jobs"]
    routed = [r for r in pipeline.routed_events() if r.detail_type == "Batch Job State Change"]
    parent_arn = parent["jobArn"]
    children = [r for r in routed if _job_arn(r).startswith(f"{parent_arn}:")]
    parents = [r for r in routed if _job_arn(r) == parent_arn]
    single = [r for r in routed if _job_arn(r) not in {parent_arn, *map(_job_arn, children)}]

    # Then the array ran as Batch runs one: every child went RUNNABLE → STARTING → RUNNING → its end, and the
    # parent FAILED (child 1 exited 3)
    assert parent["status"] == "FAILED"
    assert Counter(_job_arn(r).rsplit(":", 1)[1] for r in children) == {"0": 4, "1": 4, "2": 4}
    # and not one of the children's 12 state changes reached a function: the tracker's rule dropped them
    assert {r.functions for r in children} == {()}
    # while the parent's two (PENDING, then FAILED) were delivered to the tracker, and only to it, which read
    # them as its run's job (a run the table does not hold)
    assert [r.functions for r in parents] == [TRACKER, TRACKER]
    assert [(line["message"], line["job_status"]) for line in _tracker_log_of(pipeline, ARRAY_RUN_ID)] == [
        ("job event unknown_run", "PENDING"),
        ("job event unknown_run", "FAILED"),
    ]
    # and the single job's every state change reached the tracker too, which completed its run
    assert len(single) == 4
    assert {r.functions for r in single} == {TRACKER}
    assert (run.status.value, run.exit_code) == ("SUCCEEDED", 0)
    # and the tracker saw nothing it could not read
    assert pipeline.errors == []
    assert pipeline.alerts() == []
