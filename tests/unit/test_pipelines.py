"""Pipelines through submit and tracker on the fakes (tests/support/pipeline_runs.py): a step's SUCCEEDED event requests
the next step, in the same one conditional write; each step counts its own attempts; a step that fails for good, or
whose previous step's manifest cannot run, ends the run naming the step.
"""

from __future__ import annotations

import json
from copy import replace
from datetime import timedelta

import pytest

from batch_orchestrator.alerts import ALERT_RUN_FAILED
from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.errors import MalformedMessage, RetryEnqueueError, WorkloadUnavailable
from batch_orchestrator.ids import ATTEMPTS_BEFORE_STEP_TAG, STEP_TAG, run_id_for
from batch_orchestrator.models import (
    SIDE_EFFECT_ALERT,
    AttemptPlan,
    JobObservation,
    RunStatus,
    S3Source,
    ScheduleSource,
)
from batch_orchestrator.submit import SubmitOutcome, submit_run
from batch_orchestrator.submit_messages import parse_submit_message, retry_message
from batch_orchestrator.tracking import TrackOutcome, recover_side_effect
from batch_orchestrator.workloads import Capacity
from tests.support.array_runs import array_detail, failed
from tests.support.fakes import FakeWatchdogStore, SubmittedJob
from tests.support.pipeline_runs import OUTPUT_PREFIX, PipelineStack
from tests.support.workload_runs import BUCKET


@pytest.fixture
def stack() -> PipelineStack:
    return PipelineStack()


def through_render(stack: PipelineStack, manifest: bytes = b"sky\nmoon\nstars\n") -> tuple[str, SubmittedJob]:
    """Upload for split, split succeeds having written ``manifest``; the run id and render's first job."""
    split = stack.start("scenes/a.txt")
    run_id = stack.run_of("scenes/a.txt").run_id
    stack.write_step_manifest(run_id, "split", manifest)
    stack.finish(split, "SUCCEEDED", exit_code=0)
    return run_id, stack.next_attempt()


# ------------------------------------------------------------------------------------------ advancing
def test_a_step_that_succeeds_requests_the_next_step_in_the_same_write(stack: PipelineStack) -> None:
    # Given split's job (the first step: no step tags, the pipeline's place in its environment)
    split = stack.start("scenes/a.txt")
    run_id = stack.run_of("scenes/a.txt").run_id
    assert STEP_TAG not in split.spec.tags
    assert {k: v for k, v in split.spec.environment.items() if k.startswith("STEP_")} == {
        "STEP_NAME": "split",
        "STEP_NUMBER": "1",
        "STEP_COUNT": "3",
        "STEP_ATTEMPT": "1",
        "STEP_OUTPUT_PREFIX": f"{OUTPUT_PREFIX}{run_id}/split/",
        "STEP_MANIFEST_KEY": f"{OUTPUT_PREFIX}{run_id}/split/manifest",
    }

    # When it SUCCEEDED
    result = stack.finish(split, "SUCCEEDED", exit_code=0)

    # Then one write moved the run to wait for attempt 2, render's first, and the request went out at once
    assert result.outcome is TrackOutcome.STEP_ADVANCED
    assert "step split (step 1 of 3) succeeded; step render (step 2 of 3) starts now" in result.detail
    run = stack.run_of("scenes/a.txt")
    assert (run.status, run.attempt, run.plan.workload, run.plan.step, run.plan.attempts_before_step) == (
        RunStatus.RETRY_WAIT,
        2,
        "render",
        1,
        1,
    )
    assert [(r.attempt, r.workload, r.status) for r in run.history] == [(1, "split", RunStatus.SUCCEEDED)]
    (sent,) = stack.retry_queue.sent
    assert (sent.delay_seconds, sent.request.attempt, sent.request.plan) == (0, 2, run.plan)


def test_a_duplicate_success_requests_nothing_more(stack: PipelineStack) -> None:
    # Given split succeeded and render was requested
    split = stack.start("scenes/a.txt")
    stack.finish(split, "SUCCEEDED", exit_code=0)

    # When the SUCCEEDED event comes again
    again = stack.finish(split, "SUCCEEDED", exit_code=0)

    # Then it is stale: still one request
    assert again.outcome is TrackOutcome.STALE
    assert len(stack.retry_queue.sent) == 1


def test_a_lost_request_for_the_next_step_is_sent_again_once_its_lease_expires(stack: PipelineStack) -> None:
    # Given split succeeded but the request for render was lost (SQS unreachable after the write)
    split = stack.start("scenes/a.txt")
    stack.retry_queue.fail_next()
    with pytest.raises(RetryEnqueueError, match="SQS unreachable"):
        stack.finish(split, "SUCCEEDED", exit_code=0)
    run = stack.run_of("scenes/a.txt")
    assert run.side_effect is not None
    assert stack.retry_queue.sent == []

    # When the watchdog (or a redelivered event) finds the lease expired
    obs = parse_describe_jobs_entry(array_detail(split, "SUCCEEDED", exit_code=0))
    assert isinstance(obs, JobObservation)
    taken = recover_side_effect(
        run,
        obs,
        runs=stack.runs,
        retry_queue=stack.retry_queue,
        alerts=stack.alerts,
        settings=stack.track_settings,
        now=stack.tick().replace(year=2027),
    )

    # Then render's request goes out, once
    assert taken
    ((sent_request),) = stack.retry_queue.requests()
    assert (sent_request.attempt, sent_request.plan.workload, sent_request.plan.step) == (2, "render", 1)


# ------------------------------------------------------------------------------------------ preprocess -> array
def test_the_array_step_is_sized_by_its_previous_steps_manifest(stack: PipelineStack) -> None:
    # Given split wrote a manifest of three items
    run_id, render = through_render(stack)

    # Then render is an array of 3, told where the manifest is, tagged as step 1 after 1 attempt
    assert render.spec.array_size == 3
    assert render.spec.environment["MANIFEST_KEY"] == f"{OUTPUT_PREFIX}{run_id}/split/manifest"
    assert render.spec.environment["PREVIOUS_STEP_OUTPUT_PREFIX"] == f"{OUTPUT_PREFIX}{run_id}/split/"
    assert (render.spec.tags[STEP_TAG], render.spec.tags[ATTEMPTS_BEFORE_STEP_TAG]) == ("1", "1")
    assert stack.manifests.reads[-1] == S3Source(bucket=BUCKET, key=f"{OUTPUT_PREFIX}{run_id}/split/manifest")
    run = stack.run_of("scenes/a.txt")
    assert (run.status, run.plan.array_size) == (RunStatus.SUBMITTED, 3)


def test_a_step_counts_its_own_attempts_and_retries_only_its_failed_children(stack: PipelineStack) -> None:
    # Given render (2 attempts of its own) over 3 items, run attempt 2
    _, render = through_render(stack)

    # When child 1 exits 75
    result = stack.end(render, "FAILED", failed(1))

    # Then it is retried alone as the step's attempt 2 (the run's 3), judged against the step's own 2 attempts
    assert result.outcome is TrackOutcome.RETRY_SCHEDULED
    assert "(attempt 1 of 2)" in result.detail
    retry = stack.next_attempt()
    assert (retry.spec.environment["ARRAY_ITEMS"], retry.spec.environment["STEP_ATTEMPT"]) == ("1", "2")
    assert retry.spec.environment["RUN_ATTEMPT"] == "3"

    # When it fails again: the step's attempts are exhausted, and the alert names the step
    result = stack.finish(retry, "FAILED", exit_code=75, reason="Essential container in task exited")
    assert result.outcome is TrackOutcome.FAILED
    (alert,) = stack.alerts.of_type(ALERT_RUN_FAILED)
    assert "step render:" in alert.subject
    assert "attempt 2/2)" in alert.subject
    assert "render (step 2 of 3)" in alert.message


def test_the_last_steps_success_ends_the_run_and_a_single_step_after_an_array_is_no_array(stack: PipelineStack) -> None:
    # Given render succeeded (all 3 children)
    _, render = through_render(stack)
    stack.end(render, "SUCCEEDED")

    # When merge, requested as attempt 3 (step 2 after 2 attempts), runs and succeeds
    merge = stack.next_attempt()
    assert (merge.spec.array_size, merge.spec.tags[STEP_TAG], merge.spec.tags[ATTEMPTS_BEFORE_STEP_TAG]) == (
        0,
        "2",
        "2",
    )
    run = stack.run_of("scenes/a.txt")
    assert (run.plan.array_size, run.array_status, run.failed_children) == (0, (), ())
    result = stack.finish(merge, "SUCCEEDED", exit_code=0)

    # Then the run SUCCEEDED at merge, with each step's attempts in its history, and nothing more was requested
    assert result.outcome is TrackOutcome.SUCCEEDED
    run = stack.run_of("scenes/a.txt")
    assert (run.status, run.attempt) == (RunStatus.SUCCEEDED, 3)
    assert [r.workload for r in run.history] == ["split", "render", "merge"]
    assert len(stack.retry_queue.sent) == 2


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        (b"", "the manifest holds no items"),
        (b"\n \n", "the manifest holds no items"),
        (b"[1, 2", "not JSON"),
        (json.dumps(list(range(100_001))).encode(), "more than the 100,000 one array run takes"),
        (None, "the previous step wrote no manifest at s3://batch-orch-input/results/"),
    ],
)
def test_a_manifest_that_cannot_run_fails_the_run_at_that_step_without_a_job(
    stack: PipelineStack, manifest: bytes | None, why: str
) -> None:
    # Given split wrote a manifest render cannot run
    split = stack.start("scenes/a.txt")
    if manifest is not None:  # None: split wrote none at all
        stack.write_step_manifest(stack.run_of("scenes/a.txt").run_id, "split", manifest)
    stack.finish(split, "SUCCEEDED", exit_code=0)
    jobs_before = len(stack.jobs.jobs)

    # When render's request is submitted (twice: SQS delivers at least once)
    request = stack.retry_queue.sent[-1].request
    first, second = stack.submit(request), stack.submit(request)

    # Then the run FAILED at render (attempt 2) naming the step and why, owing its alert; no job was submitted
    assert (first.outcome, second.outcome) == (SubmitOutcome.REFUSED, SubmitOutcome.DUPLICATE)
    assert len(stack.jobs.jobs) == jobs_before
    run = stack.run_of("scenes/a.txt")
    assert (run.status, run.attempt, run.workload) == (RunStatus.FAILED, 2, "render")
    assert run.status_reason is not None
    assert "step render cannot run its previous step's manifest" in run.status_reason
    assert why in run.status_reason
    assert run.side_effect is not None
    assert (run.side_effect.kind, run.side_effect.job_id) == (SIDE_EFFECT_ALERT, "")
    assert [(r.workload, r.status) for r in run.history] == [
        ("split", RunStatus.SUCCEEDED),
        ("render", RunStatus.FAILED),
    ]


# ------------------------------------------------------------------------------------------ sequential
def test_a_sequential_step_failing_for_good_alerts_once_naming_the_step(stack: PipelineStack) -> None:
    # Given check succeeded and publish (3 attempts of its own) runs as the run's attempt 2
    check = stack.start("releases/v1.txt")
    stack.finish(check, "SUCCEEDED", exit_code=0)
    publish = stack.next_attempt()
    assert "MANIFEST_KEY" not in publish.spec.environment
    assert "STEP_MANIFEST_KEY" not in check.spec.environment

    # When it exits 3 (not retryable), twice (a duplicate event)
    result = stack.finish(publish, "FAILED", exit_code=3, reason="Essential container in task exited")
    stack.finish(publish, "FAILED", exit_code=3, reason="Essential container in task exited")

    # Then one alert: the step, and its attempt as the step counts it
    assert result.outcome is TrackOutcome.FAILED
    (alert,) = stack.alerts.of_type(ALERT_RUN_FAILED)
    assert "(step publish: exit 3, attempt 1/3)" in alert.subject
    assert "failed for good: step publish (step 2 of 2), attempt 1 of 3" in alert.message
    assert "  1. step check, SUCCEEDED, exit code 0" in alert.message  # the history names each attempt's step


# ------------------------------------------------------------------------------------------ what travels
def test_a_steps_plan_travels_in_the_submit_request_and_back() -> None:
    # Given a later step's plan
    plan = AttemptPlan(workload="render", capacity=Capacity.ON_DEMAND, array_size=3, step=1, attempts_before_step=4)
    source = S3Source(bucket=BUCKET, key="scenes/a.txt", sequencer="00A1")
    body = retry_message(run_id=run_id_for(source), attempt=5, source=source, plan=plan)

    # When / Then the submit path reads it back whole
    (request,) = parse_submit_message(body)
    assert request.plan == plan  # type: ignore[union-attr]
    # and a step count that is no count is refused, not guessed
    for name, value in (("step", -1), ("attemptsBeforeStep", "4"), ("step", True)):
        bad = json.loads(body) | {name: value}
        with pytest.raises(MalformedMessage, match=name):
            parse_submit_message(json.dumps(bad))


def test_a_jobs_step_tags_are_read_and_impossible_ones_refused(stack: PipelineStack) -> None:
    # Given render's job (tagged step 1 after 1 attempt, run attempt 2)
    _, render = through_render(stack)
    detail = array_detail(render, "RUNNING")

    # When / Then the tracker reads them
    obs = parse_describe_jobs_entry(detail)
    assert isinstance(obs, JobObservation)
    assert (obs.step, obs.attempts_before_step, obs.step_attempt) == (1, 1, 1)
    # and refuses a value submit never writes, or a step said to start at or after its own attempt
    for tag, value in ((STEP_TAG, "x"), (ATTEMPTS_BEFORE_STEP_TAG, "2"), (ATTEMPTS_BEFORE_STEP_TAG, "007")):
        broken = {**detail, "tags": {**detail["tags"], tag: value}}
        with pytest.raises(MalformedMessage, match="tags"):
            parse_describe_jobs_entry(broken)


def test_the_watchdog_alerts_a_step_refused_before_its_job_naming_the_step() -> None:
    # Given split succeeded having written an empty manifest, and render's request was refused (no job, no event)
    stack = PipelineStack(runs=FakeWatchdogStore())
    split = stack.start("scenes/a.txt")
    stack.write_step_manifest(stack.run_of("scenes/a.txt").run_id, "split", b"")
    stack.finish(split, "SUCCEEDED", exit_code=0)
    assert stack.submit(stack.retry_queue.sent[-1].request).outcome is SubmitOutcome.REFUSED

    # When the watchdog sweeps after its reconcile delay
    assert isinstance(stack.runs, FakeWatchdogStore)
    report = stack.sweep(after=timedelta(minutes=11))

    # Then it published the one alert: the step's name and the reason, and the run owes nothing more
    assert (report.side_effects_recovered, report.errors) == (1, 0)
    (alert,) = stack.alerts.published
    assert alert.subject == "Batch job failed [render]: a.txt (step render: not submitted, attempt 1/2)"
    assert f"Job:           {stack.run_of('scenes/a.txt').run_id}-a2-a_txt" in alert.message
    assert "step render cannot run its previous step's manifest: the manifest holds no items" in alert.message
    assert "Job ID:        none (not submitted)" in alert.message
    run = stack.run_of("scenes/a.txt")
    assert stack.runs.active_status(run.run_id) is None


def test_a_stack_that_cannot_read_a_steps_manifest_fails_the_delivery_not_the_run(stack: PipelineStack) -> None:
    # Given split succeeded, and a submit function without the bucket (no OUTPUT_BUCKET) and of a run not from S3
    split = stack.start("scenes/a.txt")
    stack.finish(split, "SUCCEEDED", exit_code=0)
    request = stack.retry_queue.sent[-1].request
    scheduled = replace(request, source=ScheduleSource(schedule_name="nightly", scheduled_time="2026-12-01T00:00:00Z"))

    # When / Then it is refused before any write, naming what is missing (SQS redelivers, then the DLQ keeps it)
    with pytest.raises(WorkloadUnavailable, match="no OUTPUT_BUCKET"):
        submit_run(scheduled, runs=stack.runs, jobs=stack.jobs, settings=stack.submit_settings, now=stack.tick())
    assert stack.run_of("scenes/a.txt").status is RunStatus.RETRY_WAIT
