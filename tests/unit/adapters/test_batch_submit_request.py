"""The SubmitJob request the Batch adapter sends for a JobSpec. SIMULATED: moto's Batch accepts container
overrides but does not reflect them in DescribeJobs, so the request is read as the adapter built it (botocore
then validates it against the SubmitJob model before moto accepts it)."""

from __future__ import annotations

from typing import Any

import pytest

from batch_orchestrator.adapters import aws
from batch_orchestrator.ports import JobSpec
from batch_orchestrator.workloads import Size
from tests.support.aws_doubles import batch_in_moto


@pytest.mark.parametrize(
    ("resources", "requirements"),
    [
        (None, None),
        (Size("1", 4096), [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "4096"}]),
        (Size("0.25", 512), [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}]),
    ],
)
def test_a_size_override_is_sent_as_the_jobs_resource_requirements(
    resources: Size | None, requirements: list[dict[str, str]] | None
) -> None:
    sent: list[dict[str, Any]] = []
    with batch_in_moto() as batch:
        aws.submit_client().meta.events.register(
            "before-parameter-build.batch.SubmitJob", lambda params, **_: sent.append(dict(params))
        )
        spec = JobSpec(
            job_name="run-a2-cat_jpg",
            job_queue=batch.job_queue,
            job_definition=batch.job_definition,
            environment={"RUN_ID": "r"},
            tags={"batch-orchestrator:size-step": "1"},
            resources=resources,
        )

        # When
        job_id = batch.jobs.submit(spec)

    # Then Batch accepted it, and only a size override carries resource requirements
    assert job_id
    (request,) = sent
    overrides = request["containerOverrides"]
    assert overrides.get("resourceRequirements") == requirements
    assert overrides["environment"] == [{"name": "RUN_ID", "value": "r"}]
