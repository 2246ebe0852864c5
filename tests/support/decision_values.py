"""The one upload whose run the unit tests of the decisions (test_submit.py, test_tracking.py) follow:
its clock start, queue, job definition, source, run id and Batch job ids."""

from __future__ import annotations

from datetime import UTC, datetime

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/jobs"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/job:1"
SOURCE = S3Source(bucket="in", key="incoming/data.csv", sequencer="00A1")
RUN_ID = run_id_for(SOURCE)
JOB_1 = "0f0e0d0c-0000-4000-8000-000000000001"
JOB_2 = "0f0e0d0c-0000-4000-8000-000000000002"
