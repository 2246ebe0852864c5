"""What a SubmitQueue message asks for: S3 notifications (sent by S3), retry requests (sent by the tracker),
resubmit requests (sent by the watchdog for a claim whose submission never happened) and run requests (sent by other
applications, directly or as "Run Requested" events: ``run_requests``).

Retry and resubmit requests carry the attempt's plan (workload, ladder step, capacity, Spot
interruptions, and for an array workload the array's size and the attempt's items as ranges); a request
written before workloads existed carries none and asks for ``DEFAULT_PLAN``. The array fields are written
only for array workloads, so a single job's request reads as it always did. An upload's plan comes from
routing its key (``routing``), in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from batch_orchestrator.array_items import items_text, parse_items
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import COUNT_PATTERN, MAX_RUN_ATTEMPT, RUN_ID_PATTERN, WORKLOAD_NAME_PATTERN, run_id_for
from batch_orchestrator.limits import ARRAY_RUN_MAX_ITEMS
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, Source, SubmitRequest, source_from_dict
from batch_orchestrator.workloads import COALESCED_MANIFEST, UNDER_OUTPUT_PREFIX, Capacity, NoWorkload

# The tracker and the watchdog only write retry and resubmit requests: the upload side (routing, the S3
# event model) is imported where uploads are parsed, so their cold starts do not load it (`make bench`).
if TYPE_CHECKING:
    from batch_orchestrator.routing import Router
    from batch_orchestrator.run_requests import RejectedRequest
    from batch_orchestrator.s3_events import Coalesced, Skipped

RETRY_KIND = "retry"
# "Submit attempt n again": the submit path handles it exactly like a redelivery of the message that
# claimed attempt n (the claim protocol takes a stale claim over and looks the job name up first).
RESUBMIT_KIND = "resubmit"


def _request_body(kind: str, run_id: str, attempt: int, source: Source, plan: AttemptPlan) -> str:
    body: dict[str, Any] = {
        "kind": kind,
        "runId": run_id,
        "attempt": attempt,
        "source": source.to_dict(),
        "workload": plan.workload,
        "sizeStep": plan.size_step,
        "capacity": plan.capacity.value,
        "spotInterruptions": plan.spot_interruptions,
    }
    if plan.array_size:
        body["arraySize"] = plan.array_size
    if plan.items:
        body["items"] = items_text(plan.items)
    if plan.step or plan.attempts_before_step:
        body["step"] = plan.step
        body["attemptsBeforeStep"] = plan.attempts_before_step
    return json.dumps(body)


def retry_message(*, run_id: str, attempt: int, source: Source, plan: AttemptPlan = DEFAULT_PLAN) -> str:
    return _request_body(RETRY_KIND, run_id, attempt, source, plan)


def resubmit_message(*, run_id: str, attempt: int, source: Source, plan: AttemptPlan = DEFAULT_PLAN) -> str:
    return _request_body(RESUBMIT_KIND, run_id, attempt, source, plan)


def parse_submit_message(
    body: str,
    *,
    input_prefix: str = "",
    routes: Router | None = None,
    message_id: str = "",
    now: datetime | None = None,
) -> list[SubmitRequest | Skipped | Coalesced | RejectedRequest]:
    """The submissions one message asks for, in order; raises MalformedMessage if it asks for nothing parseable.

    A run request (``run_requests``) is one ``SubmitRequest`` or one ``RejectedRequest``, judged against the workloads
    of ``routes``; ``message_id`` is the SQS message's (a rejected message request's identity) and ``now`` the time a
    message request is read at.

    Uploads are routed by ``routes`` (the functions pass the stack's ``UploadRoutes``); without it, by
    ``input_prefix`` alone, to the default workload. An upload no workload takes is ``Unmatched``;
    a key under the output prefix (a job's result) is ``Skipped``, counted apart from them. An upload of a workload
    with ``coalesce:`` is ``Coalesced``: forwarded to its workload's queue, not submitted (``coalesce``).
    """
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
    from batch_orchestrator.routing import InputPrefixOnly
    from batch_orchestrator.run_requests import is_run_request, parse_run_request

    router = routes if routes is not None else InputPrefixOnly(input_prefix)
    if is_run_request(payload):
        from batch_orchestrator.timeutil import utcnow

        return [parse_run_request(payload, message_id=message_id, routes=router, now=now or utcnow())]
    from batch_orchestrator.s3_events import Coalesced, Skipped, Unmatched, iter_notification

    requests: list[SubmitRequest | Skipped | Coalesced | RejectedRequest] = []
    for item in iter_notification(payload):
        if isinstance(item, Skipped):
            requests.append(item)
            continue
        plan = router.plan_for(item.key)
        if isinstance(plan, NoWorkload) and plan.reason in (UNDER_OUTPUT_PREFIX, COALESCED_MANIFEST):
            # A job's own result written back to the bucket (or a coalesced batch's manifest): expected, not an
            # upload nobody takes.
            requests.append(Skipped(reason=plan.reason, bucket=item.bucket, key=item.key))
        elif isinstance(plan, NoWorkload):
            requests.append(Unmatched(reason=plan.reason, bucket=item.bucket, key=item.key))
        elif router.coalesces(plan.workload):
            requests.append(Coalesced(workload=plan.workload, source=item, run_id=run_id_for(item)))
        else:
            requests.append(SubmitRequest(run_id=run_id_for(item), attempt=1, source=item, plan=plan))
    return requests


def _parse_retry(payload: Mapping[str, Any], *, kind: str = RETRY_KIND, first_attempt: int = 2) -> SubmitRequest:
    run_id = payload.get("runId")
    attempt = payload.get("attempt")
    source = payload.get("source")
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise MalformedMessage(f"{kind} request has an invalid runId {run_id!r}")
    last_attempt = MAX_RUN_ATTEMPT  # a run's attempts, across its pipeline steps and array parts
    if not _is_int(attempt) or not first_attempt <= attempt <= last_attempt:
        raise MalformedMessage(f"{kind} request has an invalid attempt {attempt!r}")
    if not isinstance(source, Mapping):
        raise MalformedMessage(f"{kind} request has no source")
    try:
        parsed = source_from_dict(dict(source))
    except (TypeError, ValueError) as exc:  # e.g. a "size" that is a list: int() raises TypeError
        raise MalformedMessage(f"{kind} request source: {exc}") from exc
    if run_id_for(parsed) != run_id:
        raise MalformedMessage(f"{kind} request source does not belong to its runId")
    return SubmitRequest(run_id=run_id, attempt=attempt, source=parsed, plan=_parse_plan(payload, kind))


def _parse_plan(payload: Mapping[str, Any], kind: str) -> AttemptPlan:
    """The plan a request asks for; each field a request written before workloads existed lacks is the default's."""
    workload = payload.get("workload", DEFAULT_PLAN.workload)
    if not isinstance(workload, str) or not WORKLOAD_NAME_PATTERN.match(workload):
        raise MalformedMessage(f"{kind} request has an invalid workload {workload!r}")
    counts = []
    for name, default in (("sizeStep", DEFAULT_PLAN.size_step), ("spotInterruptions", DEFAULT_PLAN.spot_interruptions)):
        value = payload.get(name, default)
        if not _is_int(value) or not COUNT_PATTERN.match(str(value)):
            raise MalformedMessage(f"{kind} request has an invalid {name} {value!r}")
        counts.append(value)
    capacity = payload.get("capacity", DEFAULT_PLAN.capacity.value)
    try:
        parsed_capacity = Capacity(capacity)
    except (TypeError, ValueError):
        raise MalformedMessage(f"{kind} request has an invalid capacity {capacity!r}") from None
    array_size, items = _parse_array(payload, kind)
    step = []
    for name in ("step", "attemptsBeforeStep"):  # a pipeline's later step only (AttemptPlan.step)
        value = payload.get(name, 0)
        if not _is_int(value) or not COUNT_PATTERN.match(str(value)):
            raise MalformedMessage(f"{kind} request has an invalid {name} {value!r}")
        step.append(value)
    return AttemptPlan(
        workload=workload,
        size_step=counts[0],
        capacity=parsed_capacity,
        spot_interruptions=counts[1],
        array_size=array_size,
        items=items,
        step=step[0],
        attempts_before_step=step[1],
    )


def _parse_array(payload: Mapping[str, Any], kind: str) -> tuple[int, tuple[int, ...]]:
    """An array workload's size and the attempt's items (0 and () for any other request)."""
    size = payload.get("arraySize", 0)
    if not _is_int(size) or not 0 <= size <= ARRAY_RUN_MAX_ITEMS.value:
        raise MalformedMessage(f"{kind} request has an invalid arraySize {size!r}")
    text = payload.get("items")
    if text is None:
        return size, ()
    if not isinstance(text, str):
        raise MalformedMessage(f"{kind} request has invalid items {text!r}")
    try:
        items = parse_items(text)
    except ValueError as exc:
        raise MalformedMessage(f"{kind} request: {exc}") from None
    if items[-1] >= size:
        raise MalformedMessage(f"{kind} request's items go past its array of {size} items")
    return size, items


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass: true is no attempt number.
    return isinstance(value, int) and not isinstance(value, bool)
