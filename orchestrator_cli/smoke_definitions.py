"""Step 5 of `orchestrator smoke`: every job definition the functions submit is the one the stack deployed.

The default workload's jobs are submitted by ARN (JOB_DEFINITION_ARN: the revision CloudFormation created),
and SubmitJob refuses a revision that is no longer ACTIVE. A workloads.yaml workload's jobs are submitted by
name (the ``WorkloadJobDefinitionPrefix`` output + the workload's name), and Batch then runs the latest ACTIVE
revision of that name ("If the revision is not specified, then the latest active revision is used", SubmitJob
in the AWS Batch API Reference). An emulator cannot prove what CloudFormation leaves ACTIVE after a deploy or
an update, so this step reads it on the real account: for each AWS::Batch::JobDefinition of the stack, what
a submission would run (the ARN itself if ACTIVE; for a workload's, the latest ACTIVE revision of its name)
must be the resource's physical id. It FAILS naming each one that is not, and what the jobs would run instead:
nothing (SubmitJob would fail) or another revision (one registered by hand after the deploy, or an update that
did not leave the deployed revision the latest).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_cli.smoke_report import Result, StepOutcome

DEFINITIONS = 5
NAME = "job definitions"
PREFIX_OUTPUT = "WorkloadJobDefinitionPrefix"


def name_of(arn: str) -> str:
    """``arn:...:job-definition/NAME:REVISION`` -> NAME."""
    return arn.split(":job-definition/", 1)[-1].rsplit(":", 1)[0]


def stack_definitions(resources: list[Mapping[str, Any]]) -> dict[str, str]:
    """The stack's job definitions: logical id -> deployed ARN (with its revision)."""
    return {
        str(r["LogicalResourceId"]): str(r["PhysicalResourceId"])
        for r in resources
        if r.get("ResourceType") == "AWS::Batch::JobDefinition" and r.get("PhysicalResourceId")
    }


def submitted_by_name(arn: str, prefix: str | None) -> bool:
    return bool(prefix) and name_of(arn).startswith(str(prefix))


def what_runs(batch: Any, arn: str, prefix: str | None) -> str | None:
    """The ARN a submission for this job definition runs: the latest ACTIVE revision of its name when it is
    submitted by name, else the ARN itself while it is ACTIVE; None when SubmitJob would refuse it."""
    if not submitted_by_name(arn, prefix):
        found = batch.describe_job_definitions(jobDefinitions=[arn]).get("jobDefinitions", [])
        return arn if any(d.get("status") == "ACTIVE" for d in found) else None
    latest: tuple[int, str] | None = None
    paginator = batch.get_paginator("describe_job_definitions")
    for page in paginator.paginate(jobDefinitionName=name_of(arn), status="ACTIVE"):
        for definition in page.get("jobDefinitions", []):
            revision = int(definition["revision"])
            if latest is None or revision > latest[0]:
                latest = (revision, str(definition["jobDefinitionArn"]))
    return None if latest is None else latest[1]


def judge_definitions(
    deployed: Mapping[str, str], runs: Mapping[str, str | None], prefix: str | None, seconds: float
) -> StepOutcome:
    """PASSED when each deployed job definition is what its submissions run (``runs``: logical id -> ARN)."""
    if not deployed:
        return StepOutcome(
            DEFINITIONS,
            NAME,
            Result.FAILED,
            seconds,
            "the stack lists no job definition",
            expected="the stack's AWS::Batch::JobDefinition resources",
            seen="ListStackResources lists none",
            look_at=("the stack's resources in CloudFormation",),
        )
    wrong = []
    for logical_id, arn in sorted(deployed.items()):
        found = runs.get(logical_id)
        if found != arn:
            how = f"by name {name_of(arn)}" if submitted_by_name(arn, prefix) else "by ARN"
            instead = "nothing ACTIVE: SubmitJob would fail" if found is None else f"the jobs would run {found}"
            wrong.append(f"{logical_id} deployed {arn}; submitted {how}, {instead}")
    if wrong:
        return StepOutcome(
            DEFINITIONS,
            NAME,
            Result.FAILED,
            seconds,
            f"{len(wrong)} of {len(deployed)} job definition(s) not current",
            expected="every job definition the functions submit ACTIVE, and the revision the stack deployed",
            seen="; ".join(wrong),
            look_at=(
                "aws batch describe-job-definitions --job-definition-name NAME --status ACTIVE",
                "the stack's events for the job definition in CloudFormation",
            ),
        )
    by_name = sum(submitted_by_name(arn, prefix) for arn in deployed.values())
    detail = f"{len(deployed)} job definition(s) ACTIVE as deployed" + (
        f", {by_name} of them found by name as the workloads submit them" if by_name else ""
    )
    return StepOutcome(DEFINITIONS, NAME, Result.PASSED, seconds, detail)
