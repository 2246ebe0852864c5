"""The alert types, and the one for a run that failed for good (``alert_queue_blocked`` and ``alert_stuck`` write the
other two: a queue is blocked, a run is stuck).

Pure composition; the SNS adapter publishes an ``Alert``'s body as it is to programs, and its e-mail and chat
views (``alert_chat``) to people. The body is written for a person first (a summary with the facts needed to act),
then repeats the same data as JSON after a separator line, so a program subscribed to the topic can parse it
without scraping the prose. Message attributes carry the alert type, queue and exit code, so
subscribers can narrow what they receive with SNS filter policies.

Invariant: an alert states what happened, to which input of which workload, and what to do (the
workload is in the body, in the JSON and in the ``workload`` attribute; in the subject unless it is the
default workload, so a stack without other workloads keeps its subjects), and every one is written
through ``alert_format`` (SNS-valid subject, bounded body, non-empty attributes). The
writing itself lives in ``alert_format`` (with the ``Alert`` type), what every run alert says of the run in
``alert_runs``, the console links in ``console_links``, the advice in ``alert_advice``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
    string_attribute,
    subject_around,
)
from batch_orchestrator.alert_runs import input_name, input_text, logs_line, size_text, subject_prefix, workload_details
from batch_orchestrator.models import (
    AttemptRecord,
    JobObservation,
    Run,
)

if TYPE_CHECKING:
    from batch_orchestrator.array_retry import ChildVerdict
    from batch_orchestrator.workload_steps import StepPosition

ALERT_RUN_FAILED = "RUN_FAILED"
ALERT_QUEUE_BLOCKED = "QUEUE_BLOCKED"
ALERT_RUN_STUCK = "RUN_STUCK"

_HISTORY_LIMIT = 20


# --------------------------------------------------------------------------------------------
# RUN_FAILED
# --------------------------------------------------------------------------------------------


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
    if record.workload is not None:  # a pipeline's attempt: the step it ran
        parts.insert(0, f"step {record.workload}")
    stopped = iso_from_epoch_ms(record.stopped_at)
    if stopped:
        parts.append(f"stopped {stopped}")
    size = size_text(record.vcpu, record.memory_mib)
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
    if record.workload is not None:  # a pipeline's attempt: the step it ran
        entry["workload"] = record.workload
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
    logs_text, log_url = logs_line(region, log_group, observation.log_stream_name)
    started, stopped = iso_from_epoch_ms(observation.started_at), iso_from_epoch_ms(observation.stopped_at)
    duration: int | None = None
    if observation.started_at is not None and observation.stopped_at is not None:
        duration = max(0, (observation.stopped_at - observation.started_at) // 1000)
    history = _attempt_history(run, observation)
    failed = next((record for record in history if record.attempt == attempt), None)
    size = size_text(failed.vcpu, failed.memory_mib) if failed else None
    queue = queue_name(observation.job_queue)

    what, short = _what_failed(observation, children)
    in_step = f"step {step.workload}: " if step is not None else ""
    subject = subject_around(
        subject_prefix("Batch job failed", run),
        input_name(run),
        f" ({in_step}{short}, attempt {attempt}/{max_attempts})",
    )

    rows = [
        ("Input", display(input_text(run), INPUT_LIMIT)),
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
        "input": clip(input_text(run), INPUT_LIMIT),
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
        **workload_details(run, failed),
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
