"""In-memory fakes of every Protocol in ``batch_orchestrator.ports``, one per Protocol.

Each keeps the contract its adapter keeps (the docstrings in ``ports.py``), including the parts of
AWS's behaviour the logic depends on; where a fake stands in for a documented AWS behaviour, its
docstring says which. ``tests/unit/test_fakes_contract.py`` runs the same assertions against each
fake and, where that is cheap, against the real adapter on moto.

The runs table's fakes (``FakeRunStore``, ``FakeWatchdogStore``) live in ``fake_runs`` and are
importable from here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batch_orchestrator.alert_chat import chat_notification, structured_message
from batch_orchestrator.alert_format import JSON_SEPARATOR
from batch_orchestrator.errors import (
    AlertPublishError,
    BatchLookupError,
    JobSubmitError,
    ManifestUnreadable,
    RetryEnqueueError,
)
from batch_orchestrator.limits import MANIFEST_MAX_BYTES, SNS_MAX_MESSAGE_SIZE, SNS_SUBJECT, SQS_MAX_DELAY
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, ChildFailure, S3Source, Source, SubmitRequest
from batch_orchestrator.ports import JobSpec
from batch_orchestrator.submit_messages import parse_submit_message, resubmit_message, retry_message
from tests.support.fake_runs import FakeRunStore, FakeWatchdogStore

__all__ = [
    "FakeAlertSink",
    "FakeJobGateway",
    "FakeJobInspector",
    "FakeManifests",
    "FakeResubmitQueue",
    "FakeRetryQueue",
    "FakeRunStore",
    "FakeWatchdogStore",
    "PublishedAlert",
    "SentRequest",
    "SubmittedJob",
]


# ------------------------------------------------------------------------------------ Batch
@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    spec: JobSpec


class _FakeArrayChildren:
    """``ArrayChildren``: the failed children a test says an array job has (``fail_children``).

    As AWS Batch's ListJobs(arrayJobId, jobStatus=FAILED): every failed child of the array, in any order, each
    with its index, exit code and reasons; none for a job that is no array parent, or that Batch does not know.
    """

    def __init__(self) -> None:
        self.children: dict[str, tuple[ChildFailure, ...]] = {}
        self.children_lookups: list[str] = []
        self.fail_children_lookup = False

    def fail_children(self, parent_job_id: str, *children: ChildFailure) -> None:
        """The array ``parent_job_id`` has these failed children (each ``item`` its index, as Batch numbers them)."""
        self.children[parent_job_id] = tuple(children)

    def failed_children(self, parent_job_id: str) -> tuple[ChildFailure, ...]:
        self.children_lookups.append(parent_job_id)
        if self.fail_children_lookup:
            raise BatchLookupError(f"ListJobs of the failed children of {parent_job_id} failed: ThrottlingException")
        return self.children.get(parent_job_id, ())


class FakeJobGateway(_FakeArrayChildren):
    """``JobGateway``: SubmitJob and ListJobs-by-name over a list of submitted jobs (and ``_FakeArrayChildren``).

    As AWS Batch: a job name is not unique (submitting one twice makes two jobs, which is why the
    submit path claims before it submits); SubmitJob refuses a queue or job definition that does not
    exist or was deregistered (ClientException: definitely not submitted), and ListJobs a queue that
    does not exist; an answer lost after the call (a timeout, a 5xx) leaves the caller not knowing
    whether the job was created, and either may be true (``lose_next_answer``).
    """

    def __init__(self, *, job_queues: Iterable[str], job_definitions: Iterable[str]) -> None:
        super().__init__()
        self.job_queues = set(job_queues)
        self.job_definitions = set(job_definitions)
        self.jobs: list[SubmittedJob] = []  # every job Batch holds, oldest first
        self.submit_calls = 0
        self.lookups: list[tuple[str, str]] = []  # (job_queue, job_name) of every find_job_id
        self._refusals: list[str] = []
        self._lost_answers: list[bool] = []

    def refuse_next(self, code: str = "TooManyRequestsException") -> None:
        """The next SubmitJob is refused by AWS (after the adapter's own throttling retries): no job."""
        self._refusals.append(code)

    def lose_next_answer(self, *, job_created: bool) -> None:
        """The next SubmitJob's answer is lost; the job exists afterwards only if ``job_created``."""
        self._lost_answers.append(job_created)

    def deregister(self, job_definition: str) -> None:
        """What CloudFormation does to the previous revision when a deploy replaces the job definition."""
        self.job_definitions.discard(job_definition)

    def submit(self, spec: JobSpec) -> str:
        self.submit_calls += 1
        if self._refusals:
            code = self._refusals.pop(0)
            raise JobSubmitError(f"SubmitJob {spec.job_name} refused: {code}", definitely_not_submitted=True)
        if spec.job_queue not in self.job_queues or spec.job_definition not in self.job_definitions:
            raise JobSubmitError(
                f"SubmitJob {spec.job_name} refused: ClientException: no such queue or active job definition",
                definitely_not_submitted=True,
            )
        job = SubmittedJob(job_id=str(uuid.uuid4()), spec=spec)
        if self._lost_answers:
            if self._lost_answers.pop(0):
                self.jobs.append(job)
            raise JobSubmitError(
                f"SubmitJob {spec.job_name} outcome unknown: read timeout", definitely_not_submitted=False
            )
        self.jobs.append(job)
        return job.job_id

    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None:
        self.lookups.append((job_queue, job_name))
        if job_queue not in self.job_queues:
            raise BatchLookupError(f"ListJobs for {job_name} failed: ClientException: no job queue {job_queue}")
        return next(
            (job.job_id for job in self.jobs if job.spec.job_queue == job_queue and job.spec.job_name == job_name), None
        )

    def jobs_named(self, job_name: str) -> list[SubmittedJob]:
        return [job for job in self.jobs if job.spec.job_name == job_name]


class FakeJobInspector(_FakeArrayChildren):
    """``JobInspector``: DescribeJobs, ListJobs-by-name and TerminateJob over JobDetail entries a test adds (and
    an array's failed children: ``_FakeArrayChildren``).

    As AWS Batch: DescribeJobs leaves out a job it no longer knows (Batch forgets finished jobs after
    a while) and answers each id once. TerminateJob is only recorded: Batch reports the job FAILED
    later, asynchronously, and a test that needs that event changes the entry itself.
    """

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.describe_calls: list[list[str]] = []
        self.terminated: list[tuple[str, str]] = []
        self.fail_describe = False

    def add(self, job: dict[str, Any]) -> dict[str, Any]:
        self.jobs[job["jobId"]] = job
        return job

    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None:
        return next(
            (job["jobId"] for job in self.jobs.values() if job["jobQueue"] == job_queue and job["jobName"] == job_name),
            None,
        )

    def describe_jobs(self, job_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        self.describe_calls.append(list(job_ids))
        if self.fail_describe:
            raise BatchLookupError("DescribeJobs failed: ThrottlingException")
        return [self.jobs[job_id] for job_id in dict.fromkeys(job_ids) if job_id in self.jobs]

    def terminate_job(self, *, job_id: str, reason: str) -> None:
        self.terminated.append((job_id, reason))


# ------------------------------------------------------------------------------------ S3
class FakeManifests:
    """``ManifestReader``: the objects a test uploads (``put``), by bucket, key and version.

    As S3's GetObject with ``Range: bytes=0-N``: the first N + 1 bytes of the version asked for (the latest
    without one), NoSuchKey/NoSuchVersion for one that does not exist (None here); an error S3 answers otherwise
    (``fail_next``) is ManifestUnreadable.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None], bytes] = {}
        self.reads: list[S3Source] = []
        self._failures = 0

    def put(self, source: S3Source, body: bytes) -> S3Source:
        self.objects[(source.bucket, source.key, source.version_id)] = body
        self.objects[(source.bucket, source.key, None)] = body
        return source

    def fail_next(self) -> None:
        self._failures += 1

    def read(self, source: S3Source) -> bytes | None:
        self.reads.append(source)
        if self._failures:
            self._failures -= 1
            raise ManifestUnreadable(f"GetObject of the manifest s3://{source.bucket}/{source.key} failed: SlowDown")
        body = self.objects.get((source.bucket, source.key, source.version_id))
        return None if body is None else body[: MANIFEST_MAX_BYTES.value + 1]


# ------------------------------------------------------------------------------------ SQS
@dataclass(frozen=True)
class SentRequest:
    """One message on the SubmitQueue: its body as the adapter writes it, and its delay."""

    body: str
    delay_seconds: int

    @property
    def request(self) -> SubmitRequest:
        """What the submit path reads from the body (MalformedMessage if it could not)."""
        (request,) = parse_submit_message(self.body, input_prefix="")
        assert isinstance(request, SubmitRequest)
        return request


class _FakeSubmitQueue:
    def __init__(self) -> None:
        self.sent: list[SentRequest] = []
        self._failures = 0

    def fail_next(self, times: int = 1) -> None:
        """The next sends fail as SendMessage does when SQS cannot be reached: nothing is sent."""
        self._failures += times

    def requests(self) -> list[SubmitRequest]:
        return [sent.request for sent in self.sent]

    def _send(self, body: str, delay_seconds: int, what: str) -> None:
        if self._failures:
            self._failures -= 1
            raise RetryEnqueueError(f"cannot enqueue {what}: SQS unreachable")
        self.sent.append(SentRequest(body=body, delay_seconds=delay_seconds))


class FakeRetryQueue(_FakeSubmitQueue):
    """``RetryQueue``: the retry requests the tracker sends, delayed at most SQS's maximum, as SQS allows.

    The delay is recorded, not waited: ``requests()`` shows a delayed request at once.
    """

    def send_retry(
        self, *, run_id: str, attempt: int, source: Source, delay_seconds: int, plan: AttemptPlan = DEFAULT_PLAN
    ) -> None:
        body = retry_message(run_id=run_id, attempt=attempt, source=source, plan=plan)
        self._send(body, max(0, min(delay_seconds, SQS_MAX_DELAY.value)), f"attempt {attempt} of {run_id}")


class FakeResubmitQueue(_FakeSubmitQueue):
    """``ResubmitQueue``: the watchdog's resubmit requests (never delayed)."""

    def send_resubmit(self, *, run_id: str, attempt: int, source: Source, plan: AttemptPlan = DEFAULT_PLAN) -> None:
        body = resubmit_message(run_id=run_id, attempt=attempt, source=source, plan=plan)
        self._send(body, 0, f"resubmission of attempt {attempt} of {run_id}")


# ------------------------------------------------------------------------------------ SNS
@dataclass(frozen=True)
class PublishedAlert:
    subject: str
    message: str
    attributes: Mapping[str, Mapping[str, str]]

    @property
    def alert_type(self) -> str:
        return self.attributes["alertType"]["StringValue"]

    @property
    def details(self) -> dict[str, Any]:
        """The JSON half of the body."""
        data: dict[str, Any] = json.loads(self.message.split(JSON_SEPARATOR, 1)[1])
        return data

    @property
    def chat(self) -> dict[str, Any]:
        """The custom notification the topic's https (chat) subscribers receive for it."""
        return chat_notification(self.subject, self.message)

    @property
    def structured(self) -> dict[str, str]:
        """Publish's MessageStructure=json message, by protocol ("default", "email", "https")."""
        data: dict[str, str] = json.loads(structured_message(self.subject, self.message, self.attributes))
        return data


class FakeAlertSink:
    """``AlertSink``: the alerts published, refused as SNS Publish refuses them.

    As SNS: a subject must be printable ASCII on one line and under 100 characters; a message
    attribute needs a String/Number/Binary type and a non-empty value (a Number one a number); the
    message must not be empty, and the structured message AlertsTopic publishes for it (every
    protocol's, ``alert_chat.structured_message``) with its attributes must fit 256 KiB.
    """

    def __init__(self) -> None:
        self.published: list[PublishedAlert] = []
        self._failures = 0

    def fail_next(self, times: int = 1) -> None:
        """The next publishes fail as Publish does when SNS cannot be reached: nothing is delivered."""
        self._failures += times

    def of_type(self, alert_type: str) -> list[PublishedAlert]:
        return [alert for alert in self.published if alert.alert_type == alert_type]

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        if self._failures:
            self._failures -= 1
            raise AlertPublishError(f"cannot publish alert {subject!r}: SNS unreachable")
        problem = _sns_refusal(subject, message, attributes)
        if problem:
            raise AlertPublishError(f"cannot publish alert {subject!r}: InvalidParameter: {problem}")
        self.published.append(
            PublishedAlert(subject, message, {name: dict(value) for name, value in attributes.items()})
        )


def _sns_refusal(subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> str | None:
    if len(subject) > SNS_SUBJECT.max_length or not re.fullmatch(SNS_SUBJECT.pattern, subject):
        return "subject"
    if not message:
        return "empty message"
    size = len(structured_message(subject, message, attributes).encode())
    for name, value in attributes.items():
        data_type = value.get("DataType", "")
        text = value.get("StringValue", "")
        if data_type.split(".")[0] not in ("String", "Number", "Binary"):
            return f"attribute {name} has type {data_type!r}"
        if not text:
            return f"attribute {name} is empty"
        if data_type == "Number" and not re.fullmatch(r"-?\d+(\.\d+)?", text):
            return f"attribute {name} is not a number"
        size += len(name.encode()) + len(data_type.encode()) + len(text.encode())
    if size > SNS_MAX_MESSAGE_SIZE.value:
        return "message too long"
    return None
