"""SNS alerts: subjects SNS accepts, a readable body followed by the same data as JSON,
message attributes for filter policies, console links, and the README's example alert."""

from __future__ import annotations

import json
import os
import string
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from batch_orchestrator.alerts import (
    JSON_SEPARATOR,
    SUBJECT_MAX_CHARS,
    Alert,
    build_queue_blocked_alert,
    build_run_failed_alert,
    console_base_url,
    log_stream_console_url,
    queue_blocked_advice,
    sns_subject,
    to_ascii,
)
from batch_orchestrator.models import (
    AttemptRecord,
    JobObservation,
    QueueBlocked,
    Run,
    RunStatus,
    S3Source,
    ScheduleSource,
    Source,
)

GOLDEN = Path(__file__).parent / "golden" / "run_failed_alert.txt"
QUEUE_ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/batch-orchestrator-jobs"
RUN_ID = "s3-4cef758b2fc44b4843339f60"
JOB_NAME = f"{RUN_ID}-a3-report_2026_csv"
LOG_GROUP = "/aws/batch/batch-orchestrator-jobs"
EXHAUSTED = "exit code 3 is retryable, but attempts exhausted (3 of 3)"
UPLOAD = S3Source(
    bucket="acme-reports-input",
    key="incoming/2026/report 2026.csv",
    version_id="3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
    sequencer="0062E7D2F9A3B1C4D5",
    size=48213,
    event_time="2026-03-14T01:59:58.120Z",
)
HISTORY = (
    AttemptRecord(
        attempt=1,
        job_id="0c1b2a39-4d5e-4f60-8a7b-9c8d7e6f5a41",
        status=RunStatus.FAILED,
        exit_code=3,
        reason="Essential container in task exited",
        log_stream_name="batch-orchestrator/default/5b0e3f1c2d4a4e8f9a7b6c5d4e3f2a10",
        started_at=1773453615000,
        stopped_at=1773453702000,
    ),
    AttemptRecord(
        attempt=2,
        job_id="1d2c3b4a-5e6f-4071-8b9c-0d1e2f3a4b52",
        status=RunStatus.FAILED,
        exit_code=3,
        reason="Essential container in task exited",
        log_stream_name="batch-orchestrator/default/6c1f4a2d3e5b4f9a8b7c6d5e4f3a2b21",
        started_at=1773453741000,
        stopped_at=1773453829000,
    ),
)


def make_run(source: Source = UPLOAD, *, history: tuple[AttemptRecord, ...] = HISTORY, max_attempts: int = 3) -> Run:
    return Run(
        run_id=RUN_ID,
        status=RunStatus.FAILED,
        attempt=3,
        max_attempts=max_attempts,
        source=source,
        progress=39_999,
        job_name=JOB_NAME,
        job_id="2e3d4c5b-6f70-4182-9cad-1e2f3a4b5c63",
        job_queue=QUEUE_ARN,
        history=history,
    )


def make_observation(**overrides: Any) -> JobObservation:
    fields: dict[str, Any] = {
        "run_id": RUN_ID,
        "attempt": 3,
        "job_id": "2e3d4c5b-6f70-4182-9cad-1e2f3a4b5c63",
        "job_name": JOB_NAME,
        "job_queue": QUEUE_ARN,
        "status": RunStatus.FAILED,
        "status_reason": "Essential container in task exited",
        "exit_code": 3,
        "log_stream_name": "batch-orchestrator/default/7d2a5b3e4f6c4a0b9c8d7e6f5a4b3c32",
        "created_at": 1773453930000,
        "started_at": 1773453958000,
        "stopped_at": 1773454045000,
    }
    fields.update(overrides)
    return JobObservation(**fields)


def failed_alert(run: Run | None = None, observation: JobObservation | None = None, **kwargs: str) -> Alert:
    options = {"decision_reason": EXHAUSTED, "region": "us-east-1", "log_group": LOG_GROUP} | kwargs
    return build_run_failed_alert(run or make_run(), observation or make_observation(), **options)


def split_body(alert: Alert) -> tuple[str, Any]:
    summary, separator, data = alert.message.partition(f"\n\n{JSON_SEPARATOR}\n")
    assert separator, "the body has a blank line and a separator line before the JSON"
    return summary, json.loads(data)


def assert_sns_subject(subject: str) -> None:
    assert len(subject) < 100
    assert subject.isascii()
    assert subject.isprintable()  # no line breaks, no control characters
    assert subject[0].isalnum() or subject[0] in string.punctuation


# ---------------------------------------------------------------------------------------------
# Subjects
# ---------------------------------------------------------------------------------------------


def test_subject_names_the_file_the_exit_code_and_the_attempt() -> None:
    alert = failed_alert()
    assert alert.subject == "Batch job failed: report 2026.csv (exit 3, attempt 3/3)"
    assert_sns_subject(alert.subject)


def test_unicode_key_gives_an_ascii_subject() -> None:
    # Given a key with accents, typographic punctuation, CJK, an emoji and a zero-width space
    key = "eingang/Übersicht \u2013 März \u201cfinal\u201d\u200b 报告 😀.csv"
    run = make_run(replace(UPLOAD, key=key))

    # When
    alert = failed_alert(run)

    # Then the subject is transliterated, and the body keeps the key as it is
    assert alert.subject == 'Batch job failed: Ubersicht - Marz "final" ?? ?.csv (exit 3, attempt 3/3)'
    assert_sns_subject(alert.subject)
    summary, data = split_body(alert)
    # (invisible characters are shown as escapes, so a reader can tell the key apart)
    assert "s3://acme-reports-input/eingang/Übersicht \u2013 März \u201cfinal\u201d\\u200b 报告 😀.csv" in summary
    assert data["source"]["key"] == key


@pytest.mark.parametrize("unit", ["x", "é", "报"])
def test_key_of_1024_bytes_gives_a_short_subject_and_a_complete_body(unit: str) -> None:
    # Given the longest key S3 allows: 1,024 bytes of UTF-8
    name = unit * (1021 // len(unit.encode()))
    key = "in/" + name
    assert len(key.encode()) <= 1024
    run = make_run(replace(UPLOAD, key=key))

    # When
    alert = failed_alert(run)

    # Then the file name is shortened in the middle, keeping the prefix, the end and the suffix
    assert_sns_subject(alert.subject)
    assert len(alert.subject) == SUBJECT_MAX_CHARS
    assert alert.subject.startswith("Batch job failed: ")
    assert alert.subject.endswith(" (exit 3, attempt 3/3)")
    assert "..." in alert.subject
    summary, data = split_body(alert)
    assert f"s3://acme-reports-input/{key} (version" in summary
    assert data["source"]["key"] == key


def test_control_characters_never_reach_the_subject_and_are_escaped_in_the_summary() -> None:
    run = make_run(replace(UPLOAD, key="in/two\nlines\tand\x7fdel.csv"))
    alert = failed_alert(run)
    assert alert.subject == "Batch job failed: two lines and del.csv (exit 3, attempt 3/3)"
    summary, data = split_body(alert)
    assert "in/two\\nlines\\tand\\x7fdel.csv" in summary
    assert data["source"]["key"] == "in/two\nlines\tand\x7fdel.csv"


def test_schedule_subject_and_input() -> None:
    run = make_run(ScheduleSource(schedule_name="nightly-report", scheduled_time="2026-03-14T02:00:00Z"))
    alert = failed_alert(run)
    assert alert.subject == "Batch job failed: schedule nightly-report (exit 3, attempt 3/3)"
    summary, data = split_body(alert)
    assert "Input:         schedule nightly-report, fired for 2026-03-14T02:00:00Z" in summary
    assert data["trigger"] == "schedule"
    assert data["source"] == {
        "trigger": "schedule",
        "scheduleName": "nightly-report",
        "scheduledTime": "2026-03-14T02:00:00Z",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  leading spaces", "leading spaces"),
        ("", "Batch Orchestrator alert"),
        ("\n\t", "Batch Orchestrator alert"),
        ("Straße \ufb01le \uff26\uff55\uff4c\uff4c", "Strasse file Full"),  # ligature, fullwidth
        ("x" * 150, "x" * 96 + "..."),
    ],
)
def test_any_text_becomes_a_valid_subject(text: str, expected: str) -> None:
    subject = sns_subject(text)
    assert subject == expected
    assert_sns_subject(subject)


def test_to_ascii_keeps_printable_ascii_as_is() -> None:
    printable = "".join(chr(code) for code in range(0x21, 0x7F))
    assert to_ascii(printable) == printable


# ---------------------------------------------------------------------------------------------
# Body
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------


def test_attributes_are_in_sns_shape() -> None:
    assert failed_alert().attributes == {
        "alertType": {"DataType": "String", "StringValue": "RUN_FAILED"},
        "jobQueue": {"DataType": "String", "StringValue": "batch-orchestrator-jobs"},
        "trigger": {"DataType": "String", "StringValue": "s3"},
        "exitCode": {"DataType": "Number", "StringValue": "3"},
    }


def test_exit_code_attribute_is_omitted_without_an_exit_code() -> None:
    alert = failed_alert(observation=make_observation(exit_code=None))
    assert set(alert.attributes) == {"alertType", "jobQueue", "trigger"}


def test_exit_code_zero_is_still_an_attribute() -> None:
    alert = failed_alert(observation=make_observation(exit_code=0))
    assert alert.attributes["exitCode"] == {"DataType": "Number", "StringValue": "0"}


def test_schedule_trigger_attribute() -> None:
    run = make_run(ScheduleSource(schedule_name="nightly", scheduled_time="2026-03-14T02:00:00Z"))
    assert failed_alert(run).attributes["trigger"] == {"DataType": "String", "StringValue": "schedule"}


# ---------------------------------------------------------------------------------------------
# Console links
# ---------------------------------------------------------------------------------------------


def test_log_stream_link_escapes_slashes_and_dollars_the_console_way() -> None:
    url = log_stream_console_url("eu-west-1", "/aws/batch/job", "my-job-def/default/0f1e2d3c$4b5a")
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fjob"
        "/log-events/my-job-def$252Fdefault$252F0f1e2d3c$25244b5a"
    )


def test_log_stream_link_escapes_spaces_and_brackets() -> None:
    url = log_stream_console_url("us-east-1", "group", "2026/03/14/[$LATEST]ab cd")
    assert url.endswith("/log-events/2026$252F03$252F14$252F$255B$2524LATEST$255Dab$2520cd")


@pytest.mark.parametrize(
    ("region", "base"),
    [
        ("us-east-1", "https://us-east-1.console.aws.amazon.com"),
        ("ap-southeast-2", "https://ap-southeast-2.console.aws.amazon.com"),
        ("cn-north-1", "https://console.amazonaws.cn"),
        ("cn-northwest-1", "https://console.amazonaws.cn"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com"),
    ],
)
def test_console_host_follows_the_partition(region: str, base: str) -> None:
    assert console_base_url(region) == base
    assert log_stream_console_url(region, "g", "s").startswith(f"{base}/cloudwatch/home?region={region}#logsV2:")


@pytest.mark.parametrize("region", ["us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "eusc-de-east-1"])
def test_isolated_partitions_have_no_console_link(region: str) -> None:
    with pytest.raises(ValueError, match="no known console"):
        console_base_url(region)


@pytest.mark.parametrize("region", ["", "US-EAST-1", "us-east-1/../x", "us-east-1#x"])
def test_malformed_regions_are_rejected(region: str) -> None:
    with pytest.raises(ValueError, match="not an AWS region"):
        console_base_url(region)


def test_alert_without_a_console_still_names_the_log_stream() -> None:
    summary, data = split_body(failed_alert(region="us-iso-east-1"))
    assert "Logs:          log group /aws/batch/batch-orchestrator-jobs, stream batch-orchestrator/default/" in summary
    assert "(no console link for us-iso-east-1)" in summary
    assert data["logUrl"] is None


# ---------------------------------------------------------------------------------------------
# QUEUE_BLOCKED
# ---------------------------------------------------------------------------------------------

BLOCKED = QueueBlocked(
    job_queue=QUEUE_ARN,
    job_id="4f5e6d7c-8091-42a3-b4c5-d6e7f8091a2b",
    job_name=f"{RUN_ID}-a1-report_2026_csv",
    status_reason=(
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) "
        "is higher than that can be met by the CE(s) attached to the job queue."
    ),
    run_id=RUN_ID,
    attempt=1,
)


def test_queue_blocked_alert() -> None:
    # When
    alert = build_queue_blocked_alert(BLOCKED, region="us-east-1")

    # Then
    assert (
        alert.subject == "Batch job queue blocked: batch-orchestrator-jobs (MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT)"
    )
    assert_sns_subject(alert.subject)
    assert alert.attributes == {
        "alertType": {"DataType": "String", "StringValue": "QUEUE_BLOCKED"},
        "jobQueue": {"DataType": "String", "StringValue": "batch-orchestrator-jobs"},
        "reasonCode": {"DataType": "String", "StringValue": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"},
    }
    summary, data = split_body(alert)
    assert summary.startswith("Job queue batch-orchestrator-jobs is blocked:")
    assert f"Blocking job:    {BLOCKED.job_name} (job ID {BLOCKED.job_id})" in summary
    assert f"Run ID:          {RUN_ID} (attempt 1)" in summary
    assert f"Status reason:   {BLOCKED.status_reason}" in summary
    assert "What to do:      No compute environment of the queue offers the vCPU/memory/GPU" in summary
    assert f"aws batch cancel-job --region us-east-1 --job-id {BLOCKED.job_id}" in summary
    assert data == {
        "alertType": "QUEUE_BLOCKED",
        "region": "us-east-1",
        "jobQueue": "batch-orchestrator-jobs",
        "jobQueueArn": QUEUE_ARN,
        "jobId": BLOCKED.job_id,
        "jobName": BLOCKED.job_name,
        "runId": RUN_ID,
        "attempt": 1,
        "statusReason": BLOCKED.status_reason,
        "reasonCode": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
        "advice": queue_blocked_advice(BLOCKED.status_reason),
    }


@pytest.mark.parametrize(
    ("status_reason", "expected"),
    [
        (
            "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance "
            "type [m5.large]",
            "get the instances the job needs",
        ),
        (
            "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the "
            "CPU requirement of the job.",
            "maxvCpus",
        ),
        (
            "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher "
            "than that can be met by the CE(s) attached to the job queue.",
            "supported vCPU/memory combination",
        ),
        (
            "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS \u2013 Batch service role has a permission issue.",
            "service role lacks permissions",
        ),
        (
            "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED - Your compute environment associated with "
            "this job queue has an unsupported instance type configuration.",
            "launch template",
        ),
        ("ACTION_REQUIRED - CE(s) associated with the job queue are invalid.", "INVALID"),
        ("UNDETERMINED - Batch job is blocked, root cause is undetermined.", "could not tell why"),
        ("something new", "could not tell why"),
    ],
)
def test_advice_for_each_documented_reason(status_reason: str, expected: str) -> None:
    assert expected in queue_blocked_advice(status_reason)
    alert = build_queue_blocked_alert(replace(BLOCKED, status_reason=status_reason), region="us-east-1")
    assert_sns_subject(alert.subject)
    assert expected in alert.message


def test_queue_blocked_subject_with_a_long_queue_name_and_an_en_dash_reason() -> None:
    # Given the longest queue name Batch allows and a reason with a non-ASCII dash
    blocked = replace(
        BLOCKED,
        job_queue=f"arn:aws:batch:us-east-1:123456789012:job-queue/{'q' * 128}",
        status_reason="MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS \u2013 Batch service role has a permission issue.",
        run_id=None,
        attempt=None,
    )

    # When
    alert = build_queue_blocked_alert(blocked, region="us-east-1")

    # Then
    assert_sns_subject(alert.subject)
    assert alert.subject.startswith("Batch job queue blocked: qqq")
    assert alert.subject.endswith("qqq (MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS)")
    assert "..." in alert.subject
    assert "Run ID:" not in alert.message
    assert alert.attributes["reasonCode"]["StringValue"] == "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS"


def test_unknown_reason_has_no_code_in_the_subject() -> None:
    alert = build_queue_blocked_alert(replace(BLOCKED, status_reason="something new"), region="us-east-1")
    assert alert.subject == "Batch job queue blocked: batch-orchestrator-jobs"
    assert alert.attributes["reasonCode"]["StringValue"] == "UNKNOWN"


# ---------------------------------------------------------------------------------------------
# The README's example alert
# ---------------------------------------------------------------------------------------------


def render_for_subscriber(alert: Alert) -> str:
    """What an e-mail subscriber sees: the subject line, then the message."""
    return f"Subject: {alert.subject}\n\n{alert.message}"


def test_example_alert_matches_the_golden_file() -> None:
    # Given the README's example: attempt 3 of 3 of an upload exits with code 3
    rendered = render_for_subscriber(failed_alert())

    # Then it is exactly the golden text (set UPDATE_GOLDEN=1 to rewrite it after a deliberate change)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(rendered, encoding="utf-8")
    assert rendered == GOLDEN.read_text(encoding="utf-8")
