"""What `orchestrator smoke` reports: one outcome per step, a table, a one-line verdict, an exit code.

The exit code says only whether something FAILED: a step that could not be verified (NOT VERIFIED)
or did not apply (SKIPPED) does not fail the smoke test, but the verdict names it, so "passed" is
never claimed for a path that was not exercised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator_cli.errors import ExitCode
from orchestrator_cli.render import table


class Result(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    NOT_VERIFIED = "NOT VERIFIED"


@dataclass(frozen=True)
class StepOutcome:
    """One step's result; a FAILED or NOT VERIFIED step says what was expected, what was seen, where to look."""

    number: int
    name: str
    result: Result
    seconds: float
    detail: str
    expected: str | None = None
    seen: str | None = None
    look_at: tuple[str, ...] = ()
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "name": self.name,
            "result": self.result.value,
            "seconds": round(self.seconds, 1),
            "detail": self.detail,
            "expected": self.expected,
            "seen": self.seen,
            "lookAt": list(self.look_at),
            "runId": self.run_id,
        }


@dataclass(frozen=True)
class Verdict:
    text: str
    exit_code: int


@dataclass
class SmokeReport:
    stack_name: str
    region: str
    smoke_id: str
    outcomes: list[StepOutcome]
    removed: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    kept: bool = False
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    def verdict(self) -> Verdict:
        return verdict_of(self.outcomes, interrupted=self.interrupted)

    def to_json(self) -> dict[str, Any]:
        verdict = self.verdict()
        return {
            "stackName": self.stack_name,
            "region": self.region,
            "smokeId": self.smoke_id,
            "steps": [outcome.to_json() for outcome in self.outcomes],
            "verdict": verdict.text,
            "exitCode": verdict.exit_code,
            "interrupted": self.interrupted,
            "kept": self.kept,
            "removed": self.removed,
            "leftBehind": self.left_behind,
            "notes": self.notes,
        }


def verdict_of(outcomes: Sequence[StepOutcome], *, interrupted: bool = False) -> Verdict:
    """The one-line verdict and the exit code: 0 only if no step FAILED (and nobody pressed Ctrl-C)."""
    failed = [o for o in outcomes if o.result is Result.FAILED]
    unverified = [o for o in outcomes if o.result is Result.NOT_VERIFIED]
    skipped = [o for o in outcomes if o.result is Result.SKIPPED]
    caveats = [f"NOT VERIFIED: {o.name}" for o in unverified] + [f"skipped: {o.name}" for o in skipped]
    suffix = f" ({'; '.join(caveats)})" if caveats else ""
    if interrupted:
        return Verdict("SMOKE INTERRUPTED: stopped by Ctrl-C before every step finished.", ExitCode.INTERRUPTED)
    if failed:
        names = ", ".join(f"step {o.number} ({o.name})" for o in failed)
        return Verdict(f"SMOKE FAILED: {names} failed{suffix}.", ExitCode.CHECK_FAILED)
    if unverified:
        return Verdict(f"SMOKE PASSED WITH GAPS: nothing failed, but not everything was verified{suffix}.", ExitCode.OK)
    return Verdict(f"SMOKE PASSED: every step that applies passed{suffix}.", ExitCode.OK)


def render_text(report: SmokeReport) -> list[str]:
    """The table, the explanations of FAILED and NOT VERIFIED steps, what was removed, the verdict."""
    lines = [f"Smoke test of stack {report.stack_name} ({report.region}), smoke id {report.smoke_id}", ""]
    rows = [
        [f"{o.number} {o.name}", o.result.value, f"{o.seconds:.1f}", o.detail]
        for o in sorted(report.outcomes, key=lambda o: o.number)
    ]
    lines += table(["STEP", "RESULT", "SECONDS", "DETAIL"], rows)
    for outcome in report.outcomes:
        if outcome.result in (Result.FAILED, Result.NOT_VERIFIED):
            lines += ["", f"Step {outcome.number} ({outcome.name}) {outcome.result.value}:"]
            lines += [f"  expected: {outcome.expected}"] if outcome.expected else []
            lines += [f"  seen:     {outcome.seen}"] if outcome.seen else []
            lines += [f"  look at:  {where}" for where in outcome.look_at]
    if report.kept:
        lines += ["", "Kept for debugging (--keep); remove them by hand when done:"]
        lines += [f"  {item}" for item in report.left_behind] or ["  (nothing was created)"]
    else:
        lines += ["", "Removed what the smoke test created:" if report.removed else "Nothing to remove."]
        lines += [f"  {item}" for item in report.removed]
        if report.left_behind:
            lines += ["Could NOT remove (remove by hand):"] + [f"  {item}" for item in report.left_behind]
    lines += [f"Note: {note}" for note in report.notes]
    lines += ["", report.verdict().text]
    return lines
