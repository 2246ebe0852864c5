"""A process laid out the way the Lambda Python runtime lays it out, built from `sam build`'s output.

* ``/var/task``    → a copy of ``.aws-sam/build/<Function>`` (or of ``bench/baseline``)
* ``/opt/python``  → a copy of ``.aws-sam/build/CommonLayer/python`` (the layer, exactly as built)
* ``/var/runtime`` → what the runtime ships: boto3, botocore and their dependencies, taken from
  the project's virtual environment (same versions as the layer was built against)

The interpreter runs with ``-S -P`` (no site-packages, no script directory) so that nothing else is
importable, with ``PYTHONDONTWRITEBYTECODE=1`` because /var/task and /opt are read-only on Lambda
(bytecode the layer does not ship is compiled again by every cold start), and with the environment
Lambda gives a function with ``Tracing: Active``: ``LAMBDA_TASK_ROOT``, a sampled ``_X_AMZN_TRACE_ID``
and an X-Ray daemon address (a UDP socket of the bench that counts the segments it receives), and
``POWERTOOLS_TRACE_DISABLED`` unset, so Powertools' Tracer and the X-Ray SDK do what they do on Lambda.

ASSUMPTION: the runtime's boto3 and botocore come with usable bytecode, as pip installed them here.
Were they compiled at every cold start instead, the plain-boto3 baseline would pay more than our
handlers (which no longer import boto3), so the assumption does not flatter the ratio.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.common import BUILD_DIR, FUNCTIONS, REGION, REPO

RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six")
TRACE_HEADER = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1"
BASELINE_DIR = REPO / "bench" / "baseline"


class StaleBuild(RuntimeError):
    """.aws-sam/build does not hold the current sources: run `make build`."""


def check_build_is_current() -> None:
    """The built layer and functions must be the sources of this checkout, or the figures lie."""
    pairs = [
        (path, BUILD_DIR / "CommonLayer" / "python" / path.relative_to(REPO / "layers" / "common"))
        for path in (REPO / "layers" / "common" / "batch_orchestrator").rglob("*.py")
    ]
    for logical_id, directory in FUNCTIONS.items():
        pairs.append((REPO / "functions" / directory / "app.py", BUILD_DIR / logical_id / "app.py"))
    stale = [str(built) for source, built in pairs if not built.is_file() or built.read_bytes() != source.read_bytes()]
    if stale:
        raise StaleBuild(f"{len(stale)} built files differ from the sources (first: {stale[0]}); run `make build`")


@dataclass(frozen=True)
class Sandbox:
    root: Path

    @property
    def layer(self) -> Path:
        return self.root / "opt" / "python"

    @property
    def runtime(self) -> Path:
        return self.root / "var" / "runtime"

    def task_root(self, name: str) -> Path:
        """``name``: a function's logical id, or "baseline"."""
        return self.root / "task" / name

    def python_path(self, name: str) -> str:
        return os.pathsep.join(str(path) for path in (self.task_root(name), self.layer, self.runtime))

    def command(self, script: Path, *arguments: str) -> list[str]:
        return [sys.executable, "-S", "-P", str(script), *arguments]

    def environment(
        self,
        name: str,
        function_environment: Mapping[str, str],
        *,
        function_name: str,
        daemon_port: int,
        endpoint_url: str | None = None,
    ) -> dict[str, str]:
        """What a Lambda process of the function sees (plus fake credentials and the emulator's URL)."""
        environment = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        environment.update(function_environment)
        environment.update(
            {
                "PYTHONPATH": self.python_path(name),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONNOUSERSITE": "1",
                "LAMBDA_TASK_ROOT": str(self.task_root(name)),
                "LAMBDA_RUNTIME_DIR": str(self.runtime),
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
                "AWS_LAMBDA_FUNCTION_NAME": function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "_X_AMZN_TRACE_ID": TRACE_HEADER,
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon_port}",
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            }
        )
        environment.pop("POWERTOOLS_TRACE_DISABLED", None)
        if endpoint_url:
            environment["AWS_ENDPOINT_URL"] = endpoint_url
        return environment


def build_sandbox(root: Path) -> Sandbox:
    """Copy the built layer and functions (and the baselines) under ``root``; link the runtime's packages."""
    check_build_is_current()
    sandbox = Sandbox(root)
    shutil.copytree(BUILD_DIR / "CommonLayer" / "python", sandbox.layer)
    for logical_id in FUNCTIONS:
        shutil.copytree(BUILD_DIR / logical_id, sandbox.task_root(logical_id))
    shutil.copytree(BASELINE_DIR, sandbox.task_root("baseline"), ignore=shutil.ignore_patterns("__pycache__"))
    sandbox.runtime.mkdir(parents=True)
    (sandbox.runtime / "__pycache__").mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed in this environment")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            (sandbox.runtime / name).symlink_to(origin.parent, target_is_directory=True)
        else:
            (sandbox.runtime / origin.name).symlink_to(origin)
            cached = importlib.util.cache_from_source(str(origin))
            if Path(cached).is_file():
                (sandbox.runtime / "__pycache__" / Path(cached).name).symlink_to(cached)
    return sandbox


class XRayDaemon:
    """A UDP socket where the X-Ray SDK sends its segments: counts them, so a run proves tracing was on."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self.segments = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)

    def __enter__(self) -> XRayDaemon:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self._socket.recv(65536)
            except TimeoutError:
                continue
            self.segments += 1
