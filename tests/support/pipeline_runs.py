"""Pipelines played on the in-memory fakes: upload, submit, each step's events, the next step's request.

For the unit tests of pipelines (tests/unit/test_pipelines.py). As ``array_runs`` (whose ``ArrayStack`` this
extends), the table is built the way the functions build it (the layer's runtime form, then ``with_default``), Batch is
the ``FakeJobGateway`` and S3 the ``FakeManifests``; the tracker's retry requests go through the SubmitQueue's message
format (``FakeRetryQueue``), so what a step's request carries is what the submit path would read.

The table: ``split`` (upload-triggered) -> ``render`` (an array of split's manifest; exit 75 retried, 2 attempts) ->
``merge``; and ``check`` -> ``publish`` (3 attempts, exit 75 retried): sequential single jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.models import S3Source
from batch_orchestrator.workload_steps import step_manifest_key
from batch_orchestrator.workloads import WorkloadTable
from tests.support.array_runs import ArrayStack
from tests.support.environments import DEFINITION, GLOBALS, QUEUE, job_definition, with_workloads, workload_json
from tests.support.fakes import FakeJobGateway
from tests.support.workload_runs import BUCKET

PIPELINE_WORKLOADS = (
    workload_json("split", match={"prefix": "scenes/"}, then="render"),
    workload_json(
        "render", retry={"exit_codes": "75", "max_attempts": 2}, array={"manifest": "previous-step"}, then="merge"
    ),
    workload_json("merge"),
    workload_json("check", match={"prefix": "releases/"}, then="publish"),
    workload_json("publish", retry={"exit_codes": "75", "max_attempts": 3}),
)
PIPELINE_ENV = with_workloads(GLOBALS, PIPELINE_WORKLOADS)
OUTPUT_PREFIX = GLOBALS["OUTPUT_PREFIX"]


def pipeline_table() -> WorkloadTable:
    return workload_table_from_env(PIPELINE_ENV)


@dataclass
class PipelineStack(ArrayStack):
    """``ArrayStack`` on the pipeline table; S3 holds what each step writes."""

    table: WorkloadTable = field(default_factory=pipeline_table)
    jobs: FakeJobGateway = field(
        default_factory=lambda: FakeJobGateway(
            job_queues=[QUEUE],
            job_definitions=[DEFINITION, *(job_definition(w["name"]) for w in PIPELINE_WORKLOADS)],
        )
    )

    def write_step_manifest(self, run_id: str, step: str, body: bytes) -> None:
        """Step ``step`` of run ``run_id`` wrote ``body`` as its manifest (where its next step reads it)."""
        self.manifests.put(S3Source(bucket=BUCKET, key=step_manifest_key(OUTPUT_PREFIX, run_id, step)), body)
