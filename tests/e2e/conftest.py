"""End-to-end fixtures: the whole pipeline of template.yaml running locally, one per test.

``pipeline`` is a started ``emulator.pipeline.LocalPipeline``: a moto server on a free loopback
port in this process, the stack created in it with ``LOCAL_PARAMETERS`` (the sample job as the
job command, RetryExitCodes=75, MaxAttempts=3, RetryBaseDelaySeconds=1), the functions run
in-process, and jobs run by the local job runner (SIMULATED AWS Batch/Fargate). It is stopped,
with every thread and process it started, when the test ends, pass or fail.

    @pytest.mark.parametrize("pipeline_parameters", [{"MaxAttempts": "2"}], indirect=True)
    def test_something(pipeline): ...        # template parameter overrides

    @pytest.fixture
    def pipeline_workloads() -> str:         # in a test module: template.yaml rendered with this
        return WORKLOADS_YAML                # workloads table (in memory) is the stack

    @pytest.fixture
    def pipeline_interrupt_spot() -> int:    # the local job runner interrupts the first N Spot
        return 1                             # tasks of every run (SIMULATED; default 0)

``stack`` (with ``stack_parameters`` and the autouse ``aws_env``) is tests/support/stack.py's: the stack alone,
in an in-process moto, for tests that read what the emulator created without running jobs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.pipeline import LocalPipeline
from tests.support.stack import aws_env, stack, stack_parameters  # noqa: F401 - fixtures of this suite too

RUN_TIMEOUT = 45.0  # seconds a run may take end to end; a run takes 1 to 5 here
IDLE_TIMEOUT = 30.0


@pytest.fixture
def pipeline_parameters(request: pytest.FixtureRequest) -> dict[str, str]:
    return {name: str(value) for name, value in getattr(request, "param", {}).items()}


@pytest.fixture
def pipeline_workloads(request: pytest.FixtureRequest) -> str | None:
    """The text of a workloads.yaml the stack's template is rendered with (None: template.yaml as it is)."""
    value = getattr(request, "param", None)
    return None if value is None else str(value)


@pytest.fixture
def pipeline_interrupt_spot(request: pytest.FixtureRequest) -> int:
    return int(getattr(request, "param", 0))


@pytest.fixture
def pipeline(
    pipeline_parameters: dict[str, str], pipeline_workloads: str | None, pipeline_interrupt_spot: int
) -> Iterator[LocalPipeline]:
    running = LocalPipeline(
        pipeline_parameters, workloads_yaml=pipeline_workloads, interrupt_spot=pipeline_interrupt_spot
    ).start()
    try:
        yield running
    finally:
        running.stop()


def result_object(pipeline: LocalPipeline, run_id: str) -> dict[str, Any]:
    """The JSON the sample job wrote for the run (OUTPUT_PREFIX + RUN_ID + /result.json)."""
    outputs = pipeline.stack.outputs
    body = (
        pipeline.stack.client("s3")
        .get_object(Bucket=outputs["InputBucketName"], Key=f"{outputs['OutputPrefix']}{run_id}/result.json")["Body"]
        .read()
    )
    result: dict[str, Any] = json.loads(body)
    return result


def wait_for_status(pipeline: LocalPipeline, run_id: str, status: str, *, timeout: float = RUN_TIMEOUT) -> None:
    """Block until the run has been seen in ``status`` (bounded polling of the recorded changes)."""
    deadline = time.monotonic() + timeout
    while status not in [change.status for change in pipeline.changes(run_id)]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} not {status} after {timeout} s: {pipeline.changes(run_id)}")
        time.sleep(0.05)
