"""Two stacks of template.yaml side by side in one account and region (a dev and a prod stack).

Everything a stack names, measures or alarms on must be its own: its resources' names, the metrics
its functions emit (the "service" dimension is the stack name), its alarms and what they watch, its
dashboard, its queues and its data. An upload to one starts nothing in the other. Both stacks are
created from template.yaml in one moto (same account, same region).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from batch_orchestrator.adapters import aws
from emulator import EmulatedStack, deploy_stack
from emulator.stack import MOTO_CONFIG
from tests.support.runs import all_jobs, deliver_all, drain_test_event, queue_depth, upload

DEV, PROD = "batch-orchestrator-dev", "batch-orchestrator-prod"
# Outputs that echo a parameter both stacks leave at its default: equal by design, and no resource (EventBusName: a
# bus the account's stacks share; their events differ by their source, the EventSource output).
PARAMETER_ECHOES = {"InputPrefix", "OutputPrefix", "EventBusName"}


@pytest.fixture
def stacks(aws_env: dict[str, str]) -> Iterator[tuple[EmulatedStack, EmulatedStack]]:
    with mock_aws(config=MOTO_CONFIG):
        aws.reset_clients()
        yield deploy_stack(stack_name=DEV), deploy_stack(stack_name=PROD)
        aws.reset_clients()


def _alarms(stack: EmulatedStack) -> list[dict[str, Any]]:
    pages = stack.client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{stack.name}-")
    return [alarm for page in pages for alarm in page["MetricAlarms"]]


def _physical(stack: EmulatedStack) -> set[str]:
    """Every physical name or id the stack created (deferred resources included)."""
    return {value for value in stack.resources.values() if value}


def _emf(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if '"_aws"' in line]


def test_two_stacks_share_no_name_and_no_output(stacks: tuple[EmulatedStack, EmulatedStack]) -> None:
    dev, prod = stacks

    # Then no physical resource name or id of one stack is the other's
    assert _physical(dev) & _physical(prod) == set()
    # and no output names the same thing
    shared = {key for key in dev.outputs if key not in PARAMETER_ECHOES and dev.outputs[key] == prod.outputs.get(key)}
    assert shared == set()
    # and each stack's schedules are its own
    assert dev.outputs["ScheduleName"] != prod.outputs["ScheduleName"]


def test_each_stacks_metrics_and_alarms_are_its_own(stacks: tuple[EmulatedStack, EmulatedStack]) -> None:
    dev, prod = stacks
    for stack, other in ((dev, prod), (prod, dev)):
        # Then every function reports its metrics under its own stack's name
        services = {
            stack.function_environment(function)["POWERTOOLS_SERVICE_NAME"]
            for function in (
                "SubmitJobsFunction",
                "SubmitScheduledFunction",
                "TrackJobsFunction",
                "WatchdogFunction",
                "PublishEventsFunction",
            )
        }
        assert services == {stack.name}
        # and each of its alarms watches only its own metrics, queues and functions
        alarms = _alarms(stack)
        assert len(alarms) == 16
        own = _physical(stack) | {stack.name}
        own |= {url.rsplit("/", 1)[-1] for key, url in stack.outputs.items() if key.endswith("Url")}
        for alarm in alarms:
            watched = {dimension["Value"] for dimension in alarm["Dimensions"]}
            assert watched <= own, f"{alarm['AlarmName']} watches {watched - own}"
            assert not watched & (_physical(other) | {other.name})
            assert alarm["AlarmActions"] == [stack.outputs["AlertsTopicArn"]]
        # and its dashboard charts its own stack only
        body = stack.client("cloudwatch").get_dashboard(DashboardName=stack.outputs["DashboardName"])["DashboardBody"]
        assert stack.name in body
        assert other.name not in body


def test_an_upload_to_one_stack_starts_nothing_in_the_other(
    stacks: tuple[EmulatedStack, EmulatedStack], capsys: pytest.CaptureFixture[str]
) -> None:
    dev, prod = stacks
    drain_test_event(dev)
    drain_test_event(prod)
    capsys.readouterr()

    # When a file is uploaded to the dev stack and its submit function runs
    upload(dev, "incoming/only-for-dev.csv")
    deliver_all(dev)

    # Then dev has its job and its run, prod has nothing: no message, no job, no run
    assert len(all_jobs(dev)) == 1
    assert queue_depth(prod, "SubmitQueueUrl") == 0
    assert all_jobs(prod) == []
    assert prod.client("dynamodb").scan(TableName=prod.outputs["RunsTableName"])["Count"] == 0
    # and the JobsSubmitted metric went to dev's service dimension only: stack-wide, and for the default workload
    stack_wide, by_workload = sorted(
        (blob for blob in _emf(capsys.readouterr().out) if "JobsSubmitted" in blob), key=lambda blob: "Workload" in blob
    )
    assert stack_wide["service"] == by_workload["service"] == DEV
    assert by_workload["Workload"] == "default"
    assert stack_wide["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert sorted(by_workload["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["Workload", "service"]
    for blob in (stack_wide, by_workload):
        assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "BatchOrchestrator"
