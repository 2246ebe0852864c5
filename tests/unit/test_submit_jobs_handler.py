"""submit_jobs' record handler: a record that fails for a reason nobody foresaw still fails alone and
says so, with its message id (the way an operator finds it in the dead-letter queue); uploads are counted
stack-wide and per workload, and one that no workload takes is counted and logged."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.support.environments import SUBMIT_ENV, with_workloads, workload_json
from tests.support.fakes import FakeJobGateway, FakeRunStore
from tests.support.handlers import load_handler
from tests.support.logs import LogCapture, emf_metrics, emf_metrics_by_workload, logs

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


def test_uploads_are_counted_per_workload_and_an_unmatched_one_is_counted_and_logged(
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
    logs: LogCapture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given submit_jobs of a stack with an images workload, on the in-memory runs table and Batch
    env = with_workloads(SUBMIT_ENV, [workload_json("images", match={"prefix": "images/"})])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = load_handler("submit_jobs")
    config = app.SubmitConfig.from_env(env)
    table = config.submit.workloads
    assert table is not None
    definitions = [workload.job_definition for workload in table.workloads]
    jobs = FakeJobGateway(job_queues=[config.submit.job_queue], job_definitions=definitions)
    monkeypatch.setattr(app, "_dependencies", lambda: (config, FakeRunStore(), jobs))

    # When one batch holds an upload for each workload and one that no workload takes
    records = [
        _upload_record("m-1", "incoming/a.csv"),
        _upload_record("m-2", "images/cat.png"),
        _upload_record("m-3", "elsewhere/b.csv"),
    ]
    capsys.readouterr()
    response = app.handler({"Records": records}, lambda_context)

    # Then nothing failed: two jobs, and the unmatched upload is counted and logged with its key
    assert response == {"batchItemFailures": []}
    assert sorted(job.spec.tags["batch-orchestrator:workload"] for job in jobs.jobs) == ["default", "images"]
    out = capsys.readouterr().out
    assert emf_metrics(out) == {"JobsSubmitted": 2, "UploadsUnmatched": 1}
    assert emf_metrics_by_workload(out) == {"default": {"JobsSubmitted": 1}, "images": {"JobsSubmitted": 1}}
    (line,) = [entry for entry in logs.lines() if entry["message"] == "upload unmatched"]
    assert (line["key"], line["reason"]) == ("elsewhere/b.csv", "no workload's key rule matches it")
