"""Parsing of the values operators type: durations and times, S3 URLs, run ids, endpoints, regions.

Every parser rejects a bad value with an error that names it and shows the expected form, before
any AWS call: a value botocore would refuse later surfaces as a usage error (exit 2), not as a
ValueError from deep inside a client.
"""

from __future__ import annotations

import argparse
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from batch_orchestrator.ids import RUN_ID_PATTERN, WORKLOAD_NAME_PATTERN
from batch_orchestrator.limits import S3_MAX_KEY_BYTES
from orchestrator_cli.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
# S3 bucket naming rules (general purpose buckets): 3-63 of [a-z0-9.-], starting and ending alphanumeric.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# What botocore accepts as a region name (botocore.utils.validate_region_name).
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
ENDPOINT_FORM = "http://host:port"


def parse_since(text: str, *, now: datetime) -> datetime:
    """``2h`` / ``30m`` / ``7d`` / ``1w`` / ``90s`` ago, or an ISO-8601 date or time (UTC unless it says otherwise)."""
    match = _DURATION.match(text)
    if match:
        try:
            return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
        except OverflowError:
            raise UsageError(
                f"--since {text!r} reaches back before the year 1", hint="e.g. --since 7d, --since 2026-11-21"
            ) from None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a duration nor an ISO-8601 time",
            hint="e.g. --since 2h, --since 7d, --since 2026-11-21, --since 2026-11-21T08:00Z",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(text: str) -> S3Url:
    """``s3://bucket/key`` with the key exactly as stored (not URL-encoded: spaces stay spaces)."""
    if not text.startswith("s3://"):
        raise UsageError(f"{text!r} is not an S3 URL", hint="expected s3://bucket/key")
    bucket, slash, key = text[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise UsageError(f"{text!r}: {bucket!r} is not a valid bucket name", hint="expected s3://bucket/key")
    if not slash or not key:
        raise UsageError(f"{text!r} names a bucket but no object key", hint="expected s3://bucket/key")
    if len(key.encode("utf-8")) > S3_MAX_KEY_BYTES.value:
        raise UsageError(f"{text!r}: an S3 key is at most {S3_MAX_KEY_BYTES.value:,} bytes")
    return S3Url(bucket=bucket, key=key)


def parse_run_id(text: str) -> str:
    run_id = text.strip()
    if not RUN_ID_PATTERN.match(run_id):
        raise UsageError(
            f"{text!r} is not a run id",
            hint="a run id is s3-<24 hex> or sch-<24 hex>; `orchestrator runs list` shows them",
        )
    return run_id


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def workload_name(text: str) -> str:
    """argparse type: a name a workload can have (``default``, or a name from workloads.yaml)."""
    if not WORKLOAD_NAME_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a workload name: a lowercase letter, then up to 19 lowercase letters, digits or "
            "hyphens (e.g. default, thumbnails)"
        )
    return text


def endpoint_url(text: str) -> str:
    """argparse type: an ``http(s)://host[:port]`` URL, which botocore would otherwise reject with a ValueError."""
    if _is_endpoint_url(text):
        return text
    # The usual slip is leaving the scheme out (localhost:4566): say what was meant.
    meant = f"did you mean http://{text}? " if _is_endpoint_url(f"http://{text}") and ":/" not in text else ""
    raise argparse.ArgumentTypeError(
        f"{text!r} is not an endpoint URL; {meant}expected the form {ENDPOINT_FORM}, e.g. http://localhost:4566"
    )


def _is_endpoint_url(text: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def region_name(text: str) -> str:
    """argparse type: a region name botocore accepts (letters, digits and inner hyphens)."""
    if not _REGION.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS region name; expected e.g. us-east-1 or eu-west-1")
    return text
