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
import dataclasses
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
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.adapters.submit_queue import SubmitQueue
from batch_orchestrator.alerts import build_queue_blocked_alert, build_stuck_run_alert
from batch_orchestrator.batch_events import (
    REASON_MAX_CHARS,
    parse_describe_jobs_entry,
    parse_job_state_change,
    parse_queue_blocked,
)
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.limits import (
    BATCH_JOB_NAME,
    BATCH_MIN_JOB_TIMEOUT,
    BATCH_PROPAGATED_TAGS,
    BATCH_RETRY_ATTEMPTS,
    BATCH_SUBMIT_JOB_PAYLOAD,
    BATCH_TAG_KEY,
    BATCH_TAG_VALUE,
    CLOUDFORMATION_STACK_NAME,
    DYNAMODB_MAX_ITEM_SIZE,
    ECS_RUN_TASK_OVERRIDES,
    LAMBDA_MAX_BATCHING_WINDOW,
    LAMBDA_SQS_MAX_BATCH_SIZE,
    LAMBDA_SQS_MAX_CONCURRENCY,
    LAMBDA_SQS_MIN_CONCURRENCY,
    LOG_STREAM_NAME,
    NAME_RULES,
    S3_MAX_KEY_BYTES,
    S3_MAX_VERSION_ID_BYTES,
    SNS_MAX_MESSAGE_SIZE,
    SNS_RAW_DELIVERY_ATTRIBUTES,
    SNS_SUBJECT,
    SQS_MAX_DELAY,
    SUBMIT_QUEUE_MESSAGE_BUDGET,
)
from batch_orchestrator.models import Run, RunStatus, S3Source, ScheduleSource, Source, SubmitRequest
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT, RetryPolicy, backoff_seconds
from batch_orchestrator.submit import SubmitSettings, submit_run
from batch_orchestrator.submit_messages import parse_submit_message
from batch_orchestrator.tracking import TrackSettings, apply_job_event
from tests.conformance.limit_checks import (
    environment_violations,
    item_size,
    item_violations,
    job_name_violations,
    name_violations,
    overrides_violations,
    sns_publish_violations,
    sqs_message_violations,
    submit_payload_violations,
    tag_violations,
    utf8_len,
)

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


def _failed_event(submitted: Call, job_id: str, at: datetime) -> dict[str, Any]:
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
        obs = parse_job_state_change(_failed_event(batch.calls[-1], submitted.job_id, now))
        assert obs is not None
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
    run = runs.get(request.run_id)
    assert run is not None
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


@pytest.fixture(scope="module")
def lifecycles() -> dict[str, Lifecycle]:
    """Every source of SOURCES run through all attempts once, in one moto DynamoDB (a few seconds).

    Module-scoped, so it sets up its own hermetic AWS settings and leaves no client or mock behind.
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


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml with its short-form intrinsics (!Sub, !Ref...) as plain values."""


def _intrinsic(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def _job_definition_tags() -> int:
    """The most tags any job definition of template.yaml has: with propagateTags they add to the job's."""
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    definitions = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Batch::JobDefinition"]
    assert definitions, "template.yaml declares no job definition"
    return max(len(r.get("Properties", {}).get("Tags") or {}) for r in definitions)


# ================================================================================================
# The inputs are the longest AWS allows
# ================================================================================================


def test_the_inputs_are_as_long_as_aws_allows():
    """The conformance inputs sit exactly at AWS's maxima (a shorter input would prove less)."""
    # Given / When / Then
    s3_keys = [source.key for source in SOURCES.values() if isinstance(source, S3Source)]
    assert s3_keys
    assert all(utf8_len(key) == S3_MAX_KEY_BYTES.value for key in s3_keys)
    assert any(utf8_len(key) > len(key) for key in s3_keys)  # multi-byte characters are in play
    assert utf8_len(VERSION_ID) == S3_MAX_VERSION_ID_BYTES.value
    assert name_violations("stack", STACK_NAME, CLOUDFORMATION_STACK_NAME) == []
    assert len(STACK_NAME) == CLOUDFORMATION_STACK_NAME.max_length
    assert name_violations("bucket", BUCKET, NAME_RULES[("AWS::S3::Bucket", "BucketName")]) == []
    assert len(BUCKET) == NAME_RULES[("AWS::S3::Bucket", "BucketName")].max_length
    schedule_rule = NAME_RULES[("AWS::Scheduler::Schedule", "Name")]
    schedules = [source.schedule_name for source in SOURCES.values() if isinstance(source, ScheduleSource)]
    assert [len(name) for name in schedules] == [schedule_rule.max_length]
    assert name_violations("schedule", schedules[0], schedule_rule) == []
    assert name_violations("log stream", LOG_STREAM, LOG_STREAM_NAME) == []
    assert len(LOG_STREAM) == LOG_STREAM_NAME.max_length
    assert RETRY_POLICY.max_attempts == MAX_ATTEMPTS_LIMIT
    assert RETRY_POLICY.max_delay_seconds == RETRY_POLICY.base_delay_seconds == SQS_MAX_DELAY.value


# ================================================================================================
# SubmitJob
# ================================================================================================


@pytest.mark.parametrize("name", SOURCES)
def test_every_submit_job_request_is_within_batch_limits(lifecycles, name):
    """Each attempt's SubmitJob, as BatchJobs.submit sends it: a valid job name, tags within Batch's rules
    (also with the job definition's tags propagated), a legal environment, and a payload within 30 KiB."""
    # Given: a run submitted for every attempt up to the maximum
    calls = lifecycles[name].submit_jobs
    inherited = _job_definition_tags()

    # When
    problems = {
        call.params["tags"]["batch-orchestrator:attempt"]: [
            *job_name_violations(call.params["jobName"]),
            *tag_violations(call.params["tags"], inherited_tags=inherited if call.params.get("propagateTags") else 0),
            *environment_violations(call.params["containerOverrides"]["environment"]),
            *overrides_violations(call.params["containerOverrides"]),
            *submit_payload_violations(call.body),
        ]
        for call in calls
    }

    # Then
    assert [call.operation for call in calls] == ["SubmitJob"] * MAX_ATTEMPTS_LIMIT
    assert set(problems) == {str(attempt) for attempt in range(1, MAX_ATTEMPTS_LIMIT + 1)}
    assert {attempt: found for attempt, found in problems.items() if found} == {}


def test_the_job_input_reaches_the_container_unchanged(lifecycles):
    """Clipping names never clips the input: the container gets the whole 1,024-byte key and version ID."""
    # Given
    for name, source in SOURCES.items():
        if not isinstance(source, S3Source):
            continue
        # When
        environments = [
            {v["name"]: v["value"] for v in call.params["containerOverrides"]["environment"]}
            for call in lifecycles[name].submit_jobs
        ]
        # Then
        assert {(env["INPUT_KEY"], env["INPUT_VERSION_ID"]) for env in environments} == {(source.key, VERSION_ID)}


def test_submit_job_checks_reject_one_over_the_limit():
    """Each SubmitJob checker rejects a request one character, tag or byte over its limit."""
    # Given: requests at the limit, and the same one step over
    name_at_limit = "a" * BATCH_JOB_NAME.max_length
    tags_at_limit = {f"k{i}": "v" for i in range(BATCH_PROPAGATED_TAGS.value)}
    key_at_limit, value_at_limit = "k" * BATCH_TAG_KEY.max_length, "v" * BATCH_TAG_VALUE.max_length

    # When / Then
    assert job_name_violations(name_at_limit) == []
    assert job_name_violations(name_at_limit + "a")
    assert job_name_violations("_" + name_at_limit[1:])  # the first character must be alphanumeric
    assert job_name_violations("a b")
    assert tag_violations(tags_at_limit) == []
    assert tag_violations({**tags_at_limit, "one-more": "v"})
    assert tag_violations({"a": "b", "c": "d"}, inherited_tags=BATCH_PROPAGATED_TAGS.value - 2) == []
    assert tag_violations({"a": "b", "c": "d"}, inherited_tags=BATCH_PROPAGATED_TAGS.value - 1)
    assert tag_violations({key_at_limit: value_at_limit}) == []
    assert tag_violations({key_at_limit + "k": "v"})
    assert tag_violations({"k": value_at_limit + "v"})
    assert tag_violations({"AWS:owner": "v"})
    assert tag_violations({"k": "aws:owner"})
    assert tag_violations({"k": "tab\tinside"})
    assert environment_violations([{"name": "RUN_ID", "value": "x"}]) == []
    assert environment_violations([{"name": "AWS_BATCH_JOB_ID", "value": "x"}])
    assert environment_violations([{"name": "A", "value": "x"}, {"name": "A", "value": "y"}])
    assert submit_payload_violations(b"x" * BATCH_SUBMIT_JOB_PAYLOAD.value) == []
    assert submit_payload_violations(b"x" * (BATCH_SUBMIT_JOB_PAYLOAD.value + 1))
    framing = len('{"environment": [{"name": "V", "value": ""}]}')
    fits = {"environment": [{"name": "V", "value": "x" * (ECS_RUN_TASK_OVERRIDES.value - framing)}]}
    assert overrides_violations(fits) == []
    assert overrides_violations({"environment": [{"name": "V", "value": fits["environment"][0]["value"] + "x"}]})


# ================================================================================================
# SQS: retry and resubmit requests
# ================================================================================================


@pytest.mark.parametrize("name", SOURCES)
def test_retry_messages_are_within_sqs_limits(lifecycles, name):
    """Every retry request the tracker sends (SubmitQueue.send_retry): within the message budget, only
    characters SQS accepts, and a DelaySeconds SQS allows (the longest backoff is in play)."""
    # Given
    calls = lifecycles[name].retry_messages

    # When
    problems = [sqs_message_violations(call.params["MessageBody"], call.params.get("DelaySeconds")) for call in calls]

    # Then: one retry request per attempt that had a successor, each waiting about the longest backoff
    assert [call.operation for call in calls] == ["SendMessage"] * (MAX_ATTEMPTS_LIMIT - 1)
    assert [found for found in problems if found] == []
    assert min(call.params["DelaySeconds"] for call in calls) >= SQS_MAX_DELAY.value // 2


@pytest.mark.parametrize(("name", "source"), SOURCES.items())
def test_resubmit_messages_are_within_sqs_limits(recorded, name, source):
    """The watchdog's resubmit request of the last attempt (SubmitQueue.send_resubmit)."""
    # Given
    sqs = recorded("sqs")

    # When
    SubmitQueue(QUEUE_URL).send_resubmit(run_id=run_id_for(source), attempt=MAX_ATTEMPTS_LIMIT, source=source)

    # Then
    (call,) = sqs.calls
    assert sqs_message_violations(call.params["MessageBody"], call.params.get("DelaySeconds")) == []


def test_no_backoff_the_retry_policy_can_produce_exceeds_the_sqs_delay():
    """For every base delay and cap the policy accepts, every attempt and the extremes of the jitter,
    the backoff is a DelaySeconds SQS allows."""
    # Given
    caps = (0, 1, 2, 59, 60, 61, 300, 899, SQS_MAX_DELAY.value)
    policies = [
        RetryPolicy.from_settings(
            retry_exit_codes="1",
            max_attempts=str(MAX_ATTEMPTS_LIMIT),
            base_delay_seconds=str(base),
            max_delay_seconds=str(cap),
        )
        for cap in caps
        for base in range(cap + 1)
    ]

    # When
    delays = {
        backoff_seconds(policy, attempt, lambda draw=draw: draw)
        for policy in policies
        for attempt in range(1, MAX_ATTEMPTS_LIMIT + 1)
        for draw in (0.0, 0.5, 1.0)
    }

    # Then
    assert max(delays) == SQS_MAX_DELAY.value
    assert [delay for delay in delays if sqs_message_violations("{}", delay)] == []


def test_the_queue_adapter_never_asks_for_more_than_the_sqs_delay(recorded):
    """SubmitQueue.send_retry clamps whatever delay it is given into SQS's range."""
    # Given
    sqs = recorded("sqs")
    source = SOURCES["schedule name of 64 characters"]

    # When
    for delay in (SQS_MAX_DELAY.value, SQS_MAX_DELAY.value + 1, 10**9, -5):
        SubmitQueue(QUEUE_URL).send_retry(run_id=run_id_for(source), attempt=2, source=source, delay_seconds=delay)

    # Then
    assert [call.params["DelaySeconds"] for call in sqs.calls] == [SQS_MAX_DELAY.value] * 3 + [0]


def test_sqs_checks_reject_one_over_the_limit():
    """The SQS checker rejects a message one byte over the budget, a delay one second over, a bad character."""
    # Given
    at_limit = "x" * SUBMIT_QUEUE_MESSAGE_BUDGET.value

    # When / Then
    assert sqs_message_violations(at_limit, SQS_MAX_DELAY.value) == []
    assert sqs_message_violations(at_limit + "x")
    assert sqs_message_violations(at_limit[:-1] + "é")  # one character, two bytes
    assert sqs_message_violations("{}", SQS_MAX_DELAY.value + 1)
    assert sqs_message_violations("{}", -1)
    assert sqs_message_violations("nul\x00")
    assert sqs_message_violations("\ufffe")


# ================================================================================================
# SNS: alerts
# ================================================================================================


def _published(call: Call) -> tuple[str | None, str, dict[str, dict[str, str]]]:
    return call.params.get("Subject"), call.params["Message"], call.params.get("MessageAttributes", {})


@pytest.mark.parametrize("name", SOURCES)
def test_the_run_failed_alert_is_within_sns_limits(lifecycles, name):
    """The alert after the last attempt failed, as AlertsTopic.publish sends it: subject rules, body plus
    attributes within 256 KiB, attribute names and count as SNS allows."""
    # Given
    (call,) = lifecycles[name].alerts

    # When
    problems = sns_publish_violations(*_published(call))

    # Then
    assert call.operation == "Publish"
    assert problems == []


@pytest.mark.parametrize(("name", "source"), SOURCES.items())
def test_the_stuck_run_alert_is_within_sns_limits(lifecycles, recorded, name, source):
    """The watchdog's alert for a run stuck RUNNABLE at its last attempt, with the longest reason Batch
    reports and an automatic cancellation announced."""
    # Given: the run as stored after its last attempt, seen stuck RUNNABLE by DescribeJobs
    sns = recorded("sns")
    run = lifecycles[name].run
    event = _failed_event(lifecycles[name].submit_jobs[-1], run.last_job_id or str(uuid.uuid4()), START)
    event["detail"].update(status="RUNNABLE", statusReason="CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY " + LONG_REASON)
    observation = parse_describe_jobs_entry(event["detail"])
    assert observation is not None
    stuck = dataclasses.replace(run, status=RunStatus.RUNNABLE, status_reason=observation.status_reason)

    # When
    alert = build_stuck_run_alert(
        stuck,
        stuck_seconds=10**9,
        threshold_seconds=10**8,
        observation=observation,
        region=REGION,
        cancel_after_seconds=10**9,
    )
    AlertsTopic(TOPIC_ARN).publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)

    # Then
    (call,) = sns.calls
    assert sns_publish_violations(*_published(call)) == []


def test_the_queue_blocked_alert_is_within_sns_limits(lifecycles, recorded):
    """The alert for a blocked queue, for a job of ours with the longest name, queue and reason."""
    # Given
    sns = recorded("sns")
    submitted = lifecycles["s3 key of characters refused in job names"].submit_jobs[-1]
    event = _failed_event(submitted, str(uuid.uuid4()), START)
    event["detail-type"] = "Batch Job Queue Blocked"
    event["detail"].update(status="RUNNABLE", statusReason="MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT " + LONG_REASON)
    blocked = parse_queue_blocked(event)

    # When
    alert = build_queue_blocked_alert(blocked, region=REGION)
    AlertsTopic(TOPIC_ARN).publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)

    # Then
    (call,) = sns.calls
    assert blocked.run_id is not None
    assert len(blocked.status_reason) <= REASON_MAX_CHARS
    assert sns_publish_violations(*_published(call)) == []


def test_sns_checks_reject_one_over_the_limit():
    """The SNS checker rejects a subject one character over or with a line break, a body one byte over,
    a reserved attribute name, and one attribute too many."""
    # Given
    subject = "s" * SNS_SUBJECT.max_length
    attributes = {"alertType": {"DataType": "String", "StringValue": "RUN_FAILED"}}
    attribute_bytes = len("alertType") + len("String") + len("RUN_FAILED")
    body = "b" * (SNS_MAX_MESSAGE_SIZE.value - attribute_bytes)

    # When / Then
    assert sns_publish_violations(subject, body, attributes) == []
    assert sns_publish_violations(subject + "s", body, attributes)
    assert sns_publish_violations("two\nlines", "b", attributes)
    assert sns_publish_violations(" leading space", "b", attributes)
    assert sns_publish_violations("caf\u00e9", "b", attributes)  # ASCII only
    assert sns_publish_violations(subject, body + "b", attributes)
    assert sns_publish_violations(subject, "b", {"AWS.alertType": attributes["alertType"]})
    assert sns_publish_violations(subject, "b", {"a..b": attributes["alertType"]})
    assert sns_publish_violations(subject, "b", {"a": {"DataType": "String", "StringValue": ""}})
    many = {f"a{i}": attributes["alertType"] for i in range(SNS_RAW_DELIVERY_ATTRIBUTES.value + 1)}
    assert sns_publish_violations(subject, "b", many)


# ================================================================================================
# DynamoDB: the run item after the most attempts
# ================================================================================================


@pytest.mark.parametrize("name", SOURCES)
def test_the_run_item_after_the_last_attempt_stays_far_below_400_kb(lifecycles, name):
    """The run's item as the runs table left it after MAX_ATTEMPTS_LIMIT failed attempts, each with the
    longest reasons and log stream: sized by DynamoDB's rules, it uses at most a quarter of the 400 KB, so
    what operators add later (manual retries, alerts' bookkeeping) has room."""
    # Given
    item = lifecycles[name].item

    # When
    size = item_size(item)

    # Then: every attempt is in the history, each with its (clipped) reason and log stream
    history = item["history"]["L"]
    assert len(history) == MAX_ATTEMPTS_LIMIT
    assert all(entry["M"]["logStreamName"]["S"] == LOG_STREAM for entry in history)
    assert all(len(entry["M"]["reason"]["S"]) == REASON_MAX_CHARS for entry in history)
    assert item_violations(item) == []
    assert size <= DYNAMODB_MAX_ITEM_SIZE.value // 4, f"{size} bytes"


def test_the_item_size_follows_dynamodbs_rules():
    """Hand-computed sizes from the documented rules, and one byte over 400 KB rejected."""
    # Given
    text = {"name": {"S": "ab\u00e9"}}  # 4 + 4 bytes
    number = {"n": {"N": "-0012345.6700"}}  # name 1 + 7 significant digits (4 bytes) + 1
    flags = {"t": {"BOOL": True}, "z": {"NULL": True}}  # (1 + 1) * 2
    nested = {"m": {"M": {"k": {"L": [{"S": "x"}, {"N": "1"}]}}}}  # 1 + 3 + 1 + 1 + (3 + 1 + 1 + 1 + 2)
    padding = {"p": {"S": "x" * (DYNAMODB_MAX_ITEM_SIZE.value - 1)}}

    # When / Then
    assert item_size(text) == 8
    assert item_size(number) == 1 + 4 + 1
    assert item_size(flags) == 4
    assert item_size(nested) == 1 + 3 + (1 + 1 + (3 + (1 + 1) + (1 + 2)))
    assert item_violations(padding) == []
    assert item_violations({**padding, "q": {"S": ""}})


# ================================================================================================
# template.yaml's copies of AWS limits
# ================================================================================================


def test_template_copies_of_aws_limits_equal_the_limits():
    """A template cannot import limits.py, so where it repeats an AWS limit (a parameter's range, the
    functions' RETRY_MAX_DELAY_SECONDS) the copy must equal, or stay within, the one recorded there."""
    # Given
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    parameters = template["Parameters"]
    functions = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"]
    delay_copies = {
        (r.get("Properties", {}).get("Environment") or {}).get("Variables", {}).get("RETRY_MAX_DELAY_SECONDS")
        for r in [*functions, {"Properties": template.get("Globals", {}).get("Function", {})}]
    } - {None}

    # When
    mismatches = {
        "InfraRetryAttempts.MaxValue": (parameters["InfraRetryAttempts"]["MaxValue"], BATCH_RETRY_ATTEMPTS.value),
        "MaxAttempts.MaxValue": (parameters["MaxAttempts"]["MaxValue"], MAX_ATTEMPTS_LIMIT),
        "RetryBaseDelaySeconds.MaxValue": (parameters["RetryBaseDelaySeconds"]["MaxValue"], SQS_MAX_DELAY.value),
        "RETRY_MAX_DELAY_SECONDS": (delay_copies or {str(SQS_MAX_DELAY.value)}, {str(SQS_MAX_DELAY.value)}),
        "JobTimeoutSeconds.MinValue >= 60": (
            parameters["JobTimeoutSeconds"]["MinValue"] >= BATCH_MIN_JOB_TIMEOUT.value,
            True,
        ),
        "SubmitBatchSize.MaxValue <= 10,000": (
            parameters["SubmitBatchSize"]["MaxValue"] <= LAMBDA_SQS_MAX_BATCH_SIZE.value,
            True,
        ),
        "SubmitBatchingWindowSeconds.MaxValue <= 300": (
            parameters["SubmitBatchingWindowSeconds"]["MaxValue"] <= LAMBDA_MAX_BATCHING_WINDOW.value,
            True,
        ),
        "SubmitConcurrency within 2..1000": (
            LAMBDA_SQS_MIN_CONCURRENCY.value
            <= parameters["SubmitConcurrency"]["MinValue"]
            <= parameters["SubmitConcurrency"]["MaxValue"]
            <= LAMBDA_SQS_MAX_CONCURRENCY.value,
            True,
        ),
    }

    # Then
    assert {name: pair for name, pair in mismatches.items() if pair[0] != pair[1]} == {}
