"""The watchdog: a periodic sweep over the runs that are not finished yet.

Events can go missing: EventBridge gives up on a target after its retries (the event lands in
TrackingDLQ), a submit can crash between its claim and SubmitJob, a retry message can vanish, and a
job can sit in RUNNABLE for hours without Batch emitting anything. A sweep repairs what it can and
reports the rest, reading only the sparse index of active runs:

1. per status, the runs not updated for a while, oldest first (one Query per index partition);
2. what Batch knows about their jobs (DescribeJobs, 100 ids per call; ListJobs by name for a claim
   that has no job id yet), applied through ``tracking.apply_job_event`` exactly as the lost event
   would have been: a lost SUCCEEDED or FAILED is recovered, retried or alerted, and a retry or alert
   whose lease expired is taken over;
3. a claim whose job does not exist in Batch is re-enqueued on the SubmitQueue, once per stale claim
   (the submit path treats the message as a redelivery);
4. a run that stayed in one state longer than that state's threshold is alerted once per stay (an
   *episode*), and a job stuck in RUNNABLE past a limit can be terminated.

Every write is conditional, so overlapping sweeps, or a sweep racing the tracker, cannot act twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from batch_orchestrator.batch_events import parse_describe_jobs_entry
from batch_orchestrator.errors import OrchestratorError
from batch_orchestrator.job_outcome import says_timed_out
from batch_orchestrator.limits import BATCH_ARRAY_MIN_SIZE, BATCH_DESCRIBE_JOBS_IDS
from batch_orchestrator.models import ArrayState, JobObservation, Run, RunStatus
from batch_orchestrator.observability import logger
from batch_orchestrator.ports import ActiveRun, AlertSink, JobInspector, ResubmitQueue, RetryQueue, WatchdogStore
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.tracking import (
    TrackOutcome,
    TrackSettings,
    apply_job_event,
    recover_side_effect,
    with_failed_children,
)

# Index partitions in the order a sweep visits them: owed alerts and retries first, then the states
# where a run gets stuck, RUNNABLE (the one Batch users complain about) before the others.
WATCHED_STATUSES = (
    RunStatus.FAILED,
    RunStatus.RETRY_WAIT,
    RunStatus.RUNNABLE,
    RunStatus.STARTING,
    RunStatus.RUNNING,
    RunStatus.PENDING,
    RunStatus.SUBMITTED,
    RunStatus.QUEUED,
)
DESCRIBE_JOBS_LIMIT = BATCH_DESCRIBE_JOBS_IDS.value
_MOVED_FORWARD = (TrackOutcome.UPDATED, TrackOutcome.SUCCEEDED, TrackOutcome.RETRY_SCHEDULED, TrackOutcome.FAILED)


@dataclass(frozen=True)
class WatchdogSettings:
    """``stuck_after_seconds``: per status, how long a run may stay in it (absent: never stuck).

    With ``running_margin_seconds``, a RUNNING run may stay as long as its own workload's timeout plus
    that margin (Batch stops an attempt at its timeout, so a run RUNNING longer has lost its events);
    ``stuck_after_seconds[RUNNING]`` then holds for runs of a workload the table does not know.
    """

    track: TrackSettings
    job_queue: str
    reconcile_after_seconds: int
    stuck_after_seconds: Mapping[RunStatus, int]
    cancel_runnable_after_seconds: int = 0  # 0: never terminate a job
    max_resubmissions: int = 3
    running_margin_seconds: int | None = None

    def stuck_threshold(self, run: Run) -> int | None:
        """How long ``run`` may stay in its status before it is stuck (None: never).

        An array job's parent stays PENDING while its children run ("Job states"), so an array run's PENDING may
        last as long as its children running one after another: its size times what a RUNNING job may take.
        """
        if run.status is RunStatus.PENDING and run.plan.children >= BATCH_ARRAY_MIN_SIZE.value:
            per_child = self._running_threshold(run)
            return None if per_child is None else per_child * run.plan.children
        if run.status is RunStatus.RUNNING:
            return self._running_threshold(run)
        return self.stuck_after_seconds.get(run.status)

    def _running_threshold(self, run: Run) -> int | None:
        if self.running_margin_seconds is not None:
            workload = self.track.workload(run.workload)
            if workload is not None and workload.timeout_seconds > 0:
                return workload.timeout_seconds + self.running_margin_seconds
        return self.stuck_after_seconds.get(RunStatus.RUNNING)

    def query_cutoff(self, status: RunStatus, now: datetime) -> datetime:
        """Runs of ``status`` updated after this are left to their events (and are not stuck yet)."""
        wait = min(self.reconcile_after_seconds, self.stuck_after_seconds.get(status, self.reconcile_after_seconds))
        return now - timedelta(seconds=wait)


@dataclass
class SweepReport:
    """What one sweep did; the handler turns it into metrics and returns it."""

    items_read: int = 0
    runs_checked: int = 0
    runs_reconciled: int = 0
    claims_recovered: int = 0
    side_effects_recovered: int = 0
    stuck_runs: int = 0
    stuck_alerts_sent: int = 0
    jobs_cancelled: int = 0
    errors: int = 0
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def episode_of(run: Run) -> str:
    """One stay of a run in one state: its progress (attempt, Batch attempts, status) and since when.

    Any forward move changes the progress, and a claim taken over changes ``updatedAt``, so a new
    stay is a new episode even in the same status.
    """
    return f"{run.progress}@{run.updated_at}"


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class _Sweep:
    runs: WatchdogStore
    jobs: JobInspector
    retry_queue: RetryQueue
    resubmit_queue: ResubmitQueue
    alerts: AlertSink
    settings: WatchdogSettings
    now: datetime
    report: SweepReport

    # ------------------------------------------------------------------------------ a chunk
    def check_chunk(self, chunk: Sequence[ActiveRun]) -> None:
        """Look up the jobs of up to 100 runs with one DescribeJobs, then check each run."""
        now_epoch = epoch_seconds(self.now)
        plans: list[tuple[ActiveRun, str | None]] = []
        for active in chunk:
            run = active.run
            self.report.runs_checked += 1
            try:
                if run.status in (RunStatus.RETRY_WAIT, RunStatus.FAILED):
                    pending = run.side_effect
                    if pending is None or pending.due > now_epoch:
                        continue  # nothing owed, or its lease is still running
                    plans.append((active, pending.job_id or None))
                elif run.job_id:
                    plans.append((active, run.job_id))
                elif run.claimed_until and run.claimed_until > now_epoch:
                    continue  # a submit holds the claim right now
                else:
                    plans.append((active, self._claimed_job_id(run)))
            except Exception:  # one run's trouble (AWS, or an item no code of ours wrote) never stops the sweep
                self._failed(run)
        job_ids = [job_id for _, job_id in plans if job_id]
        try:
            described = {str(job["jobId"]): job for job in self.jobs.describe_jobs(job_ids)} if job_ids else {}
        except OrchestratorError:
            logger.exception("describe jobs failed", extra={"job_count": len(job_ids)})
            self.report.errors += len(plans)
            return
        for active, job_id in plans:
            try:
                self.check_run(active, described.get(job_id) if job_id else None)
            except Exception:  # as above: logged with its traceback, counted, and the sweep fails at the end
                self._failed(active.run)

    def _claimed_job_id(self, run: Run) -> str | None:
        """The job a stale claim may have started before its holder vanished (its name is deterministic)."""
        if not run.job_name:
            return None
        return self.jobs.find_job_id(job_queue=run.job_queue or self.settings.job_queue, job_name=run.job_name)

    def _failed(self, run: Run) -> None:
        logger.exception("run check failed", extra={"run_id": run.run_id, "status": run.status.value})
        self.report.errors += 1

    # ------------------------------------------------------------------------------ one run
    def check_run(self, active: ActiveRun, job: Mapping[str, Any] | None) -> None:
        run = active.run
        observation = self._observation(run, job)
        if run.status in (RunStatus.RETRY_WAIT, RunStatus.FAILED):
            self._recover_side_effect(run, observation)
            return
        if observation is not None:
            result = apply_job_event(
                observation,
                runs=self.runs,
                retry_queue=self.retry_queue,
                alerts=self.alerts,
                settings=self.settings.track,
                now=self.now,
            )
            if result.outcome in _MOVED_FORWARD:
                self.report.runs_reconciled += 1
                logger.warning(
                    "run reconciled from describe jobs",
                    extra={"run_id": run.run_id, "from": run.status.value, "to": observation.status.value},
                )
                return
            if result.outcome is not TrackOutcome.STALE:
                return  # RECOVERED cannot happen outside RETRY_WAIT/FAILED; UNKNOWN_RUN: the run is gone
        elif not run.job_id and self._resubmit(active):
            return
        self._check_stuck(active, observation)

    def _observation(self, run: Run, job: Mapping[str, Any] | None) -> JobObservation | None:
        if job is None:
            return None
        observation = parse_describe_jobs_entry(job)
        if not isinstance(observation, JobObservation) or observation.run_id != run.run_id:
            logger.warning("described job does not belong to the run", extra={"run_id": run.run_id})
            return None
        # As the tracker does with an event: a FAILED array is judged with its failed children.
        return with_failed_children(observation, jobs=self.jobs)

    def _recover_side_effect(self, run: Run, observation: JobObservation | None) -> None:
        pending = run.side_effect
        assert pending is not None
        if observation is not None and observation.job_id == pending.job_id:
            # Exactly what a redelivered event does: stale, finds the lease expired, takes it over.
            result = apply_job_event(
                observation,
                runs=self.runs,
                retry_queue=self.retry_queue,
                alerts=self.alerts,
                settings=self.settings.track,
                now=self.now,
            )
            if result.outcome is TrackOutcome.RECOVERED:
                self.report.side_effects_recovered += 1
            elif result.outcome in _MOVED_FORWARD:
                self.report.runs_reconciled += 1
            return
        # Batch no longer describes the job: rebuild its FAILED observation from the run's record.
        recovered = recover_side_effect(
            run,
            self._observation_from_record(run),
            runs=self.runs,
            retry_queue=self.retry_queue,
            alerts=self.alerts,
            settings=self.settings.track,
            now=self.now,
        )
        if recovered:
            self.report.side_effects_recovered += 1

    def _observation_from_record(self, run: Run) -> JobObservation:
        pending = run.side_effect
        assert pending is not None
        record = next((entry for entry in reversed(run.history) if entry.job_id == pending.job_id), None)
        failed_attempt = run.attempt - 1 if run.status is RunStatus.RETRY_WAIT and run.attempt > 1 else run.attempt
        reasons = (run.status_reason, record.reason if record else None)
        failed_children = run.failed_children if run.failed_children_count and run.plan.children > 1 else None
        return JobObservation(
            run_id=run.run_id,
            attempt=record.attempt if record else failed_attempt,
            job_id=pending.job_id,
            job_name=run.job_name or "",
            job_queue=run.job_queue or self.settings.job_queue,
            status=RunStatus.FAILED,
            status_reason=run.status_reason,
            exit_code=record.exit_code if record else run.exit_code,
            container_reason=record.reason if record else None,
            log_stream_name=(record.log_stream_name if record else None) or run.log_stream_name,
            started_at=record.started_at if record else None,
            stopped_at=record.stopped_at if record else None,
            timed_out=any(says_timed_out(reason) for reason in reasons),
            # Only an alert is rebuilt from this (a retry's reason is not shown): the run FAILED, so its plan
            # is the failed attempt's; an array's, with the failed children the run kept (at most 100).
            workload=run.plan.workload,
            size_step=run.plan.size_step,
            spot_interruptions=run.plan.spot_interruptions,
            array_size=run.plan.array_size,
            items=run.plan.items,
            array=ArrayState(size=run.plan.children, status_summary=run.array_status) if failed_children else None,
            failed_children=failed_children,
            # A pipeline's later step (or an array's later part) counts its attempts from its start; a run waiting
            # for its next attempt holds the next one's plan, so only a FAILED run's plan is this attempt's.
            step=run.plan.step if run.status is RunStatus.FAILED else 0,
            attempts_before_step=run.plan.attempts_before_step if run.status is RunStatus.FAILED else 0,
        )

    def _resubmit(self, active: ActiveRun) -> bool:
        """Re-enqueue a claim with no job in Batch, once per stale claim; False when it is not done again."""
        run = active.run
        episode = episode_of(run)
        # A resubmission the submit path took up moves the run (new episode). One that left the run
        # unchanged for reconcile_after_seconds was lost (e.g. the sweep died between its mark and
        # SendMessage): it may be sent again, still within max_resubmissions.
        lost_before = self.now - timedelta(seconds=self.settings.reconcile_after_seconds)
        lost = active.resubmitted_at is not None and parse_iso(active.resubmitted_at) < lost_before
        if active.resubmissions >= self.settings.max_resubmissions or (active.resubmitted_for == episode and not lost):
            return False
        marked = self.runs.mark_resubmitted(
            run=run,
            episode=episode,
            resubmissions=active.resubmissions,
            max_resubmissions=self.settings.max_resubmissions,
            now=self.now,
            lost_before=lost_before,
        )
        if not marked.applied:
            return True  # another sweep did it, or the run moved since it was read
        self.resubmit_queue.send_resubmit(run_id=run.run_id, attempt=run.attempt, source=run.source, plan=run.plan)
        self.report.claims_recovered += 1
        logger.warning(
            "claim resubmitted: its job was never created",
            extra={"run_id": run.run_id, "attempt": run.attempt, "status": run.status.value},
        )
        return True

    def _check_stuck(self, active: ActiveRun, observation: JobObservation | None) -> None:
        run = active.run
        threshold = self.settings.stuck_threshold(run)
        if not threshold or run.updated_at is None:
            return
        elapsed = (self.now - parse_iso(run.updated_at)).total_seconds()
        if elapsed <= threshold:  # "stays longer than" the threshold, as the parameters say: not at it
            return
        stuck_for = int(elapsed)
        self.report.stuck_runs += 1
        episode = episode_of(run)
        if (
            active.stuck_alerted_for != episode
            and self.runs.mark_stuck_alerted(run=run, episode=episode, now=self.now).applied
        ):
            # Marked before publishing: at most one alert per episode. If publishing fails, the
            # StuckRuns metric (and its alarm) still reports the run.
            # Built only when a run is stuck: a sweep with nothing to report does not load the alerts
            # (cold start).
            from batch_orchestrator.alert_stuck import build_stuck_run_alert

            alert = build_stuck_run_alert(
                run,
                stuck_seconds=stuck_for,
                threshold_seconds=threshold,
                observation=observation,
                region=self.settings.track.region,
                cancel_after_seconds=self.settings.cancel_runnable_after_seconds,
            )
            self.alerts.publish(subject=alert.subject, message=alert.message, attributes=alert.attributes)
            self.report.stuck_alerts_sent += 1
            logger.warning("stuck run alerted", extra={"run_id": run.run_id, "status": run.status.value})
        self._cancel_if_too_long(active, observation, stuck_for, episode)

    def _cancel_if_too_long(
        self, active: ActiveRun, observation: JobObservation | None, stuck_for: int, episode: str
    ) -> None:
        limit = self.settings.cancel_runnable_after_seconds
        run = active.run
        if limit <= 0 or stuck_for < limit or run.status is not RunStatus.RUNNABLE:
            return
        if observation is None or observation.status is not RunStatus.RUNNABLE:
            return  # only a job Batch itself still reports RUNNABLE
        if active.cancel_requested_for == episode:
            return
        if not self.runs.mark_cancel_requested(run=run, episode=episode, now=self.now).applied:
            return
        reason = f"batch-orchestrator watchdog: RUNNABLE for {stuck_for // 60} min (limit {limit // 60} min)"
        self.jobs.terminate_job(job_id=observation.job_id, reason=reason)
        self.report.jobs_cancelled += 1
        logger.warning("stuck job terminated", extra={"run_id": run.run_id, "job_id": observation.job_id})


def sweep(
    *,
    runs: WatchdogStore,
    jobs: JobInspector,
    retry_queue: RetryQueue,
    resubmit_queue: ResubmitQueue,
    alerts: AlertSink,
    settings: WatchdogSettings,
    now: datetime,
    out_of_time: Callable[[], bool] | None = None,
) -> SweepReport:
    """One pass over the active runs (see the module docstring). Never raises for one run's trouble:
    it is logged and counted in ``errors``; ``truncated`` says the time ran out before the end."""
    report = SweepReport()
    state = _Sweep(runs, jobs, retry_queue, resubmit_queue, alerts, settings, now, report)
    for status in WATCHED_STATUSES:
        for page in runs.active_runs(status=status, updated_before=settings.query_cutoff(status, now)):
            report.items_read += page.items_read
            for run_id in page.unreadable:
                logger.error("unreadable item in the active runs index", extra={"run_id": run_id})
                report.errors += 1
            for start in range(0, len(page.runs), DESCRIBE_JOBS_LIMIT):
                if out_of_time is not None and out_of_time():
                    report.truncated = True
                    logger.warning("sweep stopped early: out of time", extra={"report": report.to_dict()})
                    return report
                state.check_chunk(page.runs[start : start + DESCRIBE_JOBS_LIMIT])
    return report
