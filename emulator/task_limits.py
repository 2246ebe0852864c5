"""SIMULATED: what Fargate does to a running task besides running it — its memory limit, and Spot capacity
taken back. The local job runner (``emulator.runner``) applies both to the local process standing in for a task.

* Resources. A job's vCPU and MEMORY are the job definition's ``resourceRequirements``, replaced type by type
  by SubmitJob's ``containerOverrides.resourceRequirements`` (``effective_resource_requirements``); DescribeJobs
  and the job's events show the effective ones in ``container.resourceRequirements``. vCPU is recorded, not
  enforced (a local process uses what the machine gives it).
* Memory. Fargate stops a container that uses more memory than its task has: the container exits 137 and its
  reason is ``OUT_OF_MEMORY_REASON`` (Amazon ECS developer guide, "Troubleshooting Amazon ECS OutOfMemoryError
  errors": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/out-of-memory.html). The runner polls
  the resident memory of the task's whole process tree (``group_resident_mib``: VmRSS of the process and
  its descendants, every ``MEMORY_POLL_SECONDS``) and SIGKILLs the group once it is over the
  limit. A spike shorter than one poll can go unseen, where the kernel's cgroup limit would not miss it.
* Spot. When AWS takes Fargate Spot capacity back, the task gets SIGTERM (a two-minute notice; the container
  is killed once its stopTimeout ends) and stops with the reason ``SPOT_INTERRUPTED_STATUS_REASON``, which
  Batch reports as the attempt's ``statusReason`` (AWS Knowledge Center, "How do I handle Spot termination
  notices in AWS Fargate Spot tasks?": https://repost.aws/knowledge-center/fargate-spot-termination-notice).
  So the runner stops an interrupted task the way ECS StopTask does (SIGTERM, then SIGKILL after the grace
  period) and reports the exit code the container gave: 143 for a process that ends on SIGTERM. We chose the
  SIGTERM path (an exit code present) over "no exit code" because it is what a container that handles the
  notice produces, and it is the harder case for the orchestrator: 143 may be among a workload's retryable
  exit codes, and the Spot reason must still win. Interruptions never happen by themselves here: they are
  injected, ``SpotInterruptions(n)`` interrupts the first ``n`` Spot tasks of every run.

Invariant: nothing here changes a job that fits its memory and runs On-Demand; every simulated stop carries
the exit code and reasons AWS documents for it.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT_OF_MEMORY_EXIT_CODE = 137  # SIGKILL, as Docker reports it
OUT_OF_MEMORY_REASON = "OutOfMemoryError: Container killed due to memory usage"
SPOT_INTERRUPTED_STATUS_REASON = "Your Spot Task was interrupted."
SPOT_COMPUTE_TYPES = frozenset({"FARGATE_SPOT"})  # EC2 Spot ("Host EC2 ... terminated.") is not simulated
MEMORY_POLL_SECONDS = 0.05
_PROC = Path("/proc")
_KIB_PER_MIB = 1024


# ------------------------------------------------------------------------------------------- resources
@dataclass(frozen=True)
class TaskResources:
    """The vCPU and memory one attempt of a job runs with (None: the job definition names none)."""

    vcpu: str | None = None
    memory_mib: int | None = None

    def describe(self) -> str:
        parts = []
        if self.vcpu is not None:
            parts.append(f"{self.vcpu} vCPU")
        if self.memory_mib is not None:
            parts.append(f"{self.memory_mib} MiB")
        return ", ".join(parts) or "no resource requirements"


def effective_resource_requirements(
    definition: Sequence[Mapping[str, Any]], overrides: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """The job definition's ``resourceRequirements`` with each type SubmitJob overrides replaced (AWS Batch
    SubmitJob, ``containerOverrides.resourceRequirements``: "This overrides the settings in the job
    definition"). Values are strings, as Batch returns them; order: the definition's, then new types."""
    merged: dict[str, str] = {}
    for requirement in [*definition, *overrides]:
        kind, value = requirement.get("type"), requirement.get("value")
        if kind is not None and value is not None:
            merged[str(kind).upper()] = str(value)
    return [{"type": kind, "value": value} for kind, value in merged.items()]


def task_resources(container: Mapping[str, Any]) -> TaskResources:
    """The resources of a DescribeJobs ``container`` (its effective ``resourceRequirements``)."""
    found = {str(r.get("type", "")).upper(): str(r.get("value")) for r in container.get("resourceRequirements") or []}
    memory = found.get("MEMORY")
    return TaskResources(vcpu=found.get("VCPU"), memory_mib=int(float(memory)) if memory is not None else None)


# ---------------------------------------------------------------------------------------------- memory
def group_resident_mib(pgid: int) -> float | None:
    """Resident memory (MiB) of the task whose process group ``pgid`` the runner started (its leader's pid is
    ``pgid``); None when it cannot be read.

    Linux: VmRSS (/proc/<pid>/status) of the leader and all its descendants (/proc/<pid>/task/<tid>/children,
    a few files, cheap enough to read every MEMORY_POLL_SECONDS); without that file, of every process whose
    /proc/<pid>/stat names the group (a scan of /proc). A descendant whose parent ended is re-parented out of
    the tree and no longer counted: a daemonised grandchild escapes, where a cgroup would not let it. Elsewhere
    (macOS): ``ps``'s RSS column for the group.
    """
    if not _PROC.is_dir():
        return _ps_group_kib(pgid)
    if (_PROC / str(pgid) / "task" / str(pgid) / "children").exists():
        return sum(_resident_kib(pid) for pid in _descendants(pgid)) / _KIB_PER_MIB
    return sum(_resident_kib(pid) for pid in _group_members(pgid)) / _KIB_PER_MIB


def _descendants(leader: int) -> list[int]:
    found, pending = [], [leader]
    while pending:
        pid = pending.pop()
        found.append(pid)
        with contextlib.suppress(OSError, ValueError):  # a process may end while it is read
            for task in (_PROC / str(pid) / "task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
            if int(fields[2]) == pgid:  # state, ppid, pgrp
                members.append(int(entry.name))
    return members


def _resident_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])  # kB
    return 0  # ended, or a zombie (no VmRSS)


def _ps_group_kib(pgid: int) -> float | None:
    try:
        listing = subprocess.run(
            ["ps", "-A", "-o", "pgid=,rss="],  # noqa: S607 - ps from PATH, fixed arguments
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == str(pgid):
            total += int(parts[1])  # KiB
    return total / _KIB_PER_MIB


def over_memory(pgid: int, memory_mib: int) -> float | None:
    """The group's resident MiB when it is over ``memory_mib``; None when it fits (or cannot be read)."""
    used = group_resident_mib(pgid)
    return used if used is not None and used > memory_mib else None


# ------------------------------------------------------------------------------------------------ Spot
class SpotInterruptions:
    """Injected Spot interruptions: the first ``count`` tasks of each run that start on Spot capacity are
    interrupted, the later ones run (count 0: none ever is). A job without a run is its own run. Thread-safe."""

    def __init__(self, count: int = 0) -> None:
        if count < 0:
            raise ValueError(f"interrupt_spot must be 0 or more, not {count}")
        self.count = count
        self._lock = threading.Lock()
        self._done: dict[str, int] = {}

    def take(self, run_key: str) -> bool:
        """Whether the task starting now for ``run_key`` on Spot capacity is to be interrupted."""
        with self._lock:
            done = self._done.get(run_key, 0)
            if done >= self.count:
                return False
            self._done[run_key] = done + 1
            return True


def queue_uses_spot(batch_client: Any, job_queue: str) -> bool:
    """Whether a job queue's first compute environment is Fargate Spot (DescribeJobQueues, then
    DescribeComputeEnvironments; the environment's ``computeResources.type``)."""
    queues = batch_client.describe_job_queues(jobQueues=[job_queue])["jobQueues"]
    order = sorted(queues[0].get("computeEnvironmentOrder") or [], key=lambda item: int(item.get("order", 0)))
    if not order:
        return False
    environments = batch_client.describe_compute_environments(computeEnvironments=[order[0]["computeEnvironment"]])
    found = environments["computeEnvironments"]
    return bool(found) and (found[0].get("computeResources") or {}).get("type") in SPOT_COMPUTE_TYPES
