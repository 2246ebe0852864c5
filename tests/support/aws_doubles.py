"""The real adapters over moto, set up as the template declares their resources.

For the tests that hold a fake and its adapter to the same assertions (``test_fakes_contract.py``)
and for those that run the logic on both (``test_watchdog.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from moto import mock_aws

from batch_orchestrator.adapters import aws
from batch_orchestrator.adapters.batch import BatchJobs
from batch_orchestrator.adapters.run_items import run_from_item
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.models import Run
from emulator.template import DEFAULT_TEMPLATE, load_template

REGION = "us-east-1"
RUNS_TABLE = "runs"


class ReadableRunsTable(RunsTable):
    """The adapter, plus the consistent read of one run that tests make (as ``FakeRunStore.get``)."""

    def get(self, run_id: str) -> Run | None:
        item = (
            boto3.client("dynamodb", region_name=REGION)
            .get_item(TableName=RUNS_TABLE, Key={"runId": {"S": run_id}}, ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            return None
        return run_from_item({name: TypeDeserializer().deserialize(value) for name, value in item.items()})


@cache
def _declared_runs_table() -> dict[str, Any]:
    properties: dict[str, Any] = load_template(DEFAULT_TEMPLATE)["Resources"]["RunsTable"]["Properties"]
    return properties


@contextmanager
def runs_table_in_moto(*, retention_days: int = 90) -> Iterator[ReadableRunsTable]:
    """The runs table with template.yaml's key schema and sparse index, in moto."""
    declared = _declared_runs_table()
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=RUNS_TABLE,
            BillingMode=declared["BillingMode"],
            AttributeDefinitions=declared["AttributeDefinitions"],
            KeySchema=declared["KeySchema"],
            GlobalSecondaryIndexes=declared["GlobalSecondaryIndexes"],
        )
        yield ReadableRunsTable(RUNS_TABLE, retention_days=retention_days)


@dataclass(frozen=True)
class BatchInMoto:
    jobs: BatchJobs
    job_queue: str
    job_definition: str


@contextmanager
def batch_in_moto() -> Iterator[BatchInMoto]:
    """A Fargate compute environment, a job queue and a job definition in moto's Batch (no Docker)."""
    with mock_aws(config={"batch": {"use_docker": False}}):
        iam = boto3.client("iam", region_name=REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        batch = boto3.client("batch", region_name=REGION)
        role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc)["GroupId"]
        environment = batch.create_compute_environment(
            computeEnvironmentName="jobs-environment",
            type="MANAGED",
            state="ENABLED",
            computeResources={"type": "FARGATE", "maxvCpus": 4, "subnets": [subnet], "securityGroupIds": [group]},
            serviceRole=role,
        )["computeEnvironmentArn"]
        queue = batch.create_job_queue(
            jobQueueName="jobs-queue",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )["jobQueueArn"]
        definition = batch.register_job_definition(
            jobDefinitionName="jobs-definition",
            type="container",
            containerProperties={"image": "busybox", "vcpus": 1, "memory": 512},
        )["jobDefinitionArn"]
        yield BatchInMoto(jobs=BatchJobs(), job_queue=queue, job_definition=definition)


class CallCounter:
    """Counts the AWS API calls the shared package's cached clients make (botocore's before-call event)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def attach(self) -> CallCounter:
        for client in (
            aws.client("dynamodb"),
            aws.client("sqs"),
            aws.client("sns"),
            aws.client("batch"),
            aws.submit_client(),
        ):
            client.meta.events.register("before-call", self._count)
        return self

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}:{model.name}")

    def reset(self) -> None:
        self.calls.clear()


class SubmitJobThrottle:
    """Makes SubmitJob answer TooManyRequestsException for chosen job names (fault injection at the client)."""

    def __init__(self, should_throttle: Any) -> None:
        self._should_throttle = should_throttle
        self.throttled: list[str] = []

    def attach(self) -> SubmitJobThrottle:
        aws.submit_client().meta.events.register("before-parameter-build.batch.SubmitJob", self._maybe_throttle)
        return self

    def stop(self) -> None:
        self._should_throttle = lambda name: False

    def _maybe_throttle(self, params: dict[str, Any], **_: Any) -> None:
        name = params["jobName"]
        if self._should_throttle(name):
            self.throttled.append(name)
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Too Many Requests"}}, "SubmitJob"
            )
