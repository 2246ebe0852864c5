"""The local stack `make serve` is running, found the way `python -m emulator upload` finds it.

``serve`` writes ``<tmp>/batch-orchestrator-local/<stack name>.json`` (endpoint, region, stack name,
its process id) while it runs and removes it when it stops. The CLI reads that file rather than
importing emulator (which needs moto): the location is repeated here, and a test checks that both
sides agree. The emulator accepts any credentials, so ``--local`` uses fake ones and no profile: a
command meant for the local stack can never reach an AWS account.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator_cli.errors import NotFound

STATE_DIR = Path(tempfile.gettempdir()) / "batch-orchestrator-local"  # = emulator.demo.STATE_DIR
LOCAL_STACK_NAME = "batch-orchestrator-local"  # = emulator.stack.DEFAULT_STACK_NAME
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_REMOVED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@dataclass(frozen=True)
class LocalServe:
    endpoint_url: str
    region: str
    stack_name: str
    pid: int


def state_file(stack_name: str = LOCAL_STACK_NAME) -> Path:
    return STATE_DIR / f"{stack_name}.json"


def find_local_serve(stack_name: str = LOCAL_STACK_NAME) -> LocalServe:
    """The running ``serve`` of ``stack_name``; NotFound when none runs (or it died without cleaning up)."""
    path = state_file(stack_name)
    hint = "start it with `make serve` (another terminal), or pass --endpoint-url"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"no local stack {stack_name} is running ({path} does not exist)", hint=hint) from None
    except (OSError, ValueError) as exc:
        raise NotFound(f"cannot read {path}: {exc}", hint=hint) from exc
    pid = int(state.get("pid") or 0)
    if not _alive(pid):
        raise NotFound(f"the local stack that wrote {path} (process {pid}) is gone", hint=hint)
    return LocalServe(
        endpoint_url=str(state["endpoint_url"]),
        region=str(state.get("region") or "us-east-1"),
        stack_name=str(state.get("stack_name") or stack_name),
        pid=pid,
    )


@contextmanager
def fake_credentials() -> Iterator[None]:
    """The emulator's fake credentials instead of the user's (restored afterwards)."""
    names = (*FAKE_CREDENTIALS, *_REMOVED)
    saved = {name: os.environ.get(name) for name in names}
    for name in _REMOVED:
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
