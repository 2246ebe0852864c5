"""EventBridge Scheduler target: one run, and one Batch job, per firing of a schedule (the stack's own,
or a workload's).

The scheduler invokes asynchronously and may deliver a firing more than once; the run id comes from
the schedule name and the scheduled time, so the claim lets one delivery through. An error is
raised back to Lambda, whose retries and on-failure destination keep the firing from being lost.
"""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.config import ScheduledSubmitConfig
from batch_orchestrator.errors import JobSubmitError, MalformedMessage, WorkloadUnavailable
from batch_orchestrator.observability import MetricUnit, count, logger, metrics, tracer
from batch_orchestrator.schedule import parse_schedule_firing, scheduled_request
from batch_orchestrator.submit import SubmitOutcome, submit_run
from batch_orchestrator.timeutil import utcnow


@cache
def _dependencies() -> tuple[ScheduledSubmitConfig, RunsTable, BatchJobs]:
    config = ScheduledSubmitConfig.from_env(os.environ)
    return config, RunsTable(config.store.runs_table, retention_days=config.store.run_retention_days), BatchJobs()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, runs, jobs = _dependencies()
    try:
        source = parse_schedule_firing(event, default_name=config.schedule_name)
        request = scheduled_request(source, workload_of=config.submit.workload)
    except MalformedMessage as exc:
        # Retrying cannot fix the event: log it and let the on-failure destination keep a copy.
        logger.error("malformed schedule event", extra={"error": str(exc)})
        metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        raise
    logger.set_correlation_id(request.run_id)
    workload = request.plan.workload
    try:
        result = submit_run(request, runs=runs, jobs=jobs, settings=config.submit, now=utcnow())
    except (JobSubmitError, WorkloadUnavailable) as exc:
        logger.warning("submit failed", extra={"error": str(exc), "workload": workload})
        count("SubmitFailures", workload=workload)
        raise
    metric = "DuplicatesSkipped" if result.outcome is SubmitOutcome.DUPLICATE else "JobsSubmitted"
    count(metric, workload=workload)
    logger.info(
        "run " + result.outcome.value.lower(),
        extra={"job_name": result.job_name, "workload": workload, "detail": result.detail},
    )
    return {"runId": result.run_id, "outcome": result.outcome.value, "jobName": result.job_name, "jobId": result.job_id}
