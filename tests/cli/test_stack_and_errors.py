"""`orchestrator stack`, and how the CLI reports what goes wrong before any run is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from emulator import EmulatedStack
from orchestrator_cli.aws import Aws
from orchestrator_cli.errors import ExitCode
from orchestrator_cli.main import main
from tests.cli.conftest import CliRunner

REPOSITORY = Path(__file__).resolve().parents[2]


def test_stack_shows_outputs_and_parameters(stack: EmulatedStack, cli: CliRunner) -> None:
    # When the stack is shown
    result = cli("stack", stack=stack)

    # Then its status, every output and the parameters are listed
    assert result.code == ExitCode.OK, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["Stack", stack.name]
    assert lines[1].split()[:2] == ["Status", "CREATE_COMPLETE"]
    for key, value in stack.outputs.items():
        assert any(line.split() == [key, value] for line in lines), key
    assert any(line.split() == ["MaxAttempts", "3"] for line in lines)


@pytest.mark.stack_params(MaxAttempts="5")
def test_stack_json(stack: EmulatedStack, cli: CliRunner) -> None:
    result = cli("stack", "--json", stack=stack)

    assert result.code == ExitCode.OK, result.err
    document = result.json()
    assert document["stackName"] == stack.name
    assert document["status"] == "CREATE_COMPLETE"
    assert document["region"] == "us-east-1"
    assert document["outputs"] == stack.outputs
    assert document["parameters"]["MaxAttempts"] == "5"


def test_a_missing_stack_is_not_found(stack: EmulatedStack, cli: CliRunner) -> None:
    result = cli("--stack-name", "no-such-stack", "runs", "list")
    as_json = cli("--json", "--stack-name", "no-such-stack", "stack")

    assert result.code == ExitCode.NOT_FOUND
    assert "stack no-such-stack not found in us-east-1" in result.err
    assert "hint:" in result.err
    assert as_json.code == ExitCode.NOT_FOUND
    assert as_json.json()["error"]["type"] == "NOT_FOUND"
    assert as_json.json()["error"]["exitCode"] == 3


def test_no_credentials_is_an_aws_error(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given no credentials anywhere boto3 looks (and no instance metadata to ask)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)

    # When any command needs AWS
    result = cli("--stack-name", "batch-orchestrator", "stack")

    # Then it says so, with what to do, and exits 4
    assert result.code == ExitCode.AWS
    assert "no usable AWS credentials" in result.err
    assert "aws sso login" in result.err


def test_an_unknown_profile_is_an_aws_error(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    result = cli("--profile", "nobody", "--stack-name", "batch-orchestrator", "stack")

    assert result.code == ExitCode.AWS
    assert "nobody" in result.err


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ExpiredToken", 403, "credentials rejected (ExpiredToken"),
        ("AccessDenied", 403, "access denied (AccessDenied"),
        ("Throttling", 400, "throttled"),
    ],
)
def test_rejected_calls_are_aws_errors(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, code: str, status: int, expected: str
) -> None:
    # Given CloudFormation answering with an error (a stubbed client: moto accepts any credentials)
    import boto3

    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    stubber = Stubber(cloudformation)
    stubber.add_client_error("describe_stacks", service_error_code=code, http_status_code=status)
    stubber.activate()
    original = Aws.client

    def client(self: Aws, service: str) -> Any:
        return cloudformation if service == "cloudformation" else original(self, service)

    monkeypatch.setattr(Aws, "client", client)

    # When the stack is read
    result = cli("--json", "--stack-name", "batch-orchestrator", "stack")

    # Then the CLI says what happened and exits 4
    assert result.code == ExitCode.AWS
    assert expected in result.err
    assert result.json()["error"]["type"] == "AWS"


def test_an_unreachable_endpoint_is_an_aws_error(cli: CliRunner) -> None:
    result = cli("--endpoint-url", "http://127.0.0.1:9", "--stack-name", "batch-orchestrator", "stack")

    assert result.code == ExitCode.AWS
    assert "cannot reach" in result.err or "Could not connect" in result.err


def test_usage_errors_exit_2(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No stack name given and no samconfig.toml here
    monkeypatch.chdir(tmp_path)
    no_stack = cli("stack")
    assert no_stack.code == ExitCode.USAGE
    assert "no stack name" in no_stack.err

    # An unknown option or command, a missing command
    assert cli("runs", "list", "--bogus").code == ExitCode.USAGE
    assert cli("explode").code == ExitCode.USAGE
    assert cli().code == ExitCode.USAGE
    assert cli("runs").code == ExitCode.USAGE

    # --help is not an error
    help_ = cli("--help")
    assert help_.code == ExitCode.OK
    assert "exit codes:" in help_.out


def test_stack_name_and_region_come_from_samconfig(
    stack: EmulatedStack, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a samconfig.toml whose "dev" environment names the stack (deploy over global)
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "someone-else"\n'
        '[dev.global.parameters]\nstack_name = "wrong"\n'
        f'[dev.deploy.parameters]\nstack_name = "{stack.name}"\nregion = "us-east-1"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    # When no stack name is passed
    dev = cli("--json", "--config-env", "dev", "stack")
    default = cli("stack")
    unknown_env = cli("--config-env", "prod", "stack")

    # Then the environment's stack is used; the default environment names another (missing) stack
    assert dev.code == ExitCode.OK, dev.err
    assert dev.json()["stackName"] == stack.name
    assert default.code == ExitCode.NOT_FOUND
    assert "someone-else" in default.err
    assert unknown_env.code == ExitCode.USAGE
    assert "no environment 'prod'" in unknown_env.err


def test_main_leaves_the_environment_as_it_was(stack: EmulatedStack, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    before = dict(os.environ)
    main(["--stack-name", stack.name, "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9", "stack"])
    assert dict(os.environ) == before


def test_the_cli_hides_the_same_shim_outputs_the_emulator_adds() -> None:
    from emulator.template_shims import SHIM_OUTPUT_PREFIX
    from orchestrator_cli.deployment import LOCAL_SHIM_OUTPUT_PREFIX

    assert LOCAL_SHIM_OUTPUT_PREFIX == SHIM_OUTPUT_PREFIX


@pytest.mark.parametrize(
    ("argv", "names", "expected"),
    [
        (["--endpoint-url", "localhost:4566"], "--endpoint-url", "did you mean http://localhost:4566?"),
        (["--endpoint-url", "http://localhost:port"], "--endpoint-url", "expected the form http://host:port"),
        (["--endpoint-url", "http://[::1"], "--endpoint-url", "expected the form http://host:port"),
        (["--endpoint-url", "ftp://localhost:21"], "--endpoint-url", "expected the form http://host:port"),
        (["--region", "eu_west_1"], "--region", "not an AWS region name"),
        (["--profile", ""], "--profile", "--profile is empty"),
        (["runs", "list", "--since", "99999999999d"], "--since", "reaches back before the year 1"),
    ],
)
def test_a_malformed_value_is_a_usage_error_naming_its_flag(
    stack: EmulatedStack, cli: CliRunner, argv: list[str], names: str, expected: str
) -> None:
    # When a flag's value cannot work
    result = cli("--stack-name", stack.name, *argv, *([] if "runs" in argv else ["stack"]))

    # Then the CLI says which flag and what it expects, and exits 2 (not 1 with a ValueError, nor 4)
    assert result.code == ExitCode.USAGE, result.err
    assert names in result.err
    assert expected in result.err
    assert "Traceback" not in result.err
    assert "ValueError" not in result.err


def test_an_endpoint_url_without_scheme_in_the_environment_is_a_usage_error(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given AWS_ENDPOINT_URL set the way one would type it to a browser
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:4566")

    # When a command runs
    result = cli("--stack-name", "batch-orchestrator", "stack")

    # Then the variable is named with the form it needs
    assert result.code == ExitCode.USAGE
    assert "AWS_ENDPOINT_URL in the environment" in result.err
    assert "http://host:port" in result.err


def test_a_region_samconfig_names_is_checked_like_the_flag(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "samconfig.toml").write_text(
        '[default.global.parameters]\nstack_name = "s"\nregion = "eu west 1"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)

    result = cli("stack")

    assert result.code == ExitCode.USAGE
    assert "region in " in result.err
    assert "'eu west 1' is not an AWS region name" in result.err


def _orchestrator(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, imported from scratch (what import-time failures need)."""
    command = [sys.executable, "-m", "orchestrator_cli", *argv]
    return subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=120)


def test_an_aws_profile_that_does_not_exist_is_named_and_does_not_break_help(tmp_path: Path) -> None:
    # Given AWS_PROFILE naming a profile the AWS config does not have
    env = {**os.environ, "AWS_PROFILE": "nope", "AWS_CONFIG_FILE": str(tmp_path / "config")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")

    # When the CLI shows its help, and when it runs a command
    help_ = _orchestrator("--help", env=env)
    command = _orchestrator("--stack-name", "batch-orchestrator", "--region", "us-east-1", "stack", env=env)

    # Then the help is shown as always; the command names the profile in one error, with the exit code of
    # the other credential problems, and no traceback
    assert help_.returncode == ExitCode.OK, help_.stderr
    assert "exit codes:" in help_.stdout
    assert help_.stderr == ""
    assert command.returncode == ExitCode.AWS
    assert "the AWS profile 'nope' does not exist" in command.stderr
    assert "Traceback" not in command.stderr
