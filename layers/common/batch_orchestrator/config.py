"""Each function's configuration, parsed once from the environment the template sets.

Handlers call ``*.from_env(os.environ)`` at cold start; the logic receives the typed result and never
reads the environment itself. A missing or malformed value raises ConfigError naming the variable,
so a bad deployment fails loudly on its first invocation instead of half-working.

Every function builds the stack's workload table (``workload_table_from_env``): the default workload
from the stack's own variables (INPUT_PREFIX, JOB_DEFINITION_ARN, JOB_VCPU, JOB_MEMORY,
JOB_TIMEOUT_SECONDS, MAX_ATTEMPTS, RETRY_*) and the others from the layer's workload_table.json
(``workload_table_file``: checked against WORKLOAD_TABLE_DIGEST), each on the job definition named
WORKLOAD_JOB_DEFINITION_PREFIX + its name; validated together with the same validator ``make validate``
runs, so a table a function runs is a table that validated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from batch_orchestrator.errors import ConfigError
from batch_orchestrator.ids import JOB_QUEUE_ARN_PART
from batch_orchestrator.limits import SQS_MAX_DELAY
from batch_orchestrator.models import RunStatus
from batch_orchestrator.retry_policy import RetryPolicy
from batch_orchestrator.workloads import (
    DEFAULT_WORKLOAD,
    ComputeType,
    KeyRule,
    Size,
    Workload,
    WorkloadTable,
    WorkloadTableError,
    parse_workloads,
    validate_table,
)

# Each function imports only the logic it runs: the settings types are imported where they are
# built, so submit_jobs' cold start does not load tracking, alerts and the watchdog (`make bench`).
if TYPE_CHECKING:
    from batch_orchestrator.lifecycle_events import EventContext
    from batch_orchestrator.routing import UploadRoutes
    from batch_orchestrator.submit import SubmitSettings
    from batch_orchestrator.tracking import TrackSettings
    from batch_orchestrator.watchdog import WatchdogSettings

_BATCH_ARN = re.compile(r"^arn:aws[a-z-]*:batch:[a-z0-9-]+:\d{12}:(job-queue|job-definition)/[A-Za-z0-9_:-]+$")
_SQS_URL = re.compile(r"^https?://\S+/\d{12}/[A-Za-z0-9_-]+(\.fifo)?$")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$")
# Batch job definition names: letters, digits, hyphens and underscores (128 at most, with the workload's name).
_JOB_DEFINITION_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_VCPU = re.compile(r"^(?:0\.25|0\.5|[1-9][0-9]*)$")  # as Batch writes a Fargate vCPU value
# An event bus name (PutEvents takes the name or the ARN) and the stack's event source (template.yaml's EVENT_SOURCE).
_EVENT_BUS = re.compile(r"^(?:arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[/.\-_A-Za-z0-9]{1,256}$")
_EVENT_SOURCE = re.compile(r"^batch-orchestrator\.[A-Za-z][-A-Za-z0-9]{0,127}$")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _present(env: Mapping[str, str], name: str) -> str:
    """A variable the template always sets but may set to "" (an empty prefix: the whole bucket)."""
    if name not in env:
        raise ConfigError(f"environment variable {name} is required (it may be empty)")
    return env[name].strip()


def _integer(env: Mapping[str, str], name: str, *, minimum: int, maximum: int, default: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        if default is None:
            raise ConfigError(f"environment variable {name} is required")
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value} is outside {minimum}..{maximum}")
    return value


def _boolean(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ConfigError(f"{name}={raw!r} is not true or false")


def _matching(env: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = _required(env, name)
    if not pattern.match(value):
        raise ConfigError(f"{name}={value!r} is not {what}")
    return value


def _job_target(env: Mapping[str, str]) -> tuple[str, str]:
    queue = _matching(env, "JOB_QUEUE_ARN", _BATCH_ARN, "a Batch job queue ARN")
    definition = _matching(env, "JOB_DEFINITION_ARN", _BATCH_ARN, "a Batch job definition ARN")
    if JOB_QUEUE_ARN_PART not in queue:
        raise ConfigError(f"JOB_QUEUE_ARN={queue!r} is not a job queue ARN")
    if ":job-definition/" not in definition:
        raise ConfigError(f"JOB_DEFINITION_ARN={definition!r} is not a job definition ARN")
    return queue, definition


def _retry_policy(env: Mapping[str, str]) -> RetryPolicy:
    """The default workload's retry policy (RETRY_*, MAX_ATTEMPTS)."""
    try:
        return RetryPolicy.from_settings(
            retry_exit_codes=env.get("RETRY_EXIT_CODES", ""),
            max_attempts=_required(env, "MAX_ATTEMPTS"),
            base_delay_seconds=_required(env, "RETRY_BASE_DELAY_SECONDS"),
            # SQS's DelaySeconds limit unless the environment asks for less.
            max_delay_seconds=env.get("RETRY_MAX_DELAY_SECONDS", "") or str(SQS_MAX_DELAY.value),
            retry_on_no_exit_code=env.get("RETRY_ON_NO_EXIT_CODE", "false") or "false",
            retry_on_timeout=env.get("RETRY_ON_TIMEOUT", "false") or "false",
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _default_workload(env: Mapping[str, str]) -> Workload:
    """The workload the stack's own parameters describe: uploads under INPUT_PREFIX, on Fargate On-Demand
    (or the job queue's Fargate Spot with UseFargateSpot, which Batch retries itself), one size."""
    _, definition = _job_target(env)
    memory = _integer(env, "JOB_MEMORY", minimum=512, maximum=122_880)
    return Workload(
        name=DEFAULT_WORKLOAD,
        key_rule=KeyRule(prefix=_present(env, "INPUT_PREFIX")),
        schedules=(),
        ladder=(Size(vcpu=_matching(env, "JOB_VCPU", _VCPU, "a Fargate vCPU value"), memory_mib=memory),),
        timeout_seconds=_integer(env, "JOB_TIMEOUT_SECONDS", minimum=60, maximum=1_209_600),
        retry=_retry_policy(env),
        compute=ComputeType.FARGATE,
        job_definition=definition,
    )


def workload_table_from_env(env: Mapping[str, str]) -> WorkloadTable:
    """The stack's workloads: the default one from the stack's variables, the others from the layer's file.

    Validated as one table: what ``make validate`` checks of workloads.yaml, and what only the deployed
    INPUT_PREFIX and OUTPUT_PREFIX can tell (a rule as specific as the default's for some key; a rule
    whose keys are all under the output prefix, which never starts a run). ConfigError names the
    variables and every problem.
    """
    from batch_orchestrator.workload_table_file import FILE_NAME, read_entries

    input_prefix = _present(env, "INPUT_PREFIX")
    output_prefix = _output_prefix(env)
    default = _default_workload(env)
    data = read_entries(env)
    try:
        others = parse_workloads(data, source=FILE_NAME, runtime=True)
        table = validate_table(others, source=FILE_NAME).with_default(
            default, output_prefix=output_prefix, source=FILE_NAME
        )
    except WorkloadTableError as exc:
        problems = "; ".join(str(problem) for problem in exc.problems)
        raise ConfigError(
            f"{FILE_NAME} (with INPUT_PREFIX={input_prefix!r}, OUTPUT_PREFIX={output_prefix!r}) is not a valid "
            f"workload table: {problems}"
        ) from exc
    if not others:
        return table
    prefix = _matching(env, "WORKLOAD_JOB_DEFINITION_PREFIX", _JOB_DEFINITION_PREFIX, "a job definition name prefix")
    return table.with_job_definitions(prefix)


def _output_prefix(env: Mapping[str, str]) -> str:
    # "" when the stack's jobs are read-only (no OutputPrefix): then no key is excluded from routing.
    return _present(env, "OUTPUT_PREFIX")


def _queue_for(env: Mapping[str, str], table: WorkloadTable, name: str, compute: ComputeType, runs_on: str) -> str:
    """``name`` (SPOT_JOB_QUEUE_ARN, EC2_JOB_QUEUE_ARN): "" unless a workload runs on ``compute``, then a queue ARN."""
    queue = _present(env, name)
    if not queue:
        users = ", ".join(w.name for w in table.workloads if w.compute is compute)
        if users:
            raise ConfigError(f"environment variable {name} is required: workload {users} runs on {runs_on}")
        return ""
    if not _BATCH_ARN.match(queue) or JOB_QUEUE_ARN_PART not in queue:
        raise ConfigError(f"{name}={queue!r} is not a Batch job queue ARN")
    return queue


def _spot_job_queue(env: Mapping[str, str], table: WorkloadTable) -> str:
    return _queue_for(env, table, "SPOT_JOB_QUEUE_ARN", ComputeType.FARGATE_SPOT, "Spot")


def _ec2_job_queue(env: Mapping[str, str], table: WorkloadTable) -> str:
    return _queue_for(env, table, "EC2_JOB_QUEUE_ARN", ComputeType.EC2, "EC2")


class StoreConfig(NamedTuple):
    runs_table: str
    run_retention_days: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StoreConfig:
        return cls(
            runs_table=_required(env, "RUNS_TABLE"),
            run_retention_days=_integer(env, "RUN_RETENTION_DAYS", minimum=1, maximum=3650, default=90),
        )


def _submit_settings(env: Mapping[str, str], table: WorkloadTable) -> SubmitSettings:
    """What both submit functions need to claim a run and submit its job."""
    from batch_orchestrator.submit import SubmitSettings

    queue, definition = _job_target(env)
    return SubmitSettings(
        job_queue=queue,
        job_definition=definition,
        max_attempts=_integer(env, "MAX_ATTEMPTS", minimum=1, maximum=10),
        claim_lease_seconds=_integer(env, "CLAIM_LEASE_SECONDS", minimum=10, maximum=3600),
        workloads=table,
        spot_job_queue=_spot_job_queue(env, table),
        ec2_job_queue=_ec2_job_queue(env, table),
        # Only submit_jobs reads a pipeline step's manifest; the template sets OUTPUT_BUCKET on it alone.
        output_bucket=env.get("OUTPUT_BUCKET", "").strip(),
    )


class SubmitConfig(NamedTuple):
    store: StoreConfig
    submit: SubmitSettings
    input_prefix: str
    routes: UploadRoutes
    # COALESCE_QUEUE_URL_PREFIX: a coalescing workload's queue is this + its name ("" when none coalesces).
    coalesce_queue_url_prefix: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SubmitConfig:
        from batch_orchestrator.routing import UploadRoutes

        table = workload_table_from_env(env)
        return cls(
            store=StoreConfig.from_env(env),
            submit=_submit_settings(env, table),
            input_prefix=_present(env, "INPUT_PREFIX"),
            routes=UploadRoutes(table),
            coalesce_queue_url_prefix=_coalesce_queue_url_prefix(env, table),
        )


def _coalesce_queue_url_prefix(env: Mapping[str, str], table: WorkloadTable) -> str:
    prefix = env.get("COALESCE_QUEUE_URL_PREFIX", "")
    if table.coalescing and not prefix:
        names = ", ".join(w.name for w in table.coalescing)
        raise ConfigError(f"COALESCE_QUEUE_URL_PREFIX is empty, but workloads coalesce their uploads ({names})")
    return prefix


class CoalesceConfig(NamedTuple):
    """coalesce_uploads: the submit path's settings, and the bucket its manifests are written to."""

    store: StoreConfig
    submit: SubmitSettings
    manifest_bucket: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CoalesceConfig:
        table = workload_table_from_env(env)
        return cls(
            store=StoreConfig.from_env(env),
            submit=_submit_settings(env, table),
            manifest_bucket=_required(env, "MANIFEST_BUCKET"),
        )


class ScheduledSubmitConfig(NamedTuple):
    store: StoreConfig
    submit: SubmitSettings
    schedule_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScheduledSubmitConfig:
        return cls(
            store=StoreConfig.from_env(env),
            submit=_submit_settings(env, workload_table_from_env(env)),
            schedule_name=_required(env, "SCHEDULE_NAME"),
        )


class TrackConfig(NamedTuple):
    store: StoreConfig
    track: TrackSettings
    job_queue: str
    submit_queue_url: str
    alerts_topic_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrackConfig:
        from batch_orchestrator.tracking import TrackSettings

        table = workload_table_from_env(env)
        default = table.get(DEFAULT_WORKLOAD)
        assert default is not None, "workload_table_from_env always holds the default workload"
        return cls(
            store=StoreConfig.from_env(env),
            track=TrackSettings(
                policy=default.retry,
                side_effect_lease_seconds=_integer(env, "SIDE_EFFECT_LEASE_SECONDS", minimum=10, maximum=3600),
                region=_required(env, "AWS_REGION"),
                job_log_group=_required(env, "JOB_LOG_GROUP"),
                workloads=table,
            ),
            job_queue=_matching(env, "JOB_QUEUE_ARN", _BATCH_ARN, "a Batch job queue ARN"),
            submit_queue_url=_matching(env, "SUBMIT_QUEUE_URL", _SQS_URL, "an SQS queue URL"),
            alerts_topic_arn=_matching(env, "ALERTS_TOPIC_ARN", _SNS_ARN, "an SNS topic ARN"),
        )


# Batch stops an attempt at its timeout; a run still RUNNING this long after it has lost its events.
RUNNING_MARGIN_SECONDS = 600


class WatchdogConfig(NamedTuple):
    """The watchdog needs the tracker's whole configuration (it applies events the same way) plus its own."""

    track: TrackConfig
    watchdog: WatchdogSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WatchdogConfig:
        from batch_orchestrator.watchdog import WatchdogSettings

        track = TrackConfig.from_env(env)
        week = 7 * 24 * 60

        def minutes(name: str, *, minimum: int = 1, maximum: int = week) -> int:
            return 60 * _integer(env, name, minimum=minimum, maximum=maximum)

        # Up to three weeks, as the template's StuckRunningMinutes allows: a job may run for JobTimeoutSeconds,
        # up to 14 days (tests/conformance/test_parameter_extremes.py checks the two agree).
        running = minutes("STUCK_RUNNING_MINUTES", minimum=0, maximum=3 * week)
        # 0: each run's own workload's timeout plus the margin (the default workload's for runs of a
        # workload the table no longer holds).
        running_margin = RUNNING_MARGIN_SECONDS if running == 0 else None
        if running == 0:
            running = _integer(env, "JOB_TIMEOUT_SECONDS", minimum=60, maximum=1_209_600) + RUNNING_MARGIN_SECONDS
        submitted = minutes("STUCK_SUBMITTED_MINUTES")
        return cls(
            track=track,
            watchdog=WatchdogSettings(
                track=track.track,
                job_queue=track.job_queue,
                reconcile_after_seconds=_integer(env, "RECONCILE_AFTER_SECONDS", minimum=60, maximum=86_400),
                stuck_after_seconds={
                    RunStatus.QUEUED: submitted,
                    RunStatus.SUBMITTED: submitted,
                    RunStatus.PENDING: submitted,
                    RunStatus.RUNNABLE: minutes("STUCK_RUNNABLE_MINUTES"),
                    RunStatus.STARTING: minutes("STUCK_STARTING_MINUTES"),
                    RunStatus.RUNNING: running,
                },
                cancel_runnable_after_seconds=minutes("CANCEL_STUCK_RUNNABLE_AFTER_MINUTES", minimum=0),
                running_margin_seconds=running_margin,
            ),
        )


class PublishConfig(NamedTuple):
    """publish_events: the bus and source its events go to, and where the runs' logs and outputs are. It reads no
    workload table: an event is built from the run item alone."""

    event_bus_name: str
    event_source: str
    context: EventContext

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PublishConfig:
        from batch_orchestrator.lifecycle_events import EventContext

        return cls(
            event_bus_name=_matching(env, "EVENT_BUS_NAME", _EVENT_BUS, "an event bus name or ARN"),
            event_source=_matching(env, "EVENT_SOURCE", _EVENT_SOURCE, "batch-orchestrator.<stack name>"),
            context=EventContext(
                region=_required(env, "AWS_REGION"),
                job_log_group=_required(env, "JOB_LOG_GROUP"),
                output_bucket=env.get("OUTPUT_BUCKET", "").strip(),
                output_prefix=_present(env, "OUTPUT_PREFIX"),
            ),
        )
