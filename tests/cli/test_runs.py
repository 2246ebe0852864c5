"""`orchestrator runs list | show | retry` against the moto stack of template.yaml."""

from __future__ import annotations

import pytest

from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT
from emulator import EmulatedStack
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import (
    CliRunner,
    drain_submit_queue,
    finish_attempt,
    jobs_of,
    read_run,
    start_run,
)

UNKNOWN_RUN = "s3-" + "0" * 24


# -------------------------------------------------------------------------------------------- list
def test_runs_list_shows_active_runs_from_the_index_and_finished_ones_on_request(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given one running run and one that failed for good
    running = start_run(stack, "incoming/running.csv")
    failed = start_run(stack, "incoming/failed.csv")
    finish_attempt(stack, failed, "FAILED", exit_code=2, reason="bad input")

    # When the active runs are listed (the default)
    active = cli("runs", "list", stack=stack)

    # Then only the running run appears, in a table
    assert active.code == ExitCode.OK, active.err
    assert active.out.splitlines()[0].split() == [
        "RUN",
        "ID",
        "STATUS",
        "ATTEMPT",
        "WORKLOAD",
        "INPUT",
        "EXIT",
        "UPDATED",
    ]
    assert running in active.out
    assert "s3://" in active.out
    assert "incoming/running.csv" in active.out
    assert failed not in active.out

    # When failed runs are asked for
    finished = cli("runs", "list", "--status", "failed", stack=stack)

    # Then the failed run appears with its exit code, and the output says the table was scanned
    assert finished.code == ExitCode.OK, finished.err
    (row,) = [line for line in finished.out.splitlines() if failed in line]
    assert row.split()[1:3] == ["FAILED", "1/3"]
    assert " 2 " in row
    assert "scanned the whole table" in finished.out


def test_runs_list_json_filters_by_status_and_time(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given two runs, one of them succeeded
    running = start_run(stack, "incoming/a.csv")
    succeeded = start_run(stack, "incoming/b.csv")
    finish_attempt(stack, succeeded, "SUCCEEDED", exit_code=0)

    # When every run is listed as JSON
    result = cli("--json", "runs", "list", "--status", "all", stack=stack)

    # Then both are there, newest update first, with their fields
    assert result.code == ExitCode.OK, result.err
    document = result.json()
    assert [run["runId"] for run in document["runs"]] == [succeeded, running]
    assert document["runs"][0]["status"] == "SUCCEEDED"
    assert document["runs"][0]["input"].endswith("/incoming/b.csv")
    assert document["runs"][1]["status"] == "SUBMITTED"
    assert document["scanComplete"] is True

    # When only runs updated in the future are asked for, or with a limit
    later = cli("--json", "runs", "list", "--status", "all", "--since", "2999-01-01", stack=stack)
    limited = cli("runs", "list", "--status", "all", "--limit", "1", "--json", stack=stack)

    # Then nothing matches, and the limit keeps the newest
    assert later.json()["runs"] == []
    assert [run["runId"] for run in limited.json()["runs"]] == [succeeded]
    assert limited.json()["matched"] == 2


def test_runs_list_rejects_an_unknown_status_and_a_bad_since(stack: EmulatedStack, cli: CliRunner) -> None:
    bad_status = cli("runs", "list", "--status", "EXPLODED", stack=stack)
    bad_since = cli("runs", "list", "--since", "yesterday", stack=stack)

    assert bad_status.code == ExitCode.USAGE
    assert "unknown status 'EXPLODED'" in bad_status.err
    assert bad_since.code == ExitCode.USAGE
    assert "--since" in bad_since.err


# -------------------------------------------------------------------------------------------- show
def test_runs_show_prints_the_attempt_history_with_log_links(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a run whose first attempt failed with a retryable code and whose second failed for good
    run_id = start_run(stack, "incoming/history.csv")
    finish_attempt(stack, run_id, "FAILED", exit_code=75, reason="try again")
    cli("runs", "retry", run_id, stack=stack)  # skip the backoff: send the pending retry now
    drain_submit_queue(stack)
    finish_attempt(stack, run_id, "FAILED", exit_code=3, reason="Essential container exited", log_stream="s/d/2")

    # When it is shown
    result = cli("runs", "show", run_id, stack=stack)

    # Then the summary, both attempts and a console link to the last log stream are there
    assert result.code == ExitCode.OK, result.err
    assert result.out.startswith(f"Run {run_id}  FAILED  (attempt 2 of 3)")
    assert "incoming/history.csv (version " in result.out
    attempts = result.out.split("\nAttempts\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = {line.split()[0]: line.split() for line in attempts if line.strip()[:1].isdigit()}
    first_job = read_run(stack, run_id)["history"][0]["jobId"]
    assert rows["1"][1:4] == [first_job, "FAILED", "75"]
    assert rows["2"][2:4] == ["FAILED", "3"]
    assert "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups" in result.out
    assert "attempt 2 logs" in result.out

    # When shown as JSON
    document = cli("--json", "runs", "show", run_id, stack=stack).json()

    # Then it is the whole item, plus the input and log links
    assert document["runId"] == run_id
    assert document["status"] == "FAILED"
    assert [entry["attempt"] for entry in document["history"]] == [1, 2]
    assert [entry["exitCode"] for entry in document["history"]] == [75, 3]
    assert all(entry["logUrl"].startswith("https://") for entry in document["history"])
    assert document["logUrl"].endswith("/log-events/s$252Fd$252F2")
    assert "logsCommand" not in document  # the `runs logs` command replaces the links only locally
    assert "runs logs" not in result.out
    assert document["manualRetries"][0]["attempt"] == 2


def test_runs_show_unknown_and_malformed_run_ids(stack: EmulatedStack, cli: CliRunner) -> None:
    unknown = cli("runs", "show", UNKNOWN_RUN, stack=stack)
    malformed = cli("runs", "show", "not-a-run", stack=stack)
    unknown_json = cli("--json", "runs", "show", UNKNOWN_RUN, stack=stack)

    assert unknown.code == ExitCode.NOT_FOUND
    assert f"no run {UNKNOWN_RUN}" in unknown.err
    assert malformed.code == ExitCode.USAGE
    assert "is not a run id" in malformed.err
    assert unknown_json.code == ExitCode.NOT_FOUND
    assert unknown_json.json()["error"] == {
        "type": "NOT_FOUND",
        "message": f"no run {UNKNOWN_RUN} in stack {stack.name}",
        "hint": unknown_json.json()["error"]["hint"],
        "exitCode": 3,
    }


# ------------------------------------------------------------------------------------------- retry
def test_retry_of_a_failed_run_submits_exactly_one_new_job(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a run that failed for good (exit code 2 is not retryable)
    run_id = start_run(stack, "incoming/retry-me.csv")
    failed = finish_attempt(stack, run_id, "FAILED", exit_code=2)
    assert failed["status"] == "FAILED"
    assert len(jobs_of(stack, run_id)) == 1

    # When the operator retries it
    result = cli("runs", "retry", run_id, stack=stack)

    # Then the run waits for attempt 2, and the retry request is on the SubmitQueue
    assert result.code == ExitCode.OK, result.err
    assert "attempt 2 of 3 requested (was FAILED at attempt 1)" in result.out
    waiting = read_run(stack, run_id)
    assert (waiting["status"], waiting["attempt"], waiting["activeStatus"]) == ("RETRY_WAIT", 2, "RETRY_WAIT")
    assert "jobId" not in waiting
    assert waiting["lastJobId"] == failed["jobId"]
    assert waiting["manualRetries"][0]["previousStatus"] == "FAILED"
    assert waiting["manualRetries"][0]["forced"] is False

    # When the submit function consumes the queue (twice, as a redelivery would)
    handled = drain_submit_queue(stack)
    drain_submit_queue(stack)

    # Then exactly one new Batch job exists, for attempt 2
    assert handled == 1
    jobs = jobs_of(stack, run_id)
    assert len(jobs) == 2
    assert sorted(job["jobName"].split("-")[2] for job in jobs) == ["a1", "a2"]
    submitted = read_run(stack, run_id)
    assert (submitted["status"], submitted["attempt"]) == ("SUBMITTED", 2)
    assert "sideEffect" not in submitted


def test_retry_of_a_succeeded_run_is_refused_unless_forced(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a run that succeeded
    run_id = start_run(stack, "incoming/done.csv")
    finish_attempt(stack, run_id, "SUCCEEDED", exit_code=0)

    # When it is retried without --force
    refused = cli("runs", "retry", run_id, stack=stack)
    refused_json = cli("--json", "runs", "retry", run_id, stack=stack)

    # Then it is refused (exit 5) and nothing changed
    assert refused.code == ExitCode.REFUSED
    assert "SUCCEEDED at attempt 1: nothing to retry" in refused.err
    assert "--force" in refused.err
    assert refused_json.json()["error"]["type"] == "REFUSED"
    assert read_run(stack, run_id)["status"] == "SUCCEEDED"
    assert drain_submit_queue(stack) == 0

    # When forced, Then it runs again as attempt 2
    forced = cli("--json", "runs", "retry", run_id, "--force", stack=stack)
    assert forced.code == ExitCode.OK, forced.err
    assert forced.json()["attempt"] == 2
    assert forced.json()["forced"] is True
    assert drain_submit_queue(stack) == 1
    assert len(jobs_of(stack, run_id)) == 2


def test_retry_of_an_in_flight_run_needs_force_and_then_abandons_the_attempt(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given a run stuck in RUNNABLE
    run_id = start_run(stack, "incoming/stuck.csv")
    stuck = finish_attempt(stack, run_id, "RUNNABLE")
    assert stuck["status"] == "RUNNABLE"

    # When retried without, then with --force
    refused = cli("runs", "retry", run_id, stack=stack)
    forced = cli("runs", "retry", "--force", run_id, stack=stack)

    # Then the first is refused, the second records attempt 1 as abandoned and requests attempt 2
    assert refused.code == ExitCode.REFUSED
    assert "is in flight (RUNNABLE at attempt 1" in refused.err
    assert forced.code == ExitCode.OK, forced.err
    assert "not cancelled" in forced.out
    item = read_run(stack, run_id)
    assert item["history"][-1]["status"] == "RUNNABLE"
    assert "abandoned" in item["history"][-1]["reason"]
    assert item["manualRetries"][0]["forced"] is True
    assert drain_submit_queue(stack) == 1
    assert len(jobs_of(stack, run_id)) == 2

    # And a late event of the abandoned job changes nothing (its progress is lower)
    after = finish_attempt(stack, run_id, "RUNNING", job_name=stuck["jobName"])
    assert (after["status"], after["attempt"]) == ("SUBMITTED", 2)
    assert after["jobName"] != stuck["jobName"]


@pytest.mark.stack_params(MaxAttempts="1")
def test_a_manual_retry_may_go_one_beyond_max_attempts(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given a run with a single allowed attempt that failed
    run_id = start_run(stack, "incoming/once.csv")
    finish_attempt(stack, run_id, "FAILED", exit_code=75)
    assert read_run(stack, run_id)["status"] == "FAILED"  # 75 is retryable, but no attempts were left

    # When retried
    result = cli("--json", "runs", "retry", run_id, stack=stack)

    # Then maxAttempts is raised to 2, and the change is recorded on the run
    assert result.code == ExitCode.OK, result.err
    assert result.json()["maxAttemptsRaisedFrom"] == 1
    item = read_run(stack, run_id)
    assert (item["attempt"], item["maxAttempts"]) == (2, 2)
    assert item["manualRetries"][0]["maxAttemptsRaisedFrom"] == 1
    assert drain_submit_queue(stack) == 1
    assert len(jobs_of(stack, run_id)) == 2


def test_retry_of_a_run_waiting_for_its_retry_sends_the_request_again_without_a_second_job(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given a run whose failed attempt the tracker scheduled for a retry (the request is delayed)
    run_id = start_run(stack, "incoming/waiting.csv")
    waiting = finish_attempt(stack, run_id, "FAILED", exit_code=75)
    assert (waiting["status"], waiting["attempt"]) == ("RETRY_WAIT", 2)

    # When the operator retries it now
    result = cli("--json", "runs", "retry", run_id, stack=stack)

    # Then the same attempt is requested again, not a new one
    assert result.code == ExitCode.OK, result.err
    assert (result.json()["attempt"], result.json()["resend"]) == (2, True)

    # And however many requests arrive, attempt 2 is submitted once
    drain_submit_queue(stack)
    assert len(jobs_of(stack, run_id)) == 2
    assert read_run(stack, run_id)["status"] == "SUBMITTED"


def test_retry_of_unknown_run_is_not_found(stack: EmulatedStack, cli: CliRunner) -> None:
    result = cli("runs", "retry", UNKNOWN_RUN, stack=stack)
    assert result.code == ExitCode.NOT_FOUND


def test_retry_beyond_the_submit_paths_limit_is_refused() -> None:
    from batch_orchestrator.models import Run, RunStatus, S3Source
    from orchestrator_cli.errors import Refused
    from orchestrator_cli.manual_retry import plan_manual_retry

    run = Run(
        run_id=UNKNOWN_RUN,
        status=RunStatus.FAILED,
        attempt=MAX_ATTEMPTS_LIMIT,
        max_attempts=MAX_ATTEMPTS_LIMIT,
        source=S3Source(bucket="b", key="k"),
        progress=0,
    )
    with pytest.raises(Refused, match="at most 10"):
        plan_manual_retry(run, force=True)


def test_a_run_takes_at_most_the_documented_number_of_manual_retries() -> None:
    # Given a run waiting for its retry, whose request an operator has sent again and again
    from batch_orchestrator.models import Run, RunStatus, S3Source
    from orchestrator_cli.errors import Refused
    from orchestrator_cli.manual_retry import MAX_MANUAL_RETRIES, plan_manual_retry

    run = Run(
        run_id=UNKNOWN_RUN,
        status=RunStatus.RETRY_WAIT,
        attempt=2,
        max_attempts=3,
        source=S3Source(bucket="b", key="k"),
        progress=0,
    )

    # Then one more is allowed below the cap, and none at it (the audit trail must not grow the item unbounded)
    assert plan_manual_retry(run, force=False, manual_retries=MAX_MANUAL_RETRIES - 1).resend
    with pytest.raises(Refused, match=f"{MAX_MANUAL_RETRIES} manual retries"):
        plan_manual_retry(run, force=False, manual_retries=MAX_MANUAL_RETRIES)
