"""Runs of several workloads, end to end on the fakes (tests/support/workload_runs.py): each upload on its
workload's job definition and queue, retries that learn (the next ladder step after an out-of-memory
failure, On-Demand after Spot interruptions), and what is written, sent and alerted on the way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batch_orchestrator.alerts import ALERT_RUN_FAILED
from batch_orchestrator.errors import RetryEnqueueError, WorkloadUnavailable
from batch_orchestrator.ids import SIZE_STEP_TAG, SPOT_INTERRUPTIONS_TAG, WORKLOAD_TAG, run_id_for
from batch_orchestrator.models import AttemptPlan, RunStatus, S3Source, SubmitRequest
from batch_orchestrator.s3_events import Skipped, Unmatched
from batch_orchestrator.tracking import TrackOutcome
from batch_orchestrator.workloads import NO_RULE_MATCHES, UNDER_OUTPUT_PREFIX, Capacity, Size
from tests.support.environments import DEFINITION, QUEUE, SPOT_QUEUE
from tests.support.workload_runs import (
    IMAGES_DEFINITION,
    OUT_OF_MEMORY,
    SPOT_INTERRUPTED,
    VIDEO_DEFINITION,
    WorkloadStack,
)


@pytest.fixture
def stack() -> WorkloadStack:
    return WorkloadStack()


# ------------------------------------------------------------------------------------------ routing
def test_each_upload_runs_on_its_workloads_job_definition_and_queue(stack: WorkloadStack) -> None:
    # When three uploads arrive, one per workload with a key rule
    default = stack.start("incoming/data.csv")
    image = stack.start("images/cat.jpg")
    video = stack.start("video/clip.mp4")

    # Then each job names its workload's definition and the queue of its capacity, with its plan as tags
    assert (default.spec.job_definition, default.spec.job_queue) == (DEFINITION, QUEUE)
    assert (image.spec.job_definition, image.spec.job_queue) == (IMAGES_DEFINITION, QUEUE)
    assert (video.spec.job_definition, video.spec.job_queue) == (VIDEO_DEFINITION, SPOT_QUEUE)
    assert [job.spec.tags[WORKLOAD_TAG] for job in (default, image, video)] == ["default", "images", "video"]
    # and each run records its workload, its plan and its size, with the workload's max attempts
    image_run = stack.run_of("images/cat.jpg")
    assert image_run.plan == AttemptPlan(workload="images")
    assert (image_run.vcpu, image_run.memory_mib, image_run.max_attempts) == ("1", 2048, 4)
    assert stack.run_of("video/clip.mp4").plan.capacity is Capacity.SPOT
    assert stack.run_of("incoming/data.csv").plan == AttemptPlan()


def test_a_first_step_keeps_the_job_definitions_own_size(stack: WorkloadStack) -> None:
    image = stack.start("images/cat.jpg")
    assert image.spec.resources is None
    assert image.spec.tags[SIZE_STEP_TAG] == "0"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("misc/readme.txt", NO_RULE_MATCHES),
        ("images/cat.png", NO_RULE_MATCHES),
        ("results/cat.jpg", UNDER_OUTPUT_PREFIX),
    ],
)
def test_an_upload_no_workload_takes_is_unmatched_and_costs_nothing(
    stack: WorkloadStack, key: str, reason: str
) -> None:
    # When
    request = stack.upload(key)

    # Then it starts no run, says why (a job's result under the output prefix is skipped, not unmatched),
    # and touched neither the table nor Batch
    kind = Skipped if reason == UNDER_OUTPUT_PREFIX else Unmatched
    assert request == kind(reason=reason, bucket="batch-orch-input", key=key)
    assert stack.jobs.submit_calls == 0
    assert stack.runs.get(run_id_for(S3Source(bucket="batch-orch-input", key=key, sequencer="00A1"))) is None


# ------------------------------------------------------------------------------------------ memory ladder
def test_out_of_memory_climbs_the_ladder_and_the_next_step_succeeds(stack: WorkloadStack) -> None:
    # Given attempt 1 of an image on 1 vCPU / 2 GiB
    first = stack.start("images/cat.jpg")

    # When it dies of out-of-memory (exit 137 is not in the workload's retry list "75")
    result = stack.finish(first, **OUT_OF_MEMORY)

    # Then the decision, written with the status, moves the run to step 2 of the ladder
    assert result.outcome is TrackOutcome.RETRY_SCHEDULED
    assert "out of memory at 1 vCPU, 2048 MiB (memory ladder step 1 of 3)" in result.detail
    assert "attempt 2 starts with 1 vCPU, 4096 MiB" in result.detail
    waiting = stack.run_of("images/cat.jpg")
    assert (waiting.status, waiting.attempt) == (RunStatus.RETRY_WAIT, 2)
    assert (waiting.plan.size_step, waiting.vcpu, waiting.memory_mib) == (1, "1", 4096)
    # and the retry request asks for that step
    assert stack.retry_queue.sent[-1].request.plan == AttemptPlan(workload="images", size_step=1)

    # When the submit path takes the request
    second = stack.next_attempt()

    # Then the job overrides the definition's size with the step's, and says so in its tags
    assert second.spec.resources == Size(vcpu="1", memory_mib=4096)
    assert (second.spec.job_definition, second.spec.tags[SIZE_STEP_TAG]) == (IMAGES_DEFINITION, "1")

    # When that attempt succeeds
    assert stack.finish(second, "SUCCEEDED", exit_code=0).outcome is TrackOutcome.SUCCEEDED

    # Then the history shows the size of each attempt
    run = stack.run_of("images/cat.jpg")
    assert run.status is RunStatus.SUCCEEDED
    assert [(r.attempt, r.status, r.memory_mib) for r in run.history] == [
        (1, RunStatus.FAILED, 2048),
        (2, RunStatus.SUCCEEDED, 4096),
    ]
    assert {r.vcpu for r in run.history} == {"1"}
    assert stack.alerts.published == []


def test_out_of_memory_at_the_top_of_the_ladder_fails_for_good_with_an_alert(stack: WorkloadStack) -> None:
    # Given a run that climbed to the last step (8 GiB)
    job = stack.start("images/big.jpg")
    for _ in range(2):
        stack.finish(job, **OUT_OF_MEMORY)
        job = stack.next_attempt()
    assert job.spec.resources == Size(vcpu="1", memory_mib=8192)

    # When the last step runs out of memory too (attempts are left: 3 of 4)
    result = stack.finish(job, **OUT_OF_MEMORY)

    # Then the run fails for good, and the alert names the workload and says the ladder ran out
    assert result.outcome is TrackOutcome.FAILED
    assert result.detail == "out of memory at the top of the memory ladder (1 vCPU, 8192 MiB)"
    (alert,) = stack.alerts.of_type(ALERT_RUN_FAILED)
    assert alert.subject == "Batch job failed [images]: big.jpg (exit 137, attempt 3/4)"
    assert alert.attributes["workload"] == {"DataType": "String", "StringValue": "images"}
    assert "Workload:      images" in alert.message
    assert "Size:          1 vCPU, 8192 MiB (on-demand)" in alert.message
    assert "Decision:      out of memory at the top of the memory ladder (1 vCPU, 8192 MiB)" in alert.message
    assert "  2. FAILED, exit code 137, 1 vCPU, 4096 MiB - OutOfMemoryError" in alert.message
    details = alert.details
    assert (details["workload"], details["sizeStep"], details["memoryMib"]) == ("images", 2, 8192)
    assert [entry["memoryMib"] for entry in details["history"]] == [2048, 4096, 8192]


def test_out_of_memory_without_a_ladder_follows_the_retry_list(stack: WorkloadStack) -> None:
    # Given the default workload: one size, and 137 in its retry list (3,75,137-143)
    job = stack.start("incoming/data.csv")

    # When
    result = stack.finish(job, **OUT_OF_MEMORY)

    # Then it is retried like any exit code of the list, on the same size
    assert result.outcome is TrackOutcome.RETRY_SCHEDULED
    assert "exit code 137 is retryable" in result.detail
    assert stack.retry_queue.sent[-1].request.plan == AttemptPlan()


def test_an_ordinary_failure_keeps_the_ladder_step(stack: WorkloadStack) -> None:
    # Given a run on step 2 after one out-of-memory failure
    stack.finish(stack.start("images/cat.jpg"), **OUT_OF_MEMORY)
    second = stack.next_attempt()

    # When attempt 2 exits with the workload's retryable code 75
    stack.finish(second, exit_code=75)

    # Then attempt 3 stays on step 2
    third = stack.next_attempt()
    assert third.spec.resources == Size(vcpu="1", memory_mib=4096)


def test_a_retry_lost_before_it_was_sent_is_resent_with_the_next_plan(stack: WorkloadStack) -> None:
    # Given an out-of-memory failure whose retry request could not be sent (SQS unreachable)
    job = stack.start("images/cat.jpg")
    stack.retry_queue.fail_next()
    with pytest.raises(RetryEnqueueError):
        stack.finish(job, **OUT_OF_MEMORY)
    assert stack.retry_queue.sent == []

    # When Batch's event is delivered again after the retry's lease has expired
    stack.now += timedelta(minutes=10)
    result = stack.finish(job, **OUT_OF_MEMORY)

    # Then the owed request is sent, for the ladder step the decision wrote on the run
    assert result.outcome is TrackOutcome.RECOVERED
    (sent,) = stack.retry_queue.sent
    assert sent.request.plan == AttemptPlan(workload="images", size_step=1)


# ------------------------------------------------------------------------------------------ Spot fallback
def test_spot_interruptions_move_the_run_to_on_demand_after_the_configured_count(stack: WorkloadStack) -> None:
    # Given a video run on Spot (On-Demand after 2 interruptions)
    job = stack.start("video/clip.mp4")
    queues = [job.spec.job_queue]
    interruptions = [job.spec.tags[SPOT_INTERRUPTIONS_TAG]]

    # When Spot capacity is taken from under it twice
    for _ in range(2):
        result = stack.finish(job, **SPOT_INTERRUPTED)
        assert result.outcome is TrackOutcome.RETRY_SCHEDULED
        job = stack.next_attempt()
        queues.append(job.spec.job_queue)
        interruptions.append(job.spec.tags[SPOT_INTERRUPTIONS_TAG])

    # Then attempt 2 ran on Spot again, attempt 3 on the On-Demand queue
    assert queues == [SPOT_QUEUE, SPOT_QUEUE, QUEUE]
    assert interruptions == ["0", "1", "2"]
    run = stack.run_of("video/clip.mp4")
    assert run.plan == AttemptPlan(workload="video", capacity=Capacity.ON_DEMAND, spot_interruptions=2)
    assert run.job_queue == QUEUE


def test_a_spot_interruption_is_retried_whatever_the_retry_list_says(stack: WorkloadStack) -> None:
    # Given the video workload retries no exit code; the interrupted container exited 143 on SIGTERM
    job = stack.start("video/clip.mp4")

    # When
    result = stack.finish(job, exit_code=143, **SPOT_INTERRUPTED)

    # Then
    assert result.outcome is TrackOutcome.RETRY_SCHEDULED
    assert "interrupted on Spot (Your Spot Task was interrupted.); Spot interruption 1, On-Demand after 2" in (
        result.detail
    )


def test_a_spot_interruption_of_the_last_attempt_is_alerted(stack: WorkloadStack) -> None:
    # Given a video run at its fifth and last attempt
    job = stack.start("video/clip.mp4")
    for _ in range(4):
        stack.finish(job, **SPOT_INTERRUPTED)
        job = stack.next_attempt()

    # When it is interrupted once more
    result = stack.finish(job, **SPOT_INTERRUPTED)

    # Then
    assert result.outcome is TrackOutcome.FAILED
    assert result.detail.endswith("but attempts exhausted (5 of 5)")
    (alert,) = stack.alerts.published
    assert alert.subject.startswith("Batch job failed [video]: clip.mp4 (no exit code, attempt 5/5)")


# ------------------------------------------------------------------------------------------ the table changed
def test_a_job_of_a_workload_the_table_no_longer_holds_is_not_retried(stack: WorkloadStack) -> None:
    # Given an image job submitted before a deploy removed the images workload
    job = stack.start("images/cat.jpg")
    stack.table = type(stack.table)(tuple(w for w in stack.table.workloads if w.name != "images"))

    # When it fails with its retryable code
    result = stack.finish(job, exit_code=75)

    # Then it is not retried, and the alert says why
    assert result.outcome is TrackOutcome.FAILED
    assert "workload 'images' is not in this stack's workload table" in result.detail
    (alert,) = stack.alerts.published
    assert "not in this stack's workload table" in alert.details["decision"]
    assert alert.attributes["workload"]["StringValue"] == "images"
    assert stack.retry_queue.sent == []


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (AttemptPlan(workload="gone"), "is of workload 'gone', which this stack lacks"),
        (AttemptPlan(workload="images", size_step=3), "step 4 of the memory ladder of workload 'images', which has 3"),
    ],
)
def test_a_request_the_stack_cannot_submit_writes_nothing(
    stack: WorkloadStack, plan: AttemptPlan, message: str
) -> None:
    # Given a retry request written before a deploy changed the table
    source = S3Source(bucket="batch-orch-input", key="images/a.jpg", sequencer="01")
    request = SubmitRequest(run_id=run_id_for(source), attempt=2, source=source, plan=plan)

    # When / Then it is refused before any write or SubmitJob
    with pytest.raises(WorkloadUnavailable, match=message):
        stack.submit(request)
    assert (stack.runs.get(request.run_id), stack.jobs.submit_calls) == (None, 0)
