"""Conformance suite: the template as AWS would resolve and authorise it (see resolve.py and iam.py)."""

from typing import Any

from tests.reliability.harness import print_figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures this suite measured (with the reliability and security ones, once)."""
    print_figures(terminalreporter)
