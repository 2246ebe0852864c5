"""Job state changes (batch_orchestrator.batch_events): statuses, exit codes, reasons, timeouts, native retries
and multi-container jobs, read from the Batch events and DescribeJobs entries."""

from __future__ import annotations

from typing import Any

import pytest

from batch_orchestrator.batch_events import parse_describe_jobs_entry, parse_job_state_change
from batch_orchestrator.job_outcome import extract_failure
from batch_orchestrator.models import JobFailure, JobObservation, RunStatus
from tests.support.events import load_event

QUEUE_ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/batch-orchestrator-queue"
RUN_A = "s3-a0637ba6c419da5c9c05b216"  # batch_runnable / batch_running / batch_succeeded


def observe(event: dict[str, Any]) -> JobObservation:
    obs = parse_job_state_change(event)
    assert isinstance(obs, JobObservation), f"expected one of our jobs, got {obs}"
    return obs


# ---------------------------------------------------------------------------------------- job state changes


def test_runnable_event_becomes_an_observation() -> None:
    # Given
    event = load_event("batch_runnable.json")

    # When
    obs = observe(event)

    # Then
    assert (obs.run_id, obs.attempt, obs.status) == (RUN_A, 1, RunStatus.RUNNABLE)
    assert obs.job_id == "550206a6-0214-42e7-9386-4597a5bdeb2e"
    assert obs.job_name == f"{RUN_A}-a1-my_report_2026_csv"
    assert obs.job_queue == QUEUE_ARN
    assert obs.batch_attempts == 0
    assert obs.created_at == 1795256100000
    assert (obs.started_at, obs.stopped_at, obs.exit_code, obs.log_stream_name) == (None, None, None, None)


def test_running_event_carries_the_log_stream_and_start_time() -> None:
    # Given
    event = load_event("batch_running.json")

    # When
    obs = observe(event)

    # Then
    assert obs.status is RunStatus.RUNNING
    assert obs.log_stream_name == "batch-orchestrator/default/7a9b5cbaf36c4f2a22c5ab17b7a6017c"
    assert obs.started_at == 1795256160512
    assert obs.stopped_at is None


def test_succeeded_event_has_exit_code_zero_and_sorts_after_running() -> None:
    # Given
    running, succeeded = load_event("batch_running.json"), load_event("batch_succeeded.json")

    # When
    obs = observe(succeeded)

    # Then
    assert obs.status is RunStatus.SUCCEEDED
    assert obs.exit_code == 0
    assert obs.stopped_at == 1795256401204
    assert obs.batch_attempts == 1
    assert obs.progress > observe(running).progress


def test_submitted_status_maps_to_submitted() -> None:
    # Given: Batch emits no event for submission, but DescribeJobs reports the status
    job = load_event("batch_runnable.json")["detail"] | {"status": "SUBMITTED"}

    # When
    obs = parse_describe_jobs_entry(job)

    # Then
    assert isinstance(obs, JobObservation)
    assert obs.status is RunStatus.SUBMITTED


def test_failed_with_exit_code_3() -> None:
    # Given
    event = load_event("batch_failed_exit_3.json")

    # When
    obs = observe(event)

    # Then
    assert obs.status is RunStatus.FAILED
    assert obs.failure == JobFailure(
        exit_code=3,
        reason="Essential container in task exited",
        timed_out=False,
        status_reason="Essential container in task exited",
    )
    assert obs.log_stream_name == "batch-orchestrator/default/e10b4c8b7550d98702c1767ed0888b37"


def test_native_retries_report_the_final_attempt() -> None:
    # Given: two infrastructure failures without exit code, then exit code 1
    event = load_event("batch_failed_native_retries.json")

    # When
    obs = observe(event)

    # Then
    assert obs.attempt == 2  # the orchestrator's attempt, from the tags
    assert obs.batch_attempts == 3
    assert obs.exit_code == 1
    assert obs.log_stream_name == "batch-orchestrator/default/20b334cb2d8ceac5da0e519d9c119665"
    assert (obs.started_at, obs.stopped_at) == (1795256881330, 1795257004118)


def test_times_come_from_the_last_attempt_when_the_job_has_none() -> None:
    # Given
    event = load_event("batch_failed_native_retries.json")
    del event["detail"]["startedAt"], event["detail"]["stoppedAt"]

    # When
    obs = observe(event)

    # Then: the final attempt's times, not the first attempt's
    assert (obs.started_at, obs.stopped_at) == (1795256881330, 1795257004118)


def test_exit_code_comes_from_the_last_attempt_when_the_job_has_none() -> None:
    # Given: no top-level container, and an earlier attempt that exited with 75
    detail = load_event("batch_failed_native_retries.json")["detail"]
    del detail["container"]
    detail["attempts"][0]["container"]["exitCode"] = 75

    # When
    failure = extract_failure(detail)

    # Then
    assert failure.exit_code == 1


def test_a_runnable_job_after_a_native_retry_reports_no_outcome_yet() -> None:
    # Given: Batch put the job back to RUNNABLE; attempts[] holds the attempt that failed with 1
    detail = load_event("batch_failed_native_retries.json")["detail"]
    detail.update(status="RUNNABLE")
    for key in ("statusReason", "startedAt", "stoppedAt"):
        del detail[key]
    del detail["container"]["exitCode"]

    # When
    obs = parse_describe_jobs_entry(detail)

    # Then
    assert isinstance(obs, JobObservation)
    assert obs.status is RunStatus.RUNNABLE
    assert obs.batch_attempts == 3
    assert (obs.exit_code, obs.status_reason, obs.started_at, obs.stopped_at) == (None, None, None, None)


def test_spot_reclaim_is_a_failure_without_exit_code() -> None:
    # Given
    event = load_event("batch_failed_spot_reclaim.json")

    # When
    obs = observe(event)

    # Then
    assert obs.failure == JobFailure(
        exit_code=None,
        reason="Host EC2 (instance i-0abc9876fed543210) terminated.",
        timed_out=False,
        status_reason="Host EC2 (instance i-0abc9876fed543210) terminated.",
    )
    assert obs.batch_attempts == 2


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("container", "CannotPullContainerError: from the job's container"),
        ("attempt container", "CannotPullContainerError: from the last attempt's container"),
        ("status", "Task failed to start"),
        ("attempt status", "Host EC2 (instance i-0abc9876fed543210) terminated."),
    ],
)
def test_reason_without_exit_code_prefers_the_container_reason(where: str, expected: str) -> None:
    # Given: the spot-reclaim job, with reasons filled down to `where` and the ones above removed
    detail = load_event("batch_failed_spot_reclaim.json")["detail"]
    detail.pop("statusReason")
    if where in ("container", "attempt container", "status"):
        detail["statusReason"] = "Task failed to start"
    if where in ("container", "attempt container"):
        detail["attempts"][-1]["container"]["reason"] = "CannotPullContainerError: from the last attempt's container"
    if where == "container":
        detail["container"]["reason"] = "CannotPullContainerError: from the job's container"

    # When
    failure = extract_failure(detail)

    # Then
    assert failure.exit_code is None
    assert failure.reason == expected


def test_timeout_is_flagged_and_has_no_exit_code() -> None:
    # Given
    event = load_event("batch_failed_timeout.json")

    # When
    obs = observe(event)

    # Then
    assert obs.run_id == "sch-9f98860f6ac03feec6d317e1"
    assert obs.failure == JobFailure(
        exit_code=None,
        reason="Job attempt duration exceeded timeout",
        timed_out=True,
        status_reason="Job attempt duration exceeded timeout",
    )


def test_timeout_is_flagged_even_when_the_killed_container_reports_137() -> None:
    # Given: SIGKILL after the grace period leaves an exit code behind
    detail = load_event("batch_failed_timeout.json")["detail"]
    detail["container"]["exitCode"] = 137

    # When
    failure = extract_failure(detail)

    # Then
    assert failure == JobFailure(
        exit_code=137,
        reason="Job attempt duration exceeded timeout",
        timed_out=True,
        status_reason="Job attempt duration exceeded timeout",
    )


def test_timeout_is_recognised_from_the_last_attempt() -> None:
    # Given
    detail = load_event("batch_failed_timeout.json")["detail"]
    del detail["statusReason"]

    # When / Then
    assert extract_failure(detail).timed_out is True


def test_an_ordinary_failure_is_not_a_timeout() -> None:
    # Given
    detail = load_event("batch_failed_exit_3.json")["detail"]

    # When / Then
    assert extract_failure(detail).timed_out is False


# ---------------------------------------------------------------------------------------- multi-container jobs


def test_multi_container_job_reports_its_essential_container() -> None:
    # Given: a non-essential sidecar killed with 137 (and an OOM reason) next to the main container's 4
    event = load_event("batch_failed_multi_container.json")

    # When
    obs = observe(event)

    # Then
    assert obs.failure == JobFailure(
        exit_code=4,
        reason="Essential container in task exited",
        timed_out=False,
        status_reason="Essential container in task exited",
    )
    assert obs.log_stream_name == "batch-orchestrator/main/abbb06af9188a9ff5387d132af81e436"


def test_multi_container_exit_code_from_the_last_attempt_uses_essential_flags_by_name() -> None:
    # Given: only the attempt's task containers carry exit codes; they have no `essential`
    detail = load_event("batch_failed_multi_container.json")["detail"]
    for container in detail["ecsProperties"]["taskProperties"][0]["containers"]:
        del container["exitCode"]

    # When
    failure = extract_failure(detail)

    # Then
    assert failure.exit_code == 4


def test_containers_without_essential_flag_count_as_essential() -> None:
    # Given: Batch assumes a container is essential when the flag is omitted
    detail = load_event("batch_failed_multi_container.json")["detail"]
    for container in detail["ecsProperties"]["taskProperties"][0]["containers"]:
        del container["essential"]

    # When
    failure = extract_failure(detail)

    # Then: the first non-zero exit code, the sidecar's
    assert failure.exit_code == 137
    assert failure.reason == "OutOfMemoryError: Container killed due to memory usage"


def test_a_failed_essential_container_wins_over_one_that_exited_zero() -> None:
    # Given: two essential containers, the first of which finished cleanly
    detail = load_event("batch_failed_multi_container.json")["detail"]
    sidecar = detail["ecsProperties"]["taskProperties"][0]["containers"][0]
    sidecar.update(essential=True, exitCode=0)
    del sidecar["reason"]

    # When / Then
    assert extract_failure(detail).exit_code == 4


def test_multi_container_success_reports_exit_code_zero() -> None:
    # Given
    detail = load_event("batch_failed_multi_container.json")["detail"]
    detail.update(status="SUCCEEDED")
    for container in detail["ecsProperties"]["taskProperties"][0]["containers"]:
        container["exitCode"] = 0

    # When / Then
    assert extract_failure(detail).exit_code == 0
