"""The local stack `make serve` is running, found the way `python -m emulator upload` finds it.

``serve`` writes ``<tmp>/batch-orchestrator-local/<stack name>.json`` (endpoint, region, stack name,
its process id) while it runs and removes it when it stops. The CLI reads that file rather than
importing emulator (which needs moto): the location is repeated here, and a test checks that both
sides agree. The emulator accepts any credentials, so ``--local`` uses fake ones and no profile: a
command meant for the local stack can never reach an AWS account.

Every command also uses a running serve by itself when the user chose no target (see
orchestrator_cli.settings.named_target): the fake credentials then go with the serve's loopback
endpoint only, and the choice is announced on stderr, never made silently.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from copy import replace
from dataclasses import dataclass
from pathlib import Path

from orchestrator_cli.errors import NotFound
from orchestrator_cli.settings import Settings, named_target

STATE_DIR = Path(tempfile.gettempdir()) / "batch-orchestrator-local"  # = emulator.serve_state.STATE_DIR
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


def live_local_serve(stack_name: str = LOCAL_STACK_NAME) -> LocalServe | None:
    """The running ``serve`` of ``stack_name``, or None when there is none (no state file, an unreadable
    one, or its process gone)."""
    try:
        return find_local_serve(stack_name)
    except NotFound:
        return None


def auto_local_serve(settings: Settings, environ: Mapping[str, str]) -> LocalServe | None:
    """The serve to use when the user chose no target; None when they chose one or none runs.

    Only a serve whose endpoint is a loopback address qualifies: the fake credentials that go with
    it must not leave this machine, whatever the state file says.
    """
    if named_target(settings, environ) is not None:
        return None
    serve = live_local_serve()
    if serve is None or not is_loopback(serve.endpoint_url):
        return None
    return serve


def local_settings(settings: Settings, serve: LocalServe, *, how: str) -> Settings:
    """``settings`` pointed at ``serve``: its endpoint, region and stack, and no profile; ``how`` says
    why in the sources (shown with -v)."""
    source = f"{how} {state_file(serve.stack_name)}"
    return replace(
        settings,
        stack_name=serve.stack_name,
        region=serve.region,
        profile=None,
        endpoint_url=serve.endpoint_url,
        sources={
            **{name: value for name, value in settings.sources.items() if name != "profile"},
            **dict.fromkeys(("stack_name", "region", "endpoint_url"), source),
        },
    )


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
