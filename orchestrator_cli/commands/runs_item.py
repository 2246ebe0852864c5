"""One run's item as the `runs` subcommands read it: fetched by id, and its input in one line.

Owns the lookup every `runs` subcommand but `list` starts with, and how a run's workload and an
attempt's size read. Invariant: a run that is not in
the table is a NotFound naming the stack, a failed read is a CliError saying which run it was
reading; a caller never sees None or a bare RunStoreError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_orchestrator.adapters.run_items import MEMORY_MIB, VCPU, WORKLOAD
from batch_orchestrator.attempt_plan import size_text as attempt_size_text
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.workloads import DEFAULT_WORKLOAD, Size
from orchestrator_cli.context import Context
from orchestrator_cli.errors import NotFound, from_cause
from orchestrator_cli.runs_admin import RunsAdmin


def runs_admin(ctx: Context) -> RunsAdmin:
    return ctx.deployment().runs_admin()


def read_run(ctx: Context, run_id: str) -> dict[str, Any]:
    try:
        item = runs_admin(ctx).read_item(run_id)
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
    if source.get("trigger") == "request":  # run_requests: a rejected one is known by its message id, not its key
        what = source.get("requestKey") or f"message {source.get('messageId')}"
        return f"request {what} from {source.get('requester') or '(no requester)'}"
    return f"s3://{source.get('bucket')}/{source.get('key')}"


def workload_of(item: Mapping[str, Any]) -> str:
    """The run's workload; a run written before runs recorded one belongs to the default workload."""
    return str(item.get(WORKLOAD) or DEFAULT_WORKLOAD)


def size_text(record: Mapping[str, Any]) -> str | None:
    """An attempt's (or the run's) size as the alerts word it, ``1 vCPU, 2048 MiB``; None when it was not
    recorded (an attempt from before sizes were, or of a workload the table no longer held)."""
    vcpu, memory = record.get(VCPU), record.get(MEMORY_MIB)
    if vcpu is None or memory is None:
        return None
    return attempt_size_text(Size(vcpu=str(vcpu), memory_mib=int(memory)))
