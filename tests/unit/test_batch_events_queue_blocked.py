"""Queue-blocked events (batch_orchestrator.batch_events.parse_queue_blocked): the queue, the job, the reason
and the run they name."""

from __future__ import annotations

from batch_orchestrator.batch_events import parse_queue_blocked
from batch_orchestrator.models import QueueBlocked
from tests.support.events import load_event

QUEUE_ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/batch-orchestrator-queue"


# ---------------------------------------------------------------------------------------- queue blocked


def test_queue_blocked_names_queue_job_reason_and_run() -> None:
    # Given
    event = load_event("batch_queue_blocked.json")

    # When
    blocked = parse_queue_blocked(event)

    # Then
    assert blocked == QueueBlocked(
        job_queue=QUEUE_ARN,
        job_id="81a30c4e-819d-450d-894c-45f6095b2f9d",
        job_name="s3-f465b014c95d872789ac978a-a1-genome-assembly_fastq",
        status_reason=(
            "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) "
            "is higher than that can be met by the CE(s) attached to the job queue."
        ),
        run_id="s3-f465b014c95d872789ac978a",
        attempt=1,
        workload="default",  # one of ours, from before jobs carried their workload tag
    )


def test_queue_blocked_names_the_workload_of_the_blocking_job_and_reads_an_odd_tag_as_the_default() -> None:
    # Given the blocking job tagged with its workload, and a copy whose tag is not a workload name
    event = load_event("batch_queue_blocked.json")
    event["detail"]["tags"]["batch-orchestrator:workload"] = "thumbnails"
    odd = load_event("batch_queue_blocked.json")
    odd["detail"]["tags"]["batch-orchestrator:workload"] = "Not A Name"

    # When / Then: the workload is named, and an unreadable tag does not stop the alert
    assert parse_queue_blocked(event).workload == "thumbnails"
    assert parse_queue_blocked(odd).workload == "default"


def test_queue_blocked_by_a_foreign_job_is_still_reported() -> None:
    # Given
    event = load_event("batch_queue_blocked.json")
    detail = event["detail"]
    detail["jobName"] = "nightly-etl-20261121"
    del detail["tags"]

    # When
    blocked = parse_queue_blocked(event)

    # Then
    assert blocked.job_queue == QUEUE_ARN
    assert (blocked.run_id, blocked.attempt) == (None, None)


def test_queue_blocked_takes_the_queue_from_resources_when_detail_lacks_it() -> None:
    # Given
    event = load_event("batch_queue_blocked.json")
    del event["detail"]["jobQueue"]

    # When / Then
    assert parse_queue_blocked(event).job_queue == QUEUE_ARN


def test_a_blocking_array_child_is_reported_as_its_array_job() -> None:
    # Given two children of one array job blocking the queue (their detail: the child's JobDetail)
    events = []
    for index in (7, 8):
        event = load_event("batch_queue_blocked.json")
        event["detail"]["jobId"] = f"81a30c4e-819d-450d-894c-45f6095b2f9d:{index}"
        event["detail"]["arrayProperties"] = {"index": index}
        events.append(event)

    # When they are parsed
    blocked = [parse_queue_blocked(event) for event in events]

    # Then both name the parent (one alert claim for the array; cancelling it cancels every child)
    assert {b.job_id for b in blocked} == {"81a30c4e-819d-450d-894c-45f6095b2f9d"}
    assert blocked[0].run_id == "s3-f465b014c95d872789ac978a"
