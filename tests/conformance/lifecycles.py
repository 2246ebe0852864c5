# Over 400 lines on purpose: support code, no tests: one lifecycle per limit family, recorded once per session.
"""The requests this code sends stay within the AWS limits that moto does not enforce.

moto accepts a 200-character job name, a 2 MB SQS message or a 1 MB DynamoDB item; AWS does not.
So the real code that BUILDS each request is driven with the longest inputs AWS allows, and what it
would send is checked against the limits recorded (with their sources) in batch_orchestrator.limits:

* a run through all MAX_ATTEMPTS_LIMIT attempts, for S3 keys of 1,024 UTF-8 bytes (multi-byte
  characters, characters Batch refuses in job names) with a 1,024-byte version ID, and for a schedule
  name of 64 characters, every attempt failing with a retryable exit code after the longest backoff
  and with reasons far longer than Batch documents (statusReason has no documented maximum;
  container.reason is documented at 255 characters and is sent at 100,000 anyway), and a log stream
  name of the CloudWatch Logs maximum. The submit path (parse_submit_message -> submit_run ->
  BatchJobs.submit), the tracker (parse_job_state_change -> apply_job_event -> SubmitQueue.send_retry
  / AlertsTopic.publish) and the runs table (RunsTable, on moto's DynamoDB) run for real;
* each SubmitJob, SendMessage and Publish is recorded as botocore is about to send it (its
  parameters, and its serialised body) and answered locally, so no request leaves the process;
* the run's final DynamoDB item is read back and sized by DynamoDB's documented rules.

Every checker (tests/conformance/limit_checks.py) is also shown to reject an input one byte,
character or tag over its limit, so no check here passes by being unable to fail.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest
import yaml
from moto import mock_aws

from batch_orchestrator.adapters.alerts_topic import AlertsTopic
from batch_orchestrator.adapters.aws import client, reset_clients, submit_client
from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.run_items import from_attribute_values, run_from_item
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.adapters.submit_queue import SubmitQueue
from batch_orchestrator.batch_events import parse_job_state_change
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.limits import (
    LOG_STREAM_NAME,
    NAME_RULES,
    S3_MAX_KEY_BYTES,
    S3_MAX_VERSION_ID_BYTES,
    SQS_MAX_DELAY,
)
from batch_orchestrator.models import JobObservation, Run, S3Source, ScheduleSource, Source, SubmitRequest
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT, RetryPolicy
from batch_orchestrator.submit import SubmitSettings, submit_run
from batch_orchestrator.submit_messages import parse_submit_message
from batch_orchestrator.tracking import TrackSettings, apply_job_event
from tests.conformance.limit_checks import utf8_len

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# ------------------------------------------------------------------------------------------------
# The longest inputs AWS allows
# ------------------------------------------------------------------------------------------------
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_NAME = "S" + "tack-" * 25 + "xy"  # 128 characters, CloudFormation's maximum
BUCKET = "batch-orch-input-" + "b" * 45 + "0"  # 63 characters, S3's maximum for a bucket name
INPUT_PREFIX = "incoming/"
JOB_QUEUE_ARN = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/" + "Q" * 128
JOB_DEFINITION_ARN = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/" + "D" * 128 + ":2147483647"
JOB_LOG_GROUP = f"/aws/batch/{STACK_NAME}-jobs"  # the template's JobLogGroup
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK_NAME}-SubmitQueue-ABCDEFGHIJKL"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK_NAME}-AlertsTopic-ABCDEFGHIJKL"
TABLE = "runs"
RETRYABLE_EXIT_CODE = 75

# Version IDs are "URL-ready, opaque strings that are no more than 1,024 bytes long".
VERSION_ID = ("3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY._" * 40)[: S3_MAX_VERSION_ID_BYTES.value]
# S3 documents no length for a sequencer (real ones are about 18 hex digits): 64 is generous.
SEQUENCER = "0A" * 32
# Batch documents no maximum for statusReason, and container.reason is "255 max": both are sent far
# longer, in 4-byte characters, so whatever the run record keeps of them is as large as it can be.
LONG_REASON = "CannotPullContainerError: " + "\U0001f6ab" * 100_000
# A CloudWatch Logs stream name of the maximum length, in 4-byte characters.
LOG_STREAM = "batch-orchestrator/default/" + "\U0001d50f" * (LOG_STREAM_NAME.max_length - 27)


def key_of(body: str, *, pad: str = "x") -> str:
    """``incoming/`` + ``body`` repeated, cut and padded with ``pad`` to exactly S3's 1,024 bytes of UTF-8."""
    key = INPUT_PREFIX
    for ch in itertools.cycle(body):
        if utf8_len(key + ch) > S3_MAX_KEY_BYTES.value:
            break
        key += ch
    return key + pad * (S3_MAX_KEY_BYTES.value - utf8_len(key))


def s3_source(key: str) -> S3Source:
    return S3Source(
        bucket=BUCKET,
        key=key,
        version_id=VERSION_ID,
        sequencer=SEQUENCER,
        size=2**63 - 1,
        event_time="2026-11-21T10:14:58.123Z",
    )


# Every character Batch refuses in a job name, ASCII control characters included.
REFUSED_IN_NAMES = " !\"#$%&'()*+,./:;<=>?@[\\]^`{|}~\t\n\x01\x7f"
SOURCES: dict[str, Source] = {
    "s3 key of 2-, 3- and 4-byte characters": s3_source(key_of("rapport été 2026 \u2013 データ 😀 ")),
    "s3 key of characters refused in job names": s3_source(key_of(REFUSED_IN_NAMES)),
    "s3 key of 4-byte characters only": s3_source(key_of("😀")),
    "s3 key whose base name is all separators": s3_source(key_of("/_-", pad="-")),
    "schedule name of 64 characters": ScheduleSource(
        schedule_name=("Nightly.batch_orchestrator-" * 3)[
            : NAME_RULES[("AWS::Scheduler::Schedule", "Name")].max_length
        ],
        scheduled_time="2026-11-21T03:00:00Z",
    ),
}
RETRY_POLICY = RetryPolicy.from_settings(
    retry_exit_codes=f"3,{RETRYABLE_EXIT_CODE},137-143",
    max_attempts=str(MAX_ATTEMPTS_LIMIT),
    base_delay_seconds=str(SQS_MAX_DELAY.value),
    max_delay_seconds=str(SQS_MAX_DELAY.value),
)
START = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------
# Recording what botocore would send
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One API call as the code made it: ``params`` as passed, ``body`` as serialised for the wire."""

    operation: str
    params: dict[str, Any]
    body: bytes


@dataclass
class Recorder:
    """Answers one botocore client's calls locally (a ``before-call`` handler) and records them."""

    answer: Callable[[str, Mapping[str, Any]], dict[str, Any]]
    calls: list[Call] = field(default_factory=list)
    _params: dict[str, Any] = field(default_factory=dict)

    def attach(self, aws_client: Any) -> Recorder:
        aws_client.meta.events.register("before-parameter-build", self._before_parameter_build)
        aws_client.meta.events.register("before-call", self._before_call)
        return self

    def of(self, operation: str) -> list[Call]:
        return [call for call in self.calls if call.operation == operation]

    def _before_parameter_build(self, params: dict[str, Any], **_: Any) -> None:
        self._params = copy.deepcopy(params)

    def _before_call(self, params: dict[str, Any], model: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
        body = params.get("body", b"")
        if isinstance(body, Mapping):  # query protocol (SNS): form fields, encoded later by botocore
            body = urlencode(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.calls.append(Call(model.name, self._params, body))
        return SimpleNamespace(status_code=200, headers={}, raw=None), self.answer(model.name, self._params)


def _answer(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if operation == "SubmitJob":
        job_id = str(uuid.uuid4())
        return {
            "jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}",
            "jobName": params["jobName"],
            "jobId": job_id,
        }
    if operation == "SendMessage":
        md5 = hashlib.md5(params["MessageBody"].encode("utf-8")).hexdigest()
        return {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": md5}
    if operation == "Publish":
        return {"MessageId": str(uuid.uuid4())}
    raise AssertionError(f"unexpected call {operation}")


@pytest.fixture
def recorded() -> Callable[[str], Recorder]:
    """Attaches a recorder to the adapters' cached client of a service (the conftest resets the cache)."""

    def attach(service: str) -> Recorder:
        return Recorder(_answer).attach(client(service))

    return attach


# ------------------------------------------------------------------------------------------------
# One run through every attempt
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lifecycle:
    """What the code sent for one run that failed every attempt, and the run's final item."""

    submit_jobs: list[Call]
    retry_messages: list[Call]
    alerts: list[Call]
    item: dict[str, Any]  # as DynamoDB holds it (attribute values)
    run: Run  # the same, as the runs table reads it


def _s3_notification(source: S3Source) -> str:
    """The SubmitQueue message S3 sends for the upload (its key URL-encoded, "+" for a space)."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": source.event_time,
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": source.bucket, "arn": f"arn:aws:s3:::{source.bucket}"},
            "object": {
                "key": quote_plus(source.key, safe="/"),
                "size": source.size,
                "versionId": source.version_id,
                "sequencer": source.sequencer,
            },
        },
    }
    return json.dumps({"Records": [record]})


def failed_event(submitted: Call, job_id: str, at: datetime) -> dict[str, Any]:
    """Batch's FAILED event for a submitted job: retryable exit code, the longest reasons and stream."""
    started = int(at.timestamp() * 1000)
    container = {"exitCode": RETRYABLE_EXIT_CODE, "reason": LONG_REASON, "logStreamName": LOG_STREAM}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": ACCOUNT,
        "time": at.isoformat(),
        "region": REGION,
        "resources": [f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}"],
        "detail": {
            "jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}",
            "jobName": submitted.params["jobName"],
            "jobId": job_id,
            "jobQueue": submitted.params["jobQueue"],
            "jobDefinition": submitted.params["jobDefinition"],
            "status": "FAILED",
            "statusReason": LONG_REASON,
            "attempts": [
                {
                    "container": dict(container),
                    "startedAt": started,
                    "stoppedAt": started + 1,
                    "statusReason": LONG_REASON,
                }
            ],
            "createdAt": started - 1,
            "startedAt": started,
            "stoppedAt": started + 1,
            "container": dict(container),
            "tags": dict(submitted.params["tags"]),
            "propagateTags": True,
            "platformCapabilities": ["FARGATE"],
        },
    }


def _run_every_attempt(source: Source, batch: Recorder, sqs: Recorder, sns: Recorder) -> Lifecycle:
    runs = RunsTable(TABLE, retention_days=90)
    jobs = BatchJobs(sleep=lambda _: None)
    submit_settings = SubmitSettings(
        job_queue=JOB_QUEUE_ARN,
        job_definition=JOB_DEFINITION_ARN,
        max_attempts=MAX_ATTEMPTS_LIMIT,
        claim_lease_seconds=900,
    )
    track_settings = TrackSettings(
        policy=RETRY_POLICY, side_effect_lease_seconds=300, region=REGION, job_log_group=JOB_LOG_GROUP
    )
    first = (len(batch.calls), len(sqs.calls), len(sns.calls))
    if isinstance(source, S3Source):
        (request,) = parse_submit_message(_s3_notification(source), input_prefix=INPUT_PREFIX)
        assert isinstance(request, SubmitRequest)
        assert request.source == source
    else:
        request = SubmitRequest(run_id=run_id_for(source), attempt=1, source=source)
    now = START
    for attempt in range(1, MAX_ATTEMPTS_LIMIT + 1):
        assert request.attempt == attempt
        submitted = submit_run(request, runs=runs, jobs=jobs, settings=submit_settings, now=now)
        assert submitted.job_id is not None
        now += timedelta(minutes=1)
        obs = parse_job_state_change(failed_event(batch.calls[-1], submitted.job_id, now))
        assert isinstance(obs, JobObservation)
        apply_job_event(
            obs,
            runs=runs,
            retry_queue=SubmitQueue(QUEUE_URL),
            alerts=AlertsTopic(TOPIC_ARN),
            settings=track_settings,
            now=now,
        )
        now += timedelta(seconds=SQS_MAX_DELAY.value)
        if attempt < MAX_ATTEMPTS_LIMIT:
            (request,) = parse_submit_message(sqs.calls[-1].params["MessageBody"], input_prefix=INPUT_PREFIX)
            assert isinstance(request, SubmitRequest)
    key = {"runId": {"S": request.run_id}}
    item = client("dynamodb").get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    run = run_from_item(from_attribute_values(item))
    return Lifecycle(
        submit_jobs=batch.calls[first[0] :],
        retry_messages=sqs.calls[first[1] :],
        alerts=sns.calls[first[2] :],
        item=item,
        run=run,
    )


def _create_runs_table() -> None:
    """The runs table as template.yaml declares it (key and the sparse ActiveRunsIndex)."""
    client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "runId", "AttributeType": "S"},
            {"AttributeName": "activeStatus", "AttributeType": "S"},
            {"AttributeName": "updatedAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "runId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ActiveRunsIndex",
                "KeySchema": [
                    {"AttributeName": "activeStatus", "KeyType": "HASH"},
                    {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@pytest.fixture(scope="session")
def lifecycles() -> dict[str, Lifecycle]:
    """Every source of SOURCES run through all attempts once, in one moto DynamoDB (a few seconds).

    Session-scoped (the test_request_limits*.py modules share it), so it sets up its own hermetic AWS
    settings and leaves no client or mock behind.
    """
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.delenv(name, raising=False)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }.items():
            env.setenv(name, value)
        reset_clients()
        try:
            with mock_aws():
                _create_runs_table()
                batch = Recorder(_answer).attach(submit_client())
                sqs = Recorder(_answer).attach(client("sqs"))
                sns = Recorder(_answer).attach(client("sns"))
                return {name: _run_every_attempt(source, batch, sqs, sns) for name, source in SOURCES.items()}
        finally:
            reset_clients()


class CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml with its short-form intrinsics (!Sub, !Ref...) as plain values."""


def _intrinsic(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def job_definition_tags() -> int:
    """The most tags any job definition of template.yaml has: with propagateTags they add to the job's."""
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CloudFormationLoader)
    definitions = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Batch::JobDefinition"]
    assert definitions, "template.yaml declares no job definition"
    return max(len(r.get("Properties", {}).get("Tags") or {}) for r in definitions)
