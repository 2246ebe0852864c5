"""What follows a FAILED array attempt: a smaller array of just the failed items, or the run failed for good.

Pure, like ``attempt_plan`` (which calls ``decide_array_attempt`` for an observation whose failed children were
listed): the tracker passes the parent's FAILED observation, with the children ListJobs named, and stores the
decision in the same conditional write as the run's status.

Invariants:

* Each failed child is judged as a single attempt would be (``judge_child``): a timeout by the retry policy; a
  Spot interruption of a fargate-spot workload is retryable; out of memory on a ladder is retryable below its
  top step; anything else by the policy's exit codes. The array is retried only when EVERY failed child is
  retryable and attempts are left: one child failing for good fails the run, and the alert names it.
* The next attempt runs the failed ORIGINAL items, ascending (``AttemptPlan.items``), with one plan for all of
  them: one ladder step up if any child ran out of memory, one Spot interruption more if any was interrupted.
* Its ARRAY_ITEMS text stays within ARRAY_ITEMS_BUDGET: failed items that take more rerun the whole of the
  failed attempt's array instead (every item on a first attempt), and the reason says so.
* Batch reporting the parent FAILED while ListJobs names no failed child (they may have aged out of Batch) is
  judged as one failed job without an exit code.
"""

from __future__ import annotations

from copy import replace
from dataclasses import dataclass
from enum import StrEnum

from batch_orchestrator.array_items import items_text
from batch_orchestrator.attempt_plan import AttemptDecision, capacity_for, size_text
from batch_orchestrator.failure_kinds import is_out_of_memory, is_spot_interruption
from batch_orchestrator.limits import ARRAY_ITEMS_BUDGET
from batch_orchestrator.models import AttemptPlan, ChildFailure, JobObservation
from batch_orchestrator.retry_policy import Rand, RetryDecision, backoff_seconds, decide, judge
from batch_orchestrator.workloads import ComputeType, Workload

NOT_RETRYABLE_NAMED = 5  # failed children a decision's reason names; the alert lists more
_ITEMS_IN_REASON = 80


class ChildRetry(StrEnum):
    """Why a failed child may be retried (or NONE: it may not)."""

    POLICY = "policy"  # the retry policy takes its exit code (or its timeout, or its lack of an exit code)
    OUT_OF_MEMORY = "out-of-memory"  # one step up the memory ladder
    SPOT = "spot"  # a Spot interruption of a fargate-spot workload
    NONE = "none"


@dataclass(frozen=True)
class ChildVerdict:
    """One failed child, and whether (and why) it may be retried."""

    child: ChildFailure
    retry: ChildRetry
    why: str

    @property
    def retryable(self) -> bool:
        return self.retry is not ChildRetry.NONE


def judge_child(child: ChildFailure, workload: Workload, size_step: int) -> ChildVerdict:
    """The verdict on one failed child of an attempt at ladder step ``size_step`` (see the module docstring)."""
    failure = child.failure
    if not failure.timed_out:
        if workload.compute is ComputeType.FARGATE_SPOT and is_spot_interruption(failure.status_reason):
            return ChildVerdict(child, ChildRetry.SPOT, "interrupted on Spot")
        if workload.has_ladder and is_out_of_memory(failure.exit_code, failure.reason, failure.status_reason):
            step = min(size_step, len(workload.ladder) - 1)
            at = size_text(workload.ladder[step])
            if step + 1 >= len(workload.ladder):
                return ChildVerdict(child, ChildRetry.NONE, f"out of memory at the top of the memory ladder ({at})")
            return ChildVerdict(child, ChildRetry.OUT_OF_MEMORY, f"out of memory at {at}")
    retryable, verdict = judge(workload.retry, failure)
    return ChildVerdict(child, ChildRetry.POLICY if retryable else ChildRetry.NONE, verdict)


def decide_array_attempt(
    obs: JobObservation, workload: Workload, plan: AttemptPlan, *, rand: Rand = None
) -> AttemptDecision:
    """The successor of the FAILED array attempt ``obs`` (its ``failed_children`` listed), run as ``plan`` said."""
    children = sorted(obs.failed_children or (), key=lambda child: child.item)
    if not children:
        whole = decide(workload.retry, obs.attempt, obs.failure, rand=rand)
        reason = f"the array job FAILED, but Batch lists no failed child: judged as one job, {whole.reason}"
        return AttemptDecision(replace(whole, reason=reason), plan if whole.retry else None)
    verdicts = tuple(judge_child(child, workload, plan.size_step) for child in children)
    total = obs.children or (obs.array.size if obs.array is not None else len(children))
    head = f"{len(children)} of {total} children failed"
    refused = [verdict for verdict in verdicts if not verdict.retryable]
    policy = workload.retry
    if refused:
        return AttemptDecision(_not_retried(f"{head}; not retryable: {_named(refused)}"), None, verdicts)
    if obs.attempt >= policy.max_attempts:
        reason = f"{head}, each retryable, but attempts exhausted ({obs.attempt} of {policy.max_attempts})"
        return AttemptDecision(_not_retried(reason), None, verdicts)

    after = _next_plan(plan, workload, verdicts)
    how = f"its {len(after.items)} failed items ({_clipped(items_text(after.items))})"
    if len(items_text(after.items)) > ARRAY_ITEMS_BUDGET.value:
        after = replace(after, items=plan.items)
        how = (
            f"the whole array of attempt {obs.attempt} again ({obs.children or total} items): the failed items "
            f"take more than the {ARRAY_ITEMS_BUDGET.value} characters ARRAY_ITEMS may hold"
        )
    if after.size_step > plan.size_step:
        how += f", with {size_text(workload.ladder[after.size_step])}"
    if after.capacity is not plan.capacity:
        how += f", on {after.capacity.value} capacity"
    delay = backoff_seconds(policy, obs.attempt, rand)
    reason = (
        f"{head}, each retryable (attempt {obs.attempt} of {policy.max_attempts}); attempt {obs.attempt + 1} "
        f"runs {how} in {delay} s"
    )
    decision = RetryDecision(retry=True, next_attempt=obs.attempt + 1, delay_seconds=delay, reason=reason)
    return AttemptDecision(decision, after, verdicts)


def _next_plan(plan: AttemptPlan, workload: Workload, verdicts: tuple[ChildVerdict, ...]) -> AttemptPlan:
    kinds = {verdict.retry for verdict in verdicts}
    after = replace(plan, items=tuple(verdict.child.item for verdict in verdicts))
    if ChildRetry.OUT_OF_MEMORY in kinds:
        after = replace(after, size_step=min(plan.size_step, len(workload.ladder) - 1) + 1)
    if ChildRetry.SPOT in kinds:
        interruptions = plan.spot_interruptions + 1
        after = replace(after, spot_interruptions=interruptions, capacity=capacity_for(workload, interruptions))
    return after


def _not_retried(reason: str) -> RetryDecision:
    return RetryDecision(retry=False, next_attempt=None, delay_seconds=0, reason=reason)


def _named(refused: list[ChildVerdict]) -> str:
    named = [f"item {verdict.child.item} ({verdict.why})" for verdict in refused[:NOT_RETRYABLE_NAMED]]
    rest = len(refused) - len(named)
    return "; ".join(named) + (f"; and {rest} more" if rest else "")


def _clipped(text: str) -> str:
    return text if len(text) <= _ITEMS_IN_REASON else text[: _ITEMS_IN_REASON - 1] + "…"
