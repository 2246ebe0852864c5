"""A stack rendered with a coalescing workload: every request it makes is allowed, each new call within its limits.

Proven, on template.yaml rendered from ``COALESCE_WORKLOADS``, resolved as test_workloads.py resolves the two-workload
stack: every request of the stack is allowed (coalesce_uploads' TransactWriteItems as dynamodb:PutItem, its GetItem,
UpdateItem, PutObject of a manifest, SubmitJob and ListJobs; the mapping's polling of the workload's queue; the job
role's read of a manifest); submit_jobs may SendMessage (SendMessageBatch) to that queue only through the rendered
``WorkloadCoalesceForwardPolicy`` (gone: denied); a table without a coalescing workload renders none of it. The
mapping's settings and the queue's visibility timeout keep the documented rules (a BatchSize above 10 has a window,
the visibility timeout is at least 6 x the function's timeout, and longer than the claims' lease). A full transaction
of the largest keys, a full SendMessageBatch of the largest uploads and a batch run's SubmitJob fit their limits.

Not proven: what test_permissions.py does not prove either; Lambda's cut of a batch at 6 MB (`make bench` measures
a record's size and the batches it gives).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from batch_orchestrator.adapters.batch import submit_request
from batch_orchestrator.adapters.coalesced_keys import CoalescedKeysTable
from batch_orchestrator.adapters.run_items import to_attribute_values
from batch_orchestrator.coalesce import coalesce_message, manifest_key
from batch_orchestrator.ids import ATTEMPT_TAG, RUN_ID_TAG, job_name_for, plan_tags, run_id_for
from batch_orchestrator.limits import (
    DYNAMODB_TRANSACT_WRITE_ITEMS,
    DYNAMODB_TRANSACTION_BYTES,
    LAMBDA_SQS_BATCH_SIZE_WITHOUT_WINDOW,
    SQS_MAX_MESSAGE_SIZE,
    SQS_SEND_MESSAGE_BATCH_ENTRIES,
)
from batch_orchestrator.models import AttemptPlan, S3Source, SubmitRequest
from batch_orchestrator.ports import JobSpec, KeyClaim
from batch_orchestrator.submit import job_environment
from tests.conformance.iam_database import request_problems
from tests.conformance.lifecycles import JOB_DEFINITION_ARN, JOB_QUEUE_ARN, SOURCES
from tests.conformance.limit_checks import (
    environment_violations,
    item_size,
    item_violations,
    sqs_message_violations,
    submit_payload_violations,
    tag_violations,
    utf8_len,
)
from tests.conformance.requests import all_calls, decide
from tests.conformance.resolve import Mutation, ResolvedStack, Template, resolve_template, transformed_template
from tests.conformance.workload_stacks import TWO_WORKLOADS, calls_of, rendered_stack, rendered_template_path, verdicts
from tests.support.workload_yaml import coalescing_workloads
from workload_table.render_coalesce import (
    COALESCE_CLAIM_LEASE,
    COALESCE_FORWARD_POLICY,
    COALESCE_FUNCTION,
    COALESCE_FUNCTION_TIMEOUT,
)

COALESCE_WORKLOADS = coalescing_workloads(window_seconds=300, max_items=10000)
LARGEST = [source for source in SOURCES.values() if isinstance(source, S3Source)]


@cache
def stack() -> ResolvedStack:
    return rendered_stack(workloads_yaml=COALESCE_WORKLOADS)


def test_every_request_of_the_coalesce_stack_is_allowed() -> None:
    # Given the stack rendered with a coalescing workload, and its requests
    calls = all_calls(stack())

    # Then each is one AWS could receive, and none is denied
    assert [f"{c.describe()}: {p}" for c in calls for p in request_problems(c.action, c.resources)] == []
    denied = [f"{c.describe(r)}: {d.reason}" for c in calls for r, d in decide(stack(), c) if not d.allowed]
    assert denied == []
    # and coalesce_uploads' own calls are among them: the claims, the manifest, the submission
    for action in ("dynamodb:PutItem", "dynamodb:GetItem", "s3:PutObject", "batch:SubmitJob", "batch:ListJobs"):
        assert verdicts(stack(), f"{COALESCE_FUNCTION} (code)", action), action


def test_submit_jobs_forwards_to_the_workloads_queue_through_the_rendered_policy() -> None:
    # Given the stack's requests
    ((arn, allowed),) = verdicts(stack(), "SubmitJobsFunction (code)", "sqs:SendMessage")

    # Then submit_jobs sends to the frames queue, allowed
    assert arn.endswith("-coalesce-frames")
    assert allowed

    # When the rendered policy is gone
    template = transformed_template(template_path=rendered_template_path(COALESCE_WORKLOADS))
    del template["Resources"][COALESCE_FORWARD_POLICY]
    broken = resolve_template(template)

    # Then the same request is denied
    assert [allowed for _, allowed in verdicts(broken, "SubmitJobsFunction (code)", "sqs:SendMessage")] == [False]


def _coalescer_statement(template: Template, sid: str) -> dict[str, Any]:
    """The statement ``sid`` of coalesce_uploads' own policy, in the transformed template (SAM's role)."""
    role = template["Resources"][f"{COALESCE_FUNCTION}Role"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    found: list[dict[str, Any]] = [s for s in statements if s.get("Sid") == sid]
    (statement,) = found
    return statement


def _without_action(sid: str, action: str) -> Mutation:
    def mutate(template: Template) -> None:
        statement = _coalescer_statement(template, sid)
        statement["Action"] = [a for a in statement["Action"] if a != action]

    return mutate


def _manifests_elsewhere(template: Template) -> None:
    _coalescer_statement(template, "WriteManifests")["Resource"] = {"Fn::Sub": "${InputBucket.Arn}/frames/*"}


@pytest.mark.parametrize(
    ("mutation", "action"),
    [
        (_without_action("RunsTable", "dynamodb:PutItem"), "dynamodb:PutItem"),
        (_without_action("RunsTable", "dynamodb:GetItem"), "dynamodb:GetItem"),
        (_without_action("RunsTable", "dynamodb:UpdateItem"), "dynamodb:UpdateItem"),
        (_manifests_elsewhere, "s3:PutObject"),
    ],
    ids=["no PutItem: the keys' claims (TransactWriteItems)", "no GetItem", "no UpdateItem", "manifests elsewhere"],
)
def test_a_broken_coalescer_policy_denies_its_call(mutation: Mutation, action: str) -> None:
    # Given the coalescer's calls, allowed by the stack as rendered (PutItem: the keys' claims and the run's own)
    allowed_before = [allowed for _, allowed in verdicts(stack(), f"{COALESCE_FUNCTION} (code)", action)]
    assert allowed_before
    assert all(allowed_before)

    # When its policy loses what allows it
    template = transformed_template(template_path=rendered_template_path(COALESCE_WORKLOADS))
    mutation(template)

    # Then the same calls are denied
    after = verdicts(resolve_template(template), f"{COALESCE_FUNCTION} (code)", action)
    assert [allowed for _, allowed in after] == [False] * len(allowed_before)


def test_a_stack_without_a_coalescing_workload_renders_none_of_it() -> None:
    for resolved in (rendered_stack(workloads_yaml=TWO_WORKLOADS), rendered_stack(workloads_yaml="workloads: []\n")):
        assert COALESCE_FUNCTION not in resolved.resources
        assert COALESCE_FORWARD_POLICY not in resolved.resources
        assert calls_of(resolved, "SubmitJobsFunction (code)", "sqs:SendMessage") == []


def test_the_mapping_and_the_queue_keep_the_documented_timing() -> None:
    # Given the rendered mapping of the workload's queue, and the queue
    resolved = stack()
    (queue_id,) = [q for q in resolved.of_type("AWS::SQS::Queue") if q.endswith("CoalesceQueue")]
    queue = resolved.resources[queue_id].properties
    properties = resolved.resources[f"{queue_id}Messages"].properties
    assert properties["EventSourceArn"] == resolved.get_att(queue_id, "Arn")

    # Then its batch is the workload's, with the window a BatchSize above 10 needs
    assert (properties["BatchSize"], properties["MaximumBatchingWindowInSeconds"]) == (10_000, 300)
    assert properties["BatchSize"] <= LAMBDA_SQS_BATCH_SIZE_WITHOUT_WINDOW.value or (
        properties["MaximumBatchingWindowInSeconds"] >= 1
    )
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # and a failed batch comes back only after its claims' lease (so the redelivery can take its keys over)
    assert int(queue["VisibilityTimeout"]) >= 6 * COALESCE_FUNCTION_TIMEOUT + 300
    assert int(queue["VisibilityTimeout"]) > COALESCE_CLAIM_LEASE
    assert queue["RedrivePolicy"]["deadLetterTargetArn"]


def _claim_item(source: S3Source, index: int) -> dict[str, Any]:
    claim = KeyClaim(
        run_id=run_id_for(source), source=source, workload="a" * 20, batch_run_id="s3-" + "f" * 24, index=index
    )
    table = CoalescedKeysTable("runs", retention_days=3650)
    item: dict[str, Any] = to_attribute_values(
        table._item(claim, claimed_until=2_000_000_000, now=datetime(2026, 11, 21, tzinfo=UTC))
    )
    return item


@pytest.mark.parametrize("source", LARGEST, ids=[s.key[:12] for s in LARGEST])
def test_a_full_transaction_of_the_largest_keys_fits_dynamodbs_limits(source: S3Source) -> None:
    # Given a transaction of 100 claims of keys at S3's limits (the longest key and version id)
    items = [_claim_item(source, 9_999 - i) for i in range(DYNAMODB_TRANSACT_WRITE_ITEMS.value)]

    # Then each item, and all of them together, fit
    assert [problem for item in items for problem in item_violations(item)] == []
    assert sum(item_size(item) for item in items) <= DYNAMODB_TRANSACTION_BYTES.value


@pytest.mark.parametrize("source", LARGEST, ids=[s.key[:12] for s in LARGEST])
def test_a_full_send_message_batch_of_the_largest_uploads_fits_sqs_limits(source: S3Source) -> None:
    # Given a SendMessageBatch of 10 forwarded uploads at S3's limits
    bodies = [coalesce_message(workload="a" * 20, source=source)] * SQS_SEND_MESSAGE_BATCH_ENTRIES.value

    # Then each message is a valid one, and the batch within SQS's total
    assert [problem for body in bodies for problem in sqs_message_violations(body)] == []
    assert sum(utf8_len(body) for body in bodies) <= SQS_MAX_MESSAGE_SIZE.value


def test_a_batch_runs_submit_job_fits_batchs_limits() -> None:
    # Given the SubmitJob of a batch run of 10,000 keys of the longest workload name
    source = S3Source(bucket="b" * 63, key=manifest_key("a" * 20, "f" * 32))
    plan = AttemptPlan(workload="a" * 20, array_size=10_000)
    request = SubmitRequest(run_id=run_id_for(source), attempt=1, source=source, plan=plan)
    spec = JobSpec(
        job_name=job_name_for(request.run_id, 1, source),
        job_queue=JOB_QUEUE_ARN,
        job_definition=JOB_DEFINITION_ARN,
        environment=job_environment(request),
        tags={RUN_ID_TAG: request.run_id, ATTEMPT_TAG: "1", **plan_tags(plan)},
        array_size=plan.children,
    )

    # When the adapter builds it
    sent = submit_request(spec)

    # Then it is an array of 10,000 within the payload, environment and tag rules
    assert sent["arrayProperties"] == {"size": 10_000}
    assert [
        *submit_payload_violations(json.dumps(sent).encode()),
        *environment_violations(sent["containerOverrides"]["environment"]),
        *tag_violations(sent["tags"]),
    ] == []
