"""Security suite: the transformed template, hostile input keys, checkov (see tests/reliability/harness.py)."""

from typing import Any

from tests.reliability.harness import logs, print_figures, stack

__all__ = ["logs", "stack"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figure of every promise measured in this run (the README's Reliability table)."""
    print_figures(terminalreporter)
