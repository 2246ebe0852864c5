"""`orchestrator stack`, and how the CLI reports what goes wrong before any run is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from emulator import EmulatedStack
from orchestrator_cli.aws import Aws
from orchestrator_cli.errors import ExitCode
from orchestrator_cli.main import main
from tests.cli.conftest import CliRunner


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
    from emulator.template import SHIM_OUTPUT_PREFIX
    from orchestrator_cli.stack import LOCAL_SHIM_OUTPUT_PREFIX

    assert LOCAL_SHIM_OUTPUT_PREFIX == SHIM_OUTPUT_PREFIX
