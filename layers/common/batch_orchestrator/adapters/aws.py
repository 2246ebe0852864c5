"""AWS clients, created once per container and reused across invocations.

Retries use botocore's standard mode (exponential backoff with jitter on throttling and transient
errors). Timeouts stay well below the functions' timeouts so a stuck call fails the record instead
of the whole invocation. The endpoint comes from botocore's own AWS_ENDPOINT_URL setting, which
the local stack uses to point every client at the emulator.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
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


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_STANDARD)


@cache
def submit_client() -> Any:
    """The Batch client used for SubmitJob only (see _NO_AUTOMATIC_RETRY)."""
    return boto3.session.Session().client("batch", config=_NO_AUTOMATIC_RETRY)


def reset_clients() -> None:
    """Forget cached clients (tests that switch between emulators or credentials)."""
    client.cache_clear()
    submit_client.cache_clear()
