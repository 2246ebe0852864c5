"""The local job runner's array jobs (emulator.local_arrays): children and parent as AWS Batch runs them.

A runner on a bare moto server (a bucket, a job queue, the sample job's definition), not the stack (array
workloads on the stack: test_array_workloads.py), so a 10,000-child array's events are counted, not delivered to
the tracker. Each test
submits one array, waits until the runner is idle, and compares the events, DescribeJobs/ListJobs and what the
children's processes wrote; the sample job fails from its own AWS_BATCH_JOB_ARRAY_INDEX (SAMPLE_FAIL_INDEXES).
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from batch_orchestrator.batch_events import IGNORED_ARRAY_CHILD, Ignored, parse_event
from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG
from batch_orchestrator.job_outcome import TIMEOUT_STATUS_REASON
from batch_orchestrator.models import JobObservation, RunStatus
from emulator.moto_server import LocalMotoServer, client_for, reset_shared_clients
from emulator.runner import LocalJobRunner
from emulator.stack import configure_moto

pytestmark = pytest.mark.slow

BUCKET = "arrays-input"
INPUT_KEY = "incoming/items.txt"
RUN_ID = "s3-0123456789abcdef01234567"
JOB_NAME = f"{RUN_ID}-a1-items"  # as the orchestrator names its jobs: the parent's events are the run's
REGION = "us-east-1"
IDLE_TIMEOUT = 60.0
TERMINAL = ("SUCCEEDED", "FAILED")


@dataclass(frozen=True)
class BareBatch:
    """A moto server with a bucket holding the input, a job queue and the sample job's definition."""

    endpoint_url: str
    account_id: str
    batch: Any
    s3: Any
    logs: Any
    queue_arn: str
    definition_arn: str

    def register_definition(self, name: str, **extra: Any) -> str:
        """The sample job's definition (0.25 vCPU, 512 MiB, python3 /app/job.py) with ``extra`` properties."""
        return str(
            self.batch.register_job_definition(
                jobDefinitionName=name,
                type="container",
                platformCapabilities=["FARGATE"],
                containerProperties={
                    "image": "batch-orchestrator-sample-job:local",
                    "command": ["python3", "/app/job.py"],
                    "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
                    "environment": [
                        {"name": "OUTPUT_BUCKET", "value": BUCKET},
                        {"name": "OUTPUT_PREFIX", "value": "out/"},
                    ],
                },
                **extra,
            )["jobDefinitionArn"]
        )


@pytest.fixture
def bare_batch() -> Iterator[BareBatch]:
    server = LocalMotoServer()
    endpoint = server.start()
    try:
        configure_moto(endpoint)
        batch, s3 = client_for(endpoint, "batch"), client_for(endpoint, "s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=b"one\ntwo\nthree\n")
        role = client_for(endpoint, "iam").create_role(RoleName="arrays-batch", AssumeRolePolicyDocument="{}")
        environment = batch.create_compute_environment(
            computeEnvironmentName="arrays", type="UNMANAGED", serviceRole=role["Role"]["Arn"]
        )
        queue = batch.create_job_queue(
            jobQueueName="arrays",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}],
        )
        bare = BareBatch(
            endpoint_url=endpoint,
            account_id=client_for(endpoint, "sts").get_caller_identity()["Account"],
            batch=batch,
            s3=s3,
            logs=client_for(endpoint, "logs"),
            queue_arn=queue["jobQueueArn"],
            definition_arn="",
        )
        yield copy.replace(bare, definition_arn=bare.register_definition("sample"))
    finally:
        server.stop()
        reset_shared_clients()


@contextmanager
def running_runner(bare: BareBatch, emit: Callable[[dict[str, Any]], None], **options: Any) -> Iterator[LocalJobRunner]:
    runner = LocalJobRunner(
        job_queue_arns=[bare.queue_arn],
        emit=emit,
        account_id=bare.account_id,
        region=REGION,
        endpoint_url=bare.endpoint_url,
        batch_client=bare.batch,
        logs_client=bare.logs,
        stop_grace_seconds=0.5,
        **options,
    ).start()
    try:
        yield runner
    finally:
        runner.stop()


def submit_array(bare: BareBatch, size: int, *, definition: str | None = None, **environment: str) -> str:
    """SubmitJob of an array of ``size`` children with the run's environment (+ ``environment``); its job id."""
    variables = {"RUN_ID": RUN_ID, "RUN_ATTEMPT": "1", "TRIGGER": "s3", "INPUT_BUCKET": BUCKET, "INPUT_KEY": INPUT_KEY}
    return str(
        bare.batch.submit_job(
            jobName=JOB_NAME,
            jobQueue=bare.queue_arn,
            jobDefinition=definition or bare.definition_arn,
            arrayProperties={"size": size},
            containerOverrides={
                "environment": [{"name": k, "value": v} for k, v in {**variables, **environment}.items()]
            },
            tags={RUN_ID_TAG: RUN_ID, ATTEMPT_TAG: "1"},
        )["jobId"]
    )


def wait_idle(runner: LocalJobRunner, timeout: float = IDLE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while runner.busy:  # busy from SubmitJob on: moto's submit hands the parent over before it returns
        if time.monotonic() > deadline:
            raise TimeoutError(f"the runner is still busy after {timeout} s")
        time.sleep(0.05)


def statuses_by_job(changes: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for job_id, status in changes:
        found[job_id].append(status)
    return dict(found)


def most_running_at_once(changes: Sequence[tuple[str, str]]) -> int:
    """The most children between STARTING and the end of their attempt at one time, in event order."""
    running: set[str] = set()
    most = 0
    for job_id, status in changes:
        if status == "STARTING":
            running.add(job_id)
            most = max(most, len(running))
        elif status in (*TERMINAL, "RUNNABLE"):
            running.discard(job_id)
    return most


def nonzero(summary: dict[str, int]) -> dict[str, int]:
    return {status: count for status, count in summary.items() if count}


def describe(bare: BareBatch, *job_ids: str) -> dict[str, dict[str, Any]]:
    return {job["jobId"]: job for job in bare.batch.describe_jobs(jobs=list(job_ids))["jobs"]}


def result_index(bare: BareBatch, index: int) -> int | None:
    """The arrayIndex of the result child ``index`` wrote (the sample job's key for it), None if it wrote none."""
    try:
        body = bare.s3.get_object(Bucket=BUCKET, Key=f"out/{RUN_ID}/{index}/result.json")["Body"].read()
    except bare.s3.exceptions.NoSuchKey:
        return None
    return int(json.loads(body)["arrayIndex"])


# ----------------------------------------------------------------------------------------- with processes
def test_a_failing_child_fails_its_parent_once_every_child_has_ended(bare_batch: BareBatch) -> None:
    # Given a runner running two tasks at once, and an array of 3 whose child 1 exits 3 (its own decision)
    events: list[dict[str, Any]] = []
    with running_runner(bare_batch, events.append, capacity=2) as runner:
        parent = submit_array(bare_batch, 3, SAMPLE_FAIL_INDEXES="1", SAMPLE_FAIL_EXIT_CODE="3")

        # When every child has ended
        wait_idle(runner)
    children = [f"{parent}:{index}" for index in range(3)]
    changes = [(e["detail"]["jobId"], e["detail"]["status"]) for e in events]

    # Then each child went RUNNABLE → STARTING → RUNNING → its end, and the parent PENDING → FAILED, PENDING with
    # the first child's RUNNABLE (before any child started) and FAILED after every child's end
    assert statuses_by_job(changes) == {
        children[0]: ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"],
        parent: ["PENDING", "FAILED"],
        children[1]: ["RUNNABLE", "STARTING", "RUNNING", "FAILED"],
        children[2]: ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"],
    }
    assert changes[:2] == [(children[0], "RUNNABLE"), (parent, "PENDING")]
    assert changes[-1] == (parent, "FAILED")
    assert most_running_at_once(changes) <= 2

    # And the events carry arrayProperties as DescribeJobs does: the index for a child, size and counts for the parent
    for event in events:
        detail = event["detail"]
        if detail["jobId"] == parent:
            assert detail["arrayProperties"]["size"] == 3
        else:
            assert detail["arrayProperties"] == {"index": int(detail["jobId"].rsplit(":", 1)[1])}
            assert event["resources"] == [detail["jobArn"]]
    final = events[-1]["detail"]
    assert nonzero(final["arrayProperties"]["statusSummary"]) == {"SUCCEEDED": 2, "FAILED": 1}
    ends = {e["detail"]["jobId"]: e["detail"] for e in events if e["detail"]["status"] in TERMINAL}
    assert [ends[c]["container"]["exitCode"] for c in children] == [0, 3, 0]
    assert "exitCode" not in ends[parent]["container"]  # the parent runs no container
    assert ends[parent]["attempts"] == []
    assert (ends[parent]["startedAt"], ends[parent]["stoppedAt"]) == (
        min(ends[c]["startedAt"] for c in children),
        max(ends[c]["stoppedAt"] for c in children),
    )

    # And DescribeJobs and ListJobs agree with the events
    described = describe(bare_batch, parent, *children)
    assert described[parent]["status"] == "FAILED"
    assert described[parent]["arrayProperties"]["statusSummary"] == final["arrayProperties"]["statusSummary"]
    assert described[parent]["arrayProperties"]["size"] == 3
    assert [
        (described[c]["status"], described[c]["container"]["exitCode"], described[c]["arrayProperties"]["index"])
        for c in children
    ] == [("SUCCEEDED", 0, 0), ("FAILED", 3, 1), ("SUCCEEDED", 0, 2)]
    assert [len(described[c]["attempts"]) for c in children] == [1, 1, 1]
    failed_children = bare_batch.batch.list_jobs(arrayJobId=parent, jobStatus="FAILED")["jobSummaryList"]
    assert [(s["jobId"], s["arrayProperties"]) for s in failed_children] == [(children[1], {"index": 1})]

    # And the tracker's parser finds no event malformed: a child's is ignored as an array child's, the parent's are
    # the run's job, PENDING, then FAILED without an exit code or a reason (the tracker then lists its failed children)
    parsed = [(e["detail"]["jobId"], parse_event(e)) for e in events]
    assert all(p == Ignored(IGNORED_ARRAY_CHILD, JOB_NAME) for job_id, p in parsed if job_id != parent)
    assert [
        (p.run_id, p.status, p.exit_code, p.status_reason) if isinstance(p, JobObservation) else p
        for job_id, p in parsed
        if job_id == parent
    ] == [(RUN_ID, RunStatus.PENDING, None, None), (RUN_ID, RunStatus.FAILED, None, None)]

    # And AWS_BATCH_JOB_ARRAY_INDEX reached each child's process: it wrote its own result, or failed on its index
    assert [result_index(bare_batch, i) for i in range(3)] == [0, None, 2]
    output = [line for _, _, line in runner.job(children[1]).output]  # type: ignore[union-attr]
    assert any("SAMPLE_FAIL_INDEXES asks array child 1 for exit code 3" in line for line in output)


def test_an_array_whose_children_all_succeed_succeeds(bare_batch: BareBatch) -> None:
    # Given an array of 4 children that all succeed
    events: list[dict[str, Any]] = []
    with running_runner(bare_batch, events.append) as runner:
        parent = submit_array(bare_batch, 4)

        # When every child has ended
        wait_idle(runner)

    # Then the parent SUCCEEDED last, with every child counted, and DescribeJobs says so too
    assert (events[-1]["detail"]["jobId"], events[-1]["detail"]["status"]) == (parent, "SUCCEEDED")
    assert nonzero(events[-1]["detail"]["arrayProperties"]["statusSummary"]) == {"SUCCEEDED": 4}
    described = describe(bare_batch, parent)[parent]
    assert described["status"] == "SUCCEEDED"
    assert nonzero(described["arrayProperties"]["statusSummary"]) == {"SUCCEEDED": 4}
    assert described["startedAt"] <= described["stoppedAt"]
    assert [result_index(bare_batch, i) for i in range(4)] == [0, 1, 2, 3]


def test_a_failed_child_is_retried_alone_by_the_job_definitions_retry_strategy(bare_batch: BareBatch) -> None:
    # Given a job definition with two attempts, and an array of 3 whose child 2 fails its first Batch attempt
    definition = bare_batch.register_definition("sample-retried", retryStrategy={"attempts": 2})
    events: list[dict[str, Any]] = []
    with running_runner(bare_batch, events.append) as runner:
        parent = submit_array(
            bare_batch, 3, definition=definition, SAMPLE_FAIL_INDEXES="2", SAMPLE_FAIL_UNTIL_ATTEMPT="2"
        )

        # When every child has ended
        wait_idle(runner)
    changes = [(e["detail"]["jobId"], e["detail"]["status"]) for e in events]

    # Then child 2 alone went back to RUNNABLE and succeeded on its second attempt, and so did the parent
    by_job = statuses_by_job(changes)
    assert by_job[f"{parent}:2"] == ["RUNNABLE", "STARTING", "RUNNING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert by_job[f"{parent}:0"] == by_job[f"{parent}:1"] == ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert by_job[parent] == ["PENDING", "SUCCEEDED"]
    described = describe(bare_batch, f"{parent}:2")[f"{parent}:2"]
    assert [a["container"]["exitCode"] for a in described["attempts"]] == [1, 0]
    assert result_index(bare_batch, 2) == 2


def test_each_child_has_its_own_timeout_and_a_timeout_is_not_retried(bare_batch: BareBatch) -> None:
    # Given a job definition with a 1-second attempt timeout and two attempts, and an array of 2 that sleep 30 s
    definition = bare_batch.register_definition(
        "sample-timed", timeout={"attemptDurationSeconds": 1}, retryStrategy={"attempts": 2}
    )
    bare_batch.s3.put_object(Bucket=BUCKET, Key="incoming/slow.txt", Body=b"#sleep 30\n")
    events: list[dict[str, Any]] = []
    with running_runner(bare_batch, events.append, capacity=2) as runner:
        parent = submit_array(bare_batch, 2, definition=definition, INPUT_KEY="incoming/slow.txt")

        # When both have ended
        wait_idle(runner)

    # Then each child was stopped at its own timeout, once ("Array jobs": the timeout applies to each child job;
    # Batch does not retry a timeout), and the parent, which has no timeout, FAILED after them
    described = describe(bare_batch, parent, f"{parent}:0", f"{parent}:1")
    for child in (f"{parent}:0", f"{parent}:1"):
        assert described[child]["status"] == "FAILED"
        assert len(described[child]["attempts"]) == 1
        assert TIMEOUT_STATUS_REASON in described[child]["statusReason"]
    assert (events[-1]["detail"]["jobId"], events[-1]["detail"]["status"]) == (parent, "FAILED")


def test_terminating_the_parent_terminates_every_child_and_fails_the_parent(bare_batch: BareBatch) -> None:
    # Given an array of 3 whose children sleep, two of them running at once
    bare_batch.s3.put_object(Bucket=BUCKET, Key="incoming/slow.txt", Body=b"#sleep 30\n")
    events: list[dict[str, Any]] = []
    with running_runner(bare_batch, events.append, capacity=2) as runner:
        parent = submit_array(bare_batch, 3, INPUT_KEY="incoming/slow.txt")
        deadline = time.monotonic() + 30
        while [e["detail"]["status"] for e in events].count("RUNNING") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

        # When the parent is terminated
        bare_batch.batch.terminate_job(jobId=parent, reason="Stopped by the operator")
        wait_idle(runner)
    by_job = statuses_by_job([(e["detail"]["jobId"], e["detail"]["status"]) for e in events])

    # Then the running children were stopped, the waiting one failed without starting, and the parent FAILED last,
    # with the reason given ("Array jobs": terminating the parent terminates its children)
    assert sorted(by_job[f"{parent}:{i}"][-1] for i in range(3)) == ["FAILED", "FAILED", "FAILED"]
    assert sorted(len(by_job[f"{parent}:{i}"]) for i in range(3)) == [2, 4, 4]  # RUNNABLE, FAILED for the waiting one
    assert by_job[parent] == ["PENDING", "FAILED"]
    assert (events[-1]["detail"]["jobId"], events[-1]["detail"]["statusReason"]) == (parent, "Stopped by the operator")
    described = describe(bare_batch, parent, *(f"{parent}:{i}" for i in range(3)))
    assert {job["statusReason"] for job in described.values()} == {"Stopped by the operator"}
    assert nonzero(described[parent]["arrayProperties"]["statusSummary"]) == {"FAILED": 3}


# -------------------------------------------------------------------------------------- without processes
def test_ten_thousand_children_without_processes_end_in_seconds(
    bare_batch: BareBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a runner whose array children start no process (1% of them exit 1), and no process may start
    started: list[Any] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(args))

    def outcome(index: int) -> int:
        return 1 if index % 100 == 0 else 0

    changes: list[tuple[str, str]] = []
    parent_events: list[dict[str, Any]] = []

    def emit(event: dict[str, Any]) -> None:  # 40,002 events: keep the parent's, and only who changed to what
        detail = event["detail"]
        changes.append((detail["jobId"], detail["status"]))
        if ":" not in detail["jobId"]:
            parent_events.append(event)

    # When an array of 10,000 is submitted and runs to its end
    with running_runner(bare_batch, emit, array_child_outcome=outcome) as runner:
        began = time.monotonic()
        parent = submit_array(bare_batch, 10_000)
        submitted = time.monotonic() - began
        wait_idle(runner, timeout=120)
        seconds = time.monotonic() - began
    print(f"\n10,000 children without processes: {seconds:.1f} s (SubmitJob {submitted:.1f} s), {len(changes)} events")

    # Then it took seconds, started no process, and never had more than `capacity` children past RUNNABLE
    assert seconds < 60
    assert started == []
    assert most_running_at_once(changes) <= 4  # DEFAULT_CAPACITY
    # And every child went RUNNABLE → STARTING → RUNNING → its end; the parent PENDING → FAILED, last
    by_job = statuses_by_job(changes)
    assert len(by_job) == 10_001
    assert Counter(tuple(s) for job_id, s in by_job.items() if job_id != parent) == {
        ("RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"): 9_900,
        ("RUNNABLE", "STARTING", "RUNNING", "FAILED"): 100,
    }
    assert by_job[parent] == ["PENDING", "FAILED"]
    assert changes[-1] == (parent, "FAILED")
    summary = parent_events[-1]["detail"]["arrayProperties"]["statusSummary"]
    assert nonzero(summary) == {"SUCCEEDED": 9_900, "FAILED": 100}
    assert describe(bare_batch, parent)[parent]["arrayProperties"]["statusSummary"] == summary
    assert len(bare_batch.batch.list_jobs(arrayJobId=parent, jobStatus="FAILED")["jobSummaryList"]) == 100
