"""Load on the active-runs index: how many index writes a run costs, per partition, and the bound it gives.

ActiveRunsIndex is keyed on ``activeStatus`` (a handful of values) with ``updatedAt`` as sort key,
so one status is one index partition at a time, and an increasing sort key defeats DynamoDB's split
for heat. A GSI partition absorbs about 1,000 write units per second; a write to an indexed item is
one index write in its partition (a change of status: a delete in the old one and a put in the new
one), costing one write unit per KB of the item (the projection is ALL).

Measured here: the index writes of each run's life, per status partition, and its item size, on the
stack of template.yaml in moto with the real handlers. The bound that follows (docs/limits.md):
runs enter a status no faster, on average, than they are submitted, and submissions
stop at AWS Batch's 50 SubmitJob per second per account, so a partition takes at most
50 x (writes per run in it) x (item KB) units per second: well under 1,000 for items under 5 KB.
A burst above that (thousands of jobs changing status in the same second) is throttled, not lost:
the write fails after botocore's retries, Lambda retries the event twice, and the watchdog repairs
what is left from DescribeJobs.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from batch_orchestrator.limits import BATCH_SUBMIT_JOB_RATE
from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry
from tests.conformance.limit_checks import item_size
from tests.support.figures import figure
from tests.support.runs import all_jobs, deliver_all, drain_test_event, job_event, track, upload

GSI_PARTITION_WRITE_UNITS = 1_000  # per second: DynamoDB's per-partition throughput, GSIs included
LIFECYCLE = ("PENDING", "RUNNABLE", "STARTING", "RUNNING")


class IndexLedger:
    """Index writes per partition, from the item as it is after each write of one run."""

    def __init__(self, stack: EmulatedStack, run_id: str) -> None:
        self._stack = stack
        self._run_id = run_id
        self.writes: Counter[str] = Counter()
        self.largest_item = 0
        self._partition: str | None = None

    def observe(self) -> None:
        item = self._item()
        self.largest_item = max(self.largest_item, item_size(item))
        partition = item.get("activeStatus", {}).get("S")
        if self._partition is not None:
            self.writes[self._partition] += 1  # the item left, or was updated in, its partition
        if partition is not None and partition != self._partition:
            self.writes[partition] += 1  # the item entered a partition
        self._partition = partition

    def _item(self) -> dict[str, Any]:
        response = self._stack.client("dynamodb").get_item(
            TableName=self._stack.outputs["RunsTableName"], Key={"runId": {"S": self._run_id}}, ConsistentRead=True
        )
        return dict(response["Item"])


def _play(stack: EmulatedStack, key: str, finals: list[tuple[str, int]]) -> IndexLedger:
    """Upload ``key`` and play each attempt's events; ``finals`` holds each attempt's end (status, exit code)."""
    upload(stack, key)
    deliver_all(stack)
    jobs = [job for job in all_jobs(stack) if job["container"]["environment"][4]["value"] == key]
    ledger = IndexLedger(stack, jobs[0]["tags"]["batch-orchestrator:run-id"])
    ledger.observe()
    for attempt, (final, exit_code) in enumerate(finals, start=1):
        (job,) = [
            job
            for job in all_jobs(stack)
            if job["tags"]["batch-orchestrator:run-id"] == ledger._run_id
            and job["tags"]["batch-orchestrator:attempt"] == str(attempt)
        ]
        for status in LIFECYCLE:
            track(stack, job_event(stack, job, status))
            ledger.observe()
        track(stack, job_event(stack, job, final, exit_code=exit_code, attempts=[attempt_entry(exit_code=exit_code)]))
        ledger.observe()
        deliver_all(stack)  # the retry request, if any
        ledger.observe()
    return ledger


@pytest.mark.stack_params(RetryExitCodes="75", MaxAttempts="3", RetryBaseDelaySeconds="0")
def test_index_writes_per_run_bound_each_partitions_load_at_the_submit_job_limit(stack: EmulatedStack) -> None:
    # Given the stack, and three lives of a run: a success, a retry then a success, three failures
    drain_test_event(stack)

    # When each is played through every status Batch reports
    ledgers = {
        "succeeded": _play(stack, "incoming/ok.csv", [("SUCCEEDED", 0)]),
        "retried": _play(stack, "incoming/retried.csv", [("FAILED", 75), ("SUCCEEDED", 0)]),
        "failed 3x": _play(stack, "incoming/failed.csv", [("FAILED", 75), ("FAILED", 75), ("FAILED", 75)]),
    }

    # Then an attempt writes each partition a bounded number of times (enter, update, leave),
    attempts = {"succeeded": 1, "retried": 2, "failed 3x": 3}
    per_attempt = {name: math.ceil(max(ledger.writes.values()) / attempts[name]) for name, ledger in ledgers.items()}
    assert max(per_attempt.values()) <= 3, per_attempt
    # and since every attempt is one SubmitJob, at Batch's SubmitJob limit the busiest partition stays far
    # below a partition's capacity
    item_kb = math.ceil(max(ledger.largest_item for ledger in ledgers.values()) / 1024)
    units = BATCH_SUBMIT_JOB_RATE.value * max(per_attempt.values()) * item_kb
    assert units <= GSI_PARTITION_WRITE_UNITS / 2, f"{units} write units/s in one index partition"
    summary = "; ".join(f"{name}: {dict(sorted(ledger.writes.items()))}" for name, ledger in ledgers.items())
    figure(
        "Active-runs index load",
        f"index writes by partition ({summary}): at most {max(per_attempt.values())} per attempt in one partition; "
        f"items <= {item_kb} KB; at {BATCH_SUBMIT_JOB_RATE.value} SubmitJob/s the busiest partition takes "
        f"<= {units} of {GSI_PARTITION_WRITE_UNITS:,} write units/s",
    )
