"""Array runs larger than one array job: their items run as parts of at most BATCH_ARRAY_MAX_SIZE children, one part
after another, under one run.

AWS Batch takes 2 to 10,000 children per array job ("The array size can be between 2 and 10,000", SubmitJob). A run
of more items (up to ARRAY_RUN_MAX_ITEMS) runs items 0..9,999 as its first part, then 10,000..19,999, and so on: each
part an array job whose ARRAY_ITEMS (and ``parameters.arrayItems``) name its items, so its child ``i`` processes the
part's ``i``-th item exactly as a child-only retry's does. A part starts when the part before it SUCCEEDED (the
tracker's one conditional write requests it, as a pipeline's next step: ``tracking``); a part whose children fail is
retried as any array attempt, over its failed items only, with the workload's ``retry.max_attempts`` counted from the
part's first attempt (``AttemptPlan.attempts_before_step``). One part failing for good fails the run. Which part
comes next is decided with the attempt planning (``attempt_plan.next_part``); this module only knows the ranges.

Why one after another rather than all at once: the run item then holds one job per attempt, as every other run's, and
the queue's compute (MaxvCpus), not the number of array jobs, bounds how many children run at once; what it costs is the
tail of each part (its slowest children) while the next part waits. Pure: no boto3, no environment.
"""

from __future__ import annotations

from copy import replace

from batch_orchestrator.limits import BATCH_ARRAY_MAX_SIZE
from batch_orchestrator.models import AttemptPlan

PART_SIZE = BATCH_ARRAY_MAX_SIZE.value


def part_count(array_size: int) -> int:
    """How many parts an array run of ``array_size`` items runs as (1 up to PART_SIZE)."""
    return max(1, -(-array_size // PART_SIZE))


def part_items(array_size: int, part: int) -> tuple[int, ...]:
    """The items of part ``part`` (0-based) of a run of ``array_size`` items; () for a run of one part (all items)."""
    if array_size <= PART_SIZE:
        return ()
    return tuple(range(part * PART_SIZE, min(array_size, (part + 1) * PART_SIZE)))


def part_of(items: tuple[int, ...]) -> int:
    """The part an attempt's items belong to (a part's, or a child-only retry's within one part)."""
    return items[0] // PART_SIZE if items else 0


def with_first_part(plan: AttemptPlan) -> AttemptPlan:
    """``plan`` over its first part when its array takes more than one array job; else ``plan`` itself."""
    if plan.array_size <= PART_SIZE or plan.items:
        return plan
    return replace(plan, items=part_items(plan.array_size, 0))
