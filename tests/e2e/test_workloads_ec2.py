"""An ec2 workload, end to end: template.yaml rendered with a GPU workload on the EC2 compute environment,
created in the emulator and driven by an upload only.

SIMULATED here: the EC2 instances and their GPU (the local job runner runs the job as a process, whatever
the queue's compute environment, and reserves no GPU), and the out-of-memory kill (the runner watches the
job's resident memory, emulator/task_limits.py; it reports Fargate's OutOfMemoryError reason, which also
names "OutOfMemory" as EC2's reasons do).
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.pipeline import LocalPipeline
from emulator.task_limits import OUT_OF_MEMORY_REASON
from tests.e2e.conftest import IDLE_TIMEOUT, RUN_TIMEOUT

GPU_YAML = """
workloads:
  - name: inference
    match: {prefix: models/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: 1
    memory: [512, 1024]
    gpus: 1
    timeout_seconds: 60
    environment: {SAMPLE_MEMORY_MIB: "700"}
    retry: {max_attempts: 3, base_delay_seconds: 1}
    compute: {type: ec2}
ec2_compute:
  instance_types: [g5.xlarge]
  max_vcpus: 8
"""


@pytest.fixture
def pipeline_workloads() -> str:
    return GPU_YAML


def _requirements(job: dict[str, Any]) -> dict[str, str]:
    return {item["type"]: item["value"] for item in job["container"]["resourceRequirements"]}


def test_an_ec2_upload_runs_on_the_ec2_queue_and_climbs_its_memory_ladder_there(pipeline: LocalPipeline) -> None:
    # Given an upload for the GPU workload, whose job uses 700 MiB, more than the ladder's first step (512 MiB)
    upload = pipeline.upload("models/resnet.bin", "not really a model\n")

    # When the run finishes
    run = pipeline.wait_for_runs([upload.run_id], timeout=RUN_TIMEOUT)[upload.run_id]
    pipeline.wait_idle(timeout=IDLE_TIMEOUT)

    # Then both attempts ran on Ec2JobQueue: the first killed out of memory at 512 MiB, the second at 1024 MiB
    assert (run.status.value, run.attempt, run.plan.capacity.value) == ("SUCCEEDED", 2, "ec2")
    assert run.history[0].reason == OUT_OF_MEMORY_REASON
    first, second = pipeline.jobs_of(upload.run_id)
    assert {first["jobQueue"], second["jobQueue"]} == {pipeline.stack.resources["Ec2JobQueue"]}
    assert {first["jobDefinition"], second["jobDefinition"]} == {
        pipeline.stack.resources["WorkloadInferenceJobDefinition"]
    }
    # and the second's override (VCPU and MEMORY) keeps the job definition's GPU: Batch replaces the overridden
    # types only (SIMULATED as emulator/task_limits.py's effective_resource_requirements models it)
    assert _requirements(first) == {"VCPU": "1", "MEMORY": "512", "GPU": "1"}
    assert _requirements(second) == {"VCPU": "1", "MEMORY": "1024", "GPU": "1"}
    assert pipeline.alerts() == []
    assert pipeline.errors == []
