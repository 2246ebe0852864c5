"""workload_table with EC2 compute: nothing EC2 in the default stack, everything it needs with an ec2 workload.

The invariants under test: template.yaml (the empty table) and a Fargate-only table render no EC2
resource, no public IP on the subnets and ``EC2_JOB_QUEUE_ARN: ""``; a table with an ec2 workload renders
the instance role (trusted by EC2 only, with the ECS instance policy) and profile, a launch template that
requires IMDSv2 and encrypts the root volume, a managed EC2 (or Spot) compute environment in the Fargate
environment's subnets, Ec2JobQueue in both SubmitJob statements, the tracker's rule, the environment and
the outputs, and an EC2 job definition without Fargate-only properties, with its GPUs; cfn-lint passes on it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.workload_stacks import TWO_WORKLOADS
from workload_table import render_template
from workload_table.check import check
from workload_table.yaml_text import load_cloudformation

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "template.yaml").read_text(encoding="utf-8")
EC2_RESOURCES = {"Ec2InstanceRole", "Ec2InstanceProfile", "Ec2LaunchTemplate", "Ec2ComputeEnvironment", "Ec2JobQueue"}

GPU_WORKLOADS = """\
workloads:
  - name: images
    match: {prefix: images/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "1"
    memory: 2048
    timeout_seconds: 600
  - name: inference
    match: {prefix: models/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/infer.py]
    cpu_architecture: ARM64
    vcpu: 8
    memory: [30000, 60000]
    gpus: 1
    timeout_seconds: 7200
    environment: {MODEL: resnet}
    retry: {max_attempts: 2}
    compute: {type: ec2}
ec2_compute:
  instance_types: [g5.2xlarge, g5.4xlarge]
  max_vcpus: 64
"""


def rendered(table: str) -> dict[str, Any]:
    return load_cloudformation(render_template(TEMPLATE, table))


def _ec2_parts(template: dict[str, Any]) -> list[str]:
    resources = template["Resources"]
    found = [r for r, body in resources.items() if r.startswith("Ec2") or "EC2" in str(body.get("Properties", {}))]
    return sorted(found)


@pytest.mark.parametrize("table", ["workloads: []\n", TWO_WORKLOADS], ids=["empty table", "fargate workloads"])
def test_a_stack_without_ec2_workloads_has_no_ec2_resource(table: str) -> None:
    template = rendered(table)

    assert _ec2_parts(template) == []
    types = {body["Type"] for body in template["Resources"].values()}
    assert types.isdisjoint({"AWS::EC2::LaunchTemplate", "AWS::IAM::InstanceProfile"})
    assert template["Globals"]["Function"]["Environment"]["Variables"]["EC2_JOB_QUEUE_ARN"] == ""
    for subnet in ("PublicSubnetA", "PublicSubnetB"):
        assert "MapPublicIpOnLaunch" not in template["Resources"][subnet]["Properties"]
    assert "Ec2JobQueueArn" not in template["Outputs"]


def test_an_ec2_workload_renders_the_compute_environment_and_its_roles() -> None:
    resources = rendered(GPU_WORKLOADS)["Resources"]

    assert set(resources) >= EC2_RESOURCES
    role = resources["Ec2InstanceRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole")
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"}
    ]
    assert "Policies" not in role
    assert resources["Ec2InstanceProfile"]["Properties"]["Roles"] == [{"Ref": "Ec2InstanceRole"}]
    data = resources["Ec2LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"] == {
        "HttpEndpoint": "enabled",
        "HttpTokens": "required",
        "HttpPutResponseHopLimit": 1,
    }
    (root,) = data["BlockDeviceMappings"]
    assert (root["DeviceName"], root["Ebs"]["Encrypted"]) == ("/dev/xvda", True)

    environment = resources["Ec2ComputeEnvironment"]
    fargate = resources["ComputeEnvironment"]
    compute = environment["Properties"]["ComputeResources"]
    assert environment["DependsOn"] == fargate["DependsOn"] == "NetworkReady"
    assert environment["Properties"]["Type"] == "MANAGED"
    assert (compute["Type"], compute["AllocationStrategy"]) == ("EC2", "BEST_FIT_PROGRESSIVE")
    assert (compute["InstanceTypes"], compute["MinvCpus"], compute["MaxvCpus"]) == (["g5.2xlarge", "g5.4xlarge"], 0, 64)
    assert compute["InstanceRole"] == {"Fn::GetAtt": ["Ec2InstanceProfile", "Arn"]}
    assert compute["LaunchTemplate"] == {
        "LaunchTemplateId": {"Ref": "Ec2LaunchTemplate"},
        "Version": {"Fn::GetAtt": ["Ec2LaunchTemplate", "LatestVersionNumber"]},
    }
    fargate_compute = fargate["Properties"]["ComputeResources"]
    assert (compute["Subnets"], compute["SecurityGroupIds"]) == (
        fargate_compute["Subnets"],
        fargate_compute["SecurityGroupIds"],
    )
    assert "BidPercentage" not in compute
    (order,) = resources["Ec2JobQueue"]["Properties"]["ComputeEnvironmentOrder"]
    assert order["ComputeEnvironment"] == {"Ref": "Ec2ComputeEnvironment"}
    # and the instances of the created public subnets get a public IP (there is no NAT gateway)
    for subnet in ("PublicSubnetA", "PublicSubnetB"):
        assert resources[subnet]["Properties"]["MapPublicIpOnLaunch"] is True


def test_a_spot_ec2_compute_environment_uses_spot_capacity_optimized() -> None:
    table = GPU_WORKLOADS.replace("max_vcpus: 64", "max_vcpus: 64\n  capacity: spot\n  spot_bid_percentage: 70")
    compute = rendered(table)["Resources"]["Ec2ComputeEnvironment"]["Properties"]["ComputeResources"]
    assert (compute["Type"], compute["AllocationStrategy"], compute["BidPercentage"]) == (
        "SPOT",
        "SPOT_CAPACITY_OPTIMIZED",
        70,
    )


def test_the_ec2_job_definition_has_gpus_and_no_fargate_only_property() -> None:
    resources = rendered(GPU_WORKLOADS)["Resources"]
    ec2 = resources["WorkloadInferenceJobDefinition"]["Properties"]
    fargate = resources["WorkloadImagesJobDefinition"]["Properties"]

    assert ec2["PlatformCapabilities"] == ["EC2"]
    assert fargate["PlatformCapabilities"] == ["FARGATE"]
    container = ec2["ContainerProperties"]
    assert container["ResourceRequirements"] == [
        {"Type": "VCPU", "Value": "8"},
        {"Type": "MEMORY", "Value": "30000"},
        {"Type": "GPU", "Value": "1"},
    ]
    # cpu_architecture is not rendered on EC2 (the instance types decide it)
    for fargate_only in ("RuntimePlatform", "FargatePlatformConfiguration", "NetworkConfiguration"):
        assert fargate_only not in container
        assert fargate_only in fargate["ContainerProperties"]
    # and the rest is the same as a Fargate workload's: roles, logs, tags, timeout
    for same in ("ExecutionRoleArn", "JobRoleArn", "LogConfiguration"):
        assert container[same] == fargate["ContainerProperties"][same]
    assert (ec2["PropagateTags"], ec2["Timeout"]) == (True, {"AttemptDurationSeconds": 7200})
    # Batch retries an EC2 instance taken away itself (as JobDefinition does a Fargate Spot reclaim)
    assert ec2["RetryStrategy"]["EvaluateOnExit"][0] == {"Action": "RETRY", "OnStatusReason": "Host EC2*"}
    assert len(ec2["RetryStrategy"]["EvaluateOnExit"]) <= 5


def test_the_ec2_queue_is_submitted_to_heard_and_named_everywhere_it_must_be() -> None:
    template = rendered(GPU_WORKLOADS)
    resources = template["Resources"]

    for function in ("SubmitJobsFunction", "SubmitScheduledFunction"):
        (statement,) = [
            s for s in resources[function]["Properties"]["Policies"][0]["Statement"] if s["Sid"] == "SubmitJob"
        ]
        assert {"Ref": "Ec2JobQueue"} in statement["Resource"]
        assert statement["Resource"][-1]["Fn::Sub"][0].endswith(":job-definition/batch-orch-${StackTail}-*")
        assert {"Ref": "SpotJobQueue"} not in statement["Resource"]
    rule = resources["TrackJobsFunction"]["Properties"]["Events"]["BatchEvents"]["Properties"]
    assert rule["Pattern"]["detail"]["jobQueue"] == [{"Ref": "JobQueue"}, {"Ref": "Ec2JobQueue"}]
    assert template["Globals"]["Function"]["Environment"]["Variables"]["EC2_JOB_QUEUE_ARN"] == {"Ref": "Ec2JobQueue"}
    assert template["Outputs"]["Ec2JobQueueArn"]["Value"] == {"Ref": "Ec2JobQueue"}


def test_an_ec2_table_passes_make_validate() -> None:
    result = check(render_template(TEMPLATE, GPU_WORKLOADS), GPU_WORKLOADS)
    assert result.ok, result.problems


@pytest.mark.slow
def test_cfn_lint_passes_on_a_rendered_ec2_template(tmp_path: Path) -> None:
    # Given the GPU template, with Spot instances (both branches of the compute environment are linted)
    for name, table in (
        ("on-demand", GPU_WORKLOADS),
        ("spot", GPU_WORKLOADS.replace("max_vcpus: 64", "max_vcpus: 64\n  capacity: spot")),
    ):
        path = tmp_path / f"{name}.yaml"
        path.write_text(render_template(TEMPLATE, table), encoding="utf-8")

        # When cfn-lint checks it, as `make lint-template` checks template.yaml
        completed = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "cfn-lint"), str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

        # Then it finds nothing
        assert completed.returncode == 0, name + "\n" + completed.stdout + completed.stderr


def test_the_gpu_example_of_workloads_yaml_validates() -> None:
    # Given the commented GPU example of workloads.yaml: its workload in a list, its block at the top level
    lines = (ROOT / "workloads.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("#   - name: inference")
    example = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        example.append(line[2:])
    table = "workloads:\n" + "\n".join(example) + "\n"

    # Then it renders and passes make validate, with its EC2 resources
    text = render_template(TEMPLATE, table)
    result = check(text, table)
    assert result.ok, result.problems
    assert set(load_cloudformation(text)["Resources"]) >= EC2_RESOURCES
