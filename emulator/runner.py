"""SIMULATED: a local stand-in for AWS Batch on Fargate. Jobs run as local processes, not containers.

moto's Batch without Docker marks every job SUCCEEDED the moment it is submitted, runs nothing,
and emits no events. While a ``LocalJobRunner`` is started, a job submitted to one of its job
queues is handed to it instead (``moto_batch_patches.route_submitted_jobs``), and the runner plays
the part of Batch and Fargate for that job:

* it moves the job RUNNABLE → STARTING → RUNNING → SUCCEEDED | FAILED, emitting a
  "Batch Job State Change" event in the documented shape for each (built from the job's
  DescribeJobs entry by ``emulator.batch_event_builder``), with the real exit code and ``attempts[]``;
* it runs the job definition's command as a local process with the job's environment (job
  definition environment + SubmitJob overrides + the variables Batch adds) plus AWS_ENDPOINT_URL
  and fake credentials, so the job talks to the emulator and never to AWS;
* the container image is not pulled: its paths are mapped to directories of this repository
  (``IMAGE_PATHS``: the sample image's ``/app`` is ``jobs/sample/``), and the image's ``python3``
  is this virtual environment's interpreter (which has boto3, like the image);
* it enforces the attempt timeout (``timeout.attemptDurationSeconds``) the way Batch does: the
  task is stopped (SIGTERM, then SIGKILL after a grace period), statusReason says the duration
  was exceeded, and such a failure is never retried natively;
* it honours TerminateJob/CancelJob (which moto only records, ``termination_requested``): a job
  not yet running fails with the given reason, a running task is stopped (SIGTERM, SIGKILL);
* it applies the job definition's native ``retryStrategy`` (``attempts`` and ``evaluateOnExit``,
  judged by ``exit_codes``; no rule matching means RETRY, as documented): a failed attempt that is
  retried goes back to RUNNABLE with a longer ``attempts[]``;
* it writes the job's output to the job definition's awslogs group in moto's CloudWatch Logs,
  under the stream name Batch would use (``<prefix>/default/<task id>``);
* it makes moto's own record of the job agree with all of this
  (``moto_batch_patches.record_job_state_in_moto``), so DescribeJobs, which the watchdog reads,
  reports the same status, exit code and attempts.

Not simulated: image pulls, vCPU/memory limits and placement (``capacity`` processes run at
once, the others wait in RUNNABLE), the job role's permissions (moto does not enforce IAM),
array and multi-node jobs (left to moto, which marks them SUCCEEDED), PENDING (jobs have no
dependencies), and the ECS task metadata endpoint.

This module owns the runner itself: taking a job over, its attempts as local processes, and the
events and records of each transition. The invariant: every status the runner emits in an event is
first recorded in moto's job, so DescribeJobs never lags behind the events.

Over 400 lines because ``LocalJobRunner`` is one state machine (dispatch, attempts, processes,
events) whose parts share its lock, its process table and its stop flag; the moto internals it
relies on are in ``moto_batch_patches`` and the exit-code rules in ``exit_codes``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_orchestrator.ids import RUN_ID_TAG
from batch_orchestrator.job_outcome import TIMEOUT_STATUS_REASON
from emulator.batch_event_builder import TERMINAL, attempt_entry, job_state_change
from emulator.exit_codes import container_exit_code, evaluate_on_exit
from emulator.moto_batch_patches import (
    record_job_state_in_moto,
    route_submitted_jobs,
    stop_routing_submitted_jobs,
    termination_requested,
)
from emulator.template import REPO_ROOT

SAMPLE_JOB_DIR = REPO_ROOT / "jobs" / "sample"
# Container image path → local directory (the sample image copies job.py to its WORKDIR /app).
IMAGE_PATHS: dict[str, Path] = {"/app": SAMPLE_JOB_DIR}
IMAGE_WORKDIR = "/app"
# The image's interpreter names; they run as this environment's python (it has boto3, as the image does).
IMAGE_PYTHONS = frozenset({"python", "python3", "python3.13"})

# Batch's statusReason / container reason texts for the cases the runner produces (the timeout's is
# TIMEOUT_STATUS_REASON, defined once in the layer, which recognises it).
EXITED_STATUS_REASON = "Essential container in task exited"
START_FAILED_STATUS_REASON = "Task failed to start"
START_FAILED_REASON = "CannotStartContainerError"
CONTAINER_NAME = "default"  # the name Batch gives a single-container job's container

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DEFAULT_CAPACITY = 4
STOP_GRACE_SECONDS = 2.0  # ECS waits stopTimeout (30 s by default) between SIGTERM and SIGKILL
LOG_BATCH = 500

Emit = Callable[[dict[str, Any]], None]
Echo = Callable[[str], None]


# ------------------------------------------------------------------------------------ records
@dataclass
class LocalAttempt:
    """One Batch attempt (one task) of a job, as the runner saw it."""

    number: int
    task_id: str
    log_stream_name: str
    started_at: int  # epoch ms
    stopped_at: int | None = None
    exit_code: int | None = None
    reason: str | None = None  # container.reason (no exit code: the task never ran)
    status_reason: str | None = None
    timed_out: bool = False
    pid: int | None = None  # of the local process standing in for the task


@dataclass
class LocalJob:
    """A job the runner took over from moto's Batch."""

    job_id: str
    job_name: str
    job_queue: str
    job_definition: str
    tags: dict[str, str]
    command: list[str]
    environment: dict[str, str]
    timeout_seconds: int | None
    retry_attempts: int
    evaluate_on_exit: list[dict[str, Any]]
    log_group: str | None
    log_stream_prefix: str
    status: str = "SUBMITTED"
    attempts: list[LocalAttempt] = field(default_factory=list)
    output: list[tuple[int, int, str]] = field(default_factory=list)  # (attempt, epoch ms, line)

    @property
    def run_id(self) -> str | None:
        return self.tags.get(RUN_ID_TAG)

    @property
    def exit_code(self) -> int | None:
        return self.attempts[-1].exit_code if self.attempts else None

    def attempts_for_batch(self) -> list[dict[str, Any]]:
        """``attempts[]`` as DescribeJobs and the events show it (finished attempts only)."""
        return [
            attempt_entry(
                exit_code=a.exit_code,
                reason=a.reason,
                status_reason=a.status_reason or EXITED_STATUS_REASON,
                log_stream_name=a.log_stream_name,
                started_at=a.started_at,
                stopped_at=a.stopped_at,
            )
            for a in self.attempts
            if a.stopped_at is not None
        ]


# ------------------------------------------------------------------------------------ the runner
@dataclass(frozen=True)
class _ProcessOutcome:
    exit_code: int | None
    reason: str | None
    status_reason: str
    timed_out: bool = False
    terminated: bool = False  # by TerminateJob/CancelJob: never retried


class LocalJobRunner:
    """Runs the jobs submitted to ``job_queue_arns`` as local processes (see the module docstring).

    ``emit`` receives every Batch event the runner produces, in order per job; the caller routes
    it (the local pipeline hands it to the EventBridge rules of the stack).
    """

    def __init__(
        self,
        *,
        job_queue_arns: Sequence[str],
        emit: Emit,
        account_id: str,
        region: str,
        endpoint_url: str,
        batch_client: Any,
        logs_client: Any,
        capacity: int = DEFAULT_CAPACITY,
        image_paths: Mapping[str, Path] | None = None,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
        echo: Echo | None = None,
        echo_output: bool = False,
    ) -> None:
        self._queues = tuple(job_queue_arns)
        self._emit = emit
        self._account_id = account_id
        self._region = region
        self._endpoint_url = endpoint_url
        self._batch = batch_client
        self._logs = logs_client
        self._capacity = max(1, capacity)
        self._image_paths = dict(image_paths if image_paths is not None else IMAGE_PATHS)
        self._grace = stop_grace_seconds
        self._echo = echo
        self._echo_output = echo_output
        self._intake: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._jobs: dict[str, LocalJob] = {}
        self._unfinished = 0
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._definitions: dict[str, dict[str, Any]] = {}
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> LocalJobRunner:
        route_submitted_jobs(self._queues, self)
        self._pool = ThreadPoolExecutor(max_workers=self._capacity, thread_name_prefix="local-batch-job")
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="local-batch-dispatcher", daemon=True)
        self._dispatcher.start()
        return self

    def stop(self) -> None:
        """Stop taking jobs, kill the running processes, emit nothing more."""
        self._stopping.set()
        stop_routing_submitted_jobs(self._queues, self)
        self._intake.put(None)
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            _kill_group(process, signal.SIGKILL)
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------------------- reading
    @property
    def busy(self) -> bool:
        """True while any job taken over is not finished."""
        with self._lock:
            return self._unfinished > 0

    def jobs(self) -> list[LocalJob]:
        with self._lock:
            return list(self._jobs.values())

    def job(self, job_id: str) -> LocalJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    # ------------------------------------------------------------------------------ dispatch
    def accept_submitted_job(self, job_id: str) -> None:
        """Called by the submit hook (``moto_batch_patches``), in moto's request thread: only queue the job."""
        with self._lock:
            self._unfinished += 1
        self._intake.put(job_id)

    def _dispatch_loop(self) -> None:
        while True:
            job_id = self._intake.get()
            if job_id is None or self._stopping.is_set():
                return
            try:
                job = self._take_over(job_id)
                self._transition(job, "RUNNABLE")
                assert self._pool is not None
                self._pool.submit(self._run_job, job)
            except Exception as exc:  # a broken job must not stop the runner
                self._say(f"could not take over job {job_id}: {type(exc).__name__}: {exc}")
                self._finished()

    def _take_over(self, job_id: str) -> LocalJob:
        described = self._batch.describe_jobs(jobs=[job_id])["jobs"][0]
        definition = self._definition(described["jobDefinition"])
        container = described.get("container") or {}
        properties = definition.get("containerProperties") or {}
        log_options = (properties.get("logConfiguration") or {}).get("options") or {}
        timeout = (described.get("timeout") or definition.get("timeout") or {}).get("attemptDurationSeconds")
        retry = definition.get("retryStrategy") or {}
        job = LocalJob(
            job_id=job_id,
            job_name=described["jobName"],
            job_queue=described["jobQueue"],
            job_definition=described["jobDefinition"],
            tags=dict(described.get("tags") or {}),
            command=[str(part) for part in container.get("command") or properties.get("command") or []],
            environment={item["name"]: item["value"] for item in container.get("environment") or []},
            timeout_seconds=int(timeout) if timeout else None,
            retry_attempts=max(1, int(retry.get("attempts") or 1)),
            evaluate_on_exit=list(retry.get("evaluateOnExit") or []),
            log_group=log_options.get("awslogs-group"),
            log_stream_prefix=log_options.get("awslogs-stream-prefix") or "batch",
        )
        with self._lock:
            self._jobs[job_id] = job
        return job

    def _definition(self, arn: str) -> dict[str, Any]:
        if arn not in self._definitions:
            found = self._batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"]
            self._definitions[arn] = found[0] if found else {}
        return self._definitions[arn]

    def _finished(self) -> None:
        with self._lock:
            self._unfinished -= 1

    # ------------------------------------------------------------------------------ one job
    def _run_job(self, job: LocalJob) -> None:
        try:
            while not self._stopping.is_set():
                reason = self._termination(job)
                if reason is not None:  # cancelled or terminated while RUNNABLE
                    self._transition(job, "FAILED", status_reason=reason)
                    return
                attempt = self._start_attempt(job)
                outcome = self._run_attempt(job, attempt)
                if self._stopping.is_set():
                    return
                attempt.stopped_at = _now_ms()
                attempt.exit_code = outcome.exit_code
                attempt.reason = outcome.reason
                attempt.status_reason = outcome.status_reason
                attempt.timed_out = outcome.timed_out
                self._write_logs(job, attempt)
                if outcome.exit_code == 0:
                    self._transition(job, "SUCCEEDED", attempt=attempt)
                    return
                if not (outcome.timed_out or outcome.terminated) and self._native_retry(job, attempt):
                    self._say(f"job {job.job_name}: Batch attempt {attempt.number} failed; retryStrategy retries it")
                    self._transition(job, "RUNNABLE")
                    continue
                self._transition(job, "FAILED", attempt=attempt)
                return
        except Exception as exc:
            self._say(f"job {job.job_name}: local runner error {type(exc).__name__}: {exc}")
        finally:
            self._finished()

    def _start_attempt(self, job: LocalJob) -> LocalAttempt:
        self._transition(job, "STARTING")
        task_id = uuid.uuid4().hex
        attempt = LocalAttempt(
            number=len(job.attempts) + 1,
            task_id=task_id,
            log_stream_name=f"{job.log_stream_prefix}/{CONTAINER_NAME}/{task_id}",
            started_at=_now_ms(),
        )
        job.attempts.append(attempt)
        return attempt

    def _run_attempt(self, job: LocalJob, attempt: LocalAttempt) -> _ProcessOutcome:
        argv = local_command(job.command, self._image_paths)
        cwd = self._image_paths.get(IMAGE_WORKDIR, REPO_ROOT)
        try:
            # The argv is the job definition's command (a list, no shell); the input arrives only as
            # environment values, exactly as in the container.
            process = subprocess.Popen(  # noqa: S603
                argv,
                cwd=cwd,
                env=self._process_environment(job, attempt),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a timeout stops the whole task
            )
        except OSError as exc:
            return _ProcessOutcome(None, f"{START_FAILED_REASON}: {exc}", START_FAILED_STATUS_REASON)
        attempt.pid = process.pid
        with self._lock:
            self._processes[job.job_id] = process
        self._say(f"job {job.job_name}: Batch attempt {attempt.number} runs as local process {process.pid}")
        reader = threading.Thread(target=self._read_output, args=(job, attempt, process), daemon=True)
        reader.start()
        try:
            attempt.started_at = _now_ms()
            self._transition(job, "RUNNING", attempt=attempt)
            return self._wait(process, job.timeout_seconds, job_id=job.job_id)
        finally:
            reader.join(timeout=5)
            with self._lock:
                self._processes.pop(job.job_id, None)

    def _wait(
        self, process: subprocess.Popen[bytes], timeout_seconds: int | None, *, job_id: str | None = None
    ) -> _ProcessOutcome:
        deadline = time.monotonic() + timeout_seconds if timeout_seconds else None
        while True:
            if self._stopping.is_set():
                _kill_group(process, signal.SIGKILL)
                process.wait()
                return _ProcessOutcome(None, "runner stopped", "local runner stopped")
            try:
                code = process.wait(timeout=0.1)
                return _ProcessOutcome(container_exit_code(code), None, EXITED_STATUS_REASON)
            except subprocess.TimeoutExpired:
                pass
            reason = self._termination_of(job_id) if job_id is not None else None
            if reason is not None:
                return _ProcessOutcome(self._stop_task(process), None, reason, terminated=True)
            if deadline is not None and time.monotonic() >= deadline:
                return _ProcessOutcome(self._stop_task(process), None, TIMEOUT_STATUS_REASON, timed_out=True)

    def _stop_task(self, process: subprocess.Popen[bytes]) -> int:
        """What ECS StopTask does: SIGTERM, then SIGKILL after the grace period. Returns the exit code."""
        _kill_group(process, signal.SIGTERM)
        try:
            code = process.wait(timeout=self._grace)
        except subprocess.TimeoutExpired:
            _kill_group(process, signal.SIGKILL)
            code = process.wait()
        return container_exit_code(code)

    def _termination(self, job: LocalJob) -> str | None:
        return self._termination_of(job.job_id)

    def _termination_of(self, job_id: str) -> str | None:
        return termination_requested(job_id, account_id=self._account_id, region=self._region)

    def _read_output(self, job: LocalJob, attempt: LocalAttempt, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            job.output.append((attempt.number, _now_ms(), line))
            if self._echo_output:
                self._say(f"  {job.job_name} | {line}")

    def _process_environment(self, job: LocalJob, attempt: LocalAttempt) -> dict[str, str]:
        """The container's environment, plus what lets the local process reach the emulator only."""
        base = {name: os.environ[name] for name in ("PATH", "HOME", "TMPDIR", "SYSTEMROOT") if name in os.environ}
        return {
            **base,
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **job.environment,
            # What Batch adds to every container.
            "AWS_BATCH_JOB_ID": job.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(attempt.number),
            "AWS_BATCH_JQ_NAME": job.job_queue.rsplit("/", 1)[-1],
            # SIMULATED: the task role's credentials would come from the ECS credentials endpoint.
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self._endpoint_url,
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            "AWS_CONFIG_FILE": os.devnull,  # no profile of the user's can point the job elsewhere
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def _native_retry(self, job: LocalJob, attempt: LocalAttempt) -> bool:
        if attempt.number >= job.retry_attempts:
            return False
        action = evaluate_on_exit(
            job.evaluate_on_exit,
            exit_code=attempt.exit_code,
            reason=attempt.reason,
            status_reason=attempt.status_reason,
        )
        return action == "RETRY"

    # ---------------------------------------------------------------------- state and events
    def _transition(
        self, job: LocalJob, status: str, *, attempt: LocalAttempt | None = None, status_reason: str | None = None
    ) -> None:
        """Record ``status`` in moto's job, then emit the event Batch would send for it."""
        if self._stopping.is_set():
            return
        finished = job.attempts_for_batch()
        terminal = status in TERMINAL
        current = attempt if attempt is not None and status in ("RUNNING", *TERMINAL) else None
        log_stream = current.log_stream_name if current is not None else None
        if current is not None and terminal:
            status_reason = current.status_reason
        record_job_state_in_moto(
            job.job_id,
            account_id=self._account_id,
            region=self._region,
            status=status,
            attempts=finished,
            started_at=current.started_at if current is not None else None,
            stopped_at=current.stopped_at if current is not None and terminal else None,
            status_reason=status_reason,
            exit_code=current.exit_code if current is not None and terminal else None,
            container_reason=current.reason if current is not None and terminal else None,
            log_stream_name=log_stream,
        )
        job.status = status
        described = self._batch.describe_jobs(jobs=[job.job_id])["jobs"][0]
        event = job_state_change(
            described,
            status,
            region=self._region,
            account=self._account_id,
            exit_code=current.exit_code if current is not None and terminal else None,
            container_reason=current.reason if current is not None and terminal else None,
            status_reason=status_reason,
            attempts=finished,
            log_stream_name=log_stream,
        )
        if current is not None:  # the times of this attempt, not of the event's creation
            event["detail"]["startedAt"] = current.started_at
            if terminal and current.stopped_at is not None:
                event["detail"]["stoppedAt"] = current.stopped_at
        self._emit(event)

    def _write_logs(self, job: LocalJob, attempt: LocalAttempt) -> None:
        """The attempt's output → moto's CloudWatch Logs, as the awslogs driver would send it."""
        if not job.log_group:
            return
        events = [
            {"timestamp": stamp, "message": line or " "}
            for number, stamp, line in job.output
            if number == attempt.number
        ]
        try:
            with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                self._logs.create_log_group(logGroupName=job.log_group)
            self._logs.create_log_stream(logGroupName=job.log_group, logStreamName=attempt.log_stream_name)
            for start in range(0, len(events), LOG_BATCH):
                self._logs.put_log_events(
                    logGroupName=job.log_group,
                    logStreamName=attempt.log_stream_name,
                    logEvents=events[start : start + LOG_BATCH],
                )
        except Exception as exc:  # logs are a convenience; the job's outcome does not depend on them
            self._say(f"job {job.job_name}: could not write its logs: {exc}")

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(f"[local Batch] {text}")


# ---------------------------------------------------------------------------------- pure helpers
def local_command(command: Sequence[str], image_paths: Mapping[str, Path]) -> list[str]:
    """The container command as a local argv: image paths mapped, the image's python replaced."""
    argv = [_local_path(part, image_paths) for part in command]
    if argv and argv[0] in IMAGE_PYTHONS:
        argv[0] = sys.executable
    return argv


def _local_path(argument: str, image_paths: Mapping[str, Path]) -> str:
    for image_path, local in image_paths.items():
        if argument == image_path or argument.startswith(image_path.rstrip("/") + "/"):
            return str(local) + argument[len(image_path.rstrip("/")) :]
    return argument


def _kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _now_ms() -> int:
    return int(time.time() * 1000)
