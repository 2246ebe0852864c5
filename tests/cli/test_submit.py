"""`orchestrator submit s3://bucket/key`: a manual run through the submit path."""

from __future__ import annotations

import json

import pytest

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source, SubmitRequest
from batch_orchestrator.submit_messages import parse_submit_message
from emulator import EmulatedStack
from orchestrator_cli.commands.submit import manual_sequencer, notification_body
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner
from tests.support.runs import discard_submit_queue, drain_submit_queue, input_bucket, jobs_of, read_run, upload

KEY = "incoming/my report ü (2026)+final.csv"


def test_submit_starts_a_run_for_an_object_whose_notification_was_lost(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given an uploaded object whose S3 notification never reached the submit function
    source = upload(stack, KEY)
    discard_submit_queue(stack)
    url = f"s3://{input_bucket(stack)}/{KEY}"

    # When the operator submits it
    result = cli("submit", url, stack=stack)

    # Then the CLI prints the run id the object's version maps to
    assert result.code == ExitCode.OK, result.err
    run_id = run_id_for(source)
    assert f"Run id: {run_id}" in result.out
    assert f"(version {source.version_id})" in result.out

    # And the submit function, consuming the queue, starts exactly that run, with the key decoded
    assert drain_submit_queue(stack) == 1
    item = read_run(stack, run_id)
    assert item["status"] == "SUBMITTED"
    assert item["source"]["key"] == KEY
    assert item["source"]["versionId"] == source.version_id
    assert len(jobs_of(stack, run_id)) == 1


def test_submit_json_and_a_second_submit_of_the_same_version_is_refused(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given an object whose upload already started its run
    source = upload(stack, "incoming/once.csv")
    drain_submit_queue(stack)
    run_id = run_id_for(source)
    url = f"s3://{input_bucket(stack)}/incoming/once.csv"

    # When it is submitted again
    refused = cli("--json", "submit", url, stack=stack)

    # Then it is refused: the version has its run, which `runs retry` can start again
    assert refused.code == ExitCode.REFUSED
    assert f"already has run {run_id}" in refused.json()["error"]["message"]
    assert f"runs retry {run_id}" in refused.json()["error"]["hint"]
    assert drain_submit_queue(stack) == 0

    # When a new version of the same key is uploaded and its notification lost, Then it gets a new run
    new_version = upload(stack, "incoming/once.csv", body=b"new content")
    discard_submit_queue(stack)
    accepted = cli("--json", "submit", url, stack=stack)
    assert accepted.code == ExitCode.OK, accepted.err
    assert accepted.json()["runId"] == run_id_for(new_version) != run_id
    assert accepted.json()["versionId"] == new_version.version_id
    assert drain_submit_queue(stack) == 1


def test_submit_of_a_specific_older_version(stack: EmulatedStack, cli: CliRunner) -> None:
    old = upload(stack, "incoming/v.csv", body=b"v1")
    upload(stack, "incoming/v.csv", body=b"v2")
    discard_submit_queue(stack)

    result = cli(
        "--json",
        "submit",
        f"s3://{input_bucket(stack)}/incoming/v.csv",
        "--version-id",
        old.version_id or "",
        stack=stack,
    )

    assert result.code == ExitCode.OK, result.err
    assert result.json()["runId"] == run_id_for(old)


def test_submit_errors(stack: EmulatedStack, cli: CliRunner) -> None:
    bucket = input_bucket(stack)
    discard_submit_queue(stack)  # S3's test event

    missing = cli("submit", f"s3://{bucket}/incoming/nothing-here.csv", stack=stack)
    assert missing.code == ExitCode.NOT_FOUND
    assert "no object" in missing.err

    outside = cli("submit", f"s3://{bucket}/elsewhere/file.csv", stack=stack)
    assert outside.code == ExitCode.REFUSED
    assert "outside the input prefix 'incoming/'" in outside.err

    other_bucket = cli("submit", "s3://some-other-bucket/incoming/file.csv", stack=stack)
    assert other_bucket.code == ExitCode.REFUSED
    assert "not in the stack's input bucket" in other_bucket.err

    for bad in ("https://bucket/key", "s3://", "s3://bucket-only", "s3://bucket/", "s3://Bad_Bucket/key"):
        malformed = cli("submit", bad, stack=stack)
        assert malformed.code == ExitCode.USAGE, bad
    assert drain_submit_queue(stack) == 0


@pytest.mark.parametrize(
    "key",
    [
        "incoming/plain.csv",
        "incoming/with space.csv",
        "incoming/ü/ñ é.csv",
        "incoming/a+b=c&d?e%f#g.csv",
        "incoming/~x*",
    ],
)
def test_notification_body_round_trips_through_the_submit_parser(key: str) -> None:
    # Given the source of an object version
    source = S3Source(bucket="b", key=key, version_id="v1", size=3, event_time="2026-11-21T00:00:00.000Z")

    # When the CLI writes its notification and the submit function parses it
    body = notification_body(source, region="us-east-1", etag="abc", principal=None)
    (request,) = parse_submit_message(body, input_prefix="incoming/")

    # Then the same source and run id come out; the key is encoded the S3 way (no raw spaces, / kept)
    assert isinstance(request, SubmitRequest)
    assert request.source == source
    assert request.run_id == run_id_for(source)
    encoded = json.loads(body)["Records"][0]["s3"]["object"]["key"]
    assert " " not in encoded
    assert encoded.startswith("incoming/")


def test_manual_sequencer_is_stable_per_write() -> None:
    from datetime import UTC, datetime

    written = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert manual_sequencer(written, "etag") == manual_sequencer(written, "etag")
    assert manual_sequencer(written, "etag") != manual_sequencer(written, "other")
    assert manual_sequencer(written, "etag") < manual_sequencer(datetime(2026, 11, 22, tzinfo=UTC), "etag")
