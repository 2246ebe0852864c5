"""Throttling: AWS refusing calls for their rate delays uploads, never loses or doubles them.

Faults are injected at the botocore client boundary of the shared package (harness.ThrottleInjector),
drawn from a seeded RNG: 30% of SubmitJob calls answer TooManyRequestsException (HTTP 429), 10% of
the runs table's calls answer ProvisionedThroughputExceededException or ThrottlingException. The
injected answers are real HTTP error responses, so botocore's standard retry mode (DynamoDB) and
the Batch adapter's own throttling retries (SubmitJob) handle them exactly as they would AWS's.
Their backoff sleeps are recorded, not slept. A record that still fails comes back after the
queue's visibility timeout (virtual clock), and moto moves it to the DLQ after SubmitMaxReceiveCount
receives, as SQS does.
"""

from __future__ import annotations

import functools
import json
import random
import time

import pytest

from batch_orchestrator.adapters import aws
from batch_orchestrator.adapters.batch import BatchJobs
from emulator import EmulatedStack
from tests.reliability.harness import (
    BATCH_THROTTLE,
    DYNAMODB_THROTTLES,
    Function,
    Sleeps,
    SubmitQueuePoller,
    ThrottleInjector,
    VirtualClock,
    quiet_botocore,
)
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

SEED = 75
UPLOADS = 1_000
SUBMIT_JOB_THROTTLED = 0.30
RUNS_TABLE_THROTTLED = 0.10


def test_throttled_submit_job_and_runs_table_end_with_every_upload_submitted_once(
    stack: EmulatedStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 1,000 uploads waiting on the SubmitQueue
    quiet_botocore()
    take_all_bodies(stack)
    keys = [f"incoming/throttled/file-{index:04d}.csv" for index in range(UPLOADS)]
    notifications = upload_and_take_notifications(stack, keys)
    redrive = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["SubmitQueueUrl"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    max_receive_count = int(json.loads(redrive)["maxReceiveCount"])

    # and SubmitJob throttled on 30% of calls, the runs table on 10%, with backoff recorded instead of slept
    sleeps = Sleeps()
    monkeypatch.setattr(time, "sleep", sleeps)  # botocore's retry backoff
    injector = ThrottleInjector(random.Random(SEED))
    injector.attach(
        aws.client("dynamodb"),
        operations={"PutItem", "UpdateItem", "GetItem", "Query"},
        rate=RUNS_TABLE_THROTTLED,
        errors=DYNAMODB_THROTTLES,
    )
    injector.attach(aws.submit_client(), operations={"SubmitJob"}, rate=SUBMIT_JOB_THROTTLED, errors=BATCH_THROTTLE)
    clock = VirtualClock()
    submit = Function(
        stack, "SubmitJobsFunction", clock=clock, replace={"BatchJobs": functools.partial(BatchJobs, sleep=sleeps)}
    )
    poller = SubmitQueuePoller(stack, submit, clock)
    capsys.readouterr()

    # When submit_jobs consumes them, SQS redelivering what failed after the visibility timeout
    poller.deliver(notifications)
    redelivery_rounds = poller.drain_with_redeliveries()
    metrics = emf_metrics(capsys.readouterr().out)

    # Then every upload has exactly one job, and every run is SUBMITTED (none left QUEUED)
    jobs = all_jobs(stack)
    assert sorted(job_environment(job)["INPUT_KEY"] for job in jobs) == sorted(keys)
    runs = list(iter_runs(stack))
    assert len(runs) == UPLOADS
    assert {run["status"] for run in runs} == {"SUBMITTED"}
    # and nothing reached the dead-letter queue: no message needed the receive limit
    assert visible_messages(stack, "SubmitDLQUrl") == 0
    assert poller.stats.max_receive_count < max_receive_count
    # and the throttling is visible in the metrics: every injected answer counted, every failed record too
    assert injector.injected["SubmitJob"] > 0
    assert sum(injector.injected.get(op, 0) for op in ("PutItem", "UpdateItem", "GetItem", "Query")) > 0
    assert metrics["Throttled"] == injector.total
    assert metrics.get("SubmitFailures", 0) == poller.stats.failed_records > 0
    assert metrics["JobsSubmitted"] == UPLOADS

    dynamodb = injector.total - injector.injected["SubmitJob"]
    submit_job = injector.injected["SubmitJob"]
    figure(
        "Throttling",
        f"{UPLOADS} uploads, SubmitJob throttled {SUBMIT_JOB_THROTTLED:.0%} ({submit_job} answers), "
        f"runs table {RUNS_TABLE_THROTTLED:.0%} ({dynamodb}) -> {len(jobs)} jobs, each upload once; "
        f"{poller.stats.failed_records} records retried by SQS (redelivery rounds: {redelivery_rounds}) "
        f"(max {poller.stats.max_receive_count} receives of {max_receive_count}); DLQ 0; "
        f"Throttled metric {metrics['Throttled']:.0f} = injected {injector.total}",
    )
    submit.close()
