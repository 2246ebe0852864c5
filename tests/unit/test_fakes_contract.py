"""The fakes of Batch, SQS and SNS (tests/support/fakes.py) keep their adapters' contracts
(the docstrings of batch_orchestrator.ports).

Every test runs twice, against the fake ("memory") and against the real adapter on moto, with the
same assertions, so a fake cannot drift from its adapter unnoticed. The runs table's fakes have their
own file, test_fake_runs_contract.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from copy import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from batch_orchestrator.adapters.alerts_topic import AlertsTopic
from batch_orchestrator.adapters.manifests import S3Manifests
from batch_orchestrator.adapters.submit_queue import SubmitQueue
from batch_orchestrator.alert_queue_blocked import build_queue_blocked_alert
from batch_orchestrator.errors import AlertPublishError, BatchLookupError, JobSubmitError
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.limits import MANIFEST_MAX_BYTES
from batch_orchestrator.models import ChildFailure, QueueBlocked, S3Source, SubmitRequest
from batch_orchestrator.ports import JobSpec
from batch_orchestrator.submit_messages import parse_submit_message
from tests.support.aws_doubles import REGION, batch_in_moto
from tests.support.fakes import (
    FakeAlertSink,
    FakeJobGateway,
    FakeJobInspector,
    FakeManifests,
    FakeResubmitQueue,
    FakeRetryQueue,
)

ACCOUNT = "123456789012"
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/jobs-queue"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/jobs-definition:1"
SOURCE = S3Source(bucket="in", key="incoming/a.csv", sequencer="01")
RUN_ID = run_id_for(SOURCE)
JOB_1 = "0f0e0d0c-0000-4000-8000-000000000001"


# ------------------------------------------------------------------------------------------ Batch
@pytest.fixture(params=["memory", "moto"])
def gateway(request: pytest.FixtureRequest) -> Iterator[tuple[FakeJobGateway | Any, str, str]]:
    if request.param == "memory":
        yield FakeJobGateway(job_queues=[QUEUE], job_definitions=[DEFINITION]), QUEUE, DEFINITION
    else:
        with batch_in_moto() as batch:
            yield batch.jobs, batch.job_queue, batch.job_definition


def spec(name: str, queue: str, definition: str) -> JobSpec:
    return JobSpec(job_name=name, job_queue=queue, job_definition=definition, environment={"RUN_ID": "r"}, tags={})


def test_a_submitted_job_is_found_by_its_exact_name_in_its_queue(gateway: tuple[Any, str, str]) -> None:
    # Given
    jobs, queue, definition = gateway

    # When
    job_id = jobs.submit(spec("run-a1-data", queue, definition))

    # Then
    assert jobs.find_job_id(job_queue=queue, job_name="run-a1-data") == job_id
    assert jobs.find_job_id(job_queue=queue, job_name="run-a1") is None


def test_one_name_submitted_twice_makes_two_jobs(gateway: tuple[Any, str, str]) -> None:
    # Given
    jobs, queue, definition = gateway

    # When
    first = jobs.submit(spec("same-name", queue, definition))
    second = jobs.submit(spec("same-name", queue, definition))

    # Then Batch kept both: the name is no idempotency key
    assert first != second
    assert jobs.find_job_id(job_queue=queue, job_name="same-name") in (first, second)


def test_a_job_definition_batch_does_not_know_is_refused_and_makes_no_job(gateway: tuple[Any, str, str]) -> None:
    # Given a revision Batch does not hold (never registered, or deregistered by a deploy)
    jobs, queue, definition = gateway
    unknown = definition.rsplit(":", 1)[0] + ":99"

    # When
    with pytest.raises(JobSubmitError) as refused:
        jobs.submit(spec("refused", queue, unknown))

    # Then
    assert refused.value.definitely_not_submitted
    assert jobs.find_job_id(job_queue=queue, job_name="refused") is None


def test_a_lookup_in_a_queue_batch_does_not_know_fails(gateway: tuple[Any, str, str]) -> None:
    # Given
    jobs, queue, _ = gateway

    # When / Then
    with pytest.raises(BatchLookupError):
        jobs.find_job_id(job_queue=queue + "-gone", job_name="any")


@pytest.fixture(params=["memory", "moto"])
def described(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str, str, str]]:
    """A JobInspector holding one job: (inspector, its id, its name, its queue)."""
    if request.param == "memory":
        inspector = FakeJobInspector()
        inspector.add({"jobId": JOB_1, "jobName": "known", "jobQueue": QUEUE, "status": "RUNNABLE"})
        yield inspector, JOB_1, "known", QUEUE
    else:
        with batch_in_moto() as batch:
            job_id = batch.jobs.submit(spec("known", batch.job_queue, batch.job_definition))
            yield batch.jobs, job_id, "known", batch.job_queue


def test_describe_answers_each_known_job_once_and_leaves_out_the_unknown(described: tuple[Any, str, str, str]) -> None:
    # Given
    inspector, job_id, name, queue = described

    # When
    (job,) = inspector.describe_jobs([job_id, "11111111-0000-4000-8000-000000000000", job_id])

    # Then
    assert (job["jobId"], job["jobName"], job["jobQueue"]) == (job_id, name, queue)
    assert inspector.find_job_id(job_queue=queue, job_name=name) == job_id


ESSENTIAL = "Essential container in task exited"


@pytest.fixture(params=["memory", "moto"])
def array_children(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str, str]]:
    """ArrayChildren holding an array of 3 whose children 0 (exit 3) and 2 (exit 75) failed: (lister, the array's
    id, a single job's id)."""
    if request.param == "memory":
        gateway = FakeJobGateway(job_queues=[QUEUE], job_definitions=[DEFINITION])
        parent = gateway.submit(replace(spec("array", QUEUE, DEFINITION), array_size=3))
        single = gateway.submit(spec("single", QUEUE, DEFINITION))
        gateway.fail_children(
            parent,
            ChildFailure(index=0, item=0, exit_code=3, reason=ESSENTIAL, status_reason=ESSENTIAL),
            ChildFailure(index=2, item=2, exit_code=75, reason=ESSENTIAL, status_reason=ESSENTIAL),
        )
        yield gateway, parent, single
    else:
        with batch_in_moto() as batch:
            parent = batch.jobs.submit(replace(spec("array", batch.job_queue, batch.job_definition), array_size=3))
            single = batch.jobs.submit(spec("single", batch.job_queue, batch.job_definition))
            # SIMULATED: moto (no Docker) ends every child SUCCEEDED at once; two of them fail here instead.
            from moto.batch.models import batch_backends

            backend = batch_backends[ACCOUNT][REGION]
            for index, code in ((0, 3), (2, 75)):
                child = backend.get_job_by_id(f"{parent}:{index}")
                assert child is not None
                child.status, child.exit_code, child.job_stopped_reason = "FAILED", code, ESSENTIAL
            yield batch.jobs, parent, single


def test_an_arrays_failed_children_are_listed_with_index_exit_code_and_reason(array_children: Any) -> None:
    # Given an array of 3 whose children 0 and 2 failed
    lister, parent, single = array_children

    # When its failed children are asked for
    children = sorted(lister.failed_children(parent), key=lambda child: child.index)

    # Then both, each numbered by its index (the caller maps items), with its exit code and Batch's reason
    assert [(c.index, c.item, c.exit_code, c.reason, c.timed_out) for c in children] == [
        (0, 0, 3, ESSENTIAL, False),
        (2, 2, 75, ESSENTIAL, False),
    ]
    # and a job of no array, or one Batch does not know, has none
    assert lister.failed_children(single) == ()
    assert lister.failed_children("11111111-0000-4000-8000-000000000000") == ()


# ------------------------------------------------------------------------------------------ S3
@pytest.fixture(params=["memory", "moto"])
def manifests(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Callable[[str, bytes], S3Source]]]:
    """(a ManifestReader, a function that uploads a manifest to a versioned bucket and returns its source)."""
    if request.param == "memory":
        fake = FakeManifests()
        yield fake, lambda key, body: fake.put(S3Source(bucket="manifests-in", key=key, version_id=f"v-{key}"), body)
    else:
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket="manifests-in")
            s3.put_bucket_versioning(Bucket="manifests-in", VersioningConfiguration={"Status": "Enabled"})

            def upload(key: str, body: bytes) -> S3Source:
                version = s3.put_object(Bucket="manifests-in", Key=key, Body=body)["VersionId"]
                return S3Source(bucket="manifests-in", key=key, version_id=version)

            yield S3Manifests(), upload


def test_a_manifest_is_read_whole_up_to_its_budget_and_a_gone_one_is_none(manifests: Any) -> None:
    # Given two manifests, one longer than the budget
    reader, upload = manifests
    small = upload("chunks/small.txt", b"a\nb\n")
    large = upload("chunks/large.txt", b"x" * (MANIFEST_MAX_BYTES.value + 10))

    # When / Then the small one is read whole, the large one one byte past the budget (so it shows it is longer)
    assert reader.read(small) == b"a\nb\n"
    assert len(reader.read(large)) == MANIFEST_MAX_BYTES.value + 1
    # and a version S3 does not hold is None
    assert reader.read(S3Source(bucket="manifests-in", key="chunks/none.txt")) is None


def test_an_empty_manifest_reads_as_no_bytes_not_as_unreadable(manifests: Any) -> None:
    # Given an empty object (S3 answers a range read of 0 bytes with 416 InvalidRange, as HTTP range requests say)
    reader, upload = manifests
    empty = upload("chunks/empty.txt", b"")

    # When / Then it reads as b"": a manifest of no items, which the submit path refuses with that reason
    assert reader.read(empty) == b""


# ------------------------------------------------------------------------------------------ SQS
@pytest.fixture(params=["memory", "moto"])
def submit_queue(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any, Callable[[], list[SubmitRequest]]]]:
    """(a RetryQueue, a ResubmitQueue, what the submit path then receives)."""
    if request.param == "memory":
        retries, resubmits = FakeRetryQueue(), FakeResubmitQueue()
        yield retries, resubmits, lambda: retries.requests() + resubmits.requests()
    else:
        with mock_aws():
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.create_queue(QueueName="submit")["QueueUrl"]
            queue = SubmitQueue(url)

            def received() -> list[SubmitRequest]:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                return [
                    request
                    for message in messages
                    for request in parse_submit_message(message["Body"], input_prefix="")
                    if isinstance(request, SubmitRequest)
                ]

            yield queue, queue, received


def test_a_retry_and_a_resubmit_reach_the_submit_path_as_their_attempts(submit_queue: tuple[Any, Any, Any]) -> None:
    # Given
    retries, resubmits, received = submit_queue

    # When
    retries.send_retry(run_id=RUN_ID, attempt=2, source=SOURCE, delay_seconds=0)
    resubmits.send_resubmit(run_id=RUN_ID, attempt=1, source=SOURCE)

    # Then
    assert sorted(received(), key=lambda request: request.attempt) == [
        SubmitRequest(run_id=RUN_ID, attempt=1, source=SOURCE),
        SubmitRequest(run_id=RUN_ID, attempt=2, source=SOURCE),
    ]


def test_a_delay_beyond_the_sqs_maximum_is_capped_not_refused(submit_queue: tuple[Any, Any, Any]) -> None:
    # Given
    retries, _, _ = submit_queue

    # When: SQS refuses a DelaySeconds above 900 outright (RetryEnqueueError if it were passed on)
    retries.send_retry(run_id=RUN_ID, attempt=2, source=SOURCE, delay_seconds=10_000)

    # Then the fake, which records delays rather than waiting them, recorded the cap
    if isinstance(retries, FakeRetryQueue):
        assert [sent.delay_seconds for sent in retries.sent] == [900]


# ------------------------------------------------------------------------------------------ SNS
@pytest.fixture(params=["memory", "moto"])
def alert_sink(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Any, Callable[[], list[tuple[str, str, dict[str, str]]]]]]:
    """(an AlertSink, what a subscriber receives: subject, message and attribute values)."""
    if request.param == "memory":
        sink = FakeAlertSink()
        yield (
            sink,
            lambda: [
                (alert.subject, alert.message, {name: value["StringValue"] for name, value in alert.attributes.items()})
                for alert in sink.published
            ],
        )
    else:
        with mock_aws():
            sns = boto3.client("sns", region_name=REGION)
            sqs = boto3.client("sqs", region_name=REGION)
            topic = sns.create_topic(Name="alerts")["TopicArn"]
            url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
            inbox = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox)

            def received() -> list[tuple[str, str, dict[str, str]]]:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                envelopes = [json.loads(message["Body"]) for message in messages]
                return [
                    (
                        envelope["Subject"],
                        envelope["Message"],
                        {name: value["Value"] for name, value in envelope.get("MessageAttributes", {}).items()},
                    )
                    for envelope in envelopes
                ]

            yield AlertsTopic(topic), received


def test_a_published_alert_arrives_with_its_subject_message_and_attributes(alert_sink: tuple[Any, Any]) -> None:
    # Given
    sink, received = alert_sink
    alert = build_queue_blocked_alert(
        QueueBlocked(
            job_queue=QUEUE, job_id=JOB_1, job_name="blocker", status_reason="CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
        ),
        region=REGION,
    )

    # When
    sink.publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)

    # Then
    assert received() == [
        (alert.subject, alert.message, {name: value["StringValue"] for name, value in alert.attributes.items()})
    ]


@pytest.mark.parametrize(
    ("subject", "attributes"),
    [
        ("x" * 150, {}),
        ("fine", {"jobQueue": {"DataType": "String", "StringValue": ""}}),
    ],
    ids=["subject too long", "empty attribute"],
)
def test_sns_refuses_what_an_alert_must_never_be(alert_sink: tuple[Any, Any], subject: str, attributes: Any) -> None:
    # Given
    sink, received = alert_sink

    # When
    with pytest.raises(AlertPublishError):
        sink.publish(subject=subject, message="body", attributes=attributes)

    # Then nothing reached a subscriber
    assert received() == []
