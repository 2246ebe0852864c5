"""A stack rendered with a pipeline: submit_jobs may read the manifest a step writes for its next step, and only that;
a later step's job may read and list what the step before it wrote; every request the stack makes is allowed.

Proven, on template.yaml rendered from ``PIPELINE_WORKLOADS`` (split -> render, an array of split's manifest ->
merge), resolved as test_workloads.py resolves the two-workload stack: SubmitJobsFunction's GetObject of
``<OutputPrefix><run id>/split/manifest`` is allowed through the rendered ``WorkloadManifestsReadPolicy``, whose
resource names that one object per run; a later step's job role may GetObject and ListBucket (prefix) the previous
step's outputs; mutated templates (the policy's entry gone, another step's manifest, the jobs' read gone) are denied.

Not proven: what test_permissions.py does not prove either.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from batch_orchestrator.adapters.batch import submit_request
from batch_orchestrator.array_items import items_text
from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG, job_name_for, plan_tags, run_id_for
from batch_orchestrator.limits import PIPELINE_OUTPUT_PREFIX
from batch_orchestrator.models import AttemptPlan, S3Source, SubmitRequest
from batch_orchestrator.ports import JobSpec
from batch_orchestrator.submit import job_environment
from batch_orchestrator.workload_steps import step_environment
from batch_orchestrator.workloads import Size, parse_workloads, validate_table
from tests.conformance.lifecycles import JOB_DEFINITION_ARN, JOB_QUEUE_ARN, SOURCES
from tests.conformance.limit_checks import (
    environment_violations,
    overrides_violations,
    submit_payload_violations,
    tag_violations,
)
from tests.conformance.requests import all_calls, decide
from tests.conformance.resolve import ResolvedStack, Template, resolve_template, transformed_template
from tests.conformance.test_workloads_arrays import _widest_items
from tests.conformance.workload_stacks import rendered_stack, rendered_template_path, verdicts, without_statement
from tests.support.workload_yaml import SAMPLE_CONTAINER
from workload_table.names import MANIFEST_READ_POLICY

SAMPLE = SAMPLE_CONTAINER
PIPELINE_WORKLOADS = f"""\
workloads:
  - name: split
    match: {{prefix: scenes/}}{SAMPLE}
    then: render
  - name: render{SAMPLE}
    array: {{manifest: previous-step}}
    then: merge
  - name: merge{SAMPLE}
"""


@cache
def stack() -> ResolvedStack:
    return rendered_stack(workloads_yaml=PIPELINE_WORKLOADS)


def _job_reads(resolved: ResolvedStack) -> list[tuple[str, str, bool]]:
    """(who, resource, allowed) of the jobs' reads of an earlier step's outputs."""
    return [
        (call.who, resource.arn, decision.allowed)
        for call in all_calls(resolved)
        if "previous step's outputs" in call.why
        for resource, decision in decide(resolved, call)
    ]


def test_every_request_of_the_pipeline_stack_is_allowed() -> None:
    calls = all_calls(stack())
    denied = [f"{c.describe(r)}: {d.reason}" for c in calls for r, d in decide(stack(), c) if not d.allowed]
    assert denied == []


def test_submit_jobs_reads_the_manifest_split_writes_for_render_and_nothing_else() -> None:
    resolved = stack()
    ((arn, allowed),) = verdicts(resolved, "SubmitJobsFunction (code)", "s3:GetObject")
    assert arn.endswith("/split/manifest")
    assert allowed
    statements = resolved.resources[MANIFEST_READ_POLICY].properties["PolicyDocument"]["Statement"]
    (statement,) = [s for s in statements if s["Sid"] == "ReadManifests"]
    bucket = resolved.get_att("InputBucket", "Arn")
    output_prefix = resolved.function_environment("SubmitJobsFunction")["OUTPUT_PREFIX"]
    assert statement["Resource"] == [f"{bucket}/{output_prefix}*/split/manifest"]


def test_later_steps_read_and_list_what_the_step_before_wrote() -> None:
    reads = _job_reads(stack())
    # render reads split's outputs, merge reads render's: each a GetObject and a ListBucket, all allowed
    assert len(reads) == 4
    assert all(allowed for _, _, allowed in reads), reads
    assert any(arn.endswith("/split/0/result.json") for _, arn, _ in reads)
    assert any(arn.endswith("/render/0/result.json") for _, arn, _ in reads)


def _manifest_entry_gone(template: Template) -> None:
    del template["Resources"][MANIFEST_READ_POLICY]


def _another_steps_manifest(template: Template) -> None:
    statements = template["Resources"][MANIFEST_READ_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    (statement,) = [s for s in statements if s["Sid"] == "ReadManifests"]
    statement["Resource"] = [{"Fn::Sub": "${InputBucket.Arn}/${OutputPrefix}*/render/manifest"}]


@pytest.mark.parametrize(
    "mutation", [_manifest_entry_gone, _another_steps_manifest], ids=["policy gone", "another step's manifest"]
)
def test_a_broken_manifest_policy_denies_the_read(mutation: Any) -> None:
    template = transformed_template(template_path=rendered_template_path(PIPELINE_WORKLOADS))
    mutation(template)
    found = verdicts(resolve_template(template), "SubmitJobsFunction (code)", "s3:GetObject")
    assert [allowed for _, allowed in found] == [False]
    # while the unbroken template allows it
    assert [allowed for _, allowed in verdicts(stack(), "SubmitJobsFunction (code)", "s3:GetObject")] == [True]


def test_without_the_rendered_read_of_outputs_the_later_steps_cannot_read() -> None:
    # Given the job role without the rendered entry for the output prefix (the read of workloads' inputs kept)
    template = transformed_template(template_path=rendered_template_path(PIPELINE_WORKLOADS))
    (policy,) = template["Resources"]["JobRole"]["Properties"]["Policies"]
    (read,) = [s for s in policy["PolicyDocument"]["Statement"] if isinstance(s, dict) and s.get("Sid") == "ReadInput"]
    read["Resource"] = [entry for entry in read["Resource"] if "Fn::If" not in entry]

    # When / Then the later steps' reads of the previous outputs are denied (the listing stays allowed)
    objects = [(arn, allowed) for _, arn, allowed in _job_reads(resolve_template(template)) if arn.endswith(".json")]
    assert len(objects) == 2
    assert not any(allowed for _, allowed in objects), objects


# ------------------------------------------------------------------------------------------ limits
def _widest_step_request(name: str, output_prefix: str) -> dict[str, Any]:
    """The SubmitJob of a pipeline step at its widest: the middle step of a table where it both reads its previous
    step's manifest and writes one for the next, on a child-only retry at ARRAY_ITEMS_BUDGET, for an upload at S3's
    limits, with the OutputPrefix given."""
    table = validate_table(
        parse_workloads(
            [
                {
                    "name": "a",
                    "match": {"prefix": "in/"},
                    "vcpu": "1",
                    "memory": 2048,
                    "timeout_seconds": 60,
                    "then": "b",
                },
                {
                    "name": "b",
                    "vcpu": "1",
                    "memory": 2048,
                    "timeout_seconds": 60,
                    "array": {"manifest": "previous-step"},
                    "then": "c",
                },
                {
                    "name": "c",
                    "vcpu": "1",
                    "memory": 2048,
                    "timeout_seconds": 60,
                    "array": {"manifest": "previous-step"},
                },
            ],
            source="test",
            runtime=True,
        )
    )
    source = SOURCES[name]
    items = _widest_items()
    plan = AttemptPlan(workload="b", size_step=1, array_size=10_000, items=items, step=1, attempts_before_step=1)
    request = SubmitRequest(run_id=run_id_for(source), attempt=3, source=source, plan=plan)
    step = step_environment(table, "b", run_id=request.run_id, output_prefix=output_prefix)
    assert {"MANIFEST_KEY", "STEP_MANIFEST_KEY", "PREVIOUS_STEP_OUTPUT_PREFIX"} <= set(step)
    environment = job_environment(request, items=items, step={**step, "STEP_ATTEMPT": "2"})
    spec = JobSpec(
        job_name=job_name_for(request.run_id, 3, source),
        job_queue=JOB_QUEUE_ARN,
        job_definition=JOB_DEFINITION_ARN,
        environment=environment,
        tags={RUN_ID_TAG: request.run_id, ATTEMPT_TAG: "3", **plan_tags(plan)},
        resources=Size("16", 122_880),
        array_size=plan.children,
        parameters={"arrayItems": items_text(items)},
    )
    return submit_request(spec)


def _violations(sent: dict[str, Any]) -> list[str]:
    return [
        *overrides_violations(sent["containerOverrides"]),
        *submit_payload_violations(json.dumps(sent).encode()),
        *environment_violations(sent["containerOverrides"]["environment"]),
        *tag_violations(sent["tags"]),
    ]


LONGEST_PREFIX = "p" * (PIPELINE_OUTPUT_PREFIX.value - 1) + "/"  # the longest a stack with pipelines accepts


@pytest.mark.parametrize("name", [name for name, source in SOURCES.items() if isinstance(source, S3Source)])
def test_a_pipeline_step_at_its_widest_is_within_batchs_limits(name: str) -> None:
    # Given the longest OutputPrefix a stack with pipelines accepts (ASCII: the functions refuse any other)
    # When / Then the widest step's SubmitJob fits ECS's overrides, the payload, tags and environment rules
    assert _violations(_widest_step_request(name, LONGEST_PREFIX)) == []


@pytest.mark.parametrize(
    "prefix",
    ["p" * (4 * PIPELINE_OUTPUT_PREFIX.value - 1) + "/", "\U0001f600" * (PIPELINE_OUTPUT_PREFIX.value - 1) + "/"],
    ids=["four times as long", "as long, not ASCII"],
)
def test_the_output_prefix_budget_is_what_keeps_a_step_within_ecs_limit(prefix: str) -> None:
    # Given an OutputPrefix the functions refuse, for the longest key once escaped
    # When / Then the widest step no longer fits: the check would catch a budget set too high
    assert _violations(_widest_step_request("s3 key of 4-byte characters only", prefix))
    # and the functions refuse it at cold start, naming the budget
    from batch_orchestrator.config import workload_table_from_env
    from batch_orchestrator.errors import ConfigError
    from tests.support.pipeline_runs import PIPELINE_ENV

    with pytest.raises(ConfigError, match=f"at most {PIPELINE_OUTPUT_PREFIX.value} ASCII characters"):
        workload_table_from_env({**PIPELINE_ENV, "OUTPUT_PREFIX": prefix})


def test_a_manifest_not_written_answers_404_because_submit_jobs_may_list_the_bucket() -> None:
    # Given the stack's requests: GetObject of split's manifest comes with the ListBucket S3 checks for a missing key
    ((_, allowed),) = verdicts(stack(), "SubmitJobsFunction (code)", "s3:ListBucket")
    assert allowed

    # When the statement is gone, the check is denied: S3 would answer 403, and the run would not be refused cleanly
    broken = without_statement(PIPELINE_WORKLOADS, MANIFEST_READ_POLICY, "ListForManifests")
    ((_, allowed),) = verdicts(broken, "SubmitJobsFunction (code)", "s3:ListBucket")
    assert not allowed
