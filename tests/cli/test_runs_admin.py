"""The operator's reads and manual retry (RunsAdmin) on a moto table shaped like template.yaml's RunsTable.

The `runs` commands' tests (test_runs.py) cover the whole flow; these cover what those cannot reach
cheaply: a listing cut at its limit or its Scan budget, a retry of a run that moved meanwhile, and a
retry whose first answer was lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from batch_orchestrator.adapters import conditional_writes
from batch_orchestrator.adapters.run_items import run_from_item, to_attribute_values
from batch_orchestrator.models import SIDE_EFFECT_RETRY, Run, RunStatus, S3Source, SideEffect, progress_of
from batch_orchestrator.ports import WriteResult
from batch_orchestrator.timeutil import iso
from emulator.template import DEFAULT_TEMPLATE, load_template
from orchestrator_cli.runs_admin import RunsAdmin

TABLE = "runs"
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LEASE = SideEffect(kind=SIDE_EFFECT_RETRY, token="lease-1", due=1_800_000_000, job_id="job-1")


@pytest.fixture
def admin() -> Iterator[RunsAdmin]:
    """RunsAdmin on a table with template.yaml's key schema and sparse index, in moto."""
    declared = load_template(DEFAULT_TEMPLATE)["Resources"]["RunsTable"]["Properties"]
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE,
            BillingMode=declared["BillingMode"],
            AttributeDefinitions=declared["AttributeDefinitions"],
            KeySchema=declared["KeySchema"],
            GlobalSecondaryIndexes=declared["GlobalSecondaryIndexes"],
        )
        yield RunsAdmin(TABLE)


def put_run(run_id: str, status: RunStatus, *, updated: datetime = T0, **extra: Any) -> None:
    """A run as the functions leave it: in the sparse index while it is not finished."""
    item: dict[str, Any] = {
        "runId": run_id,
        "status": status.value,
        "attempt": 1,
        "maxAttempts": 3,
        "progress": progress_of(1, status),
        "source": S3Source(bucket="input", key=f"incoming/{run_id}.csv", version_id="v1").to_dict(),
        "updatedAt": iso(updated),
        **extra,
    }
    if not status.is_terminal:
        item["activeStatus"] = status.value
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=TABLE, Item=to_attribute_values(item))


def read(admin: RunsAdmin, run_id: str) -> tuple[dict[str, Any], Run]:
    item = admin.read_item(run_id)
    assert item is not None
    return item, run_from_item(item)


def retry(admin: RunsAdmin, run: Run) -> WriteResult:
    return admin.request_manual_retry(
        run=run,
        attempt=run.attempt + 1,
        max_attempts=run.max_attempts,
        max_records=50,
        side_effect=LEASE,
        record={"attempt": run.attempt + 1, "requestedAt": iso(T0)},
        abandoned=None,
        now=T0,
    )


# --------------------------------------------------------------------------------------------- reads
def test_reading_an_unknown_run_finds_nothing(admin: RunsAdmin) -> None:
    assert admin.read_item("s3-unknown") is None


def test_active_runs_come_newest_first_and_stop_at_the_limit(admin: RunsAdmin) -> None:
    # Given three running runs updated a minute apart, and a finished one
    for minute in range(3):
        put_run(f"running-{minute}", RunStatus.RUNNING, updated=T0 + timedelta(minutes=minute))
    put_run("done", RunStatus.SUCCEEDED, updated=T0 + timedelta(minutes=5))

    # When two RUNNING runs are asked for, then those updated since the second minute
    newest = admin.query_active(RunStatus.RUNNING, limit=2)
    recent = admin.query_active(RunStatus.RUNNING, since=iso(T0 + timedelta(minutes=1)), limit=10)

    # Then the two newest come, newest first; the time filter keeps the runs updated since then
    assert [item["runId"] for item in newest] == ["running-2", "running-1"]
    assert [item["runId"] for item in recent] == ["running-2", "running-1"]


def test_a_scan_within_its_budget_reads_the_whole_table_and_returns_the_finished_runs(admin: RunsAdmin) -> None:
    # Given two finished runs and a running one
    put_run("failed", RunStatus.FAILED)
    put_run("succeeded", RunStatus.SUCCEEDED)
    put_run("running", RunStatus.RUNNING)

    # When the finished runs are scanned for with room for every item
    found, scanned, complete = admin.scan_runs((RunStatus.FAILED, RunStatus.SUCCEEDED), max_items=100)

    # Then both are found, every item was read, and the scan says it saw the whole table
    assert sorted(item["runId"] for item in found) == ["failed", "succeeded"]
    assert (scanned, complete) == (3, True)


def test_a_scan_stops_at_its_budget_and_says_runs_may_be_missing(admin: RunsAdmin) -> None:
    # Given five failed runs
    for index in range(5):
        put_run(f"failed-{index}", RunStatus.FAILED)

    # When the scan may read two items
    found, scanned, complete = admin.scan_runs((RunStatus.FAILED,), max_items=2)

    # Then it read two, returned what it found in them, and reports the listing incomplete
    assert (len(found), scanned, complete) == (2, 2, False)


def test_a_workload_filter_keeps_its_runs_and_counts_runs_without_one_as_the_defaults(admin: RunsAdmin) -> None:
    # Given runs of two workloads, running and failed, and runs written before runs recorded their workload
    put_run("thumbs-running", RunStatus.RUNNING, workload="thumbnails")
    put_run("default-running", RunStatus.RUNNING, workload="default")
    put_run("old-running", RunStatus.RUNNING)
    put_run("thumbs-failed", RunStatus.FAILED, workload="thumbnails")
    put_run("old-failed", RunStatus.FAILED)

    # When each workload's runs are asked for, from the index and by the Scan
    thumbs = admin.query_active(RunStatus.RUNNING, workload="thumbnails", limit=10)
    default = admin.query_active(RunStatus.RUNNING, workload="default", limit=10)
    thumbs_failed, _, _ = admin.scan_runs((RunStatus.FAILED,), workload="thumbnails", max_items=100)
    default_failed, scanned, complete = admin.scan_runs((RunStatus.FAILED,), workload="default", max_items=100)
    unknown = admin.query_active(RunStatus.RUNNING, workload="reports", limit=10)

    # Then each gets its own; a run without a workload is the default workload's; the Scan still read everything
    assert [item["runId"] for item in thumbs] == ["thumbs-running"]
    assert sorted(item["runId"] for item in default) == ["default-running", "old-running"]
    assert [item["runId"] for item in thumbs_failed] == ["thumbs-failed"]
    assert [item["runId"] for item in default_failed] == ["old-failed"]
    assert (scanned, complete) == (5, True)
    assert unknown == []


def test_a_workload_filter_pages_past_other_workloads_runs_to_fill_the_limit(admin: RunsAdmin) -> None:
    # Given an old default run behind three newer runs of another workload
    put_run("old-default", RunStatus.RUNNING, updated=T0)
    for minute in range(1, 4):
        put_run(f"thumbs-{minute}", RunStatus.RUNNING, updated=T0 + timedelta(minutes=minute), workload="thumbnails")

    # When one default run is asked for (DynamoDB's Limit counts the items read, before the filter)
    found = admin.query_active(RunStatus.RUNNING, workload="default", limit=1)

    # Then the Query reads on until it finds one
    assert [item["runId"] for item in found] == ["old-default"]


# --------------------------------------------------------------------------------------- manual retry
def test_a_manual_retry_makes_the_failed_run_wait_for_its_next_attempt_and_never_expire(admin: RunsAdmin) -> None:
    # Given a run that failed for good, finished and so set to expire
    put_run("failed", RunStatus.FAILED, jobId="job-1", expiresAt=1_900_000_000)
    _, run = read(admin, "failed")

    # When the operator retries it
    written = retry(admin, run)

    # Then it waits for attempt 2 under the retry lease, active again and no longer expiring
    item, after = read(admin, "failed")
    assert written.applied
    assert written.run == after
    assert (after.status, after.attempt, after.progress) == (
        RunStatus.RETRY_WAIT,
        2,
        progress_of(2, RunStatus.RETRY_WAIT),
    )
    assert item["activeStatus"] == RunStatus.RETRY_WAIT.value
    assert (after.job_id, after.last_job_id, after.side_effect) == (None, "job-1", LEASE)
    assert "expiresAt" not in item
    assert item["manualRetries"] == [{"attempt": 2, "requestedAt": iso(T0)}]


def test_a_manual_retry_of_a_run_that_moved_since_it_was_read_changes_nothing(admin: RunsAdmin) -> None:
    # Given a failed run read by the operator, then retried by someone else
    put_run("failed", RunStatus.FAILED)
    _, seen = read(admin, "failed")
    assert retry(admin, seen).applied
    before, _ = read(admin, "failed")

    # When the operator's retry of what they saw is written
    written = retry(admin, seen)

    # Then it is refused with the run as it now is, and the item is untouched
    after, current = read(admin, "failed")
    assert not written.applied
    assert written.run == current
    assert after == before


def test_a_manual_retry_whose_first_answer_was_lost_is_reported_applied_once(
    admin: RunsAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a retry whose write was applied but whose answer was lost: botocore sends the same request
    # (the same write id) again, and its condition now fails
    write_id = SimpleNamespace(hex="the-one-write")
    monkeypatch.setattr(conditional_writes, "uuid", SimpleNamespace(uuid4=lambda: write_id))
    put_run("failed", RunStatus.FAILED)
    _, run = read(admin, "failed")
    assert retry(admin, run).applied

    # When the retried request is answered
    written = retry(admin, run)

    # Then it is reported as applied, and the run holds one attempt and one record, not two
    item, after = read(admin, "failed")
    assert written.applied
    assert written.run == after
    assert after.attempt == 2
    assert len(item["manualRetries"]) == 1
