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
from emulator.task_limits import (
    OUT_OF_MEMORY_REASON,
    SPOT_INTERRUPTED_STATUS_REASON,
    SpotInterruptions,
    effective_resource_requirements,
    group_resident_mib,
)
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
    runner = _idle_runner()
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


def _idle_runner() -> LocalJobRunner:
    """A runner that is never started: its attempt-watching methods work on any local process."""
    return LocalJobRunner(
        job_queue_arns=[],
        emit=lambda event: None,
        account_id="123456789012",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        batch_client=None,
        logs_client=None,
        stop_grace_seconds=0.5,
    )


def _sample_job_using(mib: int, *, in_a_child: bool) -> subprocess.Popen[bytes]:
    """A task (its own process group) that fills ``mib`` MiB with the sample job's use_memory and holds it 20 s,
    itself or in a child process (the parent then holds nearly nothing)."""
    use = f"import sys; sys.path.insert(0, {str(SAMPLE_JOB_DIR)!r}); import job; job.use_memory({mib}, hold_seconds=20)"
    script = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {use!r}])" if in_a_child else use
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, start_new_session=True)


def test_a_task_over_its_memory_is_killed_like_fargate_kills_it_children_included() -> None:
    # Given a task whose CHILD process fills 300 MiB, with a 200 MiB memory requirement
    process = _sample_job_using(300, in_a_child=True)

    # When the runner watches it
    started = time.monotonic()
    outcome = _idle_runner()._wait(process, 30, memory_mib=200)

    # Then the whole task is killed, reported as Fargate reports an out-of-memory container
    assert time.monotonic() - started < 15
    assert (outcome.exit_code, outcome.reason) == (137, OUT_OF_MEMORY_REASON)
    assert outcome.status_reason == "Essential container in task exited"
    assert (outcome.timed_out, outcome.terminated) == (False, False)
    assert process.poll() is not None


def test_a_task_within_its_memory_runs_to_its_end() -> None:
    # Given the sample job filling 40 MiB for a moment, with a 300 MiB memory requirement
    use = f"import sys; sys.path.insert(0, {str(SAMPLE_JOB_DIR)!r}); import job; job.use_memory(40, hold_seconds=0.5)"
    process = subprocess.Popen([sys.executable, "-c", use], stdout=subprocess.DEVNULL, start_new_session=True)

    # When the runner watches it
    outcome = _idle_runner()._wait(process, 30, memory_mib=300)

    # Then it ends by itself, with its own exit code
    assert (outcome.exit_code, outcome.reason) == (0, None)


def test_the_resident_memory_of_a_task_counts_every_process_of_its_group() -> None:
    # Given a task whose child holds 120 MiB
    process = _sample_job_using(120, in_a_child=True)
    try:
        # When its group's resident memory is read (once the child has filled its memory)
        deadline = time.monotonic() + 10
        while (used := group_resident_mib(process.pid) or 0.0) < 120 and time.monotonic() < deadline:
            time.sleep(0.05)

        # Then it holds the child's memory too
        assert used >= 120
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_submit_job_resource_overrides_replace_the_definitions_by_type() -> None:
    definition = [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}]
    assert effective_resource_requirements(definition, [{"type": "MEMORY", "value": "1024"}]) == [
        {"type": "VCPU", "value": "0.25"},
        {"type": "MEMORY", "value": "1024"},
    ]
    assert effective_resource_requirements(definition, []) == definition


def test_injected_spot_interruptions_hit_the_first_tasks_of_each_run_only() -> None:
    interruptions = SpotInterruptions(2)
    assert [interruptions.take("run-a") for _ in range(3)] == [True, True, False]
    assert [interruptions.take("run-b") for _ in range(3)] == [True, True, False]
    assert not SpotInterruptions().take("run-c")
    with pytest.raises(ValueError, match="interrupt_spot"):
        SpotInterruptions(-1)


@pytest.mark.parametrize("pipeline_parameters", [{"UseFargateSpot": "true"}], indirect=True)
@pytest.mark.parametrize("pipeline_interrupt_spot", [1], indirect=True)
def test_an_interrupted_spot_task_is_retried_by_the_job_definitions_own_rule(pipeline: LocalPipeline) -> None:
    # Given the stack's own workload on Fargate Spot, whose job definition RETRIEs on the Spot reason, and a
    # runner that interrupts the first Spot task of every run
    upload = pipeline.upload("incoming/spot.txt", "payload\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=45)[upload.run_id]

    # Then Batch itself retried the interrupted task (one orchestrator attempt, two Batch attempts)
    assert (run.status.value, run.attempt) == ("SUCCEEDED", 1)
    (job,) = pipeline.jobs_of(upload.run_id)
    assert [attempt["statusReason"] for attempt in job["attempts"]] == [
        SPOT_INTERRUPTED_STATUS_REASON,
        "Essential container in task exited",
    ]
    assert job["attempts"][0]["container"]["exitCode"] == 143  # SIGTERM, as ECS stops a reclaimed task
    assert pipeline.errors == []


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
