"""Every name the template gives a resource fits its service's rules, whatever the stack is called.

Proven: with a 128-character stack name (CloudFormation's longest: letters, digits and hyphens, starting
with a letter) and with a 1-character one, every explicit name property of the resolved template
(schedule, job definition, layer, log group, alarm, dashboard, alias, bucket, ...) has at most its
service's length and matches its character rule (``batch_orchestrator.limits.NAME_RULES``, each with
its source), and every tag key and value fits the tagging limits. Every resource type the template
names explicitly must have a rule, and a mutated template with a too-long name fails the check.

Not proven: names CloudFormation generates (it cuts them to fit itself); uniqueness within the account
and region (two stacks whose names share a long prefix); rules that are not length or characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from batch_orchestrator.limits import NAME_RULES
from tests.conformance.resolve import ResolvedStack, resolve_stack, resolve_template, transformed_template
from tests.conformance.return_values import TYPES

LONGEST_STACK_NAME = ("Batch-Orchestrator-Prod-Eu-" + "x9Y-" * 40)[:128]
SHORTEST_STACK_NAME = "b"
# Types without a name property of their own (policies, permissions, configurations, EC2 resources named by tag).
NAMELESS = frozenset(
    {
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::SNS::Subscription",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::EventSourceMapping",
        "AWS::KMS::Key",
        "AWS::CloudFormation::WaitConditionHandle",
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::RouteTable",
        "AWS::EC2::Route",
        "AWS::EC2::SubnetRouteTableAssociation",
    }
)
# Tag keys at most 128 characters, values at most 256 (Tagging AWS resources, "Tag naming limits and
# requirements": https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html); Batch the same.
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256


def name_property(kind: str) -> str | None:
    if kind in NAMELESS:
        return None
    if kind in TYPES and TYPES[kind].name_property is not None:
        return TYPES[kind].name_property
    raise KeyError(f"{kind}: say which property names it (return_values.TYPES) or add it to NAMELESS")


def explicit_names(stack: ResolvedStack) -> Iterator[tuple[str, str, str, str]]:
    """(logical id, type, property, value) of every explicit name in the resolved template."""
    for logical_id, resource in stack.resources.items():
        prop = name_property(resource.type)
        if prop is not None and prop in resource.properties:
            yield logical_id, resource.type, prop, str(resource.properties[prop])


def name_problems(stack: ResolvedStack) -> list[str]:
    problems = []
    for logical_id, kind, prop, value in explicit_names(stack):
        rule = NAME_RULES.get((kind, prop))
        if rule is None:
            problems.append(f"{logical_id}: no rule for {kind}.{prop} in batch_orchestrator.limits.NAME_RULES")
            continue
        if len(value) > rule.max_length:
            problems.append(
                f"{logical_id}.{prop} has {len(value)} characters, {rule.max_length} at most ({rule.source}): {value}"
            )
        if re.fullmatch(rule.pattern, value) is None:
            problems.append(f"{logical_id}.{prop} {value!r} does not match {rule.pattern} ({rule.source})")
    return problems


def tag_problems(stack: ResolvedStack) -> list[str]:
    problems = []
    for logical_id, resource in stack.resources.items():
        tags: Any = resource.properties.get("Tags", [])
        pairs = tags.items() if isinstance(tags, dict) else ((tag["Key"], tag["Value"]) for tag in tags)
        for key, value in pairs:
            if len(str(key)) > TAG_KEY_MAX or len(str(value)) > TAG_VALUE_MAX:
                problems.append(f"{logical_id}: tag {key!r} ({len(str(key))}) = {len(str(value))} characters")
    return problems


@pytest.mark.parametrize("stack_name", [LONGEST_STACK_NAME, SHORTEST_STACK_NAME], ids=["128 characters", "1 character"])
def test_every_explicit_name_fits_its_service(stack_name: str) -> None:
    # Given the stack resolved under the longest and the shortest name CloudFormation accepts
    stack = resolve_stack(
        {"AlertEmail": "ops@example.com", "CancelStuckRunnableAfterMinutes": "60"}, stack_name=stack_name
    )

    # When every explicit name and tag is checked against its service's rules
    problems = name_problems(stack) + tag_problems(stack)

    # Then all fit
    assert problems == []


def test_the_check_sees_the_names_we_know() -> None:
    # Given the default stack
    names = {(kind, prop) for _, kind, prop, _ in explicit_names(resolve_stack())}

    # Then the explicitly named types we rely on are among those checked
    assert {
        ("AWS::Scheduler::Schedule", "Name"),
        ("AWS::Logs::LogGroup", "LogGroupName"),
        ("AWS::S3::Bucket", "BucketName"),
    } <= names
    assert len(LONGEST_STACK_NAME) == 128
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", LONGEST_STACK_NAME)


@pytest.mark.parametrize(
    ("logical_id", "prop", "name"),
    [
        ("SubmitScheduledFunctionSchedule", "Name", "${AWS::StackName}-schedule"),
        ("JobDefinition", "JobDefinitionName", "${AWS::StackName}-job"),
        ("AlertsKeyAlias", "AliasName", "alias/${AWS::StackName}-${AWS::StackName}"),
    ],
)
def test_a_name_too_long_for_its_service_fails_the_check(logical_id: str, prop: str, name: str) -> None:
    # Given the template naming a resource after the whole stack name (as it did before)
    template = transformed_template()
    template["Resources"][logical_id]["Properties"][prop] = {"Fn::Sub": name}

    # When it is resolved under the longest stack name
    problems = name_problems(resolve_template(template, stack_name=LONGEST_STACK_NAME))

    # Then the check names the resource
    assert [p for p in problems if p.startswith(f"{logical_id}.{prop} has ")], problems


def test_a_named_type_without_a_rule_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given rules that lack the dashboard's, which the template names explicitly
    rules = {key: rule for key, rule in NAME_RULES.items() if key != ("AWS::CloudWatch::Dashboard", "DashboardName")}
    monkeypatch.setattr(f"{__name__}.NAME_RULES", rules)

    # When the names are checked
    problems = name_problems(resolve_stack())

    # Then the missing rule is reported
    assert problems == [
        "Dashboard: no rule for AWS::CloudWatch::Dashboard.DashboardName in batch_orchestrator.limits.NAME_RULES"
    ]


def test_a_type_nobody_classified_raises() -> None:
    # Given a resource type neither named (return_values.TYPES) nor declared nameless
    # Then the check refuses to guess whether it has a name
    with pytest.raises(KeyError, match="AWS::SES::Template"):
        name_property("AWS::SES::Template")
