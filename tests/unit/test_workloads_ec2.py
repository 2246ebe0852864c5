"""EC2 and GPU workloads: the table's ``compute: {type: ec2}``, ``gpus`` and ``ec2_compute``, and their runs.

The invariants under test: an ec2 workload takes whole vCPUs and any memory of 4 MiB or more (a ladder
too), GPUs only on EC2; the ``ec2_compute`` block is required exactly when an ec2 workload exists, and
every problem in it is one line naming the field; the runtime JSON carries the type and the GPUs and
reads back as the same workload; every attempt of an ec2 workload is submitted to EC2_JOB_QUEUE_ARN
(a stack without one refuses at cold start), and an out-of-memory failure climbs its ladder there too.
Batch is the in-memory fake (tests/support/workload_runs.py); the OOM reason is the one ECS reports.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

from batch_orchestrator.attempt_plan import capacity_for
from batch_orchestrator.config import SubmitConfig, workload_table_from_env
from batch_orchestrator.errors import ConfigError
from batch_orchestrator.submit import SubmitSettings
from batch_orchestrator.tracking import TrackOutcome
from batch_orchestrator.workloads import (
    Capacity,
    ComputeType,
    Ec2Capacity,
    Ec2Compute,
    KeyRule,
    Size,
    WorkloadTable,
    WorkloadTableError,
    parse_workloads,
    to_runtime_json,
)
from tests.support.environments import (
    ACCOUNT,
    DEFINITION,
    QUEUE,
    SUBMIT_ENV,
    job_definition,
    with_workloads,
    workload_json,
)
from tests.support.fakes import FakeJobGateway
from tests.support.workload_runs import OUT_OF_MEMORY, WorkloadStack
from workload_table.table import load_table

EC2_QUEUE = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/batch-orchestrator-ec2"
GPU_DEFINITION = job_definition("gpu")
GPU = workload_json(
    "gpu",
    match={"prefix": "models/"},
    vcpu="8",
    memory=[30000, 60000],
    gpus=1,
    retry={"max_attempts": 3},
    compute={"type": "ec2"},
)
ENV = with_workloads(SUBMIT_ENV, [GPU], EC2_JOB_QUEUE_ARN=EC2_QUEUE)

GPU_YAML = """\
workloads:
  - name: gpu
    match: {prefix: models/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: 8
    memory: [30000, 60000]
    gpus: 1
    timeout_seconds: 3600
    retry: {max_attempts: 3}
    compute: {type: ec2}
ec2_compute:
  instance_types: [g5.2xlarge]
  max_vcpus: 32
"""


def problems(text: str) -> list[str]:
    with pytest.raises(WorkloadTableError) as caught:
        load_table(text)
    return [str(p) for p in caught.value.problems]


# ------------------------------------------------------------------------------------------ the file
def test_an_ec2_table_reads_with_its_compute_environment() -> None:
    table = load_table(GPU_YAML)

    (gpu,) = table.workloads
    assert (gpu.compute, gpu.gpus) == (ComputeType.EC2, 1)
    assert gpu.ladder == (Size("8", 30000), Size("8", 60000))
    assert table.ec2_compute == Ec2Compute(instance_types=("g5.2xlarge",), max_vcpus=32)
    assert table.uses_ec2
    assert not table.uses_spot
    # and the block survives adding the stack's own workload (make validate's check with samconfig.toml)
    default = copy.replace(
        gpu, name="default", key_rule=KeyRule(prefix="incoming/"), compute=ComputeType.FARGATE, gpus=0
    )
    assert table.with_default(default, output_prefix="").ec2_compute == table.ec2_compute


def test_a_spot_compute_environment_takes_a_bid() -> None:
    text = GPU_YAML.replace("max_vcpus: 32", "max_vcpus: 32\n  capacity: spot\n  spot_bid_percentage: 60")
    compute = load_table(text).ec2_compute
    assert compute is not None
    assert (compute.capacity, compute.spot_bid_percentage) == (Ec2Capacity.SPOT, 60)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "vcpu: 8",
            "vcpu: 0.5",
            "workloads.yaml: gpu: vcpu: must be a whole number of vCPUs, 1 or more, on EC2, got 0.5",
        ),
        ("vcpu: 8", 'vcpu: "two"', "workloads.yaml: gpu: vcpu: must be a whole number of vCPUs, 1 or more, on EC2"),
        ("[30000, 60000]", "[30000, 2]", "workloads.yaml: gpu: memory[1]: must be a whole number of MiB, 4 or more"),
        ("[30000, 60000]", "[60000, 30000]", "workloads.yaml: gpu: memory: a ladder's steps must grow"),
        ("gpus: 1", "gpus: 17", "workloads.yaml: gpu: gpus: must be a whole number from 1 to 16, got 17"),
        ("gpus: 1", "gpus: true", "workloads.yaml: gpu: gpus: must be a whole number from 1 to 16, got true"),
        (
            "{type: ec2}",
            "{type: ec2, on_demand_after: 1}",
            "workloads.yaml: gpu: compute.on_demand_after: applies only to type fargate-spot",
        ),
        (
            "{type: ec2}",
            "{type: ec3}",
            "workloads.yaml: gpu: compute.type: must be fargate, fargate-spot or ec2, got 'ec3'",
        ),
    ],
)
def test_a_bad_ec2_workload_gives_one_line_naming_the_field(old: str, new: str, expected: str) -> None:
    assert GPU_YAML.count(old) == 1
    found = problems(GPU_YAML.replace(old, new))
    assert [line for line in found if line.startswith(expected)] != [], found


def test_gpus_on_fargate_are_refused_because_fargate_has_no_gpus() -> None:
    text = GPU_YAML.replace("vcpu: 8", "vcpu: 4").replace("memory: [30000, 60000]", "memory: 8192")
    text = text.replace("    compute: {type: ec2}\n", "").split("ec2_compute:")[0]
    assert problems(text) == [
        "workloads.yaml: gpu: gpus: needs compute {type: ec2}: Fargate has no GPUs (add an ec2_compute block with "
        "GPU instances)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "ec2_compute:\n  instance_types: [g5.2xlarge]\n  max_vcpus: 32\n",
            "",
            "workloads.yaml: ec2_compute: required: workload gpu has compute type ec2",
        ),
        (
            "max_vcpus: 32",
            "max_vcpus: 32\n  min_vcpu: 0",
            "workloads.yaml: ec2_compute.min_vcpu: unknown key; did you mean 'min_vcpus'?",
        ),
        ("  max_vcpus: 32\n", "", "workloads.yaml: ec2_compute.max_vcpus: required"),
        (
            "max_vcpus: 32",
            "max_vcpus: 0",
            "workloads.yaml: ec2_compute.max_vcpus: must be a whole number, 1 or more, got 0",
        ),
        (
            "max_vcpus: 32",
            "max_vcpus: 32\n  min_vcpus: 64",
            "workloads.yaml: ec2_compute.min_vcpus: must be at most max_vcpus (32), got 64",
        ),
        ("max_vcpus: 32", "max_vcpus: 4", "workloads.yaml: gpu: vcpu: 8 vCPU is more than ec2_compute.max_vcpus (4)"),
        ("[g5.2xlarge]", "[]", "workloads.yaml: ec2_compute.instance_types: must be a non-empty list"),
        (
            "[g5.2xlarge]",
            "[G5 XL]",
            "workloads.yaml: ec2_compute.instance_types[0]: must be an instance type (g5.xlarge)",
        ),
        ("[g5.2xlarge]", "[g5, g5]", "workloads.yaml: ec2_compute.instance_types: lists an instance type twice"),
        (
            "max_vcpus: 32",
            "max_vcpus: 32\n  capacity: reserved",
            "workloads.yaml: ec2_compute.capacity: must be on-demand or spot, got 'reserved'",
        ),
        (
            "max_vcpus: 32",
            "max_vcpus: 32\n  spot_bid_percentage: 50",
            "workloads.yaml: ec2_compute.spot_bid_percentage: applies only to capacity: spot",
        ),
        (
            "max_vcpus: 32",
            "max_vcpus: 32\n  capacity: spot\n  spot_bid_percentage: 101",
            "workloads.yaml: ec2_compute.spot_bid_percentage: must be a whole number from 1 to 100",
        ),
        (
            "ec2_compute:\n  instance_types: [g5.2xlarge]\n  max_vcpus: 32\n",
            "ec2_compute: [g5]\n",
            "workloads.yaml: ec2_compute: must be a mapping",
        ),
    ],
)
def test_a_bad_ec2_compute_block_gives_one_line_naming_the_field(old: str, new: str, expected: str) -> None:
    assert GPU_YAML.count(old) == 1
    found = problems(GPU_YAML.replace(old, new))
    assert [line for line in found if line.startswith(expected)] != [], found


def test_an_ec2_compute_block_nothing_uses_is_refused() -> None:
    text = "workloads: []\nec2_compute: {instance_types: [optimal], max_vcpus: 16}\n"
    assert problems(text) == [
        "workloads.yaml: ec2_compute: no workload has compute type ec2: remove the block (the stack would run an "
        "idle compute environment)"
    ]


# ------------------------------------------------------------------------------------------ the runtime table
def test_the_runtime_json_carries_the_type_and_gpus_and_reads_back_the_same_workload() -> None:
    (gpu,) = load_table(GPU_YAML).workloads
    runtime = to_runtime_json(gpu)

    assert (runtime["compute"], runtime["gpus"]) == ({"type": "ec2"}, 1)
    (back,) = parse_workloads([runtime], source="workload_table.json", runtime=True)
    assert back == copy.replace(gpu, container=None)


def test_every_attempt_of_an_ec2_workload_runs_on_ec2_capacity() -> None:
    gpu = workload_table_from_env(ENV).get("gpu")
    assert gpu is not None
    assert [capacity_for(gpu, interruptions) for interruptions in (0, 1, 5)] == [Capacity.EC2] * 3


def test_a_stack_with_an_ec2_workload_needs_its_ec2_queue() -> None:
    assert SubmitConfig.from_env(ENV).submit.ec2_job_queue == EC2_QUEUE
    # A stack without ec2 workloads sets it to "", and needs none
    assert SubmitConfig.from_env(SUBMIT_ENV).submit.ec2_job_queue == ""
    with pytest.raises(ConfigError, match="EC2_JOB_QUEUE_ARN is required: workload gpu runs on EC2"):
        SubmitConfig.from_env({**ENV, "EC2_JOB_QUEUE_ARN": ""})
    with pytest.raises(ConfigError, match="EC2_JOB_QUEUE_ARN='queue' is not a Batch job queue ARN"):
        SubmitConfig.from_env({**ENV, "EC2_JOB_QUEUE_ARN": "queue"})


# ------------------------------------------------------------------------------------------ runs
def _ec2_table() -> WorkloadTable:
    return workload_table_from_env(ENV)


@dataclass
class Ec2Stack(WorkloadStack):
    """The fakes' stack with the GPU workload and an EC2 queue (Batch SIMULATED by FakeJobGateway)."""

    table: WorkloadTable = field(default_factory=_ec2_table)
    jobs: FakeJobGateway = field(
        default_factory=lambda: FakeJobGateway(
            job_queues=[QUEUE, EC2_QUEUE], job_definitions=[DEFINITION, GPU_DEFINITION]
        )
    )

    @property
    def submit_settings(self) -> SubmitSettings:
        return copy.replace(super().submit_settings, spot_job_queue="", ec2_job_queue=EC2_QUEUE)


def test_an_ec2_upload_is_submitted_to_the_ec2_queue_and_climbs_its_ladder_there() -> None:
    stack = Ec2Stack()

    # When a model is uploaded
    first = stack.start("models/resnet.bin")

    # Then its job names the GPU workload's definition on the EC2 queue, at the definition's own size
    assert (first.spec.job_definition, first.spec.job_queue, first.spec.resources) == (
        GPU_DEFINITION,
        EC2_QUEUE,
        None,
    )
    assert stack.run_of("models/resnet.bin").plan.capacity is Capacity.EC2
    # and an upload of the default workload still goes to the stack's own queue
    assert stack.start("incoming/data.csv").spec.job_queue == QUEUE

    # When the attempt runs out of memory, the next one is on EC2 again, one ladder step up
    assert stack.finish(first, **OUT_OF_MEMORY).outcome is TrackOutcome.RETRY_SCHEDULED
    second = stack.next_attempt()
    assert (second.spec.job_queue, second.spec.resources) == (EC2_QUEUE, Size(vcpu="8", memory_mib=60000))
    assert stack.run_of("models/resnet.bin").plan.capacity is Capacity.EC2


def test_a_stack_without_an_ec2_queue_refuses_an_ec2_attempt_before_writing() -> None:
    from batch_orchestrator.errors import WorkloadUnavailable

    settings = SubmitSettings(job_queue=QUEUE, job_definition=DEFINITION, max_attempts=3, claim_lease_seconds=90)
    with pytest.raises(WorkloadUnavailable, match="EC2 capacity, but this stack has no EC2 job queue"):
        settings.queue_for(Capacity.EC2)
