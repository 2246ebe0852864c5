"""The lines every rendered Batch compute environment shares with the template's own ComputeEnvironment.

Its network (the created public subnets, or the given ones) and its cfn-lint exception are the same for
the Fargate Spot and the EC2 environments; they are written here once so the two cannot drift apart.
"""

from __future__ import annotations


def compute_environment_head(logical_id: str) -> list[str]:
    """``<logical_id>:`` down to ``ComputeResources:`` of a managed, enabled environment after NetworkReady."""
    return [
        f"{logical_id}:",
        "  Type: AWS::Batch::ComputeEnvironment",
        "  DependsOn: NetworkReady",
        "  Metadata:",
        "    cfn-lint:",
        "      config:",
        "        # W1030: as on ComputeEnvironment (the existing-network branch against the empty defaults).",
        "        ignore_checks: [W1030]",
        "  Properties:",
        "    Type: MANAGED",
        "    State: ENABLED",
        "    ComputeResources:",
    ]


# ComputeResources' network, as on ComputeEnvironment (indented under ComputeResources).
COMPUTE_NETWORK = [
    "      Subnets: !If",
    "        - CreateNetwork",
    "        - [!Ref PublicSubnetA, !Ref PublicSubnetB]",
    "        - !Ref SubnetIds",
    "      SecurityGroupIds: !If",
    "        - CreateNetwork",
    "        - [!Ref JobSecurityGroup]",
    "        - !Ref SecurityGroupIds",
]
