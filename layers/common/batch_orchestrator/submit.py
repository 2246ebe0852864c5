"""Submitting one attempt of a run to AWS Batch, exactly once.

Happy path: one conditional write (the claim) and one SubmitJob. Batch emits no event for a
submission, so the claim itself records the run as SUBMITTED; the job id arrives with the first
state-change event, which carries the run id in its job name and tags.

SubmitJob has no idempotency token, so the claim is what makes delivery duplicates harmless:

* the claim already exists and its job is known, or its lease is still running → duplicate;
* the claim was released after AWS refused the job → take it over and submit at once;
* the claim's lease expired with no job id (the holder crashed, or SubmitJob's outcome was
  unknown) → take it over, look the deterministic job name up in the queue, and submit only if no
  such job exists.

Every submission, a takeover's included, names the stack's CURRENT job queue and the CURRENT job
definition of the run's workload (``SubmitSettings``), never the ones stored on the run: a deploy that
changes a job definition makes CloudFormation deregister the old revision, and SubmitJob refuses an
inactive one, so a claim written before the deploy would otherwise be refused at every redelivery until
it reached the DLQ. The stored queue is still where an interrupted submission may have left its job, so
the lookup before a takeover's submission searches there. A takeover submits the plan its claim
recorded (the run's workload, ladder step and capacity), not the redelivered message's.

An attempt runs as its plan says (``models.AttemptPlan``): the workload's job definition, the queue of
its capacity (On-Demand: the stack's job queue; Spot: the Spot queue; EC2: the EC2 queue), and, only above the ladder's
first step, that step's vCPU and memory as resource overrides. Its plan goes on the job as tags. An attempt of an
array workload runs its items (``AttemptPlan.children``): as an array job of that size from 2 items on, as a single
job for 1; a child-only retry names its original items in ARRAY_ITEMS and in the ``arrayItems`` parameter
(``array_items``). A workload without ``array`` submits exactly the request it always did.

A workload with ``array: {manifest: upload}`` counts the uploaded object's items before the claim of the first
attempt (``manifests``: one GetObject, so three AWS calls per upload); the claim records the count in the plan,
so no later attempt reads the manifest again. A manifest that cannot run (none of its items, more than one array
job takes, the object gone) is not submitted: the run is written FAILED with the reason, owing its alert, which
the watchdog publishes (the submit functions may not publish to the alerts topic).

A pipeline's later step (``workload_steps``) is submitted as any other attempt, with what its job needs to know of
the pipeline in its environment (STEP_*, PREVIOUS_STEP_OUTPUT_PREFIX, MANIFEST_KEY). A step whose array is
``{manifest: previous-step}`` counts the manifest its previous step wrote, at its first attempt (one GetObject in the
stack's bucket, OUTPUT_BUCKET); one that cannot run fails the waiting run the same way, naming the step.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from copy import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from batch_orchestrator.array_items import items_text
from batch_orchestrator.array_parts import with_first_part
from batch_orchestrator.attempt_plan import size_at, undeclared_default
from batch_orchestrator.batch_arrays import ARRAY_ITEMS_PARAMETER
from batch_orchestrator.errors import JobSubmitError, WorkloadUnavailable
from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG, job_name_for, plan_tags
from batch_orchestrator.manifests import ManifestRefused
from batch_orchestrator.models import (
    SIDE_EFFECT_ALERT,
    AttemptPlan,
    RequestSource,
    Run,
    RunStatus,
    S3Source,
    ScheduleSource,
    SideEffect,
    SubmitRequest,
)
from batch_orchestrator.observability import logger
from batch_orchestrator.ports import JobGateway, JobSpec, ManifestReader, ObjectStore, RunStore
from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.workloads import (
    DEFAULT_WORKLOAD,
    EMPTY_MAPPING,
    Capacity,
    ManifestSource,
    Size,
    Workload,
    WorkloadTable,
)


class SubmitOutcome(StrEnum):
    SUBMITTED = "SUBMITTED"
    DUPLICATE = "DUPLICATE"  # another delivery owns (or owned) this attempt
    ADOPTED = "ADOPTED"  # a crashed delivery had already started the job; nothing to submit
    REFUSED = "REFUSED"  # the upload's manifest cannot run: the run is FAILED, its alert owed


class SubmitSettings(NamedTuple):
    """The stack's queues and workloads as the submit path uses them.

    ``job_queue`` is the On-Demand queue (JOB_QUEUE_ARN), ``spot_job_queue`` the Spot queue ("" when no
    workload runs on Spot), ``ec2_job_queue`` the EC2 queue ("" when no workload runs on EC2).
    ``job_definition`` and ``max_attempts`` are the default workload's; settings made without a
    ``workloads`` table (tools and tests that predate workloads) run the default workload alone with
    them, its size undeclared.
    """

    job_queue: str
    job_definition: str
    max_attempts: int
    claim_lease_seconds: int
    workloads: WorkloadTable | None = None
    spot_job_queue: str = ""
    ec2_job_queue: str = ""
    output_bucket: str = ""  # the stack's bucket (OUTPUT_BUCKET): where a pipeline step's manifest is read

    def workload(self, name: str) -> Workload | None:
        if self.workloads is not None:
            return self.workloads.get(name)
        if name != DEFAULT_WORKLOAD:
            return None
        # The submit path reads only max_attempts of the policy.
        policy = RetryPolicy(ExitCodeSet(), max_attempts=self.max_attempts, base_delay_seconds=0, max_delay_seconds=0)
        return undeclared_default(policy, job_definition=self.job_definition)

    def queue_for(self, capacity: Capacity) -> str:
        if capacity is Capacity.SPOT:
            if not self.spot_job_queue:
                raise WorkloadUnavailable("an attempt asks for Spot capacity, but this stack has no Spot job queue")
            return self.spot_job_queue
        if capacity is Capacity.EC2:
            if not self.ec2_job_queue:
                raise WorkloadUnavailable("an attempt asks for EC2 capacity, but this stack has no EC2 job queue")
            return self.ec2_job_queue
        return self.job_queue


class _Target(NamedTuple):
    """Where and how one attempt is submitted, as the stack defines its plan now."""

    plan: AttemptPlan
    job_queue: str
    job_definition: str
    max_attempts: int
    size: Size | None
    schedule_payload: Mapping[str, Any] | None
    counts_manifest: bool = False  # its workload's array is a manifest's: the upload, its previous step's, a listing
    # ``{manifest: upload-directory}``: where the run's listing of the upload's directory is kept (MANIFEST_KEY).
    directory_manifest: str | None = None
    step_environment: Mapping[str, str] = EMPTY_MAPPING  # a pipeline step's (workload_steps)

    @property
    def resources(self) -> Size | None:
        """The size override: only above the first step (step 0 is the job definition's own size)."""
        return self.size if self.plan.size_step > 0 else None

    @property
    def parameters(self) -> dict[str, str]:
        """SubmitJob's parameters: a child-only retry's items, which Batch repeats in every event of the job."""
        return {ARRAY_ITEMS_PARAMETER: items_text(self.plan.items)} if self.plan.items else {}


def _target(plan: AttemptPlan, request: SubmitRequest, settings: SubmitSettings) -> _Target:
    workload = settings.workload(plan.workload)
    if workload is None:
        raise WorkloadUnavailable(f"run {request.run_id} is of workload {plan.workload!r}, which this stack lacks")
    size = size_at(workload, plan.size_step)
    if size is None and plan.size_step > 0:
        raise WorkloadUnavailable(
            f"run {request.run_id} asks for step {plan.size_step + 1} of the memory ladder of workload "
            f"{workload.name!r}, which has {len(workload.ladder)} steps"
        )
    return _Target(
        plan=plan,
        job_queue=settings.queue_for(plan.capacity),
        job_definition=workload.job_definition,
        max_attempts=workload.retry.max_attempts,
        size=size,
        schedule_payload=_schedule_payload(workload, request),
        counts_manifest=workload.array is not None and workload.array.manifest is not None,
        step_environment=_step_environment(plan, request, settings),
        directory_manifest=_directory_manifest(workload, request, settings),
    )


def _directory_manifest(workload: Workload, request: SubmitRequest, settings: SubmitSettings) -> str | None:
    if workload.array is None or workload.array.manifest is not ManifestSource.UPLOAD_DIRECTORY:
        return None
    from batch_orchestrator.object_manifests import objects_manifest_key

    output_prefix = settings.workloads.output_prefix if settings.workloads is not None else ""
    return objects_manifest_key(output_prefix, request.run_id, workload.name)


def _step_of(target: _Target, request: SubmitRequest) -> dict[str, str] | None:
    """A step's environment, with the attempt as its step counts it (STEP_ATTEMPT; RUN_ATTEMPT counts the run's); an
    upload-directory array's MANIFEST_KEY (its listing)."""
    listing = {"MANIFEST_KEY": target.directory_manifest} if target.directory_manifest else {}
    if not target.step_environment:
        return listing or None
    return {**target.step_environment, "STEP_ATTEMPT": str(target.plan.step_attempt(request.attempt)), **listing}


def _step_environment(plan: AttemptPlan, request: SubmitRequest, settings: SubmitSettings) -> dict[str, str]:
    table = settings.workloads
    if table is None or not any(w.then for w in table.workloads):
        return {}
    from batch_orchestrator.workload_steps import step_environment  # a stack without pipelines never loads it

    return step_environment(table, plan.workload, run_id=request.run_id, output_prefix=table.output_prefix)


def _schedule_payload(workload: Workload, request: SubmitRequest) -> Mapping[str, Any] | None:
    """A workload schedule's payload, from the table (it is static, so no message carries it)."""
    source = request.source
    if not isinstance(source, ScheduleSource) or source.workload is None:
        return None
    schedule = workload.schedule(source.schedule_name)
    if schedule is None:
        logger.warning(
            "schedule no longer in its workload: submitted without its payload",
            extra={"workload": workload.name, "schedule": source.schedule_name},
        )
        return None
    return schedule.payload


class SubmitResult(NamedTuple):
    outcome: SubmitOutcome
    run_id: str
    attempt: int
    job_name: str
    job_id: str | None = None
    detail: str = ""


def job_environment(
    request: SubmitRequest,
    *,
    schedule_payload: Mapping[str, Any] | None = None,
    items: tuple[int, ...] = (),
    step: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's view of its input: plain environment values, never part of a command line.

    A workload schedule's firing also hands the job its schedule's payload, as JSON in SCHEDULE_PAYLOAD; a
    child-only retry its original items, as ranges in ARRAY_ITEMS (the child processes ARRAY_ITEMS[its index]); a
    pipeline's step its place and where its outputs go (``step``: ``workload_steps.step_environment``). A requested
    run (``run_requests``) gets its request's key, requester and payload (REQUEST_KEY, REQUEST_SOURCE,
    REQUEST_PAYLOAD) and the variables the request set, which its workload allows and none of which the
    orchestrator sets (the workload table refuses such names).
    """
    env = {"RUN_ID": request.run_id, "RUN_ATTEMPT": str(request.attempt), "TRIGGER": request.source.trigger.value}
    source = request.source
    if isinstance(source, S3Source):
        env["INPUT_BUCKET"] = source.bucket
        env["INPUT_KEY"] = source.key
        if source.version_id:
            env["INPUT_VERSION_ID"] = source.version_id
    elif isinstance(source, ScheduleSource):
        env["SCHEDULE_NAME"] = source.schedule_name
        env["SCHEDULED_TIME"] = source.scheduled_time
        if schedule_payload is not None:
            env["SCHEDULE_PAYLOAD"] = json.dumps(schedule_payload, separators=(",", ":"), ensure_ascii=False)
    elif isinstance(source, RequestSource):
        env |= dict(source.environment)
        env["REQUEST_KEY"] = source.request_key
        env["REQUEST_SOURCE"] = source.requester
        if source.payload is not None:
            env["REQUEST_PAYLOAD"] = source.payload
    if items:
        env["ARRAY_ITEMS"] = items_text(items)
    if step:
        env.update(step)
    return env


def submit_run(
    request: SubmitRequest,
    *,
    runs: RunStore,
    jobs: JobGateway,
    settings: SubmitSettings,
    now: datetime,
    manifests: ManifestReader | None = None,
    objects: ObjectStore | None = None,
) -> SubmitResult:
    """Claim attempt ``request.attempt`` of the run and submit its Batch job, at most once.

    Raises WorkloadUnavailable, before any write, when the stack cannot submit the plan the request asks for;
    ManifestUnreadable when the run's manifest (``manifests``; the upload's directory: ``objects``) could not be read.
    """
    job_name = job_name_for(request.run_id, request.attempt, request.source)
    lease_until = epoch_seconds(now) + settings.claim_lease_seconds
    target = _target(request.plan, request, settings)
    bucket = _manifest_bucket(request, settings)
    later = _later_attempts(settings, target) if target.counts_manifest else 0
    sized = _sized_by_manifest(
        request, target, manifests, bucket=bucket, later_attempts=later, objects=objects, runs=runs, now=now
    )
    if isinstance(sized, SubmitResult):
        return sized
    target = sized
    if request.attempt == 1:
        claim = runs.claim_first_attempt(
            run_id=request.run_id,
            source=request.source,
            job_name=job_name,
            job_queue=target.job_queue,
            job_definition=target.job_definition,
            max_attempts=target.max_attempts,
            now=now,
            claimed_until=lease_until,
            plan=target.plan,
            size=target.size,
        )
    else:
        claim = runs.claim_retry_attempt(
            run_id=request.run_id,
            attempt=request.attempt,
            job_name=job_name,
            job_queue=target.job_queue,
            job_definition=target.job_definition,
            now=now,
            claimed_until=lease_until,
            plan=target.plan,
            size=target.size,
            # A pipeline's step: the run may go on until the step has had its own max attempts.
            max_attempts=target.max_attempts + target.plan.attempts_before_step if target.plan.step else None,
        )

    if not claim.applied:
        existing = claim.run
        verdict = _judge_existing_claim(request, existing, now=now)
        if verdict is not None:
            return SubmitResult(SubmitOutcome.DUPLICATE, request.run_id, request.attempt, job_name, detail=verdict)
        assert existing is not None
        assert existing.claimed_until is not None
        # The job name is deterministic, but keep the stored one: it is what an earlier holder submitted.
        job_name = existing.job_name or job_name
        if existing.plan != target.plan:
            target = _target(existing.plan, request, settings)
        taken = runs.take_over_claim(
            run_id=request.run_id,
            attempt=request.attempt,
            previous_until=existing.claimed_until,
            job_queue=target.job_queue,
            job_definition=target.job_definition,
            now=now,
            claimed_until=lease_until,
            plan=target.plan,
            size=target.size,
        )
        if not taken.applied:
            return SubmitResult(
                SubmitOutcome.DUPLICATE,
                request.run_id,
                request.attempt,
                job_name,
                detail="claim taken over by another delivery",
            )
        if existing.status is RunStatus.SUBMITTED:
            # The previous holder may have crashed after SubmitJob succeeded: look before submitting.
            found = jobs.find_job_id(job_queue=existing.job_queue or target.job_queue, job_name=job_name)
            if found is not None:
                logger.info("adopted job of an interrupted submission", extra={"job_id": found, "job_name": job_name})
                return SubmitResult(SubmitOutcome.ADOPTED, request.run_id, request.attempt, job_name, job_id=found)
        logger.info("took over stale claim", extra={"job_name": job_name, "previous_status": existing.status.value})

    spec = JobSpec(
        job_name=job_name,
        job_queue=target.job_queue,
        job_definition=target.job_definition,
        environment=job_environment(
            request, schedule_payload=target.schedule_payload, items=target.plan.items, step=_step_of(target, request)
        ),
        tags={RUN_ID_TAG: request.run_id, ATTEMPT_TAG: str(request.attempt), **plan_tags(target.plan)},
        resources=target.resources,
        array_size=target.plan.children,
        parameters=target.parameters,
    )
    try:
        job_id = jobs.submit(spec)
    except JobSubmitError as exc:
        if exc.definitely_not_submitted:
            # No job exists: release the claim so the next delivery submits without a Batch lookup.
            runs.release_claim(
                run_id=request.run_id, attempt=request.attempt, claimed_until=lease_until, error=str(exc), now=now
            )
        raise
    return SubmitResult(SubmitOutcome.SUBMITTED, request.run_id, request.attempt, job_name, job_id=job_id)


def _sized_by_manifest(
    request: SubmitRequest,
    target: _Target,
    manifests: ManifestReader | None,
    *,
    bucket: str,
    later_attempts: int,
    objects: ObjectStore | None,
    runs: RunStore,
    now: datetime,
) -> _Target | SubmitResult:
    """``target`` with its array's size counted from the upload's manifest when its workload's array is one and the
    plan does not know its size yet; the refusal of a manifest that cannot run; else ``target`` as it is."""
    if not target.counts_manifest or target.plan.array_size:
        return target
    from batch_orchestrator.array_sizing import count_run_items  # only workloads whose array is a manifest load it

    step_manifest = target.step_environment.get("MANIFEST_KEY")
    counted = count_run_items(
        request,
        manifests,
        step_manifest=step_manifest,
        bucket=bucket,
        max_attempts=target.max_attempts,
        later_attempts=later_attempts,
        directory=(target.directory_manifest, objects) if target.directory_manifest else None,
    )
    if not isinstance(counted, ManifestRefused):
        return replace(target, plan=with_first_part(replace(target.plan, array_size=counted)))
    job_name = job_name_for(request.run_id, request.attempt, request.source)
    if step_manifest is not None and request.attempt == target.plan.attempts_before_step + 1:
        reason = f"step {target.plan.workload} cannot run its previous step's manifest: {counted.reason}"
        return _refuse(request, target, reason, job_name=job_name, runs=runs, now=now, waiting=True)
    if request.attempt > 1:
        # Only a run refused at its first attempt, then retried by hand with --force, gets here: its record says why.
        raise WorkloadUnavailable(f"run {request.run_id} cannot run its manifest: {counted.reason}")
    return _refuse(request, target, counted.reason, job_name=job_name, runs=runs, now=now)


def _later_attempts(settings: SubmitSettings, target: _Target) -> int:
    """The most attempts the pipeline steps after the target's may take (0 outside pipelines)."""
    table = settings.workloads
    if table is None or not any(w.then for w in table.workloads):
        return 0
    from batch_orchestrator.workload_steps import later_steps_attempts

    return later_steps_attempts(table, target.plan.workload)


def _manifest_bucket(request: SubmitRequest, settings: SubmitSettings) -> str:
    """The bucket a step's manifest is read from: the stack's (OUTPUT_BUCKET), which is the upload's bucket too."""
    return settings.output_bucket or (request.source.bucket if isinstance(request.source, S3Source) else "")


def _refuse(
    request: SubmitRequest,
    target: _Target,
    reason: str,
    *,
    job_name: str,
    runs: RunStore,
    now: datetime,
    waiting: bool = False,
) -> SubmitResult:
    """Record the run FAILED without a job, owing its alert: a new run (its first attempt), or one ``waiting`` for
    this attempt (a pipeline step's first); unless a delivery did already, or the run moved on. The alert's lease is
    due at once: no event will come for a job that does not exist, so the watchdog's next sweep publishes it."""
    alert = SideEffect(kind=SIDE_EFFECT_ALERT, token=uuid.uuid4().hex, due=epoch_seconds(now), job_id="")
    if waiting:
        refused = runs.refuse_waiting_attempt(
            run_id=request.run_id,
            attempt=request.attempt,
            job_name=job_name,
            now=now,
            reason=reason,
            side_effect=alert,
            plan=target.plan,
        )
    else:
        refused = runs.refuse_first_attempt(
            run_id=request.run_id,
            source=request.source,
            job_name=job_name,
            job_queue=target.job_queue,
            job_definition=target.job_definition,
            max_attempts=target.max_attempts,
            now=now,
            reason=reason,
            side_effect=alert,
            plan=target.plan,
        )
    if not refused.applied:
        why = "run moved on" if waiting else "run exists"
        return SubmitResult(SubmitOutcome.DUPLICATE, request.run_id, request.attempt, job_name, detail=why)
    logger.warning("run refused", extra={"run_id": request.run_id, "attempt": request.attempt, "reason": reason})
    return SubmitResult(SubmitOutcome.REFUSED, request.run_id, request.attempt, job_name, detail=reason)


def _judge_existing_claim(request: SubmitRequest, existing: Run | None, *, now: datetime) -> str | None:
    """Why this delivery must not submit (a duplicate), or None when it should take the claim over."""
    if existing is None:
        return "run no longer exists" if request.attempt > 1 else "claim failed but no run was returned"
    if existing.attempt > request.attempt:
        return f"run is already at attempt {existing.attempt}"
    if existing.attempt < request.attempt:
        return (
            f"run is at attempt {existing.attempt} ({existing.status.value}), not waiting for attempt {request.attempt}"
        )
    if existing.status not in (RunStatus.SUBMITTED, RunStatus.QUEUED) or existing.job_id:
        return f"attempt {request.attempt} is already {existing.status.value}"
    if existing.claimed_until is None:
        return "claim has no lease"
    if existing.claimed_until > epoch_seconds(now):
        return "attempt is being submitted by another delivery"
    return None
