"""The runs table's workload attributes (the attempt's plan and size, each history entry's size) on the fake and
on RunsTable over moto, with the same assertions (as test_fake_runs_contract.py for the other attributes), and
the items written before workloads existed, which read as the default workload's first step."""

from __future__ import annotations

from typing import Any

import boto3

from batch_orchestrator.adapters.run_items import run_from_item
from batch_orchestrator.models import (
    DEFAULT_PLAN,
    SIDE_EFFECT_RETRY,
    AttemptPlan,
    RunStatus,
    SideEffect,
)
from batch_orchestrator.workloads import Capacity, Size
from tests.support.aws_doubles import REGION, RUNS_TABLE, ReadableRunsTable, runs_table_in_moto
from tests.support.fakes import FakeWatchdogStore
from tests.unit.test_fake_runs_contract import (
    DEFINITION,
    JOB_1,
    JOB_2,
    QUEUE,
    RUN_ID,
    SOURCE,
    at,
    lease_at,
    observation,
)

Store = FakeWatchdogStore | ReadableRunsTable
SPOT_QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/jobs-spot"
FIRST = AttemptPlan(workload="video", capacity=Capacity.SPOT)
SECOND = AttemptPlan(workload="video", size_step=1, capacity=Capacity.ON_DEMAND, spot_interruptions=1)
SMALL, LARGE = Size("1", 2048), Size("1", 4096)


def _claim(store: Store, plan: AttemptPlan = FIRST, size: Size | None = SMALL) -> None:
    written = store.claim_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=f"{RUN_ID}-a1",
        job_queue=SPOT_QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at(0),
        claimed_until=lease_at(0),
        plan=plan,
        size=size,
    )
    assert written.applied


def _retry_wait(store: Store, *, next_plan: AttemptPlan | None = SECOND, next_size: Size | None = LARGE) -> Any:
    return store.apply_observation(
        observation(RunStatus.FAILED, exit_code=137),
        now=at(2),
        new_status=RunStatus.RETRY_WAIT,
        next_attempt=2,
        next_attempt_at=at(3),
        side_effect=SideEffect(kind=SIDE_EFFECT_RETRY, token="t", due=lease_at(3), job_id=JOB_1),
        attempt_size=SMALL,
        next_plan=next_plan,
        next_size=next_size,
    )


def test_a_claim_records_the_attempts_plan_and_size(store: Store) -> None:
    # When
    _claim(store)

    # Then
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.plan, run.vcpu, run.memory_mib, run.workload) == (FIRST, "1", 2048, "video")


def test_a_retry_decision_moves_the_run_to_the_next_plan_and_records_the_failed_attempts_size(store: Store) -> None:
    # Given
    _claim(store)

    # When the tracker decides attempt 2 runs one ladder step up, On-Demand
    written = _retry_wait(store)

    # Then the run after the write is at the next plan and size; the history holds attempt 1's size
    assert written.applied
    assert written.run is not None
    assert (written.run.plan, written.run.memory_mib) == (SECOND, 4096)
    (record,) = written.run.history
    assert (record.attempt, record.vcpu, record.memory_mib) == (1, "1", 2048)
    assert written.run == store.get(RUN_ID)


def test_a_retry_decision_without_a_plan_keeps_the_runs(store: Store) -> None:
    _claim(store)
    written = _retry_wait(store, next_plan=None, next_size=None)
    assert written.run is not None
    assert (written.run.plan, written.run.memory_mib) == (FIRST, 2048)


def test_the_retry_claim_writes_its_plan_and_removes_a_size_it_does_not_know(store: Store) -> None:
    # Given a run waiting for attempt 2
    _claim(store)
    _retry_wait(store)

    # When attempt 2 is claimed with no known size
    written = store.claim_retry_attempt(
        run_id=RUN_ID,
        attempt=2,
        job_name=f"{RUN_ID}-a2",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        now=at(4),
        claimed_until=lease_at(4),
        plan=SECOND,
        size=None,
    )

    # Then
    assert written.applied
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.plan, run.vcpu, run.memory_mib, run.job_queue) == (SECOND, None, None, QUEUE)


def test_a_take_over_records_the_plan_and_size_it_submits(store: Store) -> None:
    # Given a claim whose holder vanished
    _claim(store)

    # When another delivery takes it over with the size the table gives now
    written = store.take_over_claim(
        run_id=RUN_ID,
        attempt=1,
        previous_until=lease_at(0),
        job_queue=SPOT_QUEUE,
        job_definition=DEFINITION,
        now=at(5),
        claimed_until=lease_at(5),
        plan=FIRST,
        size=LARGE,
    )

    # Then
    assert written.applied
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.plan, run.memory_mib) == (FIRST, 4096)


def test_a_default_workload_claim_need_not_name_its_plan(store: Store) -> None:
    # When a claim gives no plan (the default workload's first step, size not known to the caller)
    _claim(store, plan=DEFAULT_PLAN, size=None)

    # Then
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.plan, run.vcpu, run.memory_mib) == (DEFAULT_PLAN, None, None)


def test_an_item_written_before_workloads_reads_as_the_default_plan() -> None:
    # Given a run item and a history entry as the functions wrote them before workloads existed
    item = {
        "runId": RUN_ID,
        "status": "RETRY_WAIT",
        "attempt": 2,
        "maxAttempts": 3,
        "progress": 20_000,
        "source": SOURCE.to_dict(),
        "history": [{"attempt": 1, "jobId": JOB_2, "status": "FAILED", "exitCode": 75}],
    }

    # When it is read from DynamoDB
    with runs_table_in_moto() as table:
        boto3.resource("dynamodb", region_name=REGION).Table(RUNS_TABLE).put_item(Item=item)
        run = table.get(RUN_ID)

    # Then it is a run of the default workload's first step, on On-Demand capacity, of unknown size
    assert run is not None
    assert run == run_from_item(item)
    assert (run.plan, run.vcpu, run.memory_mib) == (DEFAULT_PLAN, None, None)
    assert run.plan.capacity is Capacity.ON_DEMAND
    (record,) = run.history
    assert (record.vcpu, record.memory_mib) == (None, None)


def test_the_fake_and_the_table_agree_on_every_workload_attribute() -> None:
    def life(store: Store) -> list[Any]:
        _claim(store)
        answers: list[Any] = [store.get(RUN_ID), _retry_wait(store)]
        answers.append(
            store.claim_retry_attempt(
                run_id=RUN_ID,
                attempt=2,
                job_name=f"{RUN_ID}-a2",
                job_queue=QUEUE,
                job_definition=DEFINITION,
                now=at(4),
                claimed_until=lease_at(4),
                plan=SECOND,
                size=LARGE,
            )
        )
        answers.append(
            store.apply_observation(
                observation(RunStatus.SUCCEEDED, attempt=2, job_id=JOB_2, exit_code=0),
                now=at(6),
                new_status=RunStatus.SUCCEEDED,
                attempt_size=LARGE,
            )
        )
        answers.append(store.get(RUN_ID))
        return answers

    in_memory = life(FakeWatchdogStore())
    with runs_table_in_moto() as table:
        in_dynamodb = life(table)
    for step, (fake, real) in enumerate(zip(in_memory, in_dynamodb, strict=True)):
        assert fake == real, f"step {step}"
    final = in_dynamodb[-1]
    assert [(r.attempt, r.memory_mib) for r in final.history] == [(1, 2048), (2, 4096)]
