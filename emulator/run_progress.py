"""What the local pipeline reports about runs: their status changes, read from the runs table.

After every function invocation the pipeline reads the runs that invocation was about
(``run_ids_of``) and hands them to ``RunProgress.observe``, which records a ``StatusChange``
when a run's status, attempt, exit code or job differs from the last read, tells the listeners,
and wakes ``wait_for_runs``.

Invariant: the changes are in the order they were read, and a run's change is recorded once per
distinct (status, attempt, exit code, job id); reading never writes anything to the stack.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batch_orchestrator.models import Run
    from batch_orchestrator.routing import Router

TERMINAL_STATUSES = ("SUCCEEDED", "FAILED")


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
    workload: str = ""  # the run's workload ("default": the stack's own)
    size: str = ""  # vCPU and memory of the current attempt, e.g. "0.25 vCPU, 512 MiB" ("" when unknown)


class RunProgress:
    """The runs' records as last read, their changes, and who is told about them.

    ``read_run`` reads a run's record now (None: no such run); ``clock`` gives the seconds since
    the pipeline started; ``stopping`` ends ``wait_for_runs`` early; ``errors`` are the
    pipeline's own, quoted when a wait times out; ``on_error`` reports a failed read or listener.
    """

    def __init__(
        self,
        read_run: Callable[[str], Run | None],
        *,
        clock: Callable[[], float],
        stopping: threading.Event,
        errors: Callable[[], list[str]],
        on_error: Callable[[str], None],
    ) -> None:
        self._read_run = read_run
        self._clock = clock
        self._stopping = stopping
        self._errors = errors
        self._on_error = on_error
        self._changed = threading.Condition()
        self._runs: dict[str, Run] = {}
        self._labels: dict[str, str] = {}
        self._changes: list[StatusChange] = []
        self._listeners: list[Callable[[StatusChange], None]] = []

    def name(self, run_id: str, label: str) -> None:
        """Show the run as ``label`` (the input key or schedule name), unless it already has one."""
        self._labels.setdefault(run_id, label)

    def label(self, run_id: str) -> str:
        return self._labels.get(run_id, run_id)

    def on_status_change(self, listener: Callable[[StatusChange], None]) -> None:
        self._listeners.append(listener)

    def changes(self, run_id: str | None = None) -> list[StatusChange]:
        with self._changed:
            return [c for c in self._changes if run_id is None or c.run_id == run_id]

    def unfinished(self) -> list[str]:
        """The runs seen so far that are not SUCCEEDED or FAILED."""
        with self._changed:
            return [r for r, run in self._runs.items() if run.status.value not in TERMINAL_STATUSES]

    def observe(self, run_ids: Iterable[str]) -> None:
        """Read each run now; record and announce the ones that changed since the last read."""
        for run_id in run_ids:
            try:
                run = self._read_run(run_id)
            except Exception as exc:
                self._on_error(f"cannot read run {run_id}: {exc}")
                continue
            if run is None:
                continue
            with self._changed:
                previous = self._runs.get(run_id)
                self._runs[run_id] = run
                if previous is not None and _snapshot(previous) == _snapshot(run):
                    continue
                change = StatusChange(
                    seconds=self._clock(),
                    run_id=run_id,
                    label=self._labels.setdefault(run_id, _label_of(run)),
                    status=run.status.value,
                    attempt=run.attempt,
                    max_attempts=run.max_attempts,
                    exit_code=run.exit_code,
                    status_reason=run.status_reason,
                    workload=run.workload,
                    size=size_text(run.vcpu, run.memory_mib),
                )
                self._changes.append(change)
                self._changed.notify_all()
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception as exc:
                    self._on_error(f"status listener failed: {exc}")

    def wait_for_runs(self, run_ids: Iterable[str], *, timeout: float) -> dict[str, Run]:
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
                    raise TimeoutError(f"runs not finished after {timeout:.0f} s: {states}; errors: {self._errors()}")
                self._changed.wait(min(remaining, 0.5))


def run_ids_of(event: Any, environment: Mapping[str, str]) -> list[str]:
    """The runs an event of one of the stack's functions is about (for progress reporting only)."""
    from batch_orchestrator.batch_events import run_identity
    from batch_orchestrator.errors import MalformedMessage
    from batch_orchestrator.ids import run_id_for
    from batch_orchestrator.models import SubmitRequest
    from batch_orchestrator.run_requests import RejectedRequest
    from batch_orchestrator.schedule import parse_schedule_firing
    from batch_orchestrator.submit_messages import parse_submit_message

    if not isinstance(event, Mapping):
        return []
    found: list[str] = []
    records = event.get("Records")
    if isinstance(records, list):
        routes = _routes(environment)
        for record in records:
            try:
                requests = parse_submit_message(
                    record.get("body", ""),
                    input_prefix=environment.get("INPUT_PREFIX", ""),
                    routes=routes,
                    message_id=str(record.get("messageId", "")),
                )
            except (MalformedMessage, AttributeError, ValueError):
                continue
            found += [request.run_id for request in requests if isinstance(request, SubmitRequest | RejectedRequest)]
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


def size_text(vcpu: str | None, memory_mib: int | None) -> str:
    """An attempt's size as people read it: "0.25 vCPU, 512 MiB" ("" when neither is known)."""
    parts = [f"{vcpu} vCPU"] if vcpu is not None else []
    parts += [f"{memory_mib} MiB"] if memory_mib is not None else []
    return ", ".join(parts)


def _snapshot(run: Run) -> tuple[Any, ...]:
    return (run.status, run.attempt, run.exit_code, run.job_id)


def _label_of(run: Run) -> str:
    source = run.source.to_dict()
    return str(source.get("key") or source.get("scheduleName") or run.run_id)


def _routes(environment: Mapping[str, str]) -> Router | None:
    """The submit function's own routing (its workload table), so every workload's uploads are followed;
    None (the default workload under INPUT_PREFIX) when the environment holds no valid table: the function
    itself then refuses to start, and its error is what the progress report shows."""
    from batch_orchestrator.config import workload_table_from_env
    from batch_orchestrator.errors import ConfigError
    from batch_orchestrator.routing import UploadRoutes

    try:
        return UploadRoutes(workload_table_from_env(environment))
    except ConfigError:
        return None
