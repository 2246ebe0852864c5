"""Figures the reliability and security suites measure, printed once at the end of the run.

A test calls ``figure(promise, measured)``; the root conftest prints every figure of the run under
"measured figures (reliability, security, conformance)" (docs/reliability.md quotes them). With pytest-xdist each worker
is its own process with its own list: the worker hands its figures to the controller when it
finishes (``workeroutput``), and the controller prints them all, sorted by promise so that the
summary reads the same whichever worker measured what.
"""

from __future__ import annotations

from typing import Any

_FIGURES: list[tuple[str, str]] = []
WORKER_OUTPUT_KEY = "reliability_figures"


def figure(promise: str, measured: str) -> None:
    """Record one measured figure; the run prints them all at its end."""
    _FIGURES.append((promise, measured))


def hand_to_controller(workeroutput: dict[str, Any]) -> None:
    """In an xdist worker: pass this worker's figures to the controller (JSON-able lists)."""
    workeroutput[WORKER_OUTPUT_KEY] = [list(pair) for pair in _FIGURES]


def receive_from_worker(workeroutput: dict[str, Any]) -> None:
    """In the xdist controller: add the figures a finished worker measured."""
    _FIGURES.extend((str(promise), str(measured)) for promise, measured in workeroutput.get(WORKER_OUTPUT_KEY, []))


def print_figures(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.write_sep("=", "measured figures (reliability, security, conformance)")
    for promise, measured in sorted(_FIGURES):
        terminalreporter.write_line(f"{promise}: {measured}")
