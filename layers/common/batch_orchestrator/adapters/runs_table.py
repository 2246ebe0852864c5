"""The runs table's state changes, as the functions make them: each is one conditional DynamoDB write.

Nothing here reads before it writes. Each write carries its precondition (the claim is free, the
observation moves the run forward, the side effect is still ours) and asks DynamoDB to return the
item as it was when the condition failed, so the caller learns why in the same round trip. Every
write goes through ``conditional_writes``, which also tells a write whose answer was lost (and
whose retry then failed its own condition) from a lost race, and reports it as applied.

Only finished runs expire. DynamoDB's TTL deletes an item once ``expiresAt`` (epoch seconds) has
passed, whatever its state, so ``expiresAt`` is written only with a terminal state that owes
nothing (SUCCEEDED, or FAILED once its alert is confirmed) and removed by every write that makes a
run active again: a job running longer than RunRetentionDays keeps its run.

The item's attribute names and its mapping to a Run live in ``run_items``; the operator's queries
and actions (which the functions never make) in ``orchestrator_cli.runs_admin``.

Longer than ~400 lines on purpose: it is one protocol, every transition of a run with the condition
that guards it, and those conditions must be read together (a claim beside its take-over and its
release, an observation beside the leases it leaves). Split by path, each part would assume the
others' conditions without showing them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.adapters.conditional_writes import ItemParser, put_if, update_if
from batch_orchestrator.adapters.run_items import (
    ACTIVE_RUNS_INDEX,
    ALERT_SENT_AT,
    BLOCKED_JOB_NAME,
    BLOCKED_REASON,
    EXPIRES_AT,
    QUEUE_BLOCKED_KEY_PREFIX,
    active_run_from_item,
    attempt_items_text,
    attribute_names,
    from_attribute_values,
    observed_array_attributes,
    plan_attributes,
    previous_attempt_array_attributes,
    run_from_item,
    side_effect_attribute,
    to_attribute_values,
)
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.job_outcome import clip_reason
from batch_orchestrator.models import (
    DEFAULT_PLAN,
    AttemptPlan,
    AttemptRecord,
    JobObservation,
    Run,
    RunStatus,
    SideEffect,
    Source,
    progress_of,
)
from batch_orchestrator.ports import ActivePage, ActiveRun, WriteResult
from batch_orchestrator.timeutil import epoch_seconds, iso
from batch_orchestrator.workloads import Size


def _no_run(_item: Mapping[str, Any]) -> Run | None:
    """The parser of writes to items that are not runs (the blocked-queue alert markers)."""
    return None


class RunsTable:
    """The runs table as the functions use it (``ports.RunStore`` and the watchdog's sweep).

    Each state change is one DynamoDB call; ``active_runs`` makes one Query per page.
    """

    def __init__(self, table_name: str, *, retention_days: int) -> None:
        self._table = table_name
        self._retention = timedelta(days=retention_days)

    # ----------------------------------------------------------------------------- submit path
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
        """Create the run as SUBMITTED for attempt 1, unless any delivery already created it."""
        planned, _ = plan_attributes(plan, size)
        item = {
            "runId": run_id,
            "status": RunStatus.SUBMITTED.value,
            "activeStatus": RunStatus.SUBMITTED.value,
            "attempt": 1,
            "maxAttempts": max_attempts,
            "progress": progress_of(1, RunStatus.SUBMITTED),
            "trigger": source.trigger.value,
            "source": source.to_dict(),
            "jobName": job_name,
            "jobQueue": job_queue,
            "jobDefinition": job_definition,
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "submittedAt": iso(now),
            "claimedUntil": claimed_until,
            **planned,
        }
        return put_if(
            self._table,
            item,
            condition="attribute_not_exists(runId)",  # key attribute: never a reserved word
        )

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
        """Create the run as FAILED without a job, owing its alert (``side_effect``; None: a rejected run request,
        which owes none), unless any delivery already created it."""
        planned, _ = plan_attributes(plan, None)
        item: dict[str, Any] = {
            "runId": run_id,
            "status": RunStatus.FAILED.value,
            "attempt": 1,
            "maxAttempts": max_attempts,
            "progress": progress_of(1, RunStatus.FAILED),
            "trigger": source.trigger.value,
            "source": source.to_dict(),
            "jobName": job_name,
            "jobQueue": job_queue,
            "jobDefinition": job_definition,
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "statusReason": clip_reason(reason),
            "history": [
                AttemptRecord(attempt=1, job_id="", status=RunStatus.FAILED, reason=clip_reason(reason)).to_dict()
            ],
            **planned,
        }
        if side_effect is not None:
            item["activeStatus"] = RunStatus.FAILED.value  # in the sparse index until its alert is confirmed
            item["sideEffect"] = side_effect_attribute(side_effect)
        return put_if(self._table, item, condition="attribute_not_exists(runId)")

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
        """Move a run waiting for attempt ``attempt`` from RETRY_WAIT to SUBMITTED, as ``plan`` (and, for a pipeline's
        next step, with the run's attempt limit ``max_attempts``)."""
        planned, unsized = plan_attributes(plan, size)
        if max_attempts is not None:
            planned["maxAttempts"] = max_attempts
        return self._update(
            run_id,
            set_values={
                "status": RunStatus.SUBMITTED.value,
                "activeStatus": RunStatus.SUBMITTED.value,
                "progress": progress_of(attempt, RunStatus.SUBMITTED),
                "jobName": job_name,
                "updatedAt": iso(now),
                "submittedAt": iso(now),
                "claimedUntil": claimed_until,
                # The attempt is submitted with the stack's current queue and job definition.
                "jobQueue": job_queue,
                "jobDefinition": job_definition,
                **planned,
            },
            remove=(
                *unsized,
                *previous_attempt_array_attributes(plan),
                EXPIRES_AT,
                "sideEffect",
                "nextAttemptAt",
                "jobId",
                "exitCode",
                "statusReason",
                "logStreamName",
                "startedAt",
                "stoppedAt",
                "batchAttempts",
            ),
            condition="#status = :expected_status AND #attempt = :attempt",
            condition_values={":expected_status": RunStatus.RETRY_WAIT.value, ":attempt": attempt},
        )

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
        """Take a claim whose holder is gone (lease expired or released), if nobody else did.

        The taker submits with the stack's current queue, job definition and size of the run's workload
        (a deploy may have deregistered the revision the claim was written with); the run records them.
        """
        planned, unsized = plan_attributes(plan, size)
        return self._update(
            run_id,
            set_values={
                "status": RunStatus.SUBMITTED.value,
                "activeStatus": RunStatus.SUBMITTED.value,
                "updatedAt": iso(now),
                "claimedUntil": claimed_until,
                "jobQueue": job_queue,
                "jobDefinition": job_definition,
                **planned,
            },
            remove=("lastError", EXPIRES_AT, *unsized),
            condition=(
                "#attempt = :attempt AND #claimedUntil = :previous AND attribute_not_exists(#jobId) "
                "AND #status IN (:submitted, :queued)"
            ),
            condition_values={
                ":attempt": attempt,
                ":previous": previous_until,
                ":submitted": RunStatus.SUBMITTED.value,
                ":queued": RunStatus.QUEUED.value,
            },
        )

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
        """Fail a run waiting for attempt ``attempt`` (a pipeline step whose previous step's manifest cannot run)
        without a job, owing its alert: RETRY_WAIT -> FAILED, like ``refuse_first_attempt`` for an existing run."""
        planned, unsized = plan_attributes(plan, None)
        return self._update(
            run_id,
            set_values={
                "status": RunStatus.FAILED.value,
                "activeStatus": RunStatus.FAILED.value,  # in the sparse index until its alert is confirmed
                "progress": progress_of(attempt, RunStatus.FAILED),
                "jobName": job_name,
                "updatedAt": iso(now),
                "statusReason": clip_reason(reason),
                "sideEffect": side_effect_attribute(side_effect),
                **planned,
            },
            remove=(
                *unsized,
                EXPIRES_AT,
                "nextAttemptAt",
                "jobId",
                "exitCode",
                "logStreamName",
                "startedAt",
                "stoppedAt",
            ),
            append_history=AttemptRecord(
                attempt=attempt, job_id="", status=RunStatus.FAILED, reason=clip_reason(reason), workload=plan.workload
            ).to_dict(),
            condition="#status = :expected_status AND #attempt = :attempt",
            condition_values={":expected_status": RunStatus.RETRY_WAIT.value, ":attempt": attempt},
        )

    def release_claim(self, *, run_id: str, attempt: int, claimed_until: int, error: str, now: datetime) -> WriteResult:
        """Record that SubmitJob was rejected (no job exists) so the next delivery submits at once."""
        return self._update(
            run_id,
            set_values={
                "status": RunStatus.QUEUED.value,
                "activeStatus": RunStatus.QUEUED.value,
                "progress": progress_of(attempt, RunStatus.QUEUED),
                "updatedAt": iso(now),
                "claimedUntil": 0,
                "lastError": error[:1000],
            },
            condition="#attempt = :attempt AND #claimedUntil = :mine AND attribute_not_exists(#jobId)",
            condition_values={":attempt": attempt, ":mine": claimed_until},
        )

    # ------------------------------------------------------------------------------ track path
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
        """Apply one observation if it moves the run forward; one conditional UpdateItem.

        ``new_status`` is the observation's status, or RETRY_WAIT when the tracker decided to retry
        a FAILED attempt, or to go on with a pipeline's next step after a SUCCEEDED one (then with the next
        attempt's plan and size). A terminal observation appends the attempt to the run's history, with its size
        (and, for a pipeline's step, ``step_workload``: the step it ran).
        """
        set_values: dict[str, Any] = {
            "status": new_status.value,
            "jobId": obs.job_id,
            "jobName": obs.job_name,
            "batchAttempts": obs.batch_attempts,
            "updatedAt": iso(now),
        }
        remove: list[str] = ["claimedUntil", "lastError"]
        for name, value in (
            ("statusReason", obs.status_reason),
            ("exitCode", obs.exit_code),
            ("logStreamName", obs.log_stream_name),
            ("startedAt", obs.started_at),
            ("stoppedAt", obs.stopped_at),
        ):
            # The run shows the latest observation exactly: a field the event lacks is removed, so the
            # record does not depend on which earlier (possibly lost or reordered) events were applied.
            if value is not None:
                set_values[name] = value
            else:
                remove.append(name)
        if new_status is RunStatus.RETRY_WAIT:
            if next_attempt is None or next_attempt_at is None:
                raise ValueError("RETRY_WAIT needs the next attempt and its time")
            set_values["attempt"] = next_attempt
            set_values["progress"] = progress_of(next_attempt, RunStatus.RETRY_WAIT)
            set_values["nextAttemptAt"] = iso(next_attempt_at)
            set_values["lastJobId"] = obs.job_id
            remove.append("jobId")
            del set_values["jobId"]
            if next_plan is not None:
                planned, unsized = plan_attributes(next_plan, next_size)
                set_values.update(planned)
                remove.extend(unsized)
        else:
            set_values["progress"] = obs.progress
        if side_effect is not None:
            set_values["sideEffect"] = side_effect_attribute(side_effect)
        set_values.update(observed_array_attributes(obs))
        # The sparse index holds runs someone may still have to act on: non-terminal runs, and
        # failed runs whose alert is not yet confirmed as sent.
        if not new_status.is_terminal or side_effect is not None:
            set_values["activeStatus"] = new_status.value
            remove.append(EXPIRES_AT)
        else:
            remove.append("activeStatus")
            set_values[EXPIRES_AT] = self.expires_at(now)

        append_history = None
        if obs.status.is_terminal:
            append_history = AttemptRecord(
                attempt=obs.attempt,
                job_id=obs.job_id,
                status=obs.status,
                exit_code=obs.exit_code,
                reason=obs.failure.reason if obs.status is RunStatus.FAILED else None,
                log_stream_name=obs.log_stream_name,
                started_at=obs.started_at,
                stopped_at=obs.stopped_at,
                vcpu=attempt_size.vcpu if attempt_size else None,
                memory_mib=attempt_size.memory_mib if attempt_size else None,
                items=attempt_items_text(obs),
                failed_children=len(obs.failed_children) if obs.failed_children is not None else None,
                workload=step_workload,
            ).to_dict()
        return self._update(
            obs.run_id,
            set_values=set_values,
            remove=tuple(remove),
            append_history=append_history,
            # The attempt must be the run's own: a job whose attempt tag or name says otherwise (retagged,
            # or not ours) would otherwise set a progress of another attempt and wedge the run.
            condition=(
                "attribute_exists(#runId) AND #attempt = :attempt AND #progress < :observed "
                "AND (attribute_not_exists(#jobId) OR #jobId = :job_id)"
            ),
            condition_values={":attempt": obs.attempt, ":observed": obs.progress, ":job_id": obs.job_id},
            return_new=True,
        )

    def take_over_side_effect(self, *, run_id: str, previous_token: str, token: str, due: int) -> WriteResult:
        return self._update(
            run_id,
            set_values={"#sideEffect.#token": token, "#sideEffect.#due": due},
            condition="#sideEffect.#token = :previous",
            condition_values={":previous": previous_token},
            return_new=True,
        )

    def complete_side_effect(self, *, run_id: str, token: str, now: datetime) -> WriteResult:
        """The alert went out: drop the lease and leave the sparse index (the run is finished: it may expire)."""
        return self._update(
            run_id,
            set_values={ALERT_SENT_AT: iso(now), EXPIRES_AT: self.expires_at(now)},
            remove=("sideEffect", "activeStatus"),
            condition="#sideEffect.#token = :token",
            condition_values={":token": token},
        )

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
        """Take the one alert owed for the job that blocks a queue; False when it is sent or being sent.

        Any job may block the queue, ours or not, and EventBridge delivers each event at least once:
        the alert is keyed by the blocking job's id, in an item of its own (not a run: no status, so
        in no index and in no listing). Like a run's alert it is leased: taken until ``lease_until``
        (epoch seconds), confirmed by ``confirm_queue_blocked_alert`` after publishing; a holder that
        died before confirming leaves a lease the next delivery takes over once it has expired.
        """
        item: dict[str, Any] = {
            "runId": QUEUE_BLOCKED_KEY_PREFIX + job_id,
            "kind": "QUEUE_BLOCKED_ALERT",
            "jobId": job_id,
            "jobQueue": job_queue,
            "firstSeenAt": iso(now),
            "alertLeaseUntil": lease_until,
            EXPIRES_AT: self.expires_at(now),
        }
        if run_id is not None:
            item["blockedRunId"] = run_id
        # Not read by the alert path: the Queue Blocked lifecycle event reads them from the table's stream.
        if job_name:
            item[BLOCKED_JOB_NAME] = job_name
        if reason:
            item[BLOCKED_REASON] = clip_reason(reason)
        written = put_if(
            self._table,
            item,
            condition=(
                "attribute_not_exists(#runId) OR (attribute_not_exists(#alertSentAt) AND #alertLeaseUntil < :now)"
            ),
            names={
                "#runId": "runId",
                "#alertSentAt": ALERT_SENT_AT,
                "#alertLeaseUntil": "alertLeaseUntil",
            },
            values={":now": epoch_seconds(now)},
            parse=_no_run,
        )
        return written.applied

    def confirm_queue_blocked_alert(self, *, job_id: str, now: datetime) -> None:
        """The blocked-queue alert of ``job_id`` was published: later deliveries of its event send nothing."""
        self._update(
            QUEUE_BLOCKED_KEY_PREFIX + job_id,
            set_values={ALERT_SENT_AT: iso(now)},
            remove=("alertLeaseUntil",),
            condition="attribute_exists(#runId)",
            condition_values={},
            parse=_no_run,
        )

    # ---- watchdog
    def active_runs(self, *, status: RunStatus, updated_before: datetime) -> Iterator[ActivePage]:
        """The runs of one partition of the sparse index last updated before ``updated_before``, oldest first.

        One Query per DynamoDB page, never a Scan: the index holds only runs that may still need work,
        so what a sweep reads grows with the active runs, not with the table. ``items_read`` is what
        DynamoDB read (and bills); an item that is not a readable run is reported, not raised, so one
        bad item cannot stop every sweep.
        """
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ACTIVE_RUNS_INDEX,
            "KeyConditionExpression": "#activeStatus = :status AND #updatedAt < :before",
            "ExpressionAttributeNames": {"#activeStatus": "activeStatus", "#updatedAt": "updatedAt"},
            "ExpressionAttributeValues": to_attribute_values({":status": status.value, ":before": iso(updated_before)}),
            "ScanIndexForward": True,
        }
        try:
            while True:
                page = client("dynamodb").query(**request)
                runs: list[ActiveRun] = []
                unreadable: list[str] = []
                for raw in page.get("Items", []):
                    item = from_attribute_values(raw)
                    try:
                        runs.append(active_run_from_item(item))
                    except (KeyError, TypeError, ValueError):
                        unreadable.append(str(item.get("runId", "?")))
                read = int(page.get("ScannedCount", len(runs) + len(unreadable)))
                yield ActivePage(runs=tuple(runs), items_read=read, unreadable=tuple(unreadable))
                if "LastEvaluatedKey" not in page:
                    return
                # Paged by hand: botocore's paginator loads its own model data, ~7 ms of each cold start.
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise RunStoreError(f"cannot query {ACTIVE_RUNS_INDEX} of {self._table} for {status.value}: {exc}") from exc

    def mark_stuck_alerted(self, *, run: Run, episode: str, now: datetime) -> WriteResult:
        """Claim the one stuck alert of this episode; fails if it was sent already or the run moved on."""
        return self._mark_episode(run, "stuckAlertedFor", "stuckAlertedAt", episode, now)

    def mark_cancel_requested(self, *, run: Run, episode: str, now: datetime) -> WriteResult:
        """Claim the one TerminateJob of this episode (same rule as mark_stuck_alerted)."""
        return self._mark_episode(run, "cancelRequestedFor", "cancelRequestedAt", episode, now)

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
        """Claim the one resubmission of this stale claim, while the run has had fewer than the maximum.

        With ``lost_before``, a resubmission of the same episode marked before that time counts as lost
        (the run did not move) and may be claimed again.
        """
        return self._mark_episode(
            run,
            "resubmittedFor",
            "resubmittedAt",
            episode,
            now,
            episode_lost_before=lost_before,
            extra_set={"resubmissions": resubmissions + 1},
            extra_condition=" AND (attribute_not_exists(#resubmissions) OR #resubmissions < :cap)",
            extra_values={":cap": max_resubmissions},
        )

    def _mark_episode(
        self,
        run: Run,
        field: str,
        at_field: str,
        episode: str,
        now: datetime,
        *,
        episode_lost_before: datetime | None = None,
        extra_set: Mapping[str, Any] | None = None,
        extra_condition: str = "",
        extra_values: Mapping[str, Any] | None = None,
    ) -> WriteResult:
        # updatedAt is deliberately left alone: it is when the run entered its state, the sort key the
        # sweeps query by and part of the episode.
        if run.updated_at is None:
            return WriteResult(applied=False, run=run)
        values: dict[str, Any] = {":progress": run.progress, ":seen": run.updated_at, ":episode": episode}
        lost = ""
        if episode_lost_before is not None:
            lost = f" OR #{at_field} < :lost_before"
            values[":lost_before"] = iso(episode_lost_before)
        return self._update(
            run.run_id,
            set_values={field: episode, at_field: iso(now), **(extra_set or {})},
            condition=(
                "#progress = :progress AND #updatedAt = :seen"
                f" AND (attribute_not_exists(#{field}) OR #{field} <> :episode{lost}){extra_condition}"
            ),
            condition_values={**values, **(extra_values or {})},
        )

    # ------------------------------------------------------------------------------ plumbing
    def _update(
        self,
        run_id: str,
        *,
        set_values: Mapping[str, Any],
        condition: str,
        condition_values: Mapping[str, Any],
        remove: tuple[str, ...] = (),
        append_history: Mapping[str, Any] | None = None,
        return_new: bool = False,
        parse: ItemParser = run_from_item,
    ) -> WriteResult:
        """A conditional UpdateItem spelled as values to set, attributes to remove, an entry to append."""
        names: dict[str, str] = {}
        values: dict[str, Any] = dict(condition_values)
        assignments = []
        for index, (path, value) in enumerate(set_values.items()):
            placeholder = f":v{index}"
            if path.startswith("#"):
                target = path  # a nested path already spelled with #names
            else:
                target = f"#f{index}"
                names[target] = path
            assignments.append(f"{target} = {placeholder}")
            values[placeholder] = value
        if append_history is not None:
            values[":entry"] = [append_history]
            values[":empty"] = []
            assignments.append("#history = list_append(if_not_exists(#history, :empty), :entry)")
        expression = "SET " + ", ".join(assignments)
        if remove:
            removed = []
            for index, path in enumerate(remove):
                names[f"#r{index}"] = path
                removed.append(f"#r{index}")
            expression += " REMOVE " + ", ".join(removed)
        # Every other #name stands for the attribute of the same name: no reserved-word surprises.
        for placeholder, name in attribute_names(expression, condition).items():
            names.setdefault(placeholder, name)
        return update_if(
            self._table,
            run_id,
            update=expression,
            condition=condition,
            names=names,
            values=values,
            return_new=return_new,
            parse=parse,
        )

    def expires_at(self, now: datetime) -> int:
        """The TTL value of a run that finished at ``now``: epoch SECONDS, as DynamoDB's TTL reads it."""
        return epoch_seconds(now + self._retention)
