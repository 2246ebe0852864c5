"""`orchestrator runs find --key`: which run and which child processed an uploaded key, against the moto stack of
template.yaml rendered with a coalescing workload; the uploads go through the real submit_jobs and coalesce_uploads.
"""

from __future__ import annotations

from emulator import EmulatedStack, deliver_sqs_batch
from orchestrator_cli.errors import ExitCode
from tests.cli.conftest import CliRunner, drain_submit_queue, finish_attempt, start_run, upload
from tests.support.runs import jobs_of
from tests.support.workload_yaml import coalescing_stack_workloads  # noqa: F401 - the stack's stack_workloads


def test_a_coalesced_key_names_its_run_and_child(stack: EmulatedStack, cli: CliRunner) -> None:
    # Given three uploads to frames, coalesced into one run
    for name in ("a", "b", "c"):
        upload(stack, f"frames/{name}.png")
    drain_submit_queue(stack)
    assert deliver_sqs_batch(stack, "CoalesceUploadsFunction", raise_errors=True).failed == ()
    submitted = cli("runs", "find", "--key", "frames/b.png", "--json", stack=stack).json()
    assert submitted["status"] == "SUBMITTED"
    assert submitted["childJobId"].startswith(f"of job {submitted['runId']}-a1-")
    finish_attempt(stack, submitted["runId"], "SUCCEEDED")

    # When the second key is looked up (its current version) once the run succeeded
    result = cli("runs", "find", "--key", "frames/b.png", "--json", stack=stack)

    # Then the answer is the batch's run, the key's child index and the child's job
    assert result.code == ExitCode.OK, result.err
    found = result.json()
    assert (found["coalesced"], found["workload"], found["arraySize"], found["status"]) == (
        True,
        "frames",
        3,
        "SUCCEEDED",
    )
    assert found["childStatus"] == "SUCCEEDED"
    (parent,) = [job for job in jobs_of(stack, found["runId"]) if ":" not in job["jobId"]]
    assert found["item"] in (0, 1, 2)
    assert found["childJobId"] == f"{parent['jobId']}:{found['item']}"
    assert found["manifest"].startswith("s3://")
    assert "/batch-orchestrator/coalesced/frames/" in found["manifest"]
    # and the text form says the same
    text = cli("runs", "find", "--key", "frames/b.png", stack=stack).out
    assert f"Run           {found['runId']}" in text
    assert f"item {found['item']} of 3 in workload frames" in text


def test_a_plain_upload_is_its_own_run_and_an_unknown_key_is_not_found(stack: EmulatedStack, cli: CliRunner) -> None:
    run_id = start_run(stack, "incoming/report.csv")
    found = cli("runs", "find", "--key", "incoming/report.csv", "--json", stack=stack).json()
    assert (found["runId"], found["coalesced"]) == (run_id, False)
    missing = cli("runs", "find", "--key", "frames/none.png", stack=stack)
    assert missing.code == ExitCode.NOT_FOUND
