"""The deployed stack, read through CloudFormation: its outputs name every resource the CLI uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator_cli.aws import Aws
from orchestrator_cli.errors import NotFound, error_code, error_message, from_aws
from orchestrator_cli.runs_admin import RunsAdmin

# Outputs the local stack adds for its own shims (emulator.template_shims.SHIM_OUTPUT_PREFIX); not the
# template's, so not shown. The value is repeated here: the CLI does not import emulator's dependencies.
LOCAL_SHIM_OUTPUT_PREFIX = "EmulatorShim"


@dataclass(frozen=True)
class Deployment:
    name: str
    stack_id: str
    status: str
    region: str
    created_at: datetime | None
    updated_at: datetime | None
    outputs: dict[str, str]
    parameters: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise NotFound(
                f"stack {self.name} has no output {key} (status {self.status})",
                hint="is it a Batch Orchestrator stack, deployed from this version of template.yaml?",
            )
        return value

    def runs_admin(self) -> RunsAdmin:
        return RunsAdmin(self.output("RunsTableName"))

    def to_json(self) -> dict[str, Any]:
        return {
            "stackName": self.name,
            "stackId": self.stack_id,
            "status": self.status,
            "region": self.region,
            "description": self.description,
            "createdAt": self.created_at.isoformat() if self.created_at else None,
            "updatedAt": self.updated_at.isoformat() if self.updated_at else None,
            "outputs": self.outputs,
            "parameters": self.parameters,
            "tags": self.tags,
        }


def describe_stack(aws: Aws, stack_name: str) -> Deployment:
    """DescribeStacks, with "does not exist" reported as NotFound (CloudFormation says ValidationError)."""
    cloudformation = aws.client("cloudformation")
    try:
        response = cloudformation.describe_stacks(StackName=stack_name)
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
            raise NotFound(
                f"stack {stack_name} not found in {aws.region}",
                hint="check --stack-name, --region, --profile (or --config-env); `aws cloudformation list-stacks` "
                "shows what exists",
            ) from exc
        raise from_aws(exc, f"reading stack {stack_name}") from exc
    except BotoCoreError as exc:
        raise from_aws(exc, f"reading stack {stack_name}") from exc
    stack = response["Stacks"][0]
    return Deployment(
        name=stack["StackName"],
        stack_id=stack["StackId"],
        status=stack["StackStatus"],
        region=aws.region,
        created_at=stack.get("CreationTime"),
        updated_at=stack.get("LastUpdatedTime"),
        outputs={
            item["OutputKey"]: item.get("OutputValue", "")
            for item in stack.get("Outputs", [])
            if not item["OutputKey"].startswith(LOCAL_SHIM_OUTPUT_PREFIX)
        },
        parameters={
            item["ParameterKey"]: item.get("ResolvedValue", item.get("ParameterValue", ""))
            for item in stack.get("Parameters", [])
        },
        tags={item["Key"]: item["Value"] for item in stack.get("Tags", [])},
        description=stack.get("Description"),
    )
