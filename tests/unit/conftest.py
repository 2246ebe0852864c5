"""Unit fixtures: the watchdog's sweep on both runs tables, for the test_watchdog*.py modules (see
tests/support/sweeps.py), and ``store``, the runs table as the fake and as RunsTable on moto, for the modules that hold
the fake to the adapter (test_fake_runs_*.py). A module that defines a fixture of the same name uses its own."""

from collections.abc import Iterator

import pytest

from tests.support.aws_doubles import ReadableRunsTable, runs_table_in_moto
from tests.support.fakes import FakeWatchdogStore
from tests.support.sweeps import alerts, batch, resubmit_queue, retry_queue, runs, sweep_at

__all__ = ["alerts", "batch", "resubmit_queue", "retry_queue", "runs", "sweep_at"]  # fixtures, re-exported for pytest


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[FakeWatchdogStore | ReadableRunsTable]:
    """The runs table twice: the in-memory fake, and the RunsTable adapter on a moto table shaped like template.yaml's;
    a test using it holds both to the same assertions."""
    if request.param == "memory":
        yield FakeWatchdogStore()
    else:
        with runs_table_in_moto() as table:
            yield table
