"""Items the watchdog reads per sweep, with 100,000 finished runs and 10 active ones.

The stack of template.yaml runs in moto (in this process). The finished runs are shaped like the
ones the tracker leaves behind (terminal status, history, no ``activeStatus``, so absent from the
sparse index) and are written straight into moto's DynamoDB backend: EMULATOR STATE INJECTION, done
because writing 100,000 items through the API takes minutes in moto and measures nothing of ours.
The 10 active runs go through the real pipeline (upload → S3 → SQS → submit_jobs), and the sweep
is the watchdog's handler, 15 minutes later (its clock moved, as in tests/integration/test_watchdog.py),
reading through the real adapter and botocore. ``items_read`` is the sweep's own report (DynamoDB's
ScannedCount, what DynamoDB bills); the AWS calls are counted at the botocore client boundary.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from unittest import mock

from bench.common import (
    AwsCalls,
    deliver_all,
    drain_test_event,
    load_event,
    moto_stack,
    progress,
    section_main,
    upload,
)

ACTIVE_RUNS = 10


def run(quick: bool) -> dict[str, Any]:
    from batch_orchestrator.adapters.attribute_values import serialize
    from batch_orchestrator.timeutil import utcnow
    from emulator import invoke_handler
    from emulator.fixtures import finished_run_item

    finished = 10_000 if quick else 100_000
    with moto_stack() as stack:
        drain_test_event(stack)
        start = utcnow()
        progress(f"watchdog: injecting {finished} finished runs into moto's DynamoDB")
        began = time.perf_counter()
        table = _moto_table(stack)
        env = stack.function_environment("SubmitJobsFunction")
        for index in range(finished):
            item = finished_run_item(
                index,
                bucket=stack.outputs["InputBucketName"],
                job_queue=env["JOB_QUEUE_ARN"],
                job_definition=env["JOB_DEFINITION_ARN"],
                at=start - timedelta(days=1),
            )
            table.put_item({name: serialize(value) for name, value in item.items()})
        injection_seconds = time.perf_counter() - began

        progress(f"watchdog: {ACTIVE_RUNS} active runs through the pipeline, then one sweep")
        for index in range(ACTIVE_RUNS):
            upload(stack, f"incoming/bench/active-{index}.csv")
        deliver_all(stack)
        counter = AwsCalls().attach()
        with (
            counter.window() as window,
            mock.patch("batch_orchestrator.timeutil.utcnow", return_value=start + timedelta(minutes=15)),
        ):
            began = time.perf_counter()
            report = invoke_handler(stack, "WatchdogFunction", load_event("watchdog_schedule.json"))
            sweep_seconds = time.perf_counter() - began
        items_in_table = len(table)
        assert items_in_table == finished + ACTIVE_RUNS, items_in_table
        return {
            "finished_runs": finished,
            "active_runs": ACTIVE_RUNS,
            "items_in_table": items_in_table,
            "items_read": report["items_read"],
            "items_read_per_active_run": round(report["items_read"] / ACTIVE_RUNS, 2),
            "runs_reconciled": report["runs_reconciled"],
            "sweep_errors": report["errors"],
            "aws_calls": dict(sorted(window.calls.items())),
            "scans": window.calls.get("dynamodb:Scan", 0),
            "sweep_seconds_in_moto": round(sweep_seconds, 2),
            "population": "finished runs injected into moto's DynamoDB backend (emulator state, not our code)",
            "injection_seconds": round(injection_seconds, 1),
        }


def _moto_table(stack: Any) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[stack.account_id][stack.region].get_table(stack.outputs["RunsTableName"])


if __name__ == "__main__":
    section_main(run)
