"""Several workloads on the stack of template.yaml rendered with a workloads table, created in the emulator.

Uploads under each rule run on their own workload's job definition (and queue), at two AWS calls each; an
upload no workload takes is counted and costs nothing; an out-of-memory attempt is retried one ladder step up
and succeeds there; a Spot interruption moves the run to the On-Demand queue; a workload's schedule hands its
payload to the job. SIMULATED: moto's Batch runs no container, so the Batch events (exit codes, OOM and Spot
reasons) are built by tests/support/runs.py the way Batch reports them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from batch_orchestrator.adapters import aws
from emulator import EmulatedStack, invoke_handler
from emulator.schedules import render_schedule_input
from tests.support.aws_doubles import CallCounter
from tests.support.logs import emf_metrics, emf_metrics_by_workload
from tests.support.runs import (
    all_jobs,
    deliver_all,
    drain_test_event,
    finish_attempt,
    job_environment,
    jobs_of,
    read_run,
    start_run,
    upload,
)

WORKLOADS_YAML = """\
workloads:
  - name: images
    match: {prefix: images/, suffix: .jpg}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('thumbnail')"]
    vcpu: "1"
    memory: [2048, 4096]
    timeout_seconds: 600
    retry: {exit_codes: "75", max_attempts: 3, base_delay_seconds: 0}
  - name: video
    match: {prefix: video/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('video')"]
    vcpu: "2"
    memory: 4096
    timeout_seconds: 1200
    retry: {max_attempts: 4, base_delay_seconds: 0}
    compute: {type: fargate-spot, on_demand_after: 1}
  - name: reports
    schedules:
      - name: nightly
        expression: cron(0 2 * * ? *)
        timezone: Asia/Tokyo
        payload: {report: daily}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('report')"]
    vcpu: "0.5"
    memory: 1024
    timeout_seconds: 3600
"""
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"


@pytest.fixture
def stack_workloads() -> str:
    """The stack fixture (tests/support/stack.py) renders template.yaml with this table before creating it."""
    return WORKLOADS_YAML


def _definition(stack: EmulatedStack, workload: str) -> str:
    """The ARN of the revision CloudFormation created (a function submits it by name; Batch records the ARN)."""
    return stack.resources[f"Workload{workload.capitalize()}JobDefinition"]


def _submitted_requests() -> list[dict[str, Any]]:
    """Every SubmitJob request the shared package's Batch client makes from now on (as the adapter built it)."""
    sent: list[dict[str, Any]] = []
    aws.submit_client().meta.events.register(
        "before-parameter-build.batch.SubmitJob", lambda params, **_: sent.append(dict(params))
    )
    return sent


def test_each_upload_runs_on_its_workloads_definition_at_two_calls_and_an_unmatched_one_at_none(
    stack: EmulatedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one upload per workload with a key rule, one no workload takes, and a job's result under OutputPrefix
    drain_test_event(stack)
    for key in ("incoming/a.csv", "images/cat.jpg", "video/clip.mp4", "docs/notes.txt", "output/result.jpg"):
        upload(stack, key)
    counter = CallCounter().attach()
    capsys.readouterr()

    # When submit_jobs handles them
    deliver_all(stack)

    # Then three jobs, each on its workload's job definition, the Spot workload's on the Spot queue
    jobs = {job["jobName"].rsplit("-", 1)[-1]: job for job in all_jobs(stack)}
    assert sorted(jobs) == ["a_csv", "cat_jpg", "clip_mp4"]
    assert jobs["a_csv"]["jobDefinition"] == stack.outputs["JobDefinitionArn"]
    assert jobs["cat_jpg"]["jobDefinition"] == _definition(stack, "images")
    assert jobs["clip_mp4"]["jobDefinition"] == _definition(stack, "video")
    assert jobs["a_csv"]["jobQueue"] == jobs["cat_jpg"]["jobQueue"] == stack.outputs["JobQueueArn"]
    assert jobs["clip_mp4"]["jobQueue"] == stack.outputs["SpotJobQueueArn"]
    assert jobs["clip_mp4"]["tags"]["batch-orchestrator:workload"] == "video"
    # at one claim and one SubmitJob per upload, and nothing for the unmatched ones
    assert counter.calls == ["dynamodb:PutItem", "batch:SubmitJob"] * 3
    # which are counted, stack-wide and per workload: the stray upload as unmatched, the result as skipped
    out = capsys.readouterr().out
    assert emf_metrics(out) == {"JobsSubmitted": 3, "UploadsUnmatched": 1, "InputsSkipped": 1}
    assert emf_metrics_by_workload(out) == {
        workload: {"JobsSubmitted": 1} for workload in ("default", "images", "video")
    }


def test_an_out_of_memory_attempt_is_retried_one_step_up_and_succeeds_there(stack: EmulatedStack) -> None:
    # Given an image run on 1 vCPU / 2 GiB
    drain_test_event(stack)
    sent = _submitted_requests()
    run_id = start_run(stack, "images/cat.jpg")
    assert "resourceRequirements" not in sent[-1]["containerOverrides"]

    # When its attempt dies of out-of-memory (137 is not in the workload's retry list) and the retry is submitted
    waiting = finish_attempt(stack, run_id, "FAILED", exit_code=137, reason=OUT_OF_MEMORY)
    assert (waiting["status"], waiting["sizeStep"], waiting["memoryMib"]) == ("RETRY_WAIT", 1, 4096)
    deliver_all(stack)

    # Then attempt 2 runs on the same job definition with the next step's size
    # (the request names the job definition, as the template names it: Batch takes its latest revision)
    assert sent[-1]["jobDefinition"] == stack.outputs["WorkloadJobDefinitionPrefix"] + "images"
    assert sent[-1]["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "1"},
        {"type": "MEMORY", "value": "4096"},
    ]
    assert sent[-1]["tags"]["batch-orchestrator:size-step"] == "1"

    # And when it succeeds, the run's history shows each attempt's size
    run = finish_attempt(stack, run_id, "SUCCEEDED", exit_code=0)
    assert run["status"] == "SUCCEEDED"
    assert [(entry["attempt"], entry["status"], entry["memoryMib"]) for entry in run["history"]] == [
        (1, "FAILED", 2048),
        (2, "SUCCEEDED", 4096),
    ]


def test_a_spot_interrupted_attempt_moves_to_the_on_demand_queue(stack: EmulatedStack) -> None:
    # Given a video run on the Spot queue (On-Demand after one interruption)
    drain_test_event(stack)
    run_id = start_run(stack, "video/clip.mp4")
    assert read_run(stack, run_id)["jobQueue"] == stack.outputs["SpotJobQueueArn"]

    # When Fargate Spot takes the capacity back
    waiting = finish_attempt(stack, run_id, "FAILED", status_reason="Your Spot Task was interrupted.")
    deliver_all(stack)

    # Then attempt 2 is on the On-Demand queue, and the run records why
    assert (waiting["status"], waiting["capacity"], waiting["spotInterruptions"]) == ("RETRY_WAIT", "on-demand", 1)
    run = read_run(stack, run_id)
    assert (run["attempt"], run["jobQueue"], run["capacity"]) == (2, stack.outputs["JobQueueArn"], "on-demand")
    ids = [summary["jobId"] for summary in jobs_of(stack, run_id)]
    queues = sorted(job["jobQueue"] for job in stack.client("batch").describe_jobs(jobs=ids)["jobs"])
    assert queues == sorted([stack.outputs["SpotJobQueueArn"], stack.outputs["JobQueueArn"]])


def test_a_workload_schedule_hands_its_payload_to_its_job(stack: EmulatedStack) -> None:
    # Given the firing the template's schedule of the reports workload sends
    (schedule,) = [s for s in stack.schedules.values() if s.logical_id == "WorkloadReportsNightlySchedule"]
    event = render_schedule_input(
        schedule, datetime(2026, 11, 21, 17, tzinfo=UTC), region=stack.region, account_id=stack.account_id
    )

    # When submit_scheduled handles it
    result = invoke_handler(stack, "SubmitScheduledFunction", event)

    # Then one job on the reports job definition, which reads the schedule's payload
    assert result["outcome"] == "SUBMITTED"
    (job,) = all_jobs(stack)
    assert job["jobDefinition"] == _definition(stack, "reports")
    env = job_environment(job)
    assert (env["SCHEDULE_NAME"], env["SCHEDULE_PAYLOAD"]) == ("nightly", '{"report":"daily"}')
    assert read_run(stack, result["runId"])["workload"] == "reports"
