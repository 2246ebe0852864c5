"""Runs other applications request: a "Run Requested" event, or a "request" message on the SubmitQueue, judged.

Two ways in, one request (``events/schemas/run-request.schema.json``; docs/integration.md):

* an event on the stack's bus, ``detail-type`` "Run Requested", its detail naming the stack (``orchestrator``): the
  RunRequests rule sends the whole event to the SubmitQueue. The requester is the event's ``source``, the request's
  id the event's ``id``, its time the event's ``time``;
* a message sent to the SubmitQueue, ``{"kind": "request", ...}``: the requester is its ``requester`` field (optional),
  its id the SQS message id, its time when the submit function reads it.

Either way the request names a ``workload`` (one whose ``requests:`` lets applications start it), a ``requestKey``
(the caller's idempotency key: the same key twice is ONE run, ``req-<digest of workload and key>``, whatever the
second request carries) and optionally the ``environment`` its job gets (only names the workload allows) and a
``payload`` (a JSON object the job reads as REQUEST_PAYLOAD).

Invariants:

* every request becomes exactly one ``SubmitRequest`` (attempt 1) or one ``RejectedRequest``, never an exception and
  never a silent drop. ``MalformedMessage`` is for messages that are no request at all.
* A rejection is written as a refused run (FAILED, no job, no alert owed: the caller's mistake is the caller's to
  hear) that the lifecycle publisher sends as "Run Rejected", with the reason. Its run id derives from the request's
  event or message id, not from its key, so a rejection never uses the key up: the corrected request may send it
  again. A duplicate delivery of the same rejected request is the same rejected run, so it is one event.
* What a request sets is bounded: a key of at most ``REQUEST_KEY_MAX_LENGTH`` characters of ``REQUEST_KEY``, a
  requester of at most ``REQUESTER_MAX_LENGTH``, the payload and environment together within
  ``REQUEST_OVERRIDES_BUDGET`` as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from batch_orchestrator.attempt_plan import first_plan
from batch_orchestrator.ids import WORKLOAD_NAME_PATTERN, job_name_for, run_id_for
from batch_orchestrator.limits import REQUEST_OVERRIDES_BUDGET
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, RequestSource, SubmitRequest
from batch_orchestrator.ports import RunStore
from batch_orchestrator.timeutil import iso

if TYPE_CHECKING:
    from batch_orchestrator.routing import Router

REQUEST_KIND = "request"  # a message sent to the SubmitQueue directly
REQUESTED_DETAIL_TYPE = "Run Requested"  # an event on the stack's bus (template.yaml's RunRequests rule)
REQUEST_KEY_MAX_LENGTH = 128
# Letters, digits and the punctuation ids and paths use: a key reads back the same in JSON, a log line and a job name.
REQUEST_KEY = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:/=+@-]{{0,{REQUEST_KEY_MAX_LENGTH - 1}}}")
REQUESTER_MAX_LENGTH = 256  # as an event's source (PutEvents: 256 characters at most)
_FIELDS = ("workload", "requestKey", "environment", "payload")
_MESSAGE_FIELDS = ("kind", "requester", *_FIELDS)
_EVENT_FIELDS = ("orchestrator", *_FIELDS)


class RejectedRequest(NamedTuple):
    """A request the stack will not run, and why: written as a refused run, published as "Run Rejected"."""

    run_id: str
    source: RequestSource
    reason: str
    plan: AttemptPlan = DEFAULT_PLAN  # its workload: the one it named when that is a workload's name


class _Envelope(NamedTuple):
    """What the request's transport says of it: who sent it, its id and time, and its own fields."""

    fields: Mapping[str, Any]
    allowed: tuple[str, ...]
    requester: str
    message_id: str
    requested_at: str
    problem: str | None = None  # the envelope itself is wrong (a message's requester, an event's detail)


def is_run_request(payload: Mapping[str, Any]) -> bool:
    """Whether a SubmitQueue message is a run request (a "request" message, or a "Run Requested" event)."""
    return payload.get("kind") == REQUEST_KIND or payload.get("detail-type") == REQUESTED_DETAIL_TYPE


def parse_run_request(
    payload: Mapping[str, Any], *, message_id: str, routes: Router, now: datetime
) -> SubmitRequest | RejectedRequest:
    """The run a request asks for, or its rejection with the reason (``payload``: the message, ``is_run_request``)."""
    envelope = _envelope(payload, message_id=message_id, now=now)
    fields = envelope.fields
    workload_name = fields.get("workload")
    named = workload_name if isinstance(workload_name, str) and WORKLOAD_NAME_PATTERN.fullmatch(workload_name) else None
    key = fields.get("requestKey")
    usable_key = key if isinstance(key, str) and REQUEST_KEY.fullmatch(key) else None

    def reject(reason: str) -> RejectedRequest:
        source = RequestSource(
            workload=named or "",
            request_key=usable_key or "",
            requester=envelope.requester,
            requested_at=envelope.requested_at,
            message_id=envelope.message_id,
        )
        plan = AttemptPlan(workload=named) if named else DEFAULT_PLAN
        return RejectedRequest(run_id=run_id_for(source), source=source, reason=reason, plan=plan)

    if envelope.problem:
        return reject(envelope.problem)
    unknown = [str(name) for name in fields if name not in envelope.allowed]
    if unknown:
        return reject(f"unknown field {_shown(unknown[0])}: a request has {', '.join(_FIELDS)}")
    if named is None:
        return reject(
            f"workload must be a workload's name (lowercase letters, digits, '-'), got {_shown(workload_name)}"
        )
    if usable_key is None:
        return reject(
            f"requestKey must be 1 to {REQUEST_KEY_MAX_LENGTH} characters: a letter or digit, then letters, digits "
            f"or ._:/=+@-, got {_shown(key)}"
        )
    workload = routes.workload(named)
    if workload is None:
        return reject(f"this stack has no workload {named!r}")
    if workload.requests is None:
        return reject(f"workload {named!r} does not take requests (its workloads.yaml entry has no requests:)")
    environment, problem = _environment(fields.get("environment"), allowed=workload.requests.environment)
    if problem:
        return reject(problem)
    payload_text, problem = _payload(fields.get("payload"))
    if problem:
        return reject(problem)
    size = overrides_size(dict(environment), payload_text)
    if size > REQUEST_OVERRIDES_BUDGET.value:
        return reject(
            f"environment and payload take {size} bytes as JSON, over the {REQUEST_OVERRIDES_BUDGET.value} a request "
            "may set: put bulk data in S3 and send its key"
        )
    source = RequestSource(
        workload=named,
        request_key=usable_key,
        requester=envelope.requester,
        requested_at=envelope.requested_at,
        environment=environment,
        payload=payload_text,
    )
    return SubmitRequest(run_id=run_id_for(source), attempt=1, source=source, plan=first_plan(workload))


def compact_payload(payload: Mapping[str, Any]) -> str:
    """A request's payload as the job reads it in REQUEST_PAYLOAD: compact JSON, keys sorted."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def overrides_size(environment: Mapping[str, str], payload: str | None) -> int:
    """What a request sets, measured against REQUEST_OVERRIDES_BUDGET: its variables (sorted by name) and its
    payload's compact JSON, together as compact JSON, in UTF-8 bytes (the CLI measures its requests the same way)."""
    pair = [dict(sorted(environment.items())), payload]
    return len(json.dumps(pair, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def reject_request(rejected: RejectedRequest, *, runs: RunStore, now: datetime) -> bool:
    """Write the rejection as a refused run (FAILED, no job, no alert owed), whose "Run Rejected" event the lifecycle
    publisher sends; False when a delivery of the same request already did (its event is already on its way)."""
    written = runs.refuse_first_attempt(
        run_id=rejected.run_id,
        source=rejected.source,
        job_name=job_name_for(rejected.run_id, 1, rejected.source),
        job_queue="",
        job_definition="",
        max_attempts=1,
        now=now,
        reason=rejected.reason,
        side_effect=None,
        plan=rejected.plan,
    )
    return written.applied


def _envelope(payload: Mapping[str, Any], *, message_id: str, now: datetime) -> _Envelope:
    from batch_orchestrator.workload_fields import is_unicode

    if payload.get("kind") == REQUEST_KIND:
        requester = payload.get("requester", "")
        problem = None
        if not isinstance(requester, str) or not is_unicode(requester) or len(requester) > REQUESTER_MAX_LENGTH:
            problem = f"requester must be text of at most {REQUESTER_MAX_LENGTH} characters, got {_shown(requester)}"
            requester = ""
        return _Envelope(payload, _MESSAGE_FIELDS, requester, message_id, iso(now), problem)
    detail = payload.get("detail")
    event_id, source, time = payload.get("id"), payload.get("source"), payload.get("time")
    return _Envelope(
        fields=detail if isinstance(detail, Mapping) else {},
        allowed=_EVENT_FIELDS,
        requester=source[:REQUESTER_MAX_LENGTH] if isinstance(source, str) else "",
        message_id=event_id if isinstance(event_id, str) and event_id else message_id,
        requested_at=time if isinstance(time, str) and time else iso(now),
        problem=_detail_problem(detail),
    )


def _detail_problem(detail: object) -> str | None:
    """What is wrong with a Run Requested event's detail as a whole (its fields are judged as a message's)."""
    if not isinstance(detail, Mapping):
        return f"the event's detail must be an object, got {_shown(detail)}"
    stack = detail.get("orchestrator")
    if not isinstance(stack, str) or not stack:
        # The RunRequests rule matches it: only an event sent to the queue by hand can lack it.
        return f"the event's detail must name the stack (orchestrator: its stack name), got {_shown(stack)}"
    return None


def _environment(value: object, *, allowed: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    from batch_orchestrator.workload_fields import is_unicode

    if value is None:
        return (), None
    if not isinstance(value, Mapping):
        return (), f'environment must be an object of NAME: "value" strings, got {type(value).__name__}'
    for name, text in value.items():
        if name not in allowed:
            names = ", ".join(allowed) if allowed else "none"
            return (), f"environment variable {_shown(name)} is not one this workload lets requests set ({names})"
        if not isinstance(text, str) or not is_unicode(text):
            return (), f"environment variable {name} must be a string, got {type(text).__name__}"
    return tuple(sorted(value.items())), None


def _payload(value: object) -> tuple[str | None, str | None]:
    from batch_orchestrator.workload_fields import not_json

    if value is None:
        return None, None
    if not isinstance(value, Mapping):
        return None, f"payload must be a JSON object, got {type(value).__name__}"
    found = not_json(value, "payload")
    if found:
        return None, f"{found[0]} is not JSON: {found[1]}"
    return compact_payload(value), None


def _shown(value: object) -> str:
    """A caller's value in a reason: quoted and cut, so a reason stays one short line (a caller may send megabytes)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
