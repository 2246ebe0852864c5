"""One alert, three readers: programs, people in a chat channel, people reading e-mail; the SNS message for all three.

AlertsTopic publishes every alert once with ``MessageStructure=json``, one message per subscription protocol
(SNS Publish, https://docs.aws.amazon.com/sns/latest/api/API_Publish.html):

* ``default`` - the alert's body as ``alert_format`` writes it (summary, separator, JSON), unchanged: SQS, Lambda,
  email-json and every other protocol without a key of its own receive it, so their parsers keep working;
* ``email`` - the summary alone, for people: the JSON is for programs, which subscribe with sqs, lambda or
  email-json and still get it;
* ``https`` - a custom notification of Amazon Q Developer in chat applications (formerly AWS Chatbot), which it
  renders in Slack, Microsoft Teams and Chime (https://docs.aws.amazon.com/chatbot/latest/adminguide/
  custom-notifs.html). The service receives a topic's messages through an https subscription (endpoint
  https://global.sns-api.chatbot.amazonaws.com, created when a channel configuration names the topic), so this is
  the key it reads; any other https subscriber of the topic gets the card too.

Invariants: the card and the e-mail are views of the alert's own body (the card is written from its JSON), so
chat, e-mail and programs never disagree, and a subscriber that received the default message can rebuild the card
exactly (the local inbox does); every card validates against events/schemas/chat-notification.json, with the
limits of ``limits`` (CHAT_*); text that came from outside (keys, reasons, names, commands built from them) is shown
only in code spans, where chat clients render no markup, with the characters that could still open a link or a
mention there replaced by look-alikes (the exact text is in the e-mail and the JSON); the structured message with the
alert's attributes fits SNS's limit: the alternates are shed (the card's additionalContext, then the e-mail, then the
card) before the default message could be. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from batch_orchestrator.alert_advice import advice_steps, cancel_job_command, terminate_job_command
from batch_orchestrator.alert_format import display, span_text, split_body
from batch_orchestrator.limits import (
    CHAT_DESCRIPTION,
    CHAT_KEYWORD,
    CHAT_NEXT_STEP,
    CHAT_TITLE,
    SNS_MAX_MESSAGE_SIZE,
    SNS_STRUCTURED_DEFAULT,
)

CHAT_PROTOCOL = "https"  # the protocol of the chat service's subscription (see the module docstring)
EMAIL_PROTOCOL = "email"
CHAT_VERSION = "1.0"  # "Must be 1.0"
CHAT_SOURCE = "custom"  # "Must be custom"
CHAT_TEXT_TYPE = "client-markdown"  # the only textType: the chat client's own Markdown

FACT_CHARS = 300  # a fact's text in the card: the card is a glance, the e-mail and the JSON hold the whole text
LINK_CHARS = 2_000  # a longer console link (a log group and stream of 512 characters each) is left to the e-mail
MAX_NEXT_STEPS = 6
EMAIL_FOOTER = "The same alert as JSON goes to the topic's SQS, Lambda and email-json subscribers."

# In a code span no Markdown is rendered; these could still end it early or make a link or mention of its text.
_LOOK_ALIKES = str.maketrans({"`": "'", "<": "\u2039", ">": "\u203a", "@": "\uff20"})


class _Card(NamedTuple):
    """What one kind of alert shows in chat; the title, summary and headline are every alert's."""

    facts: list[str]  # Markdown lines of the description, after the headline
    steps: list[str]
    keywords: list[str]
    thread: str  # metadata.threadId: a run's alerts thread together
    ident: str  # id: the same alert published twice carries the same one
    related: list[str]


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def plain(text: str) -> str:
    """Text outside a code span (title, headline): no character that makes a link or a mention."""
    return text.translate(_LOOK_ALIKES)


def code(text: object, limit: int = FACT_CHARS) -> str:
    """Text from outside as an inline code span, one line, at most ``limit`` characters shown."""
    shown = display(str(text), limit).translate(_LOOK_ALIKES)
    return f"`{shown}`" if shown.strip() else "none"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _fact(label: str, value: str) -> str:
    return f"*{label}:* {value}"


def _present(*values: object) -> list[str]:
    return [str(value) for value in values if value not in (None, "")]


def event_type(alert_type: str) -> str:
    """metadata.eventType: the alert type within CHAT_NOTIFICATION_TYPE (``RUN_FAILED`` -> ``RUN-FAILED``)."""
    return alert_type.replace("_", "-")


def additional_context(details: Mapping[str, Any]) -> dict[str, str]:
    """The JSON's top-level values that are text, numbers or booleans, as the strings the format asks for;
    nested data (history, source, array, step) stays in the default message."""
    context: dict[str, str] = {}
    for name, value in sorted(details.items()):
        if isinstance(value, bool):
            context[name] = "true" if value else "false"
        elif isinstance(value, int | str) and value != "":
            context[name] = str(value)
    return context


# --------------------------------------------------------------------------------------------
# The cards of each kind of alert (the JSON fields are those alerts, alert_queue_blocked and alert_stuck write)
# --------------------------------------------------------------------------------------------


def _logs_fact(details: Mapping[str, Any]) -> str:
    url, stream = details.get("logUrl"), details.get("logStreamName")
    if isinstance(url, str) and len(url) <= LINK_CHARS:
        return _fact("Logs", url)  # a bare link (percent-encoded): Slack, Teams and Chime all make it clickable
    if stream:
        where = "the link is in the e-mail" if url else "no console link in this Region"
        return _fact("Logs", f"{code(stream)} in {code(details.get('logGroup'))} ({where})")
    return _fact("Logs", "none (the container never started, so it wrote no log stream)")


def _exit_fact(details: Mapping[str, Any]) -> str:
    if details.get("exitCode") is not None:
        return _fact("Exit code", str(details["exitCode"]))
    if not details.get("jobId"):
        return _fact("Exit code", "none (not submitted)")
    return _fact("Exit code", "none (timed out)" if details.get("timedOut") else "none (infrastructure failure)")


def _run_failed(details: Mapping[str, Any]) -> _Card:
    run_id, workload = str(details.get("runId")), details.get("workload")
    facts = [_fact("Input", code(details.get("input"))), _fact("Workload", code(workload))]
    step = details.get("step")
    if isinstance(step, Mapping):
        facts.append(_fact("Step", f"{code(step.get('workload'))} ({step.get('number')} of {step.get('count')})"))
    facts.append(_fact("Attempt", f"{details.get('attempt')} of {details.get('maxAttempts')}"))
    array = details.get("array")
    if isinstance(array, Mapping):  # its children have the exit codes and the logs: the e-mail lists them
        failed = f"{array.get('failedChildren')} of {array.get('children')} children failed"
        facts.append(_fact("Array", f"{failed} ({array.get('notRetryableChildren')} not retryable)"))
    else:
        facts.append(_exit_fact(details))
    facts += [
        _fact("Reason", code(details["reason"]) if details.get("reason") else "none given"),
        _fact("Decision", code(details.get("decision"))),
        _logs_fact(details),
        _fact("Run", code(run_id)),
    ]
    show = code(f"orchestrator runs show {run_id}")
    if not details.get("jobId"):  # refused before any job was submitted: its input cannot run
        steps = ["Fix the input as the decision says, then upload it again: the run was refused before any job."]
    else:
        if isinstance(array, Mapping):
            steps = [f"The e-mail lists the failed items with their reasons; the run's children: {show}"]
        elif details.get("logStreamName"):
            steps = [f"Read the job's output: {code(f'orchestrator runs logs {run_id}')}"]
        else:
            steps = ["The job wrote no log: start from its reason above."]
        steps.append(f"Once the cause is fixed, run it again: {code(f'orchestrator runs retry {run_id}')}")
    steps.append(f"See every attempt: {show}")
    return _Card(
        facts=facts,
        steps=steps,
        keywords=_present(workload, details.get("alertType")),
        thread=run_id,
        ident=f"{details.get('alertType')}-{run_id}-{details.get('attempt')}",
        related=_present(details.get("jobQueueArn"), details.get("jobId")),
    )


def _queue_blocked(details: Mapping[str, Any]) -> _Card:
    queue, job_id, run_id = str(details.get("jobQueue")), str(details.get("jobId")), details.get("runId")
    facts = [
        _fact("Queue", code(queue)),
        _fact("Region", code(details.get("region"))),
        _fact("Blocking job", f"{code(details.get('jobName'))} (job ID {code(job_id)})"),
    ]
    if run_id:
        attempt = f" (attempt {details['attempt']})" if details.get("attempt") is not None else ""
        facts.append(_fact("Run", code(run_id) + attempt))
    if details.get("workload"):
        facts.append(_fact("Workload", code(details["workload"])))
    facts.append(_fact("Status reason", code(details.get("statusReason"))))
    cancel = cancel_job_command(str(details.get("region")), job_id, queue)
    return _Card(
        facts=facts,
        steps=[*advice_steps(str(details.get("advice", ""))), f"Cancel the blocking job: {code(cancel)}"],
        keywords=_present(details.get("workload"), details.get("alertType"), details.get("reasonCode")),
        thread=str(run_id) if run_id else f"queue-{queue}",
        ident=f"{details.get('alertType')}-{job_id}",
        related=_present(details.get("jobQueueArn"), job_id),
    )


def _run_stuck(details: Mapping[str, Any]) -> _Card:
    run_id, status, job_id = str(details.get("runId")), str(details.get("status")), details.get("jobId")
    stuck, threshold = int(details.get("stuckSeconds") or 0), int(details.get("thresholdSeconds") or 0)
    facts = [
        _fact("Input", code(details.get("input"))),
        _fact("Workload", code(details.get("workload"))),
        _fact("Status", f"{status} for {span_text(stuck)} (alert after {span_text(threshold)})"),
        _fact("Attempt", f"{details.get('attempt')} of {details.get('maxAttempts')}"),
        _fact("Job ID", code(job_id) if job_id else "none yet"),
        _fact("Status reason", code(details["statusReason"]) if details.get("statusReason") else "none given"),
    ]
    if details.get("autoCancelAfterSeconds"):
        after = span_text(int(details["autoCancelAfterSeconds"]))
        facts.append(_fact("Auto-cancel", f"the watchdog terminates the job after {after}"))
    facts.append(_fact("Run", code(run_id)))
    steps = advice_steps(str(details.get("advice", "")))
    if job_id:
        steps.append(f"Stop the job: {code(terminate_job_command(str(details.get('region')), str(job_id), status))}")
    steps.append(f"See the run: {code(f'orchestrator runs show {run_id}')}")
    return _Card(
        facts=facts,
        steps=steps,
        keywords=_present(details.get("workload"), details.get("alertType"), status),
        thread=run_id,
        ident=f"{details.get('alertType')}-{run_id}-{status}-{details.get('since')}",
        related=_present(details.get("jobQueueArn"), job_id),
    )


def _other(details: Mapping[str, Any]) -> _Card:
    """A body this module does not know (no JSON, or a kind of alert it has no card for): the headline alone."""
    kind = str(details.get("alertType") or "ALERT")
    run_id = details.get("runId")
    return _Card([], [], [kind], str(run_id) if run_id else kind, kind, [])


_CARDS: dict[str, Callable[[Mapping[str, Any]], _Card]] = {
    "RUN_FAILED": _run_failed,
    "QUEUE_BLOCKED": _queue_blocked,
    "RUN_STUCK": _run_stuck,
}


# --------------------------------------------------------------------------------------------
# The three messages
# --------------------------------------------------------------------------------------------


def chat_notification(subject: str, message: str) -> dict[str, Any]:
    """The alert as a custom notification (events/schemas/chat-notification.json), from its subject and body."""
    summary, details = split_body(message)
    kind = str(details.get("alertType") or "ALERT")
    card = _CARDS.get(kind, _other)(details)
    title = plain(subject)
    headline = plain(summary.split("\n", 1)[0]) or title
    description = "\n".join([headline, "", *card.facts]) if card.facts else headline
    return {
        "version": CHAT_VERSION,
        "source": CHAT_SOURCE,
        "id": card.ident,
        "content": {
            "textType": CHAT_TEXT_TYPE,
            "title": _cut(title, CHAT_TITLE.value),
            "description": _cut(description, CHAT_DESCRIPTION.value),
            "nextSteps": [_cut(step, CHAT_NEXT_STEP.value) for step in card.steps[:MAX_NEXT_STEPS]],
            "keywords": [_cut(keyword, CHAT_KEYWORD.value) for keyword in card.keywords],
        },
        "metadata": {
            "threadId": card.thread,
            "summary": _cut(title, CHAT_TITLE.value),
            "eventType": event_type(kind),
            "relatedResources": card.related,
            "additionalContext": additional_context(details),
            "enableCustomActions": True,
        },
    }


def email_text(message: str) -> str:
    """What an e-mail subscriber reads: the summary, then where the JSON went (the subject is SNS's Subject)."""
    summary, _ = split_body(message)
    return f"{summary}\n\n{EMAIL_FOOTER}\n"


def _compact(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def attributes_size(attributes: Mapping[str, Mapping[str, str]]) -> int:
    """The bytes SNS counts for message attributes: each name, data type and value."""
    return sum(
        len(name.encode()) + len(value.get("DataType", "").encode()) + len(value.get("StringValue", "").encode())
        for name, value in attributes.items()
    )


def structured_message(subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> str:
    """Publish's Message for MessageStructure=json: the default body, the e-mail and the chat card, within SNS's
    limit together with ``attributes`` (the alternates are shed, never the default, when they would not fit)."""
    budget = SNS_MAX_MESSAGE_SIZE.value - attributes_size(attributes)
    card = chat_notification(subject, message)
    lean_card = card | {"metadata": {k: v for k, v in card["metadata"].items() if k != "additionalContext"}}
    default, email = {SNS_STRUCTURED_DEFAULT: message}, {EMAIL_PROTOCOL: email_text(message)}
    candidates = (
        default | email | {CHAT_PROTOCOL: _compact(card)},
        default | email | {CHAT_PROTOCOL: _compact(lean_card)},
        default | {CHAT_PROTOCOL: _compact(lean_card)},
        default,  # alert_format keeps a body far below the limit
    )
    for messages in candidates:
        text = _compact(messages)
        if len(text.encode()) <= budget:
            break
    return text
