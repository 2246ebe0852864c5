"""`orchestrator submit` on a stack rendered with workloads.yaml: routing decides, not InputPrefix.

The stack is template.yaml rendered with the table below and created in the emulator (moto), as the
``stack_workloads`` fixture of tests/support/stack.py does.
"""

from __future__ import annotations

import pytest

from batch_orchestrator.ids import run_id_for
from emulator import EmulatedStack
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner
from tests.support.runs import discard_submit_queue, drain_submit_queue, input_bucket, jobs_of, read_run, upload

TABLE = """
workloads:
  - name: thumbnails
    match: {prefix: images/, suffix: .jpg}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('thumbnail')"]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 600
"""


@pytest.fixture
def stack_workloads() -> str:
    return TABLE


def test_a_key_outside_the_input_prefix_that_a_workload_takes_is_submitted_and_routed(
    stack: EmulatedStack, cli: CliRunner
) -> None:
    # Given an image whose notification was lost, outside the default workload's InputPrefix (incoming/)
    source = upload(stack, "images/cat.jpg")
    discard_submit_queue(stack)

    # When the operator submits it
    result = cli("submit", f"s3://{input_bucket(stack)}/images/cat.jpg", stack=stack)

    # Then it is queued (not refused as outside the input prefix), with a word on routing
    assert result.code == ExitCode.OK, result.err
    assert "routes it to a workload" in result.out

    # And the submit function runs it as the thumbnails workload
    assert drain_submit_queue(stack) == 1
    run_id = run_id_for(source)
    assert read_run(stack, run_id)["workload"] == "thumbnails"
    (job,) = jobs_of(stack, run_id)
    assert job["jobDefinition"] == stack.resources["WorkloadThumbnailsJobDefinition"]
