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
* it runs each attempt with the job's effective vCPU and MEMORY (the job definition's
  ``resourceRequirements``, replaced by SubmitJob's ``containerOverrides.resourceRequirements``) and
  stops it like Fargate when its processes' resident memory goes over MEMORY: exit code 137,
  container reason "OutOfMemoryError: Container killed due to memory usage" (``emulator.task_limits``);
* on request (``interrupt_spot=N``: the first N Spot tasks of every run), it interrupts tasks of
  queues whose compute environment is FARGATE_SPOT as AWS takes Spot capacity back: SIGTERM, then
  SIGKILL, statusReason "Your Spot Task was interrupted." (``emulator.task_limits``); the job
  definition's retryStrategy then decides, as for any failed attempt;
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
  reports the same status, exit code and attempts;
* it runs array jobs (``arrayProperties.size``) as Batch does (``local_arrays``, which cites the documents):
  each child ``<parent id>:<index>`` is a job of its own as above, with AWS_BATCH_JOB_ARRAY_INDEX, its own
  attempts, retries, timeout and memory, within ``capacity``; the parent is PENDING from the first child's
  RUNNABLE until every child finished, then SUCCEEDED if all did, else FAILED, with ``arrayProperties``
  (``size``, ``statusSummary``) in its events and DescribeJobs. With ``array_child_outcome`` (index → exit code)
  children run no process at all: a 10,000-child array for benchmarks.

Not simulated: image pulls, vCPU limits and placement (``capacity`` processes run at once, the
others wait in RUNNABLE), Spot interruptions nobody asked for, the job role's permissions (moto
does not enforce IAM), multi-node jobs (left to moto, which marks them SUCCEEDED), dependencies
(``dependsOn``, SEQUENTIAL and N_TO_N arrays: PENDING is only an array parent's), and the ECS task
metadata endpoint.

This module owns the runner itself: taking a job over, its attempts as local processes, and the
events and records of each transition. The container stand-in (paths, environment, process group)
is ``local_container``, the job records and their logs ``local_jobs``, Fargate's memory limit and
Spot ``task_limits``, an array's children and the end of its parent ``local_arrays``. The invariant:
every status the runner emits in an event is first recorded in moto's job, so DescribeJobs never lags
behind the events.

Over 400 lines because ``LocalJobRunner`` is one state machine (dispatch, attempts, processes,
events) whose parts share its lock, its process table and its stop flag; the moto internals it
relies on are in ``moto_batch_patches``, the exit-code rules in ``exit_codes``, and what arrays add
to the machine is two steps (``_start_array``, ``_child_ended``) over ``local_arrays``.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_orchestrator.job_outcome import TIMEOUT_STATUS_REASON
from emulator.batch_event_builder import TERMINAL, job_state_change
from emulator.exit_codes import container_exit_code, evaluate_on_exit
from emulator.local_arrays import ArrayEnd, ArrayProgress, ChildOutcome, child_jobs
from emulator.local_container import (
    IMAGE_PATHS,
    IMAGE_WORKDIR,
    SAMPLE_JOB_DIR,
    container_environment,
    kill_group,
    local_command,
)
from emulator.local_jobs import EXITED_STATUS_REASON, LocalAttempt, LocalJob, local_job, write_attempt_logs
from emulator.moto_batch_patches import (
    describe_job_in_moto,
    record_job_state_in_moto,
    route_submitted_jobs,
    stop_routing_submitted_jobs,
    termination_requested,
)
from emulator.task_limits import (
    MEMORY_POLL_SECONDS,
    OUT_OF_MEMORY_EXIT_CODE,
    OUT_OF_MEMORY_REASON,
    SPOT_INTERRUPTED_STATUS_REASON,
    SpotInterruptions,
    over_memory,
    queue_uses_spot,
)
from emulator.template import REPO_ROOT

__all__ = ["DEFAULT_CAPACITY", "SAMPLE_JOB_DIR", "LocalAttempt", "LocalJob", "LocalJobRunner", "local_command"]

# Batch's statusReason / container reason texts for the cases the runner produces (the timeout's is
# TIMEOUT_STATUS_REASON, defined once in the layer, which recognises it; the exit's is in local_jobs).
START_FAILED_STATUS_REASON = "Task failed to start"
START_FAILED_REASON = "CannotStartContainerError"
CONTAINER_NAME = "default"  # the name Batch gives a single-container job's container

DEFAULT_CAPACITY = 4
STOP_GRACE_SECONDS = 2.0  # ECS waits stopTimeout (30 s by default) between SIGTERM and SIGKILL

Emit = Callable[[dict[str, Any]], None]
Echo = Callable[[str], None]


# ------------------------------------------------------------------------------------ the runner
@dataclass(frozen=True)
class _ProcessOutcome:
    exit_code: int | None
    reason: str | None
    status_reason: str
    timed_out: bool = False
    terminated: bool = False  # by TerminateJob/CancelJob: never retried
    note: str | None = None  # what the runner did to the task, for its log (out of memory, Spot)


class LocalJobRunner:
    """Runs the jobs submitted to ``job_queue_arns`` as local processes (see the module docstring).

    ``emit`` receives every Batch event the runner produces, in order per job; the caller routes
    it (the local pipeline hands it to the EventBridge rules of the stack). ``interrupt_spot``: how many
    Spot tasks of each run are interrupted (0, the default: none; see ``task_limits.SpotInterruptions``).
    ``array_child_outcome``: array children run no process, this gives each attempt's exit code from the
    child's index (None, the default: they run the command, as every other job).
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
        interrupt_spot: int = 0,
        array_child_outcome: ChildOutcome | None = None,
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
        self._spot_queues: dict[str, bool] = {}
        self._spot_interruptions = SpotInterruptions(interrupt_spot)
        self._array_child_outcome = array_child_outcome
        self._arrays: dict[str, ArrayProgress] = {}  # array parent job id → its children's progress
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
            kill_group(process, signal.SIGKILL)
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
                if job.is_array_parent:
                    self._start_array(job)
                    continue
                self._transition(job, "RUNNABLE")
                assert self._pool is not None
                self._pool.submit(self._run_job, job)
            except Exception as exc:  # a broken job must not stop the runner
                self._say(f"could not take over job {job_id}: {type(exc).__name__}: {exc}")
                self._finished()

    def _take_over(self, job_id: str) -> LocalJob:
        described = self._batch.describe_jobs(jobs=[job_id])["jobs"][0]
        definition = self._definition(described["jobDefinition"])
        job = local_job(described, definition, spot=self._uses_spot(described["jobQueue"]))
        with self._lock:
            self._jobs[job_id] = job
        return job

    def _start_array(self, parent: LocalJob) -> None:
        """SIMULATED array job (``local_arrays``): every child RUNNABLE (the parent PENDING with the first), then
        each runs as a job of its own within ``capacity``; the last to end ends the parent (``_child_ended``)."""
        children = child_jobs(parent)
        progress = ArrayProgress(parent, children)
        with self._lock:
            self._arrays[parent.job_id] = progress
            self._jobs.update((child.job_id, child) for child in children)
        assert self._pool is not None
        for child in children:
            with self._lock:
                self._unfinished += 1
            self._transition(child, "RUNNABLE")
            if parent.status == "SUBMITTED":
                self._transition(parent, "PENDING")
            self._pool.submit(self._run_job, child)

    def _child_ended(self, child: LocalJob) -> None:
        """After a child's last event: once it was the array's last child, the parent's final status (if any)."""
        assert child.parent_id is not None
        progress = self._arrays[child.parent_id]
        end = progress.child_ended()
        if end is None:
            return
        try:
            if end.status is not None:
                reason = self._termination_of(progress.parent.job_id)
                self._transition(progress.parent, end.status, status_reason=reason, times=end)
        except Exception as exc:  # in a pool thread: say it, as _run_job does
            self._say(f"job {progress.parent.job_name}: local runner error {type(exc).__name__}: {exc}")
        finally:
            self._finished()  # the parent's, counted when it was submitted

    def _definition(self, arn: str) -> dict[str, Any]:
        if arn not in self._definitions:
            found = self._batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"]
            self._definitions[arn] = found[0] if found else {}
        return self._definitions[arn]

    def _uses_spot(self, job_queue: str) -> bool:
        if job_queue not in self._spot_queues:
            self._spot_queues[job_queue] = queue_uses_spot(self._batch, job_queue)
        return self._spot_queues[job_queue]

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
                if outcome.note:
                    self._say(f"job {job.job_name}: Batch attempt {attempt.number} {outcome.note}")
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
            if job.array_index is not None:
                self._child_ended(job)

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
        if self._without_process(job):
            attempt.started_at = _now_ms()
            self._transition(job, "RUNNING", attempt=attempt)
            assert self._array_child_outcome is not None
            assert job.array_index is not None
            return _ProcessOutcome(self._array_child_outcome(job.array_index), None, EXITED_STATUS_REASON)
        argv = local_command(job.command, self._image_paths)
        cwd = self._image_paths.get(IMAGE_WORKDIR, REPO_ROOT)
        try:
            # The argv is the job definition's command (a list, no shell); the input arrives only as
            # environment values, exactly as in the container.
            process = subprocess.Popen(  # noqa: S603
                argv,
                cwd=cwd,
                env=container_environment(
                    job.environment,
                    job_id=job.job_id,
                    attempt=attempt.number,
                    job_queue=job.job_queue,
                    endpoint_url=self._endpoint_url,
                    region=self._region,
                    array_index=job.array_index,
                    array_size=job.array_size,
                ),
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
        self._say(
            f"job {job.job_name}: Batch attempt {attempt.number} runs as local process {process.pid} "
            f"({job.resources.describe()}{', Fargate Spot' if job.spot else ''})"
        )
        reader = threading.Thread(target=self._read_output, args=(job, attempt, process), daemon=True)
        reader.start()
        interrupt = job.spot and self._spot_interruptions.take(job.run_id or job.job_id)
        try:
            attempt.started_at = _now_ms()
            self._transition(job, "RUNNING", attempt=attempt)
            if interrupt:
                return self._interrupt_spot_task(process)
            return self._wait(process, job.timeout_seconds, job_id=job.job_id, memory_mib=job.resources.memory_mib)
        finally:
            reader.join(timeout=5)
            with self._lock:
                self._processes.pop(job.job_id, None)

    def _wait(
        self,
        process: subprocess.Popen[bytes],
        timeout_seconds: int | None,
        *,
        job_id: str | None = None,
        memory_mib: int | None = None,
    ) -> _ProcessOutcome:
        """Until the task ends by itself, or is stopped: by the runner's stop, TerminateJob/CancelJob, the
        attempt timeout, or its memory limit (checked every MEMORY_POLL_SECONDS)."""
        deadline = time.monotonic() + timeout_seconds if timeout_seconds else None
        while True:
            if self._stopping.is_set():
                kill_group(process, signal.SIGKILL)
                process.wait()
                return _ProcessOutcome(None, "runner stopped", "local runner stopped")
            try:
                code = process.wait(timeout=MEMORY_POLL_SECONDS)
                return _ProcessOutcome(container_exit_code(code), None, EXITED_STATUS_REASON)
            except subprocess.TimeoutExpired:
                pass
            stopped = self._stopped_from_outside(process, job_id, deadline) or self._out_of_memory(process, memory_mib)
            if stopped is not None:
                return stopped

    def _stopped_from_outside(
        self, process: subprocess.Popen[bytes], job_id: str | None, deadline: float | None
    ) -> _ProcessOutcome | None:
        reason = self._termination_of(job_id) if job_id is not None else None
        if reason is not None:
            return _ProcessOutcome(self._stop_task(process), None, reason, terminated=True)
        if deadline is not None and time.monotonic() >= deadline:
            return _ProcessOutcome(self._stop_task(process), None, TIMEOUT_STATUS_REASON, timed_out=True)
        return None

    def _out_of_memory(self, process: subprocess.Popen[bytes], memory_mib: int | None) -> _ProcessOutcome | None:
        """SIMULATED Fargate memory limit: the whole task is killed (SIGKILL, exit 137) once its process group
        holds more than ``memory_mib`` MiB resident (``task_limits`` cites the documented reason)."""
        used = over_memory(process.pid, memory_mib) if memory_mib is not None else None
        if used is None:
            return None
        kill_group(process, signal.SIGKILL)
        process.wait()
        return _ProcessOutcome(
            OUT_OF_MEMORY_EXIT_CODE,
            OUT_OF_MEMORY_REASON,
            EXITED_STATUS_REASON,
            note=f"used {used:.0f} MiB of its {memory_mib} MiB: killed, {OUT_OF_MEMORY_REASON}",
        )

    def _interrupt_spot_task(self, process: subprocess.Popen[bytes]) -> _ProcessOutcome:
        """SIMULATED Spot interruption (``interrupt_spot``): stopped as ECS stops a reclaimed Fargate Spot task."""
        return _ProcessOutcome(
            self._stop_task(process),
            None,
            SPOT_INTERRUPTED_STATUS_REASON,
            note=f"interrupted (SIMULATED Spot capacity taken back): {SPOT_INTERRUPTED_STATUS_REASON}",
        )

    def _stop_task(self, process: subprocess.Popen[bytes]) -> int:
        """What ECS StopTask does: SIGTERM, then SIGKILL after the grace period. Returns the exit code."""
        kill_group(process, signal.SIGTERM)
        try:
            code = process.wait(timeout=self._grace)
        except subprocess.TimeoutExpired:
            kill_group(process, signal.SIGKILL)
            code = process.wait()
        return container_exit_code(code)

    def _termination(self, job: LocalJob) -> str | None:
        return self._termination_of(job.job_id)

    def _termination_of(self, job_id: str) -> str | None:
        return termination_requested(job_id, account_id=self._account_id, region=self._region)

    def _without_process(self, job: LocalJob) -> bool:
        return self._array_child_outcome is not None and job.array_index is not None

    def _read_output(self, job: LocalJob, attempt: LocalAttempt, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            job.output.append((attempt.number, _now_ms(), line))
            if self._echo_output:
                self._say(f"  {job.job_name} | {line}")

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
        self,
        job: LocalJob,
        status: str,
        *,
        attempt: LocalAttempt | None = None,
        status_reason: str | None = None,
        times: ArrayEnd | None = None,
    ) -> None:
        """Record ``status`` in moto's job, then emit the event Batch would send for it (``times``: an array
        parent's start and stop, which has no attempt of its own)."""
        if self._stopping.is_set():
            return
        finished = job.attempts_for_batch()
        terminal = status in TERMINAL
        current = attempt if attempt is not None and status in ("RUNNING", *TERMINAL) else None
        log_stream = current.log_stream_name if current is not None else None
        if current is not None and terminal:
            status_reason = current.status_reason
        started_at: int | None = None
        stopped_at: int | None = None
        if current is not None:
            started_at, stopped_at = current.started_at, current.stopped_at if terminal else None
        elif times is not None:
            started_at, stopped_at = times.started_at, times.stopped_at
        record_job_state_in_moto(
            job.job_id,
            account_id=self._account_id,
            region=self._region,
            status=status,
            attempts=finished,
            started_at=started_at,
            stopped_at=stopped_at,
            status_reason=status_reason,
            exit_code=current.exit_code if current is not None and terminal else None,
            container_reason=current.reason if current is not None and terminal else None,
            log_stream_name=log_stream,
        )
        job.status = status
        if job.array_size is not None:  # moto's DescribeJobs looks at every job for each id: read its record directly
            described = describe_job_in_moto(job.job_id, account_id=self._account_id, region=self._region)
        else:
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
        if started_at is not None:  # the times of this attempt (or array), not of the event's creation
            event["detail"]["startedAt"] = started_at
            if terminal and stopped_at is not None:
                event["detail"]["stoppedAt"] = stopped_at
        self._emit(event)

    def _write_logs(self, job: LocalJob, attempt: LocalAttempt) -> None:
        if self._without_process(job):
            return  # no process, no output: no log stream
        try:
            write_attempt_logs(self._logs, job, attempt)
        except Exception as exc:  # logs are a convenience; the job's outcome does not depend on them
            self._say(f"job {job.job_name}: could not write its logs: {exc}")

    def _say(self, text: str) -> None:
        if self._echo is not None:
            self._echo(f"[local Batch] {text}")


def _now_ms() -> int:
    return int(time.time() * 1000)
