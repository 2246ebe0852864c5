"""The alert as a chat card and as an e-mail, and the one structured SNS message that carries them with the default
body (batch_orchestrator.alert_chat): every kind validates against events/schemas/chat-notification.json, the card
says what the e-mail says, outside text cannot format or mention, and the whole fits SNS's limit."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from batch_orchestrator.alert_advice import _QUEUE_BLOCKED_ADVICE, _STUCK_ADVICE, advice_steps
from batch_orchestrator.alert_chat import (
    CHAT_PROTOCOL,
    EMAIL_FOOTER,
    EMAIL_PROTOCOL,
    LINK_CHARS,
    attributes_size,
    chat_notification,
    email_text,
    structured_message,
)
from batch_orchestrator.alert_format import JSON_SEPARATOR, Alert, split_body
from batch_orchestrator.limits import (
    CHAT_DESCRIPTION,
    CHAT_KEYWORD,
    CHAT_NEXT_STEP,
    CHAT_NOTIFICATION_TYPE,
    CHAT_TITLE,
    SNS_MAX_MESSAGE_SIZE,
    SNS_STRUCTURED_DEFAULT,
)
from batch_orchestrator.models import S3Source
from tests.support.alert_builders import RUN_ID, UPLOAD, failed_alert, make_observation, make_run
from tests.support.alert_kinds import every_kind_of_alert
from tests.support.chat_schema import CHAT_SCHEMA, chat_schema_errors

GOLDEN = Path(__file__).parent / "golden"
KINDS = every_kind_of_alert()


def card_of(alert: Alert) -> dict[str, Any]:
    return chat_notification(alert.subject, alert.message)


def _golden(name: str, rendered: str) -> str:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(rendered, encoding="utf-8")
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ the schema
@pytest.mark.parametrize("name", KINDS)
def test_every_kind_of_alert_is_a_valid_custom_notification(name: str) -> None:
    # Given one alert of each kind, as the functions build it
    alert = KINDS[name]

    # When it is written for chat
    card = card_of(alert)

    # Then it validates, titled and summarised by the subject, typed by the alert type, in one thread per run
    assert chat_schema_errors(card) == []
    details = split_body(alert.message)[1]
    assert card["content"]["title"] == card["metadata"]["summary"] == alert.subject
    assert card["metadata"]["eventType"] == details["alertType"].replace("_", "-")
    assert card["metadata"]["threadId"] == (details.get("runId") or f"queue-{details['jobQueue']}")
    assert details["alertType"] in card["content"]["keywords"]


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda card: card.pop("version"), "(root)"),
        (lambda card: card.update(version="2.0"), "version"),
        (lambda card: card.update(source="aws.batch"), "source"),
        (lambda card: card["content"].pop("description"), "content"),
        (lambda card: card["content"].update(textType="markdown"), "content/textType"),
        (lambda card: card["content"].update(title="t" * (CHAT_TITLE.value + 1)), "content/title"),
        (lambda card: card["content"].update(description="d" * (CHAT_DESCRIPTION.value + 1)), "content/description"),
        (lambda card: card["content"]["nextSteps"].append("s" * (CHAT_NEXT_STEP.value + 1)), "content/nextSteps/3"),
        (lambda card: card["content"]["keywords"].append("k" * (CHAT_KEYWORD.value + 1)), "content/keywords/2"),
        (lambda card: card["content"].update(nextStep=["typo"]), "content"),
        (lambda card: card["metadata"].update(eventType="RUN_FAILED"), "metadata/eventType"),
        (lambda card: card["metadata"]["additionalContext"].update(exitCode=3), "metadata/additionalContext/exitCode"),
        (lambda card: card["metadata"].update(enableCustomActions="yes"), "metadata/enableCustomActions"),
    ],
    ids=[
        "no version",
        "other version",
        "wrong source",
        "no description",
        "unknown text type",
        "title too long",
        "description too long",
        "next step too long",
        "keyword too long",
        "unknown field",
        "event type with an underscore",
        "context value not text",
        "custom actions flag not boolean",
    ],
)
def test_the_schema_rejects_a_mutated_card(mutate: Any, where: str) -> None:
    # Given the card of a failed run, which validates
    card = copy.deepcopy(card_of(KINDS["run failed"]))
    assert chat_schema_errors(card) == []

    # When one field is broken
    mutate(card)

    # Then the schema says where
    errors = chat_schema_errors(card)
    assert errors
    assert any(error.startswith(f"{where}:") for error in errors), errors


def test_the_schema_and_the_code_share_their_limits() -> None:
    # Given the schema's numbers and the documented limits the code uses
    content, metadata = CHAT_SCHEMA["properties"]["content"]["properties"], CHAT_SCHEMA["properties"]["metadata"]

    # Then they are the same numbers
    assert content["title"]["maxLength"] == CHAT_TITLE.value
    assert content["description"]["maxLength"] == CHAT_DESCRIPTION.value
    assert content["nextSteps"]["items"]["maxLength"] == CHAT_NEXT_STEP.value
    assert content["keywords"]["items"]["maxLength"] == CHAT_KEYWORD.value
    rule = CHAT_NOTIFICATION_TYPE
    assert metadata["properties"]["eventType"]["pattern"] == f"^{rule.pattern[:-1]}{{1,{rule.max_length}}}$"
    assert CHAT_SCHEMA["properties"]["version"]["const"] == "1.0"
    assert CHAT_SCHEMA["properties"]["source"]["const"] == "custom"


# ------------------------------------------------------------------------------------------ what the card says
def test_a_failed_runs_card_matches_the_golden_file() -> None:
    # Given the example alert of docs/how-a-run-works.md (attempt 3 of 3 of an upload exits 3)
    rendered = json.dumps(card_of(failed_alert()), indent=2, ensure_ascii=False) + "\n"

    # Then the card is exactly the golden one (UPDATE_GOLDEN=1 rewrites it after a deliberate change)
    assert rendered == _golden("run_failed_chat.json", rendered)


def test_the_card_states_the_key_facts_of_a_failed_run_and_links_its_log() -> None:
    # When
    card = card_of(failed_alert())

    # Then the description opens with the summary's sentence, then the facts; the log link is bare (clickable)
    description = card["content"]["description"].splitlines()
    assert description[0] == f"Run {RUN_ID} failed for good: attempt 3 of 3 exited with code 3."
    assert "*Exit code:* 3" in description
    assert "*Attempt:* 3 of 3" in description
    assert "*Reason:* `Essential container in task exited`" in description
    assert [line for line in description if line.startswith("*Logs:* https://us-east-1.console.aws.amazon.com/")]
    assert card["content"]["nextSteps"][0] == f"Read the job's output: `orchestrator runs logs {RUN_ID}`"
    assert card["metadata"]["relatedResources"][1] == "2e3d4c5b-6f70-4182-9cad-1e2f3a4b5c63"
    assert card["id"] == f"RUN_FAILED-{RUN_ID}-3"


def test_the_card_carries_the_jsons_plain_values_as_text() -> None:
    # When
    alert = failed_alert()
    context = card_of(alert)["metadata"]["additionalContext"]

    # Then every top-level text, number or boolean of the JSON is there as text, and nothing nested
    details = split_body(alert.message)[1]
    assert context["exitCode"] == "3"
    assert context["timedOut"] == "false"
    assert context["runId"] == details["runId"]
    assert "history" not in context
    assert "source" not in context
    assert "containerReason" not in context  # null in the JSON


def test_a_step_an_array_and_a_refused_input_each_say_so() -> None:
    # When
    step, array, refused = (
        card_of(KINDS[name])["content"] for name in ("step failed", "array failed", "input refused")
    )

    # Then
    assert "*Step:* `publish` (2 of 2)" in step["description"].splitlines()
    assert "*Array:* 25 of 10000 children failed (3 not retryable)" in array["description"].splitlines()
    assert not [line for line in array["description"].splitlines() if line.startswith("*Exit code:*")]
    assert "*Exit code:* none (not submitted)" in refused["description"].splitlines()
    assert refused["nextSteps"][0].startswith("Fix the input as the decision says, then upload it again")
    assert not [step for step in refused["nextSteps"] if "runs retry" in step]  # the same input would be refused


def test_blocked_queue_and_stuck_run_list_their_advice_then_the_command() -> None:
    # When
    blocked, stuck = card_of(KINDS["queue blocked"]), card_of(KINDS["run stuck"])

    # Then the advice sentences come first, then the command that acts on the job
    assert blocked["content"]["nextSteps"] == [
        *advice_steps(split_body(KINDS["queue blocked"].message)[1]["advice"]),
        "Cancel the blocking job: `aws batch cancel-job --region us-east-1 --job-id "
        '4f5e6d7c-8091-42a3-b4c5-d6e7f8091a2b --reason "unblock queue batch-orchestrator-jobs"`',
    ]
    assert stuck["content"]["nextSteps"][-2].startswith("Stop the job: `aws batch terminate-job --region us-east-1")
    assert stuck["content"]["keywords"] == ["default", "RUN_STUCK", "RUNNABLE"]
    assert "*Auto-cancel:* the watchdog terminates the job after 2 h 0 min" in stuck["content"]["description"]


def test_a_blocked_queue_of_no_run_threads_by_its_queue() -> None:
    card = card_of(KINDS["queue blocked, not our job"])
    assert card["metadata"]["threadId"] == "queue-batch-orchestrator-jobs"
    assert card["content"]["keywords"] == ["QUEUE_BLOCKED", "ACTION_REQUIRED"]


@pytest.mark.parametrize("advice", [*_QUEUE_BLOCKED_ADVICE.values(), *_STUCK_ADVICE.values()])
def test_every_advice_sentence_fits_a_next_step(advice: str) -> None:
    steps = advice_steps(advice)
    assert " ".join(steps) == advice
    assert all(0 < len(step) <= CHAT_NEXT_STEP.value and step.endswith(".") for step in steps)


def test_a_body_without_json_still_makes_a_valid_card() -> None:
    # Given a message not written by alert_format
    card = chat_notification("Something happened", "A line.\nAnother line.")

    # Then the card is its first line, typed as a generic alert
    assert chat_schema_errors(card) == []
    assert card["content"]["description"] == "A line."
    assert card["metadata"]["eventType"] == "ALERT"
    # and one whose JSON half is broken reads as its summary alone
    broken = f"A line.\n\n{JSON_SEPARATOR}\n{{not json\n"
    assert split_body(broken) == ("A line.", {})
    assert chat_notification("Something happened", broken)["content"]["description"] == "A line."
    # and an empty body still has a description: the subject
    assert chat_notification("Something happened", "")["content"]["description"] == "Something happened"


# ------------------------------------------------------------------------------------------ outside text
def test_text_from_outside_can_neither_format_nor_mention() -> None:
    # Given a key that would mention a channel, open a link, close a code span and break a line
    key = "in/@channel <!here> <https://evil.example|click> `rm -rf` *bold*\n.csv"
    observation = make_observation(status_reason="reason with <@U123> and `ticks`")
    alert = failed_alert(make_run(S3Source(bucket=UPLOAD.bucket, key=key)), observation)

    # When
    card = card_of(alert)

    # Then outside text reaches the card only inside code spans, with no @, <, > or backtick left in it
    description = card["content"]["description"].splitlines()
    (input_line,) = [line for line in description if line.startswith("*Input:*")]
    shown = input_line.removeprefix("*Input:* ")
    assert shown.startswith("`")
    assert shown.endswith("`")
    assert not set("@<>`") & set(shown[1:-1])
    assert "\\n" in shown  # the line break is shown escaped, on one line
    assert not set("@<>`") & set(card["content"]["title"])
    (reason_line,) = [line for line in description if line.startswith("*Reason:*")]
    assert not set("@<>") & set(reason_line)
    # and the e-mail and the JSON keep the exact key
    assert key.replace("\n", "\\n") in alert.message
    assert split_body(alert.message)[1]["source"]["key"] == key


def test_the_largest_inputs_stay_within_every_limit() -> None:
    # Given a 1,024-byte key, a version id as long, reasons of 1,000 characters, log names of 512 full of slashes
    # (the console link spells each one $252F)
    source = S3Source(bucket="b" * 63, key="k/" + "\u00e9" * 511, version_id="v" * 1024)
    observation = make_observation(
        status_reason="s" * 1_000, container_reason="c" * 255, log_stream_name="l/" * 256, job_name="j" * 128
    )
    alert = failed_alert(make_run(source), observation, decision_reason="d" * 1_000, log_group="/g" * 256)

    # When
    card = card_of(alert)

    # Then the card validates, and a link too long for a card is left to the e-mail rather than cut
    assert chat_schema_errors(card) == []
    (logs,) = [line for line in card["content"]["description"].splitlines() if line.startswith("*Logs:*")]
    assert "https://" not in logs
    assert logs.endswith("(the link is in the e-mail)")
    assert len(split_body(alert.message)[1]["logUrl"]) > LINK_CHARS


# ------------------------------------------------------------------------------------------ the e-mail
def test_the_email_is_the_summary_without_the_json() -> None:
    # When
    alert = failed_alert()
    text = email_text(alert.message)

    # Then: the summary as the default body has it, then one line on where the JSON went
    assert text == split_body(alert.message)[0] + "\n\n" + EMAIL_FOOTER + "\n"
    assert JSON_SEPARATOR not in text
    assert text == _golden("run_failed_email.txt", f"Subject: {alert.subject}\n\n{text}").split("\n\n", 1)[1]


# ------------------------------------------------------------------------------------------ the SNS message
@pytest.mark.parametrize("name", KINDS)
def test_the_structured_message_carries_the_default_body_unchanged_with_email_and_chat(name: str) -> None:
    # Given
    alert = KINDS[name]

    # When
    messages = json.loads(structured_message(alert.subject, alert.message, alert.attributes))

    # Then: the keys SNS routes by protocol, every value a string, the default exactly the body of before
    assert sorted(messages) == sorted([SNS_STRUCTURED_DEFAULT, EMAIL_PROTOCOL, CHAT_PROTOCOL])
    assert messages[SNS_STRUCTURED_DEFAULT] == alert.message
    assert messages[EMAIL_PROTOCOL] == email_text(alert.message)
    assert json.loads(messages[CHAT_PROTOCOL]) == card_of(alert)


def _body_with_reason(alert: Alert, reason: str) -> str:
    summary, details = split_body(alert.message)
    return f"{summary}\n\n{JSON_SEPARATOR}\n{json.dumps(details | {'statusReason': reason})}\n"


def test_alternates_are_shed_before_the_default_when_they_would_not_fit() -> None:
    # Given an alert whose reason is mutated to 130,000 characters (alerts clip theirs to 1,000): in the default's
    # JSON and in the card's context, it takes the message over SNS's limit
    alert = failed_alert()
    big = _body_with_reason(alert, "r" * 130_000)

    # When
    messages = json.loads(structured_message(alert.subject, big, alert.attributes))

    # Then the card lost its context, and the e-mail and the default body are whole
    assert messages[SNS_STRUCTURED_DEFAULT] == big
    assert "additionalContext" not in json.loads(messages[CHAT_PROTOCOL])["metadata"]
    assert messages[EMAIL_PROTOCOL] == email_text(big)


def test_the_default_alone_goes_when_nothing_else_fits() -> None:
    # Given a body that alone leaves 500 bytes of SNS's limit (with the alert's attributes)
    alert = failed_alert()
    budget = SNS_MAX_MESSAGE_SIZE.value - attributes_size(alert.attributes)
    base = len(json.dumps({SNS_STRUCTURED_DEFAULT: _body_with_reason(alert, "")}, ensure_ascii=False).encode())
    huge = _body_with_reason(alert, "r" * (budget - 500 - base))

    # When
    text = structured_message(alert.subject, huge, alert.attributes)

    # Then only the default is left (every protocol falls back to it), within the limit
    assert list(json.loads(text)) == [SNS_STRUCTURED_DEFAULT]
    assert budget - 600 < len(text.encode()) <= budget
