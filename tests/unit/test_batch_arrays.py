"""How Batch's array jobs are read (batch_orchestrator.batch_arrays, through batch_events): a parent's size and
children by status, a child-only retry's items from its parameters, the array size tag, a failed child as ListJobs
lists it; anything in another shape is malformed, never guessed."""

from __future__ import annotations

from typing import Any

import pytest

from batch_orchestrator.batch_arrays import child_failure
from batch_orchestrator.batch_events import IGNORED_ARRAY_CHILD, Ignored, parse_event
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import ARRAY_SIZE_TAG
from batch_orchestrator.job_outcome import REASON_MAX_CHARS, TIMEOUT_STATUS_REASON
from batch_orchestrator.models import ArrayState, ChildFailure, JobObservation, RunStatus
from tests.support.events import load_event

PARENT_ID = "ac811a7c-cc2d-44de-9301-a19549b33c70"


def parent_event(**changes: Any) -> dict[str, Any]:
    """A child-only retry's parent, FAILED: an array of 2 over items 1 and 4 of a 5-item array."""
    event = load_event("batch_failed_exit_3.json")
    detail = event["detail"]
    detail.update(container={}, attempts=[], parameters={"arrayItems": "1,4"})
    detail.pop("statusReason")
    detail["tags"][ARRAY_SIZE_TAG] = "5"
    detail["arrayProperties"] = {
        "size": 2,
        "statusSummary": {"FAILED": 1, "SUCCEEDED": 1, "RUNNING": 0},
        "statusSummaryLastUpdatedAt": 1795256284450,
    }
    for key, value in changes.items():
        if value is None:
            detail.pop(key, None)
        else:
            detail[key] = value
    return event


def observe(event: dict[str, Any]) -> JobObservation:
    parsed = parse_event(event)
    assert isinstance(parsed, JobObservation), parsed
    return parsed


def test_a_parent_event_reads_as_the_runs_job_with_its_children_items_and_size() -> None:
    # Given / When
    obs = observe(parent_event())

    # Then the run's job, FAILED without an exit code, with its array
    assert (obs.status, obs.exit_code, obs.job_id) == (RunStatus.FAILED, None, PARENT_ID)
    assert obs.array == ArrayState(size=2, status_summary=(("FAILED", 1), ("RUNNING", 0), ("SUCCEEDED", 1)))
    assert (obs.items, obs.array_size, obs.children) == ((1, 4), 5, 2)
    assert obs.failed_children is None  # listed later, by the tracker


def test_a_whole_array_has_no_items_and_a_single_job_no_array() -> None:
    # Given a first attempt (no parameters) and a single job of another workload (no arrayProperties, no tag)
    whole = observe(parent_event(parameters={}))
    single = observe(load_event("batch_failed_exit_3.json"))

    # Then
    assert (whole.items, whole.children) == ((), 5)
    assert (single.array, single.items, single.array_size) == (None, (), 0)


def test_a_child_is_still_ignored() -> None:
    # Given a child's event (its index, its parent's id)
    event = parent_event(jobId=f"{PARENT_ID}:1", arrayProperties={"index": 1})

    # Then only the parent speaks for the run
    assert parse_event(event) == Ignored(IGNORED_ARRAY_CHILD, event["detail"]["jobName"])


@pytest.mark.parametrize(
    ("changes", "fault"),
    [
        ({"parameters": {"arrayItems": "4,1"}}, "detail.parameters.arrayItems: array items '4,1'"),
        ({"parameters": {"arrayItems": 3}}, "detail.parameters.arrayItems is int 3, expected a string"),
        ({"parameters": {"arrayItems": "1,2,4"}}, "names 3 items for an array of 2 children"),
        ({"parameters": "arrayItems=1"}, "detail.parameters is str"),
        ({"arrayProperties": {"size": "2"}}, "detail.arrayProperties.size is str '2'"),
        ({"arrayProperties": {"size": 0}}, "detail.arrayProperties.size is 0"),
        ({"arrayProperties": {"size": 2, "statusSummary": {"FAILED": -1}}}, "statusSummary.FAILED is int -1"),
        ({"arrayProperties": {"size": 2, "statusSummary": []}}, "detail.arrayProperties.statusSummary is list"),
    ],
)
def test_an_array_field_in_another_shape_is_malformed(changes: dict[str, Any], fault: str) -> None:
    # Given a parent event with one field changed
    # When / Then it is refused, naming the field
    with pytest.raises(MalformedMessage, match=fault.replace("[", r"\[").replace("(", r"\(")):
        parse_event(parent_event(**changes))


@pytest.mark.parametrize("value", ["0", "05", "100001", "x", 3])
def test_an_array_size_tag_submit_never_writes_is_malformed(value: Any) -> None:
    event = parent_event()
    event["detail"]["tags"][ARRAY_SIZE_TAG] = value
    with pytest.raises(MalformedMessage, match="not an array size"):
        parse_event(event)


# ------------------------------------------------------------------------------------- ListJobs
def summary(**changes: Any) -> dict[str, Any]:
    """A failed child as ListJobs(arrayJobId, jobStatus=FAILED) lists it (a JobSummary)."""
    entry: dict[str, Any] = {
        "jobArn": f"arn:aws:batch:us-east-1:123456789012:job/{PARENT_ID}:3",
        "jobId": f"{PARENT_ID}:3",
        "jobName": "s3-28a53908eb866939d9ab86f8-a1-orders",
        "createdAt": 1795256101000,
        "status": "FAILED",
        "statusReason": "Essential container in task exited",
        "container": {"exitCode": 75, "reason": "exited"},
        "arrayProperties": {"index": 3},
    }
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def test_a_failed_child_is_read_with_its_index_exit_code_and_reasons() -> None:
    assert child_failure(summary(), "s") == ChildFailure(
        index=3, item=3, exit_code=75, reason="exited", status_reason="Essential container in task exited"
    )


def test_a_child_without_a_container_reason_or_exit_code_keeps_batchs_reason_and_a_timeout_is_told() -> None:
    child = child_failure(summary(container=None, statusReason=TIMEOUT_STATUS_REASON), "s")
    assert (child.exit_code, child.reason, child.timed_out) == (None, TIMEOUT_STATUS_REASON, True)


def test_a_summary_without_array_properties_takes_the_index_from_the_child_job_id() -> None:
    # moto's ListJobs leaves arrayProperties out; a child's id is "<parent id>:<index>" ("Array jobs")
    assert child_failure(summary(arrayProperties=None), "s").index == 3


def test_long_reasons_are_clipped() -> None:
    child = child_failure(summary(statusReason="r" * 5_000, container={}), "s")
    assert child.reason is not None
    assert len(child.reason) == REASON_MAX_CHARS


@pytest.mark.parametrize(
    ("changes", "fault"),
    [
        ({"arrayProperties": None, "jobId": PARENT_ID}, "expected a child's index"),
        ({"arrayProperties": {"index": -1}}, "expected a child's index"),
        ({"arrayProperties": {"index": "3"}}, "arrayProperties.index is str"),
        ({"container": {"exitCode": "75"}}, "container.exitCode is str"),
    ],
)
def test_a_summary_in_another_shape_is_malformed(changes: dict[str, Any], fault: str) -> None:
    with pytest.raises(MalformedMessage, match=fault):
        child_failure(summary(**changes), "s")
