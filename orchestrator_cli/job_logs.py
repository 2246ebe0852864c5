"""A run's job output: which log stream holds an attempt's output, and its events (`runs logs`).

The runs table records each attempt's CloudWatch Logs stream (the job definition's awslogs group is
the stack output JobLogGroupName): the run's own ``logStreamName`` for the attempt it last observed,
and ``history[].logStreamName`` for every finished attempt. ``runs show`` links to the same streams.

Against the local stack the console links of ``runs show`` lead nowhere; ``targets_local`` says when
the CLI talks to an endpoint on this machine, and ``logs_command`` is what to run instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.models import RunStatus
from orchestrator_cli.aws import Aws
from orchestrator_cli.errors import NotFound, UsageError, error_code, error_message, from_aws
from orchestrator_cli.local_serve import is_loopback
from orchestrator_cli.settings import Settings

LOGS_COMMAND = ".venv/bin/orchestrator runs logs"
# GetLogEvents returns at most 10,000 events (1 MB) a page: 100 pages is far more than a job's output
# should be read through a terminal, and bounds the loop if the service never repeats its token.
MAX_PAGES = 100


@dataclass(frozen=True)
class AttemptStream:
    attempt: int
    log_stream_name: str


@dataclass(frozen=True)
class LogEvents:
    events: list[dict[str, Any]]
    pages: int
    complete: bool  # False: stopped after MAX_PAGES with more events left


def targets_local(settings: Settings) -> bool:
    """Whether the CLI talks to an emulator on this machine (a local serve it found, or a loopback
    ``--endpoint-url``): then AWS console links lead nowhere."""
    return bool(settings.endpoint_url) and is_loopback(str(settings.endpoint_url))


def logs_command(settings: Settings, run_id: str, attempt: int | None = None) -> str:
    """The `runs logs` command line that reads a run's output from the same target as this command."""
    words = [LOGS_COMMAND, run_id]
    if attempt is not None:
        words += ["--attempt", str(attempt)]
    # A serve found by itself is found again; a target named by flags must be named again.
    for name, flag in (("endpoint_url", "--endpoint-url"), ("stack_name", "--stack-name"), ("region", "--region")):
        value = getattr(settings, name)
        if settings.sources.get(name) == "flag" and value:
            words += [flag, str(value)]
    return " ".join(words)


def attempt_stream(item: Mapping[str, Any], attempt: int | None) -> AttemptStream:
    """The log stream of ``attempt`` of the run ``item``; by default the latest one the run records
    (the run's own ``logStreamName``, the stream `runs show` shows). NotFound names what is missing."""
    run_id = str(item.get("runId"))
    status = str(item.get("status"))
    current = int(item.get("attempt") or 0)
    history = [entry for entry in item.get("history") or [] if isinstance(entry, Mapping)]
    finished = {int(entry["attempt"]): entry for entry in history if entry.get("attempt") is not None}
    waiting = status == RunStatus.RETRY_WAIT.value  # the run's logStreamName is the previous attempt's
    if attempt is None:
        stream = item.get("logStreamName")
        if stream:
            own = int(history[-1]["attempt"]) if waiting and history else current
            return AttemptStream(own, str(stream))
        raise NotFound(
            f"run {run_id} has no log stream yet: attempt {current} is {status} and its job has not started",
            hint=_earlier_hint(run_id, finished, below=current),
        )
    if attempt > current:
        raise UsageError(
            f"run {run_id} has no attempt {attempt}: it is at attempt {current} of {item.get('maxAttempts')}",
            hint=f"--attempt is 1 to {current}",
        )
    if attempt == current and not waiting and item.get("logStreamName"):
        return AttemptStream(attempt, str(item["logStreamName"]))
    entry = finished.get(attempt)
    if entry is not None and entry.get("logStreamName"):
        return AttemptStream(attempt, str(entry["logStreamName"]))
    if entry is not None:
        reason = f"attempt {attempt} ended {entry.get('status')} without one (its container never started)"
    elif attempt == current:
        reason = f"attempt {attempt} is {status} and its job has not started"
    else:
        reason = f"attempt {attempt} is not in the run's history (it keeps the latest attempts only)"
    raise NotFound(
        f"run {run_id} has no log stream for attempt {attempt}: {reason}",
        hint=_earlier_hint(run_id, finished, below=attempt),
    )


def _earlier_hint(run_id: str, finished: Mapping[int, Mapping[str, Any]], *, below: int) -> str:
    earlier = [number for number, entry in finished.items() if number < below and entry.get("logStreamName")]
    if earlier:
        return f"an earlier attempt has one: `orchestrator runs logs {run_id} --attempt {max(earlier)}`"
    return f"`orchestrator runs show {run_id}` shows the run's state; try again once its job runs"


def read_log_events(aws: Aws, log_group: str, log_stream: str, *, max_pages: int = MAX_PAGES) -> LogEvents:
    """Every event of one stream, oldest first: GetLogEvents from the head, following
    nextForwardToken until it comes back unchanged (the end), at most ``max_pages`` pages."""
    logs = aws.client("logs")
    doing = f"reading log stream {log_stream} of log group {log_group}"
    events: list[dict[str, Any]] = []
    token: str | None = None
    for page in range(1, max_pages + 1):
        request: dict[str, Any] = {"logGroupName": log_group, "logStreamName": log_stream, "startFromHead": True}
        if token is not None:
            request["nextToken"] = token
        try:
            response = logs.get_log_events(**request)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise NotFound(
                    f"log stream {log_stream} does not exist in log group {log_group} ({error_message(exc)})",
                    hint="the job may not have written output yet (the local job runner writes it when the "
                    "attempt ends), or the log group's retention has removed it",
                ) from exc
            raise from_aws(exc, doing) from exc
        except BotoCoreError as exc:
            raise from_aws(exc, doing) from exc
        events.extend(response.get("events", []))
        following = response.get("nextForwardToken")
        if not following or following == token:
            return LogEvents(events, page, complete=True)
        token = following
    return LogEvents(events, max_pages, complete=False)
