"""Reading what only ec2 workloads have: whole-vCPU sizes, GPUs, and workloads.yaml's ``ec2_compute`` block.

``workload_parser`` calls these for a workload with ``compute: {type: ec2}`` (and for ``gpus`` on any
workload, to refuse it off EC2); ``workload_table.table`` calls ``parse_ec2_compute`` for the file's
top-level block. Invariants, as in the rest of the parser:

* Every problem is reported through ``problem(field, message)``, one line each, nothing coerced silently.
* The block is required exactly when some workload has type ec2, and refused otherwise: the default stack
  has no EC2 resources, and a block that nothing uses would deploy an idle compute environment.
* Every ec2 workload's size fits the compute environment (its vCPU at most ``max_vcpus``), or its jobs
  would wait RUNNABLE for ever.

Batch's rules for EC2 jobs (https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html):
VCPU "must specify at least one vCPU"; MEMORY "must specify at least 4 MiB"; GPU "the number of physical
GPUs to reserve for the container" (EC2 only: Fargate has no GPUs). The instance's architecture comes
from its type, so ``cpu_architecture`` does not apply (the job definition has no RuntimePlatform).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from batch_orchestrator.workload_fields import close_match, either, is_int, kind
from batch_orchestrator.workloads import ComputeType, Ec2Capacity, Ec2Compute, Problem, Size, Workload

Report = Callable[[str, str], None]  # (field, message)

EC2_MIN_MEMORY_MIB = 4  # Batch: at least 4 MiB on EC2 resources
MAX_GPUS = 16  # the most GPUs an instance type offers (p4d/p5: 8; g4dn.metal/g5.48xlarge: 8; kept with margin)
EC2_COMPUTE_KEYS = ("instance_types", "min_vcpus", "max_vcpus", "capacity", "spot_bid_percentage")
# A type (g5.xlarge), a family (g5), or one of Batch's choices (optimal, default_x86_64, default_arm64).
INSTANCE_TYPE = re.compile(r"optimal|default_x86_64|default_arm64|[a-z][a-z0-9-]*(?:\.[a-z0-9]+)?")
_WHOLE = re.compile(r"[1-9][0-9]{0,5}")


def is_ec2(entry: Mapping[Any, Any]) -> bool:
    """Does this workload entry ask for the EC2 compute environment (``compute: {type: ec2}``)?"""
    compute = entry.get("compute")
    return isinstance(compute, Mapping) and compute.get("type") == ComputeType.EC2.value


def ec2_vcpu(value: object) -> str | None:
    """A whole number of vCPUs, at least 1, as Batch writes it ("4"); None when it is not one."""
    if is_int(value) and isinstance(value, int) and value >= 1:
        return str(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return value
    return None


def ec2_ladder(problem: Report, entry: Mapping[Any, Any]) -> tuple[Size, ...] | None:
    """vcpu and memory of an ec2 workload: a whole vCPU count and MiB (>= 4), or a growing memory ladder."""
    failed = False
    vcpu = ec2_vcpu(entry.get("vcpu"))
    if vcpu is None and "vcpu" in entry:
        problem("vcpu", f"must be a whole number of vCPUs, 1 or more, on EC2, got {kind(entry['vcpu'])}")
        failed = True
    if "memory" not in entry:
        return None
    memory = entry["memory"]
    steps: list[Any] = memory if isinstance(memory, list) else [memory]
    if not steps:
        problem("memory", "is an empty ladder: give a size in MiB, or a list of growing sizes")
        return None
    for index, step in enumerate(steps):
        if not is_int(step) or step < EC2_MIN_MEMORY_MIB:
            field = f"memory[{index}]" if isinstance(memory, list) else "memory"
            problem(field, f"must be a whole number of MiB, {EC2_MIN_MEMORY_MIB} or more, on EC2, got {kind(step)}")
            failed = True
    if not failed and any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        problem("memory", f"a ladder's steps must grow, each larger than the one before: got {steps}")
        failed = True
    if vcpu is None or failed:
        return None
    return tuple(Size(vcpu, step) for step in steps)


def gpus(problem: Report, entry: Mapping[Any, Any]) -> int:
    """``gpus: N`` (1..16) of an ec2 workload; 0 when absent. Any other compute type has no GPUs."""
    if "gpus" not in entry:
        return 0
    value = entry["gpus"]
    if not is_ec2(entry):
        problem("gpus", "needs compute {type: ec2}: Fargate has no GPUs (add an ec2_compute block with GPU instances)")
        return 0
    if not is_int(value) or not 1 <= value <= MAX_GPUS:
        problem("gpus", f"must be a whole number from 1 to {MAX_GPUS}, got {kind(value)}")
        return 0
    return int(value)


def parse_ec2_compute(
    value: object, workloads: Sequence[Workload], *, present: bool, source: str
) -> tuple[Ec2Compute | None, list[Problem]]:
    """The file's top-level ``ec2_compute`` (``present``: the key is in the file), checked against the workloads."""
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(Problem("", f"ec2_compute.{field}" if field else "ec2_compute", message, source))

    users = [w.name for w in workloads if w.compute is ComputeType.EC2]
    if not present:
        if users:
            problem(
                "", f"required: workload {either(users)} has compute type ec2 (instance_types and max_vcpus at least)"
            )
        return None, problems
    if not users:
        problem(
            "", "no workload has compute type ec2: remove the block (the stack would run an idle compute environment)"
        )
        return None, problems
    if not isinstance(value, Mapping):
        problem("", f"must be a mapping (instance_types, max_vcpus, ...), got {kind(value)}")
        return None, problems
    compute = _ec2_compute(problem, value)
    if compute is not None:
        for workload in workloads:
            if workload.compute is ComputeType.EC2 and int(workload.ladder[0].vcpu) > compute.max_vcpus:
                problems.append(
                    Problem(
                        workload.name,
                        "vcpu",
                        f"{workload.ladder[0].vcpu} vCPU is more than ec2_compute.max_vcpus ({compute.max_vcpus}): "
                        "its jobs would wait RUNNABLE for ever",
                        source,
                    )
                )
    return (compute if not problems else None), problems


def _ec2_compute(problem: Report, value: Mapping[Any, Any]) -> Ec2Compute | None:
    r = _Count(problem)
    for key in value:
        if key not in EC2_COMPUTE_KEYS:
            close = close_match(str(key), EC2_COMPUTE_KEYS)
            hint = f"did you mean {close!r}?" if close else f"expected one of: {', '.join(EC2_COMPUTE_KEYS)}"
            r.report(str(key), f"unknown key; {hint}")
    for key in ("instance_types", "max_vcpus"):
        if key not in value:
            r.report(key, "required")
    types = _instance_types(r, value.get("instance_types"))
    min_vcpus = _whole(r, value.get("min_vcpus", 0), "min_vcpus", 0)
    max_vcpus = _whole(r, value["max_vcpus"], "max_vcpus", 1) if "max_vcpus" in value else None
    if min_vcpus is not None and max_vcpus is not None and min_vcpus > max_vcpus:
        r.report("min_vcpus", f"must be at most max_vcpus ({max_vcpus}), got {min_vcpus}")
    capacities = [c.value for c in Ec2Capacity]
    capacity = value.get("capacity", Ec2Capacity.ON_DEMAND.value)
    if capacity not in capacities:
        r.report("capacity", f"must be {either(capacities)}, got {kind(capacity)}")
    bid = _bid(r, value, capacity)
    if r.count or types is None or max_vcpus is None or min_vcpus is None:
        return None
    return Ec2Compute(
        instance_types=types,
        max_vcpus=max_vcpus,
        min_vcpus=min_vcpus,
        capacity=Ec2Capacity(capacity),
        spot_bid_percentage=bid,
    )


class _Count:
    """Counts the problems reported through it (so a reader knows whether the block read well)."""

    def __init__(self, problem: Report) -> None:
        self._problem = problem
        self.count = 0

    def report(self, field: str, message: str) -> None:
        self.count += 1
        self._problem(field, message)


def _instance_types(r: _Count, value: object) -> tuple[str, ...] | None:
    if value is None:
        return None  # reported as required
    if not isinstance(value, list) or not value:
        r.report("instance_types", f"must be a non-empty list such as [g5.xlarge] or [optimal], got {kind(value)}")
        return None
    ok = True
    for index, item in enumerate(value):
        if not isinstance(item, str) or not INSTANCE_TYPE.fullmatch(item):
            message = "must be an instance type (g5.xlarge), a family (g5), optimal, default_x86_64 or default_arm64"
            r.report(f"instance_types[{index}]", f"{message}, got {kind(item)}")
            ok = False
    if ok and len(set(value)) != len(value):
        r.report("instance_types", f"lists an instance type twice: {value}")
        ok = False
    return tuple(value) if ok else None


def _whole(r: _Count, value: object, field: str, low: int) -> int | None:
    if not is_int(value) or not isinstance(value, int) or value < low:
        r.report(field, f"must be a whole number, {low} or more, got {kind(value)}")
        return None
    return value


def _bid(r: _Count, value: Mapping[Any, Any], capacity: object) -> int | None:
    if "spot_bid_percentage" not in value:
        return None
    bid = value["spot_bid_percentage"]
    if capacity != Ec2Capacity.SPOT.value:
        r.report("spot_bid_percentage", "applies only to capacity: spot")
        return None
    if not is_int(bid) or not isinstance(bid, int) or not 1 <= bid <= 100:
        r.report(
            "spot_bid_percentage", f"must be a whole number from 1 to 100 (% of the On-Demand price), got {kind(bid)}"
        )
        return None
    return bid
