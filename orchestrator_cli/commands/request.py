"""`orchestrator request WORKLOAD --key KEY`: start a run the way another application does (docs/integration.md).

The CLI sends what an application would send: a "request" message on the SubmitQueue (``--via queue``, the default)
or a "Run Requested" event on the stack's bus (``--via bus``), which the stack's RunRequests rule forwards to the
same queue. The submit function judges it (``batch_orchestrator.run_requests``): it starts the run, or records a
rejection that its caller hears as a "Run Rejected" event. The run id derives from the workload and the key alone,
so it is printed before anything runs; so is the id a rejection would get, which derives from the message (or event)
id instead.

What the CLI checks before sending, with the submit function's own rules: the workload's name, the key, each
variable's name and value, the payload (a JSON object) and the size of both. What it cannot check: whether the
workload exists and takes requests, and which variables it allows. The workload table is the stack's, not the CLI's.

The requester is ``orchestrator-cli`` both ways, not the caller's ARN: an event's source must be an application's
name (PutEvents refuses ``aws.*`` sources), so the message says the same. The job's REQUEST_SOURCE and the events'
``detail.input.requester`` read the same whichever way the request went, and one rule hears every CLI request.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.ids import WORKLOAD_NAME_PATTERN, run_id_for
from batch_orchestrator.limits import REQUEST_OVERRIDES_BUDGET
from batch_orchestrator.models import RequestSource
from batch_orchestrator.run_requests import (
    REQUEST_KEY,
    REQUEST_KEY_MAX_LENGTH,
    REQUEST_KIND,
    REQUESTED_DETAIL_TYPE,
    compact_payload,
    overrides_size,
)
from batch_orchestrator.workload_fields import environment_name_problem, is_unicode, not_json
from batch_orchestrator.workload_requests import MAX_REQUEST_VARIABLES
from orchestrator_cli.context import Context
from orchestrator_cli.deployment import Deployment
from orchestrator_cli.errors import AwsError, Refused, UsageError, from_cause

REQUESTER = "orchestrator-cli"  # the message's requester and the event's source
VIA_QUEUE = "queue"
VIA_BUS = "bus"
# An output only a stack that takes run requests has (template.yaml): an older stack would drop them.
REQUESTS_OUTPUT = "RunRequestsRuleArn"


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "request",
        parents=parents,
        help="start a run of a workload the way another application does (a run request)",
        description=(
            "Ask the stack to start a run of WORKLOAD, as another application would (docs/integration.md, "
            "Requesting runs): a request message on the SubmitQueue (--via queue) or a Run Requested event on the "
            "stack's bus (--via bus). Prints the run id, req-<digest of workload and key>. The same key twice is one "
            "run: a key that already has a run is refused. The CLI checks the names, the key, the payload and their "
            "size before sending; whether WORKLOAD exists and takes requests, and which variables it allows, only "
            "the submit function knows (workloads.yaml's requests:): a request it will not run is rejected, and "
            "recorded as the failed run printed as 'if rejected'."
        ),
    )
    parser.add_argument("workload", metavar="WORKLOAD", help="a workload whose workloads.yaml entry has requests:")
    parser.add_argument(
        "--key",
        required=True,
        metavar="KEY",
        help=f"your idempotency key: 1 to {REQUEST_KEY_MAX_LENGTH} characters, a letter or digit, then letters, "
        "digits or ._:/=+@- (the job reads it as REQUEST_KEY)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable for the job, repeatable; only names the workload's requests.environment lists",
    )
    parser.add_argument(
        "--payload", metavar="JSON", help="a JSON object the job reads, as compact JSON, from REQUEST_PAYLOAD"
    )
    parser.add_argument(
        "--via",
        choices=(VIA_QUEUE, VIA_BUS),
        default=VIA_QUEUE,
        help="a message on the SubmitQueue (default) or a Run Requested event on the stack's bus",
    )
    parser.set_defaults(handler=request_run)


def request_fields(workload: str, key: str, env: list[str], payload: str | None) -> dict[str, Any]:
    """The request's own fields (workload, requestKey, environment?, payload?), checked as the submit function checks
    them; UsageError naming the first problem."""
    if not WORKLOAD_NAME_PATTERN.fullmatch(workload):
        raise UsageError(
            f"workload must be a workload's name (a lowercase letter, then up to 19 lowercase letters, digits or "
            f"'-'), got {workload!r}"
        )
    if not REQUEST_KEY.fullmatch(key):
        raise UsageError(
            f"--key must be 1 to {REQUEST_KEY_MAX_LENGTH} characters: a letter or digit, then letters, digits or "
            f"._:/=+@-, got {_shown(key)}"
        )
    fields: dict[str, Any] = {"workload": workload, "requestKey": key}
    environment = _environment(env)
    if environment:
        fields["environment"] = environment
    payload_value = _payload(payload)
    if payload_value is not None:
        fields["payload"] = payload_value
    size = overrides_size(environment, None if payload_value is None else compact_payload(payload_value))
    if size > REQUEST_OVERRIDES_BUDGET.value:
        raise UsageError(
            f"--env and --payload take {size} bytes as JSON, over the {REQUEST_OVERRIDES_BUDGET.value} a request "
            "may set",
            hint="put bulk data in S3 and send its key",
        )
    return fields


def message_body(fields: dict[str, Any]) -> str:
    """The SubmitQueue message of a request (events/schemas/run-request.schema.json, "SubmitQueue message body").

    ASCII JSON, here and in the event: SQS refuses a few characters JSON may carry raw (U+FFFE, U+FFFF)."""
    return json.dumps({"kind": REQUEST_KIND, "requester": REQUESTER, **fields})


def event_entry(fields: dict[str, Any], *, stack_name: str, bus: str) -> dict[str, Any]:
    """The PutEvents entry of a request: the stack's RunRequests rule matches its detail-type and orchestrator."""
    return {
        "EventBusName": bus,
        "Source": REQUESTER,
        "DetailType": REQUESTED_DETAIL_TYPE,
        "Detail": json.dumps({"orchestrator": stack_name, **fields}),
    }


def request_run(ctx: Context, args: argparse.Namespace) -> int:
    fields = request_fields(args.workload, args.key, args.env, args.payload)
    deployment = ctx.deployment()
    deployment.output(REQUESTS_OUTPUT)  # NotFound on a stack that does not take requests yet
    run_id = run_id_for(RequestSource(workload=args.workload, request_key=args.key, requester="", requested_at=""))
    try:
        existing = deployment.runs_admin().read_item(run_id)
    except RunStoreError as exc:
        raise from_cause(exc, f"reading run {run_id}") from exc
    if existing is not None:
        raise Refused(
            f"key {args.key!r} of workload {args.workload} already has run {run_id} "
            f"({existing.get('status')} at attempt {existing.get('attempt')}): the same key is one run",
            hint=f"`orchestrator runs show {run_id}` shows it, `orchestrator runs retry {run_id}` starts a new "
            "attempt; a new key starts a new run",
        )

    if args.via == VIA_BUS:
        sent_id, target = _put_event(ctx, deployment, fields)
    else:
        sent_id, target = _send_message(ctx, deployment, fields)
    # What the submit function names a rejection by: the event's id, else the SQS message's (run_requests).
    rejected_id = run_id_for(
        RequestSource(workload="", request_key="", requester="", requested_at="", message_id=sent_id)
    )
    result = {
        "runId": run_id,
        "workload": args.workload,
        "requestKey": args.key,
        "via": args.via,
        "requester": REQUESTER,
        ("eventId" if args.via == VIA_BUS else "messageId"): sent_id,
        "rejectedRunId": rejected_id,
    }
    if ctx.out.json_mode:
        ctx.out.json(result)
        return 0
    if args.via == VIA_BUS:
        what = f"a Run Requested event on bus {target} (event {sent_id})"
    else:
        what = f"a request on the SubmitQueue (message {sent_id})"
    ctx.out.line(f"Requested a run of {args.workload} with key {args.key}: {what}.")
    ctx.out.line(f"Run id: {run_id}")
    ctx.out.line(f"Follow it with: orchestrator runs show {run_id}")
    ctx.out.line(
        f"If rejected (a workload that takes no requests, a variable it does not allow), the rejection is run "
        f"{rejected_id} (a Run Rejected event): orchestrator runs show {rejected_id}"
    )
    return 0


def _send_message(ctx: Context, deployment: Deployment, fields: dict[str, Any]) -> tuple[str, str]:
    queue_url = deployment.output("SubmitQueueUrl")
    sent = ctx.aws.call(
        "sending the request to the SubmitQueue",
        ctx.aws.client("sqs").send_message,
        QueueUrl=queue_url,
        MessageBody=message_body(fields),
    )
    return str(sent.get("MessageId", "")), queue_url


def _put_event(ctx: Context, deployment: Deployment, fields: dict[str, Any]) -> tuple[str, str]:
    bus = deployment.output("EventBusName")
    # The RunRequests rule matches detail.orchestrator to AWS::StackName: the stack's own name, as CloudFormation
    # answers it (also when --stack-name gave its ARN), which its EventSource output ends with.
    entry = event_entry(fields, stack_name=deployment.name, bus=bus)
    doing = f"putting the Run Requested event on bus {bus}"
    response = ctx.aws.call(doing, ctx.aws.client("events").put_events, Entries=[entry])
    answer = (response.get("Entries") or [{}])[0]
    if response.get("FailedEntryCount", 0) or not answer.get("EventId"):
        raise AwsError(
            f"{doing}: {answer.get('ErrorCode') or 'refused'}: {answer.get('ErrorMessage') or 'no event id'}",
            hint="the identity you use needs events:PutEvents on the bus (docs/integration.md, Requesting runs)",
        )
    return str(answer["EventId"]), bus


def _environment(pairs: list[str]) -> dict[str, str]:
    environment: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals:
            raise UsageError(f"--env takes NAME=VALUE, got {_shown(pair)}", hint="e.g. --env CUSTOMER_ID=c-1842")
        problem = environment_name_problem(name)
        if problem:
            raise UsageError(f"--env {_shown(name)} {problem}")
        if name in environment:
            raise UsageError(f"--env {name} is given twice")
        if not is_unicode(value):
            raise UsageError(f"--env {name}'s value is not Unicode text")
        environment[name] = value
    if len(environment) > MAX_REQUEST_VARIABLES:
        raise UsageError(
            f"--env sets {len(environment)} variables; a workload lets requests set at most {MAX_REQUEST_VARIABLES}"
        )
    return environment


def _payload(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--payload is not JSON: {exc}", hint='e.g. --payload \'{"month": "2026-03"}\'') from None
    if not isinstance(value, dict):
        raise UsageError(
            f"--payload must be a JSON object, got {type(value).__name__}", hint="wrap it: '{\"value\": ...}'"
        )
    found = not_json(value, "payload")
    if found:
        raise UsageError(f"--payload: {found[0]} is not JSON: {found[1]}")
    return value


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
