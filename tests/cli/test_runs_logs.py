"""`orchestrator runs logs`: the errors that name what is missing, against the moto stack of template.yaml.

The job output itself, written by the local job runner, is read in test_runs_logs_local.py.
"""

from __future__ import annotations

from emulator import EmulatedStack
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner, drain_submit_queue, finish_attempt, start_run


def test_runs_logs_of_a_run_whose_job_has_not_started_says_there_is_no_log_stream_yet(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given a run whose job was submitted but has not started
    run_id = start_run(stack, "incoming/waiting-to-start.csv")

    # When its logs are asked for
    result = cli("runs", "logs", run_id, stack=stack)

    # Then it is not found, and the error says which attempt has no log stream and why
    assert result.code == ExitCode.NOT_FOUND
    assert f"run {run_id} has no log stream yet: attempt 1 is SUBMITTED and its job has not started" in result.err


def test_runs_logs_of_a_stream_that_does_not_exist_names_the_stream_and_the_group(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given a failed run whose recorded log stream was never written (the Batch event was played, no job ran)
    run_id = start_run(stack, "incoming/no-output.csv")
    finish_attempt(stack, run_id, "FAILED", exit_code=3, log_stream="sample/default/never-written")
    log_group = stack.outputs["JobLogGroupName"]

    # When its logs are asked for, as text and as JSON
    result = cli("runs", "logs", run_id, stack=stack)
    as_json = cli("--json", "runs", "logs", run_id, stack=stack)

    # Then the error names the missing stream and its log group
    assert result.code == ExitCode.NOT_FOUND
    assert f"log stream sample/default/never-written does not exist in log group {log_group}" in result.err
    assert as_json.json()["error"]["type"] == "NOT_FOUND"


def test_runs_logs_of_an_attempt_the_run_has_not_reached_is_a_usage_error(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a run at its first attempt
    run_id = start_run(stack, "incoming/first-attempt.csv")
    finish_attempt(stack, run_id, "FAILED", exit_code=3)

    # When the logs of attempt 2, and of attempt 0, are asked for
    beyond = cli("runs", "logs", run_id, "--attempt", "2", stack=stack)
    zero = cli("runs", "logs", run_id, "--attempt", "0", stack=stack)

    # Then both are refused as usage errors that say which attempts exist
    assert beyond.code == ExitCode.USAGE
    assert f"run {run_id} has no attempt 2: it is at attempt 1 of 3" in beyond.err
    assert zero.code == ExitCode.USAGE


def test_runs_logs_of_a_run_waiting_for_its_retry_points_at_the_attempt_that_has_logs(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given a run whose first attempt failed with a retryable code and whose retry was submitted
    run_id = start_run(stack, "incoming/retried.csv")
    finish_attempt(stack, run_id, "FAILED", exit_code=75, log_stream="sample/default/first")
    cli("runs", "retry", run_id, stack=stack)
    drain_submit_queue(stack)

    # When the logs of the latest attempt are asked for (its job has not started)
    result = cli("runs", "logs", run_id, stack=stack)

    # Then the error says attempt 2 has none yet, and the hint names attempt 1's
    assert result.code == ExitCode.NOT_FOUND
    assert "attempt 2 is SUBMITTED and its job has not started" in result.err
    assert f"orchestrator runs logs {run_id} --attempt 1" in result.err
