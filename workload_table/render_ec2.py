"""The EC2 part of the rendered template: rendered only when some workload has ``compute: {type: ec2}``.

Invariants:

* With no ec2 workload every region here is empty: the default stack has no EC2 resource (no instance
  role, launch template, compute environment or queue) and its subnets assign no public IPs.
* One managed EC2 compute environment (workloads.yaml's ``ec2_compute``) and one queue, Ec2JobQueue,
  serve every ec2 workload. Its instances run in the Fargate environment's subnets and security group.
* The instances require IMDSv2 with a hop limit of 1, so a job's container cannot reach the instance
  role's credentials through the metadata service: a job acts as JobRole (the ECS agent hands the
  container those credentials), the instance role only registers the instance with ECS. The root volume
  is encrypted.
* An ec2 workload's job definition has ``PlatformCapabilities: [EC2]``, VCPU/MEMORY (and GPU) resource
  requirements, and none of the Fargate-only properties (RuntimePlatform, FargatePlatformConfiguration,
  NetworkConfiguration): Batch refuses them on EC2.

Sources: https://docs.aws.amazon.com/batch/latest/userguide/launch-templates.html (encrypted /dev/xvda),
https://docs.aws.amazon.com/batch/latest/userguide/instance_IAM_role.html (AmazonEC2ContainerServiceforEC2Role),
https://docs.aws.amazon.com/batch/latest/APIReference/API_ComputeResource.html (allocation strategies,
bidPercentage, instanceRole as the instance profile's ARN), and
https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html (GPU on EC2 only).
"""

from __future__ import annotations

from batch_orchestrator.workloads import Ec2Capacity, Ec2Compute, Size, WorkloadTable
from workload_table.compute_text import COMPUTE_NETWORK, compute_environment_head
from workload_table.names import (
    EC2_COMPUTE_ENVIRONMENT,
    EC2_INSTANCE_PROFILE,
    EC2_INSTANCE_ROLE,
    EC2_LAUNCH_TEMPLATE,
    EC2_QUEUE,
)
from workload_table.yaml_text import flow_list, quoted

# Batch's own retry of an EC2 instance taken away (an EC2 Spot reclaim, or an instance that went away):
# the job definition RETRIES it, as JobDefinition retries a Fargate Spot reclaim.
EC2_HOST_REASON = "Host EC2*"
ECS_INSTANCE_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"


def ec2_compute_region(table: WorkloadTable) -> list[str]:
    """The instance role and profile, the launch template, the compute environment and Ec2JobQueue."""
    if not table.uses_ec2:
        return []
    compute = table.ec2_compute
    if compute is None:
        raise ValueError("a table with ec2 workloads has no ec2_compute block (load_table refuses such a table)")
    return [
        *_instance_role(),
        "",
        *_launch_template(),
        "",
        *_compute_environment(compute),
        "",
        f"{EC2_QUEUE}:",
        "  Type: AWS::Batch::JobQueue",
        "  Properties:",
        "    State: ENABLED",
        "    Priority: 1",
        "    ComputeEnvironmentOrder:",
        "      - Order: 1",
        f"        ComputeEnvironment: !Ref {EC2_COMPUTE_ENVIRONMENT}",
    ]


def _instance_role() -> list[str]:
    return [
        f"{EC2_INSTANCE_ROLE}:",
        "  Type: AWS::IAM::Role",
        "  Properties:",
        "    Description: Lets the EC2 instances of Ec2ComputeEnvironment join ECS (jobs act as JobRole, not this)",
        "    AssumeRolePolicyDocument:",
        '      Version: "2012-10-17"',
        "      Statement:",
        "        - Effect: Allow",
        "          Principal: { Service: ec2.amazonaws.com }",
        "          Action: sts:AssumeRole",
        "    ManagedPolicyArns:",
        f"      - !Sub {quoted(ECS_INSTANCE_POLICY)}",
        "",
        f"{EC2_INSTANCE_PROFILE}:",
        "  Type: AWS::IAM::InstanceProfile",
        "  Properties:",
        f"    Roles: [!Ref {EC2_INSTANCE_ROLE}]",
    ]


def _launch_template() -> list[str]:
    return [
        f"{EC2_LAUNCH_TEMPLATE}:",
        "  Type: AWS::EC2::LaunchTemplate",
        "  Properties:",
        "    LaunchTemplateData:",
        "      # IMDSv2 only, one hop: the instance's agents reach the metadata service, a job's container does not.",
        "      MetadataOptions:",
        "        HttpEndpoint: enabled",
        "        HttpTokens: required",
        "        HttpPutResponseHopLimit: 1",
        "      # The root volume of the ECS-optimized AMIs Batch launches (their images and containers live there).",
        "      BlockDeviceMappings:",
        "        - DeviceName: /dev/xvda",
        "          Ebs:",
        "            Encrypted: true",
        "            VolumeType: gp3",
        "            DeleteOnTermination: true",
    ]


def _compute_environment(compute: Ec2Compute) -> list[str]:
    spot = compute.capacity is Ec2Capacity.SPOT
    bid = [f"      BidPercentage: {compute.spot_bid_percentage}"] if spot and compute.spot_bid_percentage else []
    return [
        *compute_environment_head(EC2_COMPUTE_ENVIRONMENT),
        f"      Type: {'SPOT' if spot else 'EC2'}",
        f"      AllocationStrategy: {'SPOT_CAPACITY_OPTIMIZED' if spot else 'BEST_FIT_PROGRESSIVE'}",
        *bid,
        f"      InstanceTypes: {flow_list(list(compute.instance_types))}",
        f"      MinvCpus: {compute.min_vcpus}",
        f"      MaxvCpus: {compute.max_vcpus}",
        f"      InstanceRole: !GetAtt {EC2_INSTANCE_PROFILE}.Arn",
        "      LaunchTemplate:",
        f"        LaunchTemplateId: !Ref {EC2_LAUNCH_TEMPLATE}",
        f"        Version: !GetAtt {EC2_LAUNCH_TEMPLATE}.LatestVersionNumber",
        *COMPUTE_NETWORK,
    ]


def public_ip_region(table: WorkloadTable) -> list[str]:
    """The created public subnets give EC2 instances a public IPv4 address (no NAT gateway: the instances
    reach ECS, ECR and CloudWatch Logs through the internet gateway, as Fargate tasks do with AssignPublicIp).
    The security group lets nothing connect in."""
    return ["MapPublicIpOnLaunch: true"] if table.uses_ec2 else []


def resource_requirements(size: Size, gpus: int) -> list[str]:
    """A workload job definition's resourceRequirements: VCPU, MEMORY and, with ``gpus`` (ec2 only), GPU."""
    lines = [
        "      ResourceRequirements:",
        "        - Type: VCPU",
        f"          Value: {quoted(size.vcpu)}",
        "        - Type: MEMORY",
        f"          Value: {quoted(str(size.memory_mib))}",
    ]
    if gpus:
        lines += ["        - Type: GPU", f"          Value: {quoted(str(gpus))}"]
    return lines


def ec2_outputs(table: WorkloadTable) -> list[str]:
    if not table.uses_ec2:
        return []
    return [
        "Ec2JobQueueArn:",
        "  Description: AWS Batch job queue on the EC2 compute environment (the attempts of ec2 workloads)",
        f"  Value: !Ref {EC2_QUEUE}",
        "Ec2ComputeEnvironmentArn:",
        "  Description: AWS Batch managed EC2 compute environment (workloads.yaml's ec2_compute)",
        f"  Value: !Ref {EC2_COMPUTE_ENVIRONMENT}",
    ]
