"""Bad input for the watchdog: fuzzed runs table items and DescribeJobs answers are logged and counted,
and the other runs are still repaired (the approach: tests/reliability/fuzzing.py)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from batch_orchestrator.errors import SweepIncomplete
from batch_orchestrator.timeutil import iso
from emulator import EmulatedStack
from tests.reliability.fuzzing import COUNTER, FUZZ, json_values, read_run_item, report_tallies, submitted_job, tally
from tests.reliability.harness import FIXED_START, Function, VirtualClock
from tests.support.events import load_event
from tests.support.logs import LogCapture

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
    item["runId"] = "s3-" + f"{next(COUNTER):024x}"
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

    template_job = submitted_job(stack, "incoming/template.csv")
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
        job = submitted_job(stack, f"incoming/lost-{next(COUNTER)}.csv")
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
            run = read_run_item(stack, run_id)
            assert run.status.value == "SUCCEEDED"
            # and each item it could not check was logged by its run id, and fails the sweep (WatchdogDLQ, alarm)
            logged = {line.get("run_id") for line in logs.lines() if line.get("level") == "ERROR"}
            for item in items:
                if item["runId"] in logged:
                    assert incomplete
                    tally("watchdog", "unreadable items logged and the sweep failed")
                else:
                    tally("watchdog", "odd items handled")
            tally("watchdog", "sweeps")
        finally:
            for item in items:
                dynamodb.delete_item(TableName=table, Key={"runId": {"S": item["runId"]}})

    sweep()
    function.close()
    report_tallies("watchdog")
