"""The stack of template.yaml rendered with a workloads table, created in an in-process moto by the ``stack``
fixture (``stack_workloads``): what the emulator makes of the rendered resources, read back through the AWS
APIs. The pipeline tests (test_workloads.py) run jobs on the same table.
"""

from __future__ import annotations

import json

import pytest

from batch_orchestrator.config import workload_table_from_env
from emulator import EmulatedStack
from emulator.invoke import handler_environment
from tests.e2e.test_workloads import WORKLOADS_YAML

FUNCTIONS = ("SubmitJobsFunction", "SubmitScheduledFunction", "TrackJobsFunction", "WatchdogFunction")


@pytest.fixture
def stack_workloads() -> str:
    return WORKLOADS_YAML


def test_every_workload_resource_is_created_and_every_function_sees_them(stack: EmulatedStack) -> None:
    # Given the stack created from template.yaml rendered with four workloads (one on Fargate Spot)
    batch = stack.client("batch")

    # When its job definitions, queues and the functions' environment are read back
    definitions = {
        logical_id: batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"][0]
        for logical_id, arn in stack.resources_of_type("AWS::Batch::JobDefinition").items()
    }
    spot_queue = batch.describe_job_queues(jobQueues=[stack.resources["SpotJobQueue"]])["jobQueues"][0]
    (spot_environment,) = batch.describe_compute_environments(
        computeEnvironments=[spot_queue["computeEnvironmentOrder"][0]["computeEnvironment"]]
    )["computeEnvironments"]

    # Then each workload has its job definition, sized as its ladder's first step
    sizes = {
        logical_id: {r["type"]: r["value"] for r in d["containerProperties"]["resourceRequirements"]}
        for logical_id, d in definitions.items()
    }
    assert {k: v for k, v in sizes.items() if k.startswith("Workload")} == {
        "WorkloadImagesJobDefinition": {"VCPU": "0.25", "MEMORY": "512"},
        "WorkloadReportsJobDefinition": {"VCPU": "0.5", "MEMORY": "2048"},
        "WorkloadNightlyJobDefinition": {"VCPU": "0.25", "MEMORY": "1024"},
        "WorkloadSpotJobDefinition": {"VCPU": "0.25", "MEMORY": "512"},
    }
    # and the Spot workload's queue runs on Fargate Spot
    assert spot_environment["computeResources"]["type"] == "FARGATE_SPOT"
    # and every function builds the same table from its layer, each workload on the job definition the stack
    # created for it (by name: SubmitJob takes its latest revision), and knows the Spot queue
    names = {
        logical_id: d["jobDefinitionName"] for logical_id, d in definitions.items() if logical_id.startswith("Workload")
    }
    for function in FUNCTIONS:
        environment = handler_environment(stack, function)
        table = {w.name: w.job_definition for w in workload_table_from_env(environment).workloads}
        assert table == {
            "default": stack.resources["JobDefinition"],
            **{
                name: names[f"Workload{name.capitalize()}JobDefinition"]
                for name in ("images", "reports", "nightly", "spot")
            },
        }, function
        assert environment["SPOT_JOB_QUEUE_ARN"] == stack.resources["SpotJobQueue"], function


def test_a_workload_schedule_is_created_in_the_scheduler_with_its_time_zone(stack: EmulatedStack) -> None:
    # Given the stack of the rendered template
    schedule = stack.schedules["WorkloadNightlyTokyoSchedule"]

    # Then the scheduler holds the workload's schedule, in its time zone, firing submit_scheduled for it
    assert (schedule.expression, schedule.timezone, schedule.state) == ("cron(0 2 * * ? *)", "Asia/Tokyo", "ENABLED")
    assert schedule.function_logical_id == "SubmitScheduledFunction"
    assert schedule.name.endswith("-nightly-tokyo")
    assert schedule.input is not None
    assert json.loads(schedule.input)["workload"] == "nightly"
