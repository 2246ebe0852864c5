"""The size of each function's environment in the rendered template, with every ARN and name at its longest.

Lambda holds at most ``LAMBDA_ENVIRONMENT`` (4 KB) of environment variables per function, and the
rendered WORKLOADS variable lives within it. CloudFormation would only find out at deploy time, half
way through an update; ``make validate`` finds out before.

The invariant: the size computed here is an upper bound of what any deployment of this template
with these parameter values holds. Each variable is evaluated as CloudFormation would, in a world
where everything AWS names is as long as it may be: a 128-character stack name, the longest
partition, region and URL suffix, and each generated resource name at the longest CloudFormation can
give it (``<stack name>-<logical id>-<13 characters>``, cut at the service's limit). Anything this
module cannot bound (an intrinsic, a resource type, a pseudo parameter it does not know) raises
``BudgetError`` naming it; it never guesses low.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batch_orchestrator.limits import CLOUDFORMATION_STACK_NAME, LAMBDA_ENVIRONMENT

LONGEST_STACK_NAME = "s" * CLOUDFORMATION_STACK_NAME.max_length
LONGEST_PARTITION = "aws-us-gov"  # the longest partition name (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, ...)
LONGEST_REGION = "ap-southeast-1"  # 14 characters, as long as any region's code
LONGEST_URL_SUFFIX = "amazonaws.com.cn"
ACCOUNT = "123456789012"  # account ids are always 12 digits
GENERATED_SUFFIX = 13  # the random part of a name CloudFormation generates ("mystack-myqueue-1VF9BKQH5BJVI")
JOB_DEFINITION_REVISION = "2147483647"  # a revision is a 32-bit number: at most 10 digits
STACK_UUID = "01234567-89ab-cdef-0123-456789abcdef"
# The longest name CloudFormation may generate, by type (the service's own limit for the name).
GENERATED_NAME_LIMITS = {
    "AWS::Batch::JobQueue": 128,
    "AWS::Batch::JobDefinition": 128,
    "AWS::Batch::ComputeEnvironment": 128,
    "AWS::SQS::Queue": 80,
    "AWS::SNS::Topic": 256,
    "AWS::DynamoDB::Table": 255,
    "AWS::Logs::LogGroup": 512,
    "AWS::S3::Bucket": 63,
}
NAME_PROPERTIES = {
    "AWS::Batch::JobQueue": "JobQueueName",
    "AWS::Batch::JobDefinition": "JobDefinitionName",
    "AWS::Batch::ComputeEnvironment": "ComputeEnvironmentName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
}
_SUB = re.compile(r"\$\{([^}]*)\}")


class BudgetError(ValueError):
    """The template holds something this module cannot bound; the message names it."""


@dataclass(frozen=True)
class EnvironmentSize:
    function: str
    size: int  # UTF-8 bytes of every name and value, at the longest
    largest: tuple[tuple[str, int], ...]  # the three largest variables (name, bytes)

    @property
    def over_budget(self) -> bool:
        return self.size > LAMBDA_ENVIRONMENT.value


def environment_sizes(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[EnvironmentSize]:
    """Each function's environment (Globals merged with its own, as SAM merges them), at its longest."""
    world = _Longest(template, parameters)
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    sizes = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        variables = {**shared, **own}
        counted = {name: len(name.encode()) + len(world.text(value).encode()) for name, value in variables.items()}
        largest = tuple(sorted(counted.items(), key=lambda item: -item[1])[:3])
        sizes.append(EnvironmentSize(logical_id, sum(counted.values()), largest))
    return sizes


class _Longest:
    """Evaluates template values in the world where every name is at its longest."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        self.template = template
        self.parameters = {
            name: str(overrides.get(name, declaration.get("Default", "")))
            for name, declaration in template.get("Parameters", {}).items()
        }
        self.pseudo = {
            "AWS::StackName": LONGEST_STACK_NAME,
            "AWS::Region": LONGEST_REGION,
            "AWS::Partition": LONGEST_PARTITION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": LONGEST_URL_SUFFIX,
            "AWS::StackId": f"arn:{LONGEST_PARTITION}:cloudformation:{LONGEST_REGION}:{ACCOUNT}:stack/"
            f"{LONGEST_STACK_NAME}/{STACK_UUID}",
        }

    def text(self, node: Any) -> str:
        value = self.value(node)
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise BudgetError(f"{node!r} is not a string")
        return str(value)

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            raise BudgetError(f"{node!r}: a mapping where a value is expected")
        ((function, argument),) = node.items()
        if function == "Ref":
            return self.ref(str(argument))
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return self.sub(argument)
        if function == "Fn::Join":
            separator, items = argument
            return str(separator).join(self.text(item) for item in self.value(items))
        if function == "Fn::Select":
            index, items = argument
            return self.value(items)[int(self.text(index))]
        if function == "Fn::Split":
            separator, text = argument
            return self.text(text).split(str(separator))
        if function == "Fn::If":
            condition, if_true, if_false = argument
            return self.value(if_true if self.condition(condition) else if_false)
        raise BudgetError(f"{function} in a function's environment: add it to workload_table/budget.py")

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return _SUB.sub(substitute, text)

    def condition(self, name: str) -> bool:
        return self._boolean(self.template["Conditions"][name])

    def _boolean(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.text(item) for item in argument)
            return left == right
        if function == "Fn::Not":
            return not self._boolean(argument[0])
        if function in ("Fn::And", "Fn::Or"):
            results = [self._boolean(item) for item in argument]
            return all(results) if function == "Fn::And" else any(results)
        raise BudgetError(f"{function} in a condition: add it to workload_table/budget.py")

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self._type(name)
        arn = f"arn:{LONGEST_PARTITION}:{{}}:{LONGEST_REGION}:{ACCOUNT}:{{}}"
        physical = self.name(name)
        refs = {
            "AWS::Batch::JobQueue": arn.format("batch", f"job-queue/{physical}"),
            "AWS::Batch::JobDefinition": arn.format("batch", f"job-definition/{physical}:{JOB_DEFINITION_REVISION}"),
            "AWS::Batch::ComputeEnvironment": arn.format("batch", f"compute-environment/{physical}"),
            "AWS::SQS::Queue": f"https://sqs.{LONGEST_REGION}.{LONGEST_URL_SUFFIX}/{ACCOUNT}/{physical}",
            "AWS::SNS::Topic": arn.format("sns", physical),
            "AWS::DynamoDB::Table": physical,
            "AWS::Logs::LogGroup": physical,
            "AWS::S3::Bucket": physical,  # Ref gives the bucket's name
        }
        return refs[kind]

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self._type(logical_id)
        prefix = f"arn:{LONGEST_PARTITION}:{{}}:{LONGEST_REGION}:{ACCOUNT}:"
        if (kind, attribute) == ("AWS::SQS::Queue", "Arn"):
            return prefix.format("sqs") + self.name(logical_id)
        if (kind, attribute) == ("AWS::SQS::Queue", "QueueName"):
            return self.name(logical_id)
        if (kind, attribute) == ("AWS::DynamoDB::Table", "Arn"):
            return prefix.format("dynamodb") + f"table/{self.name(logical_id)}"
        raise BudgetError(f"Fn::GetAtt {logical_id}.{attribute} ({kind}): add it to workload_table/budget.py")

    def name(self, logical_id: str) -> str:
        """The resource's explicit name, else the longest name CloudFormation may generate for it."""
        kind = self._type(logical_id)
        if kind not in NAME_PROPERTIES:
            raise BudgetError(f"{logical_id} ({kind}): add its name and longest values to workload_table/budget.py")
        explicit = self.template["Resources"][logical_id].get("Properties", {}).get(NAME_PROPERTIES[kind])
        if explicit is not None:
            return self.text(explicit)
        generated = len(LONGEST_STACK_NAME) + 1 + len(logical_id) + 1 + GENERATED_SUFFIX
        return "n" * min(GENERATED_NAME_LIMITS[kind], generated)

    def _type(self, logical_id: str) -> str:
        resource = self.template["Resources"].get(logical_id)
        if resource is None:
            raise BudgetError(f"{logical_id}: no parameter or resource of that name")
        return str(resource["Type"])
