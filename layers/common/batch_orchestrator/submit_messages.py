"""What a SubmitQueue message asks for: S3 notifications (sent by S3), retry requests (sent by the tracker)
and resubmit requests (sent by the watchdog for a claim whose submission never happened)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import RUN_ID_PATTERN, run_id_for
from batch_orchestrator.limits import BATCH_RETRY_ATTEMPTS
from batch_orchestrator.models import Source, SubmitRequest, source_from_dict
from batch_orchestrator.s3_events import Skipped, iter_notification

RETRY_KIND = "retry"
# "Submit attempt n again": the submit path handles it exactly like a redelivery of the message that
# claimed attempt n (the claim protocol takes a stale claim over and looks the job name up first).
RESUBMIT_KIND = "resubmit"


def retry_message(*, run_id: str, attempt: int, source: Source) -> str:
    return json.dumps({"kind": RETRY_KIND, "runId": run_id, "attempt": attempt, "source": source.to_dict()})


def resubmit_message(*, run_id: str, attempt: int, source: Source) -> str:
    return json.dumps({"kind": RESUBMIT_KIND, "runId": run_id, "attempt": attempt, "source": source.to_dict()})


def parse_submit_message(body: str, *, input_prefix: str) -> list[SubmitRequest | Skipped]:
    """The submissions one message asks for, in order; raises MalformedMessage if it asks for nothing parseable."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"message body is not JSON: {exc}") from exc
    if not isinstance(payload, Mapping):
        raise MalformedMessage("message body is not a JSON object")
    if payload.get("kind") == RETRY_KIND:
        return [_parse_retry(payload)]
    if payload.get("kind") == RESUBMIT_KIND:
        return [_parse_retry(payload, kind=RESUBMIT_KIND, first_attempt=1)]
    requests: list[SubmitRequest | Skipped] = []
    for item in iter_notification(payload, prefix=input_prefix):
        if isinstance(item, Skipped):
            requests.append(item)
        else:
            requests.append(SubmitRequest(run_id=run_id_for(item), attempt=1, source=item))
    return requests


def _parse_retry(payload: Mapping[str, Any], *, kind: str = RETRY_KIND, first_attempt: int = 2) -> SubmitRequest:
    run_id = payload.get("runId")
    attempt = payload.get("attempt")
    source = payload.get("source")
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise MalformedMessage(f"{kind} request has an invalid runId {run_id!r}")
    last_attempt = BATCH_RETRY_ATTEMPTS.value  # MaxAttempts' ceiling, without loading the retry policy here
    if not isinstance(attempt, int) or isinstance(attempt, bool) or not first_attempt <= attempt <= last_attempt:
        raise MalformedMessage(f"{kind} request has an invalid attempt {attempt!r}")
    if not isinstance(source, Mapping):
        raise MalformedMessage(f"{kind} request has no source")
    try:
        parsed = source_from_dict(dict(source))
    except (TypeError, ValueError) as exc:  # e.g. a "size" that is a list: int() raises TypeError
        raise MalformedMessage(f"{kind} request source: {exc}") from exc
    if run_id_for(parsed) != run_id:
        raise MalformedMessage(f"{kind} request source does not belong to its runId")
    return SubmitRequest(run_id=run_id, attempt=attempt, source=parsed)
