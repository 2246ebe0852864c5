"""Unit fixtures: the watchdog's sweep on both runs tables, for the test_watchdog*.py modules (see
tests/support/sweeps.py). A module that defines a fixture of the same name uses its own."""

from tests.support.sweeps import alerts, batch, resubmit_queue, retry_queue, runs, sweep_at

__all__ = ["alerts", "batch", "resubmit_queue", "retry_queue", "runs", "sweep_at"]  # fixtures, re-exported for pytest
