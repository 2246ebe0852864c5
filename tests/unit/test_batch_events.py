"""Parsing AWS Batch events and DescribeJobs entries (batch_orchestrator.batch_events)."""

from __future__ import annotations

from typing import Any

import pytest

from batch_orchestrator.batch_events import (
    IGNORED_ARRAY_CHILD,
    IGNORED_NOT_OURS,
    REASON_MAX_CHARS,
    extract_failure,
    ignore_reason,
    parse_describe_jobs_entry,
    parse_event,
    parse_job_state_change,
    parse_queue_blocked,
    run_identity,
)
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.models import JobFailure, JobObservation, QueueBlocked, RunStatus
from tests.helpers import load_event

QUEUE_ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/batch-orchestrator-queue"
RUN_A = "s3-a0637ba6c419da5c9c05b216"  # batch_runnable / batch_running / batch_succeeded
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
    assert obs is not None, "expected one of our jobs"
    return obs


# ---------------------------------------------------------------------------------------- identity


def test_tags_identify_the_run_even_when_the_name_says_otherwise():
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
def test_without_tags_the_job_name_identifies_the_run(job_name, expected):
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
def test_names_outside_the_contract_are_not_ours(job_name):
    # Given
    detail = {"jobName": job_name}

    # When / Then
    assert run_identity(detail) is None


def test_invalid_tags_fall_back_to_the_job_name():
    # Given: a half-written or foreign pair of tags
    detail = {
        "jobName": f"{RUN_ID}-a4-x",
        "tags": {"batch-orchestrator:run-id": "run-42", "batch-orchestrator:attempt": "4"},
    }

    # When / Then
    assert run_identity(detail) == (RUN_ID, 4)
    assert run_identity({**detail, "jobName": "nightly-etl"}) is None


# ---------------------------------------------------------------------------------------- job state changes


def test_runnable_event_becomes_an_observation():
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


def test_running_event_carries_the_log_stream_and_start_time():
    # Given
    event = load_event("batch_running.json")

    # When
    obs = observe(event)

    # Then
    assert obs.status is RunStatus.RUNNING
    assert obs.log_stream_name == "batch-orchestrator/default/7a9b5cbaf36c4f2a22c5ab17b7a6017c"
    assert obs.started_at == 1795256160512
    assert obs.stopped_at is None


def test_succeeded_event_has_exit_code_zero_and_sorts_after_running():
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


def test_submitted_status_maps_to_submitted():
    # Given: Batch emits no event for submission, but DescribeJobs reports the status
    job = load_event("batch_runnable.json")["detail"] | {"status": "SUBMITTED"}

    # When
    obs = parse_describe_jobs_entry(job)

    # Then
    assert obs is not None
    assert obs.status is RunStatus.SUBMITTED


def test_failed_with_exit_code_3():
    # Given
    event = load_event("batch_failed_exit_3.json")

    # When
    obs = observe(event)

    # Then
    assert obs.status is RunStatus.FAILED
    assert obs.failure == JobFailure(exit_code=3, reason="Essential container in task exited", timed_out=False)
    assert obs.log_stream_name == "batch-orchestrator/default/e10b4c8b7550d98702c1767ed0888b37"


def test_native_retries_report_the_final_attempt():
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


def test_times_come_from_the_last_attempt_when_the_job_has_none():
    # Given
    event = load_event("batch_failed_native_retries.json")
    del event["detail"]["startedAt"], event["detail"]["stoppedAt"]

    # When
    obs = observe(event)

    # Then: the final attempt's times, not the first attempt's
    assert (obs.started_at, obs.stopped_at) == (1795256881330, 1795257004118)


def test_exit_code_comes_from_the_last_attempt_when_the_job_has_none():
    # Given: no top-level container, and an earlier attempt that exited with 75
    detail = load_event("batch_failed_native_retries.json")["detail"]
    del detail["container"]
    detail["attempts"][0]["container"]["exitCode"] = 75

    # When
    failure = extract_failure(detail)

    # Then
    assert failure.exit_code == 1


def test_a_runnable_job_after_a_native_retry_reports_no_outcome_yet():
    # Given: Batch put the job back to RUNNABLE; attempts[] holds the attempt that failed with 1
    detail = load_event("batch_failed_native_retries.json")["detail"]
    detail.update(status="RUNNABLE")
    for key in ("statusReason", "startedAt", "stoppedAt"):
        del detail[key]
    del detail["container"]["exitCode"]

    # When
    obs = parse_describe_jobs_entry(detail)

    # Then
    assert obs is not None
    assert obs.status is RunStatus.RUNNABLE
    assert obs.batch_attempts == 3
    assert (obs.exit_code, obs.status_reason, obs.started_at, obs.stopped_at) == (None, None, None, None)


def test_spot_reclaim_is_a_failure_without_exit_code():
    # Given
    event = load_event("batch_failed_spot_reclaim.json")

    # When
    obs = observe(event)

    # Then
    assert obs.failure == JobFailure(
        exit_code=None, reason="Host EC2 (instance i-0abc9876fed543210) terminated.", timed_out=False
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
def test_reason_without_exit_code_prefers_the_container_reason(where, expected):
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


def test_timeout_is_flagged_and_has_no_exit_code():
    # Given
    event = load_event("batch_failed_timeout.json")

    # When
    obs = observe(event)

    # Then
    assert obs.run_id == "sch-9f98860f6ac03feec6d317e1"
    assert obs.failure == JobFailure(exit_code=None, reason="Job attempt duration exceeded timeout", timed_out=True)


def test_timeout_is_flagged_even_when_the_killed_container_reports_137():
    # Given: SIGKILL after the grace period leaves an exit code behind
    detail = load_event("batch_failed_timeout.json")["detail"]
    detail["container"]["exitCode"] = 137

    # When
    failure = extract_failure(detail)

    # Then
    assert failure == JobFailure(exit_code=137, reason="Job attempt duration exceeded timeout", timed_out=True)


def test_timeout_is_recognised_from_the_last_attempt():
    # Given
    detail = load_event("batch_failed_timeout.json")["detail"]
    del detail["statusReason"]

    # When / Then
    assert extract_failure(detail).timed_out is True


def test_an_ordinary_failure_is_not_a_timeout():
    # Given
    detail = load_event("batch_failed_exit_3.json")["detail"]

    # When / Then
    assert extract_failure(detail).timed_out is False


# ---------------------------------------------------------------------------------------- multi-container jobs


def test_multi_container_job_reports_its_essential_container():
    # Given: a non-essential sidecar killed with 137 (and an OOM reason) next to the main container's 4
    event = load_event("batch_failed_multi_container.json")

    # When
    obs = observe(event)

    # Then
    assert obs.failure == JobFailure(exit_code=4, reason="Essential container in task exited", timed_out=False)
    assert obs.log_stream_name == "batch-orchestrator/main/abbb06af9188a9ff5387d132af81e436"


def test_multi_container_exit_code_from_the_last_attempt_uses_essential_flags_by_name():
    # Given: only the attempt's task containers carry exit codes; they have no `essential`
    detail = load_event("batch_failed_multi_container.json")["detail"]
    for container in detail["ecsProperties"]["taskProperties"][0]["containers"]:
        del container["exitCode"]

    # When
    failure = extract_failure(detail)

    # Then
    assert failure.exit_code == 4


def test_containers_without_essential_flag_count_as_essential():
    # Given: Batch assumes a container is essential when the flag is omitted
    detail = load_event("batch_failed_multi_container.json")["detail"]
    for container in detail["ecsProperties"]["taskProperties"][0]["containers"]:
        del container["essential"]

    # When
    failure = extract_failure(detail)

    # Then: the first non-zero exit code, the sidecar's
    assert failure.exit_code == 137
    assert failure.reason == "OutOfMemoryError: Container killed due to memory usage"


def test_a_failed_essential_container_wins_over_one_that_exited_zero():
    # Given: two essential containers, the first of which finished cleanly
    detail = load_event("batch_failed_multi_container.json")["detail"]
    sidecar = detail["ecsProperties"]["taskProperties"][0]["containers"][0]
    sidecar.update(essential=True, exitCode=0)
    del sidecar["reason"]

    # When / Then
    assert extract_failure(detail).exit_code == 4


def test_multi_container_success_reports_exit_code_zero():
    # Given
    detail = load_event("batch_failed_multi_container.json")["detail"]
    detail.update(status="SUCCEEDED")
    for container in detail["ecsProperties"]["taskProperties"][0]["containers"]:
        container["exitCode"] = 0

    # When / Then
    assert extract_failure(detail).exit_code == 0


# ---------------------------------------------------------------------------------------- not ours, array jobs


def test_a_job_from_elsewhere_is_ignored():
    # Given
    event = load_event("batch_not_ours.json")

    # When / Then
    assert parse_job_state_change(event) is None
    assert parse_event(event) is None
    assert ignore_reason(event["detail"]) == IGNORED_NOT_OURS


def test_a_foreign_job_is_ignored_before_its_optional_fields_are_read():
    # Given: a field we would reject in one of our jobs
    event = load_event("batch_not_ours.json")
    event["detail"]["container"]["exitCode"] = "zero"

    # When / Then
    assert parse_job_state_change(event) is None


@pytest.mark.parametrize(
    "child",
    [
        {"jobId": "550206a6-0214-42e7-9386-4597a5bdeb2e:3", "arrayProperties": {"index": 3}},
        {"arrayProperties": {"index": 0}},
        {"jobId": "550206a6-0214-42e7-9386-4597a5bdeb2e:7"},
    ],
)
def test_array_children_are_ignored(child):
    # Given: a child of an array job carrying our run's name and tags
    event = load_event("batch_running.json")
    event["detail"].update(child)

    # When / Then
    assert parse_job_state_change(event) is None
    assert ignore_reason(event["detail"]) == IGNORED_ARRAY_CHILD


def test_an_array_parent_speaks_for_the_run():
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
    assert obs.failure == JobFailure(exit_code=None, reason="Array Child Job failed", timed_out=False)
    assert ignore_reason(detail) is None


# ---------------------------------------------------------------------------------------- queue blocked


def test_queue_blocked_names_queue_job_reason_and_run():
    # Given
    event = load_event("batch_queue_blocked.json")

    # When
    blocked = parse_queue_blocked(event)

    # Then
    assert blocked == QueueBlocked(
        job_queue=QUEUE_ARN,
        job_id="81a30c4e-819d-450d-894c-45f6095b2f9d",
        job_name="s3-f465b014c95d872789ac978a-a1-genome-assembly_fastq",
        status_reason=(
            "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) "
            "is higher than that can be met by the CE(s) attached to the job queue."
        ),
        run_id="s3-f465b014c95d872789ac978a",
        attempt=1,
    )


def test_queue_blocked_by_a_foreign_job_is_still_reported():
    # Given
    event = load_event("batch_queue_blocked.json")
    detail = event["detail"]
    detail["jobName"] = "nightly-etl-20261121"
    del detail["tags"]

    # When
    blocked = parse_queue_blocked(event)

    # Then
    assert blocked.job_queue == QUEUE_ARN
    assert (blocked.run_id, blocked.attempt) == (None, None)


def test_queue_blocked_takes_the_queue_from_resources_when_detail_lacks_it():
    # Given
    event = load_event("batch_queue_blocked.json")
    del event["detail"]["jobQueue"]

    # When / Then
    assert parse_queue_blocked(event).job_queue == QUEUE_ARN


# ---------------------------------------------------------------------------------------- dispatch and consistency


@pytest.mark.parametrize(
    ("name", "expected_type"),
    [(name, JobObservation) for name in JOB_STATE_SAMPLES] + [("batch_queue_blocked.json", QueueBlocked)],
)
def test_parse_event_dispatches_on_detail_type(name, expected_type):
    # Given
    event = load_event(name)

    # When
    parsed = parse_event(event)

    # Then
    assert isinstance(parsed, expected_type)


@pytest.mark.parametrize("name", JOB_STATE_SAMPLES)
def test_describe_jobs_entry_reads_like_the_event(name):
    # Given: the event's detail mirrors a DescribeJobs jobs[] entry
    event = load_event(name)

    # When
    from_describe = parse_describe_jobs_entry(event["detail"])

    # Then
    assert from_describe == parse_job_state_change(event)


@pytest.mark.parametrize("name", FAILED_SAMPLES)
def test_observation_failure_matches_extract_failure(name):
    # Given
    event = load_event(name)

    # When
    obs = observe(event)

    # Then
    assert obs.failure == extract_failure(event["detail"])


# ---------------------------------------------------------------------------------------- malformed events


def _set(path: str, value: Any):
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
def test_malformed_events_are_rejected_naming_the_problem(sample, mutate, message):
    # Given
    event = load_event(sample)
    mutate(event)

    # When / Then
    with pytest.raises(MalformedMessage, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_event(event)


def test_an_event_that_is_not_an_object_is_malformed():
    # When / Then
    with pytest.raises(MalformedMessage, match="event is list"):
        parse_event([])  # type: ignore[arg-type]


def test_a_describe_jobs_entry_that_is_not_an_object_is_malformed():
    # When / Then
    with pytest.raises(MalformedMessage, match="job is str"):
        parse_describe_jobs_entry("550206a6")  # type: ignore[arg-type]


def test_the_specific_parsers_reject_the_other_detail_type():
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


def test_status_and_container_reasons_are_clipped_to_the_stored_maximum():
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


def test_a_reason_within_the_maximum_is_kept_whole():
    # Given
    event = load_event("batch_failed_spot_reclaim.json")
    reason = "x" * REASON_MAX_CHARS
    event["detail"]["statusReason"] = reason
    event["detail"]["container"].pop("reason", None)

    # When
    obs = observe(event)

    # Then
    assert obs.status_reason == reason


def test_a_timeout_is_recognised_even_when_its_reason_is_clipped():
    # Given: the timeout phrase lies beyond the clipped part
    event = load_event("batch_failed_timeout.json")
    event["detail"]["statusReason"] = "x" * _HUGE + " Job attempt duration exceeded timeout"

    # When
    obs = observe(event)

    # Then
    assert obs.timed_out is True
    assert len(obs.status_reason or "") == REASON_MAX_CHARS


def test_queue_blocked_reason_is_clipped_and_keeps_its_code():
    # Given
    event = load_event("batch_queue_blocked.json")
    event["detail"]["statusReason"] = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - " + "x" * _HUGE

    # When
    blocked = parse_queue_blocked(event)

    # Then
    assert len(blocked.status_reason) == REASON_MAX_CHARS
    assert blocked.status_reason.startswith("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - x")
