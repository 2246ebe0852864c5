"""submit_jobs' record handler: a record that fails for a reason nobody foresaw still fails alone and
says so, with its message id (the way an operator finds it in the dead-letter queue)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.support.handlers import load_handler
from tests.support.logs import LogCapture, logs
from tests.unit.test_config import SUBMIT_ENV

if TYPE_CHECKING:
    from tests.conftest import FakeLambdaContext

__all__ = ["logs"]


def _upload_record(message_id: str, key: str) -> dict[str, object]:
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-11-21T10:14:58.123Z",
                "s3": {"bucket": {"name": "input"}, "object": {"key": key, "size": 3, "sequencer": "0A"}},
            }
        ]
    }
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": json.dumps(notification),
        "attributes": {},
        "eventSource": "aws:sqs",
    }


def test_an_unforeseen_error_fails_only_its_record_and_logs_its_message_id(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext, logs: LogCapture
) -> None:
    # Given submit_jobs whose submit path breaks in a way no domain error covers
    for key, value in SUBMIT_ENV.items():
        monkeypatch.setenv(key, value)
    app = load_handler("submit_jobs")

    def submit_run(request: object, **_: object) -> object:
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(app, "submit_run", submit_run)

    # When a batch holds the broken record
    response = app.handler({"Records": [_upload_record("m-broken", "incoming/broken.csv")]}, lambda_context)

    # Then only that record failed, and an error line names its message id and the error
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-broken"}]}
    (line,) = [entry for entry in logs.lines() if entry.get("message_id") == "m-broken"]
    assert line["level"] == "ERROR"
    assert line["message"] == "record failed unexpectedly"
    assert "a bug nobody foresaw" in line["exception"]
