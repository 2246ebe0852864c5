"""The runs table's pipeline attributes on the fake and on RunsTable over moto, with the same assertions (as
test_fake_runs_contract.py): a step's success moves the run to its next step's plan; the claim of a later step records
its step, its attempts before, the run's new attempt limit, and clears the array the step before left; a step refused
before its job fails the waiting run with a history entry naming the step; a run of no pipeline writes none of it.
"""

from __future__ import annotations

from copy import replace

import boto3

from batch_orchestrator.models import (
    DEFAULT_PLAN,
    SIDE_EFFECT_ALERT,
    SIDE_EFFECT_RETRY,
    ArrayState,
    AttemptPlan,
    JobObservation,
    RunStatus,
    SideEffect,
)
from tests.support.aws_doubles import REGION, RUNS_TABLE, ReadableRunsTable
from tests.support.fakes import FakeWatchdogStore
from tests.unit.test_fake_runs_contract import DEFINITION, JOB_1, QUEUE, RUN_ID, SOURCE, at, lease_at, observation

Store = FakeWatchdogStore | ReadableRunsTable
RENDER = AttemptPlan(workload="render", array_size=3)
MERGE = AttemptPlan(workload="merge", step=2, attempts_before_step=2)


def _claim(store: Store, plan: AttemptPlan = DEFAULT_PLAN) -> None:
    assert store.claim_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=f"{RUN_ID}-a1",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=2,
        now=at(0),
        claimed_until=lease_at(0),
        plan=plan,
    ).applied


def _render_succeeded_then_merge_waits(store: Store) -> None:
    """render (an array of 3: the run's attempt 1 here) succeeded; the run waits for merge, its next step."""
    _claim(store, RENDER)
    parent: JobObservation = replace(
        observation(RunStatus.SUCCEEDED),
        workload="render",
        array_size=3,
        array=ArrayState(size=3, status_summary=(("SUCCEEDED", 3),)),
    )
    written = store.apply_observation(
        parent,
        now=at(1),
        new_status=RunStatus.RETRY_WAIT,
        next_attempt=2,
        next_attempt_at=at(1),
        side_effect=SideEffect(kind=SIDE_EFFECT_RETRY, token="t", due=lease_at(1), job_id=JOB_1),
        next_plan=replace(MERGE, attempts_before_step=1),
        step_workload="render",
    )
    assert written.applied


def test_a_steps_success_records_the_step_and_waits_for_the_next_steps_plan(store: Store) -> None:
    _render_succeeded_then_merge_waits(store)
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.status, run.attempt, run.plan.workload, run.plan.step, run.plan.attempts_before_step) == (
        RunStatus.RETRY_WAIT,
        2,
        "merge",
        2,
        1,
    )
    # the next step is no array: the plan says so, whatever the step before was
    assert run.plan.array_size == 0
    (record,) = run.history
    assert (record.workload, record.status, record.items) == ("render", RunStatus.SUCCEEDED, "0-2")


def test_the_claim_of_a_later_step_records_its_limit_and_clears_the_array_before_it(store: Store) -> None:
    _render_succeeded_then_merge_waits(store)
    written = store.claim_retry_attempt(
        run_id=RUN_ID,
        attempt=2,
        job_name=f"{RUN_ID}-a2",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        now=at(2),
        claimed_until=lease_at(2),
        plan=replace(MERGE, attempts_before_step=1),
        max_attempts=4,
    )
    assert written.applied
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.status, run.max_attempts, run.plan.step, run.plan.array_size) == (RunStatus.SUBMITTED, 4, 2, 0)
    assert (run.array_status, run.failed_children, run.failed_children_count) == ((), (), 0)


def test_a_step_refused_before_its_job_fails_the_waiting_run_once(store: Store) -> None:
    _render_succeeded_then_merge_waits(store)
    alert = SideEffect(kind=SIDE_EFFECT_ALERT, token="a", due=lease_at(2), job_id="")
    plan = replace(MERGE, attempts_before_step=1)

    first = store.refuse_waiting_attempt(
        run_id=RUN_ID, attempt=2, job_name=f"{RUN_ID}-a2", now=at(2), reason="no manifest", side_effect=alert, plan=plan
    )
    second = store.refuse_waiting_attempt(
        run_id=RUN_ID, attempt=2, job_name=f"{RUN_ID}-a2", now=at(3), reason="again", side_effect=alert, plan=plan
    )

    assert (first.applied, second.applied) == (True, False)
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.status, run.attempt, run.status_reason, run.job_id) == (RunStatus.FAILED, 2, "no manifest", None)
    assert run.side_effect is not None
    assert run.side_effect.kind == SIDE_EFFECT_ALERT
    assert [(r.attempt, r.workload, r.status, r.job_id) for r in run.history][-1] == (2, "merge", RunStatus.FAILED, "")


def test_a_run_of_no_pipeline_records_no_step(store: Store) -> None:
    _claim(store)
    store.apply_observation(observation(RunStatus.SUCCEEDED), now=at(1), new_status=RunStatus.SUCCEEDED)
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.plan.step, run.plan.attempts_before_step, run.history[0].workload) == (0, 0, None)
    if isinstance(store, ReadableRunsTable):
        item = boto3.client("dynamodb", region_name=REGION).get_item(TableName=RUNS_TABLE, Key={"runId": {"S": RUN_ID}})
        assert not {"step", "attemptsBeforeStep"} & set(item["Item"])
        assert all("workload" not in entry["M"] for entry in item["Item"]["history"]["L"])
