"""The stack of template.yaml rendered with a GPU workload on EC2, created in an in-process moto by the ``stack``
fixture: the emulator creates the instance profile, the launch template, the managed EC2 compute environment
and its queue, and every function is told the EC2 queue. SIMULATED: moto records the compute environment
(``min_vcpus: 0``, so it launches no instance); whether EC2 capacity for the instance types exists is AWS's.
"""

from __future__ import annotations

import pytest

from batch_orchestrator.config import workload_table_from_env
from batch_orchestrator.workloads import ComputeType
from emulator import EmulatedStack
from emulator.invoke import handler_environment

FUNCTIONS = ("SubmitJobsFunction", "SubmitScheduledFunction", "TrackJobsFunction", "WatchdogFunction")
GPU_YAML = """\
workloads:
  - name: inference
    match: {prefix: models/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, -c, "print('inference')"]
    vcpu: 4
    memory: [15000, 30000]
    gpus: 1
    timeout_seconds: 3600
    retry: {max_attempts: 2}
    compute: {type: ec2}
ec2_compute:
  instance_types: [g5.xlarge, g5.2xlarge]
  min_vcpus: 0
  max_vcpus: 16
"""


@pytest.fixture
def stack_workloads() -> str:
    return GPU_YAML


def test_the_emulator_creates_the_ec2_compute_environment_and_every_function_sees_its_queue(
    stack: EmulatedStack,
) -> None:
    # Given the stack created from template.yaml rendered with a GPU workload on EC2
    batch = stack.client("batch")

    # When its EC2 queue, compute environment and the workload's job definition are read back
    (queue,) = batch.describe_job_queues(jobQueues=[stack.resources["Ec2JobQueue"]])["jobQueues"]
    (environment,) = batch.describe_compute_environments(
        computeEnvironments=[queue["computeEnvironmentOrder"][0]["computeEnvironment"]]
    )["computeEnvironments"]
    (definition,) = batch.describe_job_definitions(jobDefinitions=[stack.resources["WorkloadInferenceJobDefinition"]])[
        "jobDefinitions"
    ]

    # Then the queue runs on a managed EC2 environment of those instance types, launched with the instance profile
    resources = environment["computeResources"]
    assert (environment["type"], resources["type"]) == ("MANAGED", "EC2")
    assert sorted(resources["instanceTypes"]) == ["g5.2xlarge", "g5.xlarge"]
    assert (resources["minvCpus"], resources["maxvCpus"]) == (0, 16)
    profile = stack.client("iam").get_instance_profile(InstanceProfileName=stack.resources["Ec2InstanceProfile"])
    assert resources["instanceRole"] == profile["InstanceProfile"]["Arn"]
    # and the job definition asks for its GPU, with none of Fargate's properties (SIMULATED: moto returns no
    # platformCapabilities at all, so the [EC2] of the template is checked by tests/unit/test_workload_table_ec2.py)
    container = definition["containerProperties"]
    assert {"fargatePlatformConfiguration", "networkConfiguration", "runtimePlatform"}.isdisjoint(container)
    requirements = {r["type"]: r["value"] for r in definition["containerProperties"]["resourceRequirements"]}
    assert requirements == {"VCPU": "4", "MEMORY": "15000", "GPU": "1"}
    # and every function holds the EC2 queue, and the workload with its type and GPUs
    for function in FUNCTIONS:
        variables = handler_environment(stack, function)
        assert variables["EC2_JOB_QUEUE_ARN"] == stack.resources["Ec2JobQueue"], function
        gpu = workload_table_from_env(variables).workloads[-1]
        assert (gpu.compute, gpu.gpus, gpu.job_definition) == (ComputeType.EC2, 1, definition["jobDefinitionName"])
