"""Workloads, end to end: template.yaml rendered with a workloads table, created in the emulator, and
driven by uploads and schedule firings only.

The table (``WORKLOADS_YAML``) has the stack's own ``default`` workload (InputPrefix incoming/, from the
parameters) and four more, each on its own job definition: ``images`` (a memory ladder 512 -> 1024 MiB
that the sample job exceeds on purpose at its first step: SAMPLE_MEMORY_MIB=700), ``reports`` (another
size and another retry policy: exit code 3 retried, 2 attempts), ``nightly`` (a schedule only, with a
payload) and ``spot`` (Fargate Spot, On-Demand after one interruption).

SIMULATED here (see emulator/task_limits.py): the out-of-memory kill (the local job runner watches the
job's resident memory) and the Spot interruption (``pipeline_interrupt_spot``: the runner interrupts the
first Spot task of every run).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from batch_orchestrator.errors import ConfigError
from batch_orchestrator.workloads import WorkloadTableError
from emulator.alerts_inbox import alert_run_id
from emulator.pipeline import LocalPipeline
from emulator.task_limits import OUT_OF_MEMORY_REASON, SPOT_INTERRUPTED_STATUS_REASON
from emulator.template import render_workloads
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT, result_object
from tests.support.logs import emf_metrics
from tests.support.runs import job_environment

WORKLOADS_YAML = """
workloads:
  - name: images
    match: {prefix: images/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: [512, 1024]
    timeout_seconds: 60
    environment: {SAMPLE_MEMORY_MIB: "700"}
    retry: {exit_codes: "75", max_attempts: 3, base_delay_seconds: 1}
  - name: reports
    match: {prefix: reports/, suffix: .csv}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.5"
    memory: 2048
    timeout_seconds: 120
    retry: {exit_codes: "3", max_attempts: 2, base_delay_seconds: 1}
  - name: nightly
    schedules:
      - name: tokyo
        expression: cron(0 2 * * ? *)
        timezone: Asia/Tokyo
        payload: {report: daily}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 1024
    timeout_seconds: 60
  - name: spot
    match: {prefix: spot/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    retry: {exit_codes: "75", max_attempts: 3, base_delay_seconds: 1}
    compute: {type: fargate-spot, on_demand_after: 1}
"""

# Two rules that match "img/cat.jpg" equally specifically (4 characters each): refused before deploy.
AMBIGUOUS_YAML = """
workloads:
  - name: pictures
    match: {prefix: img/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
  - name: jpegs
    match: {suffix: .jpg}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
"""

# As specific as the default workload's rule (InputPrefix incoming/): only the deployed stack knows that.
AS_SPECIFIC_AS_THE_DEFAULT_YAML = """
workloads:
  - name: inbox
    match: {prefix: incoming/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
"""

WORKLOAD_TAG = "batch-orchestrator:workload"
SIZE_STEP_TAG = "batch-orchestrator:size-step"
SPOT_INTERRUPTIONS_TAG = "batch-orchestrator:spot-interruptions"


@pytest.fixture
def pipeline_workloads(request: pytest.FixtureRequest) -> str:
    """WORKLOADS_YAML, unless a test parametrizes another table."""
    return str(getattr(request, "param", WORKLOADS_YAML))


@pytest.fixture
def pipeline_interrupt_spot() -> int:
    return 1


def _requirements(job: dict[str, Any]) -> dict[str, str]:
    return {item["type"]: item["value"] for item in job["container"]["resourceRequirements"]}


def _sizes(run: Any) -> list[tuple[int, str, int | None, str | None, int | None]]:
    return [(e.attempt, e.status.value, e.exit_code, e.vcpu, e.memory_mib) for e in run.history]


def _default_size(pipeline: LocalPipeline) -> dict[str, str]:
    declared = pipeline.stack.template.sam["Parameters"]
    return {
        "VCPU": pipeline.parameters.get("JobVcpu", str(declared["JobVcpu"]["Default"])),
        "MEMORY": pipeline.parameters.get("JobMemory", str(declared["JobMemory"]["Default"])),
    }


# ------------------------------------------------------------------------------------------- routing
def test_uploads_under_each_prefix_run_on_their_own_job_definition_size_and_retry_policy(
    pipeline: LocalPipeline,
) -> None:
    # Given an upload for the stack's own workload and one for "reports", each failing once with exit 3
    stack = pipeline.stack
    default_run = pipeline.upload("incoming/broken.csv", "#exit 3\nnot retried by the default workload\n")
    reports_run = pipeline.upload("reports/q3.csv", "#exit 3 until attempt 2\nretried by reports\n")

    # When both runs finish
    runs = pipeline.wait_for_runs([default_run.run_id, reports_run.run_id], timeout=RUN_TIMEOUT)
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then each ran on its workload's job definition, with that workload's size
    default, reports = runs[default_run.run_id], runs[reports_run.run_id]
    assert (default.plan.workload, reports.plan.workload) == ("default", "reports")
    default_jobs, reports_jobs = pipeline.jobs_of(default_run.run_id), pipeline.jobs_of(reports_run.run_id)
    assert {job["jobDefinition"] for job in default_jobs} == {stack.resources["JobDefinition"]}
    assert {job["jobDefinition"] for job in reports_jobs} == {stack.resources["WorkloadReportsJobDefinition"]}
    assert [_requirements(job) for job in default_jobs] == [_default_size(pipeline)]
    assert [_requirements(job) for job in reports_jobs] == [{"VCPU": "0.5", "MEMORY": "2048"}] * 2
    assert {job["tags"][WORKLOAD_TAG] for job in reports_jobs} == {"reports"}
    # and with its own retry policy: exit 3 is retried for reports (2 attempts), not for the default workload
    assert (default.status.value, default.attempt, default.max_attempts, default.exit_code) == ("FAILED", 1, 3, 3)
    assert (reports.status.value, reports.attempt, reports.max_attempts) == ("SUCCEEDED", 2, 2)
    assert result_object(pipeline, reports_run.run_id)["input"]["key"] == "reports/q3.csv"
    # and the one alert is the default run's, naming its workload
    (alert,) = pipeline.alerts()
    assert alert_run_id(alert) == default_run.run_id
    assert "default" in alert.message
    assert pipeline.errors == []


def test_a_key_no_workload_matches_is_counted_and_logged_and_starts_nothing(pipeline: LocalPipeline) -> None:
    # Given a key outside every rule (not under incoming/, images/, reports/*.csv or spot/)
    upload = pipeline.upload("elsewhere/notes.txt", "no workload takes this\n")

    # When the submit function has handled its notification
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then no run and no job exist for it, and the function counted and logged it
    assert pipeline.run(upload.run_id) is None
    assert pipeline.jobs_of(upload.run_id) == []
    events = (
        pipeline.stack.client("logs")
        .filter_log_events(logGroupName=pipeline.stack.function_log_group("SubmitJobsFunction"))
        .get("events", [])
    )
    messages = [event["message"] for event in events]
    assert emf_metrics("\n".join(messages)).get("UploadsUnmatched") == 1
    logged = [json.loads(m) for m in messages if m.startswith("{") and '"_aws"' not in m]
    assert [line["key"] for line in logged if line.get("message") == "upload unmatched"] == ["elsewhere/notes.txt"]
    assert pipeline.errors == []


# ------------------------------------------------------------------------------------- memory ladder
def test_an_attempt_out_of_memory_is_retried_on_the_next_step_of_the_ladder_and_succeeds(
    pipeline: LocalPipeline,
) -> None:
    # Given an upload for "images", whose job uses 700 MiB, more than the ladder's first step (512 MiB)
    upload = pipeline.upload("images/cat.jpg", "not really a picture\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then attempt 1 was killed out of memory at 512 MiB and attempt 2 succeeded at 1024 MiB
    assert (run.status.value, run.attempt) == ("SUCCEEDED", 2)
    assert _sizes(run) == [(1, "FAILED", 137, "0.25", 512), (2, "SUCCEEDED", 0, "0.25", 1024)]
    assert run.history[0].reason == OUT_OF_MEMORY_REASON
    assert (run.plan.workload, run.plan.size_step) == ("images", 1)
    # and Batch shows the same: the first job with its definition's size, the second with the override
    first, second = pipeline.jobs_of(upload.run_id)
    assert {first["jobDefinition"], second["jobDefinition"]} == {
        pipeline.stack.resources["WorkloadImagesJobDefinition"]
    }
    assert (first["status"], first["container"]["exitCode"], first["container"]["reason"]) == (
        "FAILED",
        137,
        OUT_OF_MEMORY_REASON,
    )
    assert (_requirements(first), _requirements(second)) == (
        {"VCPU": "0.25", "MEMORY": "512"},
        {"VCPU": "0.25", "MEMORY": "1024"},
    )
    assert (first["tags"][SIZE_STEP_TAG], second["tags"][SIZE_STEP_TAG]) == ("0", "1")
    assert job_environment(second)["SAMPLE_MEMORY_MIB"] == "700"
    assert result_object(pipeline, upload.run_id)["input"]["key"] == "images/cat.jpg"
    assert pipeline.alerts() == []
    assert pipeline.errors == []


# ---------------------------------------------------------------------------------------------- Spot
def test_a_spot_interruption_moves_the_next_attempt_to_on_demand(pipeline: LocalPipeline) -> None:
    # Given an upload for "spot" (Fargate Spot, On-Demand after 1 interruption), whose first Spot task the
    # local job runner interrupts (SIMULATED capacity loss)
    stack = pipeline.stack
    upload = pipeline.upload("spot/frames.txt", "interrupted once\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then attempt 1 ran on the Spot queue and was interrupted; attempt 2 ran On-Demand and succeeded
    assert (run.status.value, run.attempt) == ("SUCCEEDED", 2)
    first, second = pipeline.jobs_of(upload.run_id)
    assert (first["jobQueue"], second["jobQueue"]) == (stack.resources["SpotJobQueue"], stack.outputs["JobQueueArn"])
    assert (first["status"], first["statusReason"]) == ("FAILED", SPOT_INTERRUPTED_STATUS_REASON)
    assert len(first["attempts"]) == 1  # the workload's job definition EXITs on the Spot reason: no native retry
    assert (second["tags"][SPOT_INTERRUPTIONS_TAG], second["status"]) == ("1", "SUCCEEDED")
    assert (run.plan.capacity.value, run.plan.spot_interruptions) == ("on-demand", 1)
    assert pipeline.alerts() == []
    assert pipeline.errors == []


# ----------------------------------------------------------------------------------------- schedules
def test_a_workload_schedule_runs_its_own_job_with_its_payload(pipeline: LocalPipeline) -> None:
    # Given the "nightly" workload's schedule (02:00 Asia/Tokyo), created in the emulator's scheduler
    schedule = pipeline.stack.schedules["WorkloadNightlyTokyoSchedule"]
    assert (schedule.expression, schedule.timezone) == ("cron(0 2 * * ? *)", "Asia/Tokyo")

    # When it fires
    firing = pipeline.fire_schedule(schedule.logical_id)
    assert firing.run_id is not None
    run = pipeline.wait_for_runs([firing.run_id], timeout=RUN_TIMEOUT)[firing.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then the run is the workload's, on its job definition, and the job received the payload
    assert (run.status.value, run.plan.workload) == ("SUCCEEDED", "nightly")
    (job,) = pipeline.jobs_of(firing.run_id)
    assert job["jobDefinition"] == pipeline.stack.resources["WorkloadNightlyJobDefinition"]
    assert _requirements(job) == {"VCPU": "0.25", "MEMORY": "1024"}
    assert json.loads(job_environment(job)["SCHEDULE_PAYLOAD"]) == {"report": "daily"}
    assert result_object(pipeline, firing.run_id)["trigger"] == "schedule"
    assert pipeline.errors == []


# ------------------------------------------------------------------------------------ invalid tables
def test_an_ambiguous_table_is_refused_before_anything_is_created() -> None:
    # Given a table where "img/cat.jpg" matches two rules equally specifically

    # When it is rendered into the template (as `make template` / `make validate` do), or a local stack is asked for
    with pytest.raises(WorkloadTableError) as rendered:
        render_workloads(AMBIGUOUS_YAML)
    with pytest.raises(WorkloadTableError) as started:
        LocalPipeline(workloads_yaml=AMBIGUOUS_YAML)

    # Then both refuse it with one line naming both workloads, the field and an example key
    for refused in (rendered.value, started.value):
        (line,) = [str(problem) for problem in refused.problems]
        assert line.startswith("workloads.yaml: jpegs: match: ambiguous with workload 'pictures'"), line
        assert "img/" in line
        assert ".jpg" in line


@pytest.mark.parametrize("pipeline_workloads", [AS_SPECIFIC_AS_THE_DEFAULT_YAML], indirect=True)
def test_a_rule_as_specific_as_the_default_workload_is_refused_at_cold_start(pipeline: LocalPipeline) -> None:
    # Given a stack whose table renders (the default's InputPrefix is a deploy parameter) but whose rule
    # "incoming/" is as specific as the default workload's
    environment = pipeline.stack.function_environment("SubmitJobsFunction")
    assert environment["INPUT_PREFIX"] == "incoming/"

    # When a function starts
    with pytest.raises(ConfigError) as refused:
        pipeline.invoke_function("SubmitJobsFunction", {"Records": []})

    # Then its cold start refuses the table, naming the workload, the field and the default's prefix
    assert "workload_table.json: inbox: match: ambiguous with the default workload (InputPrefix 'incoming/')" in str(
        refused.value
    )


# ------------------------------------------------------------------------------------------ the demo
def test_the_demo_shows_each_workload_and_the_memory_ladder_and_all_its_checks_hold() -> None:
    # Given the demo (`make demo`), its output captured
    from emulator.console import Console
    from emulator.demo import run_demo

    output = io.StringIO()

    # When it runs
    status = run_demo(console=Console(output))

    # Then every check holds, and it showed the workload and size of each attempt of the ladder's run
    text = output.getvalue()
    assert status == 0, text
    assert "DEMO OK" in text
    attempts = text.split("== Attempts", 1)[1].split("\n== ", 1)[0].splitlines()
    at = next(index for index, line in enumerate(attempts) if "images/holiday.jpg" in line)
    first, second = attempts[at], attempts[at + 1]
    assert "images" in first.split("images/holiday.jpg", 1)[1]
    assert "attempt 1: 0.25 vCPU, 512 MiB" in first
    assert f"FAILED exit 137 ({OUT_OF_MEMORY_REASON})" in first
    assert "attempt 2: 0.25 vCPU, 1024 MiB" in second
    assert "SUCCEEDED exit 0" in second
    # and the array run: attempt 1 over its 4 items with one failed child, attempt 2 over the failed item alone
    at = next(index for index, line in enumerate(attempts) if "tiles/batch-1.txt" in line)
    assert attempts[at].endswith("FAILED [items 0-3, 1 failed]"), attempts[at]
    assert attempts[at + 1].endswith("SUCCEEDED exit 0 [items 2]"), attempts[at + 1]
