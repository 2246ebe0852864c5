"""Where the CLI finds its stack: flags first, then samconfig.toml (the file `sam deploy` reads).

samconfig.toml keeps per-environment tables; like SAM, a ``[<env>.deploy.parameters]`` value wins
over ``[<env>.global.parameters]``. The region and profile are optional there; without them boto3's
own chain applies (AWS_REGION / AWS_PROFILE, ~/.aws/config).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator_cli.errors import UsageError

DEFAULT_CONFIG_FILE = "samconfig.toml"
DEFAULT_CONFIG_ENV = "default"
_SAM_COMMANDS = ("deploy", "global")  # looked up in this order


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
                f"[{self.config_env}.global.parameters])",
            )
        return self.stack_name


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
) -> Settings:
    """Flags over samconfig.toml. An explicit --config-file or --config-env must exist; the default
    ./samconfig.toml is used only when present."""
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
    if endpoint_url:
        sources["endpoint_url"] = "flag"
    return Settings(
        stack_name=values["stack_name"],
        region=values["region"],
        profile=values["profile"],
        endpoint_url=endpoint_url or None,
        config_env=env_name,
        config_file=path,
        sources=sources,
    )
