"""The whole pipeline of template.yaml, running locally: ``LocalPipeline``.

One object starts and stops everything: a moto server on a free loopback port (in this process),
the stack of template.yaml created in it (``emulator.stack``), the functions run in-process
with the environment the stack gives them (``emulator.invoke``), and the event delivery that
AWS would do between them. Every part that stands in for an AWS service is marked SIMULATED:

* AWS APIs — moto, as a server in this process (``emulator.moto_server``).
* Lambda — handlers run in this process, ONE AT A TIME (``_INVOKE_LOCK``: os.environ is per
  process); a function's timeout is not enforced. What a handler prints (Powertools logs and
  metrics) goes to its log group in moto's CloudWatch Logs (``emulator.function_logs``).
* SQS event source mapping and Lambda asynchronous invocation (with retries and the OnFailure
  destination) — ``emulator.event_sources``.
* EventBridge — moto cannot invoke Lambda targets, so ``put_events`` routes an event with the
  stack's own rules (patterns read back from EventBridge, ``EmulatedStack.rules_matching``, moto's
  pattern matcher) to their function targets; an event no rule matches is dropped, as EventBridge drops
  it (an array child's state change, at the tracker's rule), and ``routed_events`` lists where each went.
  Targets never fail to receive here, so a rule's RetryPolicy/DeadLetterConfig (which cover delivery
  failures) never come into play.
* EventBridge Scheduler — ``fire_schedule`` fires a schedule of the stack on demand, with the
  scheduler's context placeholders filled in; with ``run_schedules`` an ENABLED schedule also
  fires on its cron()/rate()/at() expression in its time zone (``emulator.schedules``).
* AWS Batch / Fargate — ``emulator.runner.LocalJobRunner``: jobs are local processes, within their
  memory (Fargate's out-of-memory kill), and Spot interruptions only when asked (``interrupt_spot``); array
  children run no process when given ``array_child_outcome`` (index → exit code: benchmarks of large arrays).
* SNS subscribers — an SQS queue subscribed to the alerts topic (``emulator.alerts_inbox``).
* DynamoDB stream event source mapping — ``emulator.stream_source`` reads the runs table's stream (moto's
  dynamodbstreams API) and invokes publish_events; its PutEvents go to moto's bus, where a rule → SQS queue
  created here (``emulator.events_inbox``) stands in for an application subscribed to the lifecycle events.
  ``duplicate_batch_events`` delivers every Batch event twice (EventBridge delivers at least once).

What the pipeline reports (status changes of runs) is ``emulator.run_progress``. Invariant:
``stop`` leaves the process as ``start`` found it: no thread or job process of the pipeline still
running, no moto state, os.environ and moto's settings restored.

Over 400 lines because it is the one object that demo, serve and the end-to-end tests drive: its
public methods are the stand-ins' entry points, most a few lines that delegate to the modules
above; what is left here is the wiring between them (start, stop, one invocation at a time).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulator.alerts_inbox import AlertsInbox
from emulator.event_sources import AsyncInvoker, SqsDeliveryRecord, SqsEventSource
from emulator.events_inbox import EventsInbox
from emulator.function_logs import FunctionLogs
from emulator.invoke import handler_environment, invoke_handler, patched_environ
from emulator.local_arrays import ChildOutcome
from emulator.moto_server import LOCAL_HOST, LocalMotoServer, reset_shared_clients
from emulator.run_progress import RunProgress, StatusChange, run_ids_of
from emulator.runner import DEFAULT_CAPACITY, LocalJobRunner
from emulator.schedules import find_schedule, fire_on_time, render_schedule_input
from emulator.stack import DEFAULT_STACK_NAME, EmulatedStack, Schedule, deploy_stack
from emulator.stream_source import StreamDelivery, StreamEventSource
from emulator.template import render_workloads

if TYPE_CHECKING:
    from batch_orchestrator.alert_format import Alert
    from batch_orchestrator.models import Run

# Template parameters of the local stack: the sample job as the job command, and retries quick
# enough to watch. Callers override any of them.
LOCAL_PARAMETERS: dict[str, str] = {
    "JobCommand": "python3,/app/job.py",
    "RetryExitCodes": "75",
    "MaxAttempts": "3",
    "RetryBaseDelaySeconds": "1",
    "JobTimeoutSeconds": "60",
}

# os.environ is the function's environment during an invocation, and it is per process: one
# invocation at a time, whatever thread delivers it.
_INVOKE_LOCK = threading.RLock()

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Upload:
    key: str
    version_id: str | None
    run_id: str


@dataclass(frozen=True)
class RoutedEvent:
    """One event put on the emulated EventBridge bus, and the functions the stack's rules delivered it to."""

    detail_type: str
    resources: tuple[str, ...]  # the event's own "resources" (for a Batch event, the job's ARN first)
    functions: tuple[str, ...]  # logical ids of the target functions; () when no rule matched: dropped


@dataclass(frozen=True)
class ScheduleFiring:
    schedule_name: str
    scheduled_time: str
    payload: Any
    run_id: str | None


class LocalPipeline:
    """template.yaml's stack in a local moto server, with the functions and a local Batch wired up.

    Use as a context manager, or call ``start()`` and ``stop()``. ``stop()`` stops every thread
    and process it started, resets moto's state and restores os.environ and moto's settings.

    ``workloads_yaml``: the text of a workloads.yaml; the stack is then template.yaml rendered with that
    table (in memory; the file is not changed), and a table that must not deploy raises here, before
    anything starts. ``interrupt_spot``: the local job runner interrupts the first N Spot tasks of every
    run (SIMULATED capacity loss; 0: never). ``array_child_outcome``: passed to the local job runner (SIMULATED:
    array children run no process, this gives each child attempt's exit code from its index; None, the default:
    they run the job's command), for benchmarks of large arrays (``emulator.local_arrays``).
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
        workloads_yaml: str | None = None,
        interrupt_spot: int = 0,
        array_child_outcome: ChildOutcome | None = None,
        duplicate_batch_events: bool = False,
    ) -> None:
        self.parameters = {**LOCAL_PARAMETERS, **{k: str(v) for k, v in (parameters or {}).items()}}
        self.workloads_yaml = workloads_yaml
        self._rendered = render_workloads(workloads_yaml) if workloads_yaml is not None else None
        self._interrupt_spot = interrupt_spot
        self._duplicate_batch_events = duplicate_batch_events
        self._array_child_outcome = array_child_outcome
        self._stack_name = stack_name
        self._job_capacity = job_capacity
        self._run_schedules = run_schedules
        self._echo = echo
        self._echo_function_logs = echo_function_logs
        self._echo_job_output = echo_job_output

        self.endpoint_url = ""
        self._moto = LocalMotoServer(host, port)
        self._stack: EmulatedStack | None = None
        self._runner: LocalJobRunner | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._started_at = 0.0
        self._function_logs: FunctionLogs | None = None
        self._async: AsyncInvoker | None = None
        self._sources: list[SqsEventSource] = []
        self._streams: list[StreamEventSource] = []
        self._stream_deliveries: list[StreamDelivery] = []
        self._events_inbox: EventsInbox | None = None
        self._invoke_configs: dict[str, dict[str, Any]] = {}
        self._environments: dict[str, dict[str, str]] = {}
        self._alerts_inbox: AlertsInbox | None = None
        self._deliveries: list[SqsDeliveryRecord] = []
        self._routed: list[RoutedEvent] = []
        self._unrouted_types: set[str] = set()
        self._errors: list[str] = []
        self._progress = RunProgress(
            self.run,
            clock=lambda: self.elapsed,
            stopping=self._stopping,
            errors=lambda: self.errors,
            on_error=self._error,
        )

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
            self.endpoint_url = self._moto.start()
            self._stack = deploy_stack(self.parameters, stack_name=self._stack_name, rendered=self._rendered)
            self._prepare_functions()
            self._alerts_inbox = AlertsInbox(self._stack, f"{self._stack_name}-alerts-inbox")
            self._events_inbox = EventsInbox(self._stack, f"{self._stack_name}-events-inbox")
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
        for stream in self._streams:
            stream.stop()
        if self._runner is not None:
            self._runner.stop()
        if self._async is not None:
            self._async.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._sources.clear()
        self._streams.clear()
        if self._function_logs is not None:
            self._function_logs.uninstall()
        self._moto.stop()
        reset_shared_clients()

    # ------------------------------------------------------------------------------ events in
    def put_events(self, event: Mapping[str, Any]) -> int:
        """SIMULATED EventBridge: route ``event`` with the stack's rules; returns the targets invoked."""
        functions: list[str] = []
        for rule in self.stack.rules_matching(event):
            for target in rule.targets:
                if target.function_logical_id is None:
                    self._say(f"rule {rule.name}: target {target.arn} is not a function of the stack; skipped")
                    continue
                self._async_invoker.submit(target.function_logical_id, _target_input(target, event))
                functions.append(target.function_logical_id)
        resources = event.get("resources")
        self._routed.append(
            RoutedEvent(
                detail_type=str(event.get("detail-type")),
                resources=tuple(str(r) for r in resources) if isinstance(resources, list) else (),
                functions=tuple(functions),
            )
        )
        return len(functions)

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
        schedule = find_schedule(self.stack, name)
        when = (scheduled_time or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        payload = render_schedule_input(schedule, when, region=self.stack.region, account_id=self.stack.account_id)
        if schedule.function_logical_id is None:
            raise LookupError(f"schedule {schedule.name} does not target a function of the stack")
        run_ids = run_ids_of(payload, self._environments[schedule.function_logical_id])
        self._async_invoker.submit(schedule.function_logical_id, payload)
        run_id = next(iter(run_ids), None)
        if run_id is not None:
            self._progress.name(run_id, schedule.name)
        return ScheduleFiring(schedule.name, when.strftime("%Y-%m-%dT%H:%M:%SZ"), payload, run_id)

    def upload(self, key: str, body: bytes | str) -> Upload:
        """Put an object into the input bucket, as a user would; returns the run id it should start."""
        from batch_orchestrator.ids import run_id_for
        from batch_orchestrator.models import S3Source

        data = body.encode("utf-8") if isinstance(body, str) else body
        bucket = self.stack.outputs["InputBucketName"]
        version_id = self.stack.client("s3").put_object(Bucket=bucket, Key=key, Body=data).get("VersionId")
        run_id = run_id_for(S3Source(bucket=bucket, key=key, version_id=version_id))
        self._progress.name(run_id, key)
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
        self._progress.on_status_change(listener)

    def changes(self, run_id: str | None = None) -> list[StatusChange]:
        return self._progress.changes(run_id)

    def run(self, run_id: str) -> Run | None:
        """The run's record, read now from the runs table."""
        from batch_orchestrator.adapters.run_items import run_from_item

        item = self.stack.client("dynamodb").get_item(
            TableName=self.stack.outputs["RunsTableName"], Key={"runId": {"S": run_id}}, ConsistentRead=True
        )
        return run_from_item(_deserialise(item["Item"])) if "Item" in item else None

    def label(self, run_id: str) -> str:
        return self._progress.label(run_id)

    def wait_for_runs(self, run_ids: Iterable[str], *, timeout: float = 60.0) -> dict[str, Run]:
        """Block until every run is SUCCEEDED or FAILED; TimeoutError names the ones that are not."""
        return self._progress.wait_for_runs(run_ids, timeout=timeout)

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
        """Every alert the alerts topic delivered so far, as the functions published it."""
        if self._alerts_inbox is None:
            raise RuntimeError("the local pipeline is not started")
        return self._alerts_inbox.received()

    def jobs_of(self, run_id: str) -> list[dict[str, Any]]:
        """DescribeJobs entries of every Batch job of the run, on any of the stack's job queues (job names
        start with the run id), oldest first: one per attempt, an array attempt's parent without its children
        (SIMULATED: moto's ListJobs by queue lists array children too, whose ids are "<parent>:<index>")."""
        batch = self.stack.client("batch")
        ids = [
            summary["jobId"]
            for queue_arn in self.stack.resources_of_type("AWS::Batch::JobQueue").values()
            for summary in batch.list_jobs(
                jobQueue=queue_arn, filters=[{"name": "JOB_NAME", "values": [f"{run_id}-*"]}]
            )["jobSummaryList"]
            if ":" not in summary["jobId"]
        ]
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

    def stream_deliveries(self) -> list[StreamDelivery]:
        """Every batch the stream mapping handed to publish_events so far."""
        return list(self._stream_deliveries)

    def lifecycle_events(self) -> list[dict[str, Any]]:
        """Every lifecycle event the test consumer (rule on the stack's source -> SQS) received so far, in order."""
        if self._events_inbox is None:
            raise RuntimeError("the local pipeline is not started")
        return self._events_inbox.received()

    def routed_events(self) -> list[RoutedEvent]:
        """Every event put on the emulated bus so far (Batch events included), in order, and where it went."""
        return list(self._routed)

    @property
    def errors(self) -> list[str]:
        """Errors of the local machinery itself (not of the functions, which AWS would also see)."""
        return list(self._errors)

    # ----------------------------------------------------------------------------- start-up
    def _prepare_functions(self) -> None:
        stack = self.stack
        functions = list(stack.resources_of_type("AWS::Lambda::Function"))
        for logical_id in functions:  # what Lambda puts on /opt/python; lets this module use the layer too
            for layer_dir in reversed(stack.layer_dirs(logical_id)):
                if str(layer_dir) not in sys.path:
                    sys.path.insert(0, str(layer_dir))
        reset_shared_clients()
        # boto3's default session is not thread-safe: make every client the threads use now.
        for service in (
            "s3",
            "sqs",
            "sns",
            "batch",
            "dynamodb",
            "dynamodbstreams",
            "logs",
            "lambda",
            "events",
            "scheduler",
        ):
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
        self._function_logs = FunctionLogs(stack, echo=self._echo if self._echo_function_logs else None)
        # Powertools reads POWERTOOLS_* when the shared observability module is first imported; on
        # Lambda that happens inside the function's environment, so it does here too.
        with patched_environ(handler_environment(stack, functions[0])):
            self._function_logs.install()

    def _start_workers(self) -> None:
        stack = self.stack
        self._async = AsyncInvoker(stack, invoke=self._invoke, invoke_configs=self._invoke_configs, say=self._say)
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
            interrupt_spot=self._interrupt_spot,
            array_child_outcome=self._array_child_outcome,
        ).start()
        for mapping in stack.event_source_mappings.values():
            if not mapping.enabled_in_template or not mapping.function_logical_id:
                continue
            if mapping.is_stream:
                stream = StreamEventSource(
                    stack,
                    mapping,
                    invoke=self._invoke,
                    on_delivery=self._stream_deliveries.append,
                    on_error=self._error,
                )
                self._streams.append(stream)
                self._threads.append(stream)
                stream.start()
                continue
            source = SqsEventSource(
                stack, mapping, invoke=self._invoke, on_delivery=self._deliveries.append, on_error=self._error
            )
            self._sources.append(source)
            self._threads.append(source)
            source.start()
        if self._run_schedules:
            for schedule in stack.schedules.values():
                if schedule.state == "ENABLED":
                    timer = threading.Thread(
                        target=fire_on_time,
                        args=(schedule, self._fire_on_time(schedule)),
                        kwargs={"stopping": self._stopping, "say": self._say},
                        name=f"schedule-{schedule.name}",
                        daemon=True,
                    )
                    self._threads.append(timer)
                    timer.start()

    # ------------------------------------------------------------------------ invocations
    @property
    def _async_invoker(self) -> AsyncInvoker:
        if self._async is None:
            raise RuntimeError("the local pipeline is not started")
        return self._async

    def _invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function in-process (one invocation at a time), then read the runs it touched."""
        assert self._function_logs is not None
        run_ids = run_ids_of(event, self._environments[logical_id])
        if not run_ids and not _from_stream(event):  # e.g. a watchdog sweep: it may change any unfinished run
            run_ids = self._progress.unfinished()
        with _INVOKE_LOCK:
            try:
                with self._function_logs.capture(logical_id):
                    return invoke_handler(self.stack, logical_id, event)
            finally:
                self._progress.observe(run_ids)

    def _fire_on_time(self, schedule: Schedule) -> Callable[[datetime], ScheduleFiring]:
        return lambda when: self.fire_schedule(schedule.logical_id, scheduled_time=when)

    def _on_batch_event(self, event: dict[str, Any]) -> None:
        if self._duplicate_batch_events and not self._stopping.is_set():
            self.put_events(event)  # SIMULATED at-least-once delivery: the same event, a second time
        if self._stopping.is_set() or self.put_events(event) > 0:
            return
        # Said once per detail-type: an array drops four state changes per child at the tracker's rule.
        detail_type = str(event.get("detail-type"))
        if detail_type not in self._unrouted_types:
            self._unrouted_types.add(detail_type)
            self._say(
                f"no rule of the stack matches this {detail_type} event: dropped, as EventBridge drops it "
                "(so are the next ones; routed_events lists them)"
            )

    # ------------------------------------------------------------------------------ idle
    def _quiet(self) -> bool:
        busy_sources = any(source.busy for source in self._sources)
        if busy_sources or self._async_invoker.pending or self.runner.busy or self.queue_depth() != 0:
            return False
        return not any(stream.busy for stream in self._streams)

    def _activity(self) -> str:
        return (
            f"pollers busy={[s.busy for s in self._sources]}, async pending={self._async_invoker.pending}, "
            f"jobs busy={self.runner.busy}, SubmitQueue depth={self.queue_depth()}, "
            f"streams busy={[s.busy for s in self._streams]}"
        )

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(text)

    def _error(self, text: str) -> None:
        self._errors.append(text)
        self._say(f"local pipeline error: {text}")


def _from_stream(event: Any) -> bool:
    """A stream mapping's batch (publish_events): it reads the runs table's changes and writes no run."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        return False
    return all(isinstance(r, Mapping) and r.get("eventSource") == "aws:dynamodb" for r in records)


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


def _deserialise(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}
