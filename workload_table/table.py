"""workloads.yaml's text -> the validated WorkloadTable, with every problem as one line.

The file's shape is ``workloads: [<workload>, ...]`` and, when some workload has ``compute: {type: ec2}``,
``ec2_compute: {...}`` (``workload_ec2.parse_ec2_compute``), and nothing else. Each workload is parsed by the
layer's ``parse_workloads`` (the parser the functions run on the WORKLOADS variable at cold start) and
the table checked by ``validate_table``, so the table ``make validate`` accepts is the one the
functions accept. ``with_stack_default`` adds what only the stack's parameters tell: the default
workload's key rule (InputPrefix) and the output prefix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import yaml

from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.workload_ec2 import parse_ec2_compute
from batch_orchestrator.workloads import (
    DEFAULT_WORKLOAD,
    KeyRule,
    Problem,
    Size,
    Workload,
    WorkloadTable,
    WorkloadTableError,
    parse_workloads,
    validate_table,
)

TOP_LEVEL_KEYS = frozenset({"workloads", "ec2_compute"})


def load_table(text: str, *, source: str = "workloads.yaml") -> WorkloadTable:
    """Parse and validate the file's text; WorkloadTableError lists every problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        message = "not valid YAML: " + " ".join(str(exc).split())
        raise WorkloadTableError([Problem("", "(file)", message, source)]) from exc
    if not isinstance(document, dict):
        message = "expected a mapping with one key, workloads (`workloads: []` for none)"
        raise WorkloadTableError([Problem("", "(file)", message, source)])
    problems = [
        Problem("", str(key), "unknown key (the file holds only `workloads:` and `ec2_compute:`)", source)
        for key in document
        if key not in TOP_LEVEL_KEYS
    ]
    entries = document.get("workloads")
    if not isinstance(entries, list):
        message = "missing" if "workloads" not in document else "must be a list"
        problems.append(Problem("", "workloads", f"{message} (write `workloads: []` for none)", source))
        entries = []
    try:
        workloads = parse_workloads(entries, source=source, runtime=False)
    except WorkloadTableError as exc:
        raise WorkloadTableError([*problems, *exc.problems]) from exc
    ec2_compute, ec2_problems = parse_ec2_compute(
        document.get("ec2_compute"), workloads, present="ec2_compute" in document, source=source
    )
    problems += ec2_problems
    try:
        table = validate_table(workloads, source=source)
    except WorkloadTableError as exc:
        raise WorkloadTableError([*problems, *exc.problems]) from exc
    if problems:
        raise WorkloadTableError(problems)
    return copy.replace(table, ec2_compute=ec2_compute)


def with_stack_default(table: WorkloadTable, parameters: Mapping[str, str], *, source: str) -> WorkloadTable:
    """The table with the default workload of these parameters (InputPrefix, OutputPrefix) as cold start builds it.

    Only the default's key rule and the output prefix matter to what ``with_default`` checks (ambiguity
    with the default's rule; rules whose every key is under the output prefix); its size and retry
    policy here are placeholders, not the stack's.
    """
    default = Workload(
        name=DEFAULT_WORKLOAD,
        key_rule=KeyRule(prefix=parameters.get("InputPrefix", "")),
        schedules=(),
        ladder=(Size(parameters.get("JobVcpu", "0.5"), int(parameters.get("JobMemory", "1024"))),),
        timeout_seconds=int(parameters.get("JobTimeoutSeconds", "3600")),
        retry=RetryPolicy(ExitCodeSet(), max_attempts=1, base_delay_seconds=0, max_delay_seconds=0),
    )
    return table.with_default(default, output_prefix=parameters.get("OutputPrefix", ""), source=source)
