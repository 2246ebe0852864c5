"""One alert of every kind the stack publishes, as the functions build them: what the chat and limit tests check.

A run that failed for good, a pipeline's failed step, a failed array attempt, an input refused before any job, a
schedule's failed run, a blocked queue (one of our jobs, and one that is not ours) and a stuck run.
"""

from __future__ import annotations

from batch_orchestrator.alert_format import Alert
from batch_orchestrator.alert_queue_blocked import build_queue_blocked_alert
from batch_orchestrator.alert_stuck import build_stuck_run_alert
from batch_orchestrator.alerts import ALERT_RUN_FAILED
from batch_orchestrator.models import JobObservation, QueueBlocked, RunStatus, ScheduleSource
from tests.support.alert_builders import QUEUE_ARN, RUN_ID, failed_alert, make_observation, make_run
from tests.support.array_runs import ArrayStack, failed
from tests.support.fakes import PublishedAlert
from tests.support.pipeline_runs import PipelineStack

BLOCKED = QueueBlocked(
    job_queue=QUEUE_ARN,
    job_id="4f5e6d7c-8091-42a3-b4c5-d6e7f8091a2b",
    job_name=f"{RUN_ID}-a1-report_2026_csv",
    status_reason="MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement is too high.",
    run_id=RUN_ID,
    attempt=1,
    workload="default",
)
SCHEDULE = ScheduleSource(schedule_name="batch-orchestrator-schedule", scheduled_time="2026-11-21T00:00:00Z")


def _as_alert(published: PublishedAlert) -> Alert:
    attributes = {name: dict(value) for name, value in published.attributes.items()}
    return Alert(published.subject, published.message, attributes)


def step_failed_alert() -> Alert:
    """Step ``publish`` (2 of 2) of a pipeline run exits 3, not retryable."""
    stack = PipelineStack()
    stack.finish(stack.start("releases/v1.txt"), "SUCCEEDED", exit_code=0)
    stack.finish(stack.next_attempt(), "FAILED", exit_code=3, reason="Essential container in task exited")
    (alert,) = stack.alerts.of_type(ALERT_RUN_FAILED)
    return _as_alert(alert)


def array_failed_alert() -> Alert:
    """A 10,000-item array attempt with 25 failed children, 3 of them not retryable."""
    stack = ArrayStack()
    children = [failed(i) for i in range(40, 62)] + [failed(30, 3), failed(10, 3), failed(20, 3, None)]
    stack.end(stack.start("grid/a.txt"), "FAILED", *children)
    (alert,) = stack.alerts.of_type(ALERT_RUN_FAILED)
    return _as_alert(alert)


def refused_input_alert() -> Alert:
    """An upload refused before any job was submitted (its manifest holds no items)."""
    observation = make_observation(
        job_id="", exit_code=None, log_stream_name=None, started_at=None, stopped_at=None, status_reason=None
    )
    return failed_alert(
        make_run(history=()),
        observation,
        decision_reason="refused before any job was submitted: the manifest holds no items",
    )


def stuck_alert() -> Alert:
    run = make_run()._replace(status=RunStatus.RUNNABLE, updated_at="2026-03-14T02:00:00Z")
    observation = JobObservation(
        run_id=run.run_id,
        attempt=3,
        job_id=run.job_id or "",
        job_name=run.job_name or "",
        job_queue=QUEUE_ARN,
        status=RunStatus.RUNNABLE,
        status_reason="CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no Fargate capacity",
    )
    return build_stuck_run_alert(
        run,
        stuck_seconds=3_700,
        threshold_seconds=1_800,
        observation=observation,
        region="us-east-1",
        cancel_after_seconds=7_200,
    )


def every_kind_of_alert() -> dict[str, Alert]:
    return {
        "run failed": failed_alert(),
        "step failed": step_failed_alert(),
        "array failed": array_failed_alert(),
        "input refused": refused_input_alert(),
        "schedule run failed": failed_alert(
            make_run(SCHEDULE, history=()), make_observation(exit_code=None, timed_out=True)
        ),
        "queue blocked": build_queue_blocked_alert(BLOCKED, region="us-east-1"),
        "queue blocked, not our job": build_queue_blocked_alert(
            QueueBlocked(job_queue=QUEUE_ARN, job_id="0a1b", job_name="nightly-etl", status_reason="ACTION_REQUIRED"),
            region="us-east-1",
        ),
        "run stuck": stuck_alert(),
    }
