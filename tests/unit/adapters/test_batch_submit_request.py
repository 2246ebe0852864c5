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


def _sent_request(**spec_fields: Any) -> tuple[str, dict[str, Any]]:
    """The job id Batch (moto) gave, and the SubmitJob request the adapter sent for a JobSpec."""
    sent: list[dict[str, Any]] = []
    with batch_in_moto() as batch:
        aws.submit_client().meta.events.register(
            "before-parameter-build.batch.SubmitJob", lambda params, **_: sent.append(dict(params))
        )
        fields: dict[str, Any] = {
            "job_name": "run-a1-tiles",
            "job_queue": batch.job_queue,
            "job_definition": batch.job_definition,
            "environment": {"RUN_ID": "r"},
            "tags": {"batch-orchestrator:attempt": "1"},
        } | spec_fields
        job_id = batch.jobs.submit(JobSpec(**fields))
    (request,) = sent
    return job_id, request


def test_a_single_job_request_has_exactly_the_keys_it_always_had() -> None:
    # Given / When a JobSpec of no array (array_size 0), and one of an array's single item (array_size 1)
    for size in (0, 1):
        _, request = _sent_request(array_size=size)

        # Then neither arrayProperties nor parameters: byte for byte the request of a job of no array
        assert set(request) == {"jobName", "jobQueue", "jobDefinition", "containerOverrides", "tags", "propagateTags"}


def test_an_array_of_two_or_more_is_sent_with_its_size_and_a_child_only_retry_with_its_items() -> None:
    # Given / When an array of 3 (a first attempt), and an array of 2 over items 1 and 4 (a child-only retry)
    whole_id, whole = _sent_request(array_size=3)
    retry_id, retry = _sent_request(
        array_size=2, parameters={"arrayItems": "1,4"}, environment={"RUN_ID": "r", "ARRAY_ITEMS": "1,4"}
    )

    # Then Batch accepted both, and each carries what it needs
    assert whole_id
    assert retry_id
    assert (whole["arrayProperties"], "parameters" in whole) == ({"size": 3}, False)
    assert (retry["arrayProperties"], retry["parameters"]) == ({"size": 2}, {"arrayItems": "1,4"})
    assert {"name": "ARRAY_ITEMS", "value": "1,4"} in retry["containerOverrides"]["environment"]
