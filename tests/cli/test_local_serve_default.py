"""A command that names no target uses the running local serve, says so, and never goes there when
the user chose a stack, a profile or an endpoint (orchestrator_cli.settings.named_target)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import EmulatedStack, serve_state
from emulator.pipeline import LocalPipeline
from orchestrator_cli.aws import Aws
from orchestrator_cli.errors import ExitCode, NotFound
from tests.cli.conftest import CliRunner, write_serve_state

REPOSITORY = Path(__file__).resolve().parents[2]
NOTICE = "using the local serve at"
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing answers, so a test sees where a command went


@pytest.fixture(scope="module")
def serving() -> Iterator[LocalPipeline]:
    pipeline = LocalPipeline({}).start()
    try:
        yield pipeline
    finally:
        pipeline.stop()


def test_a_command_naming_no_target_uses_the_running_serve_and_says_so(
    serving: LocalPipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a running serve (its state file where the CLI looks, under a private temporary directory),
    # and a newcomer's shell in the repository (whose samconfig.toml names the stack "batch-orchestrator"):
    # no region, no credentials, no endpoint
    monkeypatch.setattr(serve_state, "STATE_DIR", tmp_path / serve_state.STATE_DIR.name)
    serve_state.write_state(serving)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(TMPDIR=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")

    # When `orchestrator stack` and `orchestrator runs list` run in their own process
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "orchestrator_cli", *argv]
        return subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=120)

    shown = run("--json", "stack")
    listed = run("runs", "list")

    # Then both use the local serve (its stack, its region, fake credentials) and say so in one line
    assert shown.returncode == ExitCode.OK, shown.stderr
    assert json.loads(shown.stdout)["stackName"] == serving.stack.name
    assert json.loads(shown.stdout)["region"] == "us-east-1"
    assert shown.stderr.splitlines() == [
        f"orchestrator: using the local serve at {serving.endpoint_url} (stack {serving.stack.name}); "
        "pass --stack-name to use AWS"
    ]
    assert listed.returncode == ExitCode.OK, listed.stderr
    assert listed.stdout.startswith("No runs")
    assert listed.stderr.count(NOTICE) == 1


@pytest.mark.parametrize(
    ("argv", "environment"),
    [
        pytest.param(["--stack-name", "batch-orchestrator-local"], {}, id="--stack-name"),
        pytest.param(["--profile", "ops"], {}, id="--profile"),
        pytest.param(["--endpoint-url", "http://127.0.0.1:10"], {}, id="--endpoint-url"),
        pytest.param(["--region", "us-east-1"], {}, id="--region"),
        pytest.param(["--config-env", "default"], {}, id="--config-env"),
        pytest.param([], {"AWS_PROFILE": "ops"}, id="AWS_PROFILE"),
        pytest.param([], {"AWS_DEFAULT_PROFILE": "ops"}, id="AWS_DEFAULT_PROFILE"),
        pytest.param([], {"AWS_ENDPOINT_URL": "http://127.0.0.1:10"}, id="AWS_ENDPOINT_URL"),
        pytest.param([], {"AWS_ENDPOINT_URL_CLOUDFORMATION": "http://127.0.0.1:10"}, id="AWS_ENDPOINT_URL_<SERVICE>"),
    ],
)
def test_a_named_target_is_never_swapped_for_the_local_serve(
    stack: EmulatedStack,
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    environment: dict[str, str],
) -> None:
    # Given a running serve, and a user who named a target on the command line or in the environment
    write_serve_state(UNREACHABLE, pid=os.getpid())
    (tmp_path / "samconfig.toml").write_text('[default.global.parameters]\nstack_name = "mine"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    # When a command runs
    result = cli(*argv, "stack")

    # Then it goes where the user said (whatever happens there), not to the local serve (where nothing answers)
    assert NOTICE not in result.err
    assert UNREACHABLE not in result.err


def test_a_samconfig_profile_is_a_named_target(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given a running serve and a samconfig.toml that chooses an account by its profile
    write_serve_state(UNREACHABLE, pid=os.getpid())
    (tmp_path / "samconfig.toml").write_text(
        '[default.global.parameters]\nstack_name = "mine"\nprofile = "ops"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))

    # When a command runs
    result = cli("stack")

    # Then the profile is used (here: it does not exist), not the local serve
    assert NOTICE not in result.err
    assert result.code == ExitCode.AWS
    assert "the AWS profile 'ops' does not exist" in result.err


def test_the_serve_is_used_with_fake_credentials_and_without_the_users_profile(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a running serve (nothing answers at its endpoint), no target named, and the user's own keys
    write_serve_state(UNREACHABLE, pid=os.getpid())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUSERSOWNKEY")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    seen: dict[str, str | None] = {}

    def describe(aws: Aws, name: str) -> object:
        seen.update({var: os.environ.get(var) for var in ("AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_REGION")})
        seen["endpoint used"] = aws.client("cloudformation").meta.endpoint_url
        seen["stack"] = name
        raise NotFound("stop here")

    monkeypatch.setattr("orchestrator_cli.context.describe_stack", describe)

    # When a command runs
    result = cli("stack")

    # Then it reads the serve's stack at the serve's endpoint, with the emulator's fake credentials
    assert f"{NOTICE} {UNREACHABLE} (stack batch-orchestrator-local)" in result.err
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAUSERSOWNKEY"  # and puts the user's back
    assert seen == {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_ENDPOINT_URL": UNREACHABLE,
        "AWS_REGION": "us-east-1",
        "endpoint used": UNREACHABLE,
        "stack": "batch-orchestrator-local",
    }


@pytest.mark.parametrize(
    ("endpoint", "alive"),
    [
        pytest.param(UNREACHABLE, False, id="its process is gone"),
        pytest.param("https://cloudformation.us-east-1.amazonaws.com", True, id="not a loopback endpoint"),
    ],
)
def test_no_live_loopback_serve_means_no_local_serve(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str, alive: bool
) -> None:
    # Given a state file whose serve is gone, or that points away from this machine
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_serve_state(endpoint, pid=os.getpid() if alive else int(dead.stdout))
    monkeypatch.chdir(tmp_path)

    # When a command that names no stack runs
    result = cli("stack")

    # Then there is no stack to use, and the error says how to get one
    assert result.code == ExitCode.USAGE
    assert NOTICE not in result.err
    assert "no stack name" in result.err
    assert "make serve" in result.err


def test_smoke_local_still_finds_the_serve_itself(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a running serve (nothing answers at its endpoint)
    write_serve_state(UNREACHABLE, pid=os.getpid())
    monkeypatch.chdir(tmp_path)

    # When `smoke --local` runs
    result = cli("smoke", "--local", "--timeout", "5")

    # Then --local goes to the serve as before, without the notice meant for commands that named nothing
    assert result.code == ExitCode.AWS
    assert f"cannot reach {UNREACHABLE}" in result.err
    assert NOTICE not in result.err


@pytest.fixture(autouse=True)
def _no_user_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """Besides what the hermetic environment removes, nothing of the developer's may name a target."""
    for name in os.environ:
        if name == "AWS_DEFAULT_PROFILE" or name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name)
