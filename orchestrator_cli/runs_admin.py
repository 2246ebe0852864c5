"""The runs table as the operator sees it: whole items read, listed, and a run sent back to retry.

The functions never make these calls (their IAM policies do not allow a Scan), so they live with
the CLI, not in the Lambda layer. Reads return whole items (deserialised, numbers as Decimal): an
operator wants every attribute, not only the fields of Run. The one write, the manual retry, is
made like every write of the functions (``conditional_writes``): conditional on the state the
operator saw, and with a lost answer told apart from a lost race.

The client is the layer's (``adapters.aws.client``), built from the environment the CLI sets for
the command (``orchestrator_cli.aws``): reads and the write share one connection and its settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.adapters.conditional_writes import update_if
from batch_orchestrator.adapters.run_items import (
    ACTIVE_RUNS_INDEX,
    EXPIRES_AT,
    WORKLOAD,
    attribute_names,
    from_attribute_values,
    side_effect_attribute,
    to_attribute_values,
)
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.models import AttemptRecord, Run, RunStatus, SideEffect, progress_of
from batch_orchestrator.ports import WriteResult
from batch_orchestrator.timeutil import iso
from batch_orchestrator.workloads import DEFAULT_WORKLOAD


def workload_condition(workload: str) -> tuple[str, dict[str, Any]]:
    """A filter condition for the runs of ``workload``, with its values: a run without the attribute is
    the default workload's (written before runs recorded their workload)."""
    if workload == DEFAULT_WORKLOAD:
        return f"(attribute_not_exists(#{WORKLOAD}) OR #{WORKLOAD} = :workload)", {":workload": workload}
    return f"#{WORKLOAD} = :workload", {":workload": workload}


class RunsAdmin:
    """The operator's reads of one runs table, and its one write (a manual retry)."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def read_item(self, run_id: str) -> dict[str, Any] | None:
        """The run's whole item (a consistent read), or None when there is no such run."""
        try:
            response = client("dynamodb").get_item(
                TableName=self._table, Key=to_attribute_values({"runId": run_id}), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise RunStoreError(f"cannot read run {run_id}: {exc}") from exc
        item = response.get("Item")
        return from_attribute_values(item) if item else None

    def query_active(
        self, status: RunStatus, *, since: str | None = None, workload: str | None = None, limit: int
    ) -> list[dict[str, Any]]:
        """Runs whose activeStatus is ``status``, newest update first, from the sparse index (never a Scan).

        ``workload`` keeps that workload's runs only, by a filter: the Query still reads (and is billed
        for) the runs of other workloads in ``status``, and pages on until ``limit`` match or the index ends.
        """
        key_condition = "#activeStatus = :status"
        values: dict[str, Any] = {":status": status.value}
        if since is not None:
            key_condition += " AND #updatedAt >= :since"
            values[":since"] = since
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ACTIVE_RUNS_INDEX,
            "KeyConditionExpression": key_condition,
            "ScanIndexForward": False,
        }
        expressions = [key_condition]
        if workload is not None:
            condition, workload_values = workload_condition(workload)
            request["FilterExpression"] = condition
            expressions.append(condition)
            values.update(workload_values)
        request["ExpressionAttributeNames"] = attribute_names(*expressions)
        request["ExpressionAttributeValues"] = to_attribute_values(values)
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            request["Limit"] = limit - len(items)
            try:
                response = client("dynamodb").query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise RunStoreError(f"cannot query {ACTIVE_RUNS_INDEX} of {self._table}: {exc}") from exc
            items.extend(from_attribute_values(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items[:limit]

    def scan_runs(
        self,
        statuses: tuple[RunStatus, ...],
        *,
        since: str | None = None,
        workload: str | None = None,
        max_items: int,
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """Runs in ``statuses`` updated since ``since`` (of ``workload``), by a filtered Scan: terminal runs
        are in no index.

        Reads at most ``max_items`` items (a Scan costs the items it reads, not the ones it returns).
        Returns the matches, the number of items read, and whether that was the whole table.
        """
        placeholders = {f":s{index}": status.value for index, status in enumerate(statuses)}
        condition = f"#status IN ({', '.join(placeholders)})"
        values: dict[str, Any] = dict(placeholders)
        if since is not None:
            condition += " AND #updatedAt >= :since"
            values[":since"] = since
        if workload is not None:
            workload_filter, workload_values = workload_condition(workload)
            condition += f" AND {workload_filter}"
            values.update(workload_values)
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": condition,
            "ExpressionAttributeNames": attribute_names(condition),
            "ExpressionAttributeValues": to_attribute_values(values),
        }
        items: list[dict[str, Any]] = []
        scanned = 0
        while True:
            request["Limit"] = max(1, min(1_000, max_items - scanned))
            try:
                response = client("dynamodb").scan(**request)
            except (ClientError, BotoCoreError) as exc:
                raise RunStoreError(f"cannot scan {self._table}: {exc}") from exc
            scanned += int(response.get("ScannedCount", 0))
            items.extend(from_attribute_values(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items, scanned, True
            if scanned >= max_items:
                return items, scanned, False
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def request_manual_retry(
        self,
        *,
        run: Run,
        attempt: int,
        max_attempts: int,
        max_records: int,
        side_effect: SideEffect,
        record: Mapping[str, Any],
        abandoned: AttemptRecord | None,
        now: datetime,
    ) -> WriteResult:
        """An operator's retry: the run, exactly as the operator saw it, goes to RETRY_WAIT for ``attempt``.

        ``attempt`` is the next one for a finished (or, forced, a stuck) run, or the pending one when a
        run already in RETRY_WAIT has its request sent again. The condition is the state that was read
        (status, attempt, progress), so a run that moved meanwhile is left alone. The job id leaves the
        item (kept as lastJobId): the previous job's late events have a lower progress and change
        nothing. ``side_effect`` is a retry lease, as the tracker writes one, so that a request the CLI
        failed to send is re-sent by whoever finds the lease expired. ``record`` is appended to
        manualRetries, ``abandoned`` (a forced retry of an unfinished attempt) to history.
        """
        values: dict[str, Any] = {
            ":retry_wait": RunStatus.RETRY_WAIT.value,
            ":attempt": attempt,
            ":max_attempts": max_attempts,
            ":progress": progress_of(attempt, RunStatus.RETRY_WAIT),
            ":now": iso(now),
            ":side_effect": side_effect_attribute(side_effect),
            ":record": [dict(record)],
            ":empty": [],
            ":seen_status": run.status.value,
            ":seen_attempt": run.attempt,
            ":seen_progress": run.progress,
            ":max_records": max_records,
        }
        assignments = [
            "#status = :retry_wait",
            "#activeStatus = :retry_wait",
            "#attempt = :attempt",
            "#maxAttempts = :max_attempts",
            "#progress = :progress",
            "#nextAttemptAt = :now",
            "#updatedAt = :now",
            "#sideEffect = :side_effect",
            "#manualRetries = list_append(if_not_exists(#manualRetries, :empty), :record)",
        ]
        if run.job_id:
            assignments.append("#lastJobId = :last_job_id")
            values[":last_job_id"] = run.job_id
        if abandoned is not None:
            assignments.append("#history = list_append(if_not_exists(#history, :empty), :abandoned)")
            values[":abandoned"] = [abandoned.to_dict()]
        # Active again: the run must not expire while it retries (see runs_table's module docstring).
        update = "SET " + ", ".join(assignments) + f" REMOVE #jobId, #claimedUntil, #lastError, #{EXPIRES_AT}"
        condition = (
            "#status = :seen_status AND #attempt = :seen_attempt AND #progress = :seen_progress"
            " AND (attribute_not_exists(#manualRetries) OR size(#manualRetries) < :max_records)"
        )
        return update_if(
            self._table,
            run.run_id,
            update=update,
            condition=condition,
            names=attribute_names(update, condition),
            values=values,
            return_new=True,
        )
