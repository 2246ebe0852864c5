"""`orchestrator runs show` and `runs retry` of an array run, against the moto stack of template.yaml rendered with an
array workload; the run goes through the real submit and track functions.

SIMULATED: moto's Batch (no Docker) ends every child SUCCEEDED at once; the test fails one child in moto's record,
as the local job runner would have, before the parent's FAILED event is tracked.
"""

from __future__ import annotations

import pytest

from emulator import EmulatedStack
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner, drain_submit_queue, finish_attempt, jobs_of, read_run, start_run
from tests.cli.test_runs_workloads import attempt_rows, field

TILES_YAML = """
workloads:
  - name: tiles
    match: {prefix: tiles/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.5"
    memory: 1024
    timeout_seconds: 600
    retry: {exit_codes: "75", max_attempts: 3, base_delay_seconds: 1}
    array: {size: 3}
"""


@pytest.fixture
def stack_workloads() -> str:
    return TILES_YAML


def fail_child(stack: EmulatedStack, parent_id: str, index: int, exit_code: int) -> None:
    """SIMULATED: child ``index`` of the array ``parent_id`` failed with ``exit_code`` (moto ended it SUCCEEDED)."""
    from moto.batch.models import batch_backends

    child = batch_backends[stack.account_id][stack.region].get_job_by_id(f"{parent_id}:{index}")
    assert child is not None
    child.status, child.exit_code, child.job_stopped_reason = "FAILED", exit_code, "Essential container in task exited"


def test_runs_show_prints_the_array_its_children_and_its_failed_items(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given an upload for tiles, an array of 3 whose child 1 exited 75, and the parent's FAILED event tracked
    run_id = start_run(stack, "tiles/a.txt")
    (parent,) = [job for job in jobs_of(stack, run_id) if ":" not in job["jobId"]]
    fail_child(stack, parent["jobId"], 1, 75)
    finish_attempt(stack, run_id, "FAILED")

    # When it is shown, waiting for its retry
    result = cli("runs", "show", run_id, stack=stack)

    # Then the array, its children by status, the attempt's items and the failed item are there
    assert result.code == ExitCode.OK, result.err
    assert result.out.startswith(f"Run {run_id}  RETRY_WAIT  (attempt 2 of 3)")
    assert "Array         3 items; this attempt: items 1 (1 child)" in result.out
    assert "Children      SUCCEEDED 2, FAILED 1 (of 3)" in result.out
    header, first = attempt_rows(result.out)
    assert header[:7] == ["#", "JOB", "ID", "STATUS", "EXIT", "SIZE", "ITEMS"]
    assert (first[0], first[2], first[8], first[9]) == ("1", "FAILED", "0-2", "1")
    failed = result.out.split("Failed items (last failed attempt: 1)\n", 1)[1].splitlines()
    assert failed[0].split() == ["ITEM", "CHILD", "EXIT", "REASON"]
    assert failed[1].split()[:3] == ["1", "1", "75"]

    # When the operator sends the retry now, and the single job of item 1 succeeds
    assert cli("runs", "retry", run_id, stack=stack).code == ExitCode.OK
    drain_submit_queue(stack)
    finish_attempt(stack, run_id, "SUCCEEDED", exit_code=0)

    # Then the run shows both attempts' items, and no failed item any more
    shown = cli("runs", "show", run_id, stack=stack)
    assert shown.out.startswith(f"Run {run_id}  SUCCEEDED  (attempt 2 of 3)")
    assert [(row[0], row[8]) for row in attempt_rows(shown.out)[1:]] == [("1", "0-2"), ("2", "1")]
    assert "Failed items" not in shown.out
    assert read_run(stack, run_id)["arrayItems"] == "1"
    # and in JSON, the run's array attributes as stored
    document = cli("--json", "runs", "show", run_id, stack=stack).json()
    assert (document["arraySize"], document["arrayItems"]) == (3, "1")
    assert [entry["items"] for entry in document["history"]] == ["0-2", "1"]


def test_runs_show_of_a_running_array_asks_batch_for_its_childrens_progress(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given an upload for tiles whose parent's PENDING event was tracked (Batch sends no more while children run)
    run_id = start_run(stack, "tiles/a.txt")
    finish_attempt(stack, run_id, "PENDING")

    # When it is shown
    result = cli("runs", "show", run_id, stack=stack)

    # Then the progress line is the children by status now, from one DescribeJobs of the parent
    assert result.code == ExitCode.OK, result.err
    (parent,) = [job for job in jobs_of(stack, run_id) if ":" not in job["jobId"]]
    progress = field(result.out, "Progress")
    assert progress is not None
    assert progress.endswith(f"(of 3), now (DescribeJobs of job {parent['jobId']})")
    # and a run that is no running array is shown without it
    finish_attempt(stack, run_id, "SUCCEEDED")
    assert field(cli("runs", "show", run_id, stack=stack).out, "Progress") is None
