"""What the logic needs from the outside world, as Protocols: the logic never imports boto3.

Each Protocol has one adapter in ``batch_orchestrator.adapters`` and one in-memory fake in
``tests/support/fakes.py`` that keeps the same contract (``tests/unit/test_fakes_contract.py`` runs
the same assertions against both). The contract is written on each method: a change to it changes
the adapter, the fake and the contract test together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from batch_orchestrator.models import (
    DEFAULT_PLAN,
    AttemptPlan,
    ChildFailure,
    JobObservation,
    Run,
    RunStatus,
    S3Source,
    SideEffect,
    Source,
)
from batch_orchestrator.workloads import EMPTY_MAPPING, Size


class WriteResult(NamedTuple):
    """Outcome of one conditional write.

    Applied: ``run`` is the run after the write for the writes that say they return it
    (``apply_observation``, ``take_over_side_effect``), None for the others. Not applied (the
    condition failed): ``run`` is the run as it was, None when there is no such run.
    """

    applied: bool
    run: Run | None


class JobSpec(NamedTuple):
    """Everything SubmitJob needs for one attempt; the input travels as data, never as a command line.

    ``resources`` overrides the job definition's vCPU and memory for this job (a memory ladder's step
    above the first); None keeps the definition's own size. ``array_size`` from 2 on makes it an array job of
    that many children (below 2 it is a single job); ``parameters`` are SubmitJob's (a child-only retry's
    ``arrayItems``). A single job of a workload without ``array`` has neither, and its request is what it
    always was.
    """

    job_name: str
    job_queue: str
    job_definition: str
    environment: Mapping[str, str]
    tags: Mapping[str, str]
    resources: Size | None = None
    array_size: int = 0
    parameters: Mapping[str, str] = EMPTY_MAPPING


class RunStore(Protocol):
    """The runs table as the submit and track paths use it: every method is one conditional write.

    A write whose condition fails changes nothing and answers ``WriteResult(applied=False, run=<as it
    was>)``; infrastructure failures raise RunStoreError. Leases (``claimed_until``, a side effect's
    ``due``, the blocked-queue alert's ``lease_until``) are epoch seconds.

    A claim records the attempt's ``plan`` (workload, ladder step, capacity, Spot interruptions) and its
    ``size`` (None when the workload table does not know it); a run of the default workload need not say so.
    """

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
        plan: AttemptPlan = DEFAULT_PLAN,
        size: Size | None = None,
    ) -> WriteResult:
        """Create the run as SUBMITTED for attempt 1 with a claim leased until ``claimed_until``,
        unless a run with this id exists (then not applied, whatever its state)."""
        ...

    def refuse_first_attempt(
        self,
        *,
        run_id: str,
        source: Source,
        job_name: str,
        job_queue: str,
        job_definition: str,
        max_attempts: int,
        now: datetime,
        reason: str,
        side_effect: SideEffect | None,
        plan: AttemptPlan = DEFAULT_PLAN,
    ) -> WriteResult:
        """Create the run as FAILED at attempt 1 without submitting anything (its input cannot run: ``reason``,
        its status reason and its history's one entry), owing the alert ``side_effect`` (None: a rejected run
        request owes none); unless a run with this id exists (then not applied, whatever its state)."""
        ...

    def refuse_waiting_attempt(
        self,
        *,
        run_id: str,
        attempt: int,
        job_name: str,
        now: datetime,
        reason: str,
        side_effect: SideEffect,
        plan: AttemptPlan,
    ) -> WriteResult:
        """Fail the run waiting (RETRY_WAIT) for attempt ``attempt`` without submitting it (a pipeline step's input
        cannot run: ``reason``, its status reason and a history entry), owing the alert ``side_effect``; not applied
        when the run is anywhere else."""
        ...

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
        plan: AttemptPlan = DEFAULT_PLAN,
        size: Size | None = None,
        max_attempts: int | None = None,
    ) -> WriteResult:
        """Move a run in RETRY_WAIT for exactly ``attempt`` to SUBMITTED with a new claim and this plan; clears
        the previous attempt's job id, results and side effect. ``max_attempts``: the run's new attempt limit (a
        pipeline's next step: its attempts before it plus its own ``retry.max_attempts``); None keeps it."""
        ...

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
        plan: AttemptPlan = DEFAULT_PLAN,
        size: Size | None = None,
    ) -> WriteResult:
        """Take the claim of ``attempt`` if it still holds lease ``previous_until``, has no job id and is
        SUBMITTED or QUEUED: status SUBMITTED, a new lease, the current queue, definition and size (the
        run's progress is left as it was)."""
        ...

    def release_claim(self, *, run_id: str, attempt: int, claimed_until: int, error: str, now: datetime) -> WriteResult:
        """SubmitJob was refused: if this caller still holds the claim (lease ``claimed_until``, no job
        id), the run goes to QUEUED with lease 0, so the next delivery submits without a lookup."""
        ...

    def apply_observation(
        self,
        obs: JobObservation,
        *,
        now: datetime,
        new_status: RunStatus,
        next_attempt: int | None = None,
        next_attempt_at: datetime | None = None,
        side_effect: SideEffect | None = None,
        attempt_size: Size | None = None,
        next_plan: AttemptPlan | None = None,
        next_size: Size | None = None,
        step_workload: str | None = None,
    ) -> WriteResult:
        """Apply an observation of the run's own attempt that moves it forward (a greater progress, and
        the run's job id is absent or the observation's); returns the run after it.

        ``new_status`` RETRY_WAIT needs ``next_attempt`` and ``next_attempt_at`` (ValueError, before any
        write, without them) and moves the run to that attempt, and with ``next_plan`` to that plan and
        ``next_size`` (without, the run keeps its plan and size). A terminal observation appends the attempt
        to the history with ``attempt_size``; ``side_effect`` is written with the state, in the same write.
        """
        ...

    def take_over_side_effect(self, *, run_id: str, previous_token: str, token: str, due: int) -> WriteResult:
        """Re-lease the run's side effect to ``token`` until ``due`` if it still holds ``previous_token``;
        returns the run after it."""
        ...

    def complete_side_effect(self, *, run_id: str, token: str, now: datetime) -> WriteResult:
        """The alert leased to ``token`` was published: drop the lease and record when (a retry needs no
        completion: the claim of its next attempt clears the lease)."""
        ...

    def claim_queue_blocked_alert(
        self,
        *,
        job_id: str,
        job_queue: str,
        run_id: str | None,
        now: datetime,
        lease_until: int,
        job_name: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Lease the one alert owed for the job blocking a queue; False when it is sent or its lease has
        not expired yet. ``job_name`` and ``reason`` are kept on the lease for the Queue Blocked event."""
        ...

    def confirm_queue_blocked_alert(self, *, job_id: str, now: datetime) -> None:
        """The blocked-queue alert of ``job_id`` was published: no later delivery may take it again."""
        ...


class ArrayChildren(Protocol):
    """AWS Batch as the tracker and the watchdog read an array job's children."""

    def failed_children(self, parent_job_id: str) -> tuple[ChildFailure, ...]:
        """Every FAILED child of the array job ``parent_job_id`` (ListJobs with its arrayJobId and jobStatus
        FAILED, every page), with its index, exit code and reasons; each ``item`` is still its index (the caller
        maps it to the original item). BatchLookupError on failure."""
        ...


class JobGateway(ArrayChildren, Protocol):
    """AWS Batch as the submit path uses it (and the tracker, for an array's failed children)."""

    def submit(self, spec: JobSpec) -> str:
        """Submit one job and return its id. Job names are not unique in Batch: submitting a name twice
        makes two jobs. Raises JobSubmitError whose ``definitely_not_submitted`` says whether a job may
        exist (an answer lost after the call may still have created one)."""
        ...

    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None:
        """The id of a job with exactly this name in the queue, in any status; BatchLookupError on failure."""
        ...


class ManifestReader(Protocol):
    """Amazon S3 as the submit path reads an uploaded manifest."""

    def read(self, source: S3Source) -> bytes | None:
        """The first MANIFEST_MAX_BYTES + 1 bytes of the uploaded object version (more than the limit says it is
        longer); None when it no longer exists; ManifestUnreadable on any other failure."""
        ...


class ObjectStore(Protocol):
    """Amazon S3 as the submit path lists the objects beside an upload, and keeps their listing (object_manifests)."""

    def list_keys(self, *, bucket: str, prefix: str, limit: int) -> list[str]:
        """The keys under ``prefix``, in S3's order, at most ``limit`` of them; ManifestUnreadable when S3 fails."""
        ...

    def create(self, *, bucket: str, key: str, body: bytes) -> bool:
        """Write ``body`` at ``key`` unless an object is there already (then False, nothing written);
        ManifestUnreadable when S3 fails otherwise."""
        ...


class RetryQueue(Protocol):
    def send_retry(
        self, *, run_id: str, attempt: int, source: Source, delay_seconds: int, plan: AttemptPlan = DEFAULT_PLAN
    ) -> None:
        """Ask the submit path for ``attempt`` as ``plan`` after ``delay_seconds`` (capped at SQS's maximum
        delay); RetryEnqueueError when it cannot be sent."""
        ...


class AlertSink(Protocol):
    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        """Publish one alert (``message`` is its body; the e-mail and chat subscribers get their views of it, see
        ``alert_chat``); AlertPublishError when SNS refuses it (an invalid subject, an empty attribute value) or
        cannot be reached."""
        ...


# ---- watchdog
class ActiveRun(NamedTuple):
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


class ActivePage(NamedTuple):
    """One page of a sparse-index Query: the runs, the items DynamoDB read, and unreadable items."""

    runs: tuple[ActiveRun, ...]
    items_read: int
    unreadable: tuple[str, ...] = ()


class WatchdogStore(RunStore, Protocol):
    """The runs table as the watchdog uses it: the sparse index of active runs, and once-per-episode marks.

    A mark is applied only while the run is exactly as read (same progress and ``updatedAt``) and the
    episode is not marked yet; it never changes ``updatedAt``. Applied marks return no run.
    """

    def active_runs(self, *, status: RunStatus, updated_before: datetime) -> Iterator[ActivePage]:
        """The runs whose active status is ``status`` and that were last updated before ``updated_before``,
        oldest first, page by page. A run is active while it is not terminal, or FAILED with its alert
        unconfirmed."""
        ...

    def mark_stuck_alerted(self, *, run: Run, episode: str, now: datetime) -> WriteResult:
        """Claim the one stuck alert of ``episode``."""
        ...

    def mark_cancel_requested(self, *, run: Run, episode: str, now: datetime) -> WriteResult:
        """Claim the one TerminateJob of ``episode``."""
        ...

    def mark_resubmitted(
        self,
        *,
        run: Run,
        episode: str,
        resubmissions: int,
        max_resubmissions: int,
        now: datetime,
        lost_before: datetime | None = None,
    ) -> WriteResult:
        """Claim the one resubmission of ``episode`` while the run has had fewer than ``max_resubmissions``
        (recording ``resubmissions + 1``); a mark of the same episode made before ``lost_before`` counts
        as lost and may be claimed again."""
        ...


class JobInspector(ArrayChildren, Protocol):
    """AWS Batch as the watchdog uses it; failures raise BatchLookupError."""

    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None:
        """As ``JobGateway.find_job_id``."""
        ...

    def describe_jobs(self, job_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        """JobDetail entries of any number of ids; a job Batch no longer knows is absent."""
        ...

    def terminate_job(self, *, job_id: str, reason: str) -> None:
        """Ask Batch to cancel or stop the job; it reports the job FAILED later, with ``reason``."""
        ...


class ResubmitQueue(Protocol):
    def send_resubmit(self, *, run_id: str, attempt: int, source: Source, plan: AttemptPlan = DEFAULT_PLAN) -> None:
        """Ask the submit path for ``attempt`` (as ``plan``) again, at once; RetryEnqueueError when it cannot
        be sent."""
        ...


@dataclass(frozen=True)
class KeyClaim:
    """One upload's key claimed for a coalesced batch: the item under ``run_id`` (the run id a plain upload of it
    would have) names the batch's run and the key's child index in it (``coalesce``)."""

    run_id: str
    source: S3Source
    workload: str
    batch_run_id: str
    index: int


@dataclass(frozen=True)
class TakenKey:
    """What a key's claim found: the item already under its run id. ``batch_run_id`` is "" for an item that is a
    run of its own (a plain upload); ``conflict``: DynamoDB refused the write for a concurrent transaction on it."""

    run_id: str
    batch_run_id: str = ""
    index: int | None = None
    claimed_until: int = 0
    conflict: bool = False


class CoalescedKeys(Protocol):
    """The runs table as the coalescer uses it: each key of a batch claimed at most once (``coalesce``)."""

    def claim(self, claims: Sequence[KeyClaim], *, claimed_until: int, now: datetime) -> dict[str, TakenKey]:
        """Claim every key of ``claims`` (at most DYNAMODB_TRANSACT_WRITE_ITEMS, distinct) in one transaction, each
        on the condition that no item has its run id: all or none. The keys found taken, by run id (empty: all
        claimed). RunStoreError on any other failure."""
        ...

    def take_over(self, claim: KeyClaim, *, previous: TakenKey, claimed_until: int, now: datetime) -> bool:
        """Move a key whose batch died to ``claim``'s batch, on the condition that it still has the lease and batch
        ``previous`` saw; False when another delivery moved it first."""
        ...

    def run_exists(self, run_id: str) -> bool:
        """Whether the runs table has a run of this id (a batch run is recorded by its submit claim)."""
        ...

    def read_run(self, run_id: str) -> Run | None:
        """The run of this id, or None."""
        ...

    def find_key(self, run_id: str) -> TakenKey | None:
        """The key item under this run id, or None when there is none (or it is a run of its own)."""
        ...


class ManifestWriter(Protocol):
    def write(self, source: S3Source, body: bytes) -> None:
        """Write a coalesced batch's manifest as ``source`` names it (ManifestUnwritable on failure)."""
        ...
