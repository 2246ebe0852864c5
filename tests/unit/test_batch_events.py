"""Which Batch events are ours and how they are read (batch_orchestrator.batch_events): run identity, foreign
and array jobs, dispatch on detail-type, DescribeJobs entries, malformed events, clipped free text.

Job state changes: test_batch_events_job_states.py; queue-blocked events: test_batch_events_queue_blocked.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from batch_orchestrator.batch_events import (
    IGNORED_ARRAY_CHILD,
    IGNORED_NOT_OURS,
    Ignored,
    parse_describe_jobs_entry,
    parse_event,
    parse_job_state_change,
    parse_queue_blocked,
    run_identity,
)
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.job_outcome import REASON_MAX_CHARS, extract_failure
from batch_orchestrator.models import JobFailure, JobObservation, QueueBlocked, RunStatus
from tests.support.events import load_event

RUN_ID = "s3-0123456789abcdef01234567"
OTHER_RUN_ID = "sch-fedcba9876543210fedcba98"

JOB_STATE_SAMPLES = [
    "batch_runnable.json",
    "batch_running.json",
    "batch_succeeded.json",
    "batch_failed_exit_3.json",
    "batch_failed_native_retries.json",
    "batch_failed_spot_reclaim.json",
    "batch_failed_timeout.json",
    "batch_failed_multi_container.json",
]
FAILED_SAMPLES = [name for name in JOB_STATE_SAMPLES if name.startswith("batch_failed_")]


def observe(event: dict[str, Any]) -> JobObservation:
    obs = parse_job_state_change(event)
    assert isinstance(obs, JobObservation), f"expected one of our jobs, got {obs}"
    return obs


# ---------------------------------------------------------------------------------------- identity


def test_tags_identify_the_run_even_when_the_name_says_otherwise() -> None:
    # Given
    detail = {
        "jobName": f"{OTHER_RUN_ID}-a1-report_csv",
        "tags": {"batch-orchestrator:run-id": RUN_ID, "batch-orchestrator:attempt": "2"},
    }

    # When
    identity = run_identity(detail)

    # Then
    assert identity == (RUN_ID, 2)


@pytest.mark.parametrize(
    ("job_name", "expected"),
    [
        (f"{RUN_ID}-a1-my_report_2026_csv", (RUN_ID, 1)),
        (f"{RUN_ID}-a3", (RUN_ID, 3)),
        (f"{RUN_ID}-a99-x", (RUN_ID, 99)),
        (f"{OTHER_RUN_ID}-a12-batch-orchestrator-schedule", (OTHER_RUN_ID, 12)),
    ],
)
def test_without_tags_the_job_name_identifies_the_run(job_name: str, expected: tuple[str, int]) -> None:
    # Given
    detail = {"jobName": job_name}

    # When / Then
    assert run_identity(detail) == expected


@pytest.mark.parametrize(
    "job_name",
    [
        "nightly-etl-20261121",
        "s3-0123456789abcdef0123456-a1-x",  # 23 hex digits
        "s3-0123456789ABCDEF01234567-a1-x",  # upper-case hex
        "gs-0123456789abcdef01234567-a1-x",
        f"{RUN_ID}-a0-x",
        f"{RUN_ID}-a100-x",
        f"{RUN_ID}-a01-x",
        f"{RUN_ID}-x1",
        f"{RUN_ID}-a1-",
        f"{RUN_ID}-a1-report.csv",
        f"{RUN_ID}-a1\n",
        f"copy-of-{RUN_ID}-a1",
    ],
)
def test_names_outside_the_contract_are_not_ours(job_name: str) -> None:
    # Given
    detail = {"jobName": job_name}

    # When / Then
    assert run_identity(detail) is None


def test_invalid_tags_fall_back_to_the_job_name() -> None:
    # Given: a half-written or foreign pair of tags
    detail = {
        "jobName": f"{RUN_ID}-a4-x",
        "tags": {"batch-orchestrator:run-id": "run-42", "batch-orchestrator:attempt": "4"},
    }

    # When / Then
    assert run_identity(detail) == (RUN_ID, 4)
    assert run_identity({**detail, "jobName": "nightly-etl"}) is None


# ---------------------------------------------------------------------------------------- not ours, array jobs


def test_a_job_from_elsewhere_is_ignored() -> None:
    # Given
    event = load_event("batch_not_ours.json")

    # When / Then
    ignored = Ignored(IGNORED_NOT_OURS, job_name="nightly-etl-20261121")
    assert parse_job_state_change(event) == ignored
    assert parse_event(event) == ignored
    assert parse_describe_jobs_entry(event["detail"]) == ignored


def test_a_foreign_job_is_ignored_before_its_optional_fields_are_read() -> None:
    # Given: a field we would reject in one of our jobs
    event = load_event("batch_not_ours.json")
    event["detail"]["container"]["exitCode"] = "zero"

    # When / Then
    assert parse_job_state_change(event) == Ignored(IGNORED_NOT_OURS, job_name=event["detail"]["jobName"])


@pytest.mark.parametrize(
    "child",
    [
        {"jobId": "550206a6-0214-42e7-9386-4597a5bdeb2e:3", "arrayProperties": {"index": 3}},
        {"arrayProperties": {"index": 0}},
        {"jobId": "550206a6-0214-42e7-9386-4597a5bdeb2e:7"},
    ],
)
def test_array_children_are_ignored(child: dict[str, Any]) -> None:
    # Given: a child of an array job carrying our run's name and tags
    event = load_event("batch_running.json")
    event["detail"].update(child)

    # When / Then
    assert parse_job_state_change(event) == Ignored(IGNORED_ARRAY_CHILD, job_name=event["detail"]["jobName"])


def test_an_array_parent_speaks_for_the_run() -> None:
    # Given: a parent whose child failed; the parent itself has no container exit code
    event = load_event("batch_failed_exit_3.json")
    detail = event["detail"]
    detail.update(
        arrayProperties={"size": 4, "statusSummary": {"SUCCEEDED": 3, "FAILED": 1}},
        attempts=[],
        statusReason="Array Child Job failed",
    )
    del detail["container"]

    # When
    obs = observe(event)

    # Then
    assert obs.status is RunStatus.FAILED
    assert obs.failure == JobFailure(
        exit_code=None, reason="Array Child Job failed", timed_out=False, status_reason="Array Child Job failed"
    )


# ---------------------------------------------------------------------------------------- dispatch and consistency


@pytest.mark.parametrize(
    ("name", "expected_type"),
    [(name, JobObservation) for name in JOB_STATE_SAMPLES] + [("batch_queue_blocked.json", QueueBlocked)],
)
def test_parse_event_dispatches_on_detail_type(
    name: str, expected_type: type[JobObservation] | type[QueueBlocked]
) -> None:
    # Given
    event = load_event(name)

    # When
    parsed = parse_event(event)

    # Then
    assert isinstance(parsed, expected_type)


@pytest.mark.parametrize("name", JOB_STATE_SAMPLES)
def test_describe_jobs_entry_reads_like_the_event(name: str) -> None:
    # Given: the event's detail mirrors a DescribeJobs jobs[] entry
    event = load_event(name)

    # When
    from_describe = parse_describe_jobs_entry(event["detail"])

    # Then
    assert from_describe == parse_job_state_change(event)


@pytest.mark.parametrize("name", FAILED_SAMPLES)
def test_observation_failure_matches_extract_failure(name: str) -> None:
    # Given
    event = load_event(name)

    # When
    obs = observe(event)

    # Then
    assert obs.failure == extract_failure(event["detail"])


# ---------------------------------------------------------------------------------------- malformed events


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the event at a dotted path (`[n]` for list items); value None deletes it."""

    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.replace("[", ".").replace("]", "").split(".")
        node: Any = event
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


@pytest.mark.parametrize(
    ("sample", "mutate", "message"),
    [
        ("batch_failed_exit_3.json", _set("source", "aws.ecs"), "source is 'aws.ecs'"),
        ("batch_failed_exit_3.json", _set("detail", None), "detail is missing"),
        ("batch_failed_exit_3.json", _set("detail", ["not", "a", "map"]), "detail is list"),
        ("batch_failed_exit_3.json", _set("detail.jobId", None), "detail.jobId is missing"),
        ("batch_failed_exit_3.json", _set("detail.jobName", 42), "detail.jobName is int 42"),
        ("batch_failed_exit_3.json", _set("detail.jobQueue", ""), "detail.jobQueue is empty"),
        ("batch_failed_exit_3.json", _set("detail.status", None), "detail.status is missing"),
        ("batch_failed_exit_3.json", _set("detail.status", "CANCELLED"), "detail.status is 'CANCELLED'"),
        ("batch_failed_exit_3.json", _set("detail.status", "RETRY_WAIT"), "detail.status is 'RETRY_WAIT'"),
        ("batch_failed_exit_3.json", _set("detail.attempts", "three"), "detail.attempts is str"),
        ("batch_failed_exit_3.json", _set("detail.attempts[0]", 7), "detail.attempts[0] is int"),
        ("batch_failed_exit_3.json", _set("detail.container.exitCode", "3"), "detail.container.exitCode is str"),
        ("batch_failed_exit_3.json", _set("detail.container.exitCode", True), "detail.container.exitCode is bool"),
        ("batch_failed_exit_3.json", _set("detail.container", "none"), "detail.container is str"),
        ("batch_failed_exit_3.json", _set("detail.createdAt", "yesterday"), "detail.createdAt is str"),
        (
            "batch_failed_exit_3.json",
            _set("detail.attempts[0].container.logStreamName", 5),
            "detail.attempts[0].container.logStreamName is int",
        ),
        (
            "batch_failed_multi_container.json",
            _set("detail.ecsProperties.taskProperties[0].containers[1].essential", "yes"),
            "detail.ecsProperties.taskProperties[0].containers[1].essential is str",
        ),
        ("batch_queue_blocked.json", _set("detail.statusReason", None), "detail.statusReason is missing"),
        ("batch_queue_blocked.json", _set("detail.jobId", None), "detail.jobId is missing"),
        (
            "batch_queue_blocked.json",
            lambda e: (e["detail"].pop("jobQueue"), e.pop("resources")),
            "no job-queue ARN",
        ),
        ("batch_failed_exit_3.json", _set("detail-type", "Batch Service Job State Change"), "detail-type is"),
    ],
)
def test_malformed_events_are_rejected_naming_the_problem(
    sample: str, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    # Given
    event = load_event(sample)
    mutate(event)

    # When / Then
    with pytest.raises(MalformedMessage, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_event(event)


def test_an_event_that_is_not_an_object_is_malformed() -> None:
    # When / Then
    with pytest.raises(MalformedMessage, match="event is list"):
        parse_event([])  # type: ignore[arg-type]


def test_a_describe_jobs_entry_that_is_not_an_object_is_malformed() -> None:
    # When / Then
    with pytest.raises(MalformedMessage, match="job is str"):
        parse_describe_jobs_entry("550206a6")  # type: ignore[arg-type]


def test_the_specific_parsers_reject_the_other_detail_type() -> None:
    # Given
    state_change, blocked = load_event("batch_running.json"), load_event("batch_queue_blocked.json")

    # When / Then
    with pytest.raises(MalformedMessage, match="expected 'Batch Job State Change'"):
        parse_job_state_change(blocked)
    with pytest.raises(MalformedMessage, match="expected 'Batch Job Queue Blocked'"):
        parse_queue_blocked(state_change)


# ---------------------------------------------------------------------------------------- bounded free text

# Batch documents no maximum for statusReason; a reason far beyond anything it sends.
_HUGE = 200_000


def test_status_and_container_reasons_are_clipped_to_the_stored_maximum() -> None:
    """Every reason the parser returns fits REASON_MAX_CHARS, whatever Batch sends: the run record keeps
    one per attempt, and DynamoDB refuses items over 400 KB."""
    # Given: a failure without exit code whose reasons are far longer than any we store
    event = load_event("batch_failed_spot_reclaim.json")
    event["detail"]["statusReason"] = "CannotStartContainerError: " + "s" * _HUGE
    event["detail"]["container"]["reason"] = "ResourceInitializationError: " + "c" * _HUGE

    # When
    obs = observe(event)

    # Then: clipped at the end, so the code a reason starts with (and rules match on) survives
    assert obs.status_reason is not None
    assert obs.container_reason is not None
    assert len(obs.status_reason) == REASON_MAX_CHARS
    assert len(obs.container_reason) == REASON_MAX_CHARS
    assert obs.status_reason.startswith("CannotStartContainerError: sss")
    assert obs.container_reason.startswith("ResourceInitializationError: ccc")
    assert obs.failure == extract_failure(event["detail"])
    assert len(obs.failure.reason or "") == REASON_MAX_CHARS


def test_a_reason_within_the_maximum_is_kept_whole() -> None:
    # Given
    event = load_event("batch_failed_spot_reclaim.json")
    reason = "x" * REASON_MAX_CHARS
    event["detail"]["statusReason"] = reason
    event["detail"]["container"].pop("reason", None)

    # When
    obs = observe(event)

    # Then
    assert obs.status_reason == reason


def test_a_timeout_is_recognised_even_when_its_reason_is_clipped() -> None:
    # Given: the timeout phrase lies beyond the clipped part
    event = load_event("batch_failed_timeout.json")
    event["detail"]["statusReason"] = "x" * _HUGE + " Job attempt duration exceeded timeout"

    # When
    obs = observe(event)

    # Then
    assert obs.timed_out is True
    assert len(obs.status_reason or "") == REASON_MAX_CHARS


def test_queue_blocked_reason_is_clipped_and_keeps_its_code() -> None:
    # Given
    event = load_event("batch_queue_blocked.json")
    event["detail"]["statusReason"] = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - " + "x" * _HUGE

    # When
    blocked = parse_queue_blocked(event)

    # Then
    assert len(blocked.status_reason) == REASON_MAX_CHARS
    assert blocked.status_reason.startswith("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - x")
