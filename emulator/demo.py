"""``python -m emulator demo``: the local pipeline on sample files, with its outcome checked.

``demo`` starts the local pipeline (``emulator.pipeline``) on template.yaml rendered with the
workloads of ``emulator/demo_workloads.yaml`` (``images`` with a memory ladder, ``reports``, the array
``tiles``, the pipeline ``split`` -> ``render`` -> ``merge``), uploads a few files chosen to show every
path (success, a retried temporary failure, a permanent failure with its alert, a key with spaces and
non-ASCII characters, an upload to each workload, an attempt killed out of memory and retried one step up
the ladder, an array job whose one failed item is rerun alone, a pipeline preprocess -> array -> aggregate
whose one failed child is rerun alone, a key no workload takes), prints the runs' progress, a summary, the
workload and size of every attempt and the alerts SNS delivered, checks the outcome against what the
pipeline must do, stops everything and exits 1 if anything was off.
``serve`` and ``upload`` (the pipeline kept running for the user's own files) are ``emulator.serve``.

Everything runs on this machine: nothing here talks to AWS. The output says so.
Invariant: the exit code is 0 only when every check held and the pipeline reported no error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.alerts_inbox import alert_run_id
from emulator.console import Check, Console, chat_card_lines, describe_stand_ins, format_change, job_output_line
from emulator.demo_requests import request_checks, send_requests
from emulator.events_inbox import event_lines, sequence_problems
from emulator.pipeline import LOCAL_PARAMETERS, LocalPipeline, Upload
from emulator.run_progress import size_text
from emulator.task_limits import OUT_OF_MEMORY_REASON
from orchestrator_cli.render import display_width, pad

if TYPE_CHECKING:
    from batch_orchestrator.alert_format import Alert
    from batch_orchestrator.models import Run

RUN_TIMEOUT_SECONDS = 120.0
RESULT_NAME = "result.json"  # jobs/sample/job.py writes OUTPUT_PREFIX + RUN_ID + "/result.json"
DEMO_WORKLOADS = Path(__file__).resolve().parent / "demo_workloads.yaml"
UNMATCHED_KEY = "notes/todo.txt"  # under no workload's rule: counted (UploadsUnmatched), no run


@dataclass(frozen=True)
class DemoInput:
    name: str
    body: str
    what: str
    status: str
    attempts: int
    exit_code: int
    alerts: int
    prefix: str | None = None  # None: the stack's InputPrefix (the default workload)
    workload: str = "default"
    memory_mib: tuple[int, ...] = ()  # of each attempt, when the demo shows it (a memory ladder)
    items: tuple[str, ...] = ()  # an array run: the items of each attempt, as the run's history writes them
    steps: tuple[str, ...] = ()  # a pipeline run: the step (workload) of each attempt

    def key(self, input_prefix: str) -> str:
        return (input_prefix if self.prefix is None else self.prefix) + self.name


DEMO_INPUTS = (
    DemoInput("hello.csv", "city,visitors\nOsaka,3\nLyon,5\n", "plain upload", "SUCCEEDED", 1, 0, 0),
    DemoInput(
        "flaky.txt",
        "#exit 75 until attempt 2\nExits 75 (EX_TEMPFAIL) on its first attempt.\n",
        "exit 75 once: retried",
        "SUCCEEDED",
        2,
        0,
        0,
    ),
    DemoInput("broken.txt", "#exit 3\nExits 3 on every attempt.\n", "exit 3: not retryable", "FAILED", 1, 3, 1),
    DemoInput(
        "rapport été 2026.csv", "région,total\nÎle-de-France,12\n", "space + non-ASCII key", "SUCCEEDED", 1, 0, 0
    ),
    DemoInput(
        "holiday.jpg",
        "not really a picture\n",
        "images: OOM at 512 MiB, then 1024",
        "SUCCEEDED",
        2,
        0,
        0,
        prefix="images/",
        workload="images",
        memory_mib=(512, 1024),
    ),
    DemoInput(
        "q3.csv",
        "quarter,total\nQ3,42\n",
        "reports: its own job definition",
        "SUCCEEDED",
        1,
        0,
        0,
        prefix="reports/",
        workload="reports",
        memory_mib=(2048,),
    ),
    DemoInput(
        "batch-1.txt",
        "an array of 4 tiles\n",
        "tiles: array of 4, item 2 fails once",
        "SUCCEEDED",
        2,
        0,
        0,
        prefix="tiles/",
        workload="tiles",
        items=("0-3", "2"),
    ),
    DemoInput(
        "night.txt",
        "sky\nmoon\nstars\n",
        "pipeline split -> render (array; item 1 fails once) -> merge",
        "SUCCEEDED",
        4,
        0,
        0,
        prefix="scenes/",
        workload="merge",
        steps=("split", "render", "render", "merge"),
    ),
)


def run_demo(*, verbose: bool = False, console: Console | None = None) -> int:
    """The whole demo; returns the process exit code (0 when the pipeline behaved as expected)."""
    console = console or Console()
    began = time.monotonic()
    console.line("Batch Orchestrator - local demo. Everything below runs on this machine; nothing talks to AWS.")
    console.line("Starting the local stack (moto server, template.yaml, functions, local job runner)...")
    workloads = DEMO_WORKLOADS.read_text(encoding="utf-8")
    pipeline = LocalPipeline(
        echo=console.line, echo_function_logs=verbose, echo_job_output=verbose, workloads_yaml=workloads
    )
    try:
        with pipeline:
            started = time.monotonic() - began
            console.heading("Local stand-ins (SIMULATED)")
            console.lines(describe_stand_ins(pipeline))
            console.line(f"  stack {pipeline.stack.name} ready in {started:.1f} s; parameters: {_parameters_text()}")
            console.line(f"  workloads: default (InputPrefix) + {_workloads_text(pipeline)}, from {_relative_name()}")
            return _play(pipeline, console, began)
    except Exception as exc:
        console.line(f"DEMO FAILED: {type(exc).__name__}: {exc}")
        return 1
    finally:
        console.line(f"Stopped everything the demo started ({time.monotonic() - began:.1f} s in all).")


def _play(pipeline: LocalPipeline, console: Console, began: float) -> int:
    prefix = pipeline.stack.outputs["InputPrefix"]
    bucket = pipeline.stack.outputs["InputBucketName"]
    console.heading(f"Uploading {len(DEMO_INPUTS) + 1} files to s3://{bucket}/")
    pipeline.on_status_change(lambda change: console.line(format_change(change)))
    uploads = {}
    for item in DEMO_INPUTS:
        upload = pipeline.upload(item.key(prefix), item.body)
        uploads[item.name] = upload
        console.line(f"  {pad(item.key(prefix), 40)} ({item.what}) -> run {upload.run_id}")
    unmatched = pipeline.upload(UNMATCHED_KEY, "no workload takes this key\n")
    console.line(f"  {pad(UNMATCHED_KEY, 40)} (no workload's key rule: counted, no run)")
    console.heading("Requesting runs, as another application does (docs/integration.md)")
    requested = send_requests(pipeline, console)
    console.heading("Progress (read from the runs table after every function invocation)")
    ran_from = time.monotonic()
    runs = pipeline.wait_for_runs(
        [*(u.run_id for u in uploads.values()), requested.run_id], timeout=RUN_TIMEOUT_SECONDS
    )
    pipeline.wait_idle(timeout=30)
    ran = time.monotonic() - ran_from
    alerts = pipeline.alerts()

    console.heading("Summary")
    rows = [("run", "input", "workload", "attempts", "status", "exit code")]
    for item in DEMO_INPUTS:
        run = runs[uploads[item.name].run_id]
        exit_code = "-" if run.exit_code is None else str(run.exit_code)
        attempts = f"{run.attempt}/{run.max_attempts}"
        rows.append((run.run_id, item.key(prefix), run.workload, attempts, run.status.value, exit_code))
    console.lines(_table(rows), indent="  ")

    console.heading("Attempts - the workload and size of each (from the run's history)")
    console.lines(_attempt_lines([(item.key(prefix), runs[uploads[item.name].run_id]) for item in DEMO_INPUTS]))

    console.heading(f"Alerts SNS delivered ({len(alerts)}) - as a subscriber receives them")
    for alert in alerts:
        console.line(f"  Subject: {alert.subject}")
        console.lines(alert.message.splitlines(), indent="  | ")
        hint = job_output_line(alert, kept=False)
        if hint is not None:
            console.line(hint)
        console.line()
    if alerts:
        console.line(
            "  The first one as a chat channel shows it (the https message; Slack and Teams render its Markdown):"
        )
        console.lines([f"  # {line}".rstrip() for line in chat_card_lines(alerts[0])])

    events = pipeline.lifecycle_events()
    source = pipeline.stack.outputs["EventSource"]
    console.heading(f"Lifecycle events on EventBridge ({len(events)}) - as a rule on {source} receives them")
    console.lines(event_lines(events))
    wrong = sequence_problems(events, [*(u.run_id for u in uploads.values()), requested.run_id])

    checks = _checks(pipeline, uploads, runs, alerts)
    checks.append(Check("each run's events: Run Started first, one end last", not wrong, "; ".join(wrong)))
    checks.append(_unmatched_check(pipeline, unmatched))
    checks += request_checks(pipeline, requested, events)
    console.heading("Checks")
    for check in checks:
        detail = f" - {check.detail}" if check.detail and not check.ok else ""
        console.line(f"  [{'ok' if check.ok else '!!'}] {check.what}{detail}")
    failed = [check for check in checks if not check.ok]
    console.line()
    console.line(
        f"Stack started in {ran_from - began:.1f} s; the {len(DEMO_INPUTS) + 1} runs (uploads, one request) finished "
        f"{ran:.1f} s after upload."
    )
    if failed:
        console.line(f"DEMO FAILED: {len(failed)} of {len(checks)} checks did not hold.")
        return 1
    console.line(f"DEMO OK: all {len(checks)} checks hold.")
    return 0


def _checks(
    pipeline: LocalPipeline, uploads: dict[str, Upload], runs: dict[str, Run], alerts: list[Alert]
) -> list[Check]:
    stack = pipeline.stack
    s3 = stack.client("s3")
    bucket, output_prefix = stack.outputs["InputBucketName"], stack.outputs["OutputPrefix"]
    checks: list[Check] = []
    for item in DEMO_INPUTS:
        run_id = uploads[item.name].run_id
        run = runs[run_id]
        name = item.name
        got = (run.status.value, run.attempt, run.exit_code, run.workload)
        want = (item.status, item.attempts, item.exit_code, item.workload)
        checks.append(
            Check(
                f"{name}: workload {item.workload}, {item.status} after {item.attempts} attempt(s), "
                f"exit {item.exit_code}",
                got == want,
                f"got {got}",
            )
        )
        if item.memory_mib:
            checks.append(_memory_check(item, run))
        if item.items:
            checks.append(_items_check(item, run))
        jobs = pipeline.jobs_of(run_id)
        last = jobs[-1] if jobs else {}
        described = (last.get("status"), (last.get("container") or {}).get("exitCode"))
        checks.append(
            Check(
                f"{name}: one Batch job per attempt; DescribeJobs agrees",
                len(jobs) == item.attempts and described == (item.status, item.exit_code),
                f"{len(jobs)} job(s), last {described}",
            )
        )
        own = [alert for alert in alerts if alert_run_id(alert) == run_id]
        checks.append(Check(f"{name}: {item.alerts} alert(s)", len(own) == item.alerts, f"got {len(own)}"))
        if item.steps:
            checks += _pipeline_checks(s3, bucket, f"{output_prefix}{run_id}/", item, run)
        elif item.status == "SUCCEEDED" and item.items:  # every item of the array wrote its own result
            size = int(item.items[0].split("-")[-1]) + 1
            checks += [
                _result_check(s3, bucket, f"{output_prefix}{run_id}/{index}/{RESULT_NAME}", item, array_item=index)
                for index in range(size)
            ]
        elif item.status == "SUCCEEDED":
            checks.append(_result_check(s3, bucket, f"{output_prefix}{run_id}/{RESULT_NAME}", item))
    checks.append(Check("no other alert", len(alerts) == sum(i.alerts for i in DEMO_INPUTS), f"{len(alerts)} in all"))
    for output in ("SubmitDLQUrl", "TrackingDLQUrl", "ScheduleDLQUrl"):
        depth = pipeline.queue_depth(output)
        checks.append(Check(f"{output.removesuffix('Url')} is empty", depth == 0, f"{depth} message(s)"))
    checks.append(Check("the local machinery reported no error", not pipeline.errors, "; ".join(pipeline.errors)))
    return checks


def _memory_check(item: DemoInput, run: Run) -> Check:
    """The memory of each attempt, and for a ladder the out-of-memory kill that moved the run up a step."""
    got = [entry.memory_mib for entry in run.history]
    reasons = [entry.reason for entry in run.history[:-1]]
    what = " -> ".join(f"{mib} MiB" for mib in item.memory_mib)
    if len(item.memory_mib) > 1:
        what += f", each step after {OUT_OF_MEMORY_REASON}"
    ok = got == list(item.memory_mib) and all(reason == OUT_OF_MEMORY_REASON for reason in reasons)
    return Check(f"{item.name}: attempts ran with {what}", ok, f"got {got}, reasons {reasons}")


def _items_check(item: DemoInput, run: Run) -> Check:
    """An array run: the items each attempt ran, and a failed attempt's failed children (one: item 2)."""
    got = [entry.items for entry in run.history]
    failed = [entry.failed_children for entry in run.history[:-1]]
    what = " then ".join(f"items {items}" for items in item.items)
    ok = got == list(item.items) and failed == [1] * (len(item.items) - 1)
    return Check(f"{item.name}: attempts ran {what}: only the failed item again", ok, f"got {got}, failed {failed}")


def _pipeline_checks(s3: Any, bucket: str, prefix: str, item: DemoInput, run: Run) -> list[Check]:
    """A pipeline run: the step of each attempt, the array step's items (only the failed one again), each child's item
    read from the manifest the first step wrote, and the last step's view of the array's results."""
    steps = [entry.workload for entry in run.history]
    items = [entry.items for entry in run.history]
    lines = item.body.splitlines()
    checks = [
        Check(
            f"{item.name}: steps {' -> '.join(item.steps)}, render's second attempt over item 1 alone",
            steps == list(item.steps) and items == [None, f"0-{len(lines) - 1}", "1", None],
            f"got steps {steps}, items {items}",
        )
    ]
    try:
        children = [_json_object(s3, bucket, f"{prefix}render/{i}/{RESULT_NAME}")["manifestItem"] for i in range(3)]
        merged = _json_object(s3, bucket, f"{prefix}merge/{RESULT_NAME}")["previousResults"]["count"]
    except Exception as exc:
        return [*checks, Check(f"{item.name}: each step's result written", False, f"{type(exc).__name__}: {exc}")]
    checks.append(Check(f"{item.name}: render's children read split's manifest", children == lines, f"got {children}"))
    checks.append(
        Check(f"{item.name}: merge read render's {len(lines)} results", merged == len(lines), f"got {merged}")
    )
    return checks


def _json_object(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return found


def _unmatched_check(pipeline: LocalPipeline, upload: Upload) -> Check:
    """A key no workload takes starts nothing, and submit_jobs logs and counts it (UploadsUnmatched)."""
    logs = pipeline.stack.client("logs")
    group = pipeline.stack.function_log_group("SubmitJobsFunction")
    lines = []
    for event in logs.filter_log_events(logGroupName=group).get("events", []):
        with contextlib.suppress(ValueError):
            lines.append(json.loads(event["message"]))
    unmatched = [line.get("key") for line in lines if line.get("message") == "upload unmatched"]
    counted = sum(_metric_total(line.get("UploadsUnmatched")) for line in lines if "_aws" in line)
    started = pipeline.run(upload.run_id) is not None or bool(pipeline.jobs_of(upload.run_id))
    return Check(
        f"{UNMATCHED_KEY}: no run; logged, and counted (UploadsUnmatched) like every unmatched key",
        UNMATCHED_KEY in unmatched and counted == len(unmatched) and not started,
        f"logged {unmatched}, UploadsUnmatched {counted}, run or job started: {started}",
    )


def _metric_total(value: Any) -> float:
    """An EMF metric value: a number, or a list of them (Powertools writes lists); absent: 0."""
    values = value if isinstance(value, list) else [value]
    return float(sum(item for item in values if isinstance(item, int | float)))


def _attempt_lines(runs: Sequence[tuple[str, Run]]) -> list[str]:
    width = max(display_width(key) for key, _ in runs)
    lines = []
    for key, run in runs:
        for index, entry in enumerate(run.history):
            # A pipeline's attempts each name their step; any other run's, its workload on the first line only.
            workload = entry.workload or (run.workload if index == 0 else "")
            head = f"{pad(key if index == 0 else '', width)}  {workload:<8}"
            exit_text = "" if entry.exit_code is None else f" exit {entry.exit_code}"
            reason = f" ({entry.reason})" if entry.reason else ""
            if entry.items is not None:  # an array attempt: the items it ran, and how many of its children failed
                failed = f", {entry.failed_children} failed" if entry.failed_children else ""
                reason += f" [items {entry.items}{failed}]"
            size = size_text(entry.vcpu, entry.memory_mib) or "size not recorded"
            lines.append(f"  {head}  attempt {entry.attempt}: {pad(size, 18)} {entry.status.value}{exit_text}{reason}")
    return lines


def _result_check(s3: Any, bucket: str, key: str, item: DemoInput, *, array_item: int | None = None) -> Check:
    data = item.body.encode("utf-8")
    expected: dict[str, Any] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "lines": item.body.count("\n"),
    }
    if array_item is not None:
        expected["arrayItem"] = array_item
    try:
        result = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:
        return Check(f"{item.name}: result object written", False, f"s3://{bucket}/{key}: {exc}")
    got = {name: result.get(name) for name in expected}
    return Check(f"{item.name}: result {key} holds its checksum, bytes and lines", got == expected, f"got {got}")


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _parameters_text() -> str:
    return ", ".join(f"{name}={value}" for name, value in LOCAL_PARAMETERS.items())


def _workloads_text(pipeline: LocalPipeline) -> str:
    table = pipeline.stack.workload_table_file
    assert table is not None, "the demo stack is rendered with demo_workloads.yaml"
    return ", ".join(str(workload["name"]) for workload in json.loads(table.read_text(encoding="utf-8")))


def _relative_name() -> str:
    return f"{DEMO_WORKLOADS.parent.name}/{DEMO_WORKLOADS.name}"
