"""AWS clients, created once per container and reused across invocations.

Retries use botocore's standard mode (exponential backoff with jitter on throttling and transient
errors). Timeouts stay well below the functions' timeouts so a stuck call fails the record instead
of the whole invocation. The endpoint comes from botocore's own AWS_ENDPOINT_URL setting, which
the local stack uses to point every client at the emulator.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config

_STANDARD = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 4},
    tcp_keepalive=True,
)

# batch:SubmitJob has no idempotency token: if botocore retried it after a read timeout, the first
# call might already have started a job and the retry would start a second one. The Batch adapter
# therefore retries only the calls AWS definitely rejected (throttling) and lets everything else
# fail the record, so the claim protocol decides what happens next.
_NO_AUTOMATIC_RETRY = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 1},
    tcp_keepalive=True,
)


# Sessions are not thread-safe; clients are. Creation is serialised, use is not.
_CREATING = threading.Lock()


@cache
def _session() -> botocore.session.Session:
    """One botocore session for every client, so its endpoint and model data load once per container.

    botocore, not boto3: boto3 adds nothing to these clients but its import (with s3transfer). Both
    that and a session per client cost each cold start tens of milliseconds (`make bench`).
    """
    return botocore.session.Session()


# Error codes with which AWS refuses a call for its rate. botocore retries most of them and the
# Batch adapter retries SubmitJob's, so callers never see them: each answer is counted instead (see
# take_throttle_count), for the functions to report as their Throttled metric.
THROTTLING_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
_throttled = [0]


def _count_throttling(parsed_response: Mapping[str, Any] | None = None, **_: Any) -> None:
    error = (parsed_response or {}).get("Error") or {}
    if error.get("Code") in THROTTLING_ERROR_CODES:
        _throttled[0] += 1


def take_throttle_count() -> int:
    """Throttling answers this process's clients received since the last call (every attempt counts)."""
    count, _throttled[0] = _throttled[0], 0
    return count


def _observed(new_client: Any) -> Any:
    # Every attempt's response, retried or not, passes through "response-received".
    new_client.meta.events.register("response-received", _count_throttling)
    return new_client


@cache
def client(service: str) -> Any:
    with _CREATING:
        return _observed(_session().create_client(service, config=_STANDARD))


@cache
def submit_client() -> Any:
    """The Batch client used for SubmitJob only (see _NO_AUTOMATIC_RETRY)."""
    with _CREATING:
        return _observed(_session().create_client("batch", config=_NO_AUTOMATIC_RETRY))


def reset_clients() -> None:
    """Forget cached clients and their session (tests that switch between emulators or credentials)."""
    client.cache_clear()
    submit_client.cache_clear()
    _session.cache_clear()
    take_throttle_count()
