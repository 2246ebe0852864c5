"""Fixtures for the operator CLI tests: the moto stack of template.yaml (shared with the integration
tests) and helpers that play the pipeline the CLI acts on: uploads, the submit function, Batch events.

The CLI is called in-process through ``orchestrator_cli.main.main(argv)``; ``cli`` returns its exit
code with what it printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source
from emulator import EmulatedStack, deliver_sqs_batch, invoke_handler
from emulator.batch_events import attempt_entry, job_state_change
from orchestrator_cli.main import main
from tests.integration.conftest import aws_env, stack, stack_parameters

__all__ = ["aws_env", "stack", "stack_parameters"]  # fixtures, re-exported for pytest

SUBMIT_FUNCTION = "SubmitJobsFunction"
TRACK_FUNCTION = "TrackJobsFunction"


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """``cli("runs", "list", stack=stack)``: runs the CLI against ``stack`` (or with no stack name)."""

    def run(*argv: str, stack: EmulatedStack | None = None) -> CliResult:
        capsys.readouterr()  # forget what the test printed before
        prefix = ["--stack-name", stack.name] if stack is not None else []
        code = main([*prefix, *argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


# ------------------------------------------------------------------------------ playing the pipeline
def input_bucket(stack: EmulatedStack) -> str:
    return stack.outputs["InputBucketName"]


def upload(stack: EmulatedStack, key: str, body: bytes = b"a,b\n1,2\n") -> S3Source:
    """Put an object in the input bucket; its S3 notification goes to the SubmitQueue (as on AWS)."""
    bucket = input_bucket(stack)
    version_id = stack.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    return S3Source(bucket=bucket, key=key, version_id=version_id)


def drain_submit_queue(stack: EmulatedStack) -> int:
    """Run the submit function until the SubmitQueue is empty; returns how many messages it handled."""
    handled = 0
    for _ in range(20):
        delivery = deliver_sqs_batch(stack, SUBMIT_FUNCTION, raise_errors=True)
        if delivery.event is None:
            return handled
        handled += delivery.size
    raise AssertionError("the SubmitQueue did not drain")


def start_run(stack: EmulatedStack, key: str = "incoming/report.csv") -> str:
    """Upload a file and let the submit function start its run; returns the run id."""
    source = upload(stack, key)
    drain_submit_queue(stack)
    return run_id_for(source)


def runs_table(stack: EmulatedStack) -> str:
    return stack.outputs["RunsTableName"]


def read_run(stack: EmulatedStack, run_id: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    item = stack.client("dynamodb").get_item(
        TableName=runs_table(stack), Key={"runId": {"S": run_id}}, ConsistentRead=True
    )["Item"]
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def jobs_of(stack: EmulatedStack, run_id: str) -> list[dict[str, Any]]:
    """Every Batch job of the run (all attempts), found by the run id that starts its name."""
    response = stack.client("batch").list_jobs(
        jobQueue=stack.outputs["JobQueueArn"], filters=[{"name": "JOB_NAME", "values": [f"{run_id}*"]}]
    )
    return list(response["jobSummaryList"])


def finish_attempt(
    stack: EmulatedStack,
    run_id: str,
    status: str,
    *,
    exit_code: int | None = None,
    reason: str | None = None,
    log_stream: str | None = "sample/default/0123456789abcdef",
    job_name: str | None = None,
) -> dict[str, Any]:
    """Send the track function the Batch event of the run's current job (or of ``job_name``) reaching ``status``."""
    name = job_name or read_run(stack, run_id)["jobName"]
    (summary,) = [job for job in jobs_of(stack, run_id) if job["jobName"] == name]
    (job,) = stack.client("batch").describe_jobs(jobs=[summary["jobId"]])["jobs"]
    attempts = []
    if status in ("SUCCEEDED", "FAILED"):
        attempts = [attempt_entry(exit_code=exit_code, reason=reason, log_stream_name=log_stream)]
    event = job_state_change(
        job,
        status,
        region=stack.region,
        account=stack.account_id,
        exit_code=exit_code,
        container_reason=reason,
        attempts=attempts,
        log_stream_name=log_stream,
    )
    invoke_handler(stack, TRACK_FUNCTION, event)
    return read_run(stack, run_id)


def discard_submit_queue(stack: EmulatedStack) -> int:
    """Delete what is on the SubmitQueue without handling it, as if S3's notifications had been lost."""
    sqs = stack.client("sqs")
    url = stack.outputs["SubmitQueueUrl"]
    discarded = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        discarded += len(messages)
    return discarded
