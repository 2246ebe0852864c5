"""Run requests, against the resolved template: the RunRequests rule takes the "Run Requested" events naming this
stack and nothing else, and EventBridge may deliver them to the SubmitQueue (and dead-letter them to SubmitDLQ),
as events.amazonaws.com with the rule's ARN as aws:SourceArn (on a custom bus, rule/<bus>/<name>). Mutated templates
show the checks fail: a queue policy without the rule's statement, or naming another rule, denies the delivery.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conformance.requests import all_calls, decide
from tests.conformance.resolve import ResolvedStack, Template, resolve_stack, resolve_template, transformed_template
from tests.conformance.test_event_patterns import routes

WHO = "events.amazonaws.com (RunRequests)"


def _deliveries(stack: ResolvedStack) -> list[tuple[str, str, bool]]:
    """(action, queue's logical id, allowed) of every call EventBridge makes for the rule."""
    by_arn = {stack.get_att(q, "Arn"): q for q in ("SubmitQueue", "SubmitDLQ")}
    return sorted(
        (call.action, by_arn.get(resource.arn, resource.arn), decision.allowed)
        for call in all_calls(stack)
        if call.who == WHO
        for resource, decision in decide(stack, call)
    )


@pytest.mark.parametrize("parameters", [{}, {"EventBusName": "orchestrator-events"}], ids=["default bus", "own bus"])
def test_eventbridge_may_deliver_requests_to_the_submit_queue_and_its_dlq(parameters: dict[str, str]) -> None:
    assert _deliveries(resolve_stack(parameters)) == [
        ("sqs:SendMessage", "SubmitDLQ", True),
        ("sqs:SendMessage", "SubmitQueue", True),
    ]


def _event(stack_name: str, detail_type: str = "Run Requested") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": detail_type,
        "source": "com.example.billing",
        "account": "123456789012",
        "time": "2026-03-14T02:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"orchestrator": stack_name, "workload": "reports", "requestKey": "k-1"},
    }


def test_the_rule_takes_the_requests_naming_this_stack_only() -> None:
    stack = resolve_stack()
    pattern = stack.resources["RunRequests"].properties["EventPattern"]
    assert routes(pattern, _event(stack.stack_name))
    assert not routes(pattern, _event("another-stack"))
    assert not routes(pattern, _event(stack.stack_name, detail_type="Run Started"))
    # and a stack of another name matches its own requests, not this one's
    other = resolve_stack(stack_name="other-stack").resources["RunRequests"].properties["EventPattern"]
    assert routes(other, _event("other-stack"))
    assert not routes(other, _event(stack.stack_name))


def _statement(template: Template, policy: str, sid: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = template["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
    (found,) = [s for s in statements if s.get("Sid") == sid]
    return found


def _without(policy: str, sid: str) -> Template:
    template = copy.deepcopy(transformed_template())
    document = template["Resources"][policy]["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
    return template


def _another_rule() -> Template:
    template = copy.deepcopy(transformed_template())
    statement = _statement(template, "SubmitQueuePolicy", "AllowRunRequests")
    statement["Condition"]["ArnEquals"]["aws:SourceArn"] = {"Fn::GetAtt": ["TrackJobsFunctionBatchEvents", "Arn"]}
    return template


@pytest.mark.parametrize(
    ("mutant", "denied"),
    [
        (lambda: _without("SubmitQueuePolicy", "AllowRunRequests"), "SubmitQueue"),
        (_another_rule, "SubmitQueue"),
        (lambda: _without("SubmitDLQPolicy", "AllowRunRequestsDeadLetters"), "SubmitDLQ"),
    ],
    ids=["queue policy without the rule", "queue policy naming another rule", "dlq policy without the rule"],
)
def test_a_broken_queue_policy_denies_the_delivery(mutant: Any, denied: str) -> None:
    verdicts = _deliveries(resolve_template(mutant()))
    assert [(queue, allowed) for _, queue, allowed in verdicts] == [
        ("SubmitDLQ", denied != "SubmitDLQ"),
        ("SubmitQueue", denied != "SubmitQueue"),
    ]
