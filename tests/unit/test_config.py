from typing import TYPE_CHECKING

import pytest

from batch_orchestrator.config import ScheduledSubmitConfig, SubmitConfig, TrackConfig
from batch_orchestrator.errors import ConfigError
from tests.support.handlers import load_handler

if TYPE_CHECKING:
    from tests.conftest import FakeLambdaContext

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/batch-orchestrator"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/batch-orchestrator:3"
SUBMIT_ENV = {
    "RUNS_TABLE": "runs",
    "JOB_QUEUE_ARN": QUEUE,
    "JOB_DEFINITION_ARN": DEFINITION,
    "INPUT_PREFIX": "incoming/",
    "MAX_ATTEMPTS": "3",
    "CLAIM_LEASE_SECONDS": "120",
}
TRACK_ENV = {
    "RUNS_TABLE": "runs",
    "AWS_REGION": "us-east-1",
    "JOB_QUEUE_ARN": QUEUE,
    "SUBMIT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/submit",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "MAX_ATTEMPTS": "3",
    "RETRY_EXIT_CODES": "3,75,137-143",
    "RETRY_BASE_DELAY_SECONDS": "30",
    "RETRY_MAX_DELAY_SECONDS": "900",
    "JOB_LOG_GROUP": "/aws/batch/batch-orchestrator",
    "SIDE_EFFECT_LEASE_SECONDS": "120",
}


def test_submit_config_parses_the_template_environment() -> None:
    config = SubmitConfig.from_env(SUBMIT_ENV)
    assert config.submit.job_queue == QUEUE
    assert config.submit.job_definition == DEFINITION
    assert config.submit.max_attempts == 3
    assert config.input_prefix == "incoming/"
    assert config.store.run_retention_days == 90


def test_track_config_builds_the_retry_policy() -> None:
    config = TrackConfig.from_env(TRACK_ENV)
    assert 137 in config.track.policy.retry_exit_codes
    assert 1 not in config.track.policy.retry_exit_codes
    assert config.track.policy.retry_on_timeout is False
    assert config.track.job_log_group == "/aws/batch/batch-orchestrator"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RUNS_TABLE", "", "RUNS_TABLE is required"),
        ("JOB_QUEUE_ARN", DEFINITION, "not a job queue ARN"),
        ("JOB_DEFINITION_ARN", "my-definition", "not a Batch job definition ARN"),
        ("MAX_ATTEMPTS", "three", "not an integer"),
        ("MAX_ATTEMPTS", "11", "outside 1..10"),
        ("CLAIM_LEASE_SECONDS", "", "CLAIM_LEASE_SECONDS is required"),
        ("RUN_RETENTION_DAYS", "0", "outside 1..3650"),
    ],
)
def test_bad_submit_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SubmitConfig.from_env({**SUBMIT_ENV, name: value})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RETRY_EXIT_CODES", "3,x", "RETRY_EXIT_CODES"),
        ("RETRY_MAX_DELAY_SECONDS", "901", "RETRY_MAX_DELAY_SECONDS"),
        ("RETRY_ON_TIMEOUT", "maybe", "RETRY_ON_TIMEOUT"),
        ("SUBMIT_QUEUE_URL", "submit-queue", "not an SQS queue URL"),
        ("ALERTS_TOPIC_ARN", "alerts", "not an SNS topic ARN"),
        ("JOB_LOG_GROUP", "", "JOB_LOG_GROUP is required"),
    ],
)
def test_bad_track_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrackConfig.from_env({**TRACK_ENV, name: value})


def test_scheduled_config_needs_the_schedule_name() -> None:
    env = {key: value for key, value in SUBMIT_ENV.items() if key != "INPUT_PREFIX"}
    with pytest.raises(ConfigError, match="SCHEDULE_NAME"):
        ScheduledSubmitConfig.from_env(env)
    assert ScheduledSubmitConfig.from_env({**env, "SCHEDULE_NAME": "nightly"}).schedule_name == "nightly"


@pytest.mark.parametrize(
    "name", ["RUNS_TABLE", "JOB_QUEUE_ARN", "JOB_DEFINITION_ARN", "MAX_ATTEMPTS", "CLAIM_LEASE_SECONDS", "INPUT_PREFIX"]
)
def test_a_missing_submit_variable_is_named_not_defaulted(name: str) -> None:
    # Given the template's environment without one variable the submit path needs
    env = {key: value for key, value in SUBMIT_ENV.items() if key != name}

    # When / Then
    with pytest.raises(ConfigError, match=f"environment variable {name} is required"):
        SubmitConfig.from_env(env)


def test_submit_jobs_fails_the_invocation_naming_a_missing_variable(
    monkeypatch: pytest.MonkeyPatch, lambda_context: "FakeLambdaContext"
) -> None:
    # Given submit_jobs deployed without MAX_ATTEMPTS, and one upload to submit
    for key, value in SUBMIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MAX_ATTEMPTS")
    app = load_handler("submit_jobs")
    upload = {"messageId": "1", "receiptHandle": "r", "body": "{}", "attributes": {}, "eventSource": "aws:sqs"}

    # When / Then: the invocation fails (the Errors alarm sees it), not each record in silence
    with pytest.raises(ConfigError, match="MAX_ATTEMPTS is required"):
        app.handler({"Records": [upload]}, lambda_context)


def test_an_empty_input_prefix_is_the_whole_bucket_not_a_missing_variable() -> None:
    # Given the template's environment with InputPrefix="" (Lambda keeps a variable whose value is empty)
    env = {**SUBMIT_ENV, "INPUT_PREFIX": ""}

    # When / Then: an empty prefix is a value, only a missing variable is an error
    assert SubmitConfig.from_env(env).input_prefix == ""
