"""A burst of 10,000 uploads to a coalescing workload, beside the same burst to a one-job-per-file workload (issue 14).

template.yaml rendered with two workloads, created in an in-process moto (as the ``calls`` section does): ``frames``
with ``coalesce: {window_seconds: 60, max_items: 10000}`` and ``files``, the same job one per upload. The handlers run
in-process (``emulator.invoke_handler``), so every AWS call of the functions' clients is counted:

* the forwarding: FORWARD_SAMPLE objects put under ``frames/`` (the harness's client: not counted), their S3
  notifications on the SubmitQueue; submit_jobs drains it (SIMULATED event source mapping: ``deliver_sqs_batch``,
  SubmitBatchSize records per invocation) and forwards them to the workload's queue. Its calls and work are scaled
  to the burst: they are the same per upload whatever its size;
* the burst: 10,000 forwarded messages shaped as those (their SQS attributes; each body the forwarded upload of a
  key of its own), delivered as that queue's mapping would, SIMULATED as Lambda documents it ("Lambda parameters for
  Amazon SQS event source mappings", BatchSize): a batch of up to BatchSize records, cut where the invocation's event
  would pass the 6 MB of a synchronous invocation (LAMBDA_SYNC_PAYLOAD; each record's size measured as the event the
  emulator builds). Each batch is one coalesce_uploads invocation against the stack; its calls are all counted;
* the other path: ``SINGLE_SAMPLE`` uploads to ``files``, submitted one job each, their figures scaled to 10,000
  (calls per upload do not depend on the burst's size: the ``calls`` section measures them too).

Why not 10,000 messages through moto's SQS: its queues slow down with their depth (a queue of 10,000 takes it many
minutes to fill and drain), which would measure moto, not the design. For the same reason moto's TransactWriteItems
takes one snapshot of the table per transaction here, not one per action (``one_table_snapshot_per_transaction``).

Modelled time to all submitted (no AWS here, and moto's own speed says nothing of AWS's: its TransactWriteItems
takes seconds): each invocation costs its handler work measured here (its wall time minus the time spent inside AWS
calls, scaled to the function's CPU share as ``targets.submit_rate_model`` does) plus each AWS call it made at an
ASSUMED latency (``targets.COALESCE_ASSUMPTIONS``); submit_jobs' invocations run SubmitConcurrency at a time and
coalesce_uploads' at its MaximumConcurrency; the batching window is added whole (the last, partial batch waits for
it; a full batch goes at once); SubmitJob is capped at BATCH_SUBMIT_JOB_RATE (50/s, the account's limit). The
one-job-per-file path cannot beat its SubmitJob calls / 50 s. ``--quick`` (CI): 1,000 uploads, the same model.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from bench.common import AwsCalls, fake_aws_environment, progress, section_main
from bench.targets import coalesce_time_model

UPLOADS = 10_000
QUICK_UPLOADS = 1_000
SINGLE_SAMPLE = 300
QUICK_SINGLE_SAMPLE = 100
# The forwarding (S3 -> SubmitQueue -> submit_jobs -> the coalescing queue) is measured on this many uploads and scaled:
# moto's SQS slows down with the queue's depth (10,000 messages take it many minutes), and a forward costs the same
# per upload whatever the burst (one SendMessageBatch per 10 records, one invocation per SubmitBatchSize records).
FORWARD_SAMPLE = 1_000
QUICK_FORWARD_SAMPLE = 200
WINDOW_SECONDS = 60
MAX_ITEMS = 10_000
COALESCER = "CoalesceUploadsFunction"
SUBMITTER = "SubmitJobsFunction"
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
WORKLOADS_YAML = f"""
workloads:
  - name: frames
    match: {{prefix: frames/}}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 600
    coalesce: {{window_seconds: {WINDOW_SECONDS}, max_items: {MAX_ITEMS}}}
  - name: files
    match: {{prefix: files/}}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 600
"""


@contextmanager
def one_table_snapshot_per_transaction() -> Iterator[None]:
    """SIMULATED speed-up of moto (5.2.5): its TransactWriteItems deep-copies the whole table once per ACTION, before
    any action applies, to roll back on failure; those copies are identical, so one per table and transaction is taken
    here (the rollback is unchanged). Without it a burst of 10,000 keys costs moto 100 copies of the table per
    transaction, O(keys squared): hours of the emulator, nothing of the design."""
    import copy as real_copy

    from moto.dynamodb import models

    snapshots: dict[int, Any] = {}
    inside = [False]

    class _Copy:
        copy = staticmethod(real_copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if not inside[0]:
                return real_copy.deepcopy(value, memo)
            if id(value) not in snapshots:
                snapshots[id(value)] = real_copy.deepcopy(value, memo)
            return snapshots[id(value)]

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots.clear()
        inside[0] = True
        try:
            original(self, transact_items)
        finally:
            inside[0] = False
            snapshots.clear()

    with (
        mock.patch.object(models, "copy", _Copy),
        mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact_write_items),
    ):
        yield


def _put(stack: Any, keys: list[str]) -> None:
    s3, bucket = stack.client("s3"), stack.outputs["InputBucketName"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"frame\n")


class CallClock:
    """Seconds spent inside the package's AWS calls (moto's time), to tell the handlers' own work from it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started: list[float] = []

    def attach(self, clients: list[Any]) -> CallClock:
        for client in clients:
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)
        return self

    def _before(self, **_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started.pop()


CLOCK = CallClock()
WORK: defaultdict[str, float] = defaultdict(float)  # seconds of each function's handler call, AWS calls excluded


def _timed_loader(original: Any) -> Any:
    """``emulator.invoke.load_handler_module`` whose module's handler counts its own work in WORK: the emulator's
    module load, environment and configuration reads (what Lambda does once per container, or not at all) are not
    the handler's."""

    def load(stack: Any, logical_id: str) -> Any:
        module = original(stack, logical_id)
        handler = module.handler

        def timed(event: Any, context: Any) -> Any:
            began, inside = time.perf_counter(), CLOCK.seconds
            try:
                return handler(event, context)
            finally:
                WORK[logical_id] += time.perf_counter() - began - (CLOCK.seconds - inside)

        module.handler = timed
        return module

    return load


def _drain_submit_queue(stack: Any) -> tuple[int, float]:
    """submit_jobs until the SubmitQueue is empty: (invocations, seconds of handler work, AWS calls excluded)."""
    from emulator import deliver_sqs_batch

    invocations, before = 0, WORK[SUBMITTER]
    while True:
        delivery = deliver_sqs_batch(stack, SUBMITTER, raise_errors=True)
        if delivery.event is None:
            return invocations, WORK[SUBMITTER] - before
        invocations += 1
        assert delivery.failed == (), delivery.result


def _forwarded_messages(stack: Any) -> list[dict[str, Any]]:
    """The messages submit_jobs forwarded to the coalescing queue (received, so their attributes are SQS's)."""
    mapping = stack.event_source_mapping_for(COALESCER)
    sqs, url = stack.client("sqs"), stack.queue_url(mapping.event_source_arn)
    messages: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return messages
        messages += received


def _burst(sample: list[dict[str, Any]], uploads: int) -> list[dict[str, Any]]:
    """``uploads`` forwarded messages shaped as the sample's (SQS attributes, body: the same bucket and lengths of key,
    version id and sequencer), each of its own upload: what the coalescing queue holds after the burst. SIMULATED:
    not sent through moto's SQS, whose cost grows with the queue's depth (10,000 messages take it many minutes)."""
    from batch_orchestrator.coalesce import coalesce_message, parse_coalesce_message
    from batch_orchestrator.models import S3Source

    shape = parse_coalesce_message("sample", sample[0]["Body"])
    burst = []
    for number in range(uploads):
        template = sample[number % len(sample)]
        source = S3Source(
            bucket=shape.source.bucket,
            key=f"frames/{uuid.uuid4().hex}.png",
            version_id=uuid.uuid4().hex,
            sequencer=f"{number:020X}",
            size=shape.source.size,
            event_time=shape.source.event_time,
        )
        burst.append(
            {
                **template,
                "MessageId": str(uuid.uuid4()),
                "ReceiptHandle": uuid.uuid4().hex * 4,
                "Body": coalesce_message(workload="frames", source=source),
            }
        )
    return burst


def _coalesce_batches(stack: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SIMULATED mapping of the coalescing queue (module docstring): the burst cut into batches of BatchSize records
    or 6 MB of event, each one coalesce_uploads invocation on the stack."""
    from batch_orchestrator.limits import LAMBDA_SYNC_PAYLOAD
    from emulator import invoke_handler
    from emulator.invoke import sqs_event_from_messages

    mapping = stack.event_source_mapping_for(COALESCER)
    batches: list[dict[str, Any]] = []
    pending = list(messages)
    while pending:
        batch: list[dict[str, Any]] = []
        size = len(json.dumps({"Records": []}).encode())
        while pending and len(batch) < mapping.batch_size:
            grown = size + _record_size(stack, pending[0]) + 2  # ", " between records
            if grown > LAMBDA_SYNC_PAYLOAD.value:
                break  # Lambda leaves it for the next batch
            batch.append(pending.pop(0))
            size = grown
        event = sqs_event_from_messages(batch, mapping.event_source_arn, stack.region)
        before = WORK[COALESCER]
        result = invoke_handler(stack, COALESCER, event)
        assert not result.get("batchItemFailures"), result
        batches.append(
            {
                "records": len(batch),
                "event_bytes": len(json.dumps(event).encode()),
                "seconds": round(WORK[COALESCER] - before, 3),  # the handler's own work
            }
        )
    return batches


def _record_size(stack: Any, message: dict[str, Any]) -> int:
    from emulator.invoke import sqs_event_from_messages

    arn = stack.event_source_mapping_for(COALESCER).event_source_arn
    return len(json.dumps(sqs_event_from_messages([message], arn, stack.region)["Records"][0]).encode())


def _counter() -> AwsCalls:
    """The package's clients, S3's among them (the coalescer's PutObject of each manifest)."""
    from batch_orchestrator.adapters import aws

    counter = AwsCalls().attach()
    s3 = aws.client("s3")
    s3.meta.events.register("before-call", counter._before_call)
    s3.meta.events.register("after-call", counter._after_call)
    clients = [aws.client(service) for service in ("dynamodb", "sqs", "sns", "batch", "s3")]
    CLOCK.attach([*clients, aws.submit_client()])
    return counter


def run(quick: bool) -> dict[str, Any]:
    from moto import mock_aws

    from batch_orchestrator.adapters import aws
    from batch_orchestrator.limits import BATCH_SUBMIT_JOB_RATE, LAMBDA_SYNC_PAYLOAD
    from emulator import deploy_stack
    from emulator.stack import MOTO_CONFIG
    from emulator.template import render_workloads
    from workload_table.render_coalesce import COALESCE_CONCURRENCY

    uploads = QUICK_UPLOADS if quick else UPLOADS
    sample = QUICK_SINGLE_SAMPLE if quick else SINGLE_SAMPLE
    forward_sample = QUICK_FORWARD_SAMPLE if quick else FORWARD_SAMPLE
    fake_aws_environment()
    from emulator import invoke

    with (
        mock.patch.object(invoke, "load_handler_module", _timed_loader(invoke.load_handler_module)),
        mock_aws(config=MOTO_CONFIG),
    ):
        aws.reset_clients()
        stack = deploy_stack({}, rendered=render_workloads(WORKLOADS_YAML))
        _drain_submit_queue(stack)  # S3's test event
        submit_concurrency = int(stack.event_source_mapping_for(SUBMITTER).maximum_concurrency or 2)
        memory_mb = int(stack.function_configuration(COALESCER)["MemorySize"])
        counter = _counter()

        progress(f"coalesce: {forward_sample:,} uploads forwarded by submit_jobs (the forwarding, measured)")
        _put(stack, [f"frames/{uuid.uuid4().hex}.png" for _ in range(forward_sample)])
        with counter.window() as forward_window:
            forward_invocations, forward_seconds = _drain_submit_queue(stack)
        forwarded = _forwarded_messages(stack)
        assert len(forwarded) == forward_sample, len(forwarded)
        progress(f"coalesce: a burst of {uploads:,} on the coalescing queue, in batches of BatchSize or 6 MB")
        with counter.window() as coalesce_window, one_table_snapshot_per_transaction():
            batches = _coalesce_batches(stack, _burst(forwarded, uploads))

        progress(f"coalesce: {sample} uploads to a one-job-per-file workload")
        _put(stack, [f"files/{uuid.uuid4().hex}.png" for _ in range(sample)])
        with counter.window() as single_window:
            single_invocations, _ = _drain_submit_queue(stack)

        pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.outputs["RunsTableName"])
        runs = [
            item
            for page in pages
            for item in page["Items"]
            if "status" in item and item.get("workload", {}).get("S") == "frames"
        ]
        children = sum(int(item["arraySize"]["N"]) for item in runs)
        aws.reset_clients()

    forward_scale = uploads / forward_sample
    forward_calls = {name: round(count * forward_scale) for name, count in forward_window.calls.items()}
    coalesce_calls = Counter(forward_calls) + coalesce_window.calls
    single = single_window.per(sample)
    scale = uploads / sample
    record_bytes = max(b["event_bytes"] / b["records"] for b in batches)
    submit_jobs = coalesce_calls.get("batch:SubmitJob", 0)
    rate = BATCH_SUBMIT_JOB_RATE.value
    model = coalesce_time_model(
        forward_work_seconds=forward_seconds * forward_scale,
        forward_calls=forward_calls,
        coalesce_work_seconds=sum(b["seconds"] for b in batches),
        coalesce_calls=dict(coalesce_window.calls),
        memory_mb=memory_mb,
        submit_concurrency=submit_concurrency,
        coalesce_concurrency=COALESCE_CONCURRENCY,
        window_seconds=WINDOW_SECONDS,
        submit_jobs=submit_jobs,
    )
    return {
        "uploads": uploads,
        "window_seconds": WINDOW_SECONDS,
        "max_items": MAX_ITEMS,
        "coalescing": {
            "submit_jobs": submit_jobs,
            "runs": len(runs),
            "children": children,
            "submit_jobs_invocations": round(forward_invocations * forward_scale),
            "forwarding_measured_on": forward_sample,
            "coalescer_invocations": len(batches),
            "records_per_invocation": [b["records"] for b in batches],
            "largest_event_bytes": max(b["event_bytes"] for b in batches),
            "record_bytes": round(record_bytes),
            "records_per_6mb": LAMBDA_SYNC_PAYLOAD.value // round(record_bytes),
            "aws_calls": dict(sorted(coalesce_calls.items())),
            "dynamodb_writes": sum(n for op, n in coalesce_calls.items() if op.split(":")[1] in DYNAMODB_WRITES),
            "failed_conditional_writes": sum(
                (forward_window.failed_conditions + coalesce_window.failed_conditions).values()
            ),
            "calls_per_upload": round(sum(coalesce_calls.values()) / uploads, 3),
            "modelled": model,
        },
        "one_job_per_file": {
            "measured_uploads": sample,
            "submit_jobs": round(single["by_operation"].get("batch:SubmitJob", 0) * uploads),
            "submit_jobs_invocations": math.ceil(single_invocations * scale),
            "dynamodb_writes": round(
                sum(n for op, n in single["by_operation"].items() if op.split(":")[1] in DYNAMODB_WRITES) * uploads
            ),
            "calls_per_upload": single["calls"],
            "by_operation_per_upload": single["by_operation"],
            "modelled_seconds_at_least": round(single["by_operation"].get("batch:SubmitJob", 0) * uploads / rate),
        },
        "concurrency": {"submit_jobs": submit_concurrency, "coalesce_uploads": COALESCE_CONCURRENCY},
        "simulated": "AWS APIs: in-process moto; the SQS event source mappings: deliver_sqs_batch (SubmitQueue) and "
        "this module's batches of BatchSize or 6 MB (coalescing queue); times: modelled from the handlers' wall time "
        "here, the window and 50 SubmitJob/s",
    }


if __name__ == "__main__":
    section_main(run)
