"""One run's item as the `runs` subcommands read it: fetched by id, and its input in one line.

Owns the lookup every `runs` subcommand but `list` starts with. Invariant: a run that is not in
the table is a NotFound naming the stack, a failed read is a CliError saying which run it was
reading; a caller never sees None or a bare RunStoreError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_orchestrator.errors import RunStoreError
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
    return f"s3://{source.get('bucket')}/{source.get('key')}"
