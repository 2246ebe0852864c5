"""Shared builders of the alert tests: one failed run of an upload, its last observation, and the checks
every alert's subject and body must pass (tests/unit/test_alerts*.py)."""

from __future__ import annotations

import json
import string
from typing import Any

from batch_orchestrator.alert_format import JSON_SEPARATOR, Alert
from batch_orchestrator.alerts import build_run_failed_alert
from batch_orchestrator.models import AttemptRecord, JobObservation, Run, RunStatus, S3Source, Source

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


def failed_alert(run: Run | None = None, observation: JobObservation | None = None, **kwargs: Any) -> Alert:
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
