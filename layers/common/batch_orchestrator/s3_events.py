"""Parsing of S3 event notifications as they arrive in SubmitQueue messages.

Which workload an upload runs as is decided after parsing (``routing``): this module only tells the
uploads of real objects from what starts no run at all. Facts it relies on (S3 documentation):
object keys in notifications are URL-encoded the way HTML forms are (``+`` for a space, ``%XX`` for
UTF-8 bytes); a new subscription first receives an ``s3:TestEvent``; notifications are at least once
and unordered, ``sequencer`` orders the events of one key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.limits import DYNAMODB_NUMBER_DIGITS
from batch_orchestrator.models import S3Source

TEST_EVENT = "s3:TestEvent"


@dataclass(frozen=True)
class Skipped:
    """A notification record that deliberately starts no run, and why (for the log line)."""

    reason: str
    bucket: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Coalesced:
    """An upload of a workload with ``coalesce:``: forwarded to that workload's queue, not submitted on its own
    (``coalesce``). ``run_id`` is the id a plain upload of it would have: its key's item in the runs table."""

    workload: str
    source: S3Source
    run_id: str


@dataclass(frozen=True)
class Unmatched(Skipped):
    """An upload no workload takes (no key rule matches it, or it is under the output prefix): it starts no
    run, and submit_jobs counts it (UploadsUnmatched) and logs it, so it is never dropped in silence."""


def decode_key(raw_key: str) -> str:
    """The object key exactly as stored in S3, from its URL-encoded notification form."""
    return unquote_plus(raw_key, encoding="utf-8", errors="strict")


def is_test_event(body: Mapping[str, Any]) -> bool:
    return body.get("Event") == TEST_EVENT


def iter_notification(body: Mapping[str, Any]) -> Iterator[S3Source | Skipped]:
    """Every record of one S3 notification, as the upload of an object or a reason to skip it.

    Raises MalformedMessage for a body that is not an S3 notification at all; a record that is
    not an ObjectCreated event of a real object is reported as Skipped.
    """
    if is_test_event(body):
        yield Skipped(reason="s3:TestEvent", bucket=_optional_str(body.get("Bucket")))
        return
    records = body.get("Records")
    if not isinstance(records, list) or not records:
        raise MalformedMessage("S3 notification has no Records list")
    for index, record in enumerate(records):
        yield _parse_record(record, index=index)


def _parse_record(record: Any, *, index: int) -> S3Source | Skipped:
    if not isinstance(record, Mapping):
        raise MalformedMessage(f"Records[{index}] is not an object")
    event_name = record.get("eventName")
    if not isinstance(event_name, str):
        raise MalformedMessage(f"Records[{index}] has no eventName")
    try:
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        obj = s3["object"]
        raw_key = obj["key"]
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"Records[{index}] lacks s3.bucket.name or s3.object.key") from exc
    if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str) or not raw_key:
        raise MalformedMessage(f"Records[{index}] has an empty or non-string bucket or key")
    try:
        key = decode_key(raw_key)
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"Records[{index}] key is not valid percent-encoded UTF-8") from exc

    if not event_name.startswith("ObjectCreated:"):
        return Skipped(reason=f"event {event_name} is not an object creation", bucket=bucket, key=key)
    size = obj.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and not 0 <= size < 10**DYNAMODB_NUMBER_DIGITS.value:
        # S3 never sends one; the run stores the size, and DynamoDB holds no number of more than 38 digits.
        raise MalformedMessage(f"Records[{index}] s3.object.size {size} is not a byte count S3 could send")
    if key.endswith("/") and not size:
        # The console's "Create folder" writes an empty object whose key ends in "/".
        return Skipped(reason="folder placeholder", bucket=bucket, key=key)
    return S3Source(
        bucket=bucket,
        key=key,
        version_id=_optional_str(obj.get("versionId")),
        sequencer=_optional_str(obj.get("sequencer")),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        event_time=_optional_str(record.get("eventTime")),
    )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
