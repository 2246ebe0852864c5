"""Against the local stack (a LocalPipeline whose job runner writes each attempt's real output to
CloudWatch Logs): `runs logs` prints it, `runs show` points at it instead of an AWS console link,
and serve and demo say where it is after an alert."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.console import Console, job_output_line
from emulator.pipeline import LocalPipeline
from emulator.serve import print_alert
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner, write_serve_state

FLAKY = "#exit 75 until attempt 2\nExits 75 on its first attempt.\n"
BROKEN = "#exit 3\nExits 3 on every attempt.\n"
CONSOLE = "console.aws.amazon.com"
RUN_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def serving() -> Iterator[LocalPipeline]:
    pipeline = LocalPipeline({}).start()
    try:
        yield pipeline
    finally:
        pipeline.stop()


@pytest.fixture(scope="module")
def flaky_run(serving: LocalPipeline) -> str:
    """A run that failed once with exit 75 and succeeded on its second attempt."""
    upload = serving.upload("incoming/flaky-for-logs.txt", FLAKY)
    serving.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)
    # Until the pipeline is idle, its background invocations (publish_events, after the run ends) print their
    # metrics to the process's stdout, which the CLI's captured output would then contain.
    serving.wait_idle(timeout=30)
    return upload.run_id


@pytest.fixture(scope="module")
def broken_run(serving: LocalPipeline) -> str:
    """A run that failed for good (exit 3), with its alert."""
    upload = serving.upload("incoming/broken-for-logs.txt", BROKEN)
    serving.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)
    serving.wait_idle(timeout=30)
    return upload.run_id


@pytest.fixture(autouse=True)
def _no_user_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing of the developer's may name a target, and no samconfig.toml is read."""
    for name in os.environ:
        if name == "AWS_DEFAULT_PROFILE" or name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def at(serving: LocalPipeline) -> list[str]:
    return ["--endpoint-url", serving.endpoint_url, "--stack-name", serving.stack.name]


# -------------------------------------------------------------------------------------------- logs
def test_runs_logs_prints_the_job_output_of_the_latest_attempt_and_of_an_earlier_one(
    serving: LocalPipeline, flaky_run: str, cli: CliRunner
) -> None:
    # Given a run whose first attempt exited 75 and whose second succeeded, both run by the local job runner

    # When its logs are printed, by default and for attempt 1
    latest = cli(*at(serving), "runs", "logs", flaky_run)
    first = cli(*at(serving), "runs", "logs", flaky_run, "--attempt", "1")

    # Then the default is attempt 2, whose job wrote its result; attempt 1's job failed with 75
    assert latest.code == ExitCode.OK, latest.err
    assert latest.out.startswith(f"Run {flaky_run} attempt 2: log stream ")
    assert '"message": "result written"' in latest.out
    assert '"exit_code": 75' not in latest.out
    assert first.code == ExitCode.OK, first.err
    assert first.out.startswith(f"Run {flaky_run} attempt 1: log stream ")
    assert '"exit_code": 75' in first.out
    assert "result written" not in first.out


def test_runs_logs_json_has_the_stream_and_every_event(serving: LocalPipeline, flaky_run: str, cli: CliRunner) -> None:
    # Given the same run

    # When its logs are asked for as JSON
    result = cli("--json", *at(serving), "runs", "logs", flaky_run)

    # Then the document names the stream of attempt 2 as the run records it, and holds its events in order
    assert result.code == ExitCode.OK, result.err
    document = result.json()
    run = serving.run(flaky_run)
    assert run is not None
    assert (document["runId"], document["attempt"]) == (flaky_run, 2)
    assert document["logStreamName"] == run.log_stream_name
    assert document["logGroupName"] == serving.stack.outputs["JobLogGroupName"]
    assert document["complete"] is True
    messages = [event["message"] for event in document["events"]]
    assert any("result written" in message for message in messages)
    stamps = [event["timestamp"] for event in document["events"]]
    assert stamps == sorted(stamps)
    assert all(event["time"].endswith("Z") for event in document["events"])


# -------------------------------------------------------------------------------------------- show
def test_runs_show_against_the_found_local_serve_prints_the_logs_command_not_a_console_link(
    serving: LocalPipeline, flaky_run: str, cli: CliRunner
) -> None:
    # Given a running serve that the CLI finds by itself (no target named)
    write_serve_state(serving.endpoint_url, pid=os.getpid(), stack_name=serving.stack.name)

    # When the run is shown, as text and as JSON
    text = cli("runs", "show", flaky_run)
    document = cli("--json", "runs", "show", flaky_run).json()

    # Then the logs are the `runs logs` command, for the run and for each attempt, and no console link
    assert text.code == ExitCode.OK, text.err
    assert CONSOLE not in text.out
    assert ["Logs", ".venv/bin/orchestrator", "runs", "logs", flaky_run] in [
        line.split() for line in text.out.splitlines()
    ]
    assert f"attempt 1 logs  .venv/bin/orchestrator runs logs {flaky_run} --attempt 1" in text.out
    assert document["logsCommand"] == f".venv/bin/orchestrator runs logs {flaky_run}"
    assert document["logUrl"] is None
    assert [entry["logsCommand"] for entry in document["history"]] == [
        f".venv/bin/orchestrator runs logs {flaky_run} --attempt {number}" for number in (1, 2)
    ]
    assert all(entry["logUrl"] is None for entry in document["history"])


def test_runs_show_with_a_loopback_endpoint_names_the_same_target_in_the_logs_command(
    serving: LocalPipeline, flaky_run: str, cli: CliRunner
) -> None:
    # Given the local stack named with --endpoint-url and --stack-name

    # When the run is shown
    result = cli(*at(serving), "--json", "runs", "show", flaky_run)

    # Then the command repeats them, so it reads from the same stack
    assert result.code == ExitCode.OK, result.err
    assert result.json()["logsCommand"] == (
        f".venv/bin/orchestrator runs logs {flaky_run} --endpoint-url {serving.endpoint_url} "
        f"--stack-name {serving.stack.name}"
    )


# ---------------------------------------------------------------------------------- serve and demo
def test_after_an_alert_serve_and_demo_say_how_to_see_the_jobs_output_and_leave_the_alert_as_published(
    serving: LocalPipeline, broken_run: str, cli: CliRunner
) -> None:
    # Given the alert of a run that failed for good, as the SNS subscriber received it
    (alert,) = [alert for alert in serving.alerts() if broken_run in alert.message]
    assert CONSOLE in alert.message  # what the deployed function publishes

    # When serve prints it
    stream = io.StringIO()
    print_alert(Console(stream), alert)

    # Then the alert's first paragraph is followed by one line with the command that prints the job's output
    printed = stream.getvalue().splitlines()
    assert printed[0] == f"  ALERT  Subject: {alert.subject}"
    assert printed[1:-1] == ["         | " + line for line in alert.message.split("\n\n", 1)[0].splitlines()]
    assert printed[-1] == (
        f"  job output: .venv/bin/orchestrator runs logs {broken_run}  "
        "(the alert's console link is for AWS; it leads nowhere locally)"
    )
    # And that command prints the job's output
    output = cli(*at(serving), "runs", "logs", broken_run)
    assert output.code == ExitCode.OK, output.err
    assert '"exit_code": 3' in output.out

    # When the demo's line is made (its stack is gone when it ends)
    demo_line = job_output_line(alert, kept=False)

    # Then it says how to see the output instead of a command that would find no stack
    assert demo_line is not None
    assert demo_line.startswith("  job output: `make demo ARGS=--verbose` prints it")
    assert demo_line.endswith("(the alert's console link is for AWS; it leads nowhere locally)")
