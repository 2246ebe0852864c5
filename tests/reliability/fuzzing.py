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
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.run_items import run_from_item
from batch_orchestrator.ids import RUN_ID_PATTERN, run_id_for
from batch_orchestrator.models import Run, S3Source, SubmitRequest
from batch_orchestrator.submit import SubmitSettings, submit_run
from emulator import EmulatedStack
from tests.reliability.harness import FIXED_START
from tests.support.figures import figure
from tests.support.logs import LogCapture
from tests.support.runs import get_run, iter_runs

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,  # no replay of locally saved examples: every machine runs the same inputs
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
COUNTER = iter(range(10**9))
TALLIES: dict[str, dict[str, int]] = {}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def tally(handler: str, outcome: str) -> None:
    counts = TALLIES.setdefault(handler, {})
    counts[outcome] = counts.get(outcome, 0) + 1


def report_tallies(handler: str) -> None:
    counts = TALLIES.pop(handler, {})
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


def warnings_for(logs: LogCapture, key: str, value: str) -> list[dict[str, Any]]:
    return [line for line in logs.lines() if line.get("level") in ("WARNING", "ERROR") and line.get(key) == value]


def mutate(document: Any, path: tuple[Any, ...], value: Any, *, delete: bool) -> Any:
    mutated = copy.deepcopy(document)
    node = mutated
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return mutated


def runs_table_of(stack: EmulatedStack) -> Any:
    from batch_orchestrator.adapters.runs_table import RunsTable

    return RunsTable(stack.outputs["RunsTableName"], retention_days=90)


def submitted_job(stack: EmulatedStack, key: str) -> dict[str, Any]:
    env = stack.function_environment("SubmitJobsFunction")
    source = S3Source(bucket=stack.outputs["InputBucketName"], key=key, sequencer="01")
    result = submit_run(
        SubmitRequest(run_id=run_id_for(source), attempt=1, source=source),
        runs=runs_table_of(stack),
        jobs=BatchJobs(),
        settings=SubmitSettings(env["JOB_QUEUE_ARN"], env["JOB_DEFINITION_ARN"], 3, int(env["CLAIM_LEASE_SECONDS"])),
        now=FIXED_START,
    )
    (job,) = stack.client("batch").describe_jobs(jobs=[result.job_id])["jobs"]
    return dict(job)


def read_run_item(stack: EmulatedStack, run_id: str) -> Run:
    item = get_run(stack, run_id)
    assert item is not None, f"no run {run_id}"
    return run_from_item(item)
