"""The alert for a run stuck in one state longer than the watchdog allows (sent once per stay): where it is, for how
long, what Batch says of its job, what to do. Written through ``alert_format``; pure."""

from __future__ import annotations

from typing import Any

from batch_orchestrator.alert_advice import stuck_run_advice, terminate_job_command
from batch_orchestrator.alert_format import (
    INPUT_LIMIT,
    Alert,
    aligned,
    body,
    clip,
    display,
    queue_arn,
    queue_name,
    span_text,
    string_attribute,
    subject_around,
)
from batch_orchestrator.alert_runs import input_name, input_text, subject_prefix, workload_details
from batch_orchestrator.alerts import ALERT_RUN_STUCK
from batch_orchestrator.models import JobObservation, Run, RunStatus


def build_stuck_run_alert(
    run: Run,
    *,
    stuck_seconds: int,
    threshold_seconds: int,
    observation: JobObservation | None,
    region: str,
    cancel_after_seconds: int = 0,
) -> Alert:
    """The alert for a run that stayed in ``run.status`` longer than its threshold (sent once per stay).

    ``observation`` is what DescribeJobs says about the run's job now (None when it has no job yet or
    Batch no longer knows it): its status reason usually says why the job does not move.
    ``cancel_after_seconds`` > 0 tells the reader the watchdog will terminate a RUNNABLE job then.
    """
    status = run.status
    job_id = observation.job_id if observation else run.job_id
    job_name = observation.job_name if observation else run.job_name
    queue_ref = (observation.job_queue if observation else None) or run.job_queue or ""
    queue = queue_name(queue_ref)
    status_reason = observation.status_reason if observation else run.status_reason
    advice = stuck_run_advice(status, status_reason)
    minutes = stuck_seconds // 60
    subject = subject_around(
        subject_prefix(f"Batch job stuck in {status.value}", run), input_name(run), f" ({minutes} min)"
    )

    rows = [
        ("Input", display(input_text(run), INPUT_LIMIT)),
        ("Workload", run.workload),
        ("Status", f"{status.value} for {span_text(stuck_seconds)} (alert after {span_text(threshold_seconds)})"),
        ("Since", run.updated_at or "unknown"),
        ("Attempt", f"{run.attempt} of {run.max_attempts}"),
        ("Job", display(job_name) if job_name else "none yet"),
        ("Job ID", job_id or "none yet (no job was found for this run)"),
        ("Queue", display(queue) if queue else "unknown"),
        ("Status reason", display(status_reason) if status_reason else "none given"),
        ("What to do", advice),
    ]
    auto_cancel = status is RunStatus.RUNNABLE and cancel_after_seconds > 0
    if auto_cancel:
        rows.append(("Auto-cancel", f"the watchdog terminates the job after {span_text(cancel_after_seconds)}"))
    if job_id:
        rows.append(("Terminate the job", display(terminate_job_command(region, job_id, status.value))))
    rows.append(("Run ID", run.run_id))

    summary = [
        f"Run {run.run_id} has been {status.value} for {span_text(stuck_seconds)}, longer than the "
        f"{span_text(threshold_seconds)} the watchdog allows. This alert is sent once while the run stays there.",
        "",
        *aligned(rows, 19),
    ]
    details: dict[str, Any] = {
        "alertType": ALERT_RUN_STUCK,
        "runId": run.run_id,
        "trigger": run.source.trigger.value,
        "input": clip(input_text(run), INPUT_LIMIT),
        "source": run.source.to_dict(),
        "status": status.value,
        "since": run.updated_at,
        "stuckSeconds": stuck_seconds,
        "thresholdSeconds": threshold_seconds,
        "attempt": run.attempt,
        "maxAttempts": run.max_attempts,
        "jobName": job_name,
        "jobId": job_id,
        "jobQueue": queue or None,
        "jobQueueArn": queue_arn(queue_ref),
        "statusReason": clip(status_reason),
        "advice": advice,
        "autoCancelAfterSeconds": cancel_after_seconds if auto_cancel else None,
        "region": region,
        **workload_details(run, None),
    }
    attributes = {
        "alertType": string_attribute(ALERT_RUN_STUCK),
        "jobQueue": string_attribute(queue),
        "status": string_attribute(status.value),
        "trigger": string_attribute(run.source.trigger.value),
        "workload": string_attribute(run.workload),
    }
    return Alert(subject=subject, message=body(summary, details), attributes=attributes)
