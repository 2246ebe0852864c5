"""AWS API calls per upload, per state-change event, per retry and per final failure.

The stack of template.yaml runs in moto (in this process) with the template's defaults, except
RetryBaseDelaySeconds=0 so that a retry request is visible on the SubmitQueue at once (the delay
changes when the next attempt starts, not which calls it makes). Uploads go through S3 → SQS →
submit_jobs (``emulator.deliver_sqs_batch`` plays the event source mapping); Batch events are
the documented "Batch Job State Change" events built from moto's DescribeJobs entry of each real
submitted job (moto's Batch emits none), checked against the template's EventBridge rule, and
handed to track_jobs. Calls are counted on the shared package's botocore clients (``AwsCalls``).
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import (
    AwsCalls,
    all_jobs,
    deliver_all,
    drain_test_event,
    job_environment,
    load_event,
    moto_stack,
    progress,
    section_main,
    upload,
)

PARAMETERS = {"RetryBaseDelaySeconds": "0"}
RETRYABLE_EXIT_CODE = 75  # the template's default RetryExitCodes
FINAL_EXIT_CODE = 1
LOG_STREAM = "batch-orchestrator/default/0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def run(quick: bool) -> dict[str, Any]:
    from emulator import invoke_handler
    from emulator.batch_event_builder import attempt_entry, job_state_change

    runs = 6 if quick else 20
    with moto_stack(PARAMETERS) as stack:
        drain_test_event(stack)
        counter = AwsCalls().attach()

        def track(job: dict[str, Any], status: str, exit_code: int | None = None) -> dict[str, Any]:
            details: dict[str, Any] = {}
            if status in ("SUCCEEDED", "FAILED"):
                details = {
                    "exit_code": exit_code,
                    "attempts": [attempt_entry(exit_code=exit_code, log_stream_name=LOG_STREAM)],
                    "log_stream_name": LOG_STREAM,
                    "status_reason": "Essential container in task exited",
                }
            event = job_state_change(job, status, region=stack.region, account=stack.account_id, **details)
            assert stack.rules_matching(event), "the template's EventBridge rule would not deliver this event"
            result: dict[str, Any] = invoke_handler(stack, "TrackJobsFunction", event)
            return result

        def outcomes(results: list[dict[str, Any]]) -> list[str]:
            return sorted({str(result["outcome"]) for result in results})

        figures: dict[str, Any] = {"runs_per_scenario": runs, "stack_parameters": PARAMETERS}

        progress(f"calls: {runs} uploads")
        for index in range(runs):
            upload(stack, f"incoming/bench/calls-{index:04d}.csv")
        with counter.window() as window:
            deliveries = deliver_all(stack)
        figures["upload"] = window.per(runs)
        bodies = [record["body"] for delivery in deliveries for record in delivery.event["Records"]]

        progress("calls: duplicate deliveries of the same uploads")
        sqs = stack.client("sqs")
        for body in bodies:
            sqs.send_message(QueueUrl=stack.outputs["SubmitQueueUrl"], MessageBody=body)
        with counter.window() as window:
            deliver_all(stack)
        figures["duplicate_upload"] = window.per(len(bodies))

        jobs = sorted(all_jobs(stack), key=lambda job: job["jobName"])
        assert len(jobs) == runs, f"expected {runs} jobs, found {len(jobs)}"

        progress("calls: state-change events")
        results = []
        with counter.window() as window:
            for job in jobs:
                for status in ("PENDING", "RUNNABLE", "STARTING", "RUNNING"):
                    results.append(track(job, status))
        figures["state_change_event"] = {**window.per(4 * runs), "outcomes": outcomes(results)}

        with counter.window() as window:
            results = [track(job, "RUNNING") for job in jobs]
        figures["duplicate_event"] = {**window.per(runs), "outcomes": outcomes(results)}
        with counter.window() as window:
            results = [track(job, "PENDING") for job in jobs]
        figures["late_event"] = {**window.per(runs), "outcomes": outcomes(results)}

        succeeding, failing = jobs[: runs // 2], jobs[runs // 2 :]
        with counter.window() as window:
            results = [track(job, "SUCCEEDED", exit_code=0) for job in succeeding]
        figures["terminal_event"] = {**window.per(len(succeeding)), "outcomes": outcomes(results)}
        with counter.window() as window:
            results = [track(job, "RUNNING") for job in succeeding]
        figures["late_event_after_terminal"] = {**window.per(len(succeeding)), "outcomes": outcomes(results)}

        progress("calls: retries")
        with counter.window() as tracked:
            results = [track(job, "FAILED", exit_code=RETRYABLE_EXIT_CODE) for job in failing]
        assert outcomes(results) == ["RETRY_SCHEDULED"], results
        with counter.window() as submitted:
            deliver_all(stack)
        retry = tracked.per(len(failing))
        resubmit = submitted.per(len(failing))
        figures["retry"] = {
            "calls": round(retry["calls"] + resubmit["calls"], 3),
            "failed_conditional_writes": round(
                retry["failed_conditional_writes"] + resubmit["failed_conditional_writes"], 3
            ),
            "track_jobs": retry,
            "submit_jobs": resubmit,
        }
        with counter.window() as window:
            results = [track(job, "FAILED", exit_code=RETRYABLE_EXIT_CODE) for job in failing]
        figures["duplicate_failed_event"] = {**window.per(len(failing)), "outcomes": outcomes(results)}

        progress("calls: final failures")
        second = [
            job
            for job in all_jobs(stack)
            if job_environment(job)["RUN_ATTEMPT"] == "2"
            and job_environment(job)["RUN_ID"] in {job_environment(j)["RUN_ID"] for j in failing}
        ]
        assert len(second) == len(failing), f"expected {len(failing)} second attempts, found {len(second)}"
        with counter.window() as window:
            results = [track(job, "FAILED", exit_code=FINAL_EXIT_CODE) for job in second]
        assert outcomes(results) == ["FAILED"], results
        figures["final_failure"] = {**window.per(len(second)), "outcomes": outcomes(results)}
        with counter.window() as window:
            results = [track(job, "FAILED", exit_code=FINAL_EXIT_CODE) for job in second]
        figures["duplicate_final_failure"] = {**window.per(len(second)), "outcomes": outcomes(results)}

        progress("calls: schedule firings")
        firing = load_event("schedule_firing.json")
        firing["scheduleName"] = stack.function_environment("SubmitScheduledFunction")["SCHEDULE_NAME"]
        with counter.window() as window:
            results = []
            for index in range(runs):
                event = dict(firing, scheduledTime=f"2026-11-21T{index // 60:02d}:{index % 60:02d}:00Z")
                results.append(invoke_handler(stack, "SubmitScheduledFunction", event))
        figures["schedule_firing"] = {**window.per(runs), "outcomes": outcomes(results)}
        json.dumps(figures)  # everything above must be plain JSON
    return figures


if __name__ == "__main__":
    section_main(run)
