"""The decision after a FAILED array attempt (batch_orchestrator.array_retry), on observations as the tracker
builds them (tests/support/array_runs.py): every failed child judged, the failed items retried alone, or the run
failed for good naming the children that could not be retried."""

from __future__ import annotations

import pytest

from batch_orchestrator.array_items import items_text
from batch_orchestrator.array_retry import NOT_RETRYABLE_NAMED, ChildRetry, judge_child
from batch_orchestrator.attempt_plan import decide_attempt
from batch_orchestrator.limits import ARRAY_ITEMS_BUDGET
from batch_orchestrator.workloads import Workload
from tests.support.array_runs import ArrayStack, failed, out_of_memory
from tests.support.fakes import SubmittedJob

HALF = 0.5  # the jitter's draw: the same delay every time


@pytest.fixture
def stack() -> ArrayStack:
    return ArrayStack()


def workload(stack: ArrayStack, name: str) -> Workload:
    found = stack.table.get(name)
    assert found is not None
    return found


def first_job(stack: ArrayStack, prefix: str) -> SubmittedJob:
    return stack.start(f"{prefix}/a.txt")


def test_every_failed_child_retryable_retries_their_items_after_the_backoff(stack: ArrayStack) -> None:
    # Given attempt 1 of tiles whose children 2 and 0 exited 75
    obs = stack.observe(first_job(stack, "tiles"), "FAILED", failed(2), failed(0))

    # When decided
    planned = decide_attempt(obs, workload(stack, "tiles"), rand=lambda: HALF)

    # Then attempt 2 runs items 0 and 2 (ascending), as the same plan otherwise
    assert planned.decision.retry
    assert planned.next_plan is not None
    assert (planned.next_plan.items, planned.next_plan.array_size, planned.next_plan.size_step) == ((0, 2), 3, 0)
    assert planned.decision.reason == (
        "2 of 3 children failed, each retryable (attempt 1 of 3); attempt 2 runs its 2 failed items (0,2) in "
        f"{planned.decision.delay_seconds} s"
    )
    assert [verdict.retry for verdict in planned.children] == [ChildRetry.POLICY, ChildRetry.POLICY]


def test_one_child_that_cannot_be_retried_fails_the_run_and_the_reason_names_the_first_few(stack: ArrayStack) -> None:
    # Given a 10,000-item array with 8 children failed for good (exit 3) and one retryable
    children = [failed(i, 3) for i in range(1, 9)] + [failed(9_999)]
    obs = stack.observe(first_job(stack, "grid"), "FAILED", *children)

    # When decided
    planned = decide_attempt(obs, workload(stack, "grid"))

    # Then no retry; the reason names the first NOT_RETRYABLE_NAMED and counts the rest
    assert not planned.decision.retry
    assert planned.next_plan is None
    named = "; ".join(f"item {i} (exit code 3 is not in the retry list 75)" for i in range(1, NOT_RETRYABLE_NAMED + 1))
    assert planned.decision.reason == (
        f"9 of 10000 children failed; not retryable: {named}; and {8 - NOT_RETRYABLE_NAMED} more"
    )
    assert len(planned.children) == 9


def test_the_last_attempt_is_not_retried_even_if_each_child_could_be(stack: ArrayStack) -> None:
    # Given tiles' third (last) attempt, an array of 2 over items 0 and 1, both failing with 75
    job = first_job(stack, "tiles")
    stack.end(job, "FAILED", failed(0), failed(1))
    second = stack.next_attempt()
    stack.end(second, "FAILED", failed(0), failed(1))
    third = stack.next_attempt()
    obs = stack.observe(third, "FAILED", failed(0), failed(1))

    # When decided
    planned = decide_attempt(obs, workload(stack, "tiles"))

    # Then attempts are exhausted
    assert not planned.decision.retry
    assert planned.decision.reason == "2 of 2 children failed, each retryable, but attempts exhausted (3 of 3)"


def test_failed_items_too_many_for_array_items_rerun_the_whole_array_and_the_reason_says_so(stack: ArrayStack) -> None:
    # Given a 10,000-item array whose every third child failed with 75: their ranges take far more than the budget
    children = [failed(i) for i in range(0, 10_000, 3)]
    assert len(items_text(child.item for child in children)) > ARRAY_ITEMS_BUDGET.value
    obs = stack.observe(first_job(stack, "grid"), "FAILED", *children)

    # When decided
    planned = decide_attempt(obs, workload(stack, "grid"), rand=lambda: HALF)

    # Then attempt 2 reruns the whole array (no items named), and the reason says why
    assert planned.next_plan is not None
    assert (planned.next_plan.items, planned.next_plan.children) == ((), 10_000)
    assert "the whole array of attempt 1 again (10000 items)" in planned.decision.reason
    assert f"more than the {ARRAY_ITEMS_BUDGET.value} characters ARRAY_ITEMS may hold" in planned.decision.reason


def test_failed_items_within_the_budget_are_named(stack: ArrayStack) -> None:
    # Given as many failed items as the budget holds (every other item: "0,2,4,...")
    count, text = 0, ""
    while len(items_text(range(0, 2 * (count + 1), 2))) <= ARRAY_ITEMS_BUDGET.value:
        count += 1
        text = items_text(range(0, 2 * count, 2))
    children = [failed(i) for i in range(0, 2 * count, 2)]
    obs = stack.observe(first_job(stack, "grid"), "FAILED", *children)

    # When decided
    planned = decide_attempt(obs, workload(stack, "grid"))

    # Then they are retried alone: the budget holds (and one more item would not fit)
    assert planned.next_plan is not None
    assert items_text(planned.next_plan.items) == text
    assert len(text) <= ARRAY_ITEMS_BUDGET.value


def test_out_of_memory_below_the_top_retries_one_step_up_and_at_the_top_fails(stack: ArrayStack) -> None:
    # Given the ladder workload's array of 4 whose child 3 ran out of memory at step 0
    ladder = workload(stack, "ladder")
    obs = stack.observe(first_job(stack, "ladder"), "FAILED", out_of_memory(3))

    # When decided
    planned = decide_attempt(obs, ladder)

    # Then one step up for the retried item, said in the reason
    assert planned.next_plan is not None
    assert (planned.next_plan.items, planned.next_plan.size_step) == ((3,), 1)
    assert "with 1 vCPU, 4096 MiB" in planned.decision.reason
    # and the same child at the top step could not be retried
    verdict = judge_child(out_of_memory(3), ladder, size_step=1)
    assert (verdict.retry, verdict.why) == (
        ChildRetry.NONE,
        "out of memory at the top of the memory ladder (1 vCPU, 4096 MiB)",
    )


def test_a_timed_out_child_follows_the_retry_policy(stack: ArrayStack) -> None:
    # Given a tiles child stopped at its timeout (timeouts not retried by default)
    timeout = "Job attempt duration exceeded timeout"
    child = failed(0, 137, timeout, status_reason=timeout, timed_out=True)

    # When judged
    verdict = judge_child(child, workload(stack, "tiles"), size_step=0)

    # Then it is not retried, as a single attempt's timeout would not be
    assert (verdict.retry, verdict.why) == (
        ChildRetry.NONE,
        "timed out; timeouts are not retried (RetryOnTimeout=false)",
    )
