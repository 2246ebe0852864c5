"""An uploaded manifest counted (batch_orchestrator.manifests) and run (submit, on the fakes): a JSON array or one
item per line; 1 item is a single job, 2 to 10,000 an array job; none, too many or a gone object refuse the run,
recorded FAILED with the reason, whose alert the watchdog sends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batch_orchestrator.errors import ManifestUnreadable
from batch_orchestrator.limits import ARRAY_RUN_MAX_ITEMS, BATCH_ARRAY_MAX_SIZE, MANIFEST_MAX_BYTES
from batch_orchestrator.manifests import ManifestRefused, count_items
from batch_orchestrator.models import RunStatus, SubmitRequest
from batch_orchestrator.submit import SubmitOutcome
from tests.support.array_runs import ArrayStack, failed
from tests.support.fakes import FakeWatchdogStore


# ------------------------------------------------------------------------------------------ counting
@pytest.mark.parametrize(
    ("body", "count"),
    [
        (b'["a.csv", "b.csv", {"key": "c.csv"}]', 3),
        (b"  \n [1]", 1),
        (b"a.csv\nb.csv\n", 2),
        (b"a.csv\r\n\r\n  \nb.csv", 2),  # blank lines do not count
        (b"only one line without a newline", 1),
        ("é.csv\nü.csv\n".encode(), 2),
        (b"\xff\xfe not utf-8\nsecond\n", 2),  # lines are lines whatever their bytes
        (b"\n".join(b"x" for _ in range(BATCH_ARRAY_MAX_SIZE.value)), BATCH_ARRAY_MAX_SIZE.value),
        # more than one array job takes: counted whole (the run is split into parts: array_parts)
        (b"\n".join(b"x" for _ in range(BATCH_ARRAY_MAX_SIZE.value + 1)), BATCH_ARRAY_MAX_SIZE.value + 1),
        (b"\n".join(b"x" for _ in range(ARRAY_RUN_MAX_ITEMS.value)), ARRAY_RUN_MAX_ITEMS.value),
    ],
)
def test_a_manifest_counts_its_items(body: bytes, count: int) -> None:
    assert count_items(body) == count


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "holds no items"),
        (b"\n \n", "holds no items"),
        (b"[]", "holds no items"),
        (b'["a", ', "starts as a JSON array but is not JSON"),
        (b"[1] [2]", "starts as a JSON array but is not JSON"),
        (
            b"\n".join(b"x" for _ in range(100_001)),
            "holds 100,001 items, more than the 100,000 one array run takes (as array jobs of 10,000 one after "
            "another)",
        ),
        (b"[" + b",".join(b"1" for _ in range(100_001)) + b"]", "holds 100,001 items"),
    ],
)
def test_a_manifest_that_cannot_run_says_why(body: bytes, reason: str) -> None:
    counted = count_items(body)
    assert isinstance(counted, ManifestRefused)
    assert reason in counted.reason


def test_a_manifest_larger_than_the_budget_is_refused_not_truncated() -> None:
    counted = count_items(b"x\n" * 10, truncated=True)
    assert isinstance(counted, ManifestRefused)
    assert f"larger than the {MANIFEST_MAX_BYTES.value:,} bytes the submit function reads" in counted.reason


# ------------------------------------------------------------------------------------------ submitting
@pytest.fixture
def stack() -> ArrayStack:
    return ArrayStack(runs=FakeWatchdogStore())


def test_a_manifest_of_several_items_runs_as_an_array_of_that_size_read_once(stack: ArrayStack) -> None:
    # Given a manifest of 4 items uploaded for chunks
    request = stack.upload_manifest("chunks/batch.txt", b"a\nb\nc\nd\n")

    # When the upload is submitted, twice (a duplicate notification)
    first = stack.submit(request)
    again = stack.submit(request)

    # Then one array job of 4, its size recorded on the run and the job, the manifest read per delivery
    assert (first.outcome, again.outcome) == (SubmitOutcome.SUBMITTED, SubmitOutcome.DUPLICATE)
    (job,) = stack.jobs.jobs
    assert (job.spec.array_size, job.spec.tags["batch-orchestrator:array-size"]) == (4, "4")
    assert stack.run_of("chunks/batch.txt").plan.array_size == 4
    assert len(stack.manifests.reads) == 2


def test_a_retry_of_a_manifest_run_does_not_read_the_manifest_again(stack: ArrayStack) -> None:
    # Given a manifest run of 3 whose child 1 failed with 75
    stack.submit(stack.upload_manifest("chunks/batch.txt", b'["x", "y", "z"]'))
    stack.end(stack.jobs.jobs[-1], "FAILED", failed(1))

    # When attempt 2 is submitted
    second = stack.next_attempt()

    # Then it runs item 1 of the 3, from the plan the retry request carries
    assert (second.spec.array_size, second.spec.environment["ARRAY_ITEMS"]) == (1, "1")
    assert len(stack.manifests.reads) == 1


def test_a_manifest_of_one_item_runs_as_a_single_job(stack: ArrayStack) -> None:
    stack.submit(stack.upload_manifest("chunks/one.txt", b"only.csv\n"))
    (job,) = stack.jobs.jobs
    assert (job.spec.array_size, dict(job.spec.parameters), "ARRAY_ITEMS" in job.spec.environment) == (1, {}, False)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the manifest holds no items"),
        (b"\n".join(b"x" for _ in range(100_001)), "split it into several uploads (runs)"),
        (None, "the manifest (the uploaded object version) no longer exists"),
    ],
)
def test_a_manifest_that_cannot_run_refuses_the_run_and_the_watchdog_alerts_it(
    stack: ArrayStack, body: bytes | None, reason: str
) -> None:
    # Given an upload for chunks whose manifest cannot run (or is gone)
    request = stack.upload("chunks/bad.txt")
    assert isinstance(request, SubmitRequest)
    if body is not None:
        request = stack.upload_manifest("chunks/bad.txt", body)

    # When it is submitted
    result = stack.submit(request)

    # Then nothing is submitted; the run is FAILED with the reason, owing its alert
    assert result.outcome is SubmitOutcome.REFUSED
    assert reason in result.detail
    assert stack.jobs.jobs == []
    run = stack.run_of("chunks/bad.txt")
    assert (run.status, run.attempt, run.job_id) == (RunStatus.FAILED, 1, None)
    assert run.status_reason is not None
    assert reason in run.status_reason
    assert run.side_effect is not None
    assert run.side_effect.job_id == ""
    # and a duplicate notification finds the run
    assert stack.submit(request).outcome is SubmitOutcome.DUPLICATE

    # When the watchdog sweeps after its reconcile delay
    assert isinstance(stack.runs, FakeWatchdogStore)
    report = stack.sweep(after=timedelta(minutes=11))

    # Then it published the one alert, with the reason, and the run owes nothing more
    assert (report.side_effects_recovered, report.errors) == (1, 0)
    (alert,) = stack.alerts.published
    assert alert.subject == "Batch job failed [chunks]: bad.txt (not submitted, attempt 1/3)"
    assert f"Decision:      {run.status_reason}" in alert.message
    assert "Job ID:        none (not submitted)" in alert.message
    assert stack.runs.active_status(run.run_id) is None


def test_a_manifest_s3_would_not_give_fails_the_delivery_so_sqs_redelivers_it(stack: ArrayStack) -> None:
    request = stack.upload_manifest("chunks/batch.txt", b"a\nb\n")
    stack.manifests.fail_next()
    with pytest.raises(ManifestUnreadable):
        stack.submit(request)
    assert stack.runs.get(request.run_id) is None
    assert stack.submit(request).outcome is SubmitOutcome.SUBMITTED
