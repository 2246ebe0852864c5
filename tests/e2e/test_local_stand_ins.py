"""The local stand-ins themselves: what they promise about AWS behaviour, and that stop() stops all.

The pipeline tests show the product working; these pin down the simulated parts they rely on
(Batch's retryStrategy and timeout, the container path mapping, the scheduler's expressions) and
that a stopped pipeline leaves no thread, process, server, patch or environment change behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest

from batch_orchestrator.job_outcome import TIMEOUT_STATUS_REASON
from emulator.exit_codes import container_exit_code, evaluate_on_exit
from emulator.pipeline import LocalPipeline
from emulator.runner import SAMPLE_JOB_DIR, LocalJobRunner, local_command
from emulator.schedules import UnsupportedScheduleError, next_fire_time
from emulator.template import DEFAULT_TEMPLATE, load_template

# ------------------------------------------------------------------------------ Batch retryStrategy


def _template_rules() -> list[dict[str, str]]:
    definition = load_template(DEFAULT_TEMPLATE)["Resources"]["JobDefinition"]["Properties"]
    return [
        {key[0].lower() + key[1:]: value for key, value in rule.items()}
        for rule in definition["RetryStrategy"]["EvaluateOnExit"]
    ]


@pytest.mark.parametrize(
    ("exit_code", "reason", "status_reason", "action"),
    [
        (3, None, "Essential container in task exited", "EXIT"),  # exit codes are the orchestrator's
        (137, None, "Your Spot Task was interrupted.", "RETRY"),  # Fargate Spot reclaim
        (None, "CannotPullContainerError: pull access denied", "Task failed to start", "RETRY"),
        (None, "ResourceInitializationError: unable to pull secrets", "Task failed to start", "RETRY"),
        (None, "CannotStartContainerError: no such file", "Task failed to start", "RETRY"),
    ],
)
def test_the_template_retry_strategy_retries_infrastructure_failures_only(
    exit_code: int | None, reason: str | None, status_reason: str, action: str
) -> None:
    assert (
        evaluate_on_exit(_template_rules(), exit_code=exit_code, reason=reason, status_reason=status_reason) == action
    )


def test_no_matching_rule_means_retry_and_patterns_are_prefixes() -> None:
    rules = [{"onExitCode": "4*", "action": "exit"}, {"onReason": "Oops", "action": "EXIT"}]
    assert evaluate_on_exit(rules, exit_code=42, reason=None, status_reason=None) == "EXIT"
    assert evaluate_on_exit(rules, exit_code=1, reason="Oops", status_reason=None) == "EXIT"
    assert evaluate_on_exit(rules, exit_code=1, reason="Oops!", status_reason=None) == "RETRY"
    assert evaluate_on_exit([], exit_code=1, reason=None, status_reason=None) == "RETRY"


# ------------------------------------------------------------------------------ container stand-in
def test_the_image_paths_and_python_map_to_this_checkout() -> None:
    argv = local_command(["python3", "/app/job.py", "--flag", "/app", "/data/x"], {"/app": SAMPLE_JOB_DIR})
    assert argv == [sys.executable, str(SAMPLE_JOB_DIR / "job.py"), "--flag", str(SAMPLE_JOB_DIR), "/data/x"]
    assert (SAMPLE_JOB_DIR / "job.py").is_file()
    assert local_command(["/bin/echo", "python3"], {"/app": SAMPLE_JOB_DIR}) == ["/bin/echo", "python3"]


def test_exit_codes_are_reported_as_docker_reports_them() -> None:
    assert container_exit_code(0) == 0
    assert container_exit_code(75) == 75
    assert container_exit_code(-signal.SIGKILL) == 137
    assert container_exit_code(-signal.SIGTERM) == 143


def test_a_job_that_outlives_its_timeout_is_stopped_like_batch_stops_it(tmp_path: Path) -> None:
    # Given a runner (not started) and a task that ignores SIGTERM
    runner = LocalJobRunner(
        job_queue_arns=[],
        emit=lambda event: None,
        account_id="123456789012",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        batch_client=None,
        logs_client=None,
        stop_grace_seconds=0.5,
    )
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(30)"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None
    process.stdout.readline()

    # When its attempt duration (1 s) runs out
    started = time.monotonic()
    outcome = runner._wait(process, 1)

    # Then it is stopped (SIGTERM, then SIGKILL after the grace period) and reported as a timeout
    assert time.monotonic() - started < 5
    assert outcome.timed_out
    assert outcome.exit_code == 137
    assert outcome.status_reason == TIMEOUT_STATUS_REASON
    assert process.poll() is not None


# ---------------------------------------------------------------------------- scheduler expressions
@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        ("cron(0 3 * * ? *)", "UTC", "2026-03-14T02:59:30", "2026-03-14T03:00:00"),
        ("cron(0 3 * * ? *)", "UTC", "2026-03-14T03:00:00", "2026-03-15T03:00:00"),
        ("cron(0 3 * * ? *)", "Asia/Tokyo", "2026-03-14T00:00:00", "2026-03-14T18:00:00"),
        ("cron(15/20 9-10 ? * MON-FRI *)", "UTC", "2026-03-14T00:00:00", "2026-03-16T09:15:00"),  # a Saturday
        ("cron(0 0 1 JAN,JUL ? 2027)", "UTC", "2026-03-14T00:00:00", "2027-01-01T00:00:00"),
        ("rate(5 minutes)", "UTC", "2026-03-14T00:00:00", "2026-03-14T00:05:00"),
        ("rate(1 day)", "UTC", "2026-03-14T00:00:00", "2026-03-15T00:00:00"),
        ("at(2026-03-14T12:00:00)", "Europe/Paris", "2026-03-14T00:00:00", "2026-03-14T11:00:00"),
        ("at(2026-03-14T12:00:00)", "UTC", "2026-03-15T00:00:00", None),
    ],
)
def test_schedule_expressions_fire_when_the_scheduler_would(
    expression: str, timezone: str, after: str, expected: str | None
) -> None:
    when = next_fire_time(expression, timezone, datetime.fromisoformat(after).replace(tzinfo=UTC))
    assert when == (datetime.fromisoformat(expected).replace(tzinfo=UTC) if expected else None)


def test_schedule_expressions_the_local_scheduler_cannot_evaluate_say_so() -> None:
    with pytest.raises(UnsupportedScheduleError):
        next_fire_time("cron(0 12 L * ? *)", "UTC", datetime.now(UTC))


# --------------------------------------------------------------------------------------- lifecycle
def test_stop_leaves_nothing_behind() -> None:
    # Given a running pipeline with a job in the middle of running
    from moto.batch_simple.models import BatchSimpleBackend

    threads_before = set(threading.enumerate())
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    original_finish = BatchSimpleBackend._mark_job_as_finished
    pipeline = LocalPipeline().start()
    endpoint = urlparse(pipeline.endpoint_url)
    upload = pipeline.upload("incoming/slow.txt", "#sleep 30\n")
    deadline = time.monotonic() + 30
    while "RUNNING" not in [c.status for c in pipeline.changes(upload.run_id)] and time.monotonic() < deadline:
        time.sleep(0.05)
    (job,) = pipeline.runner.jobs()
    pid = job.attempts[-1].pid
    assert pid is not None

    # When it is stopped
    pipeline.stop()

    # Then the job's process, the threads, the server and the patches are gone
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    deadline = time.monotonic() + 3  # a request thread of the server may need a moment to return
    while (leftover := [t.name for t in set(threading.enumerate()) - threads_before]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover == []
    with pytest.raises(ConnectionRefusedError), socket.create_connection((endpoint.hostname, endpoint.port), timeout=1):
        pass
    assert BatchSimpleBackend._mark_job_as_finished is original_finish
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before


def test_the_serve_stream_lines_up_wide_and_accented_file_names() -> None:
    # Given status changes of runs whose keys are ASCII, Japanese (two columns a character) and accented
    from emulator.console import format_change
    from emulator.run_progress import StatusChange
    from orchestrator_cli.render import display_width

    labels = ["incoming/report.csv", "incoming/売上レポート.csv", "incoming/cafe\u0301 menu.csv"]
    changes = [StatusChange(1.0, "s3-x", label, "RUNNING", 1, 3, None, None) for label in labels]

    # When the serve stream prints them
    lines = [format_change(change) for change in changes]

    # Then the status column starts at the same terminal column on every line
    columns = {display_width(line[: line.index("RUNNING")]) for line in lines}
    assert len(columns) == 1, lines
