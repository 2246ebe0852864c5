"""`orchestrator runs list`: runs by status and time, newest update first, as a table or JSON.

Owns the choice of statuses and workload and how a run is summed up in one row. Invariant: non-terminal
runs are only ever read by a Query of the active-runs index; SUCCEEDED and FAILED runs by a Scan capped
at --max-scan, and the output says whether that Scan read the whole table. --workload is a filter on
those same reads (a run without a workload attribute is the default workload's), never another read.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.models import RunStatus
from batch_orchestrator.timeutil import iso
from orchestrator_cli.commands.runs_item import input_text, runs_admin, workload_of
from orchestrator_cli.context import Context
from orchestrator_cli.errors import UsageError, from_cause
from orchestrator_cli.parsing import parse_since
from orchestrator_cli.render import age, plain, short_time, shorten, table

ACTIVE = tuple(status for status in RunStatus if not status.is_terminal)
INPUT_WIDTH = 60


def run_summary(item: Mapping[str, Any]) -> dict[str, Any]:
    """The fields `runs list` shows, as JSON."""
    source = item.get("source") or {}
    summary = {
        "runId": item.get("runId"),
        "status": item.get("status"),
        "workload": workload_of(item),
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
    admin = runs_admin(ctx)
    items: dict[str, dict[str, Any]] = {}
    scanned: int | None = None
    complete = True
    try:
        for status in (s for s in statuses if not s.is_terminal):
            for item in admin.query_active(status, since=since, workload=args.workload, limit=args.limit):
                items[item["runId"]] = item
        terminal = tuple(s for s in statuses if s.is_terminal)
        if terminal:
            found, scanned, complete = admin.scan_runs(
                terminal, since=since, workload=args.workload, max_items=args.max_scan
            )
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
                "workload": args.workload,
                "since": since,
                "scannedItems": scanned,
                "scanComplete": complete,
            }
        )
        return 0
    if not shown:
        of_workload = f" of workload {args.workload}" if args.workload else ""
        ctx.out.line(
            f"No runs{of_workload} ({', '.join(s.value for s in statuses)}){' since ' + since if since else ''}."
        )
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
                    summary["workload"],
                    shorten(summary["input"], INPUT_WIDTH),
                    summary["exitCode"],
                    when,
                ]
            )
        ctx.out.lines(table(["RUN ID", "STATUS", "ATTEMPT", "WORKLOAD", "INPUT", "EXIT", "UPDATED"], rows))
    ctx.out.lines(notes)
    return 0
