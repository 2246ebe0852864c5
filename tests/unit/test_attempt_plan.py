"""The next attempt's plan (batch_orchestrator.attempt_plan) as a pure function of the failed attempt and its
workload, the plan a job carries in its tags (batch_events), and workload schedules (schedule)."""

from __future__ import annotations

from copy import replace
from typing import Any

import pytest

from batch_orchestrator.attempt_plan import capacity_for, decide_attempt, first_plan, size_at
from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import SIZE_STEP_TAG, SPOT_INTERRUPTIONS_TAG, WORKLOAD_TAG, run_id_for
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, JobObservation, RunStatus, ScheduleSource
from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.schedule import parse_schedule_firing, scheduled_request
from batch_orchestrator.submit import job_environment
from batch_orchestrator.workloads import Capacity, ComputeType, KeyRule, Schedule, Size, Workload
from tests.support import workload_runs
from tests.support.events import load_event

POLICY = RetryPolicy(ExitCodeSet.parse("75"), max_attempts=4, base_delay_seconds=0, max_delay_seconds=0)
LADDER = Workload(
    name="images",
    key_rule=KeyRule(prefix="images/"),
    schedules=(),
    ladder=(Size("1", 2048), Size("1", 4096)),
    timeout_seconds=900,
    retry=POLICY,
)
SPOT = replace(LADDER, name="video", ladder=(Size("2", 4096),), compute=ComputeType.FARGATE_SPOT, on_demand_after=2)
OOM: dict[str, Any] = {"exit_code": 137, "container_reason": "OutOfMemoryError: Container killed due to memory usage"}
SPOT_REASON = "Your Spot Task was interrupted."


def failed(
    workload: str = "images", *, attempt: int = 1, size_step: int = 0, spot: int = 0, **how: Any
) -> JobObservation:
    return JobObservation(
        run_id="s3-" + "0" * 24,
        attempt=attempt,
        job_id="j",
        job_name="n",
        job_queue="q",
        status=RunStatus.FAILED,
        workload=workload,
        size_step=size_step,
        spot_interruptions=spot,
        **how,
    )


# ------------------------------------------------------------------------------------------ plans
def test_a_spot_workload_starts_on_spot_until_its_interruptions_reach_the_count() -> None:
    assert first_plan(SPOT) == AttemptPlan(workload="video", capacity=Capacity.SPOT)
    spot, on_demand = Capacity.SPOT, Capacity.ON_DEMAND
    assert [capacity_for(SPOT, n) for n in range(4)] == [spot, spot, on_demand, on_demand]
    assert first_plan(LADDER) == AttemptPlan(workload="images")


def test_a_size_is_known_only_for_a_step_of_a_known_workload() -> None:
    assert size_at(LADDER, 1) == Size("1", 4096)
    assert size_at(LADDER, 2) is None
    assert size_at(None, 0) is None


# ------------------------------------------------------------------------------------------ decisions
def test_a_timeout_is_judged_by_the_retry_policy_even_when_it_looks_out_of_memory() -> None:
    # A container killed at its timeout may report 137; the timeout decides (RetryOnTimeout=false)
    decided = decide_attempt(failed(**OOM, timed_out=True), LADDER)
    assert not decided.decision.retry
    assert "timed out" in decided.decision.reason


def test_a_spot_reason_on_a_workload_not_on_spot_follows_the_retry_policy() -> None:
    # The default workload with UseFargateSpot: Batch retried it natively; the policy judges what is left
    decided = decide_attempt(failed("images", status_reason=SPOT_REASON), LADDER)
    assert not decided.decision.retry
    assert "no exit code" in decided.decision.reason


def test_a_spot_interruption_comes_before_out_of_memory() -> None:
    ladder_on_spot = replace(SPOT, ladder=LADDER.ladder)
    decided = decide_attempt(failed("video", status_reason=SPOT_REASON, **OOM), ladder_on_spot)
    assert decided.next_plan == AttemptPlan(workload="video", size_step=0, capacity=Capacity.SPOT, spot_interruptions=1)


def test_out_of_memory_on_ec2_is_recognised_from_the_reason() -> None:
    decided = decide_attempt(failed(container_reason="OutOfMemory: container killed (EC2)", exit_code=1), LADDER)
    assert decided.next_plan == AttemptPlan(workload="images", size_step=1)


def test_an_exit_137_without_an_out_of_memory_reason_is_not_a_step_up() -> None:
    decided = decide_attempt(failed(exit_code=137, container_reason="Essential container in task exited"), LADDER)
    assert not decided.decision.retry  # 137 is not in this workload's list ("75")


def test_out_of_memory_with_no_attempts_left_fails_naming_both() -> None:
    decided = decide_attempt(failed(attempt=4, **OOM), LADDER)
    assert not decided.decision.retry
    assert decided.decision.reason == (
        "out of memory at 1 vCPU, 2048 MiB (memory ladder step 1 of 2), but attempts exhausted (4 of 4)"
    )


def test_a_step_past_a_shortened_ladder_counts_as_its_top() -> None:
    decided = decide_attempt(failed(size_step=5, **OOM), LADDER)
    assert decided.decision.reason == "out of memory at the top of the memory ladder (1 vCPU, 4096 MiB)"


def test_an_ordinary_retry_keeps_the_plan() -> None:
    decided = decide_attempt(failed("video", exit_code=75, spot=1), SPOT)
    assert decided.next_plan == AttemptPlan(workload="video", capacity=Capacity.SPOT, spot_interruptions=1)


def test_a_decision_is_the_same_for_the_same_inputs() -> None:
    observed = failed(**OOM)
    assert decide_attempt(observed, LADDER, rand=lambda: 0.5) == decide_attempt(observed, LADDER, rand=lambda: 0.5)


# ------------------------------------------------------------------------------------------ job tags
def _detail(tags: dict[str, Any] | None) -> dict[str, Any]:
    detail: dict[str, Any] = load_event("batch_failed_exit_3.json")["detail"]
    if tags is None:
        del detail["tags"]
    else:
        detail["tags"].update(tags)
    return detail


def test_the_jobs_tags_carry_its_plan_to_the_tracker() -> None:
    tags = {WORKLOAD_TAG: "images", SIZE_STEP_TAG: "2", SPOT_INTERRUPTIONS_TAG: "1"}
    observed = parse_describe_jobs_entry(_detail(tags))
    assert isinstance(observed, JobObservation)
    assert (observed.workload, observed.size_step, observed.spot_interruptions) == ("images", 2, 1)


@pytest.mark.parametrize("tags", [{}, None], ids=["a job submitted before workloads", "a job without tags"])
def test_a_job_without_plan_tags_is_the_default_plans(tags: dict[str, Any] | None) -> None:
    observed = parse_describe_jobs_entry(_detail(tags))
    assert isinstance(observed, JobObservation)
    assert (observed.workload, observed.size_step, observed.spot_interruptions) == (
        DEFAULT_PLAN.workload,
        DEFAULT_PLAN.size_step,
        DEFAULT_PLAN.spot_interruptions,
    )


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (WORKLOAD_TAG, "Images"),
        (WORKLOAD_TAG, ""),
        (SIZE_STEP_TAG, "01"),
        (SIZE_STEP_TAG, "-1"),
        (SPOT_INTERRUPTIONS_TAG, "x"),
    ],
)
def test_a_plan_tag_submit_never_writes_is_malformed(tag: str, value: str) -> None:
    with pytest.raises(MalformedMessage, match=f"job.tags\\['{tag}'\\] is '{value}'"):
        parse_describe_jobs_entry(_detail({tag: value}))


# ------------------------------------------------------------------------------------------ schedules
REPORTS = replace(
    LADDER,
    name="reports",
    key_rule=None,
    schedules=(Schedule("nightly", "cron(0 2 * * ? *)", "Asia/Tokyo", payload={"report": "daily", "días": 1}),),
)
FIRING = {
    "scheduleName": "batch-orch-0123456789ab-reports-nightly",
    "workload": "reports",
    "schedule": "nightly",
    "scheduledTime": "2026-11-21T17:00:00Z",
    "executionId": "e1",
    "attemptNumber": "1",
}


def _workloads(name: str) -> Workload | None:
    return REPORTS if name == "reports" else None


def test_a_workload_schedules_firing_is_a_run_of_that_workload() -> None:
    # When
    source = parse_schedule_firing(FIRING, default_name="batch-orch-0123456789ab-schedule")
    request = scheduled_request(source, workload_of=_workloads)

    # Then
    assert source == ScheduleSource("nightly", "2026-11-21T17:00:00Z", workload="reports")
    assert request.plan == AttemptPlan(workload="reports")
    assert request.run_id == run_id_for(source)
    # its run id is not the stack schedule's of the same name and time
    assert request.run_id != run_id_for(ScheduleSource("nightly", "2026-11-21T17:00:00Z"))
    # and the job reads the schedule's payload
    env = job_environment(request, schedule_payload=REPORTS.schedules[0].payload)
    assert env["SCHEDULE_NAME"] == "nightly"
    assert env["SCHEDULE_PAYLOAD"] == '{"report":"daily","días":1}'


def test_the_stacks_own_schedule_is_the_default_workloads() -> None:
    default = replace(LADDER, name="default")
    source = parse_schedule_firing({"scheduledTime": "2026-11-21T00:00:00Z"}, default_name="stack-schedule")
    request = scheduled_request(source, workload_of=lambda name: default if name == "default" else None)
    assert (source.workload, request.plan) == (None, AttemptPlan())
    assert "SCHEDULE_PAYLOAD" not in job_environment(request)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"workload": "gone"}, "fired for workload 'gone', which this stack lacks"),
        ({"schedule": "hourly"}, "workload 'reports' has no schedule 'hourly'"),
        ({"workload": "Reports"}, "invalid workload 'Reports'"),
    ],
)
def test_a_firing_the_stack_has_no_schedule_for_is_malformed(change: dict[str, str], message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        scheduled_request(parse_schedule_firing({**FIRING, **change}, default_name="x"), workload_of=_workloads)


# ------------------------------------------------------------------------------------------ sample events
def test_the_out_of_memory_sample_climbs_one_step_of_the_images_ladder() -> None:
    observed = parse_describe_jobs_entry(load_event("batch_failed_out_of_memory.json")["detail"])
    assert isinstance(observed, JobObservation)
    decided = decide_attempt(observed, workload_runs.table().get(observed.workload))
    assert decided.next_plan == AttemptPlan(workload="images", size_step=1)


def test_the_spot_sample_is_an_interruption_of_the_video_workload() -> None:
    observed = parse_describe_jobs_entry(load_event("batch_failed_spot_interrupted.json")["detail"])
    assert isinstance(observed, JobObservation)
    assert observed.exit_code is None
    decided = decide_attempt(observed, workload_runs.table().get(observed.workload))
    assert decided.next_plan == AttemptPlan(workload="video", capacity=Capacity.SPOT, spot_interruptions=1)


def test_the_workload_schedule_sample_is_a_run_of_reports() -> None:
    source = parse_schedule_firing(load_event("schedule_firing_workload.json"), default_name="x")
    request = scheduled_request(source, workload_of=workload_runs.table().get)
    assert (source.schedule_name, request.plan) == ("nightly", AttemptPlan(workload="reports"))
