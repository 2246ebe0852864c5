"""Time formats of the runs table: ISO-8601 UTC strings for people and sort keys, epoch seconds for TTL and leases."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Millisecond ISO-8601 in UTC with a Z: sorts lexically in time order (the index's sort key)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())
