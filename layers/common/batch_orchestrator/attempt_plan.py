"""What the next attempt of a run runs as: its workload's queue, ladder step and capacity, decided from the failure.

Retries that learn: after an out-of-memory failure the next attempt climbs one step of the workload's
memory ladder, and after Spot interruptions a fargate-spot workload falls back to On-Demand capacity.
Everything here is pure (no boto3, no environment): the tracker passes the observation of the failed
attempt and its workload, and stores the decision, with the next plan, in the same conditional write as
the run's status.

Invariants:

* A failed attempt is judged in one order: a timeout by the retry policy (a killed container may still
  exit 137); then a Spot interruption of a fargate-spot workload; then an out-of-memory failure of a
  workload with a ladder; anything else by ``retry_policy.decide``. The first two retry whatever the
  exit-code list says, attempts permitting; the top of a ladder fails for good. ``failure_kinds`` says
  what counts as out of memory and as a Spot interruption.
* The capacity of an attempt is a function of its workload and the run's Spot interruptions so far
  (``capacity_for``), so the job's tags need not carry it and the tracker can tell it from the event.
* A workload the table no longer holds (removed or renamed since the attempt was submitted) is never
  retried: nothing says what its next attempt would run as.
* A FAILED array attempt is judged child by child (``array_retry``): its next attempt, if any, runs only the
  items whose children failed.
* A pipeline step's attempts are counted from the step's start (``AttemptPlan.attempts_before_step``), so each step
  has its own ``retry.max_attempts``; the run's attempt number still grows by one per attempt, across steps. A step
  that SUCCEEDED is followed by its workload's ``then`` (``next_step``), at once, as attempt 1 of that step.
"""

from __future__ import annotations

from copy import replace
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batch_orchestrator.array_parts import PART_SIZE, part_count, part_items, part_of, with_first_part
from batch_orchestrator.failure_kinds import is_out_of_memory, is_spot_interruption
from batch_orchestrator.models import AttemptPlan, JobFailure, JobObservation
from batch_orchestrator.retry_policy import Rand, RetryDecision, RetryPolicy, backoff_seconds, decide
from batch_orchestrator.workloads import DEFAULT_WORKLOAD, Capacity, ComputeType, Size, Workload, WorkloadTable

if TYPE_CHECKING:
    from batch_orchestrator.array_retry import ChildVerdict

_REASON_IN_TEXT = 120


def _out_of_memory(failure: JobFailure) -> bool:
    return is_out_of_memory(failure.exit_code, failure.reason, failure.status_reason)


def capacity_for(workload: Workload, spot_interruptions: int) -> Capacity:
    """EC2 for an ec2 workload (always: Batch itself retries an EC2 instance taken away); Spot for a
    fargate-spot workload until it has been interrupted ``on_demand_after`` times; else On-Demand."""
    if workload.compute is ComputeType.EC2:
        return Capacity.EC2
    if workload.compute is ComputeType.FARGATE_SPOT and spot_interruptions < workload.on_demand_after:
        return Capacity.SPOT
    return Capacity.ON_DEMAND


def first_plan(workload: Workload) -> AttemptPlan:
    """The plan of a run's first attempt: the ladder's first step, on the workload's first capacity, over every
    item of a fixed-size array, or its first part when it has more items than one array job takes (``array_parts``;
    a manifest's size is counted at submission: ``array_size`` 0 until then)."""
    array_size = (workload.array.size or 0) if workload.array is not None else 0
    plan = AttemptPlan(
        workload=workload.name,
        size_step=0,
        capacity=capacity_for(workload, 0),
        spot_interruptions=0,
        array_size=array_size,
    )
    return with_first_part(plan)


def undeclared_default(policy: RetryPolicy, *, job_definition: str = "") -> Workload:
    """The default workload as settings made without a workload table know it (tools and tests that
    predate workloads): its retry policy and job definition. Its ladder is empty, the one exception to
    "at least one step": its size is not known to such settings, so ``size_at`` answers None."""
    return Workload(
        name=DEFAULT_WORKLOAD,
        key_rule=None,
        schedules=(),
        ladder=(),
        timeout_seconds=0,
        retry=policy,
        job_definition=job_definition,
    )


def size_at(workload: Workload | None, step: int) -> Size | None:
    """The size of ladder step ``step``; None for an unknown workload or a step past the top (the table changed)."""
    if workload is None or not 0 <= step < len(workload.ladder):
        return None
    return workload.ladder[step]


def size_text(size: Size) -> str:
    return f"{size.vcpu} vCPU, {size.memory_mib} MiB"


@dataclass(frozen=True)
class AttemptDecision:
    """The retry decision of a failed attempt and, when it retries, the plan of the next attempt; for an array
    attempt, the verdict on each failed child (what its alert lists)."""

    decision: RetryDecision
    next_plan: AttemptPlan | None = None
    children: tuple[ChildVerdict, ...] = ()

    def __post_init__(self) -> None:
        if self.decision.retry != (self.next_plan is not None):
            raise ValueError("next_plan is set exactly when the decision retries")


def decide_attempt(obs: JobObservation, workload: Workload | None, *, rand: Rand = None) -> AttemptDecision:
    """Decide the successor of the failed attempt ``obs`` of a run of ``workload`` (see the module docstring).

    ``workload`` is the table's workload named by the job's tag, None when the table has none of that name.
    The same inputs (and random draw) give the same decision, so a duplicate FAILED event cannot change it.
    """
    if obs.attempts_before_step:
        # A later pipeline step: judged on the step's own attempts, then numbered as the run's next attempt.
        local = decide_attempt(replace(obs, attempt=obs.step_attempt, attempts_before_step=0), workload, rand=rand)
        if local.next_plan is None:
            return local
        return replace(
            local,
            decision=replace(local.decision, next_attempt=obs.attempt + 1),
            next_plan=replace(local.next_plan, step=obs.step, attempts_before_step=obs.attempts_before_step),
        )
    if workload is None:
        reason = (
            f"workload {obs.workload!r} is not in this stack's workload table (removed or renamed since attempt "
            f"{obs.attempt} was submitted), so nothing says what a next attempt would run as; not retried"
        )
        return AttemptDecision(RetryDecision(retry=False, next_attempt=None, delay_seconds=0, reason=reason))
    failure = obs.failure
    plan = AttemptPlan(
        workload=workload.name,
        size_step=obs.size_step,
        capacity=capacity_for(workload, obs.spot_interruptions),
        spot_interruptions=obs.spot_interruptions,
        array_size=obs.array_size,
        items=obs.items,
    )
    if obs.failed_children is not None:
        # An array parent: its children decide (loaded here only, so a tracker without arrays never imports it).
        from batch_orchestrator.array_retry import decide_array_attempt

        return decide_array_attempt(obs, workload, plan, rand=rand)
    if not failure.timed_out:
        if workload.compute is ComputeType.FARGATE_SPOT and is_spot_interruption(failure.status_reason):
            return _after_spot_interruption(obs, workload, plan, rand)
        if workload.has_ladder and _out_of_memory(failure):
            return _after_out_of_memory(obs, workload, plan, rand)
    decision = decide(workload.retry, obs.attempt, failure, rand=rand)
    return AttemptDecision(decision, plan if decision.retry else None)


def _after_spot_interruption(obs: JobObservation, workload: Workload, plan: AttemptPlan, rand: Rand) -> AttemptDecision:
    interruptions = plan.spot_interruptions + 1
    after = replace(plan, spot_interruptions=interruptions, capacity=capacity_for(workload, interruptions))
    where = "on On-Demand capacity" if after.capacity is Capacity.ON_DEMAND else "on Spot again"
    verdict = (
        f"interrupted on Spot ({_short(obs.failure.status_reason)}); Spot interruption {interruptions}, "
        f"On-Demand after {workload.on_demand_after}"
    )
    return _retry_with(workload.retry, obs.attempt, verdict, after, where, rand)


def _after_out_of_memory(obs: JobObservation, workload: Workload, plan: AttemptPlan, rand: Rand) -> AttemptDecision:
    ladder = workload.ladder
    step = min(plan.size_step, len(ladder) - 1)
    if step + 1 >= len(ladder):
        reason = f"out of memory at the top of the memory ladder ({size_text(ladder[step])})"
        return AttemptDecision(RetryDecision(retry=False, next_attempt=None, delay_seconds=0, reason=reason))
    after = replace(plan, size_step=step + 1)
    verdict = f"out of memory at {size_text(ladder[step])} (memory ladder step {step + 1} of {len(ladder)})"
    return _retry_with(workload.retry, obs.attempt, verdict, after, f"with {size_text(ladder[step + 1])}", rand)


def _retry_with(
    policy: RetryPolicy, attempt: int, verdict: str, after: AttemptPlan, how: str, rand: Rand
) -> AttemptDecision:
    """Retry as ``after`` if attempts are left, worded like ``retry_policy.decide``."""
    if attempt >= policy.max_attempts:
        reason = f"{verdict}, but attempts exhausted ({attempt} of {policy.max_attempts})"
        return AttemptDecision(RetryDecision(retry=False, next_attempt=None, delay_seconds=0, reason=reason))
    delay = backoff_seconds(policy, attempt, rand)
    reason = f"{verdict} (attempt {attempt} of {policy.max_attempts}); attempt {attempt + 1} starts {how} in {delay} s"
    return AttemptDecision(
        RetryDecision(retry=True, next_attempt=attempt + 1, delay_seconds=delay, reason=reason), after
    )


def _short(text: str | None) -> str:
    if not text:
        return "no reason given"
    return text if len(text) <= _REASON_IN_TEXT else text[: _REASON_IN_TEXT - 1] + "…"


def next_step(obs: JobObservation, table: WorkloadTable) -> AttemptDecision | None:
    """What follows the SUCCEEDED attempt ``obs``: attempt 1 of its workload's ``then`` step, at once; None when the
    run is done (its workload has no ``then``, or the table no longer holds it)."""
    workload = table.get(obs.workload)
    following = table.get(workload.then) if workload is not None and workload.then is not None else None
    if following is None:
        return None
    from batch_orchestrator.workload_steps import pipeline_of  # a table without pipelines never loads it

    pipeline = pipeline_of(table, following.name)
    assert pipeline is not None, "a workload another one names in `then` is a pipeline's step"
    plan = replace(first_plan(following), step=pipeline.index(following.name), attempts_before_step=obs.attempt)
    reason = f"step {pipeline.describe(obs.workload)} succeeded; step {pipeline.describe(following.name)} starts now"
    return AttemptDecision(
        RetryDecision(retry=True, next_attempt=obs.attempt + 1, delay_seconds=0, reason=reason), plan
    )


def next_part(obs: JobObservation, workload: Workload | None) -> AttemptDecision | None:
    """After the SUCCEEDED attempt ``obs`` of an array run of ``workload``: attempt 1 of its next part, at once; None
    when the run's last part (or its only one) is done, or the table no longer has its workload."""
    if obs.array_size <= PART_SIZE or workload is None:
        return None
    done = part_of(obs.items)
    parts = part_count(obs.array_size)
    if done + 1 >= parts:
        return None
    plan = AttemptPlan(
        workload=obs.workload,
        size_step=obs.size_step,
        capacity=capacity_for(workload, obs.spot_interruptions),
        spot_interruptions=obs.spot_interruptions,
        array_size=obs.array_size,
        items=part_items(obs.array_size, done + 1),
        step=obs.step,
        attempts_before_step=obs.attempt,
    )
    first, last = plan.items[0], plan.items[-1]
    reason = f"part {done + 1} of {parts} of the array succeeded; part {done + 2} (items {first}-{last}) starts now"
    decision = RetryDecision(retry=True, next_attempt=obs.attempt + 1, delay_seconds=0, reason=reason)
    return AttemptDecision(decision, plan)
