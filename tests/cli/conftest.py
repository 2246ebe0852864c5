"""Fixtures for the operator CLI tests: the moto stack of template.yaml (tests/support/stack.py, shared
with the integration tests); the helpers that play the pipeline the CLI acts on (uploads, the submit
function, Batch events) are in tests/support/runs.py.

The CLI is called in-process through ``orchestrator_cli.main.main(argv)``; ``cli`` returns its exit
code with what it printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatedStack
from orchestrator_cli import local_serve
from orchestrator_cli.main import main
from tests.support.runs import (
    discard_submit_queue,
    drain_submit_queue,
    finish_attempt,
    input_bucket,
    jobs_of,
    read_run,
    runs_table,
    start_run,
    upload,
)
from tests.support.stack import aws_env, stack, stack_parameters

# The fixtures, re-exported for pytest, and the helpers of tests/support/runs.py, re-exported for the
# modules that still import them from here (test_runs*.py, test_dlq.py).
__all__ = [
    "aws_env",
    "discard_submit_queue",
    "drain_submit_queue",
    "finish_attempt",
    "input_bucket",
    "jobs_of",
    "read_run",
    "runs_table",
    "stack",
    "stack_parameters",
    "start_run",
    "upload",
]


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """``cli("runs", "list", stack=stack)``: runs the CLI against ``stack`` (or with no stack name).

    The CLI looks for a local serve in a directory of the test's own (empty unless the test writes a
    state file there, see ``write_serve_state``): a `make serve` running on the machine must not
    change what a test without a stack name sees.
    """
    monkeypatch.setattr(local_serve, "STATE_DIR", tmp_path / "serve-state")

    def run(*argv: str, stack: EmulatedStack | None = None) -> CliResult:
        capsys.readouterr()  # forget what the test printed before
        prefix = ["--stack-name", stack.name] if stack is not None else []
        code = main([*prefix, *argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def write_serve_state(endpoint_url: str, *, pid: int, stack_name: str = local_serve.LOCAL_STACK_NAME) -> Path:
    """The state file a running `serve` leaves, where the CLI (as patched by ``cli``) looks for it."""
    path = local_serve.state_file(stack_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"endpoint_url": endpoint_url, "region": "us-east-1", "stack_name": stack_name, "pid": pid}
    path.write_text(json.dumps(state), encoding="utf-8")
    return path
