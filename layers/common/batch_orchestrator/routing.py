"""Which workload an upload runs as: decided in memory, so routing costs no AWS call.

Invariants: a key goes to the workload whose key rule matches it most specifically (the table refuses
ambiguous rules, and never routes a key under the output prefix: see ``workloads``); a key nobody takes
is answered ``NoWorkload`` with the reason, for submit_jobs to count and log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from batch_orchestrator.attempt_plan import first_plan
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan
from batch_orchestrator.workloads import NoWorkload, Workload, WorkloadTable


class Router(Protocol):
    def plan_for(self, key: str) -> AttemptPlan | NoWorkload:
        """The first attempt's plan of an upload of ``key``, or why no workload takes it."""
        ...

    def coalesces(self, workload: str) -> bool:
        """Whether the uploads of ``workload`` are coalesced into array jobs (``coalesce``) rather than submitted."""
        ...

    def workload(self, name: str) -> Workload | None:
        """The workload called ``name``, which a run request names (``run_requests``); None: no such workload."""
        ...


@dataclass(frozen=True)
class UploadRoutes:
    """The stack's routing: the workload table's key rules (``WorkloadTable.route``)."""

    table: WorkloadTable

    def plan_for(self, key: str) -> AttemptPlan | NoWorkload:
        routed = self.table.route(key)
        return routed if isinstance(routed, NoWorkload) else first_plan(routed)

    def coalesces(self, workload: str) -> bool:
        found = self.table.get(workload)
        return found is not None and found.coalesce is not None

    def workload(self, name: str) -> Workload | None:
        return self.table.get(name)


@dataclass(frozen=True)
class InputPrefixOnly:
    """The default workload alone, under the stack's input prefix: for callers that know a stack's
    INPUT_PREFIX and not its workload table (progress reports, tools); the functions use UploadRoutes."""

    input_prefix: str

    def plan_for(self, key: str) -> AttemptPlan | NoWorkload:
        if key.startswith(self.input_prefix):
            return DEFAULT_PLAN
        return NoWorkload(key=key, reason=f"key is outside the input prefix {self.input_prefix!r}")

    def coalesces(self, workload: str) -> bool:
        return False

    def workload(self, name: str) -> Workload | None:
        return None  # no table: every run request is refused
