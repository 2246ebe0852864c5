"""Coalescing queues' consumer: one batch of a workload's uploads becomes one array job (``coalesce``).

Thin: parse the records (a malformed one fails alone: batchItemFailures, then the queue's DLQ), hand the batch to
``coalesce_batch`` per workload, and report the records to redeliver: keys still leased by a live batch, and every
claimed key's record when the manifest or the submission failed (their redelivery finds the batch run, or takes
the keys over once the lease has expired). Each outcome has its metric (OUTCOME_METRICS).
"""

import os
import uuid
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_orchestrator.adapters.aws import take_throttle_count
from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.coalesced_keys import CoalescedKeysTable
from batch_orchestrator.adapters.manifests import S3ManifestWriter
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.coalesce import CoalescedUpload, CoalesceResult, coalesce_batch, parse_coalesce_message
from batch_orchestrator.config import CoalesceConfig
from batch_orchestrator.errors import MalformedMessage, OrchestratorError
from batch_orchestrator.observability import MetricUnit, count, logger, metrics, tracer
from batch_orchestrator.submit import SubmitOutcome
from batch_orchestrator.timeutil import utcnow

OUTCOME_METRICS = {
    "claimed": "UploadsCoalesced",
    "duplicates": "DuplicatesSkipped",
    "busy": "CoalesceDeferred",
    SubmitOutcome.SUBMITTED: "JobsSubmitted",
    SubmitOutcome.ADOPTED: "JobsSubmitted",
    SubmitOutcome.DUPLICATE: "DuplicatesSkipped",
    SubmitOutcome.REFUSED: "RunsRefused",
}


@cache
def _dependencies() -> tuple[CoalesceConfig, CoalescedKeysTable, RunsTable, BatchJobs, S3ManifestWriter]:
    config = CoalesceConfig.from_env(os.environ)
    store = config.store
    return (
        config,
        CoalescedKeysTable(store.runs_table, retention_days=store.run_retention_days),
        RunsTable(store.runs_table, retention_days=store.run_retention_days),
        BatchJobs(),
        S3ManifestWriter(),
    )


def _parse(records: list[dict[str, Any]], failures: list[str]) -> dict[str, list[CoalescedUpload]]:
    by_workload: dict[str, list[CoalescedUpload]] = {}
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            upload = parse_coalesce_message(message_id, record.get("body", ""))
        except MalformedMessage as exc:
            logger.error("malformed coalesce message", extra={"message_id": message_id, "error": str(exc)})
            metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
            failures.append(message_id)
            continue
        by_workload.setdefault(upload.workload, []).append(upload)
    return by_workload


def _report(workload: str, result: CoalesceResult) -> None:
    count(OUTCOME_METRICS["claimed"], workload=workload, value=len(result.claimed))
    count(OUTCOME_METRICS["duplicates"], workload=workload, value=result.duplicates)
    count(OUTCOME_METRICS["busy"], workload=workload, value=len(result.failed_message_ids))
    for submitted in (*result.recovered, *([result.submit] if result.submit else [])):
        count(OUTCOME_METRICS[submitted.outcome], workload=workload)
    logger.info(
        "batch coalesced",
        extra={
            "workload": workload,
            "batch_run_id": result.batch_run_id,
            "claimed": len(result.claimed),
            "duplicates": result.duplicates,
            "deferred": len(result.failed_message_ids),
            "job_id": result.submit.job_id if result.submit else None,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    config, keys, runs, jobs, manifests = _dependencies()
    failures: list[str] = []
    for workload, uploads in _parse(list(event.get("Records", [])), failures).items():
        try:
            result = coalesce_batch(
                uploads,
                workload=workload,
                bucket=config.manifest_bucket,
                batch_id=uuid.uuid4().hex,
                keys=keys,
                manifests=manifests,
                runs=runs,
                jobs=jobs,
                settings=config.submit,
                now=utcnow(),
            )
        except OrchestratorError as exc:  # the runs table, the manifest or SubmitJob failed: redeliver the batch
            logger.warning("coalesce failed", extra={"workload": workload, "error": str(exc)})
            count("SubmitFailures", workload=workload, value=len(uploads))
            failures += [upload.message_id for upload in uploads]
            continue
        _report(workload, result)
        failures += result.failed_message_ids
    throttled = take_throttle_count()
    if throttled:
        metrics.add_metric(name="Throttled", unit=MetricUnit.Count, value=throttled)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in dict.fromkeys(failures)]}
