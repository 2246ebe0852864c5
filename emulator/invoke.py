"""Run a function of the stack in-process, the way Lambda would.

``invoke_handler`` loads ``functions/<dir>/app.py`` as a fresh module (every handler file is
called app.py, so each load gets a unique module name) with ``os.environ`` set to what Lambda
holds for that function, and calls ``handler(event, context)``.

``deliver_sqs_batch`` plays the SQS event source mapping: it receives a batch from the real
queue, hands it to the handler in the Lambda SQS event shape, and deletes what the handler did
not report as failed.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from batch_orchestrator.workload_table_file import FILE_VARIABLE
from emulator.stack import environment_variables

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack

HANDLER_FILE = "app.py"
HANDLER_NAME = "handler"
_module_numbers = itertools.count(1)


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda context object that handlers and Powertools use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_context(
    stack: EmulatedStack, logical_id: str, configuration: Mapping[str, Any] | None = None
) -> LambdaContext:
    """A context for one invocation of the function (GetFunctionConfiguration read unless given)."""
    configuration = configuration or stack.function_configuration(logical_id)
    return LambdaContext(
        function_name=configuration["FunctionName"],
        invoked_function_arn=configuration["FunctionArn"],
        memory_limit_in_mb=int(configuration.get("MemorySize", 128)),
        timeout_seconds=int(configuration.get("Timeout", 3)),
        log_group_name=stack.function_log_group(logical_id),
    )


def handler_environment(
    stack: EmulatedStack, logical_id: str, configuration: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """What Lambda would put in os.environ for this function (the parts handlers can notice)."""
    configuration = configuration or stack.function_configuration(logical_id)
    environment = environment_variables(configuration)
    environment.update(
        {
            "AWS_REGION": stack.region,
            "AWS_DEFAULT_REGION": stack.region,
            "AWS_LAMBDA_FUNCTION_NAME": configuration["FunctionName"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": stack.function_log_group(logical_id),
            # No X-Ray daemon here; Tracer becomes a no-op. Metrics keep the template's namespace.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    if stack.workload_table_file is not None:
        environment[FILE_VARIABLE] = str(stack.workload_table_file)  # SIMULATED: see workload_table_file
    return environment


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Overlay ``values`` on os.environ (credentials, endpoint etc. stay) and restore it after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        # Only the names we set are put back: other threads (a moto server) keep a stable environment.
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_handler_module(stack: EmulatedStack, logical_id: str) -> ModuleType:
    """Execute functions/<dir>/app.py as a new module; the caller sets the environment first."""
    path = stack.function_dir(logical_id) / HANDLER_FILE
    for layer_dir in reversed(stack.layer_dirs(logical_id)):
        if str(layer_dir) not in sys.path:  # Lambda puts layers on /opt/python; outside pytest we must
            sys.path.insert(0, str(layer_dir))
    module_name = f"emulated_handler_{logical_id}_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and typing look the module up while it executes
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def invoke_handler(
    stack: EmulatedStack,
    logical_id: str,
    event: Any,
    *,
    context: LambdaContext | None = None,
) -> Any:
    """Load the function's app.py afresh, call ``handler(event, context)`` and return its result.

    os.environ is the function's environment from the stack during both the import (handlers
    read their configuration at import time) and the call, and is restored afterwards.
    """
    configuration = stack.function_configuration(logical_id)
    context = context or lambda_context(stack, logical_id, configuration)
    environment = handler_environment(stack, logical_id, configuration)
    with patched_environ(environment), _powertools_settings(environment):
        module = load_handler_module(stack, logical_id)
        try:
            return getattr(module, HANDLER_NAME)(event, context)
        finally:
            sys.modules.pop(module.__name__, None)


@contextmanager
def _powertools_settings(environment: Mapping[str, str]) -> Iterator[None]:
    """The function's metrics namespace and service, as its own Lambda process would read them.

    On Lambda each function is a process that creates Powertools' Metrics from its environment at
    import. Here one process runs every function (and every stack) with one shared observability
    module, created once: point it at this function's POWERTOOLS_* values for the call, then back.
    """
    from batch_orchestrator.observability import metrics

    saved = (metrics.namespace, metrics.service)
    metrics.namespace = environment.get("POWERTOOLS_METRICS_NAMESPACE", saved[0])
    metrics.service = environment.get("POWERTOOLS_SERVICE_NAME", saved[1])
    try:
        yield
    finally:
        metrics.namespace, metrics.service = saved


# -------------------------------------------------------------------------------- SQS event source
def sqs_event_from_messages(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """SQS ReceiveMessage results (AttributeNames/MessageAttributeNames "All") → Lambda's SQS event."""
    return {"Records": [_sqs_record(message, queue_arn, region) for message in messages]}


def _sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API attribute (StringValue/BinaryValue bytes) → Lambda event attribute (camelCase, base64)."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


@dataclass(frozen=True)
class SqsDelivery:
    """One poll of the queue and what became of each message."""

    event: dict[str, Any] | None  # None when the queue had nothing visible
    result: Any = None
    error: BaseException | None = None  # the handler raised: the whole batch failed
    deleted: tuple[str, ...] = ()  # message ids deleted (processed)
    failed: tuple[str, ...] = ()  # message ids left on the queue (visible again after the timeout)

    @property
    def size(self) -> int:
        return len(self.event["Records"]) if self.event else 0


def deliver_sqs_batch(
    stack: EmulatedStack,
    logical_id: str,
    *,
    max_messages: int | None = None,
    release_failed: bool = False,
    raise_errors: bool = False,
) -> SqsDelivery:
    """Do what the function's SQS event source mapping does, once.

    Receives up to the mapping's BatchSize (at most 10 per SQS call) from its queue, invokes the
    handler, then deletes the messages it processed: with ReportBatchItemFailures, all but the
    ``batchItemFailures`` (a malformed or unknown itemIdentifier fails the whole batch, as on
    AWS); without it, all of them unless the handler raised. Failed messages stay in flight
    until their visibility timeout, as on AWS; ``release_failed`` makes them visible at once so a
    test can redeliver without waiting. Redrive to the DLQ is moto's (on receive).
    """
    mapping = stack.event_source_mapping_for(logical_id)
    sqs = stack.client("sqs")
    queue_url = stack.queue_url(mapping.event_source_arn)
    count = min(max_messages or mapping.batch_size, mapping.batch_size, 10)
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=count,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not messages:
        return SqsDelivery(event=None)
    event = sqs_event_from_messages(messages, mapping.event_source_arn, stack.region)
    ids = [message["MessageId"] for message in messages]
    result: Any = None
    error: BaseException | None = None
    try:
        result = invoke_handler(stack, logical_id, event)
    except Exception as exc:  # a raising handler fails its whole batch, as on AWS
        if raise_errors:
            raise
        error = exc
    deleted, failed_ids = settle_batch(
        sqs, queue_url, messages, result=result, error=error, reports_failures=mapping.reports_batch_item_failures
    )
    if release_failed:
        for message in messages:
            if message["MessageId"] in failed_ids:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
    return SqsDelivery(
        event=event,
        result=result,
        error=error,
        deleted=tuple(m["MessageId"] for m in deleted),
        failed=tuple(i for i in ids if i in failed_ids),
    )


def settle_batch(
    sqs: Any,
    queue_url: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    result: Any,
    error: BaseException | None,
    reports_failures: bool,
) -> tuple[list[Mapping[str, Any]], set[str]]:
    """What the event source mapping does after an invocation: delete what succeeded, keep the rest.

    Returns the deleted messages and the ids of the failed ones (all of them when the handler raised).
    """
    ids = [message["MessageId"] for message in messages]
    failed = set(ids) if error is not None else batch_item_failure_ids(result, ids, reports_failures)
    deleted = [message for message in messages if message["MessageId"] not in failed]
    for start in range(0, len(deleted), 10):
        chunk = deleted[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
        )
    return deleted, failed


def batch_item_failure_ids(result: Any, ids: Sequence[str], reports_failures: bool) -> set[str]:
    if not reports_failures:
        return set()
    failures = result.get("batchItemFailures") if isinstance(result, Mapping) else None
    if not failures:
        return set()
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in ids:
            return set(ids)  # AWS treats an invalid report as a failure of the whole batch
        failed.add(identifier)
    return failed


def is_s3_test_event(body: str | bytes | Mapping[str, Any]) -> bool:
    """True for the s3:TestEvent S3 sends when a notification configuration is put."""
    data = json.loads(body) if isinstance(body, str | bytes) else body
    return isinstance(data, Mapping) and data.get("Event") == "s3:TestEvent"
