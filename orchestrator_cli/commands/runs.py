"""`orchestrator runs list | show | retry`: the runs table, read and acted on like the functions do."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Mapping
from typing import Any

from batch_orchestrator.adapters.runs_table import ACTIVE_RUNS_INDEX, RunsTable, run_from_item
from batch_orchestrator.alerts import log_stream_console_url
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.models import Run, RunStatus, SideEffect
from batch_orchestrator.submit_messages import retry_message
from batch_orchestrator.timeutil import epoch_seconds, iso
from orchestrator_cli.context import Context
from orchestrator_cli.errors import CliError, NotFound, Refused, UsageError, from_cause
from orchestrator_cli.manual_retry import MAX_MANUAL_RETRIES, plan_manual_retry
from orchestrator_cli.parsing import parse_run_id, parse_since, positive_int
from orchestrator_cli.render import age, epoch_ms_time, fields, one_line, plain, short_time, shorten, table

ACTIVE = tuple(status for status in RunStatus if not status.is_terminal)
DEFAULT_LIMIT = 50
DEFAULT_MAX_SCAN = 10_000
INPUT_WIDTH = 60
# How long the retry request may take to reach the queue before someone else may send it (see
# RunsTable.request_manual_retry): far more than one SendMessage needs.
MANUAL_RETRY_LEASE_SECONDS = 300

LIST_HELP = f"""\
Non-terminal runs are read from the sparse {ACTIVE_RUNS_INDEX}: one Query per status,
cheap, proportional to the active runs. SUCCEEDED and FAILED runs are in no index: listing
them Scans the runs table with a filter, reading (and paying for) up to --max-scan items,
then shows the newest --limit. Acceptable for an operator now and then; never put it in a
loop. --since shortens the output, it does not make the Scan cheaper.

--status takes run statuses (any case: {", ".join(s.value.lower() for s in RunStatus)})
and two shorthands: "active" (the default: every non-terminal status) and "all".
"""


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    runs = subparsers.add_parser("runs", help="list, show and retry runs", description="Inspect and act on runs.")
    commands = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list",
        parents=parents,
        help="runs by status and time, newest first",
        description="List runs by status and time, newest update first.",
        epilog=LIST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="a run status, or 'active' (default) or 'all'; repeat or comma-separate for several",
    )
    listing.add_argument("--since", metavar="WHEN", help="updated since: 2h, 30m, 7d, 1w, or an ISO-8601 date/time")
    listing.add_argument(
        "--limit", type=positive_int, default=DEFAULT_LIMIT, help=f"rows to show (default {DEFAULT_LIMIT})"
    )
    listing.add_argument(
        "--max-scan",
        type=positive_int,
        default=DEFAULT_MAX_SCAN,
        help=f"for SUCCEEDED/FAILED: items the Scan may read (default {DEFAULT_MAX_SCAN:,})",
    )
    listing.set_defaults(handler=list_runs)

    show = commands.add_parser(
        "show",
        parents=parents,
        help="one run with its attempt history and log links",
        description="Show one run: status, input, timestamps, and every attempt with exit code, reason and log link.",
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(handler=show_run)

    retry = commands.add_parser(
        "retry",
        parents=parents,
        help="start a new attempt of a run through the normal submit path",
        description=(
            "Start a new attempt of a FAILED run: the run moves to RETRY_WAIT (one conditional write) and a retry "
            "request goes on the SubmitQueue, whose consumer submits the attempt exactly once. A run already in "
            "RETRY_WAIT has its request sent again at once. A manual attempt may exceed the run's maxAttempts by "
            "one (maxAttempts is raised and the change recorded in the run's manualRetries)."
        ),
    )
    retry.add_argument("run_id", metavar="RUN_ID")
    retry.add_argument(
        "--force",
        action="store_true",
        help="also retry a SUCCEEDED run (run it again) or an in-flight one that is stuck (its job is not cancelled)",
    )
    retry.set_defaults(handler=retry_run)


# ------------------------------------------------------------------------------------------ shared
def _runs_table(ctx: Context) -> RunsTable:
    return ctx.deployment().runs_table()


def _read(ctx: Context, run_id: str) -> dict[str, Any]:
    try:
        item = _runs_table(ctx).read_item(run_id)
    except RunStoreError as exc:
        raise from_cause(exc, f"reading run {run_id}") from exc
    if item is None:
        raise NotFound(
            f"no run {run_id} in stack {ctx.deployment().name}",
            hint="`orchestrator runs list --status all` lists the runs; finished runs expire after RunRetentionDays",
        )
    return item


def input_text(source: Mapping[str, Any]) -> str:
    if source.get("trigger") == "schedule":
        return f"schedule {source.get('scheduleName')} @ {source.get('scheduledTime')}"
    return f"s3://{source.get('bucket')}/{source.get('key')}"


def run_summary(item: Mapping[str, Any]) -> dict[str, Any]:
    """The fields `runs list` shows, as JSON."""
    source = item.get("source") or {}
    summary = {
        "runId": item.get("runId"),
        "status": item.get("status"),
        "attempt": item.get("attempt"),
        "maxAttempts": item.get("maxAttempts"),
        "trigger": source.get("trigger"),
        "input": input_text(source),
        "exitCode": item.get("exitCode"),
        "statusReason": item.get("statusReason"),
        "jobId": item.get("jobId"),
        "jobName": item.get("jobName"),
        "createdAt": item.get("createdAt"),
        "updatedAt": item.get("updatedAt"),
        "nextAttemptAt": item.get("nextAttemptAt"),
    }
    return dict(plain(summary))


def _log_url(region: str, log_group: str, stream: str | None) -> str | None:
    if not stream:
        return None
    try:
        return log_stream_console_url(region, log_group, stream)
    except ValueError:  # a partition without a public console
        return None


# -------------------------------------------------------------------------------------------- list
def _statuses(values: list[str] | None) -> tuple[RunStatus, ...]:
    if not values:
        return ACTIVE
    chosen: list[RunStatus] = []
    for value in (part.strip() for raw in values for part in raw.split(",")):
        if not value:
            continue
        lowered = value.lower()
        if lowered == "active":
            chosen.extend(ACTIVE)
        elif lowered == "all":
            chosen.extend(RunStatus)
        else:
            try:
                chosen.append(RunStatus(value.upper()))
            except ValueError:
                known = ", ".join(status.value for status in RunStatus)
                raise UsageError(f"unknown status {value!r}", hint=f"one of {known}, or 'active' or 'all'") from None
    return tuple(dict.fromkeys(chosen))  # unique, in order


def list_runs(ctx: Context, args: argparse.Namespace) -> int:
    statuses = _statuses(args.status)
    since = iso(parse_since(args.since, now=ctx.now)) if args.since else None
    table_ = _runs_table(ctx)
    items: dict[str, dict[str, Any]] = {}
    scanned: int | None = None
    complete = True
    try:
        for status in (s for s in statuses if not s.is_terminal):
            for item in table_.query_active(status, since=since, limit=args.limit):
                items[item["runId"]] = item
        terminal = tuple(s for s in statuses if s.is_terminal)
        if terminal:
            found, scanned, complete = table_.scan_runs(terminal, since=since, max_items=args.max_scan)
            for item in found:
                items[item["runId"]] = item
    except RunStoreError as exc:
        raise from_cause(exc, "listing runs") from exc

    ordered = sorted(items.values(), key=lambda item: str(item.get("updatedAt", "")), reverse=True)
    shown = ordered[: args.limit]
    notes = []
    if scanned is not None:
        if complete:
            notes.append(f"SUCCEEDED/FAILED: scanned the whole table ({scanned:,} items).")
        else:
            notes.append(
                f"SUCCEEDED/FAILED: stopped after reading {scanned:,} items; runs may be missing (raise --max-scan)."
            )
    if len(ordered) > len(shown):
        notes.append(f"Showing the newest {len(shown)} of {len(ordered)} matching runs (--limit).")

    if ctx.out.json_mode:
        ctx.out.json(
            {
                "runs": [run_summary(item) for item in shown],
                "count": len(shown),
                "matched": len(ordered),
                "statuses": [status.value for status in statuses],
                "since": since,
                "scannedItems": scanned,
                "scanComplete": complete,
            }
        )
        return 0
    if not shown:
        ctx.out.line(f"No runs ({', '.join(s.value for s in statuses)}){' since ' + since if since else ''}.")
    else:
        rows = []
        for item in shown:
            summary = run_summary(item)
            updated = short_time(summary["updatedAt"])
            when = f"{updated} ({age(summary['updatedAt'], ctx.now)} ago)" if updated else None
            rows.append(
                [
                    summary["runId"],
                    summary["status"],
                    f"{summary['attempt']}/{summary['maxAttempts']}",
                    shorten(summary["input"], INPUT_WIDTH),
                    summary["exitCode"],
                    when,
                ]
            )
        ctx.out.lines(table(["RUN ID", "STATUS", "ATTEMPT", "INPUT", "EXIT", "UPDATED"], rows))
    ctx.out.lines(notes)
    return 0


# -------------------------------------------------------------------------------------------- show
def show_run(ctx: Context, args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    item = _read(ctx, run_id)
    deployment = ctx.deployment()
    log_group = deployment.outputs.get("JobLogGroupName", "")
    region = ctx.aws.region
    history = [dict(entry) for entry in plain(item.get("history", []))]
    for entry in history:
        entry["logUrl"] = _log_url(region, log_group, entry.get("logStreamName")) if log_group else None
    current_log = _log_url(region, log_group, item.get("logStreamName")) if log_group else None

    if ctx.out.json_mode:
        document = dict(plain(item))
        document.update({"input": input_text(item.get("source") or {}), "logUrl": current_log, "history": history})
        ctx.out.json(document)
        return 0

    source = item.get("source") or {}
    status = str(item.get("status"))
    ctx.out.line(f"Run {run_id}  {status}  (attempt {item.get('attempt')} of {item.get('maxAttempts')})")
    version = f" (version {source['versionId']})" if source.get("versionId") else ""
    queue = str(item.get("jobQueue", "")).rsplit("/", 1)[-1] or None
    rows: list[tuple[str, Any]] = [
        ("Input", input_text(source) + version),
        ("Trigger", source.get("trigger")),
        ("Created", item.get("createdAt")),
        ("Updated", item.get("updatedAt")),
        ("Submitted", item.get("submittedAt")),
        ("Next attempt", item.get("nextAttemptAt") if status == RunStatus.RETRY_WAIT.value else None),
        ("Job", item.get("jobName")),
        ("Job ID", item.get("jobId") or (f"{item['lastJobId']} (previous attempt)" if item.get("lastJobId") else None)),
        ("Queue", queue),
        ("Started", epoch_ms_time(item.get("startedAt"))),
        ("Stopped", epoch_ms_time(item.get("stoppedAt"))),
        ("Exit code", item.get("exitCode")),
        ("Reason", one_line(str(item["statusReason"])) if item.get("statusReason") else None),
        ("Last error", one_line(str(item["lastError"])) if item.get("lastError") else None),
        ("Alert sent", item.get("alertSentAt")),
        ("Logs", current_log or item.get("logStreamName")),
    ]
    ctx.out.lines(fields(rows, indent=2))

    ctx.out.line()
    if history:
        ctx.out.line("Attempts")
        ctx.out.lines(
            "  " + line
            for line in table(
                ["#", "JOB ID", "STATUS", "EXIT", "STARTED", "STOPPED", "REASON"],
                [
                    [
                        entry.get("attempt"),
                        entry.get("jobId") or None,
                        entry.get("status"),
                        entry.get("exitCode"),
                        epoch_ms_time(entry.get("startedAt")),
                        epoch_ms_time(entry.get("stoppedAt")),
                        shorten(one_line(str(entry["reason"])), 80) if entry.get("reason") else None,
                    ]
                    for entry in history
                ],
            )
        )
        links = [(f"  attempt {entry.get('attempt')} logs", entry["logUrl"]) for entry in history if entry["logUrl"]]
        ctx.out.lines(fields(links))
    else:
        ctx.out.line("Attempts: none finished yet")

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


# ------------------------------------------------------------------------------------------- retry
def retry_run(ctx: Context, args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    item = _read(ctx, run_id)
    run = _as_run(item)
    plan = plan_manual_retry(run, force=args.force, manual_retries=len(item.get("manualRetries") or []))
    deployment = ctx.deployment()
    queue_url = deployment.output("SubmitQueueUrl")
    table_ = deployment.runs_table()

    lease = SideEffect(
        kind="retry",
        token=uuid.uuid4().hex,
        due=epoch_seconds(ctx.now) + MANUAL_RETRY_LEASE_SECONDS,
        job_id=plan.previous_job_id or "",
    )
    record = plan.record(now=ctx.now, requested_by=ctx.aws.caller_arn())
    try:
        written = table_.request_manual_retry(
            run=run,
            attempt=plan.attempt,
            max_attempts=plan.max_attempts,
            max_records=MAX_MANUAL_RETRIES,
            side_effect=lease,
            record=record,
            abandoned=plan.abandoned,
            now=ctx.now,
        )
    except RunStoreError as exc:
        raise from_cause(exc, f"updating run {run_id}") from exc
    if not written.applied:
        now_status = written.run.status.value if written.run else "gone"
        raise Refused(
            f"run {run_id} changed while the retry was prepared (it was {run.status.value}, now {now_status})",
            hint="look at it again with `orchestrator runs show` and retry if it still needs one",
        )

    body = retry_message(run_id=run_id, attempt=plan.attempt, source=run.source)
    try:
        sent = ctx.aws.call(
            f"sending the retry request of {run_id} to the SubmitQueue",
            ctx.aws.client("sqs").send_message,
            QueueUrl=queue_url,
            MessageBody=body,
        )
    except CliError as exc:
        exc.hint = (
            f"the run is in RETRY_WAIT for attempt {plan.attempt} but no request was sent: run "
            f"`orchestrator runs retry {run_id}` again to send it (the watchdog also re-sends it later)"
        )
        raise

    result = {
        "runId": run_id,
        "attempt": plan.attempt,
        "maxAttempts": plan.max_attempts,
        "previousStatus": plan.previous_status.value,
        "previousAttempt": plan.previous_attempt,
        "forced": plan.forced,
        "resend": plan.resend,
        "maxAttemptsRaisedFrom": plan.max_attempts_raised_from,
        "previousJobId": plan.previous_job_id,
        "messageId": sent.get("MessageId"),
        "queueUrl": queue_url,
    }
    if ctx.out.json_mode:
        ctx.out.json(result)
        return 0
    if plan.resend:
        ctx.out.line(
            f"Run {run_id}: the request for attempt {plan.attempt} of {plan.max_attempts} was sent again "
            "(it was waiting in RETRY_WAIT)."
        )
    else:
        ctx.out.line(
            f"Run {run_id}: attempt {plan.attempt} of {plan.max_attempts} requested "
            f"(was {plan.previous_status.value} at attempt {plan.previous_attempt})."
        )
    if plan.max_attempts_raised_from is not None:
        ctx.out.line(f"maxAttempts raised from {plan.max_attempts_raised_from} to {plan.max_attempts} for this run.")
    if plan.abandoned is not None and plan.previous_job_id:
        ctx.out.line(
            f"Attempt {plan.previous_attempt} is recorded as abandoned; its job {plan.previous_job_id} was not "
            "cancelled and its further events are ignored."
        )
    ctx.out.line(f"The submit function picks the request up from the SubmitQueue (message {sent.get('MessageId')}).")
    ctx.out.line(f"Follow it with: orchestrator runs show {run_id}")
    return 0


def _as_run(item: Mapping[str, Any]) -> Run:
    try:
        return run_from_item(item)
    except (KeyError, ValueError) as exc:
        raise Refused(f"run {item.get('runId')} has an item the CLI cannot read ({exc}); not touching it") from exc
