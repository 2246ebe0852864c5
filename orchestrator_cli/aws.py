"""AWS access for the CLI: the flags applied to the process environment, clients, error mapping.

The shared package's adapters (the runs table) build their clients from a default boto3 session,
which reads the environment; so the CLI expresses --profile, --region and --endpoint-url as the
environment variables boto3 reads (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL) for the duration of
one command, and every client, the CLI's and the adapters', sees the same connection.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import reset_clients
from orchestrator_cli.errors import CliError, UsageError, from_aws
from orchestrator_cli.settings import Settings

log = logging.getLogger("orchestrator_cli")

_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
# An explicit profile must win over credentials in the environment, as with `aws --profile`.
_ENVIRONMENT_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
_XRAY_SDK = "aws_xray_sdk.core"

T = TypeVar("T")


def load_xray_sdk_without_profile() -> None:
    """Import the X-Ray SDK with AWS_PROFILE and AWS_DEFAULT_PROFILE hidden; call it before the
    shared package's observability module is imported.

    That module's Tracer imports the X-Ray SDK, whose import builds a botocore client, which reads
    the profile: a profile that does not exist would end every command, --help included, in a
    traceback at import time. That client is unsigned and unused outside Lambda, so the profile means
    nothing to it; the CLI's own session still reads the profile and reports a missing one.
    """
    if _XRAY_SDK in sys.modules:
        return
    hidden = {name: os.environ.pop(name) for name in _PROFILE_VARIABLES if name in os.environ}
    try:
        importlib.import_module(_XRAY_SDK)
    finally:
        os.environ.update(hidden)


@contextmanager
def aws_environment(settings: Settings) -> Iterator[None]:
    """Apply the connection settings to os.environ, and put everything back afterwards."""
    changes: dict[str, str | None] = {}
    if settings.profile:
        changes["AWS_PROFILE"] = settings.profile
        changes.update(dict.fromkeys(_ENVIRONMENT_CREDENTIALS))
    if settings.region:
        changes["AWS_REGION"] = settings.region
        changes["AWS_DEFAULT_REGION"] = settings.region
    if settings.endpoint_url:
        changes["AWS_ENDPOINT_URL"] = settings.endpoint_url
        # That switch (environment or profile) would make botocore skip AWS_ENDPOINT_URL and send the
        # request, with the local stack's fake credentials, to AWS itself.
        changes["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "false"
    saved = {name: os.environ.get(name) for name in changes}
    _apply(changes)
    reset_clients()
    try:
        yield
    finally:
        _apply(saved)
        reset_clients()


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class Aws:
    """boto3 clients made once per command from the (patched) environment."""

    def __init__(self) -> None:
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            try:
                self._session = boto3.session.Session()
            except BotoCoreError as exc:  # ProfileNotFound and friends
                raise from_aws(exc, "starting an AWS session") from exc
        return self._session

    @property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise UsageError("no AWS region", hint="pass --region, or set one in samconfig.toml or your profile")
        return str(region)

    def client(self, service: str, *, read_timeout: int | None = None) -> Any:
        """The service's client; ``read_timeout`` for calls that wait on purpose (a synchronous Lambda Invoke)."""
        name = service if read_timeout is None else f"{service}@{read_timeout}"
        if name not in self._clients:
            config = _CONFIG if read_timeout is None else _CONFIG.merge(Config(read_timeout=read_timeout))
            try:
                session: Any = self.session  # boto3-stubs types client() per service name; any name here
                self._clients[name] = session.client(service, region_name=self.region, config=config)
            except BotoCoreError as exc:
                raise from_aws(exc, f"creating the {service} client") from exc
        return self._clients[name]

    def call(self, doing: str, operation: Callable[..., T], /, **kwargs: Any) -> T:
        """``operation(**kwargs)`` with botocore's errors turned into CliErrors that say what we were doing."""
        log.debug("aws call: %s", doing)
        try:
            return operation(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise from_aws(exc, doing) from exc

    def caller_arn(self) -> str | None:
        """Who is acting (recorded with manual actions); None when STS cannot say."""
        try:
            return str(self.client("sts").get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError, CliError) as exc:
            log.debug("caller identity unknown: %s", exc)  # only an audit detail: never worth failing for
            return None
