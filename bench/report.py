"""Targets, the submission-rate model, and the table of results (console and README)."""

from __future__ import annotations

import textwrap
from typing import Any

COLD_START_RATIO_TARGET = 1.3
INVOCATIONS_PER_1000_TARGET = 100
SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND = 50

# The submission-rate model's assumptions (no AWS account is involved in the bench).
RATE_ASSUMPTIONS = {
    "put_item_latency_ms": 5.0,  # a conditional PutItem in the same region: single-digit milliseconds
    "submit_job_latency_ms": 50.0,  # the fast end of SubmitJob's usual 50-80 ms: the rate's upper bound
    "invocation_overhead_ms": 0.0,  # poller and invoke overhead ignored: again an upper bound
    "lambda_mb_per_vcpu": 1769,  # Lambda gives a function one vCPU at 1,769 MB, in proportion below
}
FUNCTION_LABELS = ("submit_jobs", "submit_scheduled", "track_jobs", "watchdog")
RATE_CHECK = "peak SubmitJob rate at the template's concurrency"


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


# ----------------------------------------------------------------------------------------- checks
def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issue 7 against the figures: name, measured, target, ok."""
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
    for scenario in (
        "duplicate_event",
        "late_event",
        "late_event_after_terminal",
        "duplicate_failed_event",
        "duplicate_final_failure",
    ):
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
    for label in FUNCTION_LABELS:
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
    rate = results["submit_rate"]
    check(
        RATE_CHECK,
        rate["peak_submit_jobs_per_second"],
        f"<= {SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND}/s",
        rate["peak_submit_jobs_per_second"] <= SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND,
    )
    return out


# ------------------------------------------------------------------------------------------ table
_SERVICE_ORDER = ("dynamodb", "sqs", "sns", "batch")  # the order the calls happen in: claim or write first


def _ops(by_operation: dict[str, float]) -> str:
    def order(name: str) -> tuple[int, str]:
        service = name.split(":", 1)[0]
        return (_SERVICE_ORDER.index(service) if service in _SERVICE_ORDER else len(_SERVICE_ORDER), name)

    return ", ".join(f"{name.split(':', 1)[1]} {by_operation[name]:g}" for name in sorted(by_operation, key=order))


def _failed_writes(calls: dict[str, Any], scenarios: tuple[str, ...]) -> str:
    """ "1 failed conditional X, nothing else" when every scenario is exactly that, else the figures."""
    figures = [calls[scenario] for scenario in scenarios]
    operations = {name for each in figures for name in each["by_operation"]}
    if len(operations) == 1 and all(each["calls"] == 1 == each["failed_conditional_writes"] for each in figures):
        return f"1 failed conditional {operations.pop().split(':', 1)[1]}, nothing else"
    return "; ".join(
        f"{scenario.replace('_', ' ')}: {each['calls']:g} ({_ops(each['by_operation'])}), "
        f"{each['failed_conditional_writes']:g} failed conditional"
        for scenario, each in zip(scenarios, figures, strict=True)
    )


def _kb(size: int) -> str:
    return f"{size / 1024:,.1f} kB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.2f} MB"


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table (the README's, and what `make bench` prints)."""
    calls = results["calls"]
    invocations = results["invocations"]
    work = results["handler_work"]
    cold = results["cold_start"]
    sizes = results["sizes"]["artifacts"]
    watchdog = results["watchdog"]
    rate = results["submit_rate"]
    ok = {check["name"]: check["ok"] for check in results["checks"]}

    def met(*names: str) -> str:
        return "met" if all(ok[name] for name in names) else "**missed**"

    retry = calls["retry"]
    duplicate_names = [check["name"] for check in results["checks"] if "failed conditional" in check["target"]]
    rows = [
        ("Figure", "Measured", "Target"),
        (
            "AWS calls per uploaded file (happy path)",
            f"{calls['upload']['calls']:g} ({_ops(calls['upload']['by_operation'])})",
            f"2, {met('AWS calls per uploaded file')}",
        ),
        (
            "AWS calls per state-change event",
            f"{calls['state_change_event']['calls']:g} ({_ops(calls['state_change_event']['by_operation'])})",
            f"1 write, {met('AWS calls per state-change event')}",
        ),
        (
            "AWS calls per duplicate or late event",
            _failed_writes(
                calls,
                (
                    "duplicate_event",
                    "late_event",
                    "late_event_after_terminal",
                    "duplicate_failed_event",
                    "duplicate_final_failure",
                ),
            ),
            f"1 failed conditional write, nothing else, {met(*duplicate_names)}",
        ),
        ("AWS calls per duplicate delivery of an upload", _failed_writes(calls, ("duplicate_upload",)), "-"),
        (
            "AWS calls per retry",
            f"{retry['calls']:g}: track_jobs {_ops(retry['track_jobs']['by_operation'])}; "
            f"submit_jobs {_ops(retry['submit_jobs']['by_operation'])}",
            "-",
        ),
        (
            "AWS calls per final failure",
            f"{calls['final_failure']['calls']:g} ({_ops(calls['final_failure']['by_operation'])})",
            "-",
        ),
        (
            "AWS calls per schedule firing",
            f"{calls['schedule_firing']['calls']:g} ({_ops(calls['schedule_firing']['by_operation'])})",
            "-",
        ),
        (
            "Lambda invocations per 1,000 uploads",
            f"{invocations['invocations_per_1000_uploads']:g} (BatchSize {invocations['batch_size']}, "
            f"window {invocations['maximum_batching_window_seconds']} s, burst)",
            f"<= {INVOCATIONS_PER_1000_TARGET}, {met('Lambda invocations per 1,000 uploads')}",
        ),
        (
            "Handler work per upload (no emulator)",
            f"{work['per_upload']['median_us']:,} µs (median of {work['repeats']} x 1,000)",
            "-",
        ),
        (
            "Handler work per state-change event (no emulator)",
            f"{work['per_event']['median_us']:,} µs (median of {work['repeats']} x 1,000)",
            "-",
        ),
    ]
    for label in FUNCTION_LABELS:
        figures = cold["functions"][label]
        rows.append(
            (
                f"Cold start {label}: import + first event",
                f"{figures['ours']['median_total_ms']:.0f} ms vs plain boto3 "
                f"{figures['baseline']['median_total_ms']:.0f} ms = **{figures['ratio']:.2f}x** "
                f"(CPU {figures['ratio_cpu']:.2f}x)",
                f"<= {COLD_START_RATIO_TARGET}x, {met(f'cold start ratio, {label}')}",
            )
        )
    imports = ", ".join(
        f"{label} {cold['functions'][label]['ours']['median_import_ms']:.0f}" for label in FUNCTION_LABELS
    )
    rows.append(
        (
            "Handler import alone (median, ms)",
            f"{imports}; bare `import boto3` {cold['import_boto3']['median_import_ms']:.0f}",
            "-",
        )
    )
    functions = ", ".join(
        f"{name.removesuffix('Function')} {_kb(sizes[name]['zipped_bytes'])}" for name in sizes if name != "CommonLayer"
    )
    rows.append(
        (
            "Zipped size after `sam build`",
            f"layer {_kb(sizes['CommonLayer']['zipped_bytes'])} (with bytecode); {functions}",
            f"no boto3/botocore inside, {met('runtime-provided packages in the build output')}",
        )
    )
    rows.append(
        (
            "Watchdog items read per sweep",
            f"{watchdog['items_read']} with {watchdog['finished_runs']:,} finished and {watchdog['active_runs']} "
            f"active runs ({watchdog['aws_calls'].get('dynamodb:Query', 0)} Queries, {watchdog['scans']} Scans)",
            f"= active runs, {met('watchdog items read per sweep')}",
        )
    )
    others = ", ".join(
        f"{value:g}/s at {workers}"
        for workers, value in rate["by_concurrency"].items()
        if workers != str(rate["maximum_concurrency"])
    )
    rows.append(
        (
            "Peak SubmitJob rate (model)",
            f"{rate['peak_submit_jobs_per_second']:g}/s at concurrency {rate['maximum_concurrency']} ({others})",
            f"<= {SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND}/s, {met(RATE_CHECK)}",
        )
    )
    lines = [f"| {' | '.join(row)} |" for row in rows]
    lines.insert(1, "|---|---|---|")
    return "\n".join(lines)


def machine_line(results: dict[str, Any]) -> str:
    machine = results["machine"]
    return f"{machine['nproc']} CPUs ({machine['cpu']}), {machine['system']}, Python {machine['python']}"


def _fill(text: str, indent: str = "", bullet: str = "") -> str:
    return textwrap.fill(
        text,
        width=104,
        initial_indent=bullet or indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def readme_section(results: dict[str, Any], command: str) -> str:
    """The README's "Performance" section, generated from the results so that the two cannot disagree."""
    cold = results["cold_start"]
    rate = results["submit_rate"]
    assumptions = rate["assumptions"]
    watchdog = results["watchdog"]
    invocations = results["invocations"]
    method = [
        "**AWS calls** are counted at botocore's client boundary (every API call and every HTTP attempt of "
        "the functions' own clients) while the real handlers run against the stack of `template.yaml` created "
        'in moto. Batch events are the documented "Batch Job State Change" events, built from moto\'s record '
        "of each submitted job and checked against the template's EventBridge rule. Retries use "
        "`RetryBaseDelaySeconds=0` so that the delayed retry request is visible at once.",
        "**Invocations**: 1,000 uploads are queued (S3 to SQS, as the template configures it), then "
        "`emulator.deliver_sqs_batch` plays the event source mapping with the BatchSize read back from the "
        f"stack. This is a burst: uploads arriving slower than {invocations['batch_size']} per "
        f"{invocations['maximum_batching_window_seconds']} s batching window make smaller batches (at worst "
        "one invocation per upload).",
        "**Handler work**: the handlers process 1,000 items in a process laid out like Lambda with tracing on, "
        "every AWS call answered by a canned response at botocore's HTTP layer. Request building, signing, "
        "parsing, Powertools and X-Ray are included; network, AWS and the emulator are not. One core of the "
        "machine below.",
        "**Cold start**: a fresh interpreter per sample, laid out like Lambda from the `sam build` output "
        "(the function as `/var/task`, the layer as `/opt/python`, the runtime's boto3 and botocore, code "
        "read-only), in `Tracing: Active` conditions (`LAMBDA_TASK_ROOT`, a sampled trace header, an X-Ray "
        f"daemon socket, which received {cold['xray_segments_received']} segments), imports the handler and "
        f"serves its first event against a moto server on loopback. Median of {cold['processes_per_kind']} "
        "processes per kind, all kinds interleaved in a shuffled order. The baseline, "
        "[`bench/baseline/`](bench/baseline/), is the plain-boto3 handler samples show (module-level "
        "clients) making the same AWS calls. CPU time is shown beside wall time because it is less sensitive "
        "to other load on the machine.",
        "**Sizes**: the `.aws-sam/build` directories zipped as SAM zips them; the bench fails if boto3, "
        "botocore or another package the Lambda runtime ships is inside.",
        f"**Watchdog**: {watchdog['finished_runs']:,} finished runs are injected into moto's DynamoDB backend "
        "(emulator state, written directly because as many API writes take minutes in moto), the "
        f"{watchdog['active_runs']} active runs go through the pipeline, and the watchdog's handler sweeps "
        "15 minutes later. Items read is DynamoDB's ScannedCount, as the sweep reports it.",
        "**Peak SubmitJob rate** is a model: MaximumConcurrency x BatchSize / time per invocation, one "
        "invocation submitting its records one after another, a record costing the measured handler work "
        f"scaled to the function's CPU share ({rate['memory_mb']} MB of the "
        f"{assumptions['lambda_mb_per_vcpu']:,} MB that give one vCPU: "
        f"{rate['handler_ms_per_upload_on_lambda']:g} ms) plus an assumed "
        f"{assumptions['put_item_latency_ms']:g} ms PutItem and {assumptions['submit_job_latency_ms']:g} ms "
        f"SubmitJob. A SubmitJob answering in less than {rate['submit_job_latency_ms_reaching_limit']:g} ms "
        f"would take the default concurrency over the {SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND}/s limit; "
        "throttled calls are retried, in-process first, then by SQS.",
    ]
    bullets = "\n".join(_fill(item, indent="  ", bullet="- ") for item in method)
    intro = _fill(
        f"`{command}` runs `sam build`, then measures AWS calls, Lambda invocations, handler work, cold start, "
        "package sizes and the watchdog's reads; it prints this table and writes the same figures to "
        "[`bench/results.json`](bench/results.json), from which this section is generated "
        "(`python -m bench --readme`). A run takes a few minutes; `make bench ARGS=--quick` is the CI-size "
        "variant (10,000 finished runs, fewer repetitions). `tests/unit/test_bench_results.py` checks the "
        "committed figures against the targets."
    )
    caveats = _fill(
        "Not measured faithfully here: Lambda's own init and invoke overhead; the arm64 CPU (the layer's wrapt "
        "C extension is built for arm64, so this x86 machine runs its pure-Python fallback); network latency "
        "to AWS and the latency of SubmitJob and DynamoDB (assumed above); how the real SQS poller fills "
        "batches from a trickle of uploads."
    )
    return (
        f"## Performance\n\n{intro}\n\n{table(results)}\n\n"
        f"Measured on {machine_line(results)}, {results['measured_at']} ({results['seconds']} s).\n\n"
        f"How each figure is obtained:\n\n{bullets}\n\n{caveats}\n"
    )
