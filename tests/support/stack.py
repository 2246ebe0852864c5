"""The ``stack`` fixture: template.yaml created in a fresh in-process moto for each test, and its parameters.

    def test_something(stack):                                   # defaults of template.yaml
        ...

    @pytest.mark.stack_params(MaxAttempts="3", RetryExitCodes="3")
    def test_retry(stack): ...                                   # parameter overrides

    @pytest.mark.parametrize("stack_parameters", [{"ScheduleEnabled": "true"}], indirect=True)
    def test_schedule(stack): ...                                # the same, via parametrize

    @pytest.fixture
    def stack_workloads() -> str:                                # in a test module: the stack of template.yaml
        return TWO_WORKLOADS_YAML                                # rendered with this workloads table

    @pytest.mark.parametrize("stack_workloads", [TABLE], indirect=True)   # the same, per test (import
    def test_table(stack): ...                                   # stack_workloads from here for that)

``stack`` is an ``emulator.EmulatedStack``: outputs, resources, function_environment(...), and
``emulator.invoke_handler`` / ``deliver_sqs_batch`` run the handlers against it. A suite's conftest.py
re-exports ``aws_env``, ``stack_parameters`` and ``stack`` (integration, cli, reliability, security);
``aws_env`` is autouse wherever it is re-exported.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from batch_orchestrator.adapters import aws
from emulator import EmulatedStack, deploy_stack
from emulator.stack import MOTO_CONFIG
from emulator.template import render_workloads

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_env(_hermetic_aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake credentials and us-east-1 (the root conftest's ``_hermetic_aws``), and no leftover
    switch that makes moto's Batch fail jobs (tests opt in with monkeypatch)."""
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", raising=False)
    return {"region": REGION}


@pytest.fixture
def stack_parameters(request: pytest.FixtureRequest) -> dict[str, str]:
    """Template parameter overrides from ``@pytest.mark.stack_params`` (nearest mark wins) or from
    ``parametrize(..., indirect=True)``."""
    parameters: dict[str, str] = {}
    for mark in reversed(list(request.node.iter_markers("stack_params"))):
        parameters.update({name: str(value) for name, value in mark.kwargs.items()})
    parameters.update({name: str(value) for name, value in getattr(request, "param", {}).items()})
    return parameters


@pytest.fixture
def stack_workloads(request: pytest.FixtureRequest) -> str | None:
    """The text of a workloads.yaml to render into template.yaml before it is created (None: the file as it
    is). From ``parametrize(..., indirect=True)``; a test module may also define its own fixture of this name."""
    value = getattr(request, "param", None)
    return None if value is None else str(value)


@pytest.fixture
def stack(
    aws_env: dict[str, str], stack_parameters: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[EmulatedStack]:
    """template.yaml created in a fresh in-process moto (Batch and Lambda without Docker).

    With a ``stack_workloads`` fixture in reach that gives a table, the template is first rendered with that
    table, in memory (``emulator.template.render_workloads``; template.yaml itself is not changed). It is
    looked up by name, so the suites' conftests that re-export ``stack`` need not know about it.

    The shared package's cached AWS clients are forgotten on the way in and out, so none outlives
    the moto it was made in.
    """
    workloads = _optional_fixture(request, "stack_workloads")
    rendered = render_workloads(str(workloads)) if workloads is not None else None
    with mock_aws(config=MOTO_CONFIG):
        aws.reset_clients()
        yield deploy_stack(stack_parameters, rendered=rendered)
        aws.reset_clients()


def _optional_fixture(request: pytest.FixtureRequest, name: str) -> object:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        return None
