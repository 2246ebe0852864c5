"""How Batch judges an attempt that ended: its exit code as Docker reports it, and the retry decision.

Owns the two rules the local runner applies where Batch would: a process's return code becomes the
container's exit code (``container_exit_code``: 128 + N for signal N), and the job definition's
``retryStrategy.evaluateOnExit`` decides RETRY or EXIT (``evaluate_on_exit``). Both are pure; the
invariant is that a failure no rule matches is retried, as Batch documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def container_exit_code(return_code: int) -> int:
    """A process's return code as Docker reports a container's: 128 + N when killed by signal N."""
    return 128 - return_code if return_code < 0 else return_code


def evaluate_on_exit(
    rules: Sequence[Mapping[str, Any]], *, exit_code: int | None, reason: str | None, status_reason: str | None
) -> str:
    """Batch's ``retryStrategy.evaluateOnExit``: the action of the first rule whose conditions all
    match, else RETRY (documented: "If none of the EvaluateOnExit conditions match, the job is
    retried"). A pattern is exact, or a prefix when it ends with ``*``. ASSUMPTION (undocumented):
    a missing value is matched as an empty string, so ``*`` matches a failure without a reason."""
    values = {
        "onExitCode": "" if exit_code is None else str(exit_code),
        "onReason": reason or "",
        "onStatusReason": status_reason or "",
    }
    for rule in rules:
        keys = {_lower_first(key): value for key, value in rule.items()}
        conditions = {key: str(keys[key]) for key in values if key in keys}
        if all(_glob_matches(pattern, values[key]) for key, pattern in conditions.items()):
            return str(keys.get("action", "RETRY")).upper()
    return "RETRY"


def _glob_matches(pattern: str, value: str) -> bool:
    return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
