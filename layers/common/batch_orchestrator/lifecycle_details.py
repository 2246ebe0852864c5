"""The ``detail`` of each lifecycle event (schema ``events/schemas/lifecycle-event.schema.json``, version 1.0).

Built from the changed item alone: what the run item knows, nothing read or written to learn more. A run event's
detail always has the same fields (a value the item does not know is null), plus one object of its own per
detail-type (``next``, ``retry``, ``stuck``). ``eventKey`` is what consumers deduplicate on: ``<runId>:<KEY>:<n>``
with ``n`` the attempt the event is about (the request's number for an operator's retry, the stay for a stuck
run), the same whichever delivery of the same transition carries it. Pure: no boto3, no environment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from batch_orchestrator.array_items import items_text
from batch_orchestrator.array_parts import PART_SIZE, part_count, part_of
from batch_orchestrator.console_links import log_stream_console_url
from batch_orchestrator.lifecycle_events import (
    SCHEMA_VERSION,
    BlockedQueueImage,
    EventContext,
    ItemChange,
    RunImage,
)
from batch_orchestrator.models import AttemptPlan, AttemptRecord, Run
from batch_orchestrator.timeutil import iso

Detail = dict[str, Any]
Built = tuple[Detail, tuple[str, ...]]


# ------------------------------------------------------------------------------------------ builders
def run_started(change: ItemChange, context: EventContext, key: str) -> Built:
    new = _image(change.new)
    return _run_detail(new, context, key=key, attempt=1, record=None, plan=new.run.plan), _resources(new.run)


def run_succeeded(change: ItemChange, context: EventContext, key: str) -> Built:
    new = _image(change.new)
    record = new.run.history[-1] if new.run.history else None
    attempt = record.attempt if record else new.run.attempt
    detail = _run_detail(new, context, key=key, attempt=attempt, record=record, plan=new.run.plan)
    return detail, _resources(new.run)


def run_failed(change: ItemChange, context: EventContext, key: str) -> Built:
    new = _image(change.new)
    record = new.run.history[-1] if new.run.history else None
    attempt = record.attempt if record else new.run.attempt
    detail = _run_detail(new, context, key=key, attempt=attempt, record=record, plan=new.run.plan)
    return detail, _resources(new.run)


def attempt_failed(change: ItemChange, context: EventContext, key: str) -> Built:
    """The failed attempt (the plan it ran is the old image's), and the attempt the run now waits for."""
    old, new = _image(change.old), _image(change.new)
    record = new.run.history[-1]
    detail = _run_detail(new, context, key=key, attempt=record.attempt, record=record, plan=old.run.plan)
    plan = new.run.plan
    detail["next"] = {
        "attempt": new.run.attempt,
        "at": new.run.next_attempt_at,
        "workload": plan.workload,
        "sizeStep": plan.size_step,
        "capacity": plan.capacity.value,
        "items": items_text(plan.items) if plan.items else None,
    }
    return detail, _resources(new.run)


def step_finished(change: ItemChange, context: EventContext, key: str) -> Built:
    """A pipeline step (``finished: step``) or an array part (``finished: part``) succeeded; ``next`` is due."""
    old, new = _image(change.old), _image(change.new)
    record = new.run.history[-1]
    finished, following = old.run.plan, new.run.plan
    detail = _run_detail(new, context, key=key, attempt=record.attempt, record=record, plan=finished)
    part = _part(following)
    detail["finished"] = "part" if following.workload == finished.workload else "step"
    detail["next"] = {
        "attempt": new.run.attempt,
        "at": new.run.next_attempt_at,
        "workload": following.workload,
        "step": _step_number(following, None),
        "part": part["number"] if part else None,
    }
    return detail, _resources(new.run)


def retry_requested(change: ItemChange, context: EventContext, key: str) -> Built:
    new = _image(change.new)
    request = new.manual_retries[-1]
    detail = _run_detail(
        new, context, key=key, attempt=new.run.attempt, record=None, plan=new.run.plan, serial=len(new.manual_retries)
    )
    detail["retry"] = {
        "previousStatus": str(request.get("previousStatus", "")),
        "previousAttempt": int(request.get("previousAttempt", 0)),
        "forced": bool(request.get("forced", False)),
        "requestedAt": str(request.get("requestedAt", "")),
        "requestedBy": request.get("requestedBy"),
    }
    return detail, _resources(new.run)


def run_stuck(change: ItemChange, context: EventContext, key: str) -> Built:
    new = _image(change.new)
    episode = new.stuck_alerted_for or ""
    detail = _run_detail(new, context, key=key, attempt=new.run.attempt, record=None, plan=new.run.plan, serial=episode)
    detail["stuck"] = {"since": new.run.updated_at, "episode": episode, "alertedAt": new.stuck_alerted_at}
    return detail, _resources(new.run)


def queue_blocked(change: ItemChange, context: EventContext, key: str) -> Built:
    blocked = change.new
    assert isinstance(blocked, BlockedQueueImage)
    detail = {
        "schemaVersion": SCHEMA_VERSION,
        "eventKey": f"{blocked.job_id}:{key}",
        "jobId": blocked.job_id,
        "jobName": blocked.job_name,
        "jobQueue": blocked.job_queue,
        "reason": blocked.reason,
        "runId": blocked.run_id,
        "firstSeenAt": blocked.first_seen_at,
    }
    return detail, (blocked.job_queue,)


# ------------------------------------------------------------------------------------------ the parts
def _image(image: object) -> RunImage:
    assert isinstance(image, RunImage), "the transition's test admits run images only"
    return image


def _resources(run: Run) -> tuple[str, ...]:
    return (run.job_queue,) if run.job_queue else ()


def run_workload(run: Run) -> str:
    """The workload the run was started for: a pipeline's first step (its history names each step's workload)."""
    first = run.history[0].workload if run.history else None
    return first or run.workload


def _run_detail(
    image: RunImage,
    context: EventContext,
    *,
    key: str,
    attempt: int,
    record: AttemptRecord | None,
    plan: AttemptPlan,
    serial: int | str | None = None,
) -> Detail:
    """The fields every run event has. ``record``: the attempt that just ended (None: none did); ``plan``: the
    plan that attempt ran (or the run's current one)."""
    run = image.run
    started = record.started_at if record else image.started_at
    stopped = record.stopped_at if record else None
    stream = record.log_stream_name if record else run.log_stream_name
    job_id = (record.job_id or None) if record else run.job_id or run.last_job_id
    return {
        "schemaVersion": SCHEMA_VERSION,
        "eventKey": f"{run.run_id}:{key}:{attempt if serial is None else serial}",
        "runId": run.run_id,
        "workload": run_workload(run),
        "status": run.status.value,
        "trigger": run.source.trigger.value,
        "input": run.source.to_dict(),
        "attempt": attempt,
        "maxAttempts": run.max_attempts,
        "job": {  # a run refused before any job (a rejected request) was written with "" for them: null here
            "jobId": job_id,
            "jobName": run.job_name,
            "jobQueue": run.job_queue or None,
            "jobDefinition": run.job_definition or None,
        },
        "exitCode": record.exit_code if record else None,
        "reason": (record.reason if record else None) or run.status_reason,
        "logStreamName": stream,
        "logUrl": _log_url(context, stream),
        "timings": {
            "createdAt": run.created_at,
            "updatedAt": run.updated_at,
            "startedAt": _iso_ms(started),
            "stoppedAt": _iso_ms(stopped),
            "durationSeconds": round((stopped - started) / 1000, 3) if started and stopped else None,
            "finishedAt": run.updated_at if run.status.is_terminal else None,
        },
        "outputs": _outputs(context, run, record),
        "step": _step(plan, record),
        "array": _array(run, plan, record),
    }


def _log_url(context: EventContext, stream: str | None) -> str | None:
    if not stream or not context.job_log_group:
        return None
    try:
        return log_stream_console_url(context.region, context.job_log_group, stream)
    except ValueError:  # a region without a public console: no link rather than a wrong one
        return None


def _iso_ms(epoch_ms: int | None) -> str | None:
    return iso(datetime.fromtimestamp(epoch_ms / 1000, UTC)) if epoch_ms is not None else None


def _outputs(context: EventContext, run: Run, record: AttemptRecord | None) -> dict[str, Any] | None:
    """Where the run's jobs write (OutputPrefix + run id), and a pipeline step's own prefix; None without outputs."""
    if not context.output_prefix:
        return None
    step = record.workload if record and record.workload else None
    step_prefix = None
    if step is not None:
        from batch_orchestrator.workload_steps import step_output_prefix  # pipelines only

        step_prefix = step_output_prefix(context.output_prefix, run.run_id, step)
    return {
        "bucket": context.output_bucket,
        "prefix": f"{context.output_prefix}{run.run_id}/",
        "stepPrefix": step_prefix,
    }


def _step_number(plan: AttemptPlan, record: AttemptRecord | None) -> int | None:
    """A pipeline step's number (1-based), when the attempt ran one; None outside pipelines."""
    if plan.step or (record is not None and record.workload):
        return plan.step + 1
    return None


def _step(plan: AttemptPlan, record: AttemptRecord | None) -> dict[str, Any] | None:
    number = _step_number(plan, record)
    return None if number is None else {"workload": plan.workload, "number": number}


def _part(plan: AttemptPlan) -> dict[str, int] | None:
    if plan.array_size <= PART_SIZE:
        return None
    return {"number": part_of(plan.items) + 1, "count": part_count(plan.array_size)}


def _array(run: Run, plan: AttemptPlan, record: AttemptRecord | None) -> dict[str, Any] | None:
    if not plan.array_size:
        return None
    items = record.items if record and record.items else (items_text(plan.items) if plan.items else None)
    return {
        "size": plan.array_size,
        "items": items,
        "part": _part(plan),
        "children": dict(run.array_status),
        "failedChildren": run.failed_children_count,
        "failedItems": [child.item for child in run.failed_children],
    }
