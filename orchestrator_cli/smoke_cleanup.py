"""What `smoke` created, recorded as it is created, and removed again (also after a failure or Ctrl-C).

Everything is recorded *before* the call that creates it returns control to the steps, so whatever
interrupts the smoke test, the list of what to remove is complete. Removal only touches what is
provably the smoke test's own: objects under its own prefix (every version and delete marker: the
bucket is versioned), result objects under the runs' own output folders, and run items whose source
is the smoke test's canary or firing (a conditional DeleteItem, so another run is never deleted).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator_cli.aws import Aws
from orchestrator_cli.errors import CliError, Refused, error_code, from_aws
from orchestrator_cli.smoke_alerts import AlertInbox

DELETE_BATCH = 1_000  # DeleteObjects takes at most 1,000 keys per request


@dataclass(frozen=True)
class OwnedRun:
    """A run the smoke test started; ``source`` holds the fields its item must match to be deleted."""

    run_id: str
    source: dict[str, str]
    status: str | None = None
    job_id: str | None = None


@dataclass
class Created:
    bucket: str
    canary_prefix: str
    output_prefix: str
    table_name: str
    runs: dict[str, OwnedRun] = field(default_factory=dict)
    inbox: AlertInbox | None = None
    uploaded: bool = False

    def add_run(self, run: OwnedRun) -> None:
        self.runs[run.run_id] = run

    def observed(self, run_id: str, item: dict[str, Any] | None) -> None:
        """Remember the latest status and job of a run (to say what an unfinished one leaves running)."""
        run = self.runs.get(run_id)
        if run is not None and item is not None:
            self.runs[run_id] = OwnedRun(run_id, run.source, str(item.get("status")), item.get("jobId"))

    def unfinished(self, started: set[str]) -> list[str]:
        """What removal cannot undo: the jobs of the ``started`` runs that had not finished (not cancelled)."""
        return [
            f"run {run.run_id} was {f'still {run.status}' if run.status else 'not seen yet'}: "
            f"{f'job {run.job_id}' if run.job_id else 'its job, if any,'} was not cancelled; if it runs now it "
            "cannot read its input (the canary is gone) and may alert"
            for run in self.runs.values()
            if run.run_id in started and run.status not in ("SUCCEEDED", "FAILED")
        ]

    def describe(self) -> list[str]:
        """What exists, for --keep."""
        lines = []
        if self.uploaded:
            lines.append(f"s3://{self.bucket}/{self.canary_prefix} (canary objects, every version)")
        for run_id in self.runs:
            if self.output_prefix:
                lines.append(f"s3://{self.bucket}/{self.output_prefix}{run_id}/ (results of run {run_id}, if any)")
            lines.append(f"run {run_id} in table {self.table_name}")
        lines += self.inbox.describe() if self.inbox else []
        return lines


def remove_created(aws: Aws, created: Created) -> tuple[list[str], list[str]]:
    """Remove everything in ``created``; returns (removed, could not remove). Never raises a CliError:
    each failure is reported and the rest is still removed."""
    removed: list[str] = []
    left: list[str] = []
    prefixes = [created.canary_prefix] if created.uploaded else []
    if created.output_prefix:
        prefixes += [f"{created.output_prefix}{run_id}/" for run_id in created.runs]
    for prefix in prefixes:
        done, failed = _remove_versions(aws, created.bucket, prefix)
        removed += done
        left += failed
    for run in created.runs.values():
        try:
            if _delete_run(aws, created.table_name, run):
                removed.append(f"run {run.run_id} (item in {created.table_name})")
        except CliError as exc:
            left.append(f"run {run.run_id} in {created.table_name} ({exc.message})")
    if created.inbox is not None:
        done, failed = created.inbox.remove(aws)
        removed += done
        left += failed
    return removed, left


def _remove_versions(aws: Aws, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
    s3 = aws.client("s3")
    entries: list[dict[str, str]] = []
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                entries.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
    except (ClientError, BotoCoreError) as exc:
        return [], [f"s3://{bucket}/{prefix} ({from_aws(exc, 'listing object versions').message})"]
    deleted: Counter[str] = Counter()
    failed: list[str] = []
    for start in range(0, len(entries), DELETE_BATCH):
        chunk = entries[start : start + DELETE_BATCH]
        try:
            response = aws.call(
                f"deleting object versions under s3://{bucket}/{prefix}",
                s3.delete_objects,
                Bucket=bucket,
                Delete={"Objects": chunk, "Quiet": True},
            )
        except CliError as exc:
            failed += [f"s3://{bucket}/{item['Key']} version {item['VersionId']} ({exc.message})" for item in chunk]
            continue
        errors = {(e.get("Key"), e.get("VersionId")): e for e in response.get("Errors", [])}
        for item in chunk:
            error = errors.get((item["Key"], item["VersionId"]))
            if error is None:
                deleted[item["Key"]] += 1
            else:
                failed.append(f"s3://{bucket}/{item['Key']} version {item['VersionId']} ({error.get('Code')})")
    removed = [f"s3://{bucket}/{key} ({count} version{'s' if count > 1 else ''})" for key, count in deleted.items()]
    return removed, failed


def _delete_run(aws: Aws, table_name: str, run: OwnedRun) -> bool:
    """Delete the run's item only if its source is ours; True if an item was deleted."""
    names = {"#runId": "runId", "#source": "source"}
    values: dict[str, Any] = {}
    clauses = []
    for index, (name, value) in enumerate(sorted(run.source.items())):
        names[f"#f{index}"] = name
        values[f":v{index}"] = {"S": value}
        clauses.append(f"#source.#f{index} = :v{index}")
    condition = f"attribute_not_exists(#runId) OR ({' AND '.join(clauses)})"
    dynamodb = aws.client("dynamodb")
    try:
        response = dynamodb.delete_item(
            TableName=table_name,
            Key={"runId": {"S": run.run_id}},
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise Refused("its item does not hold the smoke test's source: not deleted") from exc
        raise from_aws(exc, f"deleting run {run.run_id}") from exc
    except BotoCoreError as exc:
        raise from_aws(exc, f"deleting run {run.run_id}") from exc
    return bool(response.get("Attributes"))
