"""Hostile S3 keys in the chat card (batch_orchestrator.alert_chat): the card stays a valid custom notification, and a
key can neither format it, open a link, mention anyone nor break a line: outside text is shown only in code spans,
where no backtick, ``<``, ``>`` or ``@`` is left, and control and direction characters are shown escaped."""

from __future__ import annotations

import pytest

from batch_orchestrator.alert_chat import chat_notification
from batch_orchestrator.models import S3Source
from tests.security.test_hostile_keys import HOSTILE_KEYS
from tests.support.alert_builders import UPLOAD, failed_alert, make_run
from tests.support.chat_schema import chat_schema_errors

MENTIONS = ["incoming/@channel.csv", "incoming/<!here>.csv", "incoming/<@U0123ABCD>.csv", "incoming/<https://x.test|y>"]


@pytest.mark.parametrize("key", [*HOSTILE_KEYS, *MENTIONS])
def test_a_hostile_key_cannot_shape_the_chat_card(key: str) -> None:
    # Given a run of that key that failed for good
    alert = failed_alert(make_run(S3Source(bucket=UPLOAD.bucket, key=key)))

    # When it is written for chat
    card = chat_notification(alert.subject, alert.message)

    # Then the card is valid, every line of it has its code spans closed, and nothing can mention or link
    assert chat_schema_errors(card) == []
    texts = [card["content"]["title"], *card["content"]["description"].splitlines(), *card["content"]["nextSteps"]]
    for text in texts:
        assert text.count("`") % 2 == 0, text
        assert not set("@<>") & set(text), text
        assert text.isprintable(), text  # no line break, control or direction character unescaped
