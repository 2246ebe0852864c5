"""`orchestrator smoke`, the real command in its own process, against the local pipeline as `serve` runs it.

The pipeline runs in this process with the Lambda Invoke shim `serve` installs (SIMULATED Lambda and
Batch: see emulator.smoke_support and emulator.pipeline); the CLI reaches it only through its
endpoint, found with `--local` and used with fake credentials, exactly as `make smoke` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import serve_state
from emulator.pipeline import LocalPipeline
from emulator.smoke_support import stack_functions_invocable

SCHEDULE_ON = {"ScheduleEnabled": "true", "ScheduleExpression": "rate(1 day)"}


@pytest.fixture
def serving() -> Iterator[LocalPipeline]:
    pipeline = LocalPipeline(SCHEDULE_ON).start()
    try:
        with stack_functions_invocable(pipeline.stack, pipeline.invoke_function, pipeline.invoke_function_async):
            yield pipeline
    finally:
        pipeline.stop()


def test_the_smoke_test_passes_against_the_emulator_and_leaves_nothing(
    serving: LocalPipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the local stack with its schedule enabled, its state recorded as `serve` records it (under a
    # private temporary directory), and a user whose profile points at a real account elsewhere
    monkeypatch.setattr(serve_state, "STATE_DIR", tmp_path / serve_state.STATE_DIR.name)
    serve_state.write_state(serving)
    outputs = serving.stack.outputs
    config = tmp_path / "aws-config"
    config.write_text("[profile someone-real]\nregion = eu-west-3\naws_access_key_id = AKIAREALKEY\n")
    env = {**os.environ, "TMPDIR": str(tmp_path), "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "someone-real"}
    env.pop("AWS_ENDPOINT_URL", None)
    command = [sys.executable, "-m", "orchestrator_cli", "--json", "smoke", "--local", "--timeout", "45"]

    # When `orchestrator smoke --local` runs in its own process
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    # Then every step passed, through the real paths (an alert really reached its temporary queue)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert [step["result"] for step in report["steps"]] == ["PASSED"] * 6
    assert "alert received: RUN_FAILED, exit code 3" in report["steps"][1]["detail"]
    assert any("SIMULATED" in note for note in report["notes"])
    # and the pipeline saw three runs that it ran to their end, each once
    finished = {
        change.run_id: change.status for change in serving.changes() if change.status in ("SUCCEEDED", "FAILED")
    }
    assert sorted(finished.values()) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    # and nothing the smoke test created is left: objects, runs, queue, subscription
    s3, sqs = serving.stack.client("s3"), serving.stack.client("sqs")
    listing = s3.list_object_versions(Bucket=outputs["InputBucketName"])
    assert listing.get("Versions", []) + listing.get("DeleteMarkers", []) == []
    assert serving.stack.client("dynamodb").scan(TableName=outputs["RunsTableName"])["Items"] == []
    assert [url for url in sqs.list_queues()["QueueUrls"] if "-smoke-" in url] == []
    assert not serving.errors
