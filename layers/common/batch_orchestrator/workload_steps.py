"""Pipelines: a run that goes through several workloads in order, each one a step (``then:`` in workloads.yaml).

A pipeline is a chain of workloads: the first has the trigger (a key rule or schedules), each names the next with
``then``, and the steps after the first have no trigger of their own. Each step is a whole workload: its own job
definition, size, memory ladder, compute, retry policy, and ``array`` (fixed, or ``{manifest: previous-step}``: as
many children as the items of the manifest its previous step wrote). The orchestrator submits a step only when the
step before it SUCCEEDED (``tracking``), so a step retried under a new job id never strands its successors, which
Batch's ``dependsOn`` would (docs/workloads.md "Pipelines" says why it is not used).

Invariants (``pipeline_problems`` refuses a table that breaks one):

* ``then`` names another workload of the table, which no other workload names, and which has no trigger: a step runs
  only as its pipeline's next step. No chain loops back on itself.
* ``array: {manifest: previous-step}`` only on a step that has a previous step.
* A run numbers its attempts across its steps and its arrays' parts (1..``ids.MAX_RUN_ATTEMPT``, the job names'
  format): the ``retry.max_attempts`` of a pipeline's steps, each times its array's parts, add up to at most that.
* Where a step writes is a function of the run and the step (``step_output_prefix``): nothing is stored to pass
  outputs forward, and a step learns its own prefix and its previous step's from its environment
  (``step_environment``).

Pure: no boto3, no ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batch_orchestrator.array_parts import PART_SIZE, part_count
from batch_orchestrator.ids import MAX_RUN_ATTEMPT
from batch_orchestrator.workload_fields import WORKLOAD_NAME, kind
from batch_orchestrator.workloads import ManifestSource, Problem, Workload, WorkloadTable

THEN = "then"
# The object a step writes for a next step whose array is ``{manifest: previous-step}``, under its output prefix.
STEP_MANIFEST_NAME = "manifest"

Report = Callable[[str, str], None]  # (field, message)


def read_then(problem: Report, entry: Mapping[Any, Any]) -> str | None:
    """The entry's ``then``: the name of the workload that follows it, None when it has none (or a wrong one)."""
    if THEN not in entry:
        return None
    value = entry[THEN]
    if isinstance(value, str) and WORKLOAD_NAME.fullmatch(value):
        return value
    problem(THEN, f"must name the workload that runs after this one succeeds (a workload's name), got {kind(value)}")
    return None


def step_names(entries: object) -> frozenset[str]:
    """The names the raw entries' ``then`` give: the workloads that run as a later step (no trigger of their own)."""
    if not isinstance(entries, list | tuple):
        return frozenset()
    return frozenset(
        entry[THEN] for entry in entries if isinstance(entry, Mapping) and isinstance(entry.get(THEN), str)
    )


@dataclass(frozen=True)
class Pipeline:
    """The workloads of one pipeline, in order (the first has the trigger)."""

    steps: tuple[str, ...]

    def index(self, workload: str) -> int:
        return self.steps.index(workload)

    def describe(self, workload: str) -> str:
        """``render (step 2 of 3)``: how alerts and the CLI name a step."""
        return f"{workload} (step {self.index(workload) + 1} of {len(self.steps)})"


@dataclass(frozen=True)
class StepPosition:
    """Where a workload stands in its pipeline, as alerts and the CLI show it: ``render (step 2 of 3)``."""

    workload: str
    number: int  # 1-based
    count: int
    max_attempts: int  # the step's own retry.max_attempts (its attempts are counted from the step's start)

    def __str__(self) -> str:
        return f"{self.workload} (step {self.number} of {self.count})"


def step_position(table: WorkloadTable, workload: str) -> StepPosition | None:
    """Workload ``workload``'s place in its pipeline; None for a workload that is no step."""
    pipeline = pipeline_of(table, workload)
    found = table.get(workload)
    if pipeline is None or found is None:
        return None
    return StepPosition(workload, pipeline.index(workload) + 1, len(pipeline.steps), found.retry.max_attempts)


def _by_name(workloads: Sequence[Workload]) -> dict[str, Workload]:
    return {w.name: w for w in workloads}


def _previous(workloads: Sequence[Workload]) -> dict[str, str]:
    return {w.then: w.name for w in workloads if w.then is not None}


def pipeline_of(table: WorkloadTable, name: str) -> Pipeline | None:
    """The pipeline workload ``name`` is a step of; None for a workload that is no step (no ``then``, no previous).

    On a validated table the walk ends: every chain has a first step and no loop. On a table built by hand, a loop is
    cut where it closes.
    """
    workloads = table.workloads
    previous = _previous(workloads)
    by_name = _by_name(workloads)
    if name not in by_name or (by_name[name].then is None and name not in previous):
        return None
    first, seen = name, {name}
    while first in previous and previous[first] not in seen:
        first = previous[first]
        seen.add(first)
    steps = [first]
    current = by_name.get(first)
    while current is not None and current.then is not None and current.then not in steps:
        steps.append(current.then)
        current = by_name.get(current.then)
    return Pipeline(tuple(steps))


def pipeline_problems(workloads: Sequence[Workload], source: str) -> list[Problem]:
    """What is wrong with the table's pipelines (see the module docstring); [] for a table without any."""
    named_by, problems = _links(workloads, source)
    for workload in workloads:
        array = workload.array
        if array is not None and array.manifest is ManifestSource.PREVIOUS_STEP and workload.name not in named_by:
            message = "previous-step needs a previous step: name this workload in another workload's `then`"
            problems.append(Problem(workload.name, "array.manifest", message, source))
    if problems:
        return problems
    return _chain_problems(workloads, named_by, source)


def _links(workloads: Sequence[Workload], source: str) -> tuple[dict[str, str], list[Problem]]:
    """Each step's previous workload (by the step's name), and what is wrong with the ``then`` links themselves."""
    by_name = _by_name(workloads)
    named_by: dict[str, str] = {}
    problems: list[Problem] = []
    for workload in workloads:
        target = workload.then
        if target is None:
            continue
        message = ""
        if target == workload.name:
            message = "names this workload itself: a step cannot follow itself"
        elif target not in by_name:
            message = f"names {target!r}, which is not a workload of this table"
        elif target in named_by:
            message = f"{target!r} already follows {named_by[target]!r}: a workload is the next step of one only"
        elif by_name[target].key_rule is not None or by_name[target].schedules:
            message = (
                f"{target!r} has a trigger of its own (match or schedules): a later step runs only after its previous "
                "step succeeds, so remove its trigger"
            )
        if message:
            problems.append(Problem(workload.name, THEN, message, source))
        if target not in named_by and target in by_name and target != workload.name:
            named_by[target] = workload.name
    return named_by, problems


def _chain_problems(workloads: Sequence[Workload], named_by: Mapping[str, str], source: str) -> list[Problem]:
    """Loops, and pipelines that would number more attempts than a run can."""
    problems: list[Problem] = []
    by_name = _by_name(workloads)
    table = WorkloadTable(tuple(workloads))
    for first in (w for w in workloads if w.name not in named_by):
        pipeline = pipeline_of(table, first.name)
        steps = pipeline.steps if pipeline is not None else (first.name,)
        attempts = sum(run_attempts(by_name[step]) for step in steps)
        if attempts > MAX_RUN_ATTEMPT:
            what = f"the pipeline {' -> '.join(steps)}" if pipeline is not None else "a run"
            message = (
                f"{what} allows {attempts} attempts in all (each step's retry.max_attempts, times the parts of an "
                f"array of more than {PART_SIZE:,} items), over the {MAX_RUN_ATTEMPT} a run can number: lower "
                "max_attempts, or the array's size"
            )
            field = THEN if pipeline is not None else "retry.max_attempts"
            problems.append(Problem(first.name, field, message, source))
    for workload in workloads:
        pipeline = pipeline_of(table, workload.name)
        if workload.name in named_by and pipeline is not None and pipeline.steps[0] in named_by:
            # Every step of the chain follows another: a loop, which no trigger starts.
            message = f"the steps {' -> '.join(pipeline.steps)} loop back on themselves, so no trigger ever starts them"
            problems.append(Problem(workload.name, THEN, message, source))
            break
    return problems


def run_attempts(workload: Workload) -> int:
    """The most attempts a run may make of ``workload``: its max_attempts for each part of its array (a manifest's
    size is known only at run time, where the submit path checks it: counted here as one part)."""
    size = workload.array.size if workload.array is not None and workload.array.size is not None else 0
    return part_count(size) * workload.retry.max_attempts


def later_steps_attempts(table: WorkloadTable, workload: str) -> int:
    """The most attempts the pipeline steps after ``workload`` may take (0 for its last step, or outside pipelines)."""
    pipeline = pipeline_of(table, workload)
    if pipeline is None:
        return 0
    later = pipeline.steps[pipeline.index(workload) + 1 :]
    return sum(run_attempts(step) for name in later if (step := table.get(name)) is not None)


def step_output_prefix(output_prefix: str, run_id: str, step: str) -> str:
    """Where step ``step`` of run ``run_id`` writes: ``<OutputPrefix><run id>/<step>/`` (never routed: under the
    output prefix)."""
    return f"{output_prefix}{run_id}/{step}/"


def step_manifest_key(output_prefix: str, run_id: str, step: str) -> str:
    """The manifest step ``step`` writes for a next step whose array is ``{manifest: previous-step}``."""
    return step_output_prefix(output_prefix, run_id, step) + STEP_MANIFEST_NAME


def step_environment(table: WorkloadTable, workload: str, *, run_id: str, output_prefix: str) -> dict[str, str]:
    """What a step's job learns of its pipeline ({} for a workload that is no step):

    STEP_NAME, STEP_NUMBER (1-based), STEP_COUNT (the submit path adds STEP_ATTEMPT); STEP_OUTPUT_PREFIX (where it
    writes: a key prefix of OUTPUT_BUCKET); PREVIOUS_STEP_OUTPUT_PREFIX (from step 2 on); STEP_MANIFEST_KEY when the
    next step's array is its manifest (where to write it); MANIFEST_KEY when its own array is its previous step's
    manifest (where each child reads its item).
    """
    pipeline = pipeline_of(table, workload)
    if pipeline is None:
        return {}
    index = pipeline.index(workload)
    env = {
        "STEP_NAME": workload,
        "STEP_NUMBER": str(index + 1),
        "STEP_COUNT": str(len(pipeline.steps)),
        "STEP_OUTPUT_PREFIX": step_output_prefix(output_prefix, run_id, workload),
    }
    if index > 0:
        previous = pipeline.steps[index - 1]
        env["PREVIOUS_STEP_OUTPUT_PREFIX"] = step_output_prefix(output_prefix, run_id, previous)
        if reads_previous_manifest(table.get(workload)):
            env["MANIFEST_KEY"] = step_manifest_key(output_prefix, run_id, previous)
    if index + 1 < len(pipeline.steps) and reads_previous_manifest(table.get(pipeline.steps[index + 1])):
        env["STEP_MANIFEST_KEY"] = step_manifest_key(output_prefix, run_id, workload)
    return env


def reads_previous_manifest(workload: Workload | None) -> bool:
    return (
        workload is not None and workload.array is not None and workload.array.manifest is ManifestSource.PREVIOUS_STEP
    )
