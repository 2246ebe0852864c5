"""Fixtures for every test: hermetic AWS settings, a Lambda context, and clean global state."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import figures

# Powertools reads these when its Logger and Metrics are created, which is when the shared package is
# first imported: set them before any test imports it (the values are the template's Globals).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "batch-orchestrator")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BatchOrchestrator")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


# Tests that create the stack of template.yaml in moto, run the local pipeline or serve, or run an
# external tool take seconds each: they are marked `slow`, and `make check` leaves them to `make test`
# (`-m "not slow"`). Whole suites are built that way; elsewhere a test is slow if it uses the stack or
# pipeline fixture, or its module says `pytestmark = pytest.mark.slow`.
EMULATOR_SUITES = frozenset({"integration", "e2e", "reliability", "cli"})
EMULATOR_FIXTURES = frozenset({"stack", "pipeline"})
_TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(item.path).resolve().relative_to(_TESTS_DIR).parts[0]
        if suite in EMULATOR_SUITES or EMULATOR_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _hermetic_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region: no test can reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "BatchOrchestrator")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "batch-orchestrator")


@pytest.fixture(autouse=True)
def _reset_global_state() -> Iterator[None]:
    """Cached AWS clients and buffered metrics must not leak from one test into the next."""
    from batch_orchestrator.adapters.aws import reset_clients
    from batch_orchestrator.observability import metrics

    reset_clients()
    metrics.clear_metrics()
    yield
    reset_clients()
    metrics.clear_metrics()


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/21/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand this worker's measured figures to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        figures.hand_to_controller(workeroutput)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: pytest without xdist never calls it
def pytest_testnodedown(node: Any, error: Any) -> None:
    figures.receive_from_worker(getattr(node, "workeroutput", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figure of every promise measured in this run (docs/reliability.md quotes them)."""
    figures.print_figures(terminalreporter)
