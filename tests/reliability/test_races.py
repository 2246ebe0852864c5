"""Races: two trackers applying interleaved events of one run at the same time end like sequential delivery.

Each tracker runs in its own thread and calls the real ``apply_job_event`` against the runs table of
the template's stack in moto. Every call a tracker makes to the runs table, the retry queue or the
alert topic is one atomic step (each RunsTable method is one DynamoDB call, which DynamoDB executes
atomically); ``Interleaver`` lets exactly one tracker take its next step at a time and enumerates
*every* order of the two trackers' steps (a depth-first search over the scheduling choices), so the
result does not depend on luck.

Why not free-running threads: moto evaluates a condition expression and applies the write without
a lock, so two threads can both pass a condition that DynamoDB would let only one of them pass;
such a test would report moto's races, not ours. Enumerating the interleavings of whole calls tests
exactly the atomicity DynamoDB gives.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.batch_events import parse_job_state_change
from batch_orchestrator.config import TrackConfig
from batch_orchestrator.ids import job_name_for, run_id_for
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, JobObservation, S3Source, Source
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.tracking import TrackSettings, apply_job_event
from emulator import EmulatedStack
from emulator.batch_event_builder import attempt_entry, job_state_change
from tests.support.figures import figure
from tests.support.runs import get_run

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
STARTED_MS = 1_795_000_000_000
STOPPED_MS = STARTED_MS + 90_000
STREAM = "batch-orchestrator/default/0a1b2c3d4e5f40718293a4b5c6d7e8f9"
FINALS = {"succeeded": ("SUCCEEDED", 0), "failed_retryable": ("FAILED", 3), "failed_for_good": ("FAILED", 1)}
LIFECYCLE = ("RUNNABLE", "STARTING", "RUNNING", "FINAL")
# Tracker A gets RUNNABLE, RUNNING and the final event; tracker B gets STARTING, a duplicate of the
# final event and a late RUNNABLE: every kind of overlap (in order, duplicate, late) races.
SPLIT = ((0, 2, 3), (1, 3, 0))
_keys = itertools.count()


class Interleaver:
    """Lets one worker at a time past a gate, in a chosen order; records the choices it had."""

    def __init__(self, prefix: tuple[int, ...]) -> None:
        self._prefix = prefix
        self._condition = threading.Condition()
        self._waiting: set[int] = set()
        self._finished: set[int] = set()
        self._granted: int | None = None
        self.trace: list[tuple[int, frozenset[int]]] = []

    def gate(self, worker: int) -> None:
        with self._condition:
            self._waiting.add(worker)
            self._condition.notify_all()
            while self._granted != worker:
                self._condition.wait()
            self._granted = None
            self._waiting.discard(worker)

    def run(self, workers: list[Callable[[], None]]) -> None:
        errors: list[BaseException] = []

        def body(worker: int, work: Callable[[], None]) -> None:
            try:
                work()
            except BaseException as exc:  # reported after the join
                errors.append(exc)
            finally:
                with self._condition:
                    self._finished.add(worker)
                    self._condition.notify_all()

        threads = [threading.Thread(target=body, args=(index, work), daemon=True) for index, work in enumerate(workers)]
        for thread in threads:
            thread.start()
        while True:
            with self._condition:
                while self._granted is not None or len(self._waiting) + len(self._finished) < len(workers):
                    if not self._condition.wait(timeout=30):
                        raise AssertionError("a worker neither reached a gate nor finished")
                enabled = frozenset(self._waiting)
                if not enabled:
                    break
                step = len(self.trace)
                wanted = self._prefix[step] if step < len(self._prefix) else None
                choice = wanted if wanted in enabled else min(enabled)
                self.trace.append((choice, enabled))
                self._granted = choice
                self._condition.notify_all()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]


def every_interleaving(run_once: Callable[[tuple[int, ...]], list[tuple[int, frozenset[int]]]]) -> int:
    """Run ``run_once`` under every schedule of its workers' steps (each exactly once); their count."""
    todo: list[tuple[int, ...]] = [()]
    explored = 0
    while todo:
        prefix = todo.pop()
        trace = run_once(prefix)
        explored += 1
        for index in range(len(prefix), len(trace)):
            chosen, enabled = trace[index]
            for other in sorted(enabled - {chosen}):
                todo.append((*(choice for choice, _ in trace[:index]), other))
    return explored


class Gated:
    """A tracker's view of a shared dependency: each call waits for the tracker's turn, then runs whole."""

    def __init__(self, inner: Any, interleaver: Interleaver, worker: int) -> None:
        self._inner = inner
        self._interleaver = interleaver
        self._worker = worker

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._interleaver.gate(self._worker)
            return target(*args, **kwargs)

        return call


class Recorder:
    def __init__(self) -> None:
        self.retries: list[tuple[str, int]] = []
        self.alerts: list[str] = []

    def send_retry(
        self, *, run_id: str, attempt: int, source: Source, delay_seconds: int, plan: AttemptPlan = DEFAULT_PLAN
    ) -> None:
        self.retries.append((run_id, attempt))

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        self.alerts.append(subject)


def _new_run(stack: EmulatedStack, runs: RunsTable) -> dict[str, Any]:
    """A claimed run and the DescribeJobs entry of its (simulated) job."""
    env = stack.function_environment("SubmitJobsFunction")
    source = S3Source(bucket=stack.outputs["InputBucketName"], key=f"incoming/race-{next(_keys)}.csv", sequencer="01")
    run_id = run_id_for(source)
    job_name = job_name_for(run_id, 1, source)
    runs.claim_first_attempt(
        run_id=run_id,
        source=source,
        job_name=job_name,
        job_queue=env["JOB_QUEUE_ARN"],
        job_definition=env["JOB_DEFINITION_ARN"],
        max_attempts=int(env["MAX_ATTEMPTS"]),
        now=NOW,
        claimed_until=epoch_seconds(NOW) + int(env["CLAIM_LEASE_SECONDS"]),
    )
    job_id = f"{next(_keys):08d}-0000-4000-8000-000000000000"
    return {
        "jobArn": f"arn:aws:batch:{stack.region}:{stack.account_id}:job/{job_id}",
        "jobName": job_name,
        "jobId": job_id,
        "jobQueue": env["JOB_QUEUE_ARN"],
        "jobDefinition": env["JOB_DEFINITION_ARN"],
        "status": "SUBMITTED",
        "createdAt": STARTED_MS - 5_000,
        "container": {},
        "tags": {"batch-orchestrator:run-id": run_id, "batch-orchestrator:attempt": "1"},
    }


def _events(stack: EmulatedStack, job: dict[str, Any], final: str) -> list[dict[str, Any]]:
    status, exit_code = FINALS[final]

    def event(state: str, **extra: Any) -> dict[str, Any]:
        built = job_state_change(job, state, region=stack.region, account=stack.account_id, **extra)
        for name, value in (("startedAt", STARTED_MS), ("stoppedAt", STOPPED_MS)):
            if name in built["detail"]:
                built["detail"][name] = value
        return built

    last = attempt_entry(exit_code=exit_code, log_stream_name=STREAM, started_at=STARTED_MS, stopped_at=STOPPED_MS)
    return [
        event("RUNNABLE"),
        event("STARTING"),
        event("RUNNING", log_stream_name=STREAM),
        event(status, exit_code=exit_code, attempts=[last], log_stream_name=STREAM),
    ]


def _comparable(run: dict[str, Any]) -> dict[str, Any]:
    """The record without what differs between two runs of the same story (ids, keys, write times, tokens)."""
    ignored = {"runId", "source", "jobName", "jobId", "lastJobId", "createdAt", "updatedAt", "submittedAt", "expiresAt"}
    ignored.add("writeId")  # which write was last: differs by construction
    comparable = {name: value for name, value in run.items() if name not in ignored}
    if "sideEffect" in comparable:
        comparable["sideEffect"] = comparable["sideEffect"]["kind"]
    comparable["history"] = [{k: v for k, v in entry.items() if k != "jobId"} for entry in run.get("history", [])]
    return comparable


def _apply(events: list[dict[str, Any]], *, runs: Any, sink: Any, settings: TrackSettings) -> None:
    for event in events:
        observation = parse_job_state_change(event)
        assert isinstance(observation, JobObservation)
        apply_job_event(observation, runs=runs, retry_queue=sink, alerts=sink, settings=settings, now=NOW)


@pytest.mark.stack_params(RetryExitCodes="3", MaxAttempts="3", RetryBaseDelaySeconds="0")
@pytest.mark.parametrize("final", sorted(FINALS))
def test_two_trackers_racing_on_one_run_end_like_sequential_delivery_in_every_interleaving(
    stack: EmulatedStack, final: str
) -> None:
    runs = RunsTable(stack.outputs["RunsTableName"], retention_days=90)
    config = TrackConfig.from_env({**stack.function_environment("TrackJobsFunction"), "AWS_REGION": stack.region})

    # Given the record sequential, in-order delivery of the run's events produces
    reference_job = _new_run(stack, runs)
    reference_sink = Recorder()
    _apply(_events(stack, reference_job, final), runs=runs, sink=reference_sink, settings=config.track)
    reference = get_run(stack, reference_job["tags"]["batch-orchestrator:run-id"])
    assert reference is not None
    side_effects = (len(reference_sink.retries), len(reference_sink.alerts))

    mismatches: list[str] = []

    def race(prefix: tuple[int, ...]) -> list[tuple[int, frozenset[int]]]:
        job = _new_run(stack, runs)
        events = _events(stack, job, final)
        interleaver = Interleaver(prefix)
        sinks = [Recorder(), Recorder()]

        def tracker(worker: int) -> Callable[[], None]:
            return lambda: _apply(
                [events[index] for index in SPLIT[worker]],
                runs=Gated(runs, interleaver, worker),
                sink=Gated(sinks[worker], interleaver, worker),
                settings=config.track,
            )

        # When two trackers apply their share of the events concurrently, in this interleaving
        interleaver.run([tracker(0), tracker(1)])

        # Then the record and the side effects are those of sequential delivery
        result = get_run(stack, job["tags"]["batch-orchestrator:run-id"])
        order = "".join("AB"[choice] for choice, _ in interleaver.trace)
        if result is None or _comparable(result) != _comparable(reference):
            mismatches.append(f"{order}: record differs")
        produced = (sum(len(s.retries) for s in sinks), sum(len(s.alerts) for s in sinks))
        if produced != side_effects:
            mismatches.append(f"{order}: (retries, alerts) {produced}, expected {side_effects}")
        return interleaver.trace

    explored = every_interleaving(race)

    assert mismatches == []
    assert explored > 10
    figure(
        f"Races ({final.replace('_', ' ')})",
        f"{explored} interleavings of two trackers (4 + 3 events, one duplicate final, one late) "
        f"-> all {explored} records equal to sequential delivery, retries/alerts {side_effects}",
    )
