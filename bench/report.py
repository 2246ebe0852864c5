"""The results table and docs/performance.md, both rendered from bench/results.json.

Owns the wording and layout of the figures, on the console and on the performance page; the targets
and checks they report are bench/targets.py's. Invariant: the page is a pure function of the results
and the bench command (`python -m bench --readme` reproduces the committed page byte for byte).
"""

from __future__ import annotations

import posixpath
import textwrap
from typing import Any

from bench.targets import (
    ARRAY_ITEM_BYTES_TARGET,
    ARRAY_WRITES_OVER_FAILED,
    COLD_START_RATIO_TARGET,
    DUPLICATE_SCENARIOS,
    INVOCATIONS_PER_1000_TARGET,
    RATE_CHECK,
    SUBMIT_JOB_ACCOUNT_LIMIT_PER_SECOND,
    array_tracker_invocations_target,
    measured_labels,
)

# The page `python -m bench --readme` generates, from the repository's root; its links are relative to it.
PERFORMANCE_PAGE = "docs/performance.md"


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
    """The results as a Markdown table (docs/performance.md's, and what `make bench` prints)."""
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
            _failed_writes(calls, DUPLICATE_SCENARIOS),
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
        *_events_rows(invocations),
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
    for label in measured_labels(cold):
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
        f"{label} {cold['functions'][label]['ours']['median_import_ms']:.0f}" for label in measured_labels(cold)
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
    rows.extend(_array_rows(results, met))
    if "coalesce" in results:
        rows.extend(_coalesce_rows(results["coalesce"], met))
    lines = [f"| {' | '.join(row)} |" for row in rows]
    lines.insert(1, "|---|---|---|")
    return "\n".join(lines)


def _array_rows(results: dict[str, Any], met: Any) -> list[tuple[str, str, str]]:
    """The array's figures, each beside what the same items cost as one single-job upload each (computed)."""
    arrays = results["arrays"]
    single = results["array_vs_single_jobs"]
    size, failed = arrays["array_size"], arrays["failed_children"]
    events = arrays["batch_events"]
    rerun = arrays["rerun"]
    name = f"Array of {size:,}, {failed:,} children failing once"
    writes = _ops(arrays["dynamodb_writes_by_operation"])
    conditional = sum(arrays["failed_conditional_writes"].values())
    per_item = f"one job per item: {{:,}} (computed from the calls above, {single['events_per_job']} events per job)"
    return [
        (
            f"{name}: tracker invocations",
            f"{arrays['tracker_invocations']:,} (of {events['total']:,} Batch events, "
            f"{events['dropped_at_rule']:,} children's dropped at the rule); "
            + per_item.format(single["tracker_invocations"]),
            f"<= {array_tracker_invocations_target(size):,}, {met('array: tracker invocations')}",
        ),
        (
            f"{name}: DynamoDB writes, upload to SUCCEEDED",
            f"{arrays['dynamodb_writes']:,} ({writes}; {conditional} failed conditional); "
            + per_item.format(single["dynamodb_writes"]),
            f"<= failed + {ARRAY_WRITES_OVER_FAILED} = {failed + ARRAY_WRITES_OVER_FAILED:,}, "
            f"{met('array: DynamoDB writes')}",
        ),
        (
            f"{name}: largest run item",
            f"{arrays['largest_item_bytes']:,} bytes (DynamoDB's size rules, after each write)",
            f"<= {ARRAY_ITEM_BYTES_TARGET:,} bytes, {met('array: largest run item')}",
        ),
        (
            f"{name}: the rerun",
            f"one array of {rerun['array_size']:,}, its items the {failed:,} failed ones; SubmitJob "
            f"{arrays['submit_jobs']}, ListJobs {arrays['list_jobs_pages']} page(s); "
            + f"one job per item: SubmitJob {single['submit_jobs']:,} (computed)",
            f"= failed children, {met('array: rerun is one array of exactly the failed children')}",
        ),
        (
            f"{name}: upload to SUCCEEDED",
            f"{arrays['seconds_upload_to_succeeded']:g} s on the local pipeline (children without processes), "
            f"{arrays['run_attempts']} attempts",
            "-",
        ),
    ]


def _coalesce_rows(coalesce: dict[str, Any], met: Any) -> list[tuple[str, str, str]]:
    """A burst to a coalescing workload, beside the same burst to a one-job-per-file workload (scaled)."""
    coalescing, single = coalesce["coalescing"], coalesce["one_job_per_file"]
    model = coalescing["modelled"]
    name = f"Burst of {coalesce['uploads']:,} uploads, coalesced (window {coalesce['window_seconds']} s)"
    per_file = f"one job per file: {{}} (measured on {single['measured_uploads']} uploads, scaled)"
    return [
        (
            f"{name}: SubmitJob calls",
            f"{coalescing['submit_jobs']} ({coalescing['runs']} array run(s), {coalescing['children']:,} children); "
            + per_file.format(f"{single['submit_jobs']:,}"),
            f"<= 10 per 10,000 uploads, {met('burst coalescing: SubmitJob calls')}",
        ),
        (
            f"{name}: invocations",
            f"submit_jobs {coalescing['submit_jobs_invocations']:,}, coalesce_uploads "
            f"{coalescing['coalescer_invocations']} (records per batch "
            f"{', '.join(f'{n:,}' for n in coalescing['records_per_invocation'])}: a record is "
            f"{coalescing['record_bytes']:,} bytes of the event, {coalescing['records_per_6mb']:,} per 6 MB); "
            + per_file.format(f"submit_jobs {single['submit_jobs_invocations']:,}"),
            "-",
        ),
        (
            f"{name}: DynamoDB writes and AWS calls",
            f"{coalescing['dynamodb_writes']:,} writes ({_ops(coalescing['aws_calls'])}; "
            f"{coalescing['calls_per_upload']:g} calls per upload); "
            + per_file.format(f"{single['dynamodb_writes']:,} writes, {single['calls_per_upload']:g} calls per upload"),
            "-",
        ),
        (
            f"{name}: all submitted (model)",
            f"{model['total_seconds']:g} s (forwarding {model['forward_seconds']:g} + window "
            f"{model['window_seconds']:g} + coalescing {model['coalesce_seconds']:g} + SubmitJob "
            f"{model['submit_seconds']:g}); "
            + per_file.format(f"at least {single['modelled_seconds_at_least']:,} s at 50 SubmitJob/s"),
            f"<= window + 60 s, {met('burst coalescing: all submitted (modelled)')}",
        ),
    ]


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


def _link(path: str) -> str:
    """A repository path as a link target from the performance page."""
    return posixpath.relpath(path, posixpath.dirname(PERFORMANCE_PAGE)) + ("/" if path.endswith("/") else "")


def readme_section(results: dict[str, Any], command: str) -> str:
    """The whole of docs/performance.md, generated from the results so that the two cannot disagree."""
    cold = results["cold_start"]
    rate = results["submit_rate"]
    assumptions = rate["assumptions"]
    watchdog = results["watchdog"]
    invocations = results["invocations"]
    arrays = results["arrays"]
    single = results["array_vs_single_jobs"]
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
        "[`bench/baseline/`](" + _link("bench/baseline/") + "), is the plain-boto3 handler samples show (module-level "
        "clients) making the same AWS calls. CPU time is shown beside wall time because it is less sensitive "
        "to other load on the machine. What keeps our import small: the records every function loads are "
        "NamedTuples, not dataclasses (the reason and the figures are in the docstring of "
        "[`models.py`](" + _link("layers/common/batch_orchestrator/models.py") + ")), and modules that only some "
        "tables need are imported where they are used.",
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
        f"**Array**: one upload to a workload with `array: {{size: {arrays['array_size']}}}` and a retry policy "
        f"retrying exit code 75, on the local pipeline (`emulator.pipeline.LocalPipeline`: moto server, the real "
        "handlers in-process, EventBridge routed with the stack's own rule patterns). The local job runner's "
        "children run no process (SIMULATED: `array_child_outcome`): on the first attempt every child whose index "
        "% 100 is 0 exits 75, the others 0; the rerun's children all exit 0. Each child still sends its four "
        "state changes, which the tracker's rule drops. Invocations are counted where the pipeline calls a "
        "handler, AWS calls as above, the item size by DynamoDB's rules on the runs table after every write. "
        "The one-job-per-item figures are NOT run: they are computed from the calls above (per upload, per event "
        f"x {single['events_per_job']} events per job, measured on one single job of the same pipeline, per "
        "retry) for the same items and failures.",
    ]
    if "coalesce" in results:
        coalesce = results["coalesce"]
        method.append(
            f"**Burst coalescing**: on the stack of `template.yaml` rendered with a workload with `coalesce: "
            f"{{window_seconds: {coalesce['window_seconds']}, max_items: {coalesce['max_items']}}}` and a "
            "one-job-per-file workload, in moto. The forwarding (S3 to the SubmitQueue, submit_jobs, SendMessageBatch "
            f"to the workload's queue) is measured on {coalesce['coalescing'].get('forwarding_measured_on', 0):,} "
            f"uploads and scaled to the burst. The burst of {coalesce['uploads']:,} forwarded messages, shaped as the "
            "measured ones, is delivered as the queue's mapping would deliver it (SIMULATED as Lambda documents it: "
            "batches of BatchSize records, cut where the event would pass 6 MB), each batch one coalesce_uploads "
            "invocation whose calls are all counted. moto's SQS is bypassed for the burst, and its TransactWriteItems "
            "takes one table snapshot per transaction instead of one per action: both cost moto time growing with "
            "the burst, and measure the emulator, not the design. The time to all submitted is a model: each "
            "function's handler work measured here (AWS calls excluded, scaled to its CPU share) plus each AWS call "
            f"at an assumed latency ({_ops(coalesce['coalescing']['modelled']['assumed_latency_ms'])} ms), over the "
            "functions' concurrency; plus the whole batching window; plus SubmitJob at 50/s. The one-job-per-file "
            f"figures are measured on {coalesce['one_job_per_file']['measured_uploads']} uploads and scaled."
        )
    bullets = "\n".join(_fill(item, indent="  ", bullet="- ") for item in method)
    intro = _fill(
        f"`{command}` runs `sam build`, then measures AWS calls, Lambda invocations, handler work, cold start, "
        "package sizes, the watchdog's reads and one large array job; it prints this table and writes the same "
        "figures to [`bench/results.json`](" + _link("bench/results.json") + "), from which this section is "
        "generated (`python -m bench --readme`). A run takes a few minutes; `make bench ARGS=--quick` is the "
        "CI-size variant (10,000 finished runs, an array of 1,000, fewer repetitions). "
        "`tests/unit/test_bench_results.py` checks the committed figures against the targets."
    )
    caveats = _fill(
        "Not measured faithfully here: Lambda's own init and invoke overhead; the arm64 CPU (the layer's wrapt "
        "C extension is built for arm64, so this x86 machine runs its pure-Python fallback); network latency "
        "to AWS and the latency of SubmitJob and DynamoDB (assumed above); how the real SQS poller fills "
        "batches from a trickle of uploads."
    )
    return (
        f"# Performance\n\n{intro}\n\n{table(results)}\n\n"
        f"Measured on {machine_line(results)}, {results['measured_at']} ({results['seconds']} s).\n\n"
        f"How each figure is obtained:\n\n{bullets}\n\n{caveats}\n"
    )


def _events_rows(invocations: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The lifecycle events of the same burst (results from the run that first measured them on)."""
    events = invocations.get("events")
    if not events:
        return []
    return [
        (
            "Lifecycle events of the 1,000-upload burst",
            f"publish_events {events['publish_events_invocations']} invocations, "
            f"{events['put_events_calls']} PutEvents calls (stream BatchSize {events['stream_batch_size']})",
            "-",
        )
    ]
