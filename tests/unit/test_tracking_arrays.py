"""Array runs through submit and tracker on the fakes (tests/support/array_runs.py): the parent's FAILED event lists
the failed children, one conditional write decides, and the retry reruns only the failed items.

Each test uploads to a workload of the array table (tiles: 3 items, exit 75 retried, 3 attempts; ladder: 4 items
on a memory ladder; frames: 2 items on Fargate Spot) and plays Batch's parent events.
"""

from __future__ import annotations

import pytest

from batch_orchestrator.alerts import ALERT_RUN_FAILED
from batch_orchestrator.errors import BatchLookupError, MalformedMessage
from batch_orchestrator.ids import ARRAY_SIZE_TAG
from batch_orchestrator.models import RunStatus
from batch_orchestrator.tracking import TrackOutcome, apply_job_event, recover_side_effect, with_failed_children
from batch_orchestrator.workloads import Capacity
from tests.support.array_runs import ESSENTIAL, ArrayStack, failed, out_of_memory
from tests.support.fakes import FakeRunStore

SPOT_REASON = "Your Spot Task was interrupted."


class CountingRunStore(FakeRunStore):
    """The fake runs table, counting the tracker's writes."""

    def __init__(self) -> None:
        super().__init__()
        self.observations = 0

    def apply_observation(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.observations += 1
        return super().apply_observation(*args, **kwargs)


@pytest.fixture
def stack() -> ArrayStack:
    return ArrayStack(runs=CountingRunStore())


# ------------------------------------------------------------------------------------------ submit
def test_the_first_attempt_is_an_array_job_over_every_item(stack: ArrayStack) -> None:
    # Given / When an upload for tiles is submitted
    job = stack.start("tiles/a.txt")

    # Then it is an array of 3 with no items named (all of them), and the array's size is on the job
    assert (job.spec.array_size, dict(job.spec.parameters)) == (3, {})
    assert "ARRAY_ITEMS" not in job.spec.environment
    assert job.spec.tags[ARRAY_SIZE_TAG] == "3"
    run = stack.run_of("tiles/a.txt")
    assert (run.plan.array_size, run.plan.items) == (3, ())


# --------------------------------------------------------------------------------------- the retry
def test_a_retryable_child_is_retried_alone_and_its_success_ends_the_run(stack: ArrayStack) -> None:
    # Given an array of 3 whose child 1 exited 75 (retryable)
    job = stack.start("tiles/a.txt")

    # When the parent's FAILED event arrives
    result = stack.end(job, "FAILED", failed(1))

    # Then one write moved the run to RETRY_WAIT for attempt 2 over item 1 alone, and the request says so
    assert result.outcome is TrackOutcome.RETRY_SCHEDULED
    assert isinstance(stack.runs, CountingRunStore)
    assert stack.runs.observations == 1
    assert stack.jobs.children_lookups == [job.job_id]
    run = stack.run_of("tiles/a.txt")
    assert (run.status, run.attempt, run.plan.items, run.plan.array_size) == (RunStatus.RETRY_WAIT, 2, (1,), 3)
    assert (run.failed_children_count, [c.item for c in run.failed_children]) == (1, [1])
    assert dict(run.array_status) == {"FAILED": 1, "SUCCEEDED": 2}
    assert "1 of 3 children failed, each retryable" in result.detail
    assert stack.retry_queue.sent[-1].request.plan.items == (1,)

    # When attempt 2 is submitted: one item is a single job, told its item
    second = stack.next_attempt()
    assert second.spec.array_size == 1
    assert (second.spec.environment["ARRAY_ITEMS"], dict(second.spec.parameters)) == ("1", {"arrayItems": "1"})
    assert second.spec.tags[ARRAY_SIZE_TAG] == "3"

    # and it succeeds
    done = stack.end(second, "SUCCEEDED")

    # Then the run SUCCEEDED; its history shows attempt 1 over 0-2 (1 failed) and attempt 2 over item 1
    assert done.outcome is TrackOutcome.SUCCEEDED
    run = stack.run_of("tiles/a.txt")
    assert run.status is RunStatus.SUCCEEDED
    assert [(r.attempt, r.status, r.items, r.failed_children) for r in run.history] == [
        (1, RunStatus.FAILED, "0-2", 1),
        (2, RunStatus.SUCCEEDED, "1", None),
    ]
    assert stack.alerts.published == []


def test_the_children_of_a_child_only_retry_map_back_to_their_original_items(stack: ArrayStack) -> None:
    # Given attempt 1 whose children 0 and 2 failed, retried as an array of 2 over items 0 and 2
    job = stack.start("tiles/a.txt")
    stack.end(job, "FAILED", failed(0), failed(2))
    second = stack.next_attempt()
    assert (second.spec.array_size, second.spec.parameters["arrayItems"]) == (2, "0,2")

    # When its child 1 (item 2) fails again
    stack.end(second, "FAILED", failed(1))

    # Then attempt 3 runs item 2 alone
    run = stack.run_of("tiles/a.txt")
    assert (run.status, run.attempt, run.plan.items) == (RunStatus.RETRY_WAIT, 3, (2,))
    assert [(c.index, c.item) for c in run.failed_children] == [(1, 2)]


def test_a_single_job_of_one_item_that_fails_again_is_retried_with_its_item(stack: ArrayStack) -> None:
    # Given attempt 2 is the single job of item 1
    job = stack.start("tiles/a.txt")
    stack.end(job, "FAILED", failed(1))
    second = stack.next_attempt()

    # When it exits 75 again
    stack.finish(second, "FAILED", exit_code=75)

    # Then attempt 3 still runs item 1 alone
    assert stack.run_of("tiles/a.txt").plan.items == (1,)
    assert stack.next_attempt().spec.environment["ARRAY_ITEMS"] == "1"


# ---------------------------------------------------------------------------------------- for good
def test_a_child_that_cannot_be_retried_fails_the_run_with_one_alert_naming_its_item(stack: ArrayStack) -> None:
    # Given an array whose child 2 exited 3 (not retryable) and child 0 exited 75 (retryable)
    job = stack.start("tiles/a.txt")

    # When the parent FAILED
    result = stack.end(job, "FAILED", failed(0), failed(2, 3))

    # Then the run failed for good and one alert names the failed items, the one not retryable first
    assert result.outcome is TrackOutcome.FAILED
    assert "not retryable: item 2 (exit code 3 is not in the retry list 75)" in result.detail
    (alert,) = stack.alerts.of_type(ALERT_RUN_FAILED)
    assert "(2 of 3 children failed, attempt 1/3)" in alert.subject
    assert "  item 2 (child 2): exit code 3, not retryable: exit code 3 is not in the retry list 75" in alert.message
    assert "  item 0 (child 0): exit code 75, retryable" in alert.message
    array = alert.details["array"]
    assert (array["arraySize"], array["items"], array["failedChildren"], array["notRetryableItems"]) == (
        3,
        "0-2",
        2,
        [2],
    )
    assert [entry["item"] for entry in array["failedItems"]] == [2, 0]
    assert "exitCode" not in alert.attributes
    run = stack.run_of("tiles/a.txt")
    assert (run.status, run.failed_children_count) == (RunStatus.FAILED, 2)


def test_retryable_children_with_no_attempt_left_fail_the_run(stack: ArrayStack) -> None:
    # Given attempts 1 and 2 failed on item 1 (retryable)
    job = stack.start("tiles/a.txt")
    stack.end(job, "FAILED", failed(1))
    stack.finish(stack.next_attempt(), "FAILED", exit_code=75)

    # When attempt 3 (the last) fails on it too
    result = stack.finish(stack.next_attempt(), "FAILED", exit_code=75)

    # Then the run failed for good, and the alert lists the item the last attempt ran
    assert result.outcome is TrackOutcome.FAILED
    (alert,) = stack.alerts.published
    assert alert.details["array"]["items"] == "1"


def test_a_parent_that_failed_with_no_failed_child_listed_is_judged_as_one_job(stack: ArrayStack) -> None:
    # Given an array job Batch reports FAILED while ListJobs lists no failed child (aged out)
    job = stack.start("tiles/a.txt")

    # When the event arrives
    result = stack.end(job, "FAILED")

    # Then it is a failure without an exit code, which tiles does not retry
    assert result.outcome is TrackOutcome.FAILED
    assert "Batch lists no failed child" in result.detail


def test_more_failed_children_than_a_run_keeps_are_counted_and_their_reasons_cut(stack: ArrayStack) -> None:
    # Given a 10,000-item array whose 150 children failed with a very long reason
    job = stack.start("grid/a.txt")
    children = [failed(i * 7, 75, "x" * 1_000) for i in range(150)]

    # When the parent FAILED
    stack.end(job, "FAILED", *children)

    # Then the run keeps the first 100 by item, each reason cut to 200 characters, and the count of all 150
    run = stack.run_of("grid/a.txt")
    assert run.failed_children_count == 150
    assert [c.item for c in run.failed_children] == [i * 7 for i in range(100)]
    assert {len(c.reason or "") for c in run.failed_children} == {200}


# ------------------------------------------------------------------------------ ladder and Spot
def test_a_child_out_of_memory_retries_the_failed_items_one_step_up_the_ladder(stack: ArrayStack) -> None:
    # Given the ladder workload's array of 4 (memory 2048 then 4096 MiB)
    job = stack.start("ladder/a.txt")

    # When child 1 alone ran out of memory
    stack.end(job, "FAILED", out_of_memory(1))

    # Then attempt 2 runs item 1 at the next step
    second = stack.next_attempt()
    assert (second.spec.array_size, second.spec.environment["ARRAY_ITEMS"]) == (1, "1")
    assert second.spec.resources is not None
    assert second.spec.resources.memory_mib == 4096

    # and out of memory again, at the top of the ladder, fails the run
    result = stack.finish(second, "FAILED", exit_code=137, reason=out_of_memory(0).reason)
    assert result.outcome is TrackOutcome.FAILED


def test_a_child_interrupted_on_spot_moves_the_retried_items_on_demand(stack: ArrayStack) -> None:
    # Given the frames workload's array of 2 on Spot, whose child 0 was interrupted
    job = stack.start("frames/a.txt")
    assert job.spec.job_queue.endswith("-spot")

    # When the parent FAILED
    stack.end(job, "FAILED", failed(0, None, SPOT_REASON, status_reason=SPOT_REASON))

    # Then attempt 2 runs item 0 On-Demand
    run = stack.run_of("frames/a.txt")
    assert (run.plan.capacity, run.plan.spot_interruptions, run.plan.items) == (Capacity.ON_DEMAND, 1, (0,))
    assert not stack.next_attempt().spec.job_queue.endswith("-spot")


# ------------------------------------------------------------------------------ events and leases
def test_a_parent_that_succeeded_records_its_children_and_lists_none(stack: ArrayStack) -> None:
    # Given / When an array whose children all succeeded
    job = stack.start("tiles/a.txt")
    result = stack.end(job, "SUCCEEDED")

    # Then the run succeeded with its children counted, and nobody asked Batch for failed children
    assert result.outcome is TrackOutcome.SUCCEEDED
    run = stack.run_of("tiles/a.txt")
    assert dict(run.array_status) == {"SUCCEEDED": 3}
    assert stack.jobs.children_lookups == []
    assert [(r.items, r.failed_children) for r in run.history] == [("0-2", None)]


def test_a_duplicate_failed_event_changes_nothing_and_sends_no_second_retry(stack: ArrayStack) -> None:
    # Given the parent's FAILED event applied once
    job = stack.start("tiles/a.txt")
    stack.end(job, "FAILED", failed(1))

    # When it is delivered again
    again = stack.end(job, "FAILED", failed(1))

    # Then it is stale: one retry request in all
    assert again.outcome is TrackOutcome.STALE
    assert len(stack.retry_queue.sent) == 1


def test_a_listing_that_fails_writes_nothing_so_the_event_is_retried(stack: ArrayStack) -> None:
    # Given ListJobs failing
    job = stack.start("tiles/a.txt")
    stack.jobs.fail_children_lookup = True

    # When / Then the event fails before any write, and the run is as submitted
    with pytest.raises(BatchLookupError):
        stack.end(job, "FAILED", failed(1))
    assert stack.run_of("tiles/a.txt").status is RunStatus.SUBMITTED


def test_a_child_index_past_the_attempts_items_is_malformed(stack: ArrayStack) -> None:
    # Given a child-only retry over items 0 and 2 (2 children), and Batch naming a child 5
    job = stack.start("tiles/a.txt")
    stack.end(job, "FAILED", failed(0), failed(2))
    second = stack.next_attempt()

    # When / Then the event is refused rather than mapped to a guess
    with pytest.raises(MalformedMessage, match="past its 2 children"):
        stack.observe(second, "FAILED", failed(5))


def test_a_taken_over_alert_lists_the_same_failed_items(stack: ArrayStack) -> None:
    # Given a failed array whose alert could not be published (SNS down), its lease now expired
    job = stack.start("tiles/a.txt")
    stack.alerts.fail_next()
    obs = stack.observe(job, "FAILED", failed(2, 3))
    with pytest.raises(Exception, match="SNS unreachable"):
        apply_job_event(
            obs,
            runs=stack.runs,
            retry_queue=stack.retry_queue,
            alerts=stack.alerts,
            settings=stack.track_settings,
            now=stack.tick(),
        )
    run = stack.run_of("tiles/a.txt")
    assert run.side_effect is not None

    # When a later delivery takes the alert over
    taken = recover_side_effect(
        run,
        with_failed_children(obs, jobs=stack.jobs),
        runs=stack.runs,
        retry_queue=stack.retry_queue,
        alerts=stack.alerts,
        settings=stack.track_settings,
        now=stack.tick().replace(year=2027),
    )

    # Then it is published with the failed items
    assert taken
    (alert,) = stack.alerts.published
    assert alert.details["array"]["notRetryableItems"] == [2]
    assert f"item 2 (child 2): exit code 3, not retryable: exit code 3 is not in the retry list 75 - {ESSENTIAL}" in (
        alert.message
    )
