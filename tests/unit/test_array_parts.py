"""Array runs of more items than one array job takes, on the fakes: parts of at most 10,000 children, one after another
under one run; a part's failed children are retried within the part, with the part's own attempts; the last part's
success ends the run.

``mosaic`` has a fixed 25,000 items (parts 0-9999, 10000-19999, 20000-24999); ``bulk`` as many as its uploaded
manifest holds; both retry exit code 75, 3 attempts (bulk: 10).
"""

from __future__ import annotations

from copy import replace

import pytest

from batch_orchestrator.array_parts import PART_SIZE, part_count, part_items
from batch_orchestrator.attempt_plan import next_part
from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.ids import ARRAY_SIZE_TAG, ATTEMPTS_BEFORE_STEP_TAG
from batch_orchestrator.models import RunStatus
from batch_orchestrator.submit import SubmitOutcome
from batch_orchestrator.tracking import TrackOutcome
from tests.support.array_runs import ArrayStack, failed
from tests.support.environments import DEFINITION, GLOBALS, QUEUE, job_definition, with_workloads, workload_json
from tests.support.fakes import FakeJobGateway

WORKLOADS = (
    workload_json(
        "mosaic", match={"prefix": "mosaic/"}, retry={"exit_codes": "75", "max_attempts": 3}, array={"size": 25_000}
    ),
    workload_json(
        "bulk", match={"prefix": "bulk/"}, retry={"exit_codes": "75", "max_attempts": 10}, array={"manifest": "upload"}
    ),
)


@pytest.fixture
def stack() -> ArrayStack:
    return ArrayStack(
        table=workload_table_from_env(with_workloads(GLOBALS, WORKLOADS)),
        jobs=FakeJobGateway(
            job_queues=[QUEUE], job_definitions=[DEFINITION, job_definition("mosaic"), job_definition("bulk")]
        ),
    )


def test_parts_are_ranges_of_at_most_one_array_job() -> None:
    assert [part_count(n) for n in (1, PART_SIZE, PART_SIZE + 1, 25_000, 100_000)] == [1, 1, 2, 3, 10]
    assert part_items(PART_SIZE, 0) == ()  # one part: the whole array, no items named
    assert (part_items(25_000, 2)[0], part_items(25_000, 2)[-1], len(part_items(25_000, 2))) == (20_000, 24_999, 5_000)


def test_a_large_array_runs_its_parts_one_after_another_under_one_run(stack: ArrayStack) -> None:
    # Given an upload for mosaic (25,000 items): its first attempt is part 1, items 0-9999
    job = stack.start("mosaic/a.txt")
    assert (job.spec.array_size, job.spec.environment["ARRAY_ITEMS"], job.spec.tags[ARRAY_SIZE_TAG]) == (
        10_000,
        "0-9999",
        "25000",
    )

    # When it SUCCEEDED: part 2 is requested at once, as the run's attempt 2 (the part's first)
    result = stack.end(job, "SUCCEEDED")
    assert result.outcome is TrackOutcome.PART_ADVANCED
    assert "part 1 of 3 of the array succeeded; part 2 (items 10000-19999) starts now" in result.detail
    second = stack.next_attempt()
    assert (second.spec.array_size, second.spec.environment["ARRAY_ITEMS"]) == (10_000, "10000-19999")
    assert second.spec.tags[ATTEMPTS_BEFORE_STEP_TAG] == "1"

    # When part 2's child 5 (item 10005) exits 75: only it is retried, as the part's attempt 2 of 3
    result = stack.end(second, "FAILED", failed(5))
    assert result.outcome is TrackOutcome.RETRY_SCHEDULED
    assert "(attempt 1 of 3)" in result.detail
    retry = stack.next_attempt()
    assert (retry.spec.array_size, retry.spec.environment["ARRAY_ITEMS"]) == (1, "10005")

    # When it succeeds: part 3, the last 5,000 items; and then the run SUCCEEDED
    assert stack.end(retry, "SUCCEEDED").outcome is TrackOutcome.PART_ADVANCED
    third = stack.next_attempt()
    assert (third.spec.array_size, third.spec.environment["ARRAY_ITEMS"]) == (5_000, "20000-24999")
    assert stack.end(third, "SUCCEEDED").outcome is TrackOutcome.SUCCEEDED
    run = stack.run_of("mosaic/a.txt")
    assert (run.status, run.attempt) == (RunStatus.SUCCEEDED, 4)
    assert [(r.attempt, r.items, r.status) for r in run.history] == [
        (1, "0-9999", RunStatus.SUCCEEDED),
        (2, "10000-19999", RunStatus.FAILED),
        (3, "10005", RunStatus.SUCCEEDED),
        (4, "20000-24999", RunStatus.SUCCEEDED),
    ]


def test_a_part_failing_for_good_fails_the_run_and_no_later_part_starts(stack: ArrayStack) -> None:
    job = stack.start("mosaic/a.txt")
    result = stack.end(job, "FAILED", failed(3, exit_code=2))
    assert result.outcome is TrackOutcome.FAILED
    assert len(stack.retry_queue.sent) == 0
    assert stack.run_of("mosaic/a.txt").status is RunStatus.FAILED


def test_a_manifest_of_more_than_one_array_job_is_run_in_parts(stack: ArrayStack) -> None:
    # Given a manifest of 10,001 items: a part of 10,000, then a part of one (a single job)
    request = stack.upload_manifest("bulk/a.txt", b"\n".join(b"x" for _ in range(PART_SIZE + 1)))
    stack.submit(request)
    first = stack.jobs.jobs[-1]
    assert (first.spec.array_size, first.spec.environment["ARRAY_ITEMS"]) == (10_000, "0-9999")
    stack.end(first, "SUCCEEDED")
    last = stack.next_attempt()
    assert (last.spec.array_size, last.spec.environment["ARRAY_ITEMS"]) == (1, "10000")  # one item: a single job


def test_a_manifest_whose_parts_could_take_more_attempts_than_a_run_numbers_is_refused(stack: ArrayStack) -> None:
    # Given a manifest of 100,000 items for bulk (10 attempts per part): 10 parts could take 100 attempts, over 99
    request = stack.upload_manifest("bulk/b.txt", b"\n".join(b"x" for _ in range(100_000)))

    # When it is submitted: refused with the reason, no job
    result = stack.submit(request)
    assert result.outcome is SubmitOutcome.REFUSED
    assert "run as 10 array jobs of up to 10,000, each allowed 10 attempts" in result.detail
    assert "over the 99 a run can number" in result.detail
    assert stack.jobs.jobs == []


def test_no_next_part_for_a_run_of_one_array_job_or_its_last_part(stack: ArrayStack) -> None:
    job = stack.start("mosaic/a.txt")
    mosaic = stack.table.get("mosaic")
    obs = stack.observe(job, "SUCCEEDED")
    assert next_part(obs, mosaic) is not None
    assert next_part(obs, None) is None  # the workload left the table: nothing says what a part runs as
    assert next_part(replace(obs, items=part_items(25_000, 2)), mosaic) is None
    assert next_part(replace(obs, array_size=PART_SIZE, items=()), mosaic) is None
