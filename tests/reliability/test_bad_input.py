"""Bad input for submit_jobs and submit_scheduled: fuzzed SQS batches and schedule firings fail alone and
say so in the log, good input next to them proceeds, no stored run is corrupted (the approach:
tests/reliability/fuzzing.py). track_jobs: test_bad_input_track_jobs.py; the watchdog:
test_bad_input_watchdog.py."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import S3Source, SubmitRequest
from batch_orchestrator.schedule import parse_schedule_firing
from batch_orchestrator.submit_messages import parse_submit_message
from emulator import EmulatedStack, sqs_event_from_messages
from tests.reliability.fuzzing import (
    COUNTER,
    FUZZ,
    assert_no_run_corrupted,
    json_scalars,
    json_values,
    mutate,
    report_tallies,
    tally,
    warnings_for,
)
from tests.reliability.harness import Function, VirtualClock
from tests.support.events import load_event
from tests.support.logs import LogCapture
from tests.support.runs import take_all_bodies


# ---------------------------------------------------------------------------------- submit_jobs
def _notification_template(stack: EmulatedStack) -> dict[str, Any]:
    event = load_event("sqs_s3_object_created.json")
    body: dict[str, Any] = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["bucket"]["name"] = stack.outputs["InputBucketName"]
    return body


NOTIFICATION_PATHS = (
    ("Records",),
    ("Records", 0),
    ("Records", 0, "eventName"),
    ("Records", 0, "eventTime"),
    ("Records", 0, "s3"),
    ("Records", 0, "s3", "bucket"),
    ("Records", 0, "s3", "bucket", "name"),
    ("Records", 0, "s3", "object"),
    ("Records", 0, "s3", "object", "key"),
    ("Records", 0, "s3", "object", "size"),
    ("Records", 0, "s3", "object", "versionId"),
    ("Records", 0, "s3", "object", "sequencer"),
)
PLAUSIBLE = {
    "key": st.sampled_from(["incoming/%E9", "incoming/%ff%fe", "incoming/a%2", "", "incoming/", "incoming/ok%20.csv"])
    | st.text(max_size=60).map(lambda text: "incoming/" + text),
    "size": st.sampled_from([0, -1, 10**40, True, "12", 1.5]),
    "eventName": st.sampled_from(["ObjectRemoved:Delete", "ObjectCreated:Copy", "", "s3:TestEvent"]),
}


@st.composite
def bad_submit_bodies(draw: st.DrawFn, template: dict[str, Any], bucket: str) -> str:
    kind = draw(st.sampled_from(["junk", "json", "notification", "retry"]))
    if kind == "junk":
        return draw(st.text(max_size=80) | st.just("") | st.just("{not json"))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "notification":
        path = draw(st.sampled_from(NOTIFICATION_PATHS))
        value = draw(PLAUSIBLE.get(path[-1], json_values) if isinstance(path[-1], str) else json_values)
        mutated = mutate(template, path, value, delete=draw(st.booleans()))
        if isinstance(mutated.get("Records"), list) and mutated["Records"] and isinstance(mutated["Records"][0], dict):
            # a fresh identity, so that a still-valid mutation is a new upload rather than a duplicate
            obj = (
                mutated["Records"][0].get("s3", {}).get("object")
                if isinstance(mutated["Records"][0].get("s3"), dict)
                else None
            )
            if isinstance(obj, dict) and "sequencer" in obj and isinstance(obj.get("sequencer"), str):
                obj["sequencer"] = f"{next(COUNTER):020X}"
        return json.dumps(mutated)
    source = S3Source(bucket=bucket, key=f"incoming/fuzz-{next(COUNTER)}.csv", sequencer="01")
    request: dict[str, Any] = {
        "kind": draw(st.sampled_from(["retry", "resubmit"])),
        "runId": run_id_for(source),
        "attempt": 2,
    }
    request["source"] = source.to_dict()
    field = draw(st.sampled_from(["runId", "attempt", "source", "source.key", "source.trigger", "source.size"]))
    value = draw(st.sampled_from([0, 1, 11, True, "2", None, "s3-" + "0" * 24, "sch-xyz", [], {}]) | json_values)
    if field.startswith("source."):
        request["source"][field.split(".", 1)[1]] = value
    else:
        request[field] = value
    return json.dumps(request)


def _sqs_messages(bodies: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "MessageId": f"msg-{next(COUNTER):06d}",
            "ReceiptHandle": f"handle-{index}",
            "Body": body,
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795000000000"},
            "MD5OfBody": "",
        }
        for index, body in enumerate(bodies)
    ]


@pytest.fixture
def submit_function(stack: EmulatedStack) -> Iterator[Function]:
    function = Function(stack, "SubmitJobsFunction", clock=VirtualClock())
    yield function
    function.close()


def test_submit_jobs_fails_each_bad_record_alone_and_submits_the_good_ones(
    stack: EmulatedStack, submit_function: Function, logs: LogCapture
) -> None:
    template = _notification_template(stack)
    bucket = stack.outputs["InputBucketName"]
    s3 = stack.client("s3")
    take_all_bodies(stack)

    @FUZZ
    @given(data=st.data())
    def batch(data: st.DataObject) -> None:
        # Given a batch of up to 10 records: fresh real uploads and bad records, shuffled
        good_count = data.draw(st.integers(1, 3), label="good")
        keys = [f"incoming/good-{next(COUNTER)}.csv" for _ in range(good_count)]
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        good = take_all_bodies(stack)
        bad = data.draw(
            st.lists(bad_submit_bodies(template, bucket), min_size=1, max_size=10 - good_count), label="bad"
        )
        bodies = data.draw(st.permutations(good + bad), label="order")
        messages = _sqs_messages(bodies)
        logs.clear()

        # When submit_jobs handles it
        result = submit_function(sqs_event_from_messages(messages, stack.outputs["SubmitQueueArn"], stack.region))

        # Then every malformed record, and only records that could not be handled, are reported failed
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        for message in messages:
            try:
                parse_submit_message(message["Body"], input_prefix="incoming/")
                malformed = False
            except MalformedMessage:
                malformed = True
            if message["Body"] in good:
                pass
            elif malformed:
                assert message["MessageId"] in failed, message["Body"]
                tally("submit_jobs", "malformed records failed alone")
            elif message["MessageId"] in failed:
                tally("submit_jobs", "bad records failed by AWS")
            else:
                tally("submit_jobs", "bad records processed or skipped")
            # and each failed record says why, with its message id
            if message["MessageId"] in failed:
                assert warnings_for(logs, "message_id", message["MessageId"]), message["Body"]
        # and the good uploads in the same batch got their job
        good_ids = {m["MessageId"] for m in messages if m["Body"] in good}
        assert not good_ids & failed
        for body in good:
            (request,) = parse_submit_message(body, input_prefix="incoming/")
            assert isinstance(request, SubmitRequest)
            name = job_name_for(request.run_id, 1, request.source)
            assert BatchJobs().find_job_id(job_queue=stack.outputs["JobQueueArn"], job_name=name), body
            tally("submit_jobs", "good uploads submitted next to them")

    batch()
    assert_no_run_corrupted(stack)
    report_tallies("submit_jobs")


# ---------------------------------------------------------------------------------- submit_scheduled
iso_times = st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())
schedule_events = st.one_of(
    st.fixed_dictionaries(
        {
            "scheduleName": st.text(max_size=70) | json_scalars,
            "scheduledTime": iso_times | st.text(max_size=30) | json_scalars,
        },
        optional={"executionId": st.text(max_size=10), "attemptNumber": json_scalars},
    ),
    st.fixed_dictionaries(
        {
            "detail-type": st.just("Scheduled Event"),
            "time": iso_times | json_scalars,
            "resources": st.lists(st.text(max_size=60) | json_scalars, max_size=2) | json_scalars,
        }
    ),
    json_values,
)


def test_submit_scheduled_raises_on_each_bad_firing_and_submits_the_good_ones(
    stack: EmulatedStack, logs: LogCapture
) -> None:
    function = Function(stack, "SubmitScheduledFunction", clock=VirtualClock())

    @FUZZ
    @given(event=schedule_events)
    def firing(event: Any) -> None:
        logs.clear()
        try:
            parse_schedule_firing(event, default_name="default-schedule")
            malformed = False
        except MalformedMessage:
            malformed = True
        try:
            result = function(event)
        except MalformedMessage:
            # Then a bad firing raises (for the on-failure destination) with a clear log line
            assert malformed
            assert [line["message"] for line in logs.lines() if line["level"] == "ERROR"] == [
                "malformed schedule event"
            ]
            tally("submit_scheduled", "malformed events raised")
            return
        # and a good one starts its run, whose job name stays within Batch's rules
        assert not malformed
        assert result["outcome"] in ("SUBMITTED", "DUPLICATE")
        assert _valid_job_name(result["jobName"])
        tally("submit_scheduled", "firings submitted")

    firing()
    assert_no_run_corrupted(stack)
    function.close()
    report_tallies("submit_scheduled")


def _valid_job_name(name: str) -> bool:
    allowed = set(string.ascii_letters + string.digits + "_-")
    return 0 < len(name) <= 128 and name[0].isalnum() and set(name) <= allowed
