"""Runs shaped like the ones the pipeline leaves behind, for populating a table in bulk.

Used where going through the pipeline for every item would take minutes in moto: the watchdog's
"reads grow with active runs, not with the table" test and benchmark.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import S3Source
from batch_orchestrator.timeutil import epoch_seconds, iso


def finished_run_item(index: int, *, bucket: str, job_queue: str, job_definition: str, at: datetime) -> dict[str, Any]:
    """The item of a run that SUCCEEDED on its first attempt at ``at``: terminal, so not in the sparse index."""
    source = S3Source(bucket=bucket, key=f"incoming/old/{index}.csv", sequencer="01")
    run_id = run_id_for(source)
    job_id = f"{index:08d}-0000-4000-8000-000000000000"
    stamp = iso(at)
    return {
        "runId": run_id,
        "status": "SUCCEEDED",
        "attempt": 1,
        "maxAttempts": 3,
        "progress": 19_999,
        "trigger": "s3",
        "source": source.to_dict(),
        "jobName": job_name_for(run_id, 1, source),
        "jobId": job_id,
        "jobQueue": job_queue,
        "jobDefinition": job_definition,
        "batchAttempts": 1,
        "exitCode": 0,
        "createdAt": stamp,
        "submittedAt": stamp,
        "updatedAt": stamp,
        "expiresAt": epoch_seconds(at) + 90 * 86_400,
        "history": [{"attempt": 1, "jobId": job_id, "status": "SUCCEEDED", "exitCode": 0}],
    }
