"""The runs table's array attributes (the array's size, the attempt's items, children by status, the failed children
kept with their count, each history entry's items) on the fake and on RunsTable over moto, with the same assertions
(as test_fake_runs_contract.py for the other attributes); a run of no array writes none of them; and the worst array
run item stays within RUN_ITEM_BUDGET."""

from __future__ import annotations

import json
from copy import replace
from typing import Any

import boto3

from batch_orchestrator.array_items import items_text
from batch_orchestrator.limits import (
    ARRAY_ITEMS_BUDGET,
    FAILED_CHILD_REASON_CHARS,
    RUN_FAILED_CHILDREN_KEPT,
    RUN_ITEM_BUDGET,
)
from batch_orchestrator.models import (
    SIDE_EFFECT_RETRY,
    ArrayState,
    AttemptPlan,
    ChildFailure,
    JobObservation,
    RunStatus,
    SideEffect,
)
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT
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
WHOLE = AttemptPlan(workload="tiles", array_size=10_000)
RETRY = replace(WHOLE, items=(7, 14))


def _claim(store: Store, plan: AttemptPlan = WHOLE) -> None:
    written = store.claim_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=f"{RUN_ID}-a1",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at(0),
        claimed_until=lease_at(0),
        plan=plan,
    )
    assert written.applied


def _parent(status: RunStatus, *, failed: int = 0, attempt: int = 1, plan: AttemptPlan = WHOLE) -> JobObservation:
    """The parent's observation, its ``failed`` children listed (items 0, 7, 14, ...; long reasons)."""
    children = tuple(
        ChildFailure(index=i, item=i * 7, exit_code=75, reason="r" * 500, status_reason="s") for i in range(failed)
    )
    summary = (("FAILED", failed), ("SUCCEEDED", plan.children - failed))
    return replace(
        observation(status, attempt=attempt, job_id=JOB_1 if attempt == 1 else JOB_2),
        array_size=plan.array_size,
        items=plan.items,
        array=ArrayState(size=plan.children, status_summary=summary),
        failed_children=children if status is RunStatus.FAILED else None,
    )


def _retry_wait(store: Store, failed: int = 150) -> Any:
    return store.apply_observation(
        _parent(RunStatus.FAILED, failed=failed),
        now=at(2),
        new_status=RunStatus.RETRY_WAIT,
        next_attempt=2,
        next_attempt_at=at(3),
        side_effect=SideEffect(kind=SIDE_EFFECT_RETRY, token="t", due=lease_at(3), job_id=JOB_1),
        next_plan=RETRY,
    )


def test_a_claim_records_the_arrays_size_and_the_attempts_items(store: Store) -> None:
    _claim(store, RETRY)
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.plan.array_size, run.plan.items) == (10_000, (7, 14))


def test_a_failed_array_keeps_its_first_failed_children_their_count_and_its_children_by_status(store: Store) -> None:
    # Given an array of 10,000 claimed
    _claim(store)

    # When its parent FAILED with 150 failed children, retried as items 7 and 14
    written = _retry_wait(store)

    # Then the run keeps the first RUN_FAILED_CHILDREN_KEPT by item, reasons cut, the count, the children by status,
    # the next attempt's items, and the failed attempt in its history with its items and failed count
    assert written.applied
    run = store.get(RUN_ID)
    assert run is not None
    assert written.run == run
    kept = RUN_FAILED_CHILDREN_KEPT.value
    assert [child.item for child in run.failed_children] == [i * 7 for i in range(kept)]
    assert {len(child.reason or "") for child in run.failed_children} == {FAILED_CHILD_REASON_CHARS.value}
    assert run.failed_children[0] == ChildFailure(index=0, item=0, exit_code=75, reason=run.failed_children[0].reason)
    assert (run.failed_children_count, dict(run.array_status)) == (150, {"FAILED": 150, "SUCCEEDED": 9_850})
    assert (run.plan.items, run.attempt) == ((7, 14), 2)
    (record,) = run.history
    assert (record.items, record.failed_children) == ("0-9999", 150)


def test_the_claim_of_the_retry_clears_the_children_of_the_attempt_before(store: Store) -> None:
    # Given a run waiting for attempt 2 after 150 failed children
    _claim(store)
    _retry_wait(store)

    # When attempt 2 is claimed
    store.claim_retry_attempt(
        run_id=RUN_ID,
        attempt=2,
        job_name=f"{RUN_ID}-a2",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        now=at(4),
        claimed_until=lease_at(4),
        plan=RETRY,
    )

    # Then its children are not attempt 1's (its history keeps their count)
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.failed_children, run.failed_children_count, run.array_status) == ((), 0, ())
    assert run.history[0].failed_children == 150


def test_a_parent_that_succeeded_records_its_children_by_status_and_no_failed_child(store: Store) -> None:
    _claim(store)
    store.apply_observation(_parent(RunStatus.SUCCEEDED), now=at(2), new_status=RunStatus.SUCCEEDED)
    run = store.get(RUN_ID)
    assert run is not None
    assert dict(run.array_status) == {"FAILED": 0, "SUCCEEDED": 10_000}
    assert (run.failed_children, run.history[0].items) == ((), "0-9999")


def test_the_fake_and_the_table_agree_on_every_array_attribute() -> None:
    def life(store: Store) -> list[Any]:
        _claim(store)
        answers: list[Any] = [store.get(RUN_ID), _retry_wait(store, failed=3)]
        answers.append(
            store.claim_retry_attempt(
                run_id=RUN_ID,
                attempt=2,
                job_name=f"{RUN_ID}-a2",
                job_queue=QUEUE,
                job_definition=DEFINITION,
                now=at(4),
                claimed_until=lease_at(4),
                plan=RETRY,
            )
        )
        answers.append(store.get(RUN_ID))
        answers.append(
            store.apply_observation(
                _parent(RunStatus.SUCCEEDED, attempt=2, plan=RETRY), now=at(6), new_status=RunStatus.SUCCEEDED
            )
        )
        answers.append(store.get(RUN_ID))
        return answers

    in_memory = life(FakeWatchdogStore())
    with runs_table_in_moto() as table:
        in_dynamodb = life(table)
    for step, (fake, real) in enumerate(zip(in_memory, in_dynamodb, strict=True)):
        assert fake == real, f"step {step}"
    assert [(r.items, r.failed_children) for r in in_dynamodb[-1].history] == [("0-9999", 3), ("7,14", None)]


def _raw_item() -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=RUNS_TABLE, Key={"runId": {"S": RUN_ID}}, ConsistentRead=True
    )["Item"]
    return item


def test_a_run_of_no_array_writes_no_array_attribute() -> None:
    with runs_table_in_moto() as table:
        _claim(table, AttemptPlan(workload="tiles"))
        table.apply_observation(observation(RunStatus.FAILED, exit_code=3), now=at(2), new_status=RunStatus.FAILED)
        names = set(_raw_item())
        assert not names & {"arraySize", "arrayItems", "arrayChildren", "failedChildren", "failedChildrenCount"}
        assert "items" not in _raw_item()["history"]["L"][0]["M"]


def _widest_items() -> tuple[int, ...]:
    """The most items ARRAY_ITEMS_BUDGET holds, none adjacent (every other item: "0,2,4,...")."""
    items: list[int] = []
    while len(items_text([*items, 2 * len(items)])) <= ARRAY_ITEMS_BUDGET.value:
        items.append(2 * len(items))
    return tuple(items)


def test_the_worst_array_run_item_stays_within_its_budget() -> None:
    """Every attempt over as many items as ARRAY_ITEMS may hold, failing with every child kept at its longest."""
    widest = _widest_items()
    plan = AttemptPlan(workload="tiles", array_size=10_000, items=widest)
    with runs_table_in_moto() as table:
        _claim(table, plan)
        for attempt in range(1, MAX_ATTEMPTS_LIMIT + 1):
            children = tuple(
                ChildFailure(index=i, item=widest[i], exit_code=255, reason="r" * 1_000) for i in range(len(widest))
            )
            obs = replace(
                observation(RunStatus.FAILED, attempt=attempt, job_id=f"{JOB_1[:-2]}{attempt:02d}"),
                array_size=10_000,
                items=widest,
                array=ArrayState(size=len(widest), status_summary=(("FAILED", len(widest)),)),
                failed_children=children,
            )
            last = attempt == MAX_ATTEMPTS_LIMIT
            written = table.apply_observation(
                obs,
                now=at(attempt),
                new_status=RunStatus.FAILED if last else RunStatus.RETRY_WAIT,
                next_attempt=None if last else attempt + 1,
                next_attempt_at=None if last else at(attempt),
                next_plan=None if last else plan,
            )
            assert written.applied, attempt
            if not last:
                table.claim_retry_attempt(
                    run_id=RUN_ID,
                    attempt=attempt + 1,
                    job_name=f"{RUN_ID}-a{attempt + 1}",
                    job_queue=QUEUE,
                    job_definition=DEFINITION,
                    now=at(attempt),
                    claimed_until=lease_at(attempt),
                    plan=plan,
                )
        size = len(json.dumps(_raw_item()).encode())  # attribute names and values, with JSON's overhead besides
    print(f"\nthe worst array run item: {size:,} bytes as JSON")
    assert size <= RUN_ITEM_BUDGET.value, size


def test_a_refused_run_is_failed_without_a_job_owing_its_alert_and_only_once(store: Store) -> None:
    # Given / When an upload whose manifest cannot run is refused
    alert = SideEffect(kind="alert", token="t", due=lease_at(0), job_id="")
    refused = store.refuse_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=f"{RUN_ID}-a1",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at(0),
        reason="the manifest holds no items" + "!" * 2_000,
        side_effect=alert,
        plan=AttemptPlan(workload="chunks"),
    )

    # Then the run is FAILED at attempt 1 with no job, its reason clipped, in the index until its alert is sent
    assert refused.applied
    run = store.get(RUN_ID)
    assert run is not None
    assert (run.status, run.attempt, run.job_id, run.side_effect, run.workload) == (
        RunStatus.FAILED,
        1,
        None,
        alert,
        "chunks",
    )
    assert run.status_reason is not None
    assert run.status_reason.startswith("the manifest holds no items")
    assert len(run.status_reason) <= 1_024
    assert [(r.attempt, r.job_id, r.status, r.reason) for r in run.history] == [
        (1, "", RunStatus.FAILED, run.status_reason)
    ]
    assert [
        entry.run.run_id
        for page in store.active_runs(status=RunStatus.FAILED, updated_before=at(30))
        for entry in page.runs
    ] == [RUN_ID]
    # and a second refusal, or a claim, finds it
    again = store.refuse_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=f"{RUN_ID}-a1",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at(1),
        reason="again",
        side_effect=alert,
    )
    assert (again.applied, again.run) == (False, run)
    claimed = store.claim_first_attempt(
        run_id=RUN_ID,
        source=SOURCE,
        job_name=f"{RUN_ID}-a1",
        job_queue=QUEUE,
        job_definition=DEFINITION,
        max_attempts=3,
        now=at(1),
        claimed_until=lease_at(1),
    )
    assert (claimed.applied, claimed.run) == (False, run)
