"""Pieces of workloads.yaml the tests render stacks with: one home for the sample job's container lines, and for the
coalescing workload (its table and the ``stack_workloads`` fixture that renders the stack with it)."""

from __future__ import annotations

import pytest

# The sample job (jobs/sample/job.py; the local job runner maps the image's /app to jobs/sample/) at the smallest
# Fargate size, as the indented lines of a workload entry: append it to "  - name: <name>" (and its match).
SAMPLE_CONTAINER = """
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60"""


def coalescing_workloads(*, window_seconds: int = 5, max_items: int = 100) -> str:
    """A workloads.yaml of one coalescing workload, ``frames``: its uploads (keys under frames/) are coalesced into
    one array run per ``window_seconds`` or ``max_items`` keys, each run on the sample job for up to 600 seconds."""
    return f"""\
workloads:
  - name: frames
    match: {{prefix: frames/}}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 600
    coalesce: {{window_seconds: {window_seconds}, max_items: {max_items}}}
"""


COALESCING_WORKLOADS = coalescing_workloads()


@pytest.fixture(name="stack_workloads")
def coalescing_stack_workloads() -> str:
    """``stack_workloads`` for a test module whose ``stack`` (tests/support/stack.py) has the coalescing workload:
    import this fixture into the module."""
    return COALESCING_WORKLOADS
