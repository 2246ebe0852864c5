"""One 10,000-child array with 1% of its children failing once, end to end on the local pipeline (issue 14).

The whole pipeline of template.yaml runs locally (``emulator.pipeline.LocalPipeline``: a moto server, the stack,
the real handlers in-process, EventBridge routed with the stack's own rule patterns), with template.yaml rendered
for one array workload, ``array: {size: 10000}``, whose retry policy retries exit code 75. The local job runner
(SIMULATED AWS Batch, ``emulator.local_arrays``) runs the children WITHOUT PROCESSES (``array_child_outcome``):
on the first attempt's array, the children whose index % 100 == 0 exit 75 (100 of 10,000) and the others 0; every
child of a later attempt (the child-only rerun, told its items by ARRAY_ITEMS) exits 0. Each child still goes
RUNNABLE → STARTING → RUNNING → its end with a "Batch Job State Change" event per step, recorded in moto's Batch,
and the parent PENDING → FAILED | SUCCEEDED, as the runner does for any array.

Measured from the upload until the run is SUCCEEDED (and the pipeline idle): every invocation of each function
(counted where the pipeline calls the handler, so async retries would count too), the AWS calls of the functions'
own clients by operation (``AwsCalls``: DynamoDB writes, failed conditional writes included, SubmitJob, ListJobs
pages), the largest run item by DynamoDB's size rules (``tests/conformance/limit_checks.item_size``, read after
every write of the functions), the Batch events routed and dropped at the tracker's rule, the rerun's array (size,
ARRAY_ITEMS, against the children ListJobs reports FAILED), and the wall time.

Beside it, what one job per item costs today is NOT run here (10,000 uploads take long in the emulator and
measure nothing new): ``bench.targets.single_job_equivalent`` computes it from the ``calls`` section's
per-upload, per-event and per-retry figures and the Batch events of one single job, measured below on the same
pipeline. ``--quick`` (CI): an array of 1,000 with 10 failing children, the same checks scaled.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any
from unittest import mock

from bench.common import AwsCalls, fake_aws_environment, job_environment, progress, section_main

SIZE = 10_000
QUICK_SIZE = 1_000
FAIL_EVERY = 100  # index % 100 == 0 fails on the first attempt: 1%
RETRYABLE_EXIT_CODE = 75
WORKLOAD = "grid"
PREFIX = "grid/"
RUN_TIMEOUT_SECONDS = 900.0
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
TRACKER = "TrackJobsFunction"


def workloads_yaml(size: int) -> str:
    return f"""
workloads:
  - name: {WORKLOAD}
    match: {{prefix: {PREFIX}}}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    retry: {{exit_codes: "{RETRYABLE_EXIT_CODE}", max_attempts: 3, base_delay_seconds: 1}}
    array: {{size: {size}}}
"""


class ChildOutcomes:
    """SIMULATED exit codes of array children (the runner's ``array_child_outcome``): the first ``size`` child
    attempts asked for are the first attempt's array (index % FAIL_EVERY == 0 exits 75, the rest 0); every child
    asked for after them belongs to a later attempt, and exits 0. (No child is retried by Batch itself: the job
    definition's retryStrategy exits on any exit code.)"""

    def __init__(self, size: int) -> None:
        self.size = size
        self.calls = 0
        self.failed: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, index: int) -> int:
        with self._lock:
            self.calls += 1
            first_attempt = self.calls <= self.size
            if first_attempt and index % FAIL_EVERY == 0:
                self.failed.append(index)
                return RETRYABLE_EXIT_CODE
            return 0


class LargestItem:
    """After every DynamoDB write of the functions' client: the size of each item of the (small) runs table."""

    def __init__(self, stack: Any) -> None:
        from tests.conformance.limit_checks import item_size

        self._item_size = item_size
        self._client = stack.client("dynamodb")  # the harness's own client: not counted
        self._table = stack.outputs["RunsTableName"]
        self.largest = 0
        self.largest_attributes: list[str] = []
        self.reads = 0

    def attach(self) -> LargestItem:
        from batch_orchestrator.adapters import aws

        aws.client("dynamodb").meta.events.register("after-call", self._after_call)
        return self

    def _after_call(self, model: Any, **_: Any) -> None:
        if model.name not in DYNAMODB_WRITES:
            return
        self.reads += 1
        for page in self._client.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
            for item in page["Items"]:
                size = self._item_size(item)
                if size > self.largest:
                    self.largest, self.largest_attributes = size, sorted(item)


def run(quick: bool) -> dict[str, Any]:
    from batch_orchestrator.array_items import parse_items
    from batch_orchestrator.limits import RUN_ITEM_BUDGET
    from emulator.invoke import invoke_handler
    from emulator.pipeline import LocalPipeline

    size = QUICK_SIZE if quick else SIZE
    fake_aws_environment()
    outcomes = ChildOutcomes(size)
    said: list[str] = []
    invocations: Counter[str] = Counter()

    def counted_invoke(stack: Any, logical_id: str, event: Any) -> Any:
        invocations[logical_id] += 1
        return invoke_handler(stack, logical_id, event)

    with (
        mock.patch("emulator.pipeline.invoke_handler", counted_invoke),
        LocalPipeline(workloads_yaml=workloads_yaml(size), array_child_outcome=outcomes, echo=said.append) as pipeline,
    ):
        pipeline.wait_idle(timeout=60)  # S3's test event, delivered to submit_jobs
        stack = pipeline.stack
        counter = AwsCalls().attach()
        largest = LargestItem(stack).attach()
        invocations.clear()
        routed_before = len(pipeline.routed_events())
        deliveries_before = len(pipeline.deliveries())

        progress(f"arrays: one upload → an array of {size:,} children, {size // FAIL_EVERY} failing once")
        with counter.window() as window:
            began = time.monotonic()
            upload = pipeline.upload(f"{PREFIX}bench.txt", "one array\n")
            run_record = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT_SECONDS)[upload.run_id]
            to_succeeded = time.monotonic() - began
            pipeline.wait_idle(timeout=120)
        array_invocations = dict(invocations)
        array_deliveries = pipeline.deliveries()[deliveries_before:]
        routed = pipeline.routed_events()[routed_before:]
        batch_events = [r for r in routed if r.detail_type == "Batch Job State Change"]
        assert run_record.status.value == "SUCCEEDED", run_record
        assert pipeline.errors == [], pipeline.errors
        assert pipeline.alerts() == [], pipeline.alerts()

        progress("arrays: the attempts' parent jobs, the failed children and the rerun")
        stored = pipeline.run(upload.run_id)
        assert stored is not None
        run_record = stored
        batch = stack.client("batch")
        parent_ids = [entry.job_id for entry in run_record.history]
        parents = {job["jobId"]: job for job in batch.describe_jobs(jobs=parent_ids)["jobs"]}
        first, rerun = (parents[job_id] for job_id in parent_ids)
        listed_failed: list[int] = []
        for page in batch.get_paginator("list_jobs").paginate(arrayJobId=first["jobId"], jobStatus="FAILED"):
            listed_failed.extend(int(summary["jobId"].rsplit(":", 1)[1]) for summary in page["jobSummaryList"])
        expected_failed = list(range(0, size, FAIL_EVERY))
        rerun_items_text = job_environment(rerun).get("ARRAY_ITEMS", "")
        rerun_items = list(parse_items(rerun_items_text)) if rerun_items_text else []
        assert sorted(outcomes.failed) == expected_failed == sorted(listed_failed), "unexpected failed children"

        progress("arrays: one upload to the default single-job workload, for its events")
        routed_before = len(pipeline.routed_events())
        deliveries_before = len(pipeline.deliveries())
        invocations.clear()
        with counter.window() as single_window:
            single = pipeline.upload("incoming/bench/single.csv", "a,b\n1,2\n")
            single_run = pipeline.wait_for_runs([single.run_id], timeout=120)[single.run_id]
            pipeline.wait_idle(timeout=60)
        assert single_run.status.value == "SUCCEEDED", single_run
        single_events = [
            r for r in pipeline.routed_events()[routed_before:] if r.detail_type == "Batch Job State Change"
        ]
        single_invocations = dict(invocations)
        single_deliveries = pipeline.deliveries()[deliveries_before:]
        assert pipeline.errors == [], pipeline.errors

    calls = dict(sorted(window.calls.items()))
    writes = {name: count for name, count in calls.items() if name.split(":", 1)[1] in DYNAMODB_WRITES}
    failed_children = len(expected_failed)
    async_retries = [line for line in said if "retries the async invocation" in line]
    history = [
        {
            "attempt": entry.attempt,
            "status": entry.status.value,
            "items": entry.items,
            "failed_children": entry.failed_children,
        }
        for entry in run_record.history
    ]
    return {
        "array_size": size,
        "failed_children": failed_children,
        "failing_rule": f"index % {FAIL_EVERY} == 0 exits {RETRYABLE_EXIT_CODE} at attempt 1; "
        "every later child exits 0",
        "child_outcomes_asked": outcomes.calls,
        "run_status": run_record.status.value,
        "run_attempts": run_record.attempt,
        "history": history,
        "seconds_upload_to_succeeded": round(to_succeeded, 1),
        "invocations": dict(sorted(array_invocations.items())),
        "tracker_invocations": array_invocations.get(TRACKER, 0),
        "submit_queue_deliveries": _deliveries(array_deliveries),
        "async_retries": len(async_retries),
        "batch_events": {
            "total": len(batch_events),
            "to_tracker": sum(1 for r in batch_events if TRACKER in r.functions),
            "dropped_at_rule": sum(1 for r in batch_events if not r.functions),
        },
        "aws_calls": calls,
        "dynamodb_writes": sum(writes.values()),
        "dynamodb_writes_by_operation": writes,
        "failed_conditional_writes": dict(sorted(window.failed_conditions.items())),
        "other_errors": dict(sorted(window.errors.items())),
        "http_requests": window.http_requests,
        "submit_jobs": calls.get("batch:SubmitJob", 0),
        "list_jobs_pages": calls.get("batch:ListJobs", 0),
        "largest_item_bytes": largest.largest,
        "largest_item_attributes": len(largest.largest_attributes),
        "item_size_reads": largest.reads,
        "item_budget_bytes": RUN_ITEM_BUDGET.value,
        "rerun": {
            "array_size": rerun.get("arrayProperties", {}).get("size"),
            "items": rerun_items_text,
            "items_are_the_failed_children": rerun_items == expected_failed == sorted(listed_failed),
            "parameters_array_items_same": rerun.get("parameters", {}).get("arrayItems") == rerun_items_text,
            "first_attempt_array_size": first.get("arrayProperties", {}).get("size"),
            "first_attempt_failed_children_listed": len(listed_failed),
        },
        "single_job": {
            "batch_events": len(single_events),
            "statuses_to_tracker": sum(1 for r in single_events if TRACKER in r.functions),
            "invocations": dict(sorted(single_invocations.items())),
            "submit_queue_deliveries": _deliveries(single_deliveries),
            "aws_calls": dict(sorted(single_window.calls.items())),
        },
        "simulated": "AWS Batch array children: local job runner without processes (array_child_outcome); "
        "AWS APIs: moto server; EventBridge: the stack's rule patterns, moto's matcher",
    }


def _deliveries(records: list[Any]) -> list[dict[str, Any]]:
    """What each SQS delivery carried: S3 notifications (with their keys: the single job's own output lands in the
    input bucket too, and is ignored) or a retry request."""
    return [
        {
            "function": record.function_logical_id,
            "records": len(record.bodies),
            "kinds": sorted({_kind(body) for body in record.bodies}),
            "failed": record.failed,
        }
        for record in records
    ]


def _kind(body: str) -> str:
    try:
        message = json.loads(body)
    except ValueError:
        return "not JSON"
    if isinstance(message, dict) and "Records" in message:
        return ", ".join(
            sorted(
                {f"s3:{r.get('eventName')} {r.get('s3', {}).get('object', {}).get('key')}" for r in message["Records"]}
            )
        )
    if isinstance(message, dict) and message.get("Event") == "s3:TestEvent":
        return "s3:TestEvent"
    return "retry request" if isinstance(message, dict) else type(message).__name__


if __name__ == "__main__":
    section_main(run)
