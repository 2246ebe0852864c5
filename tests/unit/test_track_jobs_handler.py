"""track_jobs' handler counts each outcome stack-wide (the names the alarms read) and for the job's workload."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.environments import SPOT_QUEUE, TRACK_ENV, with_workloads
from tests.support.handlers import load_handler
from tests.support.logs import emf_metrics, emf_metrics_by_workload
from tests.support.workload_runs import OUT_OF_MEMORY, WORKLOADS, WorkloadStack, job_detail

if TYPE_CHECKING:
    from tests.conftest import FakeLambdaContext


def test_a_retried_out_of_memory_failure_is_counted_for_its_workload(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given track_jobs of the three-workload stack, on the fakes, and a submitted images job
    env = with_workloads(TRACK_ENV, WORKLOADS, SPOT_JOB_QUEUE_ARN=SPOT_QUEUE)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = load_handler("track_jobs")
    config = app.TrackConfig.from_env(env)
    assert config.track.workloads is not None
    stack = WorkloadStack(table=config.track.workloads)
    job = stack.start("images/cat.jpg")
    monkeypatch.setattr(app, "_dependencies", lambda: (config, stack.runs, stack.retry_queue, stack.alerts, stack.jobs))
    event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": "123456789012",
        "time": "2026-11-21T12:05:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": job_detail(job, "FAILED", **OUT_OF_MEMORY),
    }
    capsys.readouterr()

    # When Batch reports it out of memory
    result = app.handler(event, lambda_context)

    # Then the retry is counted stack-wide and for images, and asks for the next ladder step
    assert result["outcome"] == "RETRY_SCHEDULED"
    out = capsys.readouterr().out
    assert emf_metrics(out) == {"JobsRetried": 1}
    assert emf_metrics_by_workload(out) == {"images": {"JobsRetried": 1}}
    assert stack.retry_queue.sent[-1].request.plan.size_step == 1
