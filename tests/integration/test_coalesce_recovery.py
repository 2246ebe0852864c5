"""Burst coalescing on the stack of template.yaml in moto, rendered with a coalescing workload: the real submit_jobs
and coalesce_uploads, each crash point followed by SQS's redelivery (made visible at once: ``release_failed``).

Proven: a batch that stopped after claiming its keys (its manifest could not be written) leaves them leased; its
messages redelivered while the lease runs fail again and start nothing; redelivered after the lease they are taken
over by one new batch, whose run holds every key once and whose manifest lists them. A malformed message fails alone.
The SubmitJob crash point (outcome unknown, recovered by a later duplicate) is run by
tests/conformance/test_calls_from_code.py's coalesce flow and, on the fakes, by tests/unit/test_coalesce.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import unquote_plus

from botocore.exceptions import ConnectionClosedError

from batch_orchestrator.adapters import aws
from batch_orchestrator.timeutil import utcnow
from emulator import EmulatedStack, deliver_sqs_batch
from tests.support.runs import all_jobs, deliver_all, drain_test_event, job_environment, upload
from tests.support.workload_yaml import coalescing_stack_workloads  # noqa: F401 - the stack's stack_workloads

COALESCER = "CoalesceUploadsFunction"


@contextmanager
def manifests_unwritable() -> Iterator[None]:
    def fail(**_: Any) -> None:
        raise ConnectionClosedError(endpoint_url="https://s3.us-east-1.amazonaws.com")

    events = aws.client("s3").meta.events
    events.register("before-call.s3.PutObject", fail)
    try:
        yield
    finally:
        events.unregister("before-call.s3.PutObject", fail)


@contextmanager
def clock(seconds_later: float) -> Iterator[None]:
    at = utcnow() + timedelta(seconds=seconds_later)
    with mock.patch("batch_orchestrator.timeutil.utcnow", return_value=at):
        yield


def _keys_items(stack: EmulatedStack) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.outputs["RunsTableName"])["Items"]
    return [item for item in items if "coalescedInto" in item]


def test_a_batch_that_stopped_after_its_claims_is_taken_over_once_its_lease_has_expired(stack: EmulatedStack) -> None:
    drain_test_event(stack)
    lease = int(stack.function_environment(COALESCER)["CLAIM_LEASE_SECONDS"])
    # Given a burst of three uploads forwarded to the workload's queue
    for name in ("a", "b", "c"):
        upload(stack, f"frames/{name}.png")
    deliver_all(stack)

    # When the first batch claims them and cannot write its manifest
    with manifests_unwritable():
        first = deliver_sqs_batch(stack, COALESCER, release_failed=True)
    assert len(first.failed) == 3
    (dead,) = {item["coalescedInto"]["S"] for item in _keys_items(stack)}

    # and the messages come back while its lease runs: they fail again, nothing is submitted
    assert len(deliver_sqs_batch(stack, COALESCER, release_failed=True).failed) == 3
    assert all_jobs(stack) == []

    # and once more after the lease
    with clock(lease + 5):
        last = deliver_sqs_batch(stack, COALESCER)

    # Then one run holds the three keys, children 0..2, in one array job over a manifest listing them
    assert last.failed == ()
    items = _keys_items(stack)
    (batch_run_id,) = {item["coalescedInto"]["S"] for item in items}
    assert batch_run_id != dead
    assert sorted(int(item["coalescedIndex"]["N"]) for item in items) == [0, 1, 2]
    (job,) = [job for job in all_jobs(stack) if ":" not in job["jobId"]]
    assert job["arrayProperties"]["size"] == 3
    environment = job_environment(job)
    manifest = json.loads(
        stack.client("s3").get_object(Bucket=environment["INPUT_BUCKET"], Key=environment["INPUT_KEY"])["Body"].read()
    )
    assert sorted(entry["key"] for entry in manifest) == ["frames/a.png", "frames/b.png", "frames/c.png"]
    # and the manifest's own notification starts nothing
    deliver_all(stack)
    assert len([job for job in all_jobs(stack) if ":" not in job["jobId"]]) == 1


def test_a_malformed_message_fails_alone(stack: EmulatedStack) -> None:
    drain_test_event(stack)
    upload(stack, "frames/a.png")
    deliver_all(stack)
    queue = stack.queue_url(stack.event_source_mapping_for(COALESCER).event_source_arn)
    stack.client("sqs").send_message(QueueUrl=queue, MessageBody='{"kind": "coalesce", "workload": "frames"}')

    delivery = deliver_sqs_batch(stack, COALESCER)

    assert delivery.event is not None
    assert len(delivery.failed) == 1
    assert [record["body"] for record in delivery.event["Records"] if record["messageId"] in delivery.failed] == [
        '{"kind": "coalesce", "workload": "frames"}'
    ]
    assert len([job for job in all_jobs(stack) if ":" not in job["jobId"]]) == 1


def test_an_upload_that_could_not_be_forwarded_fails_its_record_and_is_forwarded_again(stack: EmulatedStack) -> None:
    drain_test_event(stack)
    upload(stack, "frames/a.png")
    upload(stack, "incoming/plain.csv")  # a plain upload in the same batch is submitted as always

    def fail(**_: Any) -> None:
        raise ConnectionClosedError(endpoint_url="https://sqs.us-east-1.amazonaws.com")

    events = aws.client("sqs").meta.events
    events.register("before-call.sqs.SendMessageBatch", fail)
    try:
        delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", release_failed=True)
    finally:
        events.unregister("before-call.sqs.SendMessageBatch", fail)
    assert delivery.event is not None
    (failed,) = [r["body"] for r in delivery.event["Records"] if r["messageId"] in delivery.failed]
    assert "frames/a.png" in unquote_plus(failed)  # S3 notifications URL-encode keys
    assert len(all_jobs(stack)) == 1

    deliver_all(stack)
    assert deliver_sqs_batch(stack, COALESCER).failed == ()
    assert len([job for job in all_jobs(stack) if ":" not in job["jobId"]]) == 2
