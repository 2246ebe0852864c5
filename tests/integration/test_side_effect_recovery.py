"""A tracker that dies between recording a failure and acting on it: the next delivery finishes the job.

The store is the real runs table of the template's stack in moto; the crash is an exception raised
by the retry queue or the alert topic adapter on its first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from batch_orchestrator.adapters.alerts_topic import AlertsTopic
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.adapters.submit_queue import SubmitQueue
from batch_orchestrator.batch_events import parse_job_state_change
from batch_orchestrator.config import TrackConfig
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, JobObservation, Source
from batch_orchestrator.timeutil import utcnow
from batch_orchestrator.tracking import TrackOutcome, apply_job_event
from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry
from tests.support.runs import (
    all_jobs,
    deliver_all,
    drain_test_event,
    get_run,
    job_event,
    queue_depth,
    received_alerts,
    subscribe_alerts,
    upload,
)


class Crash(Exception):
    pass


class CrashingOnce:
    """Wraps an adapter; its first call raises, as if the Lambda died right before it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.crashed = False

    def send_retry(
        self, *, run_id: str, attempt: int, source: Source, delay_seconds: int, plan: AttemptPlan = DEFAULT_PLAN
    ) -> None:
        self._crash_once()
        self._inner.send_retry(run_id=run_id, attempt=attempt, source=source, delay_seconds=delay_seconds, plan=plan)

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        self._crash_once()
        self._inner.publish(subject=subject, message=message, attributes=attributes)

    def _crash_once(self) -> None:
        if not self.crashed:
            self.crashed = True
            raise Crash


def _failed_event(stack: EmulatedStack, exit_code: int) -> dict[str, Any]:
    drain_test_event(stack)
    upload(stack, "incoming/crash.csv")
    deliver_all(stack)
    (job,) = all_jobs(stack)
    return job_event(stack, job, "FAILED", exit_code=exit_code, attempts=[attempt_entry(exit_code=exit_code)])


def _track(stack: EmulatedStack, event: dict[str, Any], *, sink: Any, minutes_later: int = 0) -> TrackOutcome:
    config = TrackConfig.from_env({**stack.function_environment("TrackJobsFunction"), "AWS_REGION": stack.region})
    observation = parse_job_state_change(event)
    assert isinstance(observation, JobObservation)
    return apply_job_event(
        observation,
        runs=RunsTable(stack.outputs["RunsTableName"], retention_days=90),
        retry_queue=sink,
        alerts=sink,
        settings=config.track,
        now=utcnow() + timedelta(minutes=minutes_later),
    ).outcome


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="3", RetryBaseDelaySeconds="0")
def test_alert_lost_to_a_crash_is_published_once_by_a_later_delivery(stack: EmulatedStack) -> None:
    # Given a final failure whose tracker crashes right before publishing the alert
    inbox = subscribe_alerts(stack)
    event = _failed_event(stack, exit_code=1)
    sink = CrashingOnce(AlertsTopic(stack.outputs["AlertsTopicArn"]))
    with pytest.raises(Crash):
        _track(stack, event, sink=sink)
    assert received_alerts(stack, inbox) == []

    # When the event is delivered again before the lease expires, and once more after it
    early = _track(stack, event, sink=sink)
    late = _track(stack, event, sink=sink, minutes_later=5)
    again = _track(stack, event, sink=sink, minutes_later=10)

    # Then only the delivery after the lease published, once, and the run left the sparse index
    assert (early, late, again) == (TrackOutcome.STALE, TrackOutcome.RECOVERED, TrackOutcome.STALE)
    assert len(received_alerts(stack, inbox)) == 1
    run = get_run(stack, all_jobs(stack)[0]["tags"]["batch-orchestrator:run-id"])
    assert run is not None
    assert "sideEffect" not in run
    assert "activeStatus" not in run


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="3", RetryBaseDelaySeconds="0")
def test_retry_lost_to_a_crash_is_enqueued_by_a_later_delivery(stack: EmulatedStack) -> None:
    # Given a retryable failure whose tracker crashes right before enqueueing the retry
    event = _failed_event(stack, exit_code=3)
    sink = CrashingOnce(SubmitQueue(stack.outputs["SubmitQueueUrl"]))
    with pytest.raises(Crash):
        _track(stack, event, sink=sink)
    assert queue_depth(stack, "SubmitQueueUrl") == 0

    # When the event is delivered again after the lease
    outcome = _track(stack, event, sink=sink, minutes_later=5)

    # Then the retry is enqueued, and the submit path starts attempt 2 exactly once
    assert outcome is TrackOutcome.RECOVERED
    deliver_all(stack)
    assert sorted(job["tags"]["batch-orchestrator:attempt"] for job in all_jobs(stack)) == ["1", "2"]
