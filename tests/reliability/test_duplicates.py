"""Duplicates: every S3 notification delivered one to three times, in random order, starts exactly one job.

The submit path runs end to end: 1,000 real uploads to the template's input bucket in moto produce
1,000 real S3 notifications; each is put back on the real SubmitQueue one to three times, shuffled
(a seeded RNG), and the real submit_jobs handler consumes them through the queue's event source
mapping (harness.SubmitQueuePoller), 10 per invocation like the template's BatchSize. A tenth of
the extra copies arrive late, after the claim lease expired and before any Batch event: the
claim protocol must then find the job by its name (ListJobs) instead of submitting a second one.

Why the handler and not submit_run: the promise is about what users see (one job per upload), and
the handler adds what the logic alone does not show (partial batch responses, metrics, parsing
of the real notification). A whole run takes ~15 s on two cores.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from emulator import EmulatedStack
from tests.reliability.harness import Function, SubmitQueuePoller, VirtualClock
from tests.support.figures import figure
from tests.support.logs import emf_metrics
from tests.support.runs import (
    all_jobs,
    iter_runs,
    job_environment,
    take_all_bodies,
    upload_and_take_notifications,
    visible_messages,
)

SEED = 20261121
UPLOADS = 1_000
LATE_SHARE = 0.1  # of the extra copies, delivered after the claim lease (before any Batch event)


def _keys(count: int) -> list[str]:
    return [f"incoming/duplicates/file-{index:04d}.csv" for index in range(count)]


def test_each_notification_delivered_one_to_three_times_in_random_order_starts_one_job(
    stack: EmulatedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 1,000 uploads, and their S3 notifications taken off the queue (the s3:TestEvent dropped)
    rng = random.Random(SEED)
    take_all_bodies(stack)
    keys = _keys(UPLOADS)
    notifications = upload_and_take_notifications(stack, keys)
    assert len(notifications) == UPLOADS

    # and each delivered 1-3 times, shuffled; a tenth of the extra copies held back until later
    copies = [rng.randint(1, 3) for _ in notifications]
    first = list(notifications)
    extra = [body for body, count in zip(notifications, copies, strict=True) for _ in range(count - 1)]
    rng.shuffle(extra)
    late = extra[: int(len(extra) * LATE_SHARE)]
    early = first + extra[len(late) :]
    rng.shuffle(early)

    clock = VirtualClock()
    submit = Function(stack, "SubmitJobsFunction", clock=clock)
    poller = SubmitQueuePoller(stack, submit, clock)
    capsys.readouterr()

    # When submit_jobs consumes the early deliveries, then, an hour later, the late ones
    poller.deliver(early)
    clock.advance(3600)
    poller.deliver(late)
    metrics = emf_metrics(capsys.readouterr().out)

    # Then every delivery succeeded, and there is exactly one run and one Batch job per upload
    assert poller.stats.failed_records == 0
    assert poller.stats.records == len(early) + len(late)
    runs = list(iter_runs(stack))
    jobs = all_jobs(stack)
    assert len(runs) == UPLOADS
    assert len(jobs) == UPLOADS
    keys_of_jobs = Counter(job_environment(job)["INPUT_KEY"] for job in jobs)
    assert set(keys_of_jobs) == set(keys)  # none lost
    assert max(keys_of_jobs.values()) == 1  # none twice
    assert {run["runId"] for run in runs} == {job["tags"]["batch-orchestrator:run-id"] for job in jobs}
    assert all(run["status"] == "SUBMITTED" for run in runs)
    # and the duplicates were recognised as such: skipped while the claim is fresh, the job adopted after it
    adopted = int(metrics.get("JobsSubmitted", 0)) - UPLOADS  # an adopted job counts as submitted
    assert 0 < adopted <= len(late)
    assert metrics.get("DuplicatesSkipped", 0) + adopted == len(extra)
    assert visible_messages(stack, "SubmitDLQUrl") == 0

    deliveries = len(early) + len(late)
    figure(
        "Duplicates",
        f"{UPLOADS} uploads, {deliveries} deliveries (1-3 each, shuffled, {len(late)} after the claim lease) "
        f"-> {len(runs)} runs, {len(jobs)} Batch jobs, 0 lost, 0 twice ({adopted} adopted by name after the lease)",
    )
    submit.close()


def _multi_record_body(bodies: list[str]) -> str:
    """One notification holding several records (S3 may batch records in one message)."""
    records: list[Any] = [json.loads(body)["Records"][0] for body in bodies]
    return json.dumps({"Records": records})


def test_a_notification_with_several_records_is_one_run_per_record_even_when_redelivered(stack: EmulatedStack) -> None:
    # Given three uploads whose records arrive in one message, twice, plus each record alone
    take_all_bodies(stack)
    notifications = upload_and_take_notifications(stack, _keys(3))
    combined = _multi_record_body(notifications)
    clock = VirtualClock()
    submit = Function(stack, "SubmitJobsFunction", clock=clock)
    poller = SubmitQueuePoller(stack, submit, clock)

    # When all of them are consumed
    poller.deliver([combined, *notifications, combined])

    # Then three runs, three jobs, no failure
    assert poller.stats.failed_records == 0
    assert len(list(iter_runs(stack))) == 3
    assert len(all_jobs(stack)) == 3
    submit.close()
