"""The body of a run-failed alert (batch_orchestrator.alerts): a readable text followed by the same data as
JSON, for every kind of source and failure."""

from __future__ import annotations

import json
from copy import replace

import pytest

from batch_orchestrator.alert_format import JSON_SEPARATOR
from batch_orchestrator.models import AttemptRecord, RunStatus
from tests.support.alert_builders import (
    EXHAUSTED,
    HISTORY,
    JOB_NAME,
    QUEUE_ARN,
    RUN_ID,
    UPLOAD,
    assert_sns_subject,
    failed_alert,
    make_observation,
    make_run,
    split_body,
)


def test_summary_comes_first_then_the_same_data_as_json() -> None:
    # When
    alert = failed_alert()
    summary, data = split_body(alert)

    # Then the summary leads, with every fact a subscriber needs to act
    assert summary.startswith(f"Run {RUN_ID} failed for good: attempt 3 of 3 exited with code 3.\n")
    for line in (
        "Input:         s3://acme-reports-input/incoming/2026/report 2026.csv"
        " (version 3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY)",
        f"Job:           {JOB_NAME}",
        "Job ID:        2e3d4c5b-6f70-4182-9cad-1e2f3a4b5c63",
        "Queue:         batch-orchestrator-jobs",
        "Attempt:       3 of 3",
        "Exit code:     3",
        "Reason:        Essential container in task exited",
        f"Decision:      {EXHAUSTED}",
        f"Run ID:        {RUN_ID}",
        "  1. FAILED, exit code 3, stopped 2026-03-14T02:01:42Z - Essential container in task exited",
        "  3. FAILED, exit code 3, stopped 2026-03-14T02:07:25Z - Essential container in task exited",
    ):
        assert line in summary.splitlines()
    assert summary.index("Input:") < summary.index("Logs:") < summary.index("Attempt history:")

    # And the JSON carries the same data
    assert data["alertType"] == "RUN_FAILED"
    assert data["runId"] == RUN_ID
    assert (
        data["input"]
        == "s3://acme-reports-input/incoming/2026/report 2026.csv (version 3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY)"
    )
    assert data["source"] == UPLOAD.to_dict()
    assert (data["jobName"], data["jobId"]) == (JOB_NAME, "2e3d4c5b-6f70-4182-9cad-1e2f3a4b5c63")
    assert (data["jobQueue"], data["jobQueueArn"]) == ("batch-orchestrator-jobs", QUEUE_ARN)
    assert (data["attempt"], data["maxAttempts"], data["exitCode"], data["timedOut"]) == (3, 3, 3, False)
    assert data["reason"] == "Essential container in task exited"
    assert data["decision"] == EXHAUSTED
    assert (data["startedAt"], data["stoppedAt"], data["durationSeconds"]) == (
        "2026-03-14T02:05:58Z",
        "2026-03-14T02:07:25Z",
        87,
    )
    assert data["logUrl"] in summary
    assert [entry["attempt"] for entry in data["history"]] == [1, 2, 3]
    assert data["history"][0] == {
        "attempt": 1,
        "jobId": "0c1b2a39-4d5e-4f60-8a7b-9c8d7e6f5a41",
        "status": "FAILED",
        "exitCode": 3,
        "reason": "Essential container in task exited",
        "logStreamName": "batch-orchestrator/default/5b0e3f1c2d4a4e8f9a7b6c5d4e3f2a10",
        "startedAt": "2026-03-14T02:00:15Z",
        "stoppedAt": "2026-03-14T02:01:42Z",
        "vcpu": None,
        "memoryMib": None,
    }


def test_json_is_pretty_sorted_and_keeps_unicode() -> None:
    alert = failed_alert(make_run(replace(UPLOAD, key="报告/Übersicht.csv")))
    _, _, data = alert.message.partition(f"\n\n{JSON_SEPARATOR}\n")
    assert data == json.dumps(json.loads(data), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    assert "报告/Übersicht.csv" in data


def test_history_already_holding_the_last_attempt_is_not_repeated() -> None:
    last = AttemptRecord(attempt=3, job_id="2e3d4c5b-6f70-4182-9cad-1e2f3a4b5c63", status=RunStatus.FAILED, exit_code=3)
    _, data = split_body(failed_alert(make_run(history=(*HISTORY, last))))
    assert [entry["attempt"] for entry in data["history"]] == [1, 2, 3]


def test_empty_history_shows_the_failing_attempt() -> None:
    summary, data = split_body(failed_alert(make_run(history=(), max_attempts=1), make_observation(attempt=1)))
    assert "  1. FAILED, exit code 3, stopped 2026-03-14T02:07:25Z - Essential container in task exited" in summary
    assert len(data["history"]) == 1


def test_infrastructure_failure_without_exit_code() -> None:
    # Given a Spot reclaim: no exit code, no log stream
    observation = make_observation(
        exit_code=None,
        status_reason="Host EC2 (instance i-0abc123def4567890) terminated.",
        container_reason=None,
        log_stream_name=None,
        started_at=None,
    )

    # When
    alert = failed_alert(observation=observation, decision_reason="no exit code (...)")

    # Then
    assert alert.subject == "Batch job failed: report 2026.csv (no exit code, attempt 3/3)"
    summary, data = split_body(alert)
    assert "failed for good: attempt 3 of 3 failed without an exit code (infrastructure failure)." in summary
    assert "Exit code:     none (infrastructure failure)" in summary
    assert "Logs:          none (the container never started, so it wrote no log stream)" in summary
    assert (data["exitCode"], data["logUrl"], data["durationSeconds"]) == (None, None, None)
    assert "exitCode" not in alert.attributes


def test_timeout() -> None:
    observation = make_observation(
        exit_code=None, timed_out=True, status_reason="Job attempt duration exceeded timeout"
    )
    alert = failed_alert(observation=observation)
    assert alert.subject == "Batch job failed: report 2026.csv (timed out, attempt 3/3)"
    summary, data = split_body(alert)
    assert "Exit code:     none (timed out)" in summary
    assert data["timedOut"] is True


def test_container_reason_and_batch_status_are_both_shown() -> None:
    observation = make_observation(
        exit_code=137, container_reason="OutOfMemoryError: Container killed due to memory usage"
    )
    summary, data = split_body(failed_alert(observation=observation))
    assert "Reason:        OutOfMemoryError: Container killed due to memory usage" in summary
    assert "Batch status:  Essential container in task exited" in summary
    assert data["containerReason"] == "OutOfMemoryError: Container killed due to memory usage"


@pytest.mark.parametrize(
    ("run_ms", "shown"), [(42_000, "(after 42 s)"), (7_500_000, "(after 2 h 5 min)"), (-5_000, "(after 0 s)")]
)
def test_run_time_is_shown_in_readable_units(run_ms: int, shown: str) -> None:
    observation = make_observation(started_at=1773453958000, stopped_at=1773453958000 + run_ms)
    summary, _ = split_body(failed_alert(observation=observation))
    assert shown in summary


def test_worst_case_message_stays_far_below_the_sns_limit() -> None:
    # Given every free-text field at its longest
    long_reason = "r" * 50_000
    history = tuple(
        AttemptRecord(
            attempt=n,
            job_id="j" * 36,
            status=RunStatus.FAILED,
            exit_code=3,
            reason=long_reason,
            log_stream_name="s" * 512,
        )
        for n in range(1, 40)
    )
    run = make_run(replace(UPLOAD, key="k" * 1024, version_id="v" * 1024), history=history, max_attempts=10)
    observation = make_observation(
        attempt=40, status_reason=long_reason, container_reason=long_reason, log_stream_name="s/" * 256
    )

    # When
    alert = failed_alert(run, observation, decision_reason=long_reason)

    # Then
    size = len(alert.message.encode()) + sum(
        len(name) + len(value["StringValue"]) for name, value in alert.attributes.items()
    )
    assert size < 64 * 1024 < 256 * 1024
    assert_sns_subject(alert.subject)
    _, data = split_body(alert)
    assert len(data["history"]) == 20
