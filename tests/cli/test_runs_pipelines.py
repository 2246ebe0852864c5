"""`orchestrator runs show` of a pipeline run, against the moto stack of template.yaml rendered with a two-step
pipeline; the run goes through the real submit and track functions (moto's Batch ends jobs at once: the test sends the
events the local job runner would).
"""

from __future__ import annotations

import pytest

from emulator import EmulatedStack
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner, drain_submit_queue, finish_attempt, jobs_of, start_run
from tests.cli.test_runs_workloads import attempt_rows, field
from tests.support.workload_yaml import SAMPLE_CONTAINER

SAMPLE = SAMPLE_CONTAINER
PIPELINE_YAML = f"""
workloads:
  - name: extract
    match: {{prefix: sales/}}{SAMPLE}
    then: load
  - name: load{SAMPLE}
    retry: {{exit_codes: "75", max_attempts: 2, base_delay_seconds: 1}}
"""


@pytest.fixture
def stack_workloads() -> str:
    return PIPELINE_YAML


def test_runs_show_prints_the_current_step_and_the_step_of_each_attempt(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given extract succeeded, load was submitted as the run's attempt 2 and failed once (exit 75, retried)
    run_id = start_run(stack, "sales/2026-12.csv")
    finish_attempt(stack, run_id, "SUCCEEDED", exit_code=0)
    drain_submit_queue(stack)
    finish_attempt(stack, run_id, "FAILED", exit_code=75, reason="Essential container in task exited")

    # When it is shown, waiting for load's second attempt
    result = cli("runs", "show", run_id, stack=stack)

    # Then the step is named with the attempt as it counts it, and each attempt with its step
    assert result.code == ExitCode.OK, result.err
    # (the run's attempts count across its steps: load may go on to the run's attempt 1 + 2)
    assert result.out.startswith(f"Run {run_id}  RETRY_WAIT  (attempt 3 of 3)")
    assert field(result.out, "Step") == "load (step 2; its attempt 2)"
    header, first, second = attempt_rows(result.out)
    assert header[:3] == ["#", "STEP", "JOB"]
    assert (first[:2], first[3], second[:2], second[3]) == (["1", "extract"], "SUCCEEDED", ["2", "load"], "FAILED")


def test_a_manual_retry_of_a_failed_step_reruns_that_step_not_the_first(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given extract succeeded and load failed for good (exit 3: not retryable)
    run_id = start_run(stack, "sales/2026-11.csv")
    finish_attempt(stack, run_id, "SUCCEEDED", exit_code=0)
    drain_submit_queue(stack)
    finish_attempt(stack, run_id, "FAILED", exit_code=3, reason="Essential container in task exited")

    # When the operator retries it, and the request is submitted
    result = cli("runs", "retry", run_id, stack=stack)
    assert result.code == ExitCode.OK, result.err
    drain_submit_queue(stack)

    # Then the run's attempt 3 is load's (its step's attempt 2), not extract's
    jobs = [job for job in jobs_of(stack, run_id) if job["jobName"].startswith(f"{run_id}-a3")]
    (job,) = jobs
    tags = stack.client("batch").describe_jobs(jobs=[job["jobId"]])["jobs"][0]["tags"]
    assert (tags["batch-orchestrator:workload"], tags["batch-orchestrator:step"]) == ("load", "1")
    assert tags["batch-orchestrator:attempts-before-step"] == "1"
