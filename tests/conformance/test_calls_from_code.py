"""The request table's function entries come from the code, not from memory.

Proven here:
* statically, every API operation the adapters name (``client("svc").op``, ``submit_client().op``,
  ``get_paginator("op")``) is mapped to IAM requests in ``calls.OPERATIONS``;
* dynamically, while the integration flows run in moto (uploads, a retry, a final failure with its
  alert, a schedule firing, SubmitJob outcomes left unknown and recovered, a watchdog sweep that
  reconciles, resubmits a stale claim and terminates a job stuck in RUNNABLE; on a second stack with
  array workloads, an uploaded manifest read and an array that FAILED; on a third with a coalescing workload, a
  burst forwarded, coalesced and submitted, and a batch whose SubmitJob outcome was unknown recovered through a
  duplicate notification; the runs table's stream of all of them read by publish_events), each function makes
  only calls its ``FUNCTION_OPERATIONS`` entry lists (attributed by the Lambda environment the
  handler runs in), queries only the index the table names, and every entry is made at least once.

Not proven: calls made on paths the flows do not reach are only covered by the static scan (the
operation is mapped, but which function could make it rests on the table); moto accepts every call
whatever its permissions (test_permissions.py evaluates those).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ConnectionClosedError
from moto import mock_aws

from batch_orchestrator.adapters import aws
from batch_orchestrator.adapters.run_items import ACTIVE_RUNS_INDEX
from batch_orchestrator.coalesce import coalesce_message
from batch_orchestrator.timeutil import utcnow
from emulator import EmulatedStack, deliver_sqs_batch, deploy_stack, invoke_handler
from emulator.batch_event_builder import queue_blocked
from emulator.stack import MOTO_CONFIG
from emulator.stream_source import deliver_stream_records
from emulator.template import render_workloads
from tests.conformance.calls import (
    FUNCTION_OPERATIONS,
    OPERATIONS,
    RENDERED_FUNCTION_OPERATIONS,
    adapter_operations,
    functions_of,
)
from tests.support.events import load_event
from tests.support.runs import all_jobs, deliver_all, drain_test_event, job_event, track, upload

pytestmark = pytest.mark.slow  # runs every function's flows in moto to record its calls

# The second stack's table: an array whose size is the uploaded manifest's (its submit reads the object).
ARRAY_WORKLOADS = """
workloads:
  - name: chunks
    match: {prefix: chunks/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    array: {manifest: upload}
  - name: drops
    match: {prefix: drops/, suffix: /_READY}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    array: {manifest: upload-directory}
"""

# The third stack's table: a coalescing workload (coalesce_uploads exists, submit_jobs forwards its uploads).
COALESCE_WORKLOADS = """
workloads:
  - name: frames
    match: {prefix: frames/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    coalesce: {window_seconds: 1, max_items: 10}
"""
ALL_FUNCTION_OPERATIONS = FUNCTION_OPERATIONS | RENDERED_FUNCTION_OPERATIONS

# The flows need every optional call switched on and retries that are due at once.
FLOW_PARAMETERS = {
    "CancelStuckRunnableAfterMinutes": "60",
    "RetryExitCodes": "75",
    "MaxAttempts": "2",
    "RetryBaseDelaySeconds": "0",
}


HERMETIC = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


# ------------------------------------------------------------------------------------------ static
def test_every_operation_the_adapters_call_is_mapped_to_iam_requests() -> None:
    # Given every API operation named in the adapters' source
    found = adapter_operations()

    # When each is looked up in the request table
    unmapped = sorted({f"{call.key} ({call.where})" for call in found if call.key not in OPERATIONS})

    # Then none is missing, and the scan saw the calls we know are there
    assert unmapped == [], "map these operations to IAM requests in tests/conformance/calls.py OPERATIONS"
    assert {"batch.SubmitJob", "batch.ListJobs", "dynamodb.Query", "sns.Publish"} <= {call.key for call in found}


def test_every_mapped_operation_is_still_called_by_the_code() -> None:
    # Given the request table's operations and the code's
    called = {call.key for call in adapter_operations()}

    # Then the table holds nothing the code no longer calls (a stale entry would hide nothing, but rots)
    assert sorted(set(OPERATIONS) - called) == []


def test_the_scan_finds_a_client_call_in_new_code(tmp_path: Any) -> None:
    # Given an adapter module that calls an operation the table does not map
    (tmp_path / "extra.py").write_text(
        'from batch_orchestrator.adapters.aws import client\n\ndef f():\n    client("sqs").purge_queue(QueueUrl="u")\n',
        encoding="utf-8",
    )

    # When it is scanned
    (call,) = adapter_operations(tmp_path)

    # Then the operation is named, and it is not in the table
    assert (call.key, call.where) == ("sqs.PurgeQueue", "extra.py:4")
    assert call.key not in OPERATIONS


# ------------------------------------------------------------------------------------------ dynamic
class Recorder:
    """Every API call of the shared package's clients, attributed to the function whose handler runs.

    A botocore ``before-call`` hook on the package's session: the clients are created from it after it
    is registered, so each of them carries the hook. The function is the AWS_LAMBDA_FUNCTION_NAME that
    ``invoke_handler`` puts in the environment for the duration of the handler.
    """

    def __init__(self, functions: dict[str, str]) -> None:
        self._functions = functions  # function name -> logical id
        self.calls: dict[str, set[str]] = defaultdict(set)
        self.indexes: set[str | None] = set()

    def attach(self) -> None:
        aws.reset_clients()
        aws._session().register("before-call", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if name is None:
            return
        key = f"{model.service_model.service_name}.{model.name}"
        self.calls[self._functions.get(name, f"unknown function {name}")].add(key)
        if key == "dynamodb.Query":
            self.indexes.add(json.loads(params["body"]).get("IndexName"))


@contextmanager
def clock(at: datetime) -> Iterator[None]:
    """The handlers read ``timeutil.utcnow`` when their module loads (each invocation loads it afresh)."""
    with mock.patch("batch_orchestrator.timeutil.utcnow", return_value=at):
        yield


@contextmanager
def unknown_submit_outcome(marker: str) -> Iterator[None]:
    """SubmitJob of a job whose name contains ``marker`` fails with a dropped connection: the claim stays
    without a job id, as after a crash, and is recovered once its lease expires."""

    def fail(params: dict[str, Any], **_: Any) -> None:
        if marker in params["jobName"]:
            raise ConnectionClosedError(endpoint_url="https://batch.us-east-1.amazonaws.com")

    events = aws.submit_client().meta.events
    events.register("before-parameter-build.batch.SubmitJob", fail)
    try:
        yield
    finally:
        events.unregister("before-parameter-build.batch.SubmitJob", fail)


def set_runnable(stack: EmulatedStack, job_id: str, reason: str) -> None:
    """SIMULATED: moto's Batch (no Docker) ends jobs at once; make DescribeJobs report a waiting job."""
    from moto.batch.models import batch_backends

    job = batch_backends[stack.account_id][stack.region].get_job_by_id(job_id)
    assert job is not None, f"moto has no job {job_id}"
    job.status, job.job_stopped_reason, job.job_stopped, job.attempts, job.latest_attempt = (
        "RUNNABLE",
        reason,
        False,
        [],
        None,
    )


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorder]:
    """One stack, every flow, recorded once for the module (the root conftest's settings, made here
    because a module-scoped fixture runs before the function-scoped ones)."""
    with pytest.MonkeyPatch.context() as patch, mock_aws(config=MOTO_CONFIG):
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in HERMETIC.items():
            patch.setenv(name, value)
        aws.reset_clients()
        stack = deploy_stack(FLOW_PARAMETERS)
        arrays = deploy_stack(FLOW_PARAMETERS, stack_name="arrays", rendered=render_workloads(ARRAY_WORKLOADS))
        coalescing = deploy_stack(FLOW_PARAMETERS, stack_name="coalesce", rendered=render_workloads(COALESCE_WORKLOADS))
        recorder = Recorder(
            {
                s.function_name(f): f
                for s in (stack, arrays, coalescing)
                for f in functions_of(set(s.resources) & set(ALL_FUNCTION_OPERATIONS))
            }
        )
        recorder.attach()
        run_every_flow(stack)
        run_array_flows(arrays)
        run_coalesce_flows(coalescing)
        # The runs table's stream, with every write of those flows, read by publish_events (PutEvents).
        for each in (stack, arrays, coalescing):
            deliver_stream_records(each, "PublishEventsFunction")
        yield recorder
        aws.reset_clients()


def run_every_flow(stack: EmulatedStack) -> None:
    start = utcnow()
    drain_test_event(stack)
    # Uploads: claimed (PutItem) and submitted (SubmitJob, tagged).
    for key in ("incoming/ok.csv", "incoming/broken.csv", "incoming/flaky.csv", "incoming/stuck.csv"):
        upload(stack, key)
    deliver_all(stack)
    jobs = {job["jobName"].rsplit("-", 1)[-1].removesuffix("_csv"): job for job in all_jobs(stack)}
    # A SubmitJob whose outcome is unknown leaves a claim without a job (its message stays in flight).
    with unknown_submit_outcome("lost"):
        upload(stack, "incoming/lost.csv")
        deliver_sqs_batch(stack, "SubmitJobsFunction")
    # Events: success, a final failure (alert), a retryable failure (retry request), a job waiting for capacity.
    track(stack, job_event(stack, jobs["ok"], "SUCCEEDED", exit_code=0))
    track(stack, job_event(stack, jobs["broken"], "FAILED", exit_code=3))
    track(stack, job_event(stack, jobs["flaky"], "FAILED", exit_code=75))
    set_runnable(stack, jobs["stuck"]["jobId"], "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY")
    track(stack, job_event(stack, jobs["stuck"], "RUNNABLE", status_reason="CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"))
    # The queue blocked by that job: its one alert is leased (PutItem), published, confirmed (UpdateItem).
    reason = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement is higher than the CE allows."
    track(stack, queue_blocked(jobs["stuck"], region=stack.region, account=stack.account_id, status_reason=reason))
    deliver_all(stack)  # attempt 2 of flaky: the retry claim (UpdateItem) and SubmitJob
    # A schedule firing whose SubmitJob outcome is unknown, delivered again after the claim's lease.
    firing = load_event("schedule_firing.json")
    with unknown_submit_outcome("sch-"), pytest.raises(Exception, match="outcome unknown"):
        invoke_handler(stack, "SubmitScheduledFunction", firing)
    with clock(start + timedelta(minutes=20)):
        invoke_handler(stack, "SubmitScheduledFunction", firing)  # takes the claim over, ListJobs, SubmitJob
    # The watchdog an hour later: reconciles, terminates the stuck job, resubmits the lost claim.
    with clock(start + timedelta(minutes=61)):
        invoke_handler(stack, "WatchdogFunction", load_event("watchdog_schedule.json"))
        deliver_all(stack)  # the resubmission: the stale claim is taken over, ListJobs, SubmitJob


def run_array_flows(stack: EmulatedStack) -> None:
    """An uploaded manifest of two items: read (GetObject), submitted as an array job; its parent FAILED: the
    tracker lists its failed children (ListJobs). SIMULATED: moto ends every child SUCCEEDED at once, so none is
    listed and the array is judged as one job."""
    drain_test_event(stack)
    upload(stack, "chunks/items.txt", b"a.csv\nb.csv\n")
    deliver_all(stack)
    (parent,) = [job for job in all_jobs(stack) if ":" not in job["jobId"]]  # not its children
    assert parent["arrayProperties"]["size"] == 2
    track(stack, job_event(stack, parent, "FAILED"))
    # A directory of two objects and its marker: listed (ListObjectsV2), its listing written once (PutObject).
    for key in ("drops/2026-12-01/a.csv", "drops/2026-12-01/b.csv", "drops/2026-12-01/_READY"):
        upload(stack, key, b"x\n")
    deliver_all(stack)
    parents = [job for job in all_jobs(stack) if ":" not in job["jobId"] and "READY" in job["jobName"]]
    assert [job["arrayProperties"]["size"] for job in parents] == [2]


def run_coalesce_flows(stack: EmulatedStack) -> None:
    """A burst of two uploads to a coalescing workload: forwarded by submit_jobs (SendMessageBatch), their keys claimed
    (TransactWriteItems), the manifest written (PutObject), the batch run claimed (PutItem) and submitted. Then a
    batch whose SubmitJob outcome is unknown, and a duplicate of its upload 20 minutes later: the key is taken by a
    run that exists (GetItem), whose stale claim is taken over (UpdateItem), looked up (ListJobs) and submitted."""
    coalesce = "CoalesceUploadsFunction"
    drain_test_event(stack)
    start = utcnow()
    upload(stack, "frames/a.txt")
    upload(stack, "frames/b.txt")
    deliver_all(stack)
    assert deliver_sqs_batch(stack, coalesce, raise_errors=True).failed == ()
    with unknown_submit_outcome("_json"):  # a batch's job name ends in its manifest's, <batch id>.json
        late = upload(stack, "frames/c.txt")
        deliver_all(stack)
        assert deliver_sqs_batch(stack, coalesce, raise_errors=True).failed != ()
    stack.client("sqs").send_message(
        QueueUrl=stack.queue_url(stack.event_source_mapping_for(coalesce).event_source_arn),
        MessageBody=coalesce_message(workload="frames", source=late),
    )
    with clock(start + timedelta(minutes=20)):
        assert deliver_sqs_batch(stack, coalesce, raise_errors=True).failed == ()
    assert len([job for job in all_jobs(stack) if ":" not in job["jobId"]]) == 2


Table = dict[str, dict[str, str | None]]


def unlisted(calls: dict[str, set[str]], table: Table) -> dict[str, list[str]]:
    """Per function, the calls it made that its table entry lacks."""
    return {f: sorted(made - set(table.get(f, {}))) for f, made in calls.items() if made - set(table.get(f, {}))}


def unexercised(calls: dict[str, set[str]], table: Table) -> dict[str, list[str]]:
    """Per function, the table entries it never made."""
    return {f: sorted(set(ops) - calls.get(f, set())) for f, ops in table.items() if set(ops) - calls.get(f, set())}


def test_each_function_makes_only_the_calls_its_table_entry_lists(recorded: Recorder) -> None:
    # Given the calls each function made while every flow ran
    # When they are compared with the request table
    extra = unlisted(recorded.calls, ALL_FUNCTION_OPERATIONS)

    # Then no function made a call its entry lacks, every function ran, and the only index queried is the table's
    assert extra == {}, "add these calls to FUNCTION_OPERATIONS (tests/conformance/calls.py)"
    assert set(recorded.calls) == set(ALL_FUNCTION_OPERATIONS)
    assert recorded.indexes == {ACTIVE_RUNS_INDEX}


def test_every_call_in_the_table_is_made_by_the_flows(recorded: Recorder) -> None:
    # Given the calls each function made
    # Then every entry of the table was exercised at least once (an entry nobody makes is a guess)
    assert unexercised(recorded.calls, ALL_FUNCTION_OPERATIONS) == {}


def test_a_call_missing_from_the_table_is_reported() -> None:
    # Given a function that made a call its entry lacks, and an entry nobody made
    calls = {"TrackJobsFunction": {"dynamodb.UpdateItem", "dynamodb.DeleteItem"}}
    table: Table = {"TrackJobsFunction": {"dynamodb.UpdateItem": None, "sns.Publish": None}}

    # Then both comparisons name them
    assert unlisted(calls, table) == {"TrackJobsFunction": ["dynamodb.DeleteItem"]}
    assert unexercised(calls, table) == {"TrackJobsFunction": ["sns.Publish"]}
