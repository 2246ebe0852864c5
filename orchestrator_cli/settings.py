"""Where the CLI finds its stack: flags first, then samconfig.toml (the file `sam deploy` reads).

samconfig.toml keeps per-environment tables; like SAM, a ``[<env>.deploy.parameters]`` value wins
over ``[<env>.global.parameters]``. The region and profile are optional there; without them boto3's
own chain applies (AWS_REGION / AWS_PROFILE, ~/.aws/config).

``named_target`` says whether the user chose where to go; when nothing did, a running local serve
is used instead (see orchestrator_cli.local_serve).
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator_cli.errors import UsageError
from orchestrator_cli.parsing import endpoint_url as parse_endpoint_url
from orchestrator_cli.parsing import region_name

DEFAULT_CONFIG_FILE = "samconfig.toml"
DEFAULT_CONFIG_ENV = "default"
_SAM_COMMANDS = ("deploy", "global")  # looked up in this order
FLAGS = {
    "stack_name": "--stack-name",
    "region": "--region",
    "profile": "--profile",
    "endpoint_url": "--endpoint-url",
    "config_env": "--config-env",
    "config_file": "--config-file",
}
# Environment variables that choose an account or an endpoint (botocore reads every one of them).
_TARGET_ENVIRONMENT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")
_SERVICE_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"  # AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, ...


@dataclass(frozen=True)
class Settings:
    """The connection the user asked for; ``sources`` says where each value came from (shown with -v)."""

    stack_name: str | None
    region: str | None
    profile: str | None
    endpoint_url: str | None
    config_env: str
    config_file: Path | None
    sources: dict[str, str] = field(default_factory=dict)

    def require_stack_name(self) -> str:
        if not self.stack_name:
            raise UsageError(
                "no stack name",
                hint=f"pass --stack-name, or run where {DEFAULT_CONFIG_FILE} names one (stack_name under "
                f"[{self.config_env}.global.parameters]); for the local stack, start `make serve`",
            )
        return self.stack_name


def named_target(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """The first setting by which the user chose where the CLI goes, e.g. ``--stack-name`` or
    ``AWS_PROFILE``; None when they chose nothing (and a running local serve may be used).

    What counts: on the command line --stack-name (``smoke --stack``), --profile, --endpoint-url,
    --region, --config-env, --config-file; in the environment AWS_PROFILE, AWS_DEFAULT_PROFILE,
    AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>; in samconfig.toml a profile. What does not:
    samconfig.toml's stack_name and region (this repository's own file names a default stack, and
    a newcomer running the CLI here with `make serve` up means the local one), AWS_REGION /
    AWS_DEFAULT_REGION (often exported for good) and credentials (they name no stack).
    """
    for name, flag in FLAGS.items():
        if settings.sources.get(name) == "flag":
            return flag
    if settings.profile:
        return f"profile {settings.profile} ({settings.sources.get('profile', DEFAULT_CONFIG_FILE)})"
    for variable in _TARGET_ENVIRONMENT:
        if environ.get(variable):
            return variable
    return next(
        (variable for variable, value in environ.items() if variable.startswith(_SERVICE_ENDPOINT_PREFIX) and value),
        None,
    )


def load_samconfig(path: Path, config_env: str) -> dict[str, str]:
    """stack_name / region / profile of one samconfig environment (deploy over global)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    environment = document.get(config_env)
    if not isinstance(environment, dict):
        known = sorted(name for name, value in document.items() if isinstance(value, dict))
        raise UsageError(
            f"{path} has no environment {config_env!r}", hint=f"--config-env is one of: {', '.join(known) or 'none'}"
        )
    found: dict[str, str] = {}
    for command in reversed(_SAM_COMMANDS):  # global first, then deploy overrides it
        parameters: Any = environment.get(command, {}).get("parameters", {})
        if not isinstance(parameters, dict):
            continue
        for name in ("stack_name", "region", "profile"):
            value = parameters.get(name)
            if isinstance(value, str) and value:
                found[name] = value
    return found


def resolve_settings(
    *,
    stack_name: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    config_env: str | None,
    config_file: str | None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Flags over samconfig.toml. An explicit --config-file or --config-env must exist; the default
    ./samconfig.toml is used only when present. A value that cannot work (an empty flag, a region
    or endpoint URL botocore would refuse) is a UsageError here, before any AWS call."""
    flags = {
        "stack_name": stack_name,
        "region": region,
        "profile": profile,
        "endpoint_url": endpoint_url,
        "config_env": config_env,
        "config_file": config_file,
    }
    for name, value in flags.items():
        if value is not None and not value.strip():
            raise UsageError(f"{FLAGS[name]} is empty", hint=f"leave {FLAGS[name]} out, or give it a value")
    _check_environment(environ or {}, endpoint_flag=bool(endpoint_url))
    env_name = config_env or DEFAULT_CONFIG_ENV
    path: Path | None
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise UsageError(f"config file {path} not found")
    else:
        candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_FILE
        path = candidate if candidate.is_file() else None
        if path is None and config_env:
            raise UsageError(f"--config-env {config_env} given but there is no {DEFAULT_CONFIG_FILE} here")
    from_file = load_samconfig(path, env_name) if path else {}

    sources: dict[str, str] = {}
    values: dict[str, str | None] = {}
    for name, flag_value in (("stack_name", stack_name), ("region", region), ("profile", profile)):
        if flag_value:
            values[name], sources[name] = flag_value, "flag"
        elif name in from_file:
            values[name], sources[name] = from_file[name], f"{path} [{env_name}]"
        else:
            values[name] = None
    if values["region"] and sources["region"] != "flag":
        _check(region_name, values["region"], f"region in {sources['region']}")
    for name in ("endpoint_url", "config_env", "config_file"):
        if flags[name]:
            sources[name] = "flag"
    return Settings(
        stack_name=values["stack_name"],
        region=values["region"],
        profile=values["profile"],
        endpoint_url=endpoint_url or None,
        config_env=env_name,
        config_file=path,
        sources=sources,
    )


def _check_environment(environ: Mapping[str, str], *, endpoint_flag: bool) -> None:
    """Endpoint URLs in the environment are as likely to lack a scheme as the flag's (--endpoint-url
    replaces AWS_ENDPOINT_URL, not the per-service variables)."""
    for variable, value in environ.items():
        replaced = variable == "AWS_ENDPOINT_URL" and endpoint_flag
        if value and not replaced and (variable == "AWS_ENDPOINT_URL" or variable.startswith(_SERVICE_ENDPOINT_PREFIX)):
            _check(parse_endpoint_url, value, f"{variable} in the environment")


def _check(parse: Callable[[str], str], value: str, where: str) -> None:
    try:
        parse(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{where}: {exc}") from None
