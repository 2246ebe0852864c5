"""Bad input: property-based fuzzing (hypothesis) of every function's event, on the template's stack in moto.

For each function the property is the same: a bad input fails alone and says so in the log, good
input next to it proceeds, and no stored run is corrupted.

* submit_jobs: SQS batches mixing real S3 notifications of fresh uploads with mutated
  notifications, retry and resubmit requests, and junk. Every record that fails is reported in
  batchItemFailures (the others are deleted) and has a WARNING or ERROR line naming its message id;
  every good upload gets its job.
* submit_scheduled / track_jobs (asynchronous): a bad event makes the handler raise (Lambda's
  retries, then the on-failure destination keep it) with a domain error and a log line; anything
  else it either applies or ignores.
* watchdog: whatever its event, the sweep runs; an unreadable item in the index of active runs is
  logged and counted, and the other runs are still repaired.

After every example each item of the runs table must still read as a run and keep the invariants
the code relies on (the progress counter belongs to the run's attempt, a finished run has left the
index unless it owes an alert). Examples are derandomised so that CI runs the same ones each time.
"""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.runs_table import run_from_item
from batch_orchestrator.batch_events import parse_event
from batch_orchestrator.errors import MalformedMessage, OrchestratorError, SweepIncomplete
from batch_orchestrator.ids import RUN_ID_PATTERN, job_name_for, run_id_for
from batch_orchestrator.models import S3Source, SubmitRequest
from batch_orchestrator.schedule import parse_schedule_firing
from batch_orchestrator.submit import SubmitSettings, submit_run
from batch_orchestrator.submit_messages import parse_submit_message
from batch_orchestrator.timeutil import iso
from emulator import EmulatedStack, sqs_event_from_messages
from emulator.batch_events import attempt_entry, job_state_change
from tests.helpers import load_event
from tests.integration.pipeline import iter_runs
from tests.reliability.harness import FIXED_START, Function, LogCapture, VirtualClock, figure, take_all_bodies

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,  # no replay of locally saved examples: every machine runs the same inputs
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
_counter = iter(range(10**9))
_tallies: dict[str, dict[str, int]] = {}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _tally(handler: str, outcome: str) -> None:
    counts = _tallies.setdefault(handler, {})
    counts[outcome] = counts.get(outcome, 0) + 1


def _figure(handler: str) -> None:
    counts = _tallies.pop(handler, {})
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
    figure(f"Bad input ({handler})", f"{sum(counts.values())} fuzzed inputs: {summary}; 0 stored runs corrupted")


def assert_run_intact(item: dict[str, Any]) -> None:
    """The item reads as a run and keeps the invariants the code relies on."""
    run = run_from_item(item)
    assert RUN_ID_PATTERN.match(run.run_id), run.run_id
    assert run_id_for(run.source) == run.run_id, f"{run.run_id}: source does not belong to the run"
    assert run.progress // 10_000 == run.attempt, f"{run.run_id}: progress {run.progress} is not attempt {run.attempt}"
    assert 1 <= run.attempt <= run.max_attempts
    if run.status.is_terminal and "sideEffect" not in item:
        assert "activeStatus" not in item, f"{run.run_id}: finished run left in the active index"
    for entry in run.history:
        assert 1 <= entry.attempt <= run.attempt


def assert_no_run_corrupted(stack: EmulatedStack) -> int:
    """Every item of the runs table is an intact run; how many there are."""
    count = 0
    for item in iter_runs(stack):
        assert_run_intact(item)
        count += 1
    return count


def _warnings_for(logs: LogCapture, key: str, value: str) -> list[dict[str, Any]]:
    return [line for line in logs.lines() if line.get("level") in ("WARNING", "ERROR") and line.get(key) == value]


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


def _mutate(document: Any, path: tuple[Any, ...], value: Any, *, delete: bool) -> Any:
    mutated = copy.deepcopy(document)
    node = mutated
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return mutated


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
        mutated = _mutate(template, path, value, delete=draw(st.booleans()))
        if isinstance(mutated.get("Records"), list) and mutated["Records"] and isinstance(mutated["Records"][0], dict):
            # a fresh identity, so that a still-valid mutation is a new upload rather than a duplicate
            obj = (
                mutated["Records"][0].get("s3", {}).get("object")
                if isinstance(mutated["Records"][0].get("s3"), dict)
                else None
            )
            if isinstance(obj, dict) and "sequencer" in obj and isinstance(obj.get("sequencer"), str):
                obj["sequencer"] = f"{next(_counter):020X}"
        return json.dumps(mutated)
    source = S3Source(bucket=bucket, key=f"incoming/fuzz-{next(_counter)}.csv", sequencer="01")
    request = {"kind": draw(st.sampled_from(["retry", "resubmit"])), "runId": run_id_for(source), "attempt": 2}
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
            "MessageId": f"msg-{next(_counter):06d}",
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
        keys = [f"incoming/good-{next(_counter)}.csv" for _ in range(good_count)]
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
                _tally("submit_jobs", "malformed records failed alone")
            elif message["MessageId"] in failed:
                _tally("submit_jobs", "bad records failed by AWS")
            else:
                _tally("submit_jobs", "bad records processed or skipped")
            # and each failed record says why, with its message id
            if message["MessageId"] in failed:
                assert _warnings_for(logs, "message_id", message["MessageId"]), message["Body"]
        # and the good uploads in the same batch got their job
        good_ids = {m["MessageId"] for m in messages if m["Body"] in good}
        assert not good_ids & failed
        for body in good:
            (request,) = parse_submit_message(body, input_prefix="incoming/")
            assert isinstance(request, SubmitRequest)
            name = job_name_for(request.run_id, 1, request.source)
            assert BatchJobs().find_job_id(job_queue=stack.outputs["JobQueueArn"], job_name=name), body
            _tally("submit_jobs", "good uploads submitted next to them")

    batch()
    assert_no_run_corrupted(stack)
    _figure("submit_jobs")


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
            _tally("submit_scheduled", "malformed events raised")
            return
        # and a good one starts its run, whose job name stays within Batch's rules
        assert not malformed
        assert result["outcome"] in ("SUBMITTED", "DUPLICATE")
        assert _valid_job_name(result["jobName"])
        _tally("submit_scheduled", "firings submitted")

    firing()
    assert_no_run_corrupted(stack)
    function.close()
    _figure("submit_scheduled")


def _valid_job_name(name: str) -> bool:
    allowed = set(string.ascii_letters + string.digits + "_-")
    return 0 < len(name) <= 128 and name[0].isalnum() and set(name) <= allowed


# ---------------------------------------------------------------------------------- track_jobs
TRACK_PATHS = (
    ("source",),
    ("detail-type",),
    ("detail",),
    ("detail", "status"),
    ("detail", "jobId"),
    ("detail", "jobName"),
    ("detail", "jobQueue"),
    ("detail", "statusReason"),
    ("detail", "tags"),
    ("detail", "tags", "batch-orchestrator:attempt"),
    ("detail", "tags", "batch-orchestrator:run-id"),
    ("detail", "container"),
    ("detail", "container", "exitCode"),
    ("detail", "container", "reason"),
    ("detail", "container", "logStreamName"),
    ("detail", "attempts"),
    ("detail", "attempts", 0),
    ("detail", "attempts", 0, "container", "exitCode"),
    ("detail", "startedAt"),
    ("detail", "stoppedAt"),
    ("detail", "createdAt"),
    ("detail", "arrayProperties"),
    ("detail", "ecsProperties"),
)
TRACK_PLAUSIBLE = {
    "status": st.sampled_from(["SUCCEEDED", "FAILED", "RUNNING", "RUNNABLE", "SUBMITTED", "DELETED", "succeeded", ""]),
    "batch-orchestrator:attempt": st.sampled_from(["2", "3", "7", "99", "0", "01", "-1", "1.0"]),
    "batch-orchestrator:run-id": st.sampled_from(["s3-" + "0" * 24, "sch-" + "a" * 24, "s3-XYZ"]),
    "exitCode": st.sampled_from([0, 1, 3, 137, -1, 2**31, 10**40, True, "3", 3.0]),
    "jobName": st.sampled_from(["s3-" + "1" * 24 + "-a2-x", "someone-elses-job", ""]),
    "arrayProperties": st.just({"index": 1}),
    "ecsProperties": st.just({"taskProperties": [{"containers": [{"exitCode": 3, "essential": "yes"}]}]}),
}


@st.composite
def mutated_batch_events(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(TRACK_PATHS))
        name = path[-1]
        value = draw(
            TRACK_PLAUSIBLE[name] | json_values if isinstance(name, str) and name in TRACK_PLAUSIBLE else json_values
        )
        try:
            event = _mutate(event, path, value, delete=draw(st.booleans()))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the parent: nothing to change there
    return event


def _submitted_job(stack: EmulatedStack, key: str) -> dict[str, Any]:
    env = stack.function_environment("SubmitJobsFunction")
    source = S3Source(bucket=stack.outputs["InputBucketName"], key=key, sequencer="01")
    result = submit_run(
        SubmitRequest(run_id=run_id_for(source), attempt=1, source=source),
        runs=_runs_table(stack),
        jobs=BatchJobs(),
        settings=SubmitSettings(env["JOB_QUEUE_ARN"], env["JOB_DEFINITION_ARN"], 3, int(env["CLAIM_LEASE_SECONDS"])),
        now=FIXED_START,
    )
    (job,) = stack.client("batch").describe_jobs(jobs=[result.job_id])["jobs"]
    return dict(job)


def _runs_table(stack: EmulatedStack) -> Any:
    from batch_orchestrator.adapters.runs_table import RunsTable

    return RunsTable(stack.outputs["RunsTableName"], retention_days=90)


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="3")
def test_track_jobs_raises_on_each_bad_event_and_never_corrupts_a_run(stack: EmulatedStack, logs: LogCapture) -> None:
    function = Function(stack, "TrackJobsFunction", clock=VirtualClock(FIXED_START + timedelta(minutes=1)))
    runs = _runs_table(stack)

    @settings(FUZZ, max_examples=120)
    @given(data=st.data())
    def event(data: st.DataObject) -> None:
        # Given a run whose job is RUNNING, and an event of that job mutated at one or two places
        job = _submitted_job(stack, f"incoming/track-{next(_counter)}.csv")
        run_id = job["tags"]["batch-orchestrator:run-id"]
        function(job_state_change(job, "RUNNING", region=stack.region, account=stack.account_id))
        before = runs.get(run_id)
        assert before is not None
        final = job_state_change(
            job,
            "FAILED",
            region=stack.region,
            account=stack.account_id,
            exit_code=3,
            attempts=[attempt_entry(exit_code=3)],
        )
        mutated = data.draw(mutated_batch_events(final))
        logs.clear()

        # When track_jobs handles it
        try:
            parse_event(mutated)
            malformed = False
        except MalformedMessage:
            malformed = True
        try:
            function(mutated)
            raised: BaseException | None = None
        except OrchestratorError as exc:
            raised = exc

        # Then a malformed event raises with a log line naming the bad field; any other is applied or ignored
        if malformed:
            assert isinstance(raised, MalformedMessage)
            (line,) = [line for line in logs.lines() if line["level"] == "ERROR"]
            assert line["message"] == "malformed batch event"
            assert line["error"]
            _tally("track_jobs", "malformed events raised")
        elif raised is not None:
            _tally("track_jobs", f"events refused ({type(raised).__name__})")
        else:
            _tally("track_jobs", "events applied or ignored")
        # and the run never moved backwards, and still reads as a run
        after = runs.get(run_id)
        assert after is not None
        assert after.progress >= before.progress
        assert_run_intact(runs.read_item(run_id) or {})

    event()
    assert_no_run_corrupted(stack)
    function.close()
    _figure("track_jobs")


# ---------------------------------------------------------------------------------- watchdog
_serializer = TypeSerializer()
attribute_values = st.one_of(
    st.text(max_size=20),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(
        st.sampled_from(["trigger", "bucket", "key", "size", "kind", "token", "due"]), st.text(max_size=8), max_size=4
    ),
)


RUN_FIELDS = (
    "status",
    "attempt",
    "maxAttempts",
    "progress",
    "source",
    "jobId",
    "jobName",
    "jobQueue",
    "claimedUntil",
    "sideEffect",
    "history",
    "statusReason",
    "exitCode",
    "stuckAlertedFor",
    "resubmissions",
)
WATCHED = ("SUBMITTED", "QUEUED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "FAILED", "RETRY_WAIT")


@st.composite
def corrupted_items(draw: st.DrawFn, template: dict[str, Any]) -> dict[str, Any]:
    """An item in the sparse index that no code of ours wrote: a real run's item with one or two fields
    broken, or (sometimes) an item of arbitrary attributes. The index keys keep their type (DynamoDB
    refuses anything else); their values may be anything."""
    stale = iso(FIXED_START - timedelta(hours=draw(st.integers(1, 48))))
    status = draw(st.sampled_from(WATCHED))
    if draw(st.integers(0, 3)) == 0:
        item: dict[str, Any] = {name: draw(attribute_values) for name in RUN_FIELDS if draw(st.booleans())}
    else:
        item = copy.deepcopy(template)
        item["status"] = status
        for _ in range(draw(st.integers(1, 2))):
            name = draw(st.sampled_from(RUN_FIELDS))
            if draw(st.booleans()):
                item.pop(name, None)
            else:
                item[name] = draw(attribute_values)
    item["runId"] = "s3-" + f"{next(_counter):024x}"
    item["activeStatus"] = status
    item["updatedAt"] = draw(st.sampled_from([stale, stale, "0", "2020-13-45", "not a time", stale[:10]]))
    return item


def test_the_watchdog_survives_any_event_and_unreadable_items_and_still_repairs_the_others(
    stack: EmulatedStack, logs: LogCapture
) -> None:
    clock = VirtualClock(FIXED_START + timedelta(days=3))
    function = Function(stack, "WatchdogFunction", clock=clock)
    dynamodb = stack.client("dynamodb")
    table = stack.outputs["RunsTableName"]

    template_job = _submitted_job(stack, "incoming/template.csv")
    raw = dynamodb.get_item(TableName=table, Key={"runId": {"S": template_job["tags"]["batch-orchestrator:run-id"]}})
    template = {name: TypeDeserializer().deserialize(value) for name, value in raw["Item"].items()}
    template["jobId"] = template_job["jobId"]
    dynamodb.delete_item(TableName=table, Key={"runId": {"S": template["runId"]}})

    @FUZZ
    @given(
        event=json_values | st.just(load_event("watchdog_schedule.json")),
        items=st.lists(corrupted_items(template), max_size=3),
    )
    def sweep(event: Any, items: list[dict[str, Any]]) -> None:
        # Given a run whose SUCCEEDED event was lost, next to items no code of ours wrote
        job = _submitted_job(stack, f"incoming/lost-{next(_counter)}.csv")
        run_id = job["tags"]["batch-orchestrator:run-id"]
        for item in items:
            dynamodb.put_item(
                TableName=table, Item={name: _serializer.serialize(value) for name, value in item.items()}
            )
        logs.clear()

        # When the watchdog sweeps, whatever its event
        try:
            try:
                function(event)
                incomplete = False
            except SweepIncomplete:
                incomplete = True

            # Then the lost event is repaired
            run = _runs_table(stack).get(run_id)
            assert run is not None
            assert run.status.value == "SUCCEEDED"
            # and each item it could not check was logged by its run id, and fails the sweep (WatchdogDLQ, alarm)
            logged = {line.get("run_id") for line in logs.lines() if line.get("level") == "ERROR"}
            for item in items:
                if item["runId"] in logged:
                    assert incomplete
                    _tally("watchdog", "unreadable items logged and the sweep failed")
                else:
                    _tally("watchdog", "odd items handled")
            _tally("watchdog", "sweeps")
        finally:
            for item in items:
                dynamodb.delete_item(TableName=table, Key={"runId": {"S": item["runId"]}})

    sweep()
    function.close()
    _figure("watchdog")
