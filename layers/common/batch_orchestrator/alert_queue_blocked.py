"""The alert for a blocked job queue ("Batch Job Queue Blocked"): which queue, which job, why, what to do (one per
blocking job: ``tracking.handle_queue_blocked`` leases it). Written through ``alert_format``; pure."""

from __future__ import annotations

from typing import Any

from batch_orchestrator.alert_advice import (
    UNKNOWN_REASON_CODE,
    cancel_job_command,
    queue_blocked_advice,
    queue_blocked_reason_code,
)
from batch_orchestrator.alert_format import (
    Alert,
    aligned,
    body,
    clip,
    display,
    queue_arn,
    queue_name,
    string_attribute,
    subject_around,
)
from batch_orchestrator.alerts import ALERT_QUEUE_BLOCKED
from batch_orchestrator.models import QueueBlocked


def build_queue_blocked_alert(blocked: QueueBlocked, *, region: str) -> Alert:
    """The alert for a "Batch Job Queue Blocked" event: which queue, which job, why, what to do."""
    queue = queue_name(blocked.job_queue)
    code = queue_blocked_reason_code(blocked.status_reason)
    advice = queue_blocked_advice(blocked.status_reason)
    cancel = cancel_job_command(region, blocked.job_id, queue)
    suffix = f" ({code})" if code != UNKNOWN_REASON_CODE else ""
    subject = subject_around("Batch job queue blocked: ", queue, suffix)

    rows = [
        ("Queue", display(queue)),
        ("Region", region),
        ("Blocking job", f"{display(blocked.job_name)} (job ID {blocked.job_id})"),
    ]
    if blocked.run_id:
        run = blocked.run_id if blocked.attempt is None else f"{blocked.run_id} (attempt {blocked.attempt})"
        rows.append(("Run ID", run))
    if blocked.workload:
        rows.append(("Workload", blocked.workload))
    rows += [
        ("Status reason", display(blocked.status_reason)),
        ("What to do", advice),
        ("Cancel the job", display(cancel)),
    ]
    summary = [
        f"Job queue {display(queue)} is blocked: the RUNNABLE job at its head cannot be placed, "
        "and every job behind it waits.",
        "",
        *aligned(rows, 17),
    ]
    details: dict[str, Any] = {
        "alertType": ALERT_QUEUE_BLOCKED,
        "region": region,
        "jobQueue": queue,
        "jobQueueArn": queue_arn(blocked.job_queue),
        "jobId": blocked.job_id,
        "jobName": blocked.job_name,
        "runId": blocked.run_id,
        "attempt": blocked.attempt,
        "workload": blocked.workload,
        "statusReason": clip(blocked.status_reason),
        "reasonCode": code,
        "advice": advice,
    }
    attributes = {
        "alertType": string_attribute(ALERT_QUEUE_BLOCKED),
        "jobQueue": string_attribute(queue),
        "reasonCode": string_attribute(code),
    }
    if blocked.workload:
        attributes["workload"] = string_attribute(blocked.workload)
    return Alert(subject=subject, message=body(summary, details), attributes=attributes)
