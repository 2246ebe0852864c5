"""The vCPU/memory combinations a Fargate job may ask for, and how to say which ones a vCPU accepts.

Batch on Fargate accepts only fixed pairs (``resourceRequirements`` VCPU and MEMORY, in the job
definition or in SubmitJob's ``containerOverrides``) and refuses any other pair. Invariant:
``MEMORY_BY_VCPU`` is the whole table, written once; the template's JobVcpu/JobMemory parameters and
its Rules describe the same pairs (see the JobMemory parameter's description).

Source: https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html ("For jobs
that are running on Fargate resources, then value must match one of the supported values and the
MEMORY values must be one of the values supported for that VCPU value"), which lists these pairs. The
page also lists 32 vCPU (61440, 122880 or 249856 MiB); the stack offers at most 16, like its JobVcpu
parameter, so a workload cannot ask for a size the default workload could not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_GIB = 1024


def _steps(low: int, high: int, step: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1, step))


# vCPU as Batch writes it (a string) -> the memory values in MiB it accepts, ascending.
MEMORY_BY_VCPU: Mapping[str, tuple[int, ...]] = {
    "0.25": (512, 1 * _GIB, 2 * _GIB),
    "0.5": _steps(1 * _GIB, 4 * _GIB, _GIB),
    "1": _steps(2 * _GIB, 8 * _GIB, _GIB),
    "2": _steps(4 * _GIB, 16 * _GIB, _GIB),
    "4": _steps(8 * _GIB, 30 * _GIB, _GIB),
    "8": _steps(16 * _GIB, 60 * _GIB, 4 * _GIB),
    "16": _steps(32 * _GIB, 120 * _GIB, 8 * _GIB),
}
VCPU_VALUES: tuple[str, ...] = tuple(MEMORY_BY_VCPU)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def canonical_vcpu(value: object) -> str | None:
    """The vCPU as Batch writes it ("0.25", "1", ...) for a value Fargate accepts; None otherwise.

    Accepts the canonical strings, other decimal spellings of them ("1.0", "0.50") and numbers
    (YAML reads ``vcpu: 1`` as an int and ``vcpu: 0.5`` as a float). A bool is not a number here.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            return None
        number = float(value)
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    for vcpu in VCPU_VALUES:
        if float(vcpu) == number:
            return vcpu
    return None


def is_fargate_size(vcpu: str, memory_mib: int) -> bool:
    return memory_mib in MEMORY_BY_VCPU.get(vcpu, ())


def describe_memory_choices(vcpu: str) -> str:
    """The memory values ``vcpu`` accepts, in words: "512, 1024 or 2048" or "4096 to 16384 in steps of 1024"."""
    choices = MEMORY_BY_VCPU[vcpu]
    if len(choices) <= 3:
        return ", ".join(str(m) for m in choices[:-1]) + f" or {choices[-1]}"
    return f"{choices[0]} to {choices[-1]} in steps of {choices[1] - choices[0]}"


def vcpus_accepting(memory_mib: int) -> tuple[str, ...]:
    """Every vCPU value that accepts ``memory_mib`` (empty when no Fargate size has that memory)."""
    return tuple(vcpu for vcpu, choices in MEMORY_BY_VCPU.items() if memory_mib in choices)
