"""A stack rendered with array workloads: submit_jobs may read the uploads of the workloads whose array is the
uploaded manifest, and only those; every request the stack makes is allowed; the tracker and the watchdog may list
an array's failed children.

Proven, on template.yaml rendered from ``ARRAY_WORKLOADS`` (a fixed-size array, and an array sized by its uploaded
manifest), resolved as test_workloads.py resolves the two-workload stack: SubmitJobsFunction's GetObject (and
GetObjectVersion: it reads the uploaded version) of a manifest workload's key is allowed, through the rendered
``WorkloadManifestsReadPolicy`` attached to its role, on that workload's ``<prefix>*<suffix>`` alone; the fixed-size
workload's uploads and SubmitScheduledFunction get no such permission; a stack without a manifest workload renders
no policy; the tracker's and the watchdog's ListJobs (an array's failed children) are allowed; mutated templates (the
policy gone, its pattern another workload's) are denied. The largest request an array attempt sends (a child-only
retry at ARRAY_ITEMS_BUDGET, for an upload at S3's limits) fits ECS's overrides and Batch's payload.

Not proven: what test_permissions.py does not prove either; S3's check of the object's own ACLs (the bucket enforces
BucketOwnerEnforced: ACLs are off).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from batch_orchestrator.adapters.batch import submit_request
from batch_orchestrator.array_items import items_text
from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG, job_name_for, plan_tags, run_id_for
from batch_orchestrator.limits import ARRAY_ITEMS_BUDGET
from batch_orchestrator.models import AttemptPlan, S3Source, SubmitRequest
from batch_orchestrator.ports import JobSpec
from batch_orchestrator.submit import job_environment
from batch_orchestrator.workloads import Size
from tests.conformance.iam_database import request_problems
from tests.conformance.lifecycles import JOB_DEFINITION_ARN, JOB_QUEUE_ARN, SOURCES
from tests.conformance.limit_checks import (
    environment_violations,
    overrides_violations,
    submit_payload_violations,
    tag_violations,
)
from tests.conformance.requests import all_calls, decide
from tests.conformance.resolve import ResolvedStack, Template, resolve_template, transformed_template
from tests.conformance.workload_stacks import (
    TWO_WORKLOADS,
    calls_of,
    rendered_stack,
    rendered_template_path,
    verdicts,
    without_statement,
)
from workload_table.names import MANIFEST_READ_POLICY

ARRAY_WORKLOADS = """\
workloads:
  - name: tiles
    match: {prefix: tiles/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 600
    retry: {exit_codes: "75", max_attempts: 3}
    array: {size: 100}
  - name: chunks
    match: {prefix: batches/, suffix: .manifest}
    image: public.ecr.aws/docker/library/python:3.13-slim
    command: [python3, /app/job.py]
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 600
    array: {manifest: upload}
"""


@cache
def stack() -> ResolvedStack:
    return rendered_stack(workloads_yaml=ARRAY_WORKLOADS)


def test_every_request_of_the_array_stack_is_allowed() -> None:
    # Given the stack rendered with the array workloads, and its requests
    calls = all_calls(stack())

    # Then each is one AWS could receive, and none is denied
    assert [f"{c.describe()}: {p}" for c in calls for p in request_problems(c.action, c.resources)] == []
    denied = [f"{c.describe(r)}: {d.reason}" for c in calls for r, d in decide(stack(), c) if not d.allowed]
    assert denied == []


def test_submit_jobs_reads_the_manifest_workloads_uploads_and_nothing_else() -> None:
    # Given the stack's requests
    resolved = stack()

    # Then submit_jobs reads the manifest workload's upload (its version too), allowed
    for action in ("s3:GetObject", "s3:GetObjectVersion"):
        ((arn, allowed),) = verdicts(resolved, "SubmitJobsFunction (code)", action)
        assert arn.endswith("/batches/items.manifest")
        assert allowed
    # and the submit functions' roles get GetObject only through the rendered policy, on that workload's keys
    policy = resolved.resources[MANIFEST_READ_POLICY].properties
    read, listing = policy["PolicyDocument"]["Statement"]
    bucket = resolved.get_att("InputBucket", "Arn")
    assert read["Resource"] == [f"{bucket}/batches/*.manifest"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", bucket)
    assert policy["Roles"] == [resolved.ref("SubmitJobsFunctionRole")]
    assert calls_of(resolved, "SubmitScheduledFunction (code)", "s3:GetObject") == []


def test_the_tracker_and_the_watchdog_may_list_an_arrays_failed_children() -> None:
    for function in ("TrackJobsFunction", "WatchdogFunction"):
        found = verdicts(stack(), f"{function} (code)", "batch:ListJobs")
        assert found
        assert all(allowed for _, allowed in found), function


def test_a_stack_without_a_manifest_workload_renders_no_read_policy() -> None:
    for resolved in (rendered_stack(workloads_yaml=TWO_WORKLOADS), rendered_stack(workloads_yaml="workloads: []\n")):
        assert MANIFEST_READ_POLICY not in resolved.resources
        assert calls_of(resolved, "SubmitJobsFunction (code)", "s3:GetObject") == []


def _policy_gone(template: Template) -> None:
    del template["Resources"][MANIFEST_READ_POLICY]


def _another_workloads_keys(template: Template) -> None:
    read, _ = template["Resources"][MANIFEST_READ_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    read["Resource"] = [{"Fn::Sub": "${InputBucket.Arn}/tiles/*"}]


@pytest.mark.parametrize("mutation", [_policy_gone, _another_workloads_keys], ids=["policy gone", "other keys"])
def test_a_broken_manifest_policy_denies_the_read(mutation: Any) -> None:
    # Given the transformed array template with one defect
    template = transformed_template(template_path=rendered_template_path(ARRAY_WORKLOADS))
    mutation(template)
    broken = resolve_template(template)

    # When / Then submit_jobs' read of the manifest is denied, while the unbroken template allows it
    found = verdicts(broken, "SubmitJobsFunction (code)", "s3:GetObject")
    assert [allowed for _, allowed in found] == [False]
    assert [allowed for _, allowed in verdicts(stack(), "SubmitJobsFunction (code)", "s3:GetObject")] == [True]


def test_an_uploaded_manifest_deleted_before_its_run_answers_404_because_submit_jobs_may_list_the_bucket() -> None:
    # Given the stack's requests: the manifest's GetObject comes with the ListBucket S3 checks for a missing key
    ((_, allowed),) = verdicts(stack(), "SubmitJobsFunction (code)", "s3:ListBucket")
    assert allowed

    # When the statement is gone, the check is denied: S3 would answer 403 AccessDenied, which reads as "unreadable"
    # and retries the upload until its DLQ instead of refusing the run as "deleted before it ran"
    broken = without_statement(ARRAY_WORKLOADS, MANIFEST_READ_POLICY, "ListForManifests")
    ((_, allowed),) = verdicts(broken, "SubmitJobsFunction (code)", "s3:ListBucket")
    assert not allowed


# ------------------------------------------------------------------------------------------ limits
def _widest_items() -> tuple[int, ...]:
    """The most items ARRAY_ITEMS_BUDGET holds, none adjacent (every other item of a 10,000-item array)."""
    items: list[int] = []
    while len(items_text([*items, 2 * len(items)])) <= ARRAY_ITEMS_BUDGET.value:
        items.append(2 * len(items))
    return tuple(items)


@pytest.mark.parametrize("name", [name for name, source in SOURCES.items() if isinstance(source, S3Source)])
def test_a_child_only_retry_at_its_budget_is_within_batchs_limits(name: str) -> None:
    """The largest request an array attempt sends: the longest key and version id, a ladder step's size override,
    and as many items as ARRAY_ITEMS may hold, in the environment and in the parameters."""
    # Given a child-only retry of a 10,000-item array at its widest, for an upload at S3's limits
    source = SOURCES[name]
    plan = AttemptPlan(workload="tiles", size_step=1, array_size=10_000, items=_widest_items())
    request = SubmitRequest(run_id=run_id_for(source), attempt=2, source=source, plan=plan)
    environment = job_environment(request, items=plan.items)
    spec = JobSpec(
        job_name=job_name_for(request.run_id, 2, source),
        job_queue=JOB_QUEUE_ARN,
        job_definition=JOB_DEFINITION_ARN,
        environment=environment,
        tags={RUN_ID_TAG: request.run_id, ATTEMPT_TAG: "2", **plan_tags(plan)},
        resources=Size("16", 122_880),
        array_size=plan.children,
        parameters={"arrayItems": items_text(plan.items)},
    )

    # When the adapter builds its SubmitJob
    sent = submit_request(spec)

    # Then it fits ECS's overrides, the 30 KiB payload, and Batch's tags and environment rules
    assert sent["arrayProperties"] == {"size": len(plan.items)}
    assert [
        *overrides_violations(sent["containerOverrides"]),
        *submit_payload_violations(json.dumps(sent).encode()),
        *environment_violations(sent["containerOverrides"]["environment"]),
        *tag_violations(sent["tags"]),
    ] == []
    # and one item more would not be written as ARRAY_ITEMS (the tracker retries the whole array instead)
    assert len(items_text([*plan.items, 2 * len(plan.items)])) > ARRAY_ITEMS_BUDGET.value


def test_the_budget_is_what_keeps_the_overrides_within_ecs_limit() -> None:
    # Given the upload whose key is longest once JSON-escaped (4-byte characters only), retried over items whose
    # ranges take twice the budget
    source = SOURCES["s3 key of 4-byte characters only"]
    request = SubmitRequest(run_id=run_id_for(source), attempt=2, source=source, plan=AttemptPlan(workload="tiles"))
    environment = job_environment(request, items=_widest_items())
    environment["ARRAY_ITEMS"] += "," + environment["ARRAY_ITEMS"]

    # When / Then its overrides no longer fit: the check would catch a budget set too high
    overrides = {"environment": [{"name": name, "value": value} for name, value in environment.items()]}
    assert overrides_violations(overrides)
