"""The transition table: which runs-table change is which lifecycle event, and which changes publish nothing.

Every change comes from tests/support/lifecycle_changes.py (the run moved as the runs table's writes move it);
tests/e2e/test_lifecycle_events.py checks the real writes, through the real stream mapping, give the same events.
"""

from __future__ import annotations

import json
from copy import replace

import pytest

from batch_orchestrator.lifecycle_events import (
    TRANSITIONS,
    DetailType,
    ItemChange,
    RunImage,
    event_for,
    transition_of,
)
from batch_orchestrator.models import RunStatus
from tests.support.events import EVENTS_DIR
from tests.support.lifecycle_changes import (
    CONTEXT,
    FAILED_FOR_GOOD,
    NOT_TRANSITIONS,
    RUNNING_1,
    SAMPLES,
    WAITING_2,
    claimed,
    image,
)
from tests.support.lifecycle_changes import (
    TRANSITIONS as CHANGES,
)

SCHEMA = json.loads((EVENTS_DIR / "schemas" / "lifecycle-event.schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_each_transition_is_its_one_detail_type(name: str) -> None:
    # Given the change of one transition
    change, expected = CHANGES[name]

    # When its event is built
    event = event_for(change, CONTEXT)

    # Then it is exactly one event of the expected detail-type, keyed for deduplication
    assert event is not None
    assert event.detail_type.value == expected
    assert event.detail["eventKey"].split(":")[1] == transition_of(change).key  # type: ignore[union-attr]
    assert event_for(change, CONTEXT) == event  # the same change (a redelivered record): the same event and key


@pytest.mark.parametrize("name", sorted(NOT_TRANSITIONS))
def test_writes_that_are_no_transition_publish_nothing(name: str) -> None:
    assert event_for(NOT_TRANSITIONS[name], CONTEXT) is None


def test_the_table_the_schema_and_the_samples_name_the_same_detail_types() -> None:
    # Given the table, the schema's detail-types and branches, and the samples
    table = [t.detail_type for t in TRANSITIONS]
    schema_types = SCHEMA["properties"]["detail-type"]["enum"]
    branches = [branch["if"]["properties"]["detail-type"]["const"] for branch in SCHEMA["allOf"]]
    samples = {CHANGES[name][1] for name in SAMPLES.values()}

    # Then each detail-type has one table entry, one schema branch and one sample
    assert sorted(table) == sorted(DetailType)
    assert len(table) == len(set(table))
    assert sorted(schema_types) == sorted(branches) == sorted(t.value for t in DetailType) == sorted(samples)


def test_a_retry_wait_without_a_finished_attempt_is_not_a_failed_attempt() -> None:
    # Given the run moved to RETRY_WAIT without a history entry (no attempt ended in this write)
    change = ItemChange(image(RUNNING_1), image(replace(WAITING_2, history=())))

    # Then it is no transition (neither a failed attempt nor a finished step)
    assert event_for(change, CONTEXT) is None


def test_an_operator_retry_is_not_read_as_a_failed_attempt() -> None:
    # Given a FAILED run an operator retried (RETRY_WAIT, one more manualRetries entry) and the same write without it
    retried = replace(FAILED_FOR_GOOD, status=RunStatus.RETRY_WAIT, attempt=2)
    by_hand = ItemChange(image(FAILED_FOR_GOOD), image(retried, manual_retries=({"attempt": 2},)))
    unmarked = ItemChange(image(FAILED_FOR_GOOD), image(retried))

    # Then the first is a retry request, and a RETRY_WAIT from FAILED without the entry is none of the tracker's
    assert transition_of(by_hand).detail_type is DetailType.RUN_RETRY_REQUESTED  # type: ignore[union-attr]
    assert event_for(unmarked, CONTEXT) is None


def test_a_run_refused_at_submission_fails_without_starting() -> None:
    # Given a run created FAILED (refuse_first_attempt: its manifest cannot run)
    change = ItemChange(None, image(claimed(status=RunStatus.FAILED, status_reason="manifest holds 0 items")))

    # When its event is built
    event = event_for(change, CONTEXT)

    # Then it is Run Failed with the refusal's reason and no job
    assert event is not None
    assert (event.detail_type, event.detail["reason"]) == (DetailType.RUN_FAILED, "manifest holds 0 items")
    assert event.detail["job"]["jobId"] is None


def test_succeeded_again_after_an_alert_confirmation_is_not_a_second_success() -> None:
    # Given a SUCCEEDED run rewritten as SUCCEEDED (no status change)
    succeeded = CHANGES["succeeded"][0].new
    assert isinstance(succeeded, RunImage)

    # Then it publishes nothing
    assert event_for(ItemChange(succeeded, succeeded), CONTEXT) is None


def test_a_stuck_mark_for_a_new_stay_is_a_new_event_with_its_own_key() -> None:
    # Given a run marked stuck for one stay, then for a later one
    change, _ = CHANGES["stuck"]
    assert isinstance(change.new, RunImage)
    later = ItemChange(change.new, replace(change.new, stuck_alerted_for="10004@2026-03-14T03:00:00.000Z"))

    # Then both are Run Stuck events, deduplicated apart
    first, second = event_for(change, CONTEXT), event_for(later, CONTEXT)
    assert first is not None
    assert second is not None
    assert first.detail_type is second.detail_type is DetailType.RUN_STUCK
    assert first.detail["eventKey"] != second.detail["eventKey"]


def test_a_failed_attempt_says_which_attempt_failed_and_which_comes_next() -> None:
    event = event_for(CHANGES["attempt_failed"][0], CONTEXT)
    assert event is not None
    detail = event.detail
    assert (detail["attempt"], detail["exitCode"], detail["next"]["attempt"]) == (1, 75, 2)
    assert detail["job"]["jobId"] == RUNNING_1.job_id
    assert detail["timings"]["durationSeconds"] == 87.0
    assert detail["logUrl"].startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/")
