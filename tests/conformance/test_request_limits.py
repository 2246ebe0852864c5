"""The requests this code sends stay within the AWS limits that moto does not enforce: the inputs used are
the longest AWS allows, and template.yaml's copies of AWS limits equal the limits.

How the requests are built, recorded and checked: tests/conformance/lifecycles.py. One module per AWS API:
test_request_limits_batch.py, _sqs.py, _sns.py, _dynamodb.py."""

from __future__ import annotations

import pytest
import yaml

from batch_orchestrator.limits import (
    BATCH_MIN_JOB_TIMEOUT,
    BATCH_RETRY_ATTEMPTS,
    CLOUDFORMATION_STACK_NAME,
    LAMBDA_MAX_BATCHING_WINDOW,
    LAMBDA_SQS_MAX_BATCH_SIZE,
    LAMBDA_SQS_MAX_CONCURRENCY,
    LAMBDA_SQS_MIN_CONCURRENCY,
    LOG_STREAM_NAME,
    NAME_RULES,
    S3_MAX_KEY_BYTES,
    S3_MAX_VERSION_ID_BYTES,
    SQS_MAX_DELAY,
)
from batch_orchestrator.models import S3Source, ScheduleSource
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT
from tests.conformance.lifecycles import (
    BUCKET,
    LOG_STREAM,
    RETRY_POLICY,
    SOURCES,
    STACK_NAME,
    TEMPLATE,
    VERSION_ID,
    CloudFormationLoader,
)
from tests.conformance.limit_checks import name_violations, utf8_len

pytestmark = pytest.mark.slow  # records every request the functions send in moto


# ================================================================================================
# The inputs are the longest AWS allows
# ================================================================================================


def test_the_inputs_are_as_long_as_aws_allows() -> None:
    """The conformance inputs sit exactly at AWS's maxima (a shorter input would prove less)."""
    # Given / When / Then
    s3_keys = [source.key for source in SOURCES.values() if isinstance(source, S3Source)]
    assert s3_keys
    assert all(utf8_len(key) == S3_MAX_KEY_BYTES.value for key in s3_keys)
    assert any(utf8_len(key) > len(key) for key in s3_keys)  # multi-byte characters are in play
    assert utf8_len(VERSION_ID) == S3_MAX_VERSION_ID_BYTES.value
    assert name_violations("stack", STACK_NAME, CLOUDFORMATION_STACK_NAME) == []
    assert len(STACK_NAME) == CLOUDFORMATION_STACK_NAME.max_length
    assert name_violations("bucket", BUCKET, NAME_RULES[("AWS::S3::Bucket", "BucketName")]) == []
    assert len(BUCKET) == NAME_RULES[("AWS::S3::Bucket", "BucketName")].max_length
    schedule_rule = NAME_RULES[("AWS::Scheduler::Schedule", "Name")]
    schedules = [source.schedule_name for source in SOURCES.values() if isinstance(source, ScheduleSource)]
    assert [len(name) for name in schedules] == [schedule_rule.max_length]
    assert name_violations("schedule", schedules[0], schedule_rule) == []
    assert name_violations("log stream", LOG_STREAM, LOG_STREAM_NAME) == []
    assert len(LOG_STREAM) == LOG_STREAM_NAME.max_length
    assert RETRY_POLICY.max_attempts == MAX_ATTEMPTS_LIMIT
    assert RETRY_POLICY.max_delay_seconds == RETRY_POLICY.base_delay_seconds == SQS_MAX_DELAY.value


# ================================================================================================
# template.yaml's copies of AWS limits
# ================================================================================================


def test_template_copies_of_aws_limits_equal_the_limits() -> None:
    """A template cannot import limits.py, so where it repeats an AWS limit (a parameter's range, the
    functions' RETRY_MAX_DELAY_SECONDS) the copy must equal, or stay within, the one recorded there."""
    # Given
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CloudFormationLoader)
    parameters = template["Parameters"]
    functions = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"]
    delay_copies = {
        (r.get("Properties", {}).get("Environment") or {}).get("Variables", {}).get("RETRY_MAX_DELAY_SECONDS")
        for r in [*functions, {"Properties": template.get("Globals", {}).get("Function", {})}]
    } - {None}

    # When
    mismatches = {
        "InfraRetryAttempts.MaxValue": (parameters["InfraRetryAttempts"]["MaxValue"], BATCH_RETRY_ATTEMPTS.value),
        "MaxAttempts.MaxValue": (parameters["MaxAttempts"]["MaxValue"], MAX_ATTEMPTS_LIMIT),
        "RetryBaseDelaySeconds.MaxValue": (parameters["RetryBaseDelaySeconds"]["MaxValue"], SQS_MAX_DELAY.value),
        "RETRY_MAX_DELAY_SECONDS": (delay_copies or {str(SQS_MAX_DELAY.value)}, {str(SQS_MAX_DELAY.value)}),
        "JobTimeoutSeconds.MinValue >= 60": (
            parameters["JobTimeoutSeconds"]["MinValue"] >= BATCH_MIN_JOB_TIMEOUT.value,
            True,
        ),
        "SubmitBatchSize.MaxValue <= 10,000": (
            parameters["SubmitBatchSize"]["MaxValue"] <= LAMBDA_SQS_MAX_BATCH_SIZE.value,
            True,
        ),
        "SubmitBatchingWindowSeconds.MaxValue <= 300": (
            parameters["SubmitBatchingWindowSeconds"]["MaxValue"] <= LAMBDA_MAX_BATCHING_WINDOW.value,
            True,
        ),
        "SubmitConcurrency within 2..1000": (
            LAMBDA_SQS_MIN_CONCURRENCY.value
            <= parameters["SubmitConcurrency"]["MinValue"]
            <= parameters["SubmitConcurrency"]["MaxValue"]
            <= LAMBDA_SQS_MAX_CONCURRENCY.value,
            True,
        ),
    }

    # Then
    assert {name: pair for name, pair in mismatches.items() if pair[0] != pair[1]} == {}
