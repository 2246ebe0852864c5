import json

import pytest

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source, SubmitRequest
from batch_orchestrator.s3_events import Skipped
from batch_orchestrator.submit_messages import parse_submit_message, retry_message

SOURCE = S3Source(bucket="in", key="incoming/a b.csv", sequencer="01")


def test_retry_message_round_trips() -> None:
    # Given
    body = retry_message(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE)

    # When
    (request,) = parse_submit_message(body, input_prefix="incoming/")

    # Then
    assert request == SubmitRequest(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE)


def test_notification_yields_first_attempts_and_skips() -> None:
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": "in"},
                        "object": {"key": "incoming/a+b.csv", "size": 1, "sequencer": "01"},
                    },
                },
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "in"}, "object": {"key": "other/c.csv", "size": 1}},
                },
            ]
        }
    )
    first, second = parse_submit_message(body, input_prefix="incoming/")
    assert first == SubmitRequest(
        run_id=run_id_for(SOURCE), attempt=1, source=S3Source("in", "incoming/a b.csv", sequencer="01", size=1)
    )
    assert isinstance(second, Skipped)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps({"kind": "retry", "runId": "bad", "attempt": 2, "source": SOURCE.to_dict()}), "invalid runId"),
        (
            json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": 1, "source": SOURCE.to_dict()}),
            "invalid attempt",
        ),
        (
            json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": True, "source": SOURCE.to_dict()}),
            "invalid attempt",
        ),
        (json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": 2}), "no source"),
        (
            json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": 2, "source": {"trigger": "ftp"}}),
            "unknown source",
        ),
        (
            json.dumps(
                {
                    "kind": "retry",
                    "runId": run_id_for(SOURCE),
                    "attempt": 2,
                    "source": {**SOURCE.to_dict(), "key": "incoming/other"},
                }
            ),
            "does not belong",
        ),
    ],
)
def test_malformed_messages_raise_a_clear_error(body: str, message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        parse_submit_message(body, input_prefix="incoming/")
