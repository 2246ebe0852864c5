"""Reliability suite: the stack of template.yaml in moto, under injected faults (see harness.py)."""

from typing import Any

from tests.reliability.harness import logs, print_figures, stack

__all__ = ["logs", "stack"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figure of every promise measured in this run (the README's Reliability table)."""
    print_figures(terminalreporter)
