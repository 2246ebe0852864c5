"""template.yaml rendered with a coalescing workload keeps the template's rules: its queue and DLQ are encrypted and
refuse plain HTTP, the DLQ and coalesce_uploads have their alarms, its log group a retention, and its role only the
statements it needs, scoped to the stack's resources (the one wildcard is ListJobs', which has no resource level)."""

from __future__ import annotations

from typing import Any

from tests.conformance.resolve import transformed_template
from tests.conformance.test_workloads_coalesce import COALESCE_WORKLOADS
from tests.conformance.workload_stacks import rendered_template_path
from tests.security.test_template_completeness import completeness_gaps, dead_letter_queues
from workload_table.render_coalesce import COALESCE_FUNCTION


def _template() -> dict[str, Any]:
    return transformed_template(template_path=rendered_template_path(COALESCE_WORKLOADS))


def test_a_rendered_coalescing_template_keeps_every_rule() -> None:
    # Given template.yaml rendered with a coalescing workload
    template = _template()
    resources = template["Resources"]

    # Then nothing is missing: TLS policies, the DLQ's alarm, the function's Errors and Throttles alarms
    assert completeness_gaps(template) == []
    assert "WorkloadFramesCoalesceDLQ" in dead_letter_queues(template)
    for name in ("WorkloadFramesCoalesceQueue", "WorkloadFramesCoalesceDLQ"):
        assert resources[name]["Properties"]["SqsManagedSseEnabled"] is True
    assert "RetentionInDays" in resources["CoalesceUploadsLogGroup"]["Properties"]
    # and the function's role has no wildcard beyond ListJobs' and the job ids SubmitJob creates
    role = resources[f"{COALESCE_FUNCTION}Role"]["Properties"]
    wildcards = [
        (statement["Sid"], resource)
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
        if "*" in str(resource)
    ]
    assert sorted({sid for sid, _ in wildcards}) == ["FindJobByName", "SubmitJob", "TagJobsAtSubmit", "WriteManifests"]
