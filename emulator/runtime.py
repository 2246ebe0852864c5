"""The whole pipeline of template.yaml, running locally: ``LocalPipeline``.

One object starts and stops everything: a moto server on a free loopback port (in this process),
the stack of template.yaml created in it (``emulator.stack``), the functions run in-process
with the environment the stack gives them (``emulator.invoke``), and the event delivery that
AWS would do between them. Every part that stands in for an AWS service is marked SIMULATED:

* AWS APIs — moto 5.2, as a ``ThreadedMotoServer`` in this process, so ``emulator.moto_fidelity``
  and the runner's access to moto's Batch backend keep working, and other processes (the AWS CLI,
  the job processes) reach it at ``endpoint_url``.
* Lambda — handlers run in this process, ONE AT A TIME (``_INVOKE_LOCK``: os.environ is per
  process); a function's timeout is not enforced. What a handler prints (Powertools logs and
  metrics) goes to its log group in moto's CloudWatch Logs (``_FunctionLogs``).
* SQS event source mapping — ``_SqsEventSource``: long-polls the queue, fills a batch up to the
  mapping's BatchSize within its MaximumBatchingWindowInSeconds, invokes the function, deletes
  what succeeded (with ReportBatchItemFailures, all but ``batchItemFailures``; a raising handler
  fails the whole batch). Failed messages stay in flight for the queue's visibility timeout;
  moto honours DelaySeconds and moves a message to the dead-letter queue on the receive after
  maxReceiveCount (checked against moto 5.2.5, so not emulated here). One poller per mapping, so
  ScalingConfig.MaximumConcurrency is honoured as an upper bound (concurrency is 1).
* EventBridge — moto cannot invoke Lambda targets, so ``put_events`` routes an event with the
  stack's own rules (patterns read back from EventBridge, ``EmulatedStack.rules_matching``) to their
  function targets. Targets never fail to receive here, so a rule's RetryPolicy/DeadLetterConfig
  (which cover delivery failures) never come into play.
* Lambda asynchronous invocation — ``_AsyncInvoker``: a function error is retried
  MaximumRetryAttempts times (EventInvokeConfig, read back from Lambda) after ``ASYNC_RETRY_DELAYS``
  (AWS waits about 1 and 2 minutes), then the documented invocation record goes to the OnFailure
  destination queue.
* EventBridge Scheduler — ``fire_schedule`` fires a schedule of the stack on demand, with the
  scheduler's context placeholders filled in; with ``run_schedules`` an ENABLED schedule also
  fires on its cron()/rate()/at() expression in its time zone (``next_fire_time``).
* AWS Batch / Fargate — ``emulator.runner.LocalJobRunner``: jobs are local processes.
* SNS subscribers — an SQS queue subscribed to the alerts topic is the inbox ``alerts()`` reads.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import boto3

from emulator.invoke import (
    handler_environment,
    invoke_handler,
    patched_environ,
    settle_batch,
    sqs_event_from_messages,
)
from emulator.runner import DEFAULT_CAPACITY, FAKE_CREDENTIALS, LocalJobRunner
from emulator.stack import DEFAULT_STACK_NAME, MOTO_CONFIG, EmulatedStack, EventSourceMapping, Schedule, deploy_stack

if TYPE_CHECKING:
    from batch_orchestrator.models import Run

LOCAL_HOST = "127.0.0.1"
REGION = "us-east-1"

# Template parameters of the local stack: the sample job as the job command, and retries quick
# enough to watch. Callers override any of them.
LOCAL_PARAMETERS: dict[str, str] = {
    "JobCommand": "python3,/app/job.py",
    "RetryExitCodes": "75",
    "MaxAttempts": "3",
    "RetryBaseDelaySeconds": "1",
    "JobTimeoutSeconds": "60",
}

ASYNC_RETRY_DELAYS = (1.0, 2.0)  # SIMULATED: Lambda waits about 1 and 2 minutes between async retries
DEFAULT_ASYNC_RETRIES = 2
DEFAULT_MAX_EVENT_AGE = 21600
POLL_WAIT_SECONDS = 1  # long-poll wait of the SQS poller (Lambda's is 20 s; short so stop() is quick)
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED")
SCHEDULER_PLACEHOLDERS = (
    "<aws.scheduler.scheduled-time>",
    "<aws.scheduler.execution-id>",
    "<aws.scheduler.attempt-number>",
    "<aws.scheduler.schedule-arn>",
)
# Moto's request log: one line per API call, too much for a terminal.
_QUIET_LOGGERS = ("werkzeug",)
_ENV_REMOVED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")

# os.environ is the function's environment during an invocation, and it is per process: one
# invocation at a time, whatever thread delivers it.
_INVOKE_LOCK = threading.RLock()

Echo = Callable[[str], None]


# ------------------------------------------------------------------------------------ what we report
@dataclass(frozen=True)
class StatusChange:
    """A run's record changed (read from the runs table right after the invocation that changed it)."""

    seconds: float  # since the pipeline started
    run_id: str
    label: str  # the input key, or the schedule name
    status: str
    attempt: int
    max_attempts: int
    exit_code: int | None
    status_reason: str | None


@dataclass(frozen=True)
class Alert:
    """One SNS notification as a subscriber receives it."""

    subject: str
    message: str
    attributes: dict[str, str]
    details: dict[str, Any]  # the JSON that ends the message body

    @property
    def run_id(self) -> str | None:
        value = self.details.get("runId")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Upload:
    key: str
    version_id: str | None
    run_id: str


@dataclass(frozen=True)
class ScheduleFiring:
    schedule_name: str
    scheduled_time: str
    payload: Any
    run_id: str | None


@dataclass(frozen=True)
class SqsDeliveryRecord:
    """One batch the event source mapping delivered (for tests and the serve view)."""

    function_logical_id: str
    bodies: tuple[str, ...]
    failed: int
    error: str | None


# ------------------------------------------------------------------------------------- the pipeline
class LocalPipeline:
    """template.yaml's stack in a local moto server, with the functions and a local Batch wired up.

    Use as a context manager, or call ``start()`` and ``stop()``. ``stop()`` stops every thread
    and process it started, resets moto's state and restores os.environ and moto's settings.
    """

    def __init__(
        self,
        parameters: Mapping[str, str] | None = None,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        host: str = LOCAL_HOST,
        port: int = 0,
        job_capacity: int = DEFAULT_CAPACITY,
        run_schedules: bool = False,
        echo: Echo | None = None,
        echo_function_logs: bool = False,
        echo_job_output: bool = False,
    ) -> None:
        self.parameters = {**LOCAL_PARAMETERS, **{k: str(v) for k, v in (parameters or {}).items()}}
        self._stack_name = stack_name
        self._host = host
        self._port = port
        self._job_capacity = job_capacity
        self._run_schedules = run_schedules
        self._echo = echo
        self._echo_function_logs = echo_function_logs
        self._echo_job_output = echo_job_output

        self.endpoint_url = ""
        self._stack: EmulatedStack | None = None
        self._runner: LocalJobRunner | None = None
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._started_at = 0.0
        self._saved_environ: dict[str, str | None] = {}
        self._saved_moto_config: dict[str, Any] = {}
        self._saved_log_levels: dict[str, int] = {}
        self._function_logs: _FunctionLogs | None = None
        self._async: _AsyncInvoker | None = None
        self._sources: list[_SqsEventSource] = []
        self._invoke_configs: dict[str, dict[str, Any]] = {}
        self._environments: dict[str, dict[str, str]] = {}
        self._alerts_inbox_url = ""
        self._alerts: list[Alert] = []
        self._alerts_lock = threading.Lock()

        self._changed = threading.Condition()
        self._runs: dict[str, Run] = {}
        self._labels: dict[str, str] = {}
        self._changes: list[StatusChange] = []
        self._listeners: list[Callable[[StatusChange], None]] = []
        self._deliveries: list[SqsDeliveryRecord] = []
        self._errors: list[str] = []

    # ---------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stack(self) -> EmulatedStack:
        if self._stack is None:
            raise RuntimeError("the local pipeline is not started")
        return self._stack

    @property
    def runner(self) -> LocalJobRunner:
        if self._runner is None:
            raise RuntimeError("the local pipeline is not started")
        return self._runner

    def start(self) -> LocalPipeline:
        """Start moto, create the stack, and start delivering events. Cleans up if any step fails."""
        self._started_at = time.monotonic()
        try:
            self._start_moto()
            self._stack = deploy_stack(self.parameters, stack_name=self._stack_name)
            self._prepare_functions()
            self._subscribe_alerts_inbox()
            self._start_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything ``start`` started, in reverse order; safe to call twice."""
        self._stopping.set()
        for source in self._sources:
            source.stop()
        if self._runner is not None:
            self._runner.stop()
        if self._async is not None:
            self._async.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._sources.clear()
        if self._function_logs is not None:
            self._function_logs.uninstall()
        if self._server is not None:
            with contextlib.suppress(Exception):
                _post(f"{self.endpoint_url}/moto-api/reset")  # moto's state is per process: leave none behind
            self._server.stop()
            self._server = None
        self._restore_moto_config()
        self._restore_environ()
        for name, level in self._saved_log_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_log_levels.clear()
        _reset_shared_clients()

    # ------------------------------------------------------------------------------ events in
    def put_events(self, event: Mapping[str, Any]) -> int:
        """SIMULATED EventBridge: route ``event`` with the stack's rules; returns the targets invoked."""
        invoked = 0
        for rule in self.stack.rules_matching(event):
            for target in rule.targets:
                if target.function_logical_id is None:
                    self._say(f"rule {rule.name}: target {target.arn} is not a function of the stack; skipped")
                    continue
                self._async_invoker.submit(target.function_logical_id, _target_input(target, event))
                invoked += 1
        return invoked

    def invoke_function(self, logical_id: str, event: Any) -> Any:
        """SIMULATED synchronous Lambda Invoke: the function's real handler, in-process; returns its result."""
        return self._invoke(logical_id, event)

    def invoke_function_async(self, logical_id: str, event: Any) -> None:
        """SIMULATED asynchronous (Event) Invoke: queued, with Lambda's retries and on-failure destination."""
        self._async_invoker.submit(logical_id, event)

    def fire_schedule(self, name: str | None = None, *, scheduled_time: datetime | None = None) -> ScheduleFiring:
        """SIMULATED EventBridge Scheduler: one firing of a schedule of the stack, now (or as of a time).

        ``name`` is a schedule's name or logical id; by default the schedule of the ScheduleName
        output (the one that submits runs).
        """
        schedule = self._schedule(name)
        when = (scheduled_time or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        payload = render_schedule_input(schedule, when, region=self.stack.region, account_id=self.stack.account_id)
        if schedule.function_logical_id is None:
            raise LookupError(f"schedule {schedule.name} does not target a function of the stack")
        run_ids = _run_ids_of(payload, self._environments[schedule.function_logical_id])
        self._async_invoker.submit(schedule.function_logical_id, payload)
        run_id = next(iter(run_ids), None)
        if run_id is not None:
            self._labels.setdefault(run_id, schedule.name)
        return ScheduleFiring(schedule.name, when.strftime("%Y-%m-%dT%H:%M:%SZ"), payload, run_id)

    def upload(self, key: str, body: bytes | str) -> Upload:
        """Put an object into the input bucket, as a user would; returns the run id it should start."""
        from batch_orchestrator.ids import run_id_for
        from batch_orchestrator.models import S3Source

        data = body.encode("utf-8") if isinstance(body, str) else body
        bucket = self.stack.outputs["InputBucketName"]
        version_id = self.stack.client("s3").put_object(Bucket=bucket, Key=key, Body=data).get("VersionId")
        run_id = run_id_for(S3Source(bucket=bucket, key=key, version_id=version_id))
        self._labels.setdefault(run_id, key)
        return Upload(key=key, version_id=version_id, run_id=run_id)

    @contextlib.contextmanager
    def submissions_paused(self) -> Iterator[None]:
        """Hold the SQS event source mappings (no receive) for the duration; for tests."""
        for source in self._sources:
            source.pause()
        try:
            yield
        finally:
            for source in self._sources:
                source.resume()

    # ------------------------------------------------------------------------------ reading
    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started_at

    def on_status_change(self, listener: Callable[[StatusChange], None]) -> None:
        """Call ``listener`` for every change of a run (in the delivering thread; keep it short)."""
        self._listeners.append(listener)

    def changes(self, run_id: str | None = None) -> list[StatusChange]:
        with self._changed:
            return [c for c in self._changes if run_id is None or c.run_id == run_id]

    def run(self, run_id: str) -> Run | None:
        """The run's record, read now from the runs table."""
        from batch_orchestrator.adapters.runs_table import run_from_item

        item = self.stack.client("dynamodb").get_item(
            TableName=self.stack.outputs["RunsTableName"], Key={"runId": {"S": run_id}}, ConsistentRead=True
        )
        return run_from_item(_deserialise(item["Item"])) if "Item" in item else None

    def label(self, run_id: str) -> str:
        return self._labels.get(run_id, run_id)

    def wait_for_runs(self, run_ids: Iterable[str], *, timeout: float = 60.0) -> dict[str, Run]:
        """Block until every run is SUCCEEDED or FAILED; TimeoutError names the ones that are not."""
        wanted = list(dict.fromkeys(run_ids))
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                pending = [
                    r for r in wanted if r not in self._runs or self._runs[r].status.value not in TERMINAL_STATUSES
                ]
                if not pending:
                    return {r: self._runs[r] for r in wanted}
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    states = {r: self._runs[r].status.value if r in self._runs else "not seen" for r in pending}
                    raise TimeoutError(f"runs not finished after {timeout:.0f} s: {states}; errors: {self._errors}")
                self._changed.wait(min(remaining, 0.5))

    def wait_idle(self, *, timeout: float = 60.0, settle: float = 0.3) -> None:
        """Block until nothing is in flight: no message on the SubmitQueue (visible, in flight or
        delayed), no invocation pending or running, no job unfinished, twice ``settle`` apart."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while True:
            now = time.monotonic()
            if self._quiet():
                quiet_since = quiet_since or now
                if now - quiet_since >= settle:
                    return
            else:
                quiet_since = None
            if now > deadline:
                raise TimeoutError(f"pipeline still busy after {timeout:.0f} s: {self._activity()}")
            time.sleep(0.05)

    def alerts(self) -> list[Alert]:
        """Every notification the alerts topic delivered so far (read from the inbox queue)."""
        sqs = self.stack.client("sqs")
        with self._alerts_lock:
            while True:
                messages = sqs.receive_message(
                    QueueUrl=self._alerts_inbox_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    return list(self._alerts)
                for message in messages:
                    self._alerts.append(_alert_from_notification(json.loads(message["Body"])))
                    sqs.delete_message(QueueUrl=self._alerts_inbox_url, ReceiptHandle=message["ReceiptHandle"])

    def jobs_of(self, run_id: str) -> list[dict[str, Any]]:
        """DescribeJobs entries of every Batch job of the run (job names start with the run id)."""
        batch = self.stack.client("batch")
        summaries = batch.list_jobs(
            jobQueue=self.stack.outputs["JobQueueArn"], filters=[{"name": "JOB_NAME", "values": [f"{run_id}-*"]}]
        )["jobSummaryList"]
        ids = [summary["jobId"] for summary in summaries]
        jobs = batch.describe_jobs(jobs=ids)["jobs"] if ids else []
        return sorted(jobs, key=lambda job: job["createdAt"])

    def queue_depth(self, output_name: str = "SubmitQueueUrl") -> int:
        """Messages on one of the stack's queues: visible + in flight + delayed."""
        attributes = self.stack.client("sqs").get_queue_attributes(
            QueueUrl=self.stack.outputs[output_name],
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def deliveries(self) -> list[SqsDeliveryRecord]:
        return list(self._deliveries)

    @property
    def errors(self) -> list[str]:
        """Errors of the local machinery itself (not of the functions, which AWS would also see)."""
        return list(self._errors)

    # ----------------------------------------------------------------------------- start-up
    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        for name in _QUIET_LOGGERS:
            logger = logging.getLogger(name)
            self._saved_log_levels[name] = logger.level
            logger.setLevel(logging.ERROR)
        port = self._port or free_port(self._host)
        self._server = ThreadedMotoServer(ip_address=self._host, port=port, verbose=False)
        self._server.start()
        self.endpoint_url = f"http://{self._host}:{port}"
        self._save_moto_config()
        # Every boto3 client made from now on in this process talks to the local moto server only.
        self._set_environ(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                **FAKE_CREDENTIALS,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )

    def _prepare_functions(self) -> None:
        stack = self.stack
        functions = list(stack.resources_of_type("AWS::Lambda::Function"))
        for logical_id in functions:  # what Lambda puts on /opt/python; lets this module use the layer too
            for layer_dir in reversed(stack.layer_dirs(logical_id)):
                if str(layer_dir) not in sys.path:
                    sys.path.insert(0, str(layer_dir))
        _reset_shared_clients()
        # boto3's default session is not thread-safe: make every client the threads use now.
        for service in ("s3", "sqs", "sns", "batch", "dynamodb", "logs", "lambda", "events", "scheduler"):
            stack.client(service)
        _ = stack.event_source_mappings, stack.event_rules, stack.schedules
        lambda_client = stack.client("lambda")
        for logical_id in functions:
            try:
                config = lambda_client.get_function_event_invoke_config(FunctionName=stack.function_name(logical_id))
            except lambda_client.exceptions.ResourceNotFoundException:
                config = {}
            self._invoke_configs[logical_id] = dict(config)
            self._environments[logical_id] = stack.function_environment(logical_id)
        self._function_logs = _FunctionLogs(stack, echo=self._echo if self._echo_function_logs else None)
        # Powertools reads POWERTOOLS_* when the shared observability module is first imported; on
        # Lambda that happens inside the function's environment, so it does here too.
        with patched_environ(handler_environment(stack, functions[0])):
            self._function_logs.install()

    def _subscribe_alerts_inbox(self) -> None:
        """SIMULATED subscriber: an SQS queue subscribed to the alerts topic (not part of the template)."""
        sqs = self.stack.client("sqs")
        self._alerts_inbox_url = sqs.create_queue(QueueName=f"{self._stack_name}-alerts-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self._alerts_inbox_url, AttributeNames=["QueueArn"])["Attributes"]
        self.stack.client("sns").subscribe(
            TopicArn=self.stack.outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=arn["QueueArn"]
        )

    def _start_workers(self) -> None:
        stack = self.stack
        self._async = _AsyncInvoker(self)
        self._threads.append(self._async)
        self._async.start()
        self._runner = LocalJobRunner(
            job_queue_arns=list(stack.resources_of_type("AWS::Batch::JobQueue").values()),
            emit=self._on_batch_event,
            account_id=stack.account_id,
            region=stack.region,
            endpoint_url=self.endpoint_url,
            batch_client=stack.client("batch"),
            logs_client=stack.client("logs"),
            capacity=self._job_capacity,
            echo=self._echo,
            echo_output=self._echo_job_output,
        ).start()
        for mapping in stack.event_source_mappings.values():
            if not mapping.enabled_in_template or not mapping.function_logical_id:
                continue
            source = _SqsEventSource(self, mapping)
            self._sources.append(source)
            self._threads.append(source)
            source.start()
        if self._run_schedules:
            for schedule in stack.schedules.values():
                if schedule.state == "ENABLED":
                    timer = threading.Thread(
                        target=self._schedule_loop, args=(schedule,), name=f"schedule-{schedule.name}", daemon=True
                    )
                    self._threads.append(timer)
                    timer.start()

    # ------------------------------------------------------------------------ invocations
    @property
    def _async_invoker(self) -> _AsyncInvoker:
        if self._async is None:
            raise RuntimeError("the local pipeline is not started")
        return self._async

    def _invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function in-process (one invocation at a time), then read the runs it touched."""
        assert self._function_logs is not None
        run_ids = _run_ids_of(event, self._environments[logical_id])
        if not run_ids:  # e.g. a watchdog sweep: it may change any unfinished run
            with self._changed:
                run_ids = [r for r, run in self._runs.items() if run.status.value not in TERMINAL_STATUSES]
        with _INVOKE_LOCK:
            try:
                with self._function_logs.capture(logical_id):
                    return invoke_handler(self.stack, logical_id, event)
            finally:
                self._observe(run_ids)

    def _on_batch_event(self, event: dict[str, Any]) -> None:
        if not self._stopping.is_set() and self.put_events(event) == 0:
            self._say(f"no rule of the stack matches the {event.get('detail-type')} event; dropped")

    def _observe(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            try:
                run = self.run(run_id)
            except Exception as exc:
                self._error(f"cannot read run {run_id}: {exc}")
                continue
            if run is None:
                continue
            with self._changed:
                previous = self._runs.get(run_id)
                self._runs[run_id] = run
                if previous is not None and _snapshot(previous) == _snapshot(run):
                    continue
                change = StatusChange(
                    seconds=self.elapsed,
                    run_id=run_id,
                    label=self._labels.setdefault(run_id, _label_of(run)),
                    status=run.status.value,
                    attempt=run.attempt,
                    max_attempts=run.max_attempts,
                    exit_code=run.exit_code,
                    status_reason=run.status_reason,
                )
                self._changes.append(change)
                self._changed.notify_all()
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception as exc:
                    self._error(f"status listener failed: {exc}")

    def _record_delivery(self, record: SqsDeliveryRecord) -> None:
        self._deliveries.append(record)

    def _schedule(self, name: str | None) -> Schedule:
        """A schedule by logical id or name; by default the one the ScheduleName output names."""
        schedules = self.stack.schedules
        wanted = name or self.stack.outputs.get("ScheduleName")
        found = [s for s in schedules.values() if wanted in (s.logical_id, s.name)] if wanted else []
        if not found and name is None and len(schedules) == 1:
            found = list(schedules.values())
        if len(found) != 1:
            names = sorted(s.name for s in schedules.values())
            raise LookupError(f"no single schedule {wanted!r} in the stack; its schedules are {names}")
        return found[0]

    def _schedule_loop(self, schedule: Schedule) -> None:
        try:
            after = datetime.now(UTC)
            while not self._stopping.is_set():
                when = next_fire_time(schedule.expression, schedule.timezone or "UTC", after)
                if when is None:
                    return
                self._say(f"schedule {schedule.name}: next firing at {when.isoformat()}")
                while not self._stopping.is_set() and datetime.now(UTC) < when:
                    self._stopping.wait(min(1.0, (when - datetime.now(UTC)).total_seconds()))
                if self._stopping.is_set():
                    return
                self.fire_schedule(schedule.logical_id, scheduled_time=when)
                after = when
        except UnsupportedScheduleError as exc:
            self._say(f"schedule {schedule.name}: {exc}; fire it on demand instead")

    # ------------------------------------------------------------------------------ idle
    def _quiet(self) -> bool:
        busy_sources = any(source.busy for source in self._sources)
        return not (busy_sources or self._async_invoker.pending or self.runner.busy) and self.queue_depth() == 0

    def _activity(self) -> str:
        return (
            f"pollers busy={[s.busy for s in self._sources]}, async pending={self._async_invoker.pending}, "
            f"jobs busy={self.runner.busy}, SubmitQueue depth={self.queue_depth()}"
        )

    # ------------------------------------------------------------------------- environment
    def _set_environ(self, values: Mapping[str, str]) -> None:
        for name in (*values, *_ENV_REMOVED):
            self._saved_environ.setdefault(name, os.environ.get(name))
        for name in _ENV_REMOVED:
            os.environ.pop(name, None)
        os.environ.update(values)

    def _restore_environ(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    def _save_moto_config(self) -> None:
        from moto.core.config import default_user_config

        self._saved_moto_config = {name: dict(default_user_config.get(name, {})) for name in MOTO_CONFIG}  # type: ignore[call-overload]

    def _restore_moto_config(self) -> None:
        if not self._saved_moto_config:
            return
        from moto.core.config import default_user_config

        for name, value in self._saved_moto_config.items():
            default_user_config[name] = value  # type: ignore[literal-required]
        self._saved_moto_config = {}

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(text)

    def _error(self, text: str) -> None:
        self._errors.append(text)
        self._say(f"local pipeline error: {text}")


# ------------------------------------------------------------------------------- SQS event source
class _SqsEventSource(threading.Thread):
    """SIMULATED Lambda SQS event source mapping (see the module docstring)."""

    def __init__(self, pipeline: LocalPipeline, mapping: EventSourceMapping) -> None:
        super().__init__(name=f"sqs-esm-{mapping.logical_id}", daemon=True)
        self._pipeline = pipeline
        self._mapping = mapping
        self._queue_url = pipeline.stack.queue_url(mapping.event_source_arn)
        self._sqs = pipeline.stack.client("sqs")
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._parked = threading.Event()
        self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Stop receiving; returns once the poller holds no message (after at most one long poll)."""
        self._running.clear()
        if self.is_alive():
            self._parked.wait(timeout=POLL_WAIT_SECONDS + 30)

    def resume(self) -> None:
        self._running.set()

    def run(self) -> None:
        while not self._stop.is_set():
            if not self._running.is_set():
                self._parked.set()
                self._running.wait()
                self._parked.clear()
            if self._stop.is_set():
                return
            try:
                self._poll_once()
            except Exception as exc:
                self._busy = False
                self._pipeline._error(f"SQS poller of {self._mapping.function_logical_id}: {exc}")
                self._stop.wait(1.0)

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=max(1, min(count, 10)),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _poll_once(self) -> None:
        batch_size = self._mapping.batch_size
        messages = self._receive(batch_size, POLL_WAIT_SECONDS)
        if not messages:
            return
        self._busy = True  # holding messages: in flight on the queue until deleted or timed out
        try:
            window = self._mapping.maximum_batching_window_seconds
            deadline = time.monotonic() + window
            while len(messages) < batch_size and time.monotonic() < deadline and not self._stop.is_set():
                more = self._receive(batch_size - len(messages), 0)
                if more:
                    messages.extend(more)
                else:
                    time.sleep(0.05)
            self._deliver(messages)
        finally:
            self._busy = False

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        mapping = self._mapping
        event = sqs_event_from_messages(messages, mapping.event_source_arn, self._pipeline.stack.region)
        result: Any = None
        error: BaseException | None = None
        try:
            result = self._pipeline._invoke(mapping.function_logical_id, event)
        except Exception as exc:  # the whole batch fails, as on AWS
            error = exc
        _, failed = settle_batch(
            self._sqs,
            self._queue_url,
            messages,
            result=result,
            error=error,
            reports_failures=mapping.reports_batch_item_failures,
        )
        self._pipeline._record_delivery(
            SqsDeliveryRecord(
                function_logical_id=mapping.function_logical_id,
                bodies=tuple(message["Body"] for message in messages),
                failed=len(failed),
                error=f"{type(error).__name__}: {error}" if error is not None else None,
            )
        )


# ------------------------------------------------------------------------- Lambda async invocations
@dataclass(order=True)
class _Invocation:
    due: float
    sequence: int
    function_logical_id: str = field(compare=False)
    event: Any = field(compare=False)
    attempt: int = field(default=1, compare=False)
    first_at: float = field(default=0.0, compare=False)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()), compare=False)


class _AsyncInvoker(threading.Thread):
    """SIMULATED Lambda asynchronous invocation: an internal queue, retries, on-failure destination."""

    def __init__(self, pipeline: LocalPipeline) -> None:
        super().__init__(name="lambda-async", daemon=True)
        self._pipeline = pipeline
        self._heap: list[_Invocation] = []
        self._condition = threading.Condition()
        self._sequence = 0
        self._running = 0
        self._stop = False

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._heap) + self._running

    def submit(self, function_logical_id: str, event: Any, *, delay: float = 0.0, attempt: int = 1) -> None:
        now = time.monotonic()
        with self._condition:
            self._sequence += 1
            heapq.heappush(
                self._heap, _Invocation(now + delay, self._sequence, function_logical_id, event, attempt, now)
            )
            self._condition.notify_all()

    def _resubmit(self, invocation: _Invocation, delay: float) -> None:
        with self._condition:
            self._sequence += 1
            invocation.due = time.monotonic() + delay
            invocation.sequence = self._sequence
            invocation.attempt += 1
            heapq.heappush(self._heap, invocation)
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stop = True
            self._heap.clear()
            self._condition.notify_all()

    def run(self) -> None:
        while True:
            with self._condition:
                while not self._stop and (not self._heap or self._heap[0].due > time.monotonic()):
                    timeout = self._heap[0].due - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                if self._stop:
                    return
                invocation = heapq.heappop(self._heap)
                self._running += 1
            try:
                self._invoke(invocation)
            finally:
                with self._condition:
                    self._running -= 1

    def _invoke(self, invocation: _Invocation) -> None:
        config = self._pipeline._invoke_configs.get(invocation.function_logical_id, {})
        max_age = int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE))
        if time.monotonic() - invocation.first_at > max_age:
            self._give_up(invocation, config, "EventAgeExceeded", None)
            return
        try:
            self._pipeline._invoke(invocation.function_logical_id, invocation.event)
        except Exception as exc:
            retries = int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES))
            if invocation.attempt <= retries and not self._stop:
                delay = ASYNC_RETRY_DELAYS[min(invocation.attempt - 1, len(ASYNC_RETRY_DELAYS) - 1)]
                self._pipeline._say(
                    f"{invocation.function_logical_id} failed ({type(exc).__name__}: {exc}); "
                    f"Lambda retries the async invocation in {delay:.0f} s"
                )
                self._resubmit(invocation, delay)
            else:
                self._give_up(invocation, config, "RetriesExhausted", exc)

    def _give_up(
        self, invocation: _Invocation, config: Mapping[str, Any], condition: str, exc: Exception | None
    ) -> None:
        """The invocation record Lambda sends to the OnFailure destination (SQS only here)."""
        stack = self._pipeline.stack
        destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        self._pipeline._say(f"{invocation.function_logical_id}: async invocation given up ({condition})")
        if not destination or ":sqs:" not in destination:
            return
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": f"{stack.function_configuration(invocation.function_logical_id)['FunctionArn']}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": invocation.attempt,
            },
            "requestPayload": invocation.event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": str(exc), "errorType": type(exc).__name__} if exc else None,
        }
        stack.client("sqs").send_message(QueueUrl=stack.queue_url(destination), MessageBody=json.dumps(record))


# ---------------------------------------------------------------------------------- function logs
class _FunctionLogs(io.TextIOBase):
    """SIMULATED CloudWatch Logs of the functions.

    During an invocation, what the handler prints (Powertools' logger and metrics write to
    stdout, as on Lambda) is collected, then put to the function's log group in moto under one
    stream per function, like a warm Lambda container. The Powertools logger keeps the stream it
    was created with, so its handler is pointed here while the pipeline runs.
    """

    def __init__(self, stack: EmulatedStack, *, echo: Echo | None) -> None:
        super().__init__()
        self._stack = stack
        self._echo = echo
        self._current: str | None = None
        self._buffer: list[str] = []
        self._streams: dict[str, tuple[str, str]] = {}
        self._saved_stream: Any = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._current is not None:
            self._buffer.append(text)
        return len(text)

    def install(self) -> None:
        from batch_orchestrator.observability import logger

        handler = logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            self._saved_stream = handler.setStream(self)

    def uninstall(self) -> None:
        if self._saved_stream is None:
            return
        from batch_orchestrator.observability import logger

        handler = logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(self._saved_stream)
        self._saved_stream = None

    @contextlib.contextmanager
    def capture(self, logical_id: str) -> Iterator[None]:
        self._current, self._buffer = logical_id, []
        caught: list[warnings.WarningMessage] = []
        try:
            # Lambda's runtime sends what the handler prints, and Python's warnings, to the log stream.
            with contextlib.redirect_stdout(self), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                yield
        finally:
            self._buffer += [f"{w.category.__name__}: {w.message}\n" for w in caught]
            lines = [line for line in "".join(self._buffer).splitlines() if line.strip()]
            self._current, self._buffer = None, []
            self._ship(logical_id, lines)

    def _ship(self, logical_id: str, lines: Sequence[str]) -> None:
        if self._echo is not None:
            for line in lines:
                self._echo(f"[function {logical_id}] {line}")
        if not lines:
            return
        logs = self._stack.client("logs")
        try:
            group, stream = self._stream_of(logical_id)
            now = int(time.time() * 1000)
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": now, "message": line} for line in lines[:5000]],
            )
        except Exception:  # noqa: S110 - logs are a convenience; the invocation's outcome stands
            pass

    def _stream_of(self, logical_id: str) -> tuple[str, str]:
        if logical_id not in self._streams:
            logs = self._stack.client("logs")
            group = self._stack.function_log_group(logical_id)
            stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams[logical_id] = (group, stream)
        return self._streams[logical_id]


# ------------------------------------------------------------------------------ schedule expressions
class UnsupportedScheduleError(ValueError):
    """An expression the local scheduler cannot evaluate (it can still be fired on demand)."""


_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The first firing strictly after ``after`` (UTC) of an EventBridge Scheduler expression.

    Supports rate(), at() and cron() with ``* ? , - /`` and month/day names; ``L``, ``W`` and
    ``#`` raise UnsupportedScheduleError. cron() and at() are read in ``timezone``. A rate()
    counts from ``after`` (the scheduler counts from the schedule's creation). None: never again.
    """
    text = expression.strip()
    zone = ZoneInfo(timezone)
    if match := _RATE.match(text):
        unit = match[2].rstrip("s")
        return after + timedelta(**{f"{unit}s": int(match[1])})
    if match := _AT.match(text):
        when = datetime.fromisoformat(match[1]).replace(tzinfo=zone).astimezone(UTC)
        return when if when > after else None
    if match := _CRON.match(text):
        return _next_cron(match[1].split(), zone, after)
    raise UnsupportedScheduleError(f"unknown schedule expression {expression!r}")


def _next_cron(fields: list[str], zone: ZoneInfo, after: datetime) -> datetime | None:
    if len(fields) != 6:
        raise UnsupportedScheduleError("cron() takes 6 fields: minutes hours day-of-month month day-of-week year")
    minute_f, hour_f, dom_f, month_f, dow_f, year_f = fields
    minutes = _cron_values(minute_f, 0, 59)
    hours = _cron_values(hour_f, 0, 23)
    months = _cron_values(month_f, 1, 12, _MONTHS)
    years = _cron_values(year_f, 1970, 2199)
    days = None if dom_f == "?" else _cron_values(dom_f, 1, 31)
    weekdays = None if dow_f == "?" else _cron_values(dow_f, 1, 7, _WEEKDAYS)
    local = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
    day = local.replace(hour=0, minute=0)
    for _ in range(366 * 5):
        aws_weekday = (day.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
        if (
            day.year in years
            and day.month in months
            and (days is None or day.day in days)
            and (weekdays is None or aws_weekday in weekdays)
        ):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= local:
                        return candidate.replace(tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)
    return None


def _cron_values(spec: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in spec.split(","):
        body, slash, step_text = part.partition("/")
        step = _cron_number(step_text, None) if slash else 1
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = _cron_number(first, names), _cron_number(last, names)
        else:
            start = _cron_number(body, names)
            end = high if slash else start
        values.update(range(start, end + 1, max(step, 1)))
    return {value for value in values if low <= value <= high}


def _cron_number(text: str, names: Mapping[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if text.isdigit():
        return int(text)
    raise UnsupportedScheduleError(f"cron value {text!r} is not supported locally (L, W and # are not)")


def render_schedule_input(schedule: Schedule, when: datetime, *, region: str, account_id: str) -> Any:
    """The target input the scheduler would deliver for one firing (context placeholders filled)."""
    text = schedule.input or "{}"
    values = {
        "<aws.scheduler.scheduled-time>": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
        "<aws.scheduler.schedule-arn>": (
            f"arn:aws:scheduler:{region}:{account_id}:schedule/{schedule.group_name}/{schedule.name}"
        ),
    }
    for placeholder in SCHEDULER_PLACEHOLDERS:
        text = text.replace(placeholder, values[placeholder])
    try:
        return json.loads(text)
    except ValueError:
        return text


# ----------------------------------------------------------------------------------- small helpers
def free_port(host: str = LOCAL_HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - the local moto server
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def _reset_shared_clients() -> None:
    """Forget the AWS clients the shared package caches, so none outlives the moto it was made for."""
    with contextlib.suppress(ImportError):
        from batch_orchestrator.adapters import aws

        aws.reset_clients()


def _target_input(target: Any, event: Mapping[str, Any]) -> Any:
    if target.input is not None:
        return json.loads(target.input)
    path = target.input_path
    if path and path != "$":
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value
    return dict(event)


def _run_ids_of(event: Any, environment: Mapping[str, str]) -> list[str]:
    """The runs an event of one of the stack's functions is about (for progress reporting only)."""
    from batch_orchestrator.batch_events import run_identity
    from batch_orchestrator.errors import MalformedMessage
    from batch_orchestrator.ids import run_id_for
    from batch_orchestrator.models import SubmitRequest
    from batch_orchestrator.schedule import parse_schedule_firing
    from batch_orchestrator.submit_messages import parse_submit_message

    if not isinstance(event, Mapping):
        return []
    found: list[str] = []
    records = event.get("Records")
    if isinstance(records, list):
        for record in records:
            try:
                requests = parse_submit_message(
                    record.get("body", ""), input_prefix=environment.get("INPUT_PREFIX", "")
                )
            except (MalformedMessage, AttributeError, ValueError):
                continue
            found += [request.run_id for request in requests if isinstance(request, SubmitRequest)]
    elif event.get("source") == "aws.batch" and isinstance(event.get("detail"), Mapping):
        identity = run_identity(event["detail"])
        if identity is not None:
            found.append(identity[0])
    elif environment.get("SCHEDULE_NAME") and (
        "scheduleName" in event or event.get("detail-type") == "Scheduled Event"
    ):
        with contextlib.suppress(MalformedMessage, ValueError):
            source = parse_schedule_firing(event, default_name=environment.get("SCHEDULE_NAME", ""))
            found.append(run_id_for(source))
    return list(dict.fromkeys(found))


def _snapshot(run: Run) -> tuple[Any, ...]:
    return (run.status, run.attempt, run.exit_code, run.job_id)


def _label_of(run: Run) -> str:
    source = run.source.to_dict()
    return str(source.get("key") or source.get("scheduleName") or run.run_id)


def _deserialise(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def _alert_from_notification(envelope: Mapping[str, Any]) -> Alert:
    message = str(envelope.get("Message", ""))
    details: dict[str, Any] = {}
    start = message.rfind("\n{")
    if start != -1:
        with contextlib.suppress(ValueError):
            details = json.loads(message[start + 1 :])
    attributes = {name: str(value.get("Value")) for name, value in (envelope.get("MessageAttributes") or {}).items()}
    return Alert(subject=str(envelope.get("Subject", "")), message=message, attributes=attributes, details=details)


def client_for(endpoint_url: str, service: str, region: str = REGION) -> Any:
    """A boto3 client of the local moto server with the fake credentials (for helper commands)."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
