"""SNS alerts: the subject, body and message attributes a subscriber receives.

Pure composition; the SNS adapter publishes an ``Alert`` as it is. The body is written for a
person reading e-mail first (a summary with the facts needed to act), then repeats the same
data as JSON after a separator line, so a program subscribed to the topic can parse it
without scraping the prose. Message attributes carry the alert type, queue and exit code, so
subscribers can narrow what they receive with SNS filter policies.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from batch_orchestrator.limits import SNS_SUBJECT
from batch_orchestrator.models import (
    AttemptRecord,
    JobObservation,
    QueueBlocked,
    Run,
    RunStatus,
    S3Source,
    ScheduleSource,
)

ALERT_RUN_FAILED = "RUN_FAILED"
ALERT_QUEUE_BLOCKED = "QUEUE_BLOCKED"

# SNS Publish: a subject has no line breaks or control characters and is "less than 100
# characters long". Older API references also demand ASCII text starting with a letter, number
# or punctuation mark (the current one says UTF-8); keeping to that stricter rule satisfies both.
SUBJECT_MAX_CHARS = SNS_SUBJECT.max_length

# The body is the summary, a blank line, this line, then the JSON: split on it to parse.
JSON_SEPARATOR = "-" * 72

# Free text (reasons, keys) is clipped so that a message stays far below the SNS limit of
# 256 KiB: at most ~10 fields of 1,000 characters plus 20 history entries, a few tens of KB.
_TEXT_LIMIT = 1_000
_INPUT_LIMIT = 3_000  # never clip an S3 address: keys reach 1,024 bytes, version IDs about as much
_HISTORY_LIMIT = 20

_REGION = re.compile(r"[a-z]{2,5}(-[a-z]+)+-[0-9]+")
_ISOLATED_REGION = re.compile(r"(us-iso[a-z]?|eu-iso[a-z]?|eusc)-")
_REASON_CODE = re.compile(r"\s*([A-Z][A-Z0-9_]*(?::[A-Z][A-Z0-9_]*)?)")

# Characters NFKD leaves alone but that have an obvious ASCII spelling.
_ASCII_SPELLING = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
        "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
        "\u00f0": "d", "\u00d0": "D", "\u00fe": "th", "\u00de": "Th",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Alert:
    """One SNS message; ``attributes`` is already in the shape of Publish's MessageAttributes."""

    subject: str
    message: str
    attributes: dict[str, dict[str, str]]


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def to_ascii(text: str) -> str:
    """Transliterate to printable ASCII: accents dropped, dashes and quotes simplified,
    control characters and line breaks turned into spaces, anything else into ``?``."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text.translate(_ASCII_SPELLING)):
        if " " <= ch <= "~":
            out.append(ch)
        elif unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
            continue  # accents after decomposition; zero-width and direction marks
        elif ch.isspace() or unicodedata.category(ch) == "Cc":
            out.append(" ")
        else:
            out.append("?")
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _shorten_middle(text: str, limit: int) -> str:
    """Cut the middle out, keeping the end: file names end in their date and extension."""
    if len(text) <= limit:
        return text
    if limit <= 3:
        return text[:limit]
    keep = limit - 3
    tail = keep // 3
    return text[: keep - tail] + "..." + (text[-tail:] if tail else "")


def sns_subject(text: str) -> str:
    """Make any text a valid SNS subject: printable ASCII, one line, under 100 characters."""
    subject = to_ascii(text) or "Batch Orchestrator alert"
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 3].rstrip() + "..."
    return subject


def _subject(prefix: str, name: str, suffix: str) -> str:
    """``prefix + name + suffix`` as a subject, shortening only the name to fit."""
    budget = SUBJECT_MAX_CHARS - len(prefix) - len(suffix)
    return sns_subject(prefix + _shorten_middle(to_ascii(name), max(budget, 0)) + suffix)


def _display(text: str, limit: int = _TEXT_LIMIT) -> str:
    """One line of body text: control characters shown as escapes, long text clipped."""
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    if len(shown) > limit:
        return shown[: limit - 1] + "…"
    return shown


def _clip(text: str | None, limit: int = _TEXT_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _aligned(rows: list[tuple[str, str]], width: int) -> list[str]:
    # A fixed width per alert type keeps the layout the same whichever optional rows appear.
    return [f"{label + ':':<{width}}{value}" for label, value in rows]


def _body(summary: list[str], details: dict[str, Any]) -> str:
    data = json.dumps(details, ensure_ascii=False, indent=2, sort_keys=True)
    return "\n".join([*summary, "", JSON_SEPARATOR, data]) + "\n"


def _string_attribute(value: str) -> dict[str, str]:
    # SNS rejects empty attribute values.
    return {"DataType": "String", "StringValue": value or "unknown"}


# --------------------------------------------------------------------------------------------
# Console links
# --------------------------------------------------------------------------------------------


def console_base_url(region: str) -> str:
    """The AWS Management Console host serving ``region``.

    Partitions have their own consoles: ``https://<region>.console.aws.amazon.com`` (aws),
    ``https://console.amazonaws.cn`` (aws-cn, cn-*), ``https://console.amazonaws-us-gov.com``
    (aws-us-gov, us-gov-*). The isolated and sovereign partitions (us-iso*, eu-isoe, eusc-*)
    have no public console address we can link to: ValueError.
    """
    if not _REGION.fullmatch(region):
        raise ValueError(f"not an AWS region name: {region!r}")
    if _ISOLATED_REGION.match(region):
        raise ValueError(f"no known console address for region {region}")
    if region.startswith("cn-"):
        return "https://console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def _console_escape(value: str) -> str:
    # Inside its URL fragment the CloudWatch console expects each name percent-encoded twice,
    # with the outer '%' written as '$': '/' becomes '$252F' and '$' becomes '$2524'.
    return quote(quote(value, safe=""), safe="").replace("%", "$")


def log_stream_console_url(region: str, log_group: str, log_stream: str) -> str:
    """Deep link to one log stream's events in the CloudWatch Logs console.

    ``<console>/cloudwatch/home?region=<region>#logsV2:log-groups/log-group/<group>/log-events/
    <stream>``, with group and stream escaped the console's way (see ``_console_escape``).
    Raises ValueError for a region without a known console (see ``console_base_url``).
    """
    return (
        f"{console_base_url(region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_console_escape(log_group)}"
        f"/log-events/{_console_escape(log_stream)}"
    )


def _logs_line(region: str, log_group: str, log_stream: str | None) -> tuple[str, str | None]:
    """The body's "Logs" text and the link (None when there is none)."""
    if not log_stream:
        return "none (the container never started, so it wrote no log stream)", None
    try:
        url = log_stream_console_url(region, log_group, log_stream)
    except ValueError:
        return f"log group {log_group}, stream {log_stream} (no console link for {region})", None
    return url, url


def _queue_name(queue: str) -> str:
    # arn:aws:batch:<region>:<account>:job-queue/<name> -> <name>
    return queue.rsplit("/", 1)[-1] if ":job-queue/" in queue else queue


def _queue_arn(queue: str) -> str | None:
    return queue if queue.startswith("arn:") else None


# --------------------------------------------------------------------------------------------
# RUN_FAILED
# --------------------------------------------------------------------------------------------


def _input_text(run: Run) -> str:
    source = run.source
    if isinstance(source, S3Source):
        text = f"s3://{source.bucket}/{source.key}"
        return f"{text} (version {source.version_id})" if source.version_id else text
    return f"schedule {source.schedule_name}, fired for {source.scheduled_time}"


def _input_name(run: Run) -> str:
    """The short name of the input for the subject: the object's file name or the schedule."""
    source = run.source
    if isinstance(source, ScheduleSource):
        return f"schedule {source.schedule_name}"
    return source.key.rstrip("/").rsplit("/", 1)[-1] or source.key


def _exit_text(observation: JobObservation) -> str:
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
    stopped = _iso(record.stopped_at)
    if stopped:
        parts.append(f"stopped {stopped}")
    line = f"  {record.attempt}. " + ", ".join(parts)
    return f"{line} - {_display(record.reason, 200)}" if record.reason else line


def _history_entry(record: AttemptRecord) -> dict[str, Any]:
    return {
        "attempt": record.attempt,
        "jobId": record.job_id,
        "status": record.status.value,
        "exitCode": record.exit_code,
        "reason": _clip(record.reason),
        "logStreamName": record.log_stream_name,
        "startedAt": _iso(record.started_at),
        "stoppedAt": _iso(record.stopped_at),
    }


def build_run_failed_alert(
    run: Run,
    observation: JobObservation,
    *,
    decision_reason: str,
    region: str,
    log_group: str,
) -> Alert:
    """The alert for a run that failed for good (a non-retryable failure or no attempts left).

    ``observation`` is the FAILED event of the last attempt; ``decision_reason`` is the retry
    decision's reason; ``log_group`` is the Batch jobs' log group (JOB_LOG_GROUP).
    """
    attempt, max_attempts = observation.attempt, run.max_attempts
    exit_code = observation.exit_code
    failure_reason = observation.failure.reason
    logs_text, log_url = _logs_line(region, log_group, observation.log_stream_name)
    started, stopped = _iso(observation.started_at), _iso(observation.stopped_at)
    duration: int | None = None
    if observation.started_at is not None and observation.stopped_at is not None:
        duration = max(0, (observation.stopped_at - observation.started_at) // 1000)
    history = _attempt_history(run, observation)
    queue = _queue_name(observation.job_queue)

    if exit_code is not None:
        what, short = f"exited with code {exit_code}", f"exit {exit_code}"
    elif observation.timed_out:
        what, short = "timed out", "timed out"
    else:
        what, short = "failed without an exit code (infrastructure failure)", "no exit code"
    subject = _subject("Batch job failed: ", _input_name(run), f" ({short}, attempt {attempt}/{max_attempts})")

    rows = [
        ("Input", _display(_input_text(run), _INPUT_LIMIT)),
        ("Job", _display(observation.job_name)),
        ("Job ID", observation.job_id),
        ("Queue", _display(queue)),
        ("Attempt", f"{attempt} of {max_attempts}"),
        ("Exit code", _exit_text(observation)),
        ("Reason", _display(failure_reason) if failure_reason else "none given"),
    ]
    if observation.status_reason and observation.status_reason != failure_reason:
        rows.append(("Batch status", _display(observation.status_reason)))
    rows.append(("Decision", _display(decision_reason)))
    if started:
        rows.append(("Started", started))
    if stopped:
        rows.append(("Stopped", f"{stopped} (after {_duration(duration)})" if duration is not None else stopped))
    if observation.log_stream_name:
        rows.append(("Log stream", _display(observation.log_stream_name)))
    rows += [("Logs", logs_text), ("Run ID", run.run_id)]

    summary = [
        f"Run {run.run_id} failed for good: attempt {attempt} of {max_attempts} {what}.",
        "",
        *_aligned(rows, 15),
        "",
        "Attempt history:",
        *(_history_line(record) for record in history),
    ]
    details: dict[str, Any] = {
        "alertType": ALERT_RUN_FAILED,
        "runId": run.run_id,
        "trigger": run.source.trigger.value,
        "input": _clip(_input_text(run), _INPUT_LIMIT),
        "source": run.source.to_dict(),
        "jobName": observation.job_name,
        "jobId": observation.job_id,
        "jobQueue": queue,
        "jobQueueArn": _queue_arn(observation.job_queue),
        "attempt": attempt,
        "maxAttempts": max_attempts,
        "exitCode": exit_code,
        "timedOut": observation.timed_out,
        "reason": _clip(failure_reason),
        "statusReason": _clip(observation.status_reason),
        "containerReason": _clip(observation.container_reason),
        "decision": _clip(decision_reason),
        "startedAt": started,
        "stoppedAt": stopped,
        "durationSeconds": duration,
        "region": region,
        "logGroup": log_group,
        "logStreamName": observation.log_stream_name,
        "logUrl": log_url,
        "history": [_history_entry(record) for record in history],
    }
    attributes = {
        "alertType": _string_attribute(ALERT_RUN_FAILED),
        "jobQueue": _string_attribute(queue),
        "trigger": _string_attribute(run.source.trigger.value),
    }
    if exit_code is not None:
        attributes["exitCode"] = {"DataType": "Number", "StringValue": str(exit_code)}
    return Alert(subject=subject, message=_body(summary, details), attributes=attributes)


# --------------------------------------------------------------------------------------------
# QUEUE_BLOCKED
# --------------------------------------------------------------------------------------------

# What to do for each blocked-queue reason AWS Batch documents ("Jobs stuck in a RUNNABLE
# status", AWS Batch User Guide). Cancelling the head job unblocks the queue only when the
# cause is specific to that job; for environment-wide causes the next job blocks again.
_QUEUE_BLOCKED_ADVICE = {
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": (
        "No compute environment of the queue can get the instances the job needs right now. "
        "It may clear on its own; otherwise allow more instance types or subnets "
        "(Availability Zones), or cancel the job. A jobStateTimeLimitActions rule on the queue "
        "can cancel such jobs automatically after a wait."
    ),
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": (
        "The job needs more vCPUs than the maxvCpus of every compute environment of the queue. "
        "Raise maxvCpus or lower the job's vCPU requirement, then cancel the job so the jobs "
        "behind it can run."
    ),
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": (
        "No compute environment of the queue offers the vCPU/memory/GPU the job asks for. "
        "Lower the job definition's resource requirements (on Fargate, use a supported "
        "vCPU/memory combination) or allow larger instance types, then cancel the job."
    ),
    "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS": (
        "The AWS Batch service role lacks permissions. Compare it with the AWS managed policy "
        "for Batch (or use the service-linked role) and fix it; cancelling the job alone will "
        "only block the next one. jobStateTimeLimitActions cannot handle this reason."
    ),
    "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED": (
        "A compute environment uses instance types that are not offered in its Availability "
        "Zones or that do not fit its launch template. Check the instance types, subnets and "
        "launch template of the compute environments."
    ),
    "ACTION_REQUIRED": (
        "Every compute environment of the queue is INVALID. Open the compute environments in "
        "the Batch console and read their status reason."
    ),
}
_DEFAULT_QUEUE_BLOCKED_ADVICE = (
    "AWS Batch could not tell why. Check that the compute environments are VALID and ENABLED, "
    "that their subnets reach ECS (public IP, NAT or VPC endpoints), the EC2 and Fargate "
    "quotas, and the job definition's resources."
)


def queue_blocked_reason_code(status_reason: str) -> str:
    """The code at the start of a blocked job's statusReason, e.g. ``CAPACITY:INSUFFICIENT_...``."""
    match = _REASON_CODE.match(status_reason)
    return match.group(1) if match else "UNKNOWN"


def queue_blocked_advice(status_reason: str) -> str:
    """What an operator should do about a blocked queue, from the job's statusReason."""
    code = queue_blocked_reason_code(status_reason)
    return _QUEUE_BLOCKED_ADVICE.get(code, _DEFAULT_QUEUE_BLOCKED_ADVICE)


def build_queue_blocked_alert(blocked: QueueBlocked, *, region: str) -> Alert:
    """The alert for a "Batch Job Queue Blocked" event: which queue, which job, why, what to do."""
    queue = _queue_name(blocked.job_queue)
    code = queue_blocked_reason_code(blocked.status_reason)
    advice = queue_blocked_advice(blocked.status_reason)
    cancel = f'aws batch cancel-job --region {region} --job-id {blocked.job_id} --reason "unblock queue {queue}"'
    suffix = f" ({code})" if code != "UNKNOWN" else ""
    subject = _subject("Batch job queue blocked: ", queue, suffix)

    rows = [
        ("Queue", _display(queue)),
        ("Region", region),
        ("Blocking job", f"{_display(blocked.job_name)} (job ID {blocked.job_id})"),
    ]
    if blocked.run_id:
        run = blocked.run_id if blocked.attempt is None else f"{blocked.run_id} (attempt {blocked.attempt})"
        rows.append(("Run ID", run))
    rows += [
        ("Status reason", _display(blocked.status_reason)),
        ("What to do", advice),
        ("Cancel the job", _display(cancel)),
    ]
    summary = [
        f"Job queue {_display(queue)} is blocked: the RUNNABLE job at its head cannot be placed, "
        "and every job behind it waits.",
        "",
        *_aligned(rows, 17),
    ]
    details: dict[str, Any] = {
        "alertType": ALERT_QUEUE_BLOCKED,
        "region": region,
        "jobQueue": queue,
        "jobQueueArn": _queue_arn(blocked.job_queue),
        "jobId": blocked.job_id,
        "jobName": blocked.job_name,
        "runId": blocked.run_id,
        "attempt": blocked.attempt,
        "statusReason": _clip(blocked.status_reason),
        "reasonCode": code,
        "advice": advice,
    }
    attributes = {
        "alertType": _string_attribute(ALERT_QUEUE_BLOCKED),
        "jobQueue": _string_attribute(queue),
        "reasonCode": _string_attribute(code),
    }
    return Alert(subject=subject, message=_body(summary, details), attributes=attributes)


# --------------------------------------------------------------------------------------------
# RUN_STUCK (the watchdog)
# --------------------------------------------------------------------------------------------

ALERT_RUN_STUCK = "RUN_STUCK"

_STUCK_ADVICE = {
    RunStatus.QUEUED: (
        "AWS Batch refused the job's submission and the retries did not get it through. Look at the "
        "submit_jobs logs and SubmitDLQ for the error (a throttled or invalid SubmitJob)."
    ),
    RunStatus.SUBMITTED: (
        "The job was handed to AWS Batch but never reported back. Check that the job queue is ENABLED "
        "and VALID, and look for errors in the submit_jobs and track_jobs logs."
    ),
    RunStatus.PENDING: (
        "The job waits in PENDING, which normally lasts seconds for a job without dependencies. Check "
        "the job in the Batch console and the state of its job queue."
    ),
    RunStatus.RUNNABLE: (
        "The job waits for capacity. Check that the compute environment is VALID and ENABLED, that its "
        "maxvCpus is not used up by other jobs, the account's Fargate vCPU quota, and that the subnets "
        "reach ECR, ECS and CloudWatch Logs (public IP, NAT gateway or VPC endpoints)."
    ),
    RunStatus.STARTING: (
        "The task was placed but has not started: usually a slow or failing image pull (image size, "
        "registry permissions, no route to ECR) or a slow ENI attachment. Check the job's status reason "
        "and the ECS task in the console."
    ),
    RunStatus.RUNNING: (
        "The job runs longer than its timeout allows, so Batch should already have stopped it, or its "
        "SUCCEEDED/FAILED event never arrived. Check the job's log stream; terminate it if it hangs."
    ),
}


def _span(seconds: int) -> str:
    return _duration(seconds).removesuffix(" 0 s")


def stuck_run_advice(status: RunStatus, status_reason: str | None) -> str:
    """What to do about a run stuck in ``status``; a known blocked-queue reason code wins for RUNNABLE."""
    if status is RunStatus.RUNNABLE and status_reason:
        code = queue_blocked_reason_code(status_reason)
        if code in _QUEUE_BLOCKED_ADVICE:
            return _QUEUE_BLOCKED_ADVICE[code]
    return _STUCK_ADVICE.get(status, _DEFAULT_QUEUE_BLOCKED_ADVICE)


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
    queue = _queue_name(queue_ref)
    status_reason = observation.status_reason if observation else run.status_reason
    advice = stuck_run_advice(status, status_reason)
    minutes = stuck_seconds // 60
    subject = _subject(f"Batch job stuck in {status.value}: ", _input_name(run), f" ({minutes} min)")

    rows = [
        ("Input", _display(_input_text(run), _INPUT_LIMIT)),
        ("Status", f"{status.value} for {_span(stuck_seconds)} (alert after {_span(threshold_seconds)})"),
        ("Since", run.updated_at or "unknown"),
        ("Attempt", f"{run.attempt} of {run.max_attempts}"),
        ("Job", _display(job_name) if job_name else "none yet"),
        ("Job ID", job_id or "none yet (no job was found for this run)"),
        ("Queue", _display(queue) if queue else "unknown"),
        ("Status reason", _display(status_reason) if status_reason else "none given"),
        ("What to do", advice),
    ]
    auto_cancel = status is RunStatus.RUNNABLE and cancel_after_seconds > 0
    if auto_cancel:
        rows.append(("Auto-cancel", f"the watchdog terminates the job after {_span(cancel_after_seconds)}"))
    if job_id:
        command = f'aws batch terminate-job --region {region} --job-id {job_id} --reason "stuck in {status.value}"'
        rows.append(("Terminate the job", _display(command)))
    rows.append(("Run ID", run.run_id))

    summary = [
        f"Run {run.run_id} has been {status.value} for {_span(stuck_seconds)}, longer than the "
        f"{_span(threshold_seconds)} the watchdog allows. This alert is sent once while the run stays there.",
        "",
        *_aligned(rows, 19),
    ]
    details: dict[str, Any] = {
        "alertType": ALERT_RUN_STUCK,
        "runId": run.run_id,
        "trigger": run.source.trigger.value,
        "input": _clip(_input_text(run), _INPUT_LIMIT),
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
        "jobQueueArn": _queue_arn(queue_ref),
        "statusReason": _clip(status_reason),
        "advice": advice,
        "autoCancelAfterSeconds": cancel_after_seconds if auto_cancel else None,
        "region": region,
    }
    attributes = {
        "alertType": _string_attribute(ALERT_RUN_STUCK),
        "jobQueue": _string_attribute(queue),
        "status": _string_attribute(status.value),
        "trigger": _string_attribute(run.source.trigger.value),
    }
    return Alert(subject=subject, message=_body(summary, details), attributes=attributes)
