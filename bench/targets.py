"""The performance targets, the checks of the figures against them, and the submission-rate model.

Owns what "meets its targets" means for bench/results.json: every target's number and the check
that compares a figure with it. Invariant: each check's name is stable (the results table marks a
figure met or missed by it) and its ok is a bool computed only from the results passed in.
"""

from __future__ import annotations

from typing import Any

COLD_START_RATIO_TARGET = 1.3
# Issue 14, a 10,000-child array with 1% of its children failing: tracker invocations, DynamoDB writes over the
# failed children, the largest run item (RUN_ITEM_BUDGET in batch_orchestrator/limits.py: 100 KB, 1 KB = 1024
# bytes as DynamoDB counts). The invocations target is per 10,000 children (scaled for --quick's smaller array).
ARRAY_TRACKER_INVOCATIONS_TARGET = 200
ARRAY_TARGET_CHILDREN = 10_000
ARRAY_WRITES_OVER_FAILED = 20
ARRAY_ITEM_BYTES_TARGET = 100 * 1024
DYNAMODB_WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
INVOCATIONS_PER_1000_TARGET = 100
SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND = 50

# The submission-rate model's assumptions (no AWS account is involved in the bench).
RATE_ASSUMPTIONS = {
    "put_item_latency_ms": 5.0,  # a conditional PutItem in the same region: single-digit milliseconds
    "submit_job_latency_ms": 50.0,  # the fast end of SubmitJob's usual 50-80 ms: the rate's upper bound
    "invocation_overhead_ms": 0.0,  # poller and invoke overhead ignored: again an upper bound
    "lambda_mb_per_vcpu": 1769,  # Lambda gives a function one vCPU at 1,769 MB, in proportion below
}
# Burst coalescing (issue 14): 10,000 uploads in a burst to a coalescing workload -> at most 10 SubmitJob calls, all
# submitted within the batching window + 60 s of modelled time. The model's ASSUMED latencies (no AWS account is
# involved), each a round trip in the same region; the handlers' own work is measured (``coalesce_time_model``).
COALESCE_SUBMIT_JOBS_TARGET = 10
COALESCE_TARGET_UPLOADS = 10_000
COALESCE_SECONDS_OVER_WINDOW = 60
COALESCE_ASSUMPTIONS = {
    "dynamodb:TransactWriteItems": 30.0,  # 100 conditional Puts in one transaction
    "dynamodb:PutItem": RATE_ASSUMPTIONS["put_item_latency_ms"],
    "dynamodb:UpdateItem": RATE_ASSUMPTIONS["put_item_latency_ms"],
    "dynamodb:GetItem": RATE_ASSUMPTIONS["put_item_latency_ms"],
    "sqs:SendMessageBatch": 20.0,
    "s3:PutObject": 50.0,  # a manifest of up to 10,000 keys (about 1.5 MB)
    "batch:SubmitJob": RATE_ASSUMPTIONS["submit_job_latency_ms"],
    "batch:ListJobs": 50.0,
}
# publish_events' cold start is measured from the run that first had it (results.json of earlier runs lack it).
FUNCTION_LABELS = ("submit_jobs", "submit_scheduled", "track_jobs", "watchdog", "publish_events")


def measured_labels(cold: dict[str, Any]) -> list[str]:
    """The functions whose cold start the results hold, in FUNCTION_LABELS' order."""
    return [label for label in FUNCTION_LABELS if label in cold["functions"]]


RATE_CHECK = "peak SubmitJob rate at the template's concurrency"
# The duplicate and late events whose only AWS call must be one failed conditional write.
DUPLICATE_SCENARIOS = (
    "duplicate_event",
    "late_event",
    "late_event_after_terminal",
    "duplicate_failed_event",
    "duplicate_final_failure",
)


# ------------------------------------------------------------------------------------ rate model
def submit_rate_model(results: dict[str, Any]) -> dict[str, Any]:
    """Peak SubmitJob calls per second the template's settings allow.

    One submit_jobs invocation handles its batch one record after the other, so each concurrent
    invocation submits 1 / (time per record) jobs per second and the peak is
    ``concurrency x batch size / time per invocation`` = ``concurrency / time per record``, where a
    record costs the measured handler work (scaled to the function's CPU share) plus a PutItem and a
    SubmitJob round trip (assumed latencies).
    """
    invocations = results["invocations"]
    work_us = results["handler_work"]["per_upload"]["median_us"]
    memory = invocations["memory_mb"]
    cpu_share = min(1.0, memory / RATE_ASSUMPTIONS["lambda_mb_per_vcpu"])
    handler_ms = work_us / 1000 / cpu_share
    record_ms = handler_ms + RATE_ASSUMPTIONS["put_item_latency_ms"] + RATE_ASSUMPTIONS["submit_job_latency_ms"]
    batch = invocations["batch_size"]
    invocation_ms: float = batch * record_ms + RATE_ASSUMPTIONS["invocation_overhead_ms"]
    concurrency = invocations["maximum_concurrency"]

    def rate(workers: int) -> float:
        per_second: float = workers * batch / (invocation_ms / 1000)
        return round(per_second, 1)

    limit = SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND
    return {
        "model": "peak = MaximumConcurrency x BatchSize / time per invocation; "
        "time per invocation = BatchSize x (handler work / CPU share + PutItem + SubmitJob latency)",
        "assumptions": RATE_ASSUMPTIONS,
        "memory_mb": memory,
        "cpu_share_of_a_vcpu": round(cpu_share, 3),
        "handler_ms_per_upload_on_lambda": round(handler_ms, 2),
        "ms_per_upload": round(record_ms, 2),
        "ms_per_invocation": round(invocation_ms, 1),
        "batch_size": batch,
        "maximum_concurrency": concurrency,
        "peak_submit_jobs_per_second": rate(concurrency),
        "by_concurrency": {str(workers): rate(workers) for workers in range(2, 6)},
        "account_limit_per_second": limit,
        # Below this SubmitJob latency the template's default concurrency would exceed the limit
        # (throttled calls are retried in-process, then by SQS: slower, never lost).
        "submit_job_latency_ms_reaching_limit": round(
            concurrency * 1000 / limit - handler_ms - RATE_ASSUMPTIONS["put_item_latency_ms"], 1
        ),
    }


# ------------------------------------------------------------------------------ burst coalescing model
def coalesce_time_model(
    *,
    forward_work_seconds: float,
    forward_calls: dict[str, int],
    coalesce_work_seconds: float,
    coalesce_calls: dict[str, int],
    memory_mb: int,
    submit_concurrency: int,
    coalesce_concurrency: int,
    window_seconds: int,
    submit_jobs: int,
) -> dict[str, Any]:
    """Modelled seconds from a burst's last upload to its last SubmitJob (see bench/coalesce.py's docstring).

    Each function's time = its measured handler work / its CPU share + its AWS calls x their assumed latency,
    spread over its concurrency; plus the whole batching window; plus the SubmitJob calls at the account's rate.
    """
    cpu_share = min(1.0, memory_mb / RATE_ASSUMPTIONS["lambda_mb_per_vcpu"])

    def seconds(work: float, calls: dict[str, int], concurrency: int) -> float:
        latency = sum(count * COALESCE_ASSUMPTIONS.get(name, 50.0) for name, count in calls.items()) / 1000
        return (work / cpu_share + latency) / concurrency

    parts = {
        "forward_seconds": round(seconds(forward_work_seconds, forward_calls, submit_concurrency), 1),
        "window_seconds": float(window_seconds),
        "coalesce_seconds": round(seconds(coalesce_work_seconds, coalesce_calls, coalesce_concurrency), 1),
        "submit_seconds": round(submit_jobs / SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND, 1),
    }
    return {
        **parts,
        "total_seconds": round(sum(parts.values()), 1),
        "cpu_share_of_a_vcpu": round(cpu_share, 3),
        "assumed_latency_ms": COALESCE_ASSUMPTIONS,
    }


def coalesce_checks(coalesce: dict[str, Any], check: Any) -> None:
    """Issue 14's burst targets on the ``coalesce`` figures (the SubmitJob target is per 10,000 uploads: a smaller
    --quick burst keeps it)."""
    coalescing = coalesce["coalescing"]
    uploads = coalesce["uploads"]
    submit_target = COALESCE_SUBMIT_JOBS_TARGET * max(1, uploads // COALESCE_TARGET_UPLOADS)
    check(
        "burst coalescing: SubmitJob calls",
        {"submit_jobs": coalescing["submit_jobs"], "children": coalescing["children"], "uploads": uploads},
        f"<= {submit_target} for {uploads:,} uploads, every upload a child",
        coalescing["submit_jobs"] <= submit_target and coalescing["children"] == uploads,
    )
    time_target = coalesce["window_seconds"] + COALESCE_SECONDS_OVER_WINDOW
    check(
        "burst coalescing: all submitted (modelled)",
        coalescing["modelled"]["total_seconds"],
        f"<= window + {COALESCE_SECONDS_OVER_WINDOW} s = {time_target} s",
        coalescing["modelled"]["total_seconds"] <= time_target,
    )


# ------------------------------------------------------------------------- arrays vs one job per item
def single_job_equivalent(results: dict[str, Any]) -> dict[str, Any]:
    """What the ``arrays`` section's items would cost as one single-job upload each: COMPUTED, not run.

    From the ``calls`` section's figures per upload, per state-change event and per retry, and the Batch events
    one single job sends the tracker (``arrays.single_job``, measured on the same local pipeline): every item is
    an upload; every attempt (the items, then the failed ones once more) sends its events, each one tracker
    invocation (EventBridge invokes its target per event) and one write; each retry adds the retry request
    (SendMessage) and the resubmission's claim and SubmitJob.
    """
    arrays = results["arrays"]
    calls = results["calls"]
    items, failed = arrays["array_size"], arrays["failed_children"]
    events_per_job = arrays["single_job"]["statuses_to_tracker"]
    attempts = items + failed
    upload = calls["upload"]["by_operation"]
    event = calls["state_change_event"]["by_operation"]
    resubmit = calls["retry"]["submit_jobs"]["by_operation"]

    def writes(by_operation: dict[str, float]) -> float:
        return sum(n for name, n in by_operation.items() if name.split(":", 1)[1] in DYNAMODB_WRITE_OPERATIONS)

    return {
        "model": "items uploads x calls per upload; (items + failed) attempts x events per job x calls per event; "
        "failed x the retry's request and resubmission (calls section)",
        "items": items,
        "failed": failed,
        "events_per_job": events_per_job,
        "tracker_invocations": attempts * events_per_job,
        "dynamodb_writes": round(
            items * writes(upload) + attempts * events_per_job * writes(event) + failed * writes(resubmit)
        ),
        "submit_jobs": round(items * upload.get("batch:SubmitJob", 0) + failed * resubmit.get("batch:SubmitJob", 0)),
    }


# ----------------------------------------------------------------------------------------- checks
def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every performance target against the figures: name, measured, target, ok."""
    calls = results["calls"]
    out: list[dict[str, Any]] = []

    def check(name: str, measured: Any, target: str, ok: bool) -> None:
        out.append({"name": name, "measured": measured, "target": target, "ok": bool(ok)})

    upload = calls["upload"]
    check(
        "AWS calls per uploaded file",
        upload["by_operation"],
        "2: one PutItem, one SubmitJob",
        upload["by_operation"] == {"batch:SubmitJob": 1.0, "dynamodb:PutItem": 1.0} and upload["http_requests"] == 2,
    )
    event = calls["state_change_event"]
    check(
        "AWS calls per state-change event",
        event["by_operation"],
        "1 write",
        event["by_operation"] == {"dynamodb:UpdateItem": 1.0} and event["failed_conditional_writes"] == 0,
    )
    for scenario in DUPLICATE_SCENARIOS:
        figures = calls[scenario]
        check(
            f"AWS calls per {scenario.replace('_', ' ')}",
            figures["by_operation"],
            "1 failed conditional write, nothing else",
            figures["calls"] == 1 and figures["failed_conditional_writes"] == 1 and figures["http_requests"] == 1,
        )
    invocations = results["invocations"]
    check(
        "Lambda invocations per 1,000 uploads",
        invocations["invocations_per_1000_uploads"],
        f"<= {INVOCATIONS_PER_1000_TARGET}",
        invocations["invocations_per_1000_uploads"] <= INVOCATIONS_PER_1000_TARGET,
    )
    cold = results["cold_start"]
    for label in measured_labels(cold):
        figures = cold["functions"][label]
        check(
            f"cold start ratio, {label}",
            figures["ratio"],
            f"<= {COLD_START_RATIO_TARGET}",
            figures["ratio"] <= COLD_START_RATIO_TARGET and figures["ours"]["processes"] >= 10,
        )
    check(
        "X-Ray tracing active during the cold starts",
        cold["xray_segments_received"],
        "> 0",
        cold["xray_segments_received"] > 0,
    )
    sizes = results["sizes"]
    check(
        "runtime-provided packages in the build output",
        sizes["runtime_packages_found"],
        "none",
        sizes["runtime_packages_found"] == [],
    )
    watchdog = results["watchdog"]
    check(
        "watchdog items read per sweep",
        {
            "items_read": watchdog["items_read"],
            "active": watchdog["active_runs"],
            "finished": watchdog["finished_runs"],
        },
        "= active runs, no Scan",
        watchdog["items_read"] == watchdog["active_runs"] and watchdog["scans"] == 0,
    )
    array_checks(results["arrays"], check)
    if "coalesce" in results:  # results measured before burst coalescing existed have no such section
        coalesce_checks(results["coalesce"], check)
    rate = results["submit_rate"]
    check(
        RATE_CHECK,
        rate["peak_submit_jobs_per_second"],
        f"<= {SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND}/s",
        rate["peak_submit_jobs_per_second"] <= SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND,
    )
    return out


def array_tracker_invocations_target(size: int) -> int:
    """200 per 10,000 children, scaled down for a smaller (--quick) array, never below 1."""
    return max(1, ARRAY_TRACKER_INVOCATIONS_TARGET * size // ARRAY_TARGET_CHILDREN)


def array_checks(arrays: dict[str, Any], check: Any) -> None:
    """Issue 14's targets for one array with 1% of its children failing once, on the ``arrays`` figures."""
    size, failed = arrays["array_size"], arrays["failed_children"]
    invocations_target = array_tracker_invocations_target(size)
    check(
        "array: tracker invocations",
        arrays["tracker_invocations"],
        f"<= {invocations_target} for {size:,} children",
        arrays["tracker_invocations"] <= invocations_target,
    )
    check(
        "array: DynamoDB writes",
        arrays["dynamodb_writes_by_operation"],
        f"<= failed children + {ARRAY_WRITES_OVER_FAILED} = {failed + ARRAY_WRITES_OVER_FAILED}",
        arrays["dynamodb_writes"] <= failed + ARRAY_WRITES_OVER_FAILED
        and arrays["dynamodb_writes"] == sum(arrays["dynamodb_writes_by_operation"].values()),
    )
    check(
        "array: largest run item",
        arrays["largest_item_bytes"],
        f"<= {ARRAY_ITEM_BYTES_TARGET:,} bytes (100 KB)",
        0 < arrays["largest_item_bytes"] <= ARRAY_ITEM_BYTES_TARGET,
    )
    rerun = arrays["rerun"]
    check(
        "array: rerun is one array of exactly the failed children",
        {"rerun_size": rerun["array_size"], "failed": failed, "submit_jobs": arrays["submit_jobs"]},
        "one array, size = failed children, items = theirs",
        failed > 0
        and rerun["array_size"] == failed
        and rerun["items_are_the_failed_children"] is True
        and arrays["submit_jobs"] == 2  # the first attempt's array, then the rerun: nothing else was submitted
        and arrays["run_status"] == "SUCCEEDED",
    )
