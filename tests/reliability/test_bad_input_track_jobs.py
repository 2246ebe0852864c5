"""Bad input for track_jobs: fuzzed Batch events fail alone with a domain error and a log line, and no
stored run is corrupted (the approach: tests/reliability/fuzzing.py)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_orchestrator.batch_events import parse_event
from batch_orchestrator.errors import MalformedMessage, OrchestratorError
from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry, job_state_change
from tests.reliability.fuzzing import (
    COUNTER,
    FUZZ,
    assert_no_run_corrupted,
    assert_run_intact,
    json_values,
    mutate,
    read_run_item,
    report_tallies,
    submitted_job,
    tally,
)
from tests.reliability.harness import FIXED_START, Function, VirtualClock
from tests.support.logs import LogCapture
from tests.support.runs import get_run

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
            event = mutate(event, path, value, delete=draw(st.booleans()))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the parent: nothing to change there
    return event


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="3")
def test_track_jobs_raises_on_each_bad_event_and_never_corrupts_a_run(stack: EmulatedStack, logs: LogCapture) -> None:
    function = Function(stack, "TrackJobsFunction", clock=VirtualClock(FIXED_START + timedelta(minutes=1)))

    @settings(FUZZ, max_examples=120)
    @given(data=st.data())
    def event(data: st.DataObject) -> None:
        # Given a run whose job is RUNNING, and an event of that job mutated at one or two places
        job = submitted_job(stack, f"incoming/track-{next(COUNTER)}.csv")
        run_id = job["tags"]["batch-orchestrator:run-id"]
        function(job_state_change(job, "RUNNING", region=stack.region, account=stack.account_id))
        before = read_run_item(stack, run_id)
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
            tally("track_jobs", "malformed events raised")
        elif raised is not None:
            tally("track_jobs", f"events refused ({type(raised).__name__})")
        else:
            tally("track_jobs", "events applied or ignored")
        # and the run never moved backwards, and still reads as a run
        after = read_run_item(stack, run_id)
        assert after.progress >= before.progress
        assert_run_intact(get_run(stack, run_id) or {})

    event()
    assert_no_run_corrupted(stack)
    function.close()
    report_tallies("track_jobs")
