"""AWS Batch events → the run's status in DynamoDB, a delayed retry, or an alert.

Invoked asynchronously by an EventBridge rule limited to this stack's job queue. Unknown jobs are
ignored with a log line; a malformed event raises, so Lambda's retries and the on-failure
destination keep a copy of it. An array parent's FAILED event first lists the failed children
(ListJobs), so the decision sees them.
"""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_orchestrator.adapters.alerts_topic import AlertsTopic
from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.adapters.submit_queue import SubmitQueue
from batch_orchestrator.batch_events import IGNORED_ARRAY_CHILD, Ignored, parse_event
from batch_orchestrator.config import TrackConfig
from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.models import QueueBlocked
from batch_orchestrator.observability import MetricUnit, count, logger, metrics, tracer
from batch_orchestrator.timeutil import utcnow
from batch_orchestrator.tracking import TrackOutcome, apply_job_event, handle_queue_blocked, with_failed_children

# Every outcome has an entry (None: no metric, the ordinary step forward): a new outcome without one
# is a KeyError on its first event, not a silently uncounted one.
OUTCOME_METRICS: dict[TrackOutcome, str | None] = {
    TrackOutcome.UPDATED: None,
    TrackOutcome.SUCCEEDED: "JobsSucceeded",
    TrackOutcome.FAILED: "JobsFailed",
    TrackOutcome.RETRY_SCHEDULED: "JobsRetried",
    TrackOutcome.STEP_ADVANCED: "StepsAdvanced",  # a pipeline step succeeded and its next step was requested
    TrackOutcome.PART_ADVANCED: "ArrayPartsAdvanced",  # a part of an array of more than 10,000 items succeeded
    TrackOutcome.STALE: "StaleEvents",
    TrackOutcome.RECOVERED: "SideEffectsRecovered",
    TrackOutcome.UNKNOWN_RUN: "UnknownRuns",
}


@cache
def _dependencies() -> tuple[TrackConfig, RunsTable, SubmitQueue, AlertsTopic, BatchJobs]:
    config = TrackConfig.from_env(os.environ)
    runs = RunsTable(config.store.runs_table, retention_days=config.store.run_retention_days)
    return config, runs, SubmitQueue(config.submit_queue_url), AlertsTopic(config.alerts_topic_arn), BatchJobs()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, runs, retry_queue, alerts, jobs = _dependencies()
    try:
        parsed = parse_event(event)
    except MalformedMessage as exc:
        logger.error("malformed batch event", extra={"error": str(exc)})
        metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        raise
    if isinstance(parsed, Ignored):
        log = logger.debug if parsed.reason == IGNORED_ARRAY_CHILD else logger.info
        log("event ignored", extra={"reason": parsed.reason, "job_name": parsed.job_name})
        return {"outcome": "IGNORED"}
    if isinstance(parsed, QueueBlocked):
        alerted = handle_queue_blocked(parsed, runs=runs, alerts=alerts, settings=config.track, now=utcnow())
        logger.warning(
            "job queue blocked",
            extra={"job_queue": parsed.job_queue, "reason": parsed.status_reason, "alerted": alerted},
        )
        metrics.add_metric(name="QueueBlocked", unit=MetricUnit.Count, value=1)
        return {"outcome": "QUEUE_BLOCKED", "alerted": alerted}
    logger.set_correlation_id(parsed.run_id)
    observed = with_failed_children(parsed, jobs=jobs)
    result = apply_job_event(
        observed, runs=runs, retry_queue=retry_queue, alerts=alerts, settings=config.track, now=utcnow()
    )
    logger.info(
        "job event " + result.outcome.value.lower(),
        extra={
            "attempt": parsed.attempt,
            "workload": parsed.workload,
            "job_status": parsed.status.value,
            "exit_code": parsed.exit_code,
            "detail": result.detail,
        },
    )
    metric = OUTCOME_METRICS[result.outcome]
    if metric is not None:
        count(metric, workload=parsed.workload)
    return {"runId": result.run_id, "outcome": result.outcome.value}
