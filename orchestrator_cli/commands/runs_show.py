"""`orchestrator runs show | logs`: one run read back, its record and its job's output.

Owns how one run is presented: its fields (its workload, its current size and capacity among them; an array
run's size, the current attempt's items, its children by status and its failed items),
attempt history (each attempt's size: vCPU, memory, and Spot or On-Demand when the run records it; an array
attempt's items and failed children),
manual retries and where each attempt's log stream is (an AWS console link, or against the local
stack the `runs logs` command), and the printing of a stream's events. Invariant: read-only;
neither command writes to the stack.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.run_items import (
    ALERT_SENT_AT,
    ARRAY_CHILDREN,
    ARRAY_ITEMS,
    ARRAY_SIZE,
    ATTEMPTS_BEFORE_STEP,
    CAPACITY,
    FAILED_CHILDREN,
    FAILED_CHILDREN_COUNT,
    SIZE_STEP,
    SPOT_INTERRUPTIONS,
    STEP,
    WORKLOAD,
)
from batch_orchestrator.array_items import parse_items
from batch_orchestrator.console_links import log_stream_console_url
from batch_orchestrator.models import RunStatus
from orchestrator_cli.commands.runs_item import input_text, read_run, size_text, workload_of
from orchestrator_cli.context import Context
from orchestrator_cli.job_logs import attempt_stream, logs_command, read_log_events, targets_local
from orchestrator_cli.parsing import parse_run_id
from orchestrator_cli.render import epoch_ms_time, fields, one_line, plain, shorten, table


def _log_url(region: str, log_group: str, stream: str | None) -> str | None:
    if not stream:
        return None
    try:
        return log_stream_console_url(region, log_group, stream)
    except ValueError:  # a partition without a public console
        return None


def show_run(ctx: Context, args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    item = read_run(ctx, run_id)
    deployment = ctx.deployment()
    log_group = deployment.outputs.get("JobLogGroupName", "")
    region = ctx.aws.region
    local = targets_local(ctx.settings)  # console links lead nowhere there: say how to read the logs instead
    history = [dict(entry) for entry in plain(item.get("history", []))]
    for entry in history:
        if local:
            entry["logUrl"] = None
            entry["logsCommand"] = (
                logs_command(ctx.settings, run_id, int(entry["attempt"]))
                if entry.get("logStreamName") and entry.get("attempt") is not None
                else None
            )
        else:
            entry["logUrl"] = _log_url(region, log_group, entry.get("logStreamName")) if log_group else None
    current_log = _log_url(region, log_group, item.get("logStreamName")) if log_group and not local else None
    current_command = logs_command(ctx.settings, run_id) if local and item.get("logStreamName") else None

    if ctx.out.json_mode:
        document = dict(plain(item))
        document.update(
            {
                WORKLOAD: workload_of(item),
                "input": input_text(item.get("source") or {}),
                "logUrl": current_log,
                "history": history,
            }
        )
        if local:
            document["logsCommand"] = current_command
        progress = live_progress(ctx, item)
        if progress is not None:
            document["progress"] = progress
        ctx.out.json(document)
        return 0

    status = str(item.get("status"))
    ctx.out.line(f"Run {run_id}  {status}  (attempt {item.get('attempt')} of {item.get('maxAttempts')})")
    progress = live_progress(ctx, item)
    ctx.out.lines(fields(_run_fields(item, logs=current_command or current_log, progress=progress), indent=2))

    ctx.out.line()
    if history:
        ctx.out.line("Attempts")
        ctx.out.lines("  " + line for line in _attempts_table(history))
        links = [
            (f"  attempt {entry.get('attempt')} logs", entry.get("logsCommand") or entry["logUrl"])
            for entry in history
            if entry.get("logsCommand") or entry["logUrl"]
        ]
        ctx.out.lines(fields(links))
    else:
        ctx.out.line("Attempts: none finished yet")

    failed_children = [dict(entry) for entry in plain(item.get(FAILED_CHILDREN, []))]
    if failed_children:
        ctx.out.line()
        ctx.out.line(f"Failed items (last failed attempt: {item.get(FAILED_CHILDREN_COUNT, len(failed_children))})")
        ctx.out.lines("  " + line for line in _failed_items_table(failed_children))
        more = int(item.get(FAILED_CHILDREN_COUNT) or 0) - len(failed_children)
        if more > 0:
            ctx.out.line(f"  and {more} more (the run keeps the first {len(failed_children)})")

    manual = plain(item.get("manualRetries", []))
    if manual:
        ctx.out.line()
        ctx.out.line("Manual retries")
        ctx.out.lines(
            "  " + line
            for line in table(
                ["ATTEMPT", "REQUESTED", "FROM", "FORCED", "BY"],
                [
                    [
                        entry.get("attempt"),
                        entry.get("requestedAt"),
                        f"{entry.get('previousStatus')} at attempt {entry.get('previousAttempt')}"
                        + (
                            f", maxAttempts raised from {entry['maxAttemptsRaisedFrom']}"
                            if entry.get("maxAttemptsRaisedFrom")
                            else ""
                        ),
                        "yes" if entry.get("forced") else "no",
                        entry.get("requestedBy"),
                    ]
                    for entry in manual
                ],
            )
        )
    return 0


def _run_fields(item: dict[str, Any], *, logs: str | None, progress: str | None = None) -> list[tuple[str, Any]]:
    source = item.get("source") or {}
    version = f" (version {source['versionId']})" if source.get("versionId") else ""
    queue = str(item.get("jobQueue", "")).rsplit("/", 1)[-1] or None
    waiting = str(item.get("status")) == RunStatus.RETRY_WAIT.value
    return [
        ("Workload", workload_of(item)),
        ("Step", _step_text(item)),
        ("Input", input_text(source) + version),
        ("Trigger", source.get("trigger")),
        ("Created", item.get("createdAt")),
        ("Updated", item.get("updatedAt")),
        ("Submitted", item.get("submittedAt")),
        ("Next attempt", item.get("nextAttemptAt") if waiting else None),
        ("Job", item.get("jobName")),
        ("Job ID", item.get("jobId") or (f"{item['lastJobId']} (previous attempt)" if item.get("lastJobId") else None)),
        ("Queue", queue),
        ("Size", _run_size(item)),
        ("Capacity", _capacity_text(item)),
        ("Array", _array_text(item)),
        ("Children", _children_text(item)),
        ("Progress", progress),
        ("Started", epoch_ms_time(item.get("startedAt"))),
        ("Stopped", epoch_ms_time(item.get("stoppedAt"))),
        ("Exit code", item.get("exitCode")),
        ("Reason", one_line(str(item["statusReason"])) if item.get("statusReason") else None),
        ("Last error", one_line(str(item["lastError"])) if item.get("lastError") else None),
        ("Alert sent", item.get(ALERT_SENT_AT)),
        ("Logs", logs or item.get("logStreamName")),
    ]


def _step_text(item: dict[str, Any]) -> str | None:
    """A pipeline run's current step: ``render (step 2; its attempt 1)`` (docs/pipelines.md); None for other runs."""
    if STEP not in item and not any(entry.get("workload") for entry in item.get("history") or []):
        return None
    step = int(item.get(STEP, 0))
    before = int(item.get(ATTEMPTS_BEFORE_STEP, 0))
    return f"{workload_of(item)} (step {step + 1}; its attempt {int(item.get('attempt', 1)) - before})"


def _run_size(item: dict[str, Any]) -> str | None:
    """The current attempt's size, with its memory-ladder step (0 is the job definition's own size)."""
    size = size_text(item)
    step = item.get(SIZE_STEP)
    if size is None or not step:
        return size
    return f"{size} (memory ladder step {step})"


def _array_text(item: dict[str, Any]) -> str | None:
    """An array run's size and the items of its current attempt: ``3 items; this attempt: items 1 (1 child)``."""
    size = item.get(ARRAY_SIZE)
    if not size:
        return None
    items = item.get(ARRAY_ITEMS)
    if not items:
        return f"{size} items; this attempt: all of them"
    count = len(parse_items(str(items)))
    return f"{size} items; this attempt: items {items} ({count} {'child' if count == 1 else 'children'})"


def _children_text(item: dict[str, Any]) -> str | None:
    """The current attempt's children by status, from its parent's last event: ``SUCCEEDED 2, FAILED 1``."""
    return _counts_text(dict(plain(item.get(ARRAY_CHILDREN) or {})))


_ACTIVE = frozenset({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"})


def live_progress(ctx: Context, item: dict[str, Any]) -> str | None:
    """A running array's children by status now: one DescribeJobs of its parent (Batch keeps the parent PENDING and
    sends no event while its children run, so the run item's counts are those of the parent's last event). None for a
    run that is no running array; what went wrong when Batch could not be asked."""
    job_id = item.get("jobId")
    if not job_id or not item.get(ARRAY_SIZE) or str(item.get("status")) not in _ACTIVE:
        return None
    try:
        jobs = ctx.aws.client("batch").describe_jobs(jobs=[str(job_id)])["jobs"]
    except (BotoCoreError, ClientError) as exc:
        return f"unavailable: DescribeJobs failed ({one_line(str(exc))[:120]})"
    summary = (jobs[0].get("arrayProperties") or {}).get("statusSummary") if jobs else None
    text = _counts_text(dict(summary or {}))
    return f"{text}, now (DescribeJobs of job {job_id})" if text else None


def _counts_text(raw: dict[str, Any]) -> str | None:
    counts = {status: int(count) for status, count in raw.items() if count}
    if not counts:
        return None
    order = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]
    ranked = sorted(counts, key=lambda status: order.index(status) if status in order else len(order))
    return ", ".join(f"{status} {counts[status]}" for status in ranked) + f" (of {sum(counts.values())})"


def _failed_items_table(children: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            entry.get("item"),
            entry.get("index"),
            entry.get("exitCode"),
            shorten(one_line(str(entry["reason"])), 80) if entry.get("reason") else None,
        ]
        for entry in children
    ]
    return table(["ITEM", "CHILD", "EXIT", "REASON"], rows)


def _capacity_text(item: dict[str, Any]) -> str | None:
    """``spot``, ``on-demand`` or ``ec2``, with the Spot interruptions the run has had so far."""
    capacity = item.get(CAPACITY)
    interruptions = item.get(SPOT_INTERRUPTIONS)
    if not interruptions:
        return capacity
    plural = "" if interruptions == 1 else "s"
    return f"{capacity or '-'} ({interruptions} Spot interruption{plural} so far)"


def _attempts_table(history: list[dict[str, Any]]) -> list[str]:
    """One row per finished attempt; CAPACITY only when some attempt records it (a Spot workload's run); ITEMS and
    FAILED only for an array run's attempts; STEP only for a pipeline run's (the workload each attempt ran)."""
    with_capacity = any(entry.get(CAPACITY) for entry in history)
    with_items = any(entry.get("items") for entry in history)
    with_steps = any(entry.get("workload") for entry in history)
    headers = [
        "#",
        *(["STEP"] if with_steps else []),
        "JOB ID",
        "STATUS",
        "EXIT",
        "SIZE",
        *(["CAPACITY"] if with_capacity else []),
        *(["ITEMS", "FAILED"] if with_items else []),
    ]
    rows = [
        [
            entry.get("attempt"),
            *([entry.get("workload")] if with_steps else []),
            entry.get("jobId") or None,
            entry.get("status"),
            entry.get("exitCode"),
            size_text(entry),
            *([entry.get(CAPACITY)] if with_capacity else []),
            *([entry.get("items"), entry.get("failedChildren")] if with_items else []),
            epoch_ms_time(entry.get("startedAt")),
            epoch_ms_time(entry.get("stoppedAt")),
            shorten(one_line(str(entry["reason"])), 80) if entry.get("reason") else None,
        ]
        for entry in history
    ]
    return table([*headers, "STARTED", "STOPPED", "REASON"], rows)


def run_logs(ctx: Context, args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    item = read_run(ctx, run_id)
    chosen = attempt_stream(item, args.attempt)
    log_group = ctx.deployment().output("JobLogGroupName")
    read = read_log_events(ctx.aws, log_group, chosen.log_stream_name)
    if ctx.out.json_mode:
        ctx.out.json(
            {
                "runId": run_id,
                "attempt": chosen.attempt,
                "logGroupName": log_group,
                "logStreamName": chosen.log_stream_name,
                "events": [
                    {
                        "timestamp": event.get("timestamp"),
                        "time": epoch_ms_iso(event.get("timestamp")),
                        "message": event.get("message", ""),
                    }
                    for event in read.events
                ],
                "pages": read.pages,
                "complete": read.complete,
            }
        )
        return 0
    ctx.out.line(
        f"Run {run_id} attempt {chosen.attempt}: log stream {chosen.log_stream_name} in {log_group} "
        f"({len(read.events)} event{'' if len(read.events) == 1 else 's'})"
    )
    for event in read.events:
        ctx.out.line(f"{epoch_ms_iso(event.get('timestamp')) or '-'}  {str(event.get('message', '')).rstrip()}")
    if not read.complete:
        ctx.out.line(f"(stopped after {read.pages} pages; the stream has more events)")
    return 0


def epoch_ms_iso(value: Any) -> str | None:
    """A log event's time to the millisecond, in UTC."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
