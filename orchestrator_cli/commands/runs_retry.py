"""`orchestrator runs retry`: a new attempt of a run, requested through the normal submit path.

Owns the two writes of a manual retry: the run's conditional move to RETRY_WAIT (with a lease on the
request, see RunsAdmin.request_manual_retry), then the retry request on the SubmitQueue. What may be
retried is decided by manual_retry. Invariant: the request is sent only after the run was updated;
if the run changed meanwhile nothing is sent, and if the send fails the error says how to send it again.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Mapping
from typing import Any

from batch_orchestrator.adapters.run_items import run_from_item
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.models import SIDE_EFFECT_RETRY, Run, SideEffect
from batch_orchestrator.submit_messages import retry_message
from batch_orchestrator.timeutil import epoch_seconds
from orchestrator_cli.commands.runs_item import read_run
from orchestrator_cli.context import Context
from orchestrator_cli.errors import CliError, Refused, from_cause
from orchestrator_cli.manual_retry import MAX_MANUAL_RETRIES, manual_attempt_plan, plan_manual_retry
from orchestrator_cli.parsing import parse_run_id

# How long the retry request may take to reach the queue before someone else may send it (see
# RunsAdmin.request_manual_retry): far more than one SendMessage needs.
MANUAL_RETRY_LEASE_SECONDS = 300


def retry_run(ctx: Context, args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    item = read_run(ctx, run_id)
    run = _as_run(item)
    plan = plan_manual_retry(run, force=args.force, manual_retries=len(item.get("manualRetries") or []))
    deployment = ctx.deployment()
    queue_url = deployment.output("SubmitQueueUrl")

    lease = SideEffect(
        kind=SIDE_EFFECT_RETRY,
        token=uuid.uuid4().hex,
        due=epoch_seconds(ctx.now) + MANUAL_RETRY_LEASE_SECONDS,
        job_id=plan.previous_job_id or "",
    )
    record = plan.record(now=ctx.now, requested_by=ctx.aws.caller_arn())
    try:
        written = deployment.runs_admin().request_manual_retry(
            run=run,
            attempt=plan.attempt,
            max_attempts=plan.max_attempts,
            max_records=MAX_MANUAL_RETRIES,
            side_effect=lease,
            record=record,
            abandoned=plan.abandoned,
            now=ctx.now,
        )
    except RunStoreError as exc:
        raise from_cause(exc, f"updating run {run_id}") from exc
    if not written.applied:
        now_status = written.run.status.value if written.run else "gone"
        raise Refused(
            f"run {run_id} changed while the retry was prepared (it was {run.status.value}, now {now_status})",
            hint="look at it again with `orchestrator runs show` and retry if it still needs one",
        )

    # The next attempt runs as the last one did: its workload, ladder step and capacity (and an array run's
    # failed items); without it the submit path would take the request for the default workload's.
    body = retry_message(run_id=run_id, attempt=plan.attempt, source=run.source, plan=manual_attempt_plan(run))
    try:
        sent = ctx.aws.call(
            f"sending the retry request of {run_id} to the SubmitQueue",
            ctx.aws.client("sqs").send_message,
            QueueUrl=queue_url,
            MessageBody=body,
        )
    except CliError as exc:
        exc.hint = (
            f"the run is in RETRY_WAIT for attempt {plan.attempt} but no request was sent: run "
            f"`orchestrator runs retry {run_id}` again to send it (the watchdog also re-sends it later)"
        )
        raise

    result = {
        "runId": run_id,
        "attempt": plan.attempt,
        "maxAttempts": plan.max_attempts,
        "previousStatus": plan.previous_status.value,
        "previousAttempt": plan.previous_attempt,
        "forced": plan.forced,
        "resend": plan.resend,
        "maxAttemptsRaisedFrom": plan.max_attempts_raised_from,
        "previousJobId": plan.previous_job_id,
        "messageId": sent.get("MessageId"),
        "queueUrl": queue_url,
    }
    if ctx.out.json_mode:
        ctx.out.json(result)
        return 0
    if plan.resend:
        ctx.out.line(
            f"Run {run_id}: the request for attempt {plan.attempt} of {plan.max_attempts} was sent again "
            "(it was waiting in RETRY_WAIT)."
        )
    else:
        ctx.out.line(
            f"Run {run_id}: attempt {plan.attempt} of {plan.max_attempts} requested "
            f"(was {plan.previous_status.value} at attempt {plan.previous_attempt})."
        )
    if plan.max_attempts_raised_from is not None:
        ctx.out.line(f"maxAttempts raised from {plan.max_attempts_raised_from} to {plan.max_attempts} for this run.")
    if plan.abandoned is not None and plan.previous_job_id:
        ctx.out.line(
            f"Attempt {plan.previous_attempt} is recorded as abandoned; its job {plan.previous_job_id} was not "
            "cancelled and its further events are ignored."
        )
    ctx.out.line(f"The submit function picks the request up from the SubmitQueue (message {sent.get('MessageId')}).")
    ctx.out.line(f"Follow it with: orchestrator runs show {run_id}")
    return 0


def _as_run(item: Mapping[str, Any]) -> Run:
    try:
        return run_from_item(item)
    except (KeyError, ValueError) as exc:
        raise Refused(f"run {item.get('runId')} has an item the CLI cannot read ({exc}); not touching it") from exc
