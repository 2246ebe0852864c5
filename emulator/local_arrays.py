"""SIMULATED: AWS Batch array jobs in the local job runner (``emulator.runner``): children, and their parent.

What AWS documents, and the runner does (AWS Batch User Guide and API Reference, by title):

* "Array jobs": an array has 2 to 10,000 children; the parent gets a normal job id and child ``i`` is
  ``<parent id>:<i>``; the timeout (``attemptDurationSeconds``) "applies to each child job. The parent array job
  does not have a timeout"; "The parent array job can enter a SUBMITTED, PENDING, FAILED, or SUCCEEDED status. An
  array parent job is updated to PENDING when any child job is updated to RUNNABLE"; "if a child array job fails
  (on its own or by cancelling/terminating manually), the parent job also fails"; cancelling or terminating the
  parent cancels or terminates every child.
* "Job states" (PENDING): "Array job parents are updated to PENDING when any child job is updated to RUNNABLE and
  remain in PENDING status while child jobs are running ... until all child jobs reach a terminal state." So the
  parent is SUCCEEDED when every child SUCCEEDED, and FAILED when any child FAILED, once all of them are finished.
* "AWS Batch job environment variables": AWS_BATCH_JOB_ARRAY_INDEX "is only set in child array jobs" (0 to N-1),
  AWS_BATCH_JOB_ARRAY_SIZE "is set to the size of the parent array job" (``local_container``).
* "Tutorial: Use the array job index to control job differentiation": every child runs the job definition's
  image and command; only the index tells them apart (here: the sample job's SAMPLE_FAIL_INDEXES).
* JobDetail (API Reference): a child's ``createdAt`` is "when the child job was spawned by its parent and entered
  the PENDING state"; ``arrayProperties`` is an ArrayPropertiesDetail: ``index`` for children, ``size`` and
  ``statusSummary`` (children per status) for parents, and ``statusSummaryLastUpdatedAt`` (``moto_batch_patches``).
* "Job state change events": "Anytime that an existing (previously submitted) job changes states, an event is
  created"; "Events aren't created for the initial job submission"; ``detail`` resembles the JobDetail.
* "Automated job retries" and "Job timeouts" are per job; a child is a job with its own ``attempts[]``, so each
  child is retried (``retryStrategy``), timed out and held to its memory on its own, as a single job is.
* "Job dependencies": SEQUENTIAL and N_TO_N array dependencies exist; NOT simulated (no ``dependsOn`` at all).

Not documented, and what the runner chose (the conservative side for whoever consumes the events):

* Whether AWS emits "Batch Job State Change" events for array children at all: no sentence or example names
  them (they are jobs with their own id and status, so the events page reads as if it covers them). The runner
  emits them, from RUNNABLE on (a child's spawn, in PENDING, is like a submission: no event). A consumer should
  not need them: the parent's events carry the outcome, and ListJobs(arrayJobId, jobStatus=FAILED) names the
  children that failed.
* Whether the parent's final event carries an up-to-date ``statusSummary``: the detail resembles the JobDetail,
  which has one, but how fresh it is is not said (``statusSummaryLastUpdatedAt`` suggests it can lag). The
  runner's final parent event carries the final counts (what DescribeJobs shows then); a consumer should check
  that they add up to ``size`` and ask ListJobs when they do not.
* The parent's statusReason when it fails (none here, unless TerminateJob/CancelJob gave one), its startedAt and
  stoppedAt (here: the first child's start, the last child's stop), the children's tags (moto gives them none;
  left so) and a child's AWS_BATCH_JOB_ID (here: its own id, ``<parent id>:<index>``).
* The order of the parent's PENDING among the children's RUNNABLE events (here: right after the first child's).

Without processes: with ``array_child_outcome`` (index → exit code) children run no process and write no log
stream; every event, record and retry is as with a process. For benchmarks of large arrays.

Invariant: the parent's final status is emitted once, after the final status of every child, and only then.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emulator.batch_event_builder import TERMINAL
from emulator.local_jobs import LocalJob

ChildOutcome = Callable[[int], int]  # an array child's index → the exit code of each of its attempts


def child_jobs(parent: LocalJob) -> list[LocalJob]:
    """The parent's children, as Batch spawns them: the parent's job (definition, overrides, timeout, retry
    strategy, resources), each with its own id, index and attempts, in PENDING."""
    if parent.array_size is None:
        raise ValueError(f"job {parent.job_id} is not an array parent")
    return [
        copy.replace(
            parent, job_id=f"{parent.job_id}:{index}", array_index=index, status="PENDING", attempts=[], output=[]
        )
        for index in range(parent.array_size)
    ]


def parent_final_status(child_statuses: Sequence[str]) -> str | None:
    """SUCCEEDED when every child SUCCEEDED, FAILED when every child finished and one FAILED, else None."""
    if any(status not in TERMINAL for status in child_statuses):
        return None
    return "SUCCEEDED" if all(status == "SUCCEEDED" for status in child_statuses) else "FAILED"


@dataclass(frozen=True)
class ArrayEnd:
    """How an array ended once its last child ended. ``status`` None: a child ended without a final status (the
    runner stopped, or failed on it), so the parent has none either."""

    status: str | None
    started_at: int | None  # the first child attempt's start (epoch ms)
    stopped_at: int | None  # the last child attempt's stop


class ArrayProgress:
    """The children of one array parent the runner runs, and the moment the last of them ends. Thread-safe."""

    def __init__(self, parent: LocalJob, children: Sequence[LocalJob]) -> None:
        self.parent = parent
        self.children = list(children)
        self._lock = threading.Lock()
        self._ended = 0

    def child_ended(self) -> ArrayEnd | None:
        """Count one child as ended (whatever its status); the array's end once it was the last, else None."""
        with self._lock:
            self._ended += 1
            if self._ended < len(self.children):
                return None
        started = [c.attempts[0].started_at for c in self.children if c.attempts]
        stopped = [a.stopped_at for c in self.children for a in c.attempts[-1:] if a.stopped_at is not None]
        return ArrayEnd(
            parent_final_status([child.status for child in self.children]),
            min(started, default=None),
            max(stopped, default=None),
        )
