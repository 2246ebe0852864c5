"""The state file of a running ``serve``: where other processes find its local stack.

``serve`` writes ``<tmp>/batch-orchestrator-local/<stack name>.json`` (endpoint, region, stack
name, bucket, prefixes, layer directories, its process id) once its stack is up, and removes it
when it stops; ``upload``, ``wait-serve`` and the CLI's ``--local`` (``orchestrator_cli.local_serve``,
which repeats the directory because the CLI does not import the emulator) read it.

Invariant: a reader never trusts a file whose process is gone: ``read_state`` checks the pid.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.smoke_support import process_alive
from emulator.stack import DEFAULT_STACK_NAME

if TYPE_CHECKING:
    from emulator.pipeline import LocalPipeline

STATE_DIR = Path(tempfile.gettempdir()) / "batch-orchestrator-local"


def state_path(stack_name: str = DEFAULT_STACK_NAME) -> Path:
    return STATE_DIR / f"{stack_name}.json"


def write_state(pipeline: LocalPipeline) -> Path:
    """Record where the started ``pipeline`` is reached; returns the file (the caller removes it)."""
    stack = pipeline.stack
    functions = stack.resources_of_type("AWS::Lambda::Function")
    layer_dirs = sorted({str(path) for logical_id in functions for path in stack.layer_dirs(logical_id)})
    state = {
        "endpoint_url": pipeline.endpoint_url,
        "region": stack.region,
        "stack_name": stack.name,
        "bucket": stack.outputs["InputBucketName"],
        "input_prefix": stack.outputs["InputPrefix"],
        "output_prefix": stack.outputs["OutputPrefix"],
        "layer_dirs": layer_dirs,
        "pid": os.getpid(),
    }
    path = state_path(stack.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return path


def read_state(stack_name: str = DEFAULT_STACK_NAME) -> dict[str, Any]:
    """The state a live ``serve`` recorded; LookupError when none runs."""
    path = state_path(stack_name)
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LookupError("no local stack is running: start one with `make serve`") from None
    if not process_alive(int(state.get("pid", 0))):
        raise LookupError(f"the local stack that wrote {path} is gone: start one with `make serve`")
    return state
