"""The moto server in this process, and how this process and others reach it.

SIMULATED AWS APIs: moto 5.2 as a ``ThreadedMotoServer`` on a loopback port, in this process, so
``emulator.moto_fidelity`` and the runner's access to moto's Batch backend keep working, and other
processes (the AWS CLI, the job processes) reach it at ``endpoint_url``.

Invariant: what ``LocalMotoServer.start`` changes in this process (os.environ, moto's settings,
log levels) ``stop`` puts back as it was, and moto keeps no state after ``stop``: moto's state is
per process, so the next stack of the same process starts from nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import urllib.request
from typing import Any

import boto3

from emulator.local_container import FAKE_CREDENTIALS
from emulator.stack import MOTO_CONFIG

LOCAL_HOST = "127.0.0.1"
REGION = "us-east-1"

# Moto's request log: one line per API call, too much for a terminal.
_QUIET_LOGGERS = ("werkzeug",)
# Settings that would send boto3 elsewhere than the fake credentials point it to.
_ENV_REMOVED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


class LocalMotoServer:
    """A moto server on ``host``; while it runs, every boto3 client made in this process talks to it."""

    def __init__(self, host: str = LOCAL_HOST, port: int = 0) -> None:
        self._host = host
        self._port = port
        self.endpoint_url = ""
        self._server: Any = None
        self._saved_environ: dict[str, str | None] = {}
        self._saved_moto_config: dict[str, Any] = {}
        self._saved_log_levels: dict[str, int] = {}

    def start(self) -> str:
        """Start the server on the port given (or a free one); returns its endpoint URL."""
        from moto.server import ThreadedMotoServer

        for name in _QUIET_LOGGERS:
            logger = logging.getLogger(name)
            self._saved_log_levels[name] = logger.level
            logger.setLevel(logging.ERROR)
        port = self._port or free_port(self._host)
        self._server = ThreadedMotoServer(ip_address=self._host, port=port, verbose=False)
        self._server.start()
        self.endpoint_url = f"http://{self._host}:{port}"
        self._save_moto_config()
        # Every boto3 client made from now on in this process talks to the local moto server only.
        self._set_environ(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                **FAKE_CREDENTIALS,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        return self.endpoint_url

    def stop(self) -> None:
        """Reset and stop the server, then put back what ``start`` changed; safe to call twice."""
        if self._server is not None:
            with contextlib.suppress(Exception):
                _post(f"{self.endpoint_url}/moto-api/reset")  # moto's state is per process: leave none behind
            self._server.stop()
            self._server = None
        self._restore_moto_config()
        self._restore_environ()
        for name, level in self._saved_log_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_log_levels.clear()

    def _set_environ(self, values: dict[str, str]) -> None:
        for name in (*values, *_ENV_REMOVED):
            self._saved_environ.setdefault(name, os.environ.get(name))
        for name in _ENV_REMOVED:
            os.environ.pop(name, None)
        os.environ.update(values)

    def _restore_environ(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    def _save_moto_config(self) -> None:
        from moto.core.config import default_user_config

        self._saved_moto_config = {name: dict(default_user_config.get(name, {})) for name in MOTO_CONFIG}  # type: ignore[call-overload]

    def _restore_moto_config(self) -> None:
        if not self._saved_moto_config:
            return
        from moto.core.config import default_user_config

        for name, value in self._saved_moto_config.items():
            default_user_config[name] = value  # type: ignore[literal-required]
        self._saved_moto_config = {}


def free_port(host: str = LOCAL_HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def client_for(endpoint_url: str, service: str, region: str = REGION) -> Any:
    """A boto3 client of the local moto server with the fake credentials (for helper commands)."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def reset_shared_clients() -> None:
    """Forget the AWS clients the shared package caches, so none outlives the moto it was made for."""
    with contextlib.suppress(ImportError):
        from batch_orchestrator.adapters import aws

        aws.reset_clients()


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - the local moto server
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()
