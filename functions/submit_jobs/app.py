"""SubmitQueue consumer: one Batch job per uploaded object (and per retry request), exactly once.

Each SQS record is processed on its own; a record that fails (malformed, throttled, store error) is
reported in batchItemFailures so SQS redelivers only it, and after the queue's receive limit moves
it to the dead-letter queue. An upload is routed to its workload in memory; one no workload takes is
counted (UploadsUnmatched) and logged, at no AWS call. An upload to a workload whose array is the uploaded
manifest is read first (one GetObject); a manifest that cannot run is recorded as a failed run (RunsRefused),
whose alert the watchdog sends. An upload to a workload with ``coalesce:`` is not submitted: it is forwarded to
that workload's queue after the batch (SendMessageBatch, 10 per call: UploadsForwarded), and a record whose
forwarding failed is reported in batchItemFailures like any other. A run request from another application
(``run_requests``) is submitted as any run; a request the stack will not run is written as a refused run
(RequestsRejected), which the lifecycle publisher sends to its caller as a "Run Rejected" event.
"""

import os
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_orchestrator.adapters.aws import take_throttle_count
from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.manifests import S3Manifests
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.config import SubmitConfig
from batch_orchestrator.errors import MalformedMessage, OrchestratorError
from batch_orchestrator.observability import MetricUnit, count, logger, metrics, tracer
from batch_orchestrator.run_requests import RejectedRequest, reject_request
from batch_orchestrator.s3_events import Coalesced, Skipped, Unmatched
from batch_orchestrator.submit import SubmitOutcome, submit_run
from batch_orchestrator.submit_messages import parse_submit_message
from batch_orchestrator.timeutil import utcnow

if TYPE_CHECKING:
    from batch_orchestrator.adapters.objects import S3Objects

# A batch whose every record failed (e.g. all throttled) is reported record by record, like any
# other partial failure, instead of as a function error that would trip the Errors alarm.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
OUTCOME_METRICS = {
    SubmitOutcome.SUBMITTED: "JobsSubmitted",
    SubmitOutcome.ADOPTED: "JobsSubmitted",
    SubmitOutcome.DUPLICATE: "DuplicatesSkipped",
    SubmitOutcome.REFUSED: "RunsRefused",
}
MANIFESTS = S3Manifests()
# The uploads of coalescing workloads this invocation forwards, by workload: (SQS message id, forwarded body).
_FORWARD: dict[str, list[tuple[str, str]]] = {}


@cache
def _objects() -> "S3Objects":
    """S3 as upload-directory arrays list it (loaded at their first upload: no other workload needs it)."""
    from batch_orchestrator.adapters.objects import S3Objects

    return S3Objects()


@cache
def _dependencies() -> tuple[SubmitConfig, RunsTable, BatchJobs]:
    config = SubmitConfig.from_env(os.environ)
    return config, RunsTable(config.store.runs_table, retention_days=config.store.run_retention_days), BatchJobs()


def record_handler(record: SQSRecord) -> None:
    try:
        _handle_record(record)
    except Exception as exc:
        if not isinstance(exc, OrchestratorError):  # a malformed message or a failed submit: logged above
            logger.exception("record failed unexpectedly", extra={"message_id": record.message_id})
        raise


def _handle_record(record: SQSRecord) -> None:
    config, runs, jobs = _dependencies()
    logger.set_correlation_id(None)
    try:
        requests = parse_submit_message(record.body, routes=config.routes, message_id=record.message_id, now=utcnow())
    except MalformedMessage as exc:
        logger.error("malformed submit message", extra={"message_id": record.message_id, "error": str(exc)})
        metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        raise
    for request in requests:
        if isinstance(request, Coalesced):
            from batch_orchestrator.coalesce import coalesce_message

            body = coalesce_message(workload=request.workload, source=request.source)
            _FORWARD.setdefault(request.workload, []).append((record.message_id, body))
            continue
        if isinstance(request, Unmatched):
            logger.info(
                "upload unmatched", extra={"reason": request.reason, "bucket": request.bucket, "key": request.key}
            )
            count("UploadsUnmatched", workload=None)
            continue
        if isinstance(request, Skipped):
            logger.info("input skipped", extra={"reason": request.reason, "bucket": request.bucket, "key": request.key})
            count("InputsSkipped", workload=None)
            continue
        if isinstance(request, RejectedRequest):
            _reject(request, runs)
            continue
        logger.set_correlation_id(request.run_id)
        workload = request.plan.workload
        try:
            result = submit_run(
                request,
                runs=runs,
                jobs=jobs,
                settings=config.submit,
                now=utcnow(),
                manifests=MANIFESTS,
                objects=_objects(),
            )
        except OrchestratorError as exc:  # SubmitJob refused or unknown, the runs table unavailable, no such workload
            logger.warning(
                "submit failed",
                extra={
                    "message_id": record.message_id,
                    "attempt": request.attempt,
                    "workload": workload,
                    "error": str(exc),
                },
            )
            count("SubmitFailures", workload=workload)
            raise
        logger.info(
            "run " + result.outcome.value.lower(),
            extra={
                "attempt": result.attempt,
                "workload": workload,
                "job_name": result.job_name,
                "job_id": result.job_id,
                "detail": result.detail,
            },
        )
        count(OUTCOME_METRICS[result.outcome], workload=workload)


def _reject(rejected: RejectedRequest, runs: RunsTable) -> None:
    """A run request the stack will not run: recorded for its "Run Rejected" event (counted without a workload
    dimension: a caller's wrong names must not become metrics)."""
    logger.set_correlation_id(rejected.run_id)
    written = reject_request(rejected, runs=runs, now=utcnow())
    logger.warning(
        "run request rejected" if written else "run request already rejected",
        extra={
            "reason": rejected.reason,
            "workload": rejected.source.workload,
            "request_key": rejected.source.request_key,
            "requester": rejected.source.requester,
        },
    )
    if written:
        count("RequestsRejected", workload=None)


def _forward_coalesced(response: PartialItemFailureResponse) -> None:
    """Send the collected uploads of coalescing workloads to their queues; a record whose upload was not sent is
    added to batchItemFailures (SQS redelivers it; the coalescer drops a key forwarded twice)."""
    config, _, _ = _dependencies()
    from batch_orchestrator.adapters.coalesce_queues import CoalesceQueues  # only a stack that coalesces uses it

    queues = CoalesceQueues(config.coalesce_queue_url_prefix)
    reported = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    for workload, bodies in _FORWARD.items():
        failed = queues.forward(workload, bodies)
        count("UploadsForwarded", workload=workload, value=len(bodies) - len(failed))
        if failed:
            logger.warning("forward to coalesce queue failed", extra={"workload": workload, "records": len(failed)})
            count("SubmitFailures", workload=workload, value=len(failed))
        for message_id in sorted(failed - reported):
            response["batchItemFailures"].append({"itemIdentifier": message_id})
            reported.add(message_id)
    _FORWARD.clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A bad configuration fails the invocation (the Errors alarm), not each record on its own.
    _dependencies()
    _FORWARD.clear()
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    if _FORWARD:
        _forward_coalesced(response)
    # Throttling that botocore or the Batch adapter retried is invisible in the outcome: count it here.
    throttled = take_throttle_count()
    if throttled:
        metrics.add_metric(name="Throttled", unit=MetricUnit.Count, value=throttled)
    return response
