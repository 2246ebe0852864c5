"""The three alerts and the facts each one carries: a run failed for good, a queue is blocked, a run is stuck.

Pure composition; the SNS adapter publishes an ``Alert`` as it is. The body is written for a
person reading e-mail first (a summary with the facts needed to act), then repeats the same
data as JSON after a separator line, so a program subscribed to the topic can parse it
without scraping the prose. Message attributes carry the alert type, queue and exit code, so
subscribers can narrow what they receive with SNS filter policies.

Invariant: an alert states what happened, to which input of which workload, and what to do (the
workload is in the body, in the JSON and in the ``workload`` attribute; in the subject unless it is the
default workload, so a stack without other workloads keeps its subjects), and every one is written
through ``alert_format`` (SNS-valid subject, bounded body, non-empty attributes). The
writing itself lives in ``alert_format`` (with the ``Alert`` type), the console links in
``console_links``, the advice in ``alert_advice``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from batch_orchestrator.alert_advice import (
    UNKNOWN_REASON_CODE,
    queue_blocked_advice,
    queue_blocked_reason_code,
    stuck_run_advice,
)
from batch_orchestrator.alert_arrays import (
    array_details,
    array_rows,
    failed_counts,
    failed_item_lines,
    is_array_attempt,
)
from batch_orchestrator.alert_format import (
    INPUT_LIMIT,
    Alert,
    aligned,
    body,
    clip,
    display,
    duration_text,
    iso_from_epoch_ms,
    queue_arn,
    queue_name,
    span_text,
    string_attribute,
    subject_around,
)
from batch_orchestrator.console_links import log_stream_console_url
from batch_orchestrator.models import (
    AttemptRecord,
    JobObservation,
    QueueBlocked,
    Run,
    RunStatus,
    S3Source,
    ScheduleSource,
)
from batch_orchestrator.workload_steps import StepPosition
from batch_orchestrator.workloads import DEFAULT_WORKLOAD

if TYPE_CHECKING:
    from batch_orchestrator.array_retry import ChildVerdict

ALERT_RUN_FAILED = "RUN_FAILED"
ALERT_QUEUE_BLOCKED = "QUEUE_BLOCKED"
ALERT_RUN_STUCK = "RUN_STUCK"

_HISTORY_LIMIT = 20


def _logs_line(region: str, log_group: str, log_stream: str | None) -> tuple[str, str | None]:
    """The body's "Logs" text and the link (None when there is none)."""
    if not log_stream:
        return "none (the container never started, so it wrote no log stream)", None
    try:
        url = log_stream_console_url(region, log_group, log_stream)
    except ValueError:
        return f"log group {log_group}, stream {log_stream} (no console link for {region})", None
    return url, url


# --------------------------------------------------------------------------------------------
# RUN_FAILED
# --------------------------------------------------------------------------------------------


def _input_text(run: Run) -> str:
    source = run.source
    if isinstance(source, S3Source):
        text = f"s3://{source.bucket}/{source.key}"
        return f"{text} (version {source.version_id})" if source.version_id else text
    return f"schedule {source.schedule_name}, fired for {source.scheduled_time}"


def _subject_prefix(text: str, run: Run) -> str:
    """``text`` + ": ", naming the workload unless it is the default one: "Batch job failed [images]: "."""
    return f"{text}: " if run.workload == DEFAULT_WORKLOAD else f"{text} [{run.workload}]: "


def _size_text(vcpu: str | None, memory_mib: int | None) -> str | None:
    return f"{vcpu} vCPU, {memory_mib} MiB" if vcpu is not None and memory_mib is not None else None


def _workload_details(run: Run, record: AttemptRecord | None) -> dict[str, Any]:
    """The JSON fields of the run's workload and of the failed attempt's plan and size."""
    return {
        "workload": run.workload,
        "sizeStep": run.plan.size_step,
        "capacity": run.plan.capacity.value,
        "spotInterruptions": run.plan.spot_interruptions,
        "vcpu": record.vcpu if record else run.vcpu,
        "memoryMib": record.memory_mib if record else run.memory_mib,
    }


def _input_name(run: Run) -> str:
    """The short name of the input for the subject: the object's file name or the schedule."""
    source = run.source
    if isinstance(source, ScheduleSource):
        return f"schedule {source.schedule_name}"
    return source.key.rstrip("/").rsplit("/", 1)[-1] or source.key


def _exit_text(observation: JobObservation) -> str:
    if not observation.job_id:
        return "none (not submitted)"
    if observation.exit_code is not None:
        return str(observation.exit_code)
    return "none (timed out)" if observation.timed_out else "none (infrastructure failure)"


def _attempt_history(run: Run, observation: JobObservation) -> list[AttemptRecord]:
    """The run's history, plus the failing attempt if the tracker has not recorded it yet."""
    by_attempt = {record.attempt: record for record in run.history}
    if observation.attempt not in by_attempt:
        by_attempt[observation.attempt] = AttemptRecord(
            attempt=observation.attempt,
            job_id=observation.job_id,
            status=observation.status,
            exit_code=observation.exit_code,
            reason=observation.failure.reason,
            log_stream_name=observation.log_stream_name,
            started_at=observation.started_at,
            stopped_at=observation.stopped_at,
        )
    return [by_attempt[attempt] for attempt in sorted(by_attempt)][-_HISTORY_LIMIT:]


def _history_line(record: AttemptRecord) -> str:
    # Sentences, not columns: e-mail clients often show plain text in a proportional font.
    parts = [record.status.value, f"exit code {record.exit_code}" if record.exit_code is not None else "no exit code"]
    stopped = iso_from_epoch_ms(record.stopped_at)
    if stopped:
        parts.append(f"stopped {stopped}")
    size = _size_text(record.vcpu, record.memory_mib)
    if size:
        parts.append(size)
    if record.items is not None:
        parts.append(f"items {record.items}")
    if record.failed_children:
        parts.append(f"{record.failed_children} {'child' if record.failed_children == 1 else 'children'} failed")
    line = f"  {record.attempt}. " + ", ".join(parts)
    return f"{line} - {display(record.reason, 200)}" if record.reason else line


def _history_entry(record: AttemptRecord) -> dict[str, Any]:
    entry = {
        "attempt": record.attempt,
        "jobId": record.job_id,
        "status": record.status.value,
        "exitCode": record.exit_code,
        "reason": clip(record.reason),
        "logStreamName": record.log_stream_name,
        "startedAt": iso_from_epoch_ms(record.started_at),
        "stoppedAt": iso_from_epoch_ms(record.stopped_at),
        "vcpu": record.vcpu,
        "memoryMib": record.memory_mib,
    }
    if record.items is not None:  # an array run's attempt (a single job's entry stays as it was)
        entry |= {"items": record.items, "failedChildren": record.failed_children}
    return entry


def _what_failed(observation: JobObservation, children: Sequence[ChildVerdict]) -> tuple[str, str]:
    """How the attempt failed, for the summary's first sentence and for the subject."""
    if not observation.job_id:  # refused before any job was submitted (its manifest cannot run)
        return "was refused before any job was submitted", "not submitted"
    if children:
        failed, total = failed_counts(observation, children)
        return f"had {failed} of {total} children fail", f"{failed} of {total} children failed"
    if observation.exit_code is not None:
        return f"exited with code {observation.exit_code}", f"exit {observation.exit_code}"
    if observation.timed_out:
        return "timed out", "timed out"
    return "failed without an exit code (infrastructure failure)", "no exit code"


def build_run_failed_alert(
    run: Run,
    observation: JobObservation,
    *,
    decision_reason: str,
    region: str,
    log_group: str,
    children: Sequence[ChildVerdict] = (),
    step: StepPosition | None = None,
) -> Alert:
    """The alert for a run that failed for good (a non-retryable failure or no attempts left).

    ``observation`` is the FAILED event of the last attempt; ``decision_reason`` is the retry
    decision's reason; ``log_group`` is the Batch jobs' log group (JOB_LOG_GROUP); ``children`` the
    verdicts on an array attempt's failed children (``alert_arrays`` lists them); ``step`` the failed step of a
    pipeline run (named in the subject, with its attempts counted as the step counts them).
    """
    array = is_array_attempt(observation)
    attempt, max_attempts = observation.attempt, run.max_attempts
    if step is not None:
        attempt, max_attempts = observation.step_attempt, step.max_attempts
    exit_code = observation.exit_code
    failure_reason = observation.failure.reason
    logs_text, log_url = _logs_line(region, log_group, observation.log_stream_name)
    started, stopped = iso_from_epoch_ms(observation.started_at), iso_from_epoch_ms(observation.stopped_at)
    duration: int | None = None
    if observation.started_at is not None and observation.stopped_at is not None:
        duration = max(0, (observation.stopped_at - observation.started_at) // 1000)
    history = _attempt_history(run, observation)
    failed = next((record for record in history if record.attempt == attempt), None)
    size = _size_text(failed.vcpu, failed.memory_mib) if failed else None
    queue = queue_name(observation.job_queue)

    what, short = _what_failed(observation, children)
    in_step = f"step {step.workload}: " if step is not None else ""
    subject = subject_around(
        _subject_prefix("Batch job failed", run),
        _input_name(run),
        f" ({in_step}{short}, attempt {attempt}/{max_attempts})",
    )

    rows = [
        ("Input", display(_input_text(run), INPUT_LIMIT)),
        ("Workload", run.workload),
        *([("Step", str(step))] if step is not None else []),
        ("Job", display(observation.job_name)),
        ("Job ID", observation.job_id or "none (not submitted)"),
        ("Queue", display(queue)),
        ("Attempt", f"{attempt} of {max_attempts}"),
    ]
    if size:
        rows.append(("Size", f"{size} ({run.plan.capacity.value})"))
    if array:
        rows += array_rows(observation, children)
    rows += [
        ("Exit code", _exit_text(observation)),
        ("Reason", display(failure_reason) if failure_reason else "none given"),
    ]
    if observation.status_reason and observation.status_reason != failure_reason:
        rows.append(("Batch status", display(observation.status_reason)))
    rows.append(("Decision", display(decision_reason)))
    if started:
        rows.append(("Started", started))
    if stopped:
        rows.append(("Stopped", f"{stopped} (after {duration_text(duration)})" if duration is not None else stopped))
    if observation.log_stream_name:
        rows.append(("Log stream", display(observation.log_stream_name)))
    rows += [("Logs", logs_text), ("Run ID", run.run_id)]

    where = f"step {step}, " if step is not None else ""
    summary = [
        f"Run {run.run_id} failed for good: {where}attempt {attempt} of {max_attempts} {what}.",
        "",
        *aligned(rows, 15),
        "",
        *([*failed_item_lines(children), ""] if children else []),
        "Attempt history:",
        *(_history_line(record) for record in history),
    ]
    details: dict[str, Any] = {
        "alertType": ALERT_RUN_FAILED,
        "runId": run.run_id,
        "trigger": run.source.trigger.value,
        "input": clip(_input_text(run), INPUT_LIMIT),
        "source": run.source.to_dict(),
        "jobName": observation.job_name,
        "jobId": observation.job_id,
        "jobQueue": queue,
        "jobQueueArn": queue_arn(observation.job_queue),
        "attempt": attempt,
        "maxAttempts": max_attempts,
        "exitCode": exit_code,
        "timedOut": observation.timed_out,
        "reason": clip(failure_reason),
        "statusReason": clip(observation.status_reason),
        "containerReason": clip(observation.container_reason),
        "decision": clip(decision_reason),
        "startedAt": started,
        "stoppedAt": stopped,
        "durationSeconds": duration,
        "region": region,
        "logGroup": log_group,
        "logStreamName": observation.log_stream_name,
        "logUrl": log_url,
        "history": [_history_entry(record) for record in history],
        **_workload_details(run, failed),
    }
    if array:
        details["array"] = array_details(observation, children)
    if step is not None:
        details["step"] = {"workload": step.workload, "number": step.number, "count": step.count}
    attributes = {
        "alertType": string_attribute(ALERT_RUN_FAILED),
        "jobQueue": string_attribute(queue),
        "trigger": string_attribute(run.source.trigger.value),
        "workload": string_attribute(run.workload),
    }
    if exit_code is not None:
        attributes["exitCode"] = {"DataType": "Number", "StringValue": str(exit_code)}
    return Alert(subject=subject, message=body(summary, details), attributes=attributes)


# --------------------------------------------------------------------------------------------
# QUEUE_BLOCKED
# --------------------------------------------------------------------------------------------


def build_queue_blocked_alert(blocked: QueueBlocked, *, region: str) -> Alert:
    """The alert for a "Batch Job Queue Blocked" event: which queue, which job, why, what to do."""
    queue = queue_name(blocked.job_queue)
    code = queue_blocked_reason_code(blocked.status_reason)
    advice = queue_blocked_advice(blocked.status_reason)
    cancel = f'aws batch cancel-job --region {region} --job-id {blocked.job_id} --reason "unblock queue {queue}"'
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


# --------------------------------------------------------------------------------------------
# RUN_STUCK (the watchdog)
# --------------------------------------------------------------------------------------------


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
        _subject_prefix(f"Batch job stuck in {status.value}", run), _input_name(run), f" ({minutes} min)"
    )

    rows = [
        ("Input", display(_input_text(run), INPUT_LIMIT)),
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
        command = f'aws batch terminate-job --region {region} --job-id {job_id} --reason "stuck in {status.value}"'
        rows.append(("Terminate the job", display(command)))
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
        "input": clip(_input_text(run), INPUT_LIMIT),
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
        **_workload_details(run, None),
    }
    attributes = {
        "alertType": string_attribute(ALERT_RUN_STUCK),
        "jobQueue": string_attribute(queue),
        "status": string_attribute(status.value),
        "trigger": string_attribute(run.source.trigger.value),
        "workload": string_attribute(run.workload),
    }
    return Alert(subject=subject, message=body(summary, details), attributes=attributes)
