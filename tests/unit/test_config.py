"""Each function's configuration from the environment the template sets (batch_orchestrator.config): every
variable parsed once at cold start, a bad or missing one named, and the workload table built and validated
there (the default workload from the stack's variables, the others from the layer's workload table)."""

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from batch_orchestrator.config import ScheduledSubmitConfig, SubmitConfig, TrackConfig, workload_table_from_env
from batch_orchestrator.errors import ConfigError
from batch_orchestrator.models import AttemptPlan
from batch_orchestrator.workload_table_file import DIGEST_VARIABLE, FILE_VARIABLE, digest
from batch_orchestrator.workloads import DEFAULT_WORKLOAD, Capacity, KeyRule, NoWorkload, Size
from emulator.template import DEFAULT_TEMPLATE, load_template
from tests.support.environments import (
    DEFINITION,
    GLOBALS,
    QUEUE,
    SCHEDULED_ENV,
    SPOT_QUEUE,
    SUBMIT_ENV,
    TRACK_ENV,
    with_workloads,
    workload_json,
)
from tests.support.handlers import load_handler

if TYPE_CHECKING:
    from tests.conftest import FakeLambdaContext

IMAGES = workload_json(
    "images", match={"prefix": "images/", "suffix": ".jpg"}, memory=[2048, 4096], retry={"max_attempts": 3}
)
REPORTS = workload_json(
    "reports", schedules=[{"name": "nightly", "expression": "cron(0 2 * * ? *)", "timezone": "Asia/Tokyo"}]
)
VIDEO = workload_json(
    "video",
    match={"prefix": "video/"},
    compute={"type": "fargate-spot", "on_demand_after": 2},
    retry={"max_attempts": 4},
)


def test_the_environment_fixtures_are_the_templates_globals() -> None:
    # Given the variables template.yaml sets for every function (less Powertools' own)
    declared = load_template(DEFAULT_TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    names = {name for name in declared if not name.startswith("POWERTOOLS_")}

    # Then the unit tests' environments hold exactly those
    assert names == set(GLOBALS)


def test_submit_config_parses_the_template_environment() -> None:
    config = SubmitConfig.from_env(SUBMIT_ENV)
    assert config.submit.job_queue == QUEUE
    assert config.submit.job_definition == DEFINITION
    assert config.submit.max_attempts == 3
    assert config.submit.spot_job_queue == ""
    assert config.input_prefix == "incoming/"
    assert config.store.run_retention_days == 90


def test_the_default_workload_is_built_from_the_stacks_own_variables() -> None:
    # When
    table = workload_table_from_env(GLOBALS)

    # Then it is the only workload, with the parameters' rule, size, timeout, retry policy and job definition
    (default,) = table.workloads
    assert default.name == DEFAULT_WORKLOAD
    assert default.key_rule == KeyRule(prefix="incoming/")
    assert default.ladder == (Size(vcpu="0.5", memory_mib=1024),)
    assert (default.timeout_seconds, default.job_definition) == (3600, DEFINITION)
    assert default.retry.max_attempts == 3
    assert 137 in default.retry.retry_exit_codes
    # And routing follows INPUT_PREFIX and never routes results written back under OUTPUT_PREFIX
    assert table.route("incoming/a.csv") == default
    assert isinstance(table.route("other/a.csv"), NoWorkload)
    assert table.output_prefix == "results/"


def test_workloads_from_the_environment_join_the_default_one() -> None:
    # Given
    env = with_workloads(SUBMIT_ENV, [IMAGES, REPORTS, VIDEO], SPOT_JOB_QUEUE_ARN=SPOT_QUEUE)

    # When
    config = SubmitConfig.from_env(env)

    # Then each key goes to its workload's first plan: the Spot queue for the Spot workload
    table = config.submit.workloads
    assert table is not None
    assert [w.name for w in table.workloads] == ["default", "images", "reports", "video"]
    assert config.routes.plan_for("images/cat.jpg") == AttemptPlan(workload="images")
    assert config.routes.plan_for("video/a.mp4") == AttemptPlan(workload="video", capacity=Capacity.SPOT)
    assert config.routes.plan_for("incoming/a.csv") == AttemptPlan()
    assert config.submit.spot_job_queue == SPOT_QUEUE


def test_a_bad_workload_table_names_the_variable_and_every_problem() -> None:
    # Given two problems: an invalid Fargate size, and a rule as specific as INPUT_PREFIX for some key
    bad_size = workload_json("images", match={"prefix": "images/"}, vcpu="1", memory=512)
    ambiguous = workload_json("csv", match={"suffix": ".csv"})
    env = with_workloads(GLOBALS, [bad_size], INPUT_PREFIX="in/")

    # When / Then each problem is named with its workload and field
    with pytest.raises(ConfigError, match=r"workload_table.json .*images: memory") as failure:
        workload_table_from_env(env)
    assert "INPUT_PREFIX='in/'" in str(failure.value)
    # The default's rule: only cold start knows INPUT_PREFIX ("in/" and ".jn" are both 3 characters long)
    with pytest.raises(ConfigError, match=r"csv: match: ambiguous with the default workload"):
        workload_table_from_env(
            with_workloads(GLOBALS, [{**ambiguous, "match": {"suffix": ".jn"}}], INPUT_PREFIX="in/")
        )


def test_a_layer_table_that_is_not_the_templates_is_refused_naming_both_digests() -> None:
    # Given a layer whose table is another than the one the template was rendered with
    env = with_workloads(GLOBALS, [workload_json("images", match={"prefix": "images/"})])
    stale = {**env, DIGEST_VARIABLE: digest(b"[]\n")}

    # When / Then cold start refuses it, naming both digests and what to run
    with pytest.raises(
        ConfigError, match=r"digest [0-9a-f]{16}\) is not the one .*=37517e5f3dc66819\): run `make build`"
    ):
        workload_table_from_env(stale)
    # and a table that is not JSON, or a file that cannot be read, is named
    path = Path(env[FILE_VARIABLE])
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"workload_table\.json is not JSON"):
        workload_table_from_env({**env, DIGEST_VARIABLE: digest(b"[{")})
    with pytest.raises(ConfigError, match="cannot be read"):
        workload_table_from_env({**env, FILE_VARIABLE: str(path.with_suffix(".missing"))})


def test_the_workloads_job_definitions_are_the_templates_names() -> None:
    # Given the layer's table with one workload, and the prefix the template sets
    env = with_workloads(GLOBALS, [workload_json("images", match={"prefix": "images/"})])

    # Then the workload submits to its named job definition, the default to the stack's ARN
    table = workload_table_from_env(env)
    assert [(w.name, w.job_definition) for w in table.workloads] == [
        ("default", DEFINITION),
        ("images", "batch-orch-0123456789ab-images"),
    ]
    # and a missing or malformed prefix is named
    for prefix, error in (("", "is required"), ("batch orch/", "is not a job definition name prefix")):
        with pytest.raises(ConfigError, match=f"WORKLOAD_JOB_DEFINITION_PREFIX.*{error}"):
            workload_table_from_env({**env, "WORKLOAD_JOB_DEFINITION_PREFIX": prefix})


def test_a_spot_workload_needs_the_spot_queue() -> None:
    # Given a Fargate Spot workload but no Spot queue
    env = with_workloads(SUBMIT_ENV, [VIDEO])

    # When / Then
    with pytest.raises(ConfigError, match="SPOT_JOB_QUEUE_ARN is required: workload video runs on Spot"):
        SubmitConfig.from_env(env)
    with pytest.raises(ConfigError, match="SPOT_JOB_QUEUE_ARN='spot' is not a Batch job queue ARN"):
        SubmitConfig.from_env({**env, "SPOT_JOB_QUEUE_ARN": "spot"})


def test_track_config_builds_the_retry_policy() -> None:
    config = TrackConfig.from_env(TRACK_ENV)
    assert 137 in config.track.policy.retry_exit_codes
    assert 1 not in config.track.policy.retry_exit_codes
    assert config.track.policy.retry_on_timeout is False
    assert config.track.job_log_group == "/aws/batch/batch-orchestrator"
    default = config.track.workload(DEFAULT_WORKLOAD)
    assert default is not None
    assert default.retry == config.track.policy


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RUNS_TABLE", "", "RUNS_TABLE is required"),
        ("JOB_QUEUE_ARN", DEFINITION, "not a job queue ARN"),
        ("JOB_DEFINITION_ARN", "my-definition", "not a Batch job definition ARN"),
        ("MAX_ATTEMPTS", "three", "MAX_ATTEMPTS must be a whole number"),
        ("MAX_ATTEMPTS", "11", "MAX_ATTEMPTS"),
        ("CLAIM_LEASE_SECONDS", "", "CLAIM_LEASE_SECONDS is required"),
        ("RUN_RETENTION_DAYS", "0", "outside 1..3650"),
        ("JOB_VCPU", "half", "not a Fargate vCPU value"),
        ("JOB_MEMORY", "lots", "not an integer"),
        ("JOB_TIMEOUT_SECONDS", "59", "outside 60..1209600"),
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
    env = {key: value for key, value in SCHEDULED_ENV.items() if key != "SCHEDULE_NAME"}
    with pytest.raises(ConfigError, match="SCHEDULE_NAME"):
        ScheduledSubmitConfig.from_env(env)
    assert ScheduledSubmitConfig.from_env({**env, "SCHEDULE_NAME": "nightly"}).schedule_name == "nightly"


@pytest.mark.parametrize(
    "name",
    [
        "RUNS_TABLE",
        "JOB_QUEUE_ARN",
        "JOB_DEFINITION_ARN",
        "MAX_ATTEMPTS",
        "CLAIM_LEASE_SECONDS",
        "RETRY_BASE_DELAY_SECONDS",
        "JOB_TIMEOUT_SECONDS",
        "JOB_VCPU",
        "JOB_MEMORY",
        "WORKLOAD_TABLE_DIGEST",
    ],
)
def test_a_missing_submit_variable_is_named_not_defaulted(name: str) -> None:
    # Given the template's environment without one variable the submit path needs
    env = {key: value for key, value in SUBMIT_ENV.items() if key != name}

    # When / Then
    with pytest.raises(ConfigError, match=f"environment variable {name} is required"):
        SubmitConfig.from_env(env)


@pytest.mark.parametrize("name", ["INPUT_PREFIX", "OUTPUT_PREFIX", "SPOT_JOB_QUEUE_ARN", "EC2_JOB_QUEUE_ARN"])
def test_a_variable_that_may_be_empty_must_still_be_there(name: str) -> None:
    env = {key: value for key, value in SUBMIT_ENV.items() if key != name}
    with pytest.raises(ConfigError, match=f"environment variable {name} is required \\(it may be empty\\)"):
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
    # Given the template's environment with InputPrefix="" and no OutputPrefix (Lambda keeps empty variables)
    env = {**SUBMIT_ENV, "INPUT_PREFIX": "", "OUTPUT_PREFIX": ""}

    # When / Then: an empty prefix is a value, only a missing variable is an error
    config = SubmitConfig.from_env(env)
    assert config.input_prefix == ""
    assert config.routes.plan_for("anything/at/all.bin") == AttemptPlan()
