"""The queue-blocked alert (batch_orchestrator.alerts.build_queue_blocked_alert): its subject, body, advice
and attributes."""

from __future__ import annotations

from copy import replace

import pytest

from batch_orchestrator.alert_advice import queue_blocked_advice
from batch_orchestrator.alert_queue_blocked import build_queue_blocked_alert
from batch_orchestrator.models import QueueBlocked
from tests.support.alert_builders import QUEUE_ARN, RUN_ID, assert_sns_subject, split_body

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
        "workload": None,
        "statusReason": BLOCKED.status_reason,
        "reasonCode": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
        "advice": queue_blocked_advice(BLOCKED.status_reason),
    }


def test_queue_blocked_alert_names_the_blocking_runs_workload() -> None:
    # Given the blocking job is a run of the thumbnails workload
    blocked = replace(BLOCKED, workload="thumbnails")

    # When
    alert = build_queue_blocked_alert(blocked, region="us-east-1")

    # Then the summary, the JSON and a message attribute (for subscription filters) name it
    summary, data = split_body(alert)
    assert "Workload:        thumbnails" in summary
    assert data["workload"] == "thumbnails"
    assert alert.attributes["workload"] == {"DataType": "String", "StringValue": "thumbnails"}


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
