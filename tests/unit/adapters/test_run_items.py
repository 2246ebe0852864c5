"""The runs table's item mapping: a stored item, as DynamoDB returns it, reads back as the Run it holds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from batch_orchestrator.adapters.run_items import (
    active_run_from_item,
    attribute_names,
    from_attribute_values,
    run_from_item,
    side_effect_attribute,
    to_attribute_values,
)
from batch_orchestrator.models import AttemptRecord, RunStatus, S3Source, SideEffect, progress_of

SOURCE = S3Source(bucket="input", key="incoming/report.csv", version_id="v1", size=12)


def stored(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as a read returns them: through DynamoDB's attribute values, numbers as Decimal."""
    return from_attribute_values(to_attribute_values(values))


def failed_run_values() -> dict[str, Any]:
    return {
        "runId": "run-1",
        "status": RunStatus.FAILED.value,
        "attempt": 2,
        "maxAttempts": 3,
        "progress": progress_of(2, RunStatus.FAILED),
        "source": SOURCE.to_dict(),
        "jobId": "job-2",
        "exitCode": 3,
        "claimedUntil": 1_800_000_000,
        "history": [
            AttemptRecord(attempt=1, job_id="job-1", status=RunStatus.FAILED, exit_code=3, started_at=5).to_dict()
        ],
    }


def test_a_stored_run_reads_back_with_its_numbers_as_ints() -> None:
    # Given a failed run as a read returns it (every number a Decimal)
    item = stored(failed_run_values())
    assert isinstance(item["attempt"], Decimal)

    # When it is read as a Run
    run = run_from_item(item)

    # Then every field holds the stored value, numbers as int
    assert (run.run_id, run.status, run.attempt, run.max_attempts) == ("run-1", RunStatus.FAILED, 2, 3)
    assert run.source == SOURCE
    assert (run.job_id, run.exit_code, run.claimed_until) == ("job-2", 3, 1_800_000_000)
    assert type(run.exit_code) is int
    assert run.history == (
        AttemptRecord(attempt=1, job_id="job-1", status=RunStatus.FAILED, exit_code=3, started_at=5),
    )
    assert run.side_effect is None


def test_a_side_effect_lease_is_stored_and_read_back_unchanged() -> None:
    # Given a run carrying an alert lease
    lease = SideEffect(kind="alert", token="t-1", due=1_800_000_300, job_id="job-2")
    item = stored({**failed_run_values(), "sideEffect": side_effect_attribute(lease)})

    # When it is read
    run = run_from_item(item)

    # Then the lease is the one written
    assert run.side_effect == lease


@pytest.mark.parametrize("missing", ["runId", "status", "attempt", "maxAttempts", "source", "progress"])
def test_an_item_without_an_attribute_every_run_has_is_refused(missing: str) -> None:
    # Given a stored run without one of its required attributes (an item our code did not write)
    values = failed_run_values()
    del values[missing]

    # When / Then reading it raises instead of inventing a value (the watchdog reports it as unreadable)
    with pytest.raises(KeyError):
        run_from_item(stored(values))


def test_an_active_run_carries_the_watchdog_markers_and_counts_no_resubmission_by_default() -> None:
    # Given a run in the sparse index with a stuck alert marked, never resubmitted
    item = stored({**failed_run_values(), "stuckAlertedFor": "episode-1"})

    # When it is read as an active run
    active = active_run_from_item(item)

    # Then the marker is there and no resubmission is counted
    assert active.run == run_from_item(item)
    assert active.stuck_alerted_for == "episode-1"
    assert active.cancel_requested_for is None
    assert active.resubmissions == 0


def test_every_hash_name_of_the_expressions_stands_for_the_attribute_of_that_name() -> None:
    # Given an update and a condition that use nested paths and a reserved word (status)
    update = "SET #sideEffect.#token = :token REMOVE #status"
    condition = "#sideEffect.#token = :previous AND attribute_exists(#runId)"

    # When their attribute names are made
    names = attribute_names(update, condition)

    # Then each placeholder maps to its attribute, and values (":name") are not taken for names
    assert names == {"#sideEffect": "sideEffect", "#token": "token", "#status": "status", "#runId": "runId"}
