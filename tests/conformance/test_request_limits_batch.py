"""SubmitJob requests stay within AWS Batch's limits (the approach: tests/conformance/lifecycles.py)."""

from __future__ import annotations

import pytest

from batch_orchestrator.limits import (
    BATCH_JOB_NAME,
    BATCH_PROPAGATED_TAGS,
    BATCH_SUBMIT_JOB_PAYLOAD,
    BATCH_TAG_KEY,
    BATCH_TAG_VALUE,
    ECS_RUN_TASK_OVERRIDES,
)
from batch_orchestrator.models import S3Source
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT
from tests.conformance.lifecycles import SOURCES, VERSION_ID, Lifecycle, job_definition_tags
from tests.conformance.limit_checks import (
    environment_violations,
    job_name_violations,
    overrides_violations,
    submit_payload_violations,
    tag_violations,
)

pytestmark = pytest.mark.slow  # records every request the functions send in moto


# ================================================================================================
# SubmitJob
# ================================================================================================


@pytest.mark.parametrize("name", SOURCES)
def test_every_submit_job_request_is_within_batch_limits(lifecycles: dict[str, Lifecycle], name: str) -> None:
    """Each attempt's SubmitJob, as BatchJobs.submit sends it: a valid job name, tags within Batch's rules
    (also with the job definition's tags propagated), a legal environment, and a payload within 30 KiB."""
    # Given: a run submitted for every attempt up to the maximum
    calls = lifecycles[name].submit_jobs
    inherited = job_definition_tags()

    # When
    problems = {
        call.params["tags"]["batch-orchestrator:attempt"]: [
            *job_name_violations(call.params["jobName"]),
            *tag_violations(call.params["tags"], inherited_tags=inherited if call.params.get("propagateTags") else 0),
            *environment_violations(call.params["containerOverrides"]["environment"]),
            *overrides_violations(call.params["containerOverrides"]),
            *submit_payload_violations(call.body),
        ]
        for call in calls
    }

    # Then
    assert [call.operation for call in calls] == ["SubmitJob"] * MAX_ATTEMPTS_LIMIT
    assert set(problems) == {str(attempt) for attempt in range(1, MAX_ATTEMPTS_LIMIT + 1)}
    assert {attempt: found for attempt, found in problems.items() if found} == {}


def test_the_job_input_reaches_the_container_unchanged(lifecycles: dict[str, Lifecycle]) -> None:
    """Clipping names never clips the input: the container gets the whole 1,024-byte key and version ID."""
    # Given
    for name, source in SOURCES.items():
        if not isinstance(source, S3Source):
            continue
        # When
        environments = [
            {v["name"]: v["value"] for v in call.params["containerOverrides"]["environment"]}
            for call in lifecycles[name].submit_jobs
        ]
        # Then
        assert {(env["INPUT_KEY"], env["INPUT_VERSION_ID"]) for env in environments} == {(source.key, VERSION_ID)}


def test_submit_job_checks_reject_one_over_the_limit() -> None:
    """Each SubmitJob checker rejects a request one character, tag or byte over its limit."""
    # Given: requests at the limit, and the same one step over
    name_at_limit = "a" * BATCH_JOB_NAME.max_length
    tags_at_limit = {f"k{i}": "v" for i in range(BATCH_PROPAGATED_TAGS.value)}
    key_at_limit, value_at_limit = "k" * BATCH_TAG_KEY.max_length, "v" * BATCH_TAG_VALUE.max_length

    # When / Then
    assert job_name_violations(name_at_limit) == []
    assert job_name_violations(name_at_limit + "a")
    assert job_name_violations("_" + name_at_limit[1:])  # the first character must be alphanumeric
    assert job_name_violations("a b")
    assert tag_violations(tags_at_limit) == []
    assert tag_violations({**tags_at_limit, "one-more": "v"})
    assert tag_violations({"a": "b", "c": "d"}, inherited_tags=BATCH_PROPAGATED_TAGS.value - 2) == []
    assert tag_violations({"a": "b", "c": "d"}, inherited_tags=BATCH_PROPAGATED_TAGS.value - 1)
    assert tag_violations({key_at_limit: value_at_limit}) == []
    assert tag_violations({key_at_limit + "k": "v"})
    assert tag_violations({"k": value_at_limit + "v"})
    assert tag_violations({"AWS:owner": "v"})
    assert tag_violations({"k": "aws:owner"})
    assert tag_violations({"k": "tab\tinside"})
    assert environment_violations([{"name": "RUN_ID", "value": "x"}]) == []
    assert environment_violations([{"name": "AWS_BATCH_JOB_ID", "value": "x"}])
    assert environment_violations([{"name": "A", "value": "x"}, {"name": "A", "value": "y"}])
    assert submit_payload_violations(b"x" * BATCH_SUBMIT_JOB_PAYLOAD.value) == []
    assert submit_payload_violations(b"x" * (BATCH_SUBMIT_JOB_PAYLOAD.value + 1))
    framing = len('{"environment": [{"name": "V", "value": ""}]}')
    fits = {"environment": [{"name": "V", "value": "x" * (ECS_RUN_TASK_OVERRIDES.value - framing)}]}
    assert overrides_violations(fits) == []
    assert overrides_violations({"environment": [{"name": "V", "value": fits["environment"][0]["value"] + "x"}]})
