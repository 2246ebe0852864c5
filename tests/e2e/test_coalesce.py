"""Burst coalescing end to end: template.yaml rendered with a coalescing workload, created in the emulator, driven by
uploads only. SIMULATED: the coalescing queue's event source mapping (emulator/event_sources.py: BatchSize and
MaximumBatchingWindowInSeconds as rendered) and AWS Batch (the local job runner runs the array's children).

The story: a burst of uploads to ``frames`` (window 2 s, up to 50 items) with duplicate notifications, one object
notified twice in the same batch and one notified again after its run was submitted (a later batch): one array job
holds exactly the distinct keys, each key's item in the runs table names its run and child, and the duplicates
start nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import pytest

from emulator.pipeline import LocalPipeline
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT
from tests.support.runs import job_environment

pytestmark = pytest.mark.slow

COALESCE_YAML = """
workloads:
  - name: frames
    match: {prefix: frames/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    coalesce: {window_seconds: 2, max_items: 50}
"""
BURST = 6


@pytest.fixture
def pipeline_workloads() -> str:
    return COALESCE_YAML


def _key_item(pipeline: LocalPipeline, run_id: str) -> dict[str, Any]:
    outputs = pipeline.stack.outputs
    item = pipeline.stack.client("dynamodb").get_item(
        TableName=outputs["RunsTableName"], Key={"runId": {"S": run_id}}, ConsistentRead=True
    )["Item"]
    return {name: next(iter(value.values())) for name, value in item.items()}


def _runs(pipeline: LocalPipeline) -> list[str]:
    """Every run of the table (items with a status: the keys' items have none)."""
    outputs = pipeline.stack.outputs
    items = pipeline.stack.client("dynamodb").scan(TableName=outputs["RunsTableName"])["Items"]
    return sorted(item["runId"]["S"] for item in items if "status" in item)


def _notifications(pipeline: LocalPipeline, count: int) -> dict[str, str]:
    """The S3 notifications waiting on the SubmitQueue (left there), by key."""
    sqs, url = pipeline.stack.client("sqs"), pipeline.stack.outputs["SubmitQueueUrl"]
    found: dict[str, str] = {}
    while len(found) < count:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1).get(
            "Messages", []
        ):
            for record in json.loads(message["Body"]).get("Records", []):
                found[unquote_plus(record["s3"]["object"]["key"])] = message["Body"]  # URL-encoded in S3 events
    return found


def _notify_again(pipeline: LocalPipeline, body: str) -> None:
    pipeline.stack.client("sqs").send_message(QueueUrl=pipeline.stack.outputs["SubmitQueueUrl"], MessageBody=body)


def test_coalescing_with_duplicate_notifications(pipeline: LocalPipeline) -> None:
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)  # S3's test event
    # Given a burst of uploads to a coalescing workload, k0 and k1 notified twice in the same burst
    with pipeline.submissions_paused():
        uploads = [pipeline.upload(f"frames/k{i}.txt", f"frame {i}\n") for i in range(BURST)]
        notifications = _notifications(pipeline, BURST)
        for key in ("frames/k0.txt", "frames/k1.txt"):
            _notify_again(pipeline, notifications[key])

    # When the pipeline has handled them
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then every key's item names one run, the same for all, and its child index: 0..5, each once
    items = {upload.key: _key_item(pipeline, upload.run_id) for upload in uploads}
    (batch_run_id,) = {item["coalescedInto"] for item in items.values()}
    assert sorted(int(item["coalescedIndex"]) for item in items.values()) == list(range(BURST))
    # and that run is the only run: an array of exactly the distinct keys, which succeeds
    assert _runs(pipeline) == [batch_run_id]
    run = pipeline.wait_for_runs([batch_run_id], timeout=RUN_TIMEOUT)[batch_run_id]
    assert (run.status.value, run.attempt, run.plan.workload, run.plan.array_size) == ("SUCCEEDED", 1, "frames", BURST)
    (parent,) = [job for job in pipeline.jobs_of(batch_run_id) if ":" not in job["jobId"]]
    assert parent["arrayProperties"]["size"] == BURST
    # and the manifest the children read maps each child index to its key (the child contract)
    environment = job_environment(parent)
    manifest = json.loads(
        pipeline.stack.client("s3")
        .get_object(Bucket=environment["INPUT_BUCKET"], Key=environment["INPUT_KEY"])["Body"]
        .read()
    )
    assert environment["INPUT_KEY"].startswith("batch-orchestrator/coalesced/frames/")
    assert sorted(entry["key"] for entry in manifest) == sorted(items)
    for key, item in items.items():
        entry = manifest[int(item["coalescedIndex"])]
        assert (entry["key"], entry["versionId"]) == (key, item["source"]["versionId"]["S"])
    # and each child processed its own upload (the sample job follows the child contract)
    outputs = pipeline.stack.outputs
    for key, item in items.items():
        output = f"{outputs['OutputPrefix']}{batch_run_id}/{int(item['coalescedIndex'])}/result.json"
        body = pipeline.stack.client("s3").get_object(Bucket=outputs["InputBucketName"], Key=output)["Body"].read()
        assert json.loads(body)["input"]["key"] == key

    # When k2 is notified again after its run was submitted (a later batch)
    _notify_again(pipeline, notifications["frames/k2.txt"])
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then it starts nothing: the same single run, k2 still its child
    assert _runs(pipeline) == [batch_run_id]
    assert _key_item(pipeline, uploads[2].run_id)["coalescedInto"] == batch_run_id
    assert len([job for job in pipeline.jobs_of(batch_run_id) if ":" not in job["jobId"]]) == 1
    # and the manifest written for the run is never routed (it started no run), nothing failed
    assert pipeline.alerts() == []
    assert pipeline.errors == []
