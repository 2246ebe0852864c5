"""What each kind of subscriber of the alerts topic receives, on the stack of template.yaml in moto: an SQS queue (as
programs subscribe) the alert's body as before; an https endpoint (the protocol of the chat service's subscription)
the custom notification; and what SNS was asked to send: one Publish with MessageStructure=json.

SIMULATED: the https endpoint is a callback in moto's own HTTP mock (moto POSTs notifications to http(s)
subscribers with ``requests``), standing in for https://global.sns-api.chatbot.amazonaws.com; moto sends it no
subscription confirmation. SNS's selection of a message by protocol is moto's (a protocol without its own key gets
"default", as the Publish API documents).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from moto.core.models import responses_mock
from moto.sns.models import sns_backends

from batch_orchestrator.alert_chat import CHAT_PROTOCOL, EMAIL_PROTOCOL, chat_notification, email_text
from batch_orchestrator.limits import SNS_STRUCTURED_DEFAULT
from emulator import EmulatedStack
from tests.support.chat_schema import chat_schema_errors
from tests.support.runs import finish_attempt, received_alerts, start_run, subscribe_alerts

CHAT_ENDPOINT = "https://chat.example.test/sns"  # stands in for the chat service's endpoint


@pytest.fixture
def chat_inbox(stack: EmulatedStack) -> list[dict[str, Any]]:
    """An https subscription to the alerts topic; the notifications POSTed to it, as JSON (moto forgets the
    callback when the stack's mock ends)."""
    posted: list[dict[str, Any]] = []

    def receive(request: Any) -> tuple[int, dict[str, str], str]:
        posted.append(json.loads(request.body))
        return 200, {}, ""

    responses_mock.add(responses.CallbackResponse(method="POST", url=CHAT_ENDPOINT, callback=receive))
    stack.client("sns").subscribe(TopicArn=stack.outputs["AlertsTopicArn"], Protocol="https", Endpoint=CHAT_ENDPOINT)
    return posted


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="3")
def test_each_protocol_gets_its_own_message_of_one_publish(
    stack: EmulatedStack, chat_inbox: list[dict[str, Any]]
) -> None:
    # Given an SQS queue and an https endpoint subscribed to the alerts topic, and a run
    sqs_inbox = subscribe_alerts(stack)
    run_id = start_run(stack, "incoming/report.csv")

    # When its job exits 1, which is not retried: the run fails for good and track_jobs alerts
    run = finish_attempt(stack, run_id, "FAILED", exit_code=1, reason="Essential container in task exited")
    assert run["status"] == "FAILED"

    # Then the SQS subscriber got the body as before: summary, separator, JSON
    (queued,) = received_alerts(stack, sqs_inbox)
    subject, body = queued["Subject"], queued["Message"]
    assert body.startswith(f"Run {run_id} failed for good: attempt 1 of 3 exited with code 1.")
    assert "\n" + "-" * 72 + "\n{" in body
    # and the https subscriber the chat card of that same alert, valid, threaded by the run
    (posted,) = chat_inbox
    assert posted["Subject"] == subject
    card = json.loads(posted["Message"])
    assert chat_schema_errors(card) == []
    assert card == chat_notification(subject, body)
    assert card["metadata"]["threadId"] == run_id
    # and SNS was asked for one message per protocol: the default, the e-mail, the chat card
    arn = stack.outputs["AlertsTopicArn"]
    topic = sns_backends[stack.account_id][stack.region].topics[arn]
    ((_, message, stored_subject, attributes, _),) = topic.sent_notifications
    messages = json.loads(message)
    assert sorted(messages) == sorted([SNS_STRUCTURED_DEFAULT, EMAIL_PROTOCOL, CHAT_PROTOCOL])
    assert messages[SNS_STRUCTURED_DEFAULT] == body
    assert messages[EMAIL_PROTOCOL] == email_text(body)
    assert attributes is not None
    assert (stored_subject, attributes["alertType"]["Value"]) == (subject, "RUN_FAILED")
