"""Property: however Batch's events of a run are ordered and duplicated, the run ends the same.

Events are applied with the real DynamoDB condition expressions (moto, table from template.yaml);
the retry queue and the alert topic are recording fakes so the side effects can be counted.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.batch_events import parse_job_state_change
from batch_orchestrator.config import TrackConfig
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, JobObservation, S3Source, Source, SubmitRequest
from batch_orchestrator.submit import SubmitSettings, submit_run
from batch_orchestrator.tracking import apply_job_event
from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry, job_state_change
from tests.support.runs import get_run

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
STARTED_MS = 1_795_000_000_000
STOPPED_MS = STARTED_MS + 90_000
STREAM = "batch-orchestrator/default/5e4d3c2b1a0f49e8d7c6b5a4f3e2d1c0"
FINALS = {
    "succeeded": ("SUCCEEDED", 0),
    "failed_retryable": ("FAILED", 3),
    "failed_for_good": ("FAILED", 1),
}
_keys = itertools.count()


class Recorder:
    def __init__(self) -> None:
        self.retries: list[tuple[str, int]] = []
        self.alerts: list[str] = []

    def send_retry(
        self, *, run_id: str, attempt: int, source: Source, delay_seconds: int, plan: AttemptPlan = DEFAULT_PLAN
    ) -> None:
        self.retries.append((run_id, attempt))

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        self.alerts.append(subject)


def _lifecycle(stack: EmulatedStack, job: dict[str, Any], final: str) -> list[dict[str, Any]]:
    """One orchestrator attempt whose first Batch attempt was lost to the infrastructure (native retry)."""
    status, exit_code = FINALS[final]
    lost = attempt_entry(
        exit_code=None,
        reason="CannotPullContainerError: pull access denied",
        status_reason="Task failed to start",
        started_at=STARTED_MS - 60_000,
        stopped_at=STARTED_MS - 30_000,
    )
    last = attempt_entry(exit_code=exit_code, log_stream_name=STREAM, started_at=STARTED_MS, stopped_at=STOPPED_MS)

    def event(state: str, attempts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        built = job_state_change(job, state, region=stack.region, account=stack.account_id, attempts=attempts, **extra)
        # Batch's own timestamps, fixed so that two runs of the same story carry the same ones
        for name, value in (("startedAt", STARTED_MS), ("stoppedAt", STOPPED_MS)):
            if name in built["detail"]:
                built["detail"][name] = value
        return built

    return [
        event("RUNNABLE", []),
        event("STARTING", []),
        event("RUNNING", [], log_stream_name=STREAM),
        event("RUNNABLE", [lost], status_reason="Task failed to start"),
        event("STARTING", [lost]),
        event("RUNNING", [lost], log_stream_name=STREAM),
        event(
            status,
            [lost, last],
            exit_code=exit_code,
            log_stream_name=STREAM,
            status_reason="Essential container in task exited",
        ),
    ]


def _new_run(stack: EmulatedStack, runs: RunsTable) -> tuple[str, dict[str, Any]]:
    env = stack.function_environment("SubmitJobsFunction")
    source = S3Source(bucket=stack.outputs["InputBucketName"], key=f"incoming/p-{next(_keys)}.csv", sequencer="01")
    request = SubmitRequest(run_id=run_id_for(source), attempt=1, source=source)
    result = submit_run(
        request,
        runs=runs,
        jobs=BatchJobs(),
        settings=SubmitSettings(env["JOB_QUEUE_ARN"], env["JOB_DEFINITION_ARN"], 3, int(env["CLAIM_LEASE_SECONDS"])),
        now=NOW,
    )
    (job,) = stack.client("batch").describe_jobs(jobs=[result.job_id])["jobs"]
    assert job["jobName"] == job_name_for(request.run_id, 1, source)
    return request.run_id, job


def _comparable(run: dict[str, Any]) -> dict[str, Any]:
    """The record without what legitimately differs between two runs (ids, source, write times and ids, leases)."""
    ignored = {"runId", "source", "jobName", "jobId", "lastJobId", "createdAt", "updatedAt", "submittedAt"}
    ignored |= {"expiresAt", "writeId"}
    comparable = {name: value for name, value in run.items() if name not in ignored}
    if "sideEffect" in comparable:
        comparable["sideEffect"] = comparable["sideEffect"]["kind"]
    comparable["history"] = [{k: v for k, v in entry.items() if k != "jobId"} for entry in run.get("history", [])]
    return comparable


def _apply(stack: EmulatedStack, runs: RunsTable, events: list[dict[str, Any]], recorder: Recorder) -> None:
    config = TrackConfig.from_env({**stack.function_environment("TrackJobsFunction"), "AWS_REGION": stack.region})
    for event in events:
        observation = parse_job_state_change(event)
        assert isinstance(observation, JobObservation)
        apply_job_event(observation, runs=runs, retry_queue=recorder, alerts=recorder, settings=config.track, now=NOW)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, list[int]]:
    """A final outcome and an order of the seven events: a permutation with duplicates spliced in."""
    final = draw(st.sampled_from(sorted(FINALS)))
    order = list(draw(st.permutations(range(7))))
    for position, index in draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 6)), max_size=6)):
        order.insert(min(position, len(order)), index)
    return final, order


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="3", RetryBaseDelaySeconds="0")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=deliveries())
def test_any_order_with_duplicates_ends_like_in_order_delivery(
    stack: EmulatedStack, case: tuple[str, list[int]]
) -> None:
    final, order = case
    runs = RunsTable(stack.outputs["RunsTableName"], retention_days=90)

    # Given two runs of the same work: one receives its events in order, the other shuffled and duplicated
    in_order_id, in_order_job = _new_run(stack, runs)
    shuffled_id, shuffled_job = _new_run(stack, runs)
    in_order, shuffled = Recorder(), Recorder()

    # When the events are applied
    _apply(stack, runs, _lifecycle(stack, in_order_job, final), in_order)
    events = _lifecycle(stack, shuffled_job, final)
    _apply(stack, runs, [events[index] for index in order], shuffled)

    # Then both records are the same, and each side effect happened exactly once
    reference, result = get_run(stack, in_order_id), get_run(stack, shuffled_id)
    assert reference is not None
    assert result is not None
    assert _comparable(result) == _comparable(reference)
    assert len(shuffled.retries) == len(in_order.retries) == (1 if final == "failed_retryable" else 0)
    assert len(shuffled.alerts) == len(in_order.alerts) == (1 if final == "failed_for_good" else 0)
    expected_status = {"succeeded": "SUCCEEDED", "failed_retryable": "RETRY_WAIT", "failed_for_good": "FAILED"}[final]
    assert result["status"] == expected_status
    assert result["batchAttempts"] == 2
