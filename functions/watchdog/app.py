"""Watchdog: every few minutes, repair runs whose events were lost and report runs that are stuck.

Invoked asynchronously by an EventBridge Scheduler schedule; the event carries nothing the sweep
needs. A sweep that could not check every run raises after publishing its metrics, so the
invocation counts as an error (and lands in WatchdogDLQ); the next sweep starts over anyway.
"""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_orchestrator.adapters.alerts_topic import AlertsTopic
from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.adapters.submit_queue import SubmitQueue
from batch_orchestrator.config import WatchdogConfig
from batch_orchestrator.errors import SweepIncomplete
from batch_orchestrator.observability import MetricUnit, logger, metrics, tracer
from batch_orchestrator.timeutil import utcnow
from batch_orchestrator.watchdog import sweep

# Stop starting new chunks of 100 runs when less than this is left of the function's timeout.
SAFETY_MARGIN_MS = 30_000
REPORT_METRICS = {
    "ItemsRead": "items_read",
    "RunsReconciled": "runs_reconciled",
    "ClaimsRecovered": "claims_recovered",
    "SideEffectsRecovered": "side_effects_recovered",
    "StuckRuns": "stuck_runs",
    "StuckAlertsSent": "stuck_alerts_sent",
    "StuckJobsCancelled": "jobs_cancelled",
    "SweepErrors": "errors",
}


@cache
def _dependencies() -> tuple[WatchdogConfig, RunsTable, BatchJobs, SubmitQueue, AlertsTopic]:
    config = WatchdogConfig.from_env(os.environ)
    runs = RunsTable(config.track.store.runs_table, retention_days=config.track.store.run_retention_days)
    submit_queue = SubmitQueue(config.track.submit_queue_url)
    return config, runs, BatchJobs(), submit_queue, AlertsTopic(config.track.alerts_topic_arn)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, runs, jobs, submit_queue, alerts = _dependencies()
    report = sweep(
        runs=runs,
        jobs=jobs,
        retry_queue=submit_queue,
        resubmit_queue=submit_queue,
        alerts=alerts,
        settings=config.watchdog,
        now=utcnow(),
        out_of_time=lambda: context.get_remaining_time_in_millis() < SAFETY_MARGIN_MS,
    )
    result = report.to_dict()
    # Every metric every time, zeros included, so the StuckRuns alarm sees "0" and returns to OK.
    for name, field in REPORT_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=result[field])
    metrics.add_metric(name="SweepsTruncated", unit=MetricUnit.Count, value=int(report.truncated))
    # The event only labels the log line: whatever invoked the sweep, a sweep it is.
    scheduled_time = event.get("scheduledTime") if isinstance(event, dict) else None
    logger.info("sweep done", extra={"report": result, "scheduled_time": scheduled_time})
    if report.errors:
        raise SweepIncomplete(f"{report.errors} runs could not be checked; see the log lines before this one")
    return result
