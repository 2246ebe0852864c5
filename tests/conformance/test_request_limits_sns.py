"""Alerts stay within SNS's limits (the approach: tests/conformance/lifecycles.py)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable

import pytest

from batch_orchestrator.adapters.alerts_topic import AlertsTopic
from batch_orchestrator.alert_chat import CHAT_PROTOCOL, EMAIL_PROTOCOL
from batch_orchestrator.alert_queue_blocked import build_queue_blocked_alert
from batch_orchestrator.alert_stuck import build_stuck_run_alert
from batch_orchestrator.batch_events import parse_describe_jobs_entry, parse_queue_blocked
from batch_orchestrator.job_outcome import REASON_MAX_CHARS
from batch_orchestrator.limits import (
    SNS_MAX_MESSAGE_SIZE,
    SNS_RAW_DELIVERY_ATTRIBUTES,
    SNS_STRUCTURED_DEFAULT,
    SNS_SUBJECT,
)
from batch_orchestrator.models import JobObservation, RunStatus, Source
from tests.conformance.lifecycles import (
    LONG_REASON,
    REGION,
    SOURCES,
    START,
    TOPIC_ARN,
    Call,
    Lifecycle,
    Recorder,
    failed_event,
)
from tests.conformance.limit_checks import sns_publish_violations, sns_structured_message_violations
from tests.support.chat_schema import chat_schema_errors

pytestmark = pytest.mark.slow  # records every request the functions send in moto


# ================================================================================================
# SNS: alerts
# ================================================================================================


def _published(call: Call) -> tuple[str | None, str, dict[str, dict[str, str]]]:
    return call.params.get("Subject"), call.params["Message"], call.params.get("MessageAttributes", {})


def _structure_problems(call: Call) -> list[str]:
    """One message per protocol, as SNS parses it; the chat service's a valid custom notification."""
    if call.params.get("MessageStructure") != "json":
        return ["not published with MessageStructure=json"]
    problems = sns_structured_message_violations(call.params["Message"])
    messages = json.loads(call.params["Message"])
    if sorted(messages) != sorted([SNS_STRUCTURED_DEFAULT, EMAIL_PROTOCOL, CHAT_PROTOCOL]):
        problems.append(f"protocols {sorted(messages)}")
    return problems + chat_schema_errors(json.loads(messages.get(CHAT_PROTOCOL, "{}")))


@pytest.mark.parametrize("name", SOURCES)
def test_the_run_failed_alert_is_within_sns_limits(lifecycles: dict[str, Lifecycle], name: str) -> None:
    """The alert after the last attempt failed, as AlertsTopic.publish sends it: subject rules, body plus
    attributes within 256 KiB, attribute names and count as SNS allows."""
    # Given
    (call,) = lifecycles[name].alerts

    # When
    problems = sns_publish_violations(*_published(call)) + _structure_problems(call)

    # Then
    assert call.operation == "Publish"
    assert problems == []


@pytest.mark.parametrize(("name", "source"), SOURCES.items())
def test_the_stuck_run_alert_is_within_sns_limits(
    lifecycles: dict[str, Lifecycle], recorded: Callable[[str], Recorder], name: str, source: Source
) -> None:
    """The watchdog's alert for a run stuck RUNNABLE at its last attempt, with the longest reason Batch
    reports and an automatic cancellation announced."""
    # Given: the run as stored after its last attempt, seen stuck RUNNABLE by DescribeJobs
    sns = recorded("sns")
    run = lifecycles[name].run
    event = failed_event(lifecycles[name].submit_jobs[-1], run.last_job_id or str(uuid.uuid4()), START)
    event["detail"].update(status="RUNNABLE", statusReason="CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY " + LONG_REASON)
    observation = parse_describe_jobs_entry(event["detail"])
    assert isinstance(observation, JobObservation)
    stuck = copy.replace(run, status=RunStatus.RUNNABLE, status_reason=observation.status_reason)

    # When
    alert = build_stuck_run_alert(
        stuck,
        stuck_seconds=10**9,
        threshold_seconds=10**8,
        observation=observation,
        region=REGION,
        cancel_after_seconds=10**9,
    )
    AlertsTopic(TOPIC_ARN).publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)

    # Then
    (call,) = sns.calls
    assert sns_publish_violations(*_published(call)) + _structure_problems(call) == []


def test_the_queue_blocked_alert_is_within_sns_limits(
    lifecycles: dict[str, Lifecycle], recorded: Callable[[str], Recorder]
) -> None:
    """The alert for a blocked queue, for a job of ours with the longest name, queue and reason."""
    # Given
    sns = recorded("sns")
    submitted = lifecycles["s3 key of characters refused in job names"].submit_jobs[-1]
    event = failed_event(submitted, str(uuid.uuid4()), START)
    event["detail-type"] = "Batch Job Queue Blocked"
    event["detail"].update(status="RUNNABLE", statusReason="MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT " + LONG_REASON)
    blocked = parse_queue_blocked(event)

    # When
    alert = build_queue_blocked_alert(blocked, region=REGION)
    AlertsTopic(TOPIC_ARN).publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)

    # Then
    (call,) = sns.calls
    assert blocked.run_id is not None
    assert len(blocked.status_reason) <= REASON_MAX_CHARS
    assert sns_publish_violations(*_published(call)) + _structure_problems(call) == []


def test_sns_checks_reject_one_over_the_limit() -> None:
    """The SNS checker rejects a subject one character over or with a line break, a body one byte over,
    a reserved attribute name, and one attribute too many."""
    # Given
    subject = "s" * SNS_SUBJECT.max_length
    attributes = {"alertType": {"DataType": "String", "StringValue": "RUN_FAILED"}}
    attribute_bytes = len("alertType") + len("String") + len("RUN_FAILED")
    body = "b" * (SNS_MAX_MESSAGE_SIZE.value - attribute_bytes)

    # When / Then
    assert sns_publish_violations(subject, body, attributes) == []
    assert sns_publish_violations(subject + "s", body, attributes)
    assert sns_publish_violations("two\nlines", "b", attributes)
    assert sns_publish_violations(" leading space", "b", attributes)
    assert sns_publish_violations("caf\u00e9", "b", attributes)  # ASCII only
    assert sns_publish_violations(subject, body + "b", attributes)
    assert sns_publish_violations(subject, "b", {"AWS.alertType": attributes["alertType"]})
    assert sns_publish_violations(subject, "b", {"a..b": attributes["alertType"]})
    assert sns_publish_violations(subject, "b", {"a": {"DataType": "String", "StringValue": ""}})
    many = {f"a{i}": attributes["alertType"] for i in range(SNS_RAW_DELIVERY_ATTRIBUTES.value + 1)}
    assert sns_publish_violations(subject, "b", many)


def test_structured_message_checks_reject_what_sns_would_ignore_or_refuse() -> None:
    """The structure checker passes one message per known protocol and rejects: no JSON object, no default, a key
    that is no protocol (SNS ignores it: a misspelt "emial" would silently get nothing of its own), a value that is
    not a string (SNS ignores that key too)."""
    # Given
    good = {"default": "body", "email": "text", "https": "{}"}

    # When / Then
    assert sns_structured_message_violations(json.dumps(good)) == []
    assert sns_structured_message_violations("body")
    assert sns_structured_message_violations(json.dumps(["default"]))
    assert sns_structured_message_violations(json.dumps({"email": "text"}))
    assert sns_structured_message_violations(json.dumps(good | {"emial": "text"}))
    assert sns_structured_message_violations(json.dumps(good | {"https": {"version": "1.0"}}))
    assert sns_structured_message_violations(json.dumps(good | {"default": None}))
