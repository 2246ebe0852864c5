"""What the logic needs from the outside world, as Protocols: the logic never imports boto3.

The adapters in ``batch_orchestrator.adapters`` implement these; unit tests may use fakes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from batch_orchestrator.models import JobObservation, Run, RunStatus, SideEffect, Source


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a conditional write: the item after it, or the item that made it fail."""

    applied: bool
    run: Run | None


@dataclass(frozen=True)
class JobSpec:
    """Everything SubmitJob needs for one attempt; the input travels as data, never as a command line."""

    job_name: str
    job_queue: str
    job_definition: str
    environment: Mapping[str, str]
    tags: Mapping[str, str]


class RunStore(Protocol):
    def claim_first_attempt(
        self,
        *,
        run_id: str,
        source: Source,
        job_name: str,
        job_queue: str,
        job_definition: str,
        max_attempts: int,
        now: datetime,
        claimed_until: int,
    ) -> WriteResult: ...

    def claim_retry_attempt(
        self,
        *,
        run_id: str,
        attempt: int,
        job_name: str,
        job_queue: str,
        job_definition: str,
        now: datetime,
        claimed_until: int,
    ) -> WriteResult: ...

    def take_over_claim(
        self,
        *,
        run_id: str,
        attempt: int,
        previous_until: int,
        job_queue: str,
        job_definition: str,
        now: datetime,
        claimed_until: int,
    ) -> WriteResult: ...

    def release_claim(
        self, *, run_id: str, attempt: int, claimed_until: int, error: str, now: datetime
    ) -> WriteResult: ...

    def apply_observation(
        self,
        obs: JobObservation,
        *,
        now: datetime,
        new_status: RunStatus,
        next_attempt: int | None = None,
        next_attempt_at: datetime | None = None,
        side_effect: SideEffect | None = None,
    ) -> WriteResult: ...

    def take_over_side_effect(self, *, run_id: str, previous_token: str, token: str, due: int) -> WriteResult: ...

    def complete_side_effect(self, *, run_id: str, token: str, now: datetime, done_field: str) -> WriteResult: ...

    def claim_queue_blocked_alert(
        self, *, job_id: str, job_queue: str, run_id: str | None, now: datetime, lease_until: int
    ) -> bool: ...

    def confirm_queue_blocked_alert(self, *, job_id: str, now: datetime) -> None: ...


class JobGateway(Protocol):
    def submit(self, spec: JobSpec) -> str: ...

    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None: ...


class RetryQueue(Protocol):
    def send_retry(self, *, run_id: str, attempt: int, source: Source, delay_seconds: int) -> None: ...


class AlertSink(Protocol):
    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None: ...


# ---- watchdog
@dataclass(frozen=True)
class ActiveRun:
    """A run read from the sparse index, with the markers the watchdog leaves on it.

    Each marker holds the *episode* it was written for (see ``watchdog.episode_of``), so an action
    is taken once per stay in one state, and again only after the run has moved.
    """

    run: Run
    stuck_alerted_for: str | None = None
    cancel_requested_for: str | None = None
    resubmitted_for: str | None = None
    resubmitted_at: str | None = None  # when resubmitted_for was written (ISO-8601)
    resubmissions: int = 0


@dataclass(frozen=True)
class ActivePage:
    """One page of a sparse-index Query: the runs, the items DynamoDB read, and unreadable items."""

    runs: tuple[ActiveRun, ...]
    items_read: int
    unreadable: tuple[str, ...] = ()


class WatchdogStore(RunStore, Protocol):
    def active_runs(self, *, status: RunStatus, updated_before: datetime) -> Iterator[ActivePage]: ...

    def mark_stuck_alerted(self, *, run: Run, episode: str, now: datetime) -> WriteResult: ...

    def mark_cancel_requested(self, *, run: Run, episode: str, now: datetime) -> WriteResult: ...

    def mark_resubmitted(
        self,
        *,
        run: Run,
        episode: str,
        resubmissions: int,
        max_resubmissions: int,
        now: datetime,
        lost_before: datetime | None = None,
    ) -> WriteResult: ...


class JobInspector(Protocol):
    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None: ...

    def describe_jobs(self, job_ids: Sequence[str]) -> list[Mapping[str, Any]]: ...

    def terminate_job(self, *, job_id: str, reason: str) -> None: ...


class ResubmitQueue(Protocol):
    def send_resubmit(self, *, run_id: str, attempt: int, source: Source) -> None: ...
