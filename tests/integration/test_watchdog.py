# Over 400 lines on purpose: slow stack scenarios sharing one set of sweep-at-a-clock helpers; a split would copy them.
"""The watchdog against the stack of template.yaml in moto: lost events, stale claims, stuck runs,
what a sweep reads, and the alarms, key, schedule and dashboard the template adds for it.

Runs are made stale by running the watchdog's handler with its clock advanced (``sweep(at=...)``)
or by writing a claim directly, as a crashed submit would have left it.

SIMULATED: moto's Batch (without Docker) ends every job SUCCEEDED at once and never reports an exit
code. ``set_moto_job`` rewrites moto's in-process record of one job so that DescribeJobs reports
what AWS Batch would (a FAILED job with its exit code, a job waiting in RUNNABLE with a reason).
It patches the moto backend object, not the adapter: the watchdog's real BatchJobs adapter and
boto3 calls are exercised.
"""

from __future__ import annotations

import ast
import fnmatch
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from boto3.dynamodb.types import TypeSerializer

from batch_orchestrator.adapters import aws
from batch_orchestrator.adapters.runs_table import RunsTable
from batch_orchestrator.alerts import ALERT_RUN_STUCK
from batch_orchestrator.errors import SweepIncomplete
from batch_orchestrator.ids import RUN_ID_TAG, job_name_for, run_id_for
from batch_orchestrator.models import S3Source, source_from_dict
from batch_orchestrator.timeutil import epoch_seconds, iso, utcnow
from batch_orchestrator.watchdog import WATCHED_STATUSES
from emulator import EmulatedStack, invoke_handler
from emulator.fixtures import finished_run_item
from tests.support.events import load_event
from tests.support.runs import (
    all_jobs,
    deliver_all,
    drain_test_event,
    get_run,
    job_event,
    received_alerts,
    subscribe_alerts,
    track,
    upload,
)

FUNCTIONS = (
    "SubmitJobsFunction",
    "SubmitScheduledFunction",
    "TrackJobsFunction",
    "WatchdogFunction",
    "PublishEventsFunction",
)
DLQS = ("SubmitDLQ", "ScheduleDLQ", "TrackingDLQ", "WatchdogDLQ", "EventsDLQ")
CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no Fargate capacity in the subnets' Availability Zones"


# ---------------------------------------------------------------------------------------- helpers
@contextmanager
def clock(at: datetime | None) -> Iterator[None]:
    """The watchdog handler reads ``timeutil.utcnow`` when its module loads: move it to ``at``."""
    if at is None:
        yield
        return
    with mock.patch("batch_orchestrator.timeutil.utcnow", return_value=at):
        yield


def sweep(stack: EmulatedStack, *, at: datetime | None = None) -> dict[str, Any]:
    """One invocation of the watchdog as its schedule makes it; raises if the sweep had errors."""
    with clock(at):
        result: dict[str, Any] = invoke_handler(stack, "WatchdogFunction", load_event("watchdog_schedule.json"))
    return result


def set_moto_job(
    stack: EmulatedStack,
    job_id: str,
    status: str,
    *,
    exit_code: int | None = None,
    status_reason: str | None = None,
) -> None:
    """SIMULATED (see the module docstring): make moto's DescribeJobs report ``job_id`` as ``status``.

    FAILED: stopped, with ``exit_code`` on the last attempt's container (where Batch puts it too).
    RUNNABLE: not started, no attempts. ``status_reason`` becomes the job's statusReason.
    """
    from moto.batch.models import batch_backends

    job = batch_backends[stack.account_id][stack.region].get_job_by_id(job_id)
    assert job is not None, f"moto has no job {job_id}"
    job.status = status
    job.job_stopped_reason = status_reason
    if status == "RUNNABLE":
        job.job_stopped = False
        job.attempts = []
        job.latest_attempt = None
    elif status == "FAILED":
        job.job_stopped = True
        if exit_code is not None:
            job.attempts[-1]["container"]["exitCode"] = exit_code


def submitted_job(stack: EmulatedStack, key: str) -> dict[str, Any]:
    """Upload ``key`` and let submit_jobs submit it; the run's only job (a DescribeJobs entry)."""
    upload(stack, key)
    deliver_all(stack)
    (job,) = [job for job in all_jobs(stack) if key.rsplit("/", 1)[-1].split(".")[0] in job["jobName"]]
    return job


def describe(stack: EmulatedStack, job_id: str) -> dict[str, Any]:
    (job,) = stack.client("batch").describe_jobs(jobs=[job_id])["jobs"]
    return dict(job)


def visible_messages(stack: EmulatedStack) -> list[dict[str, Any]]:
    """The SubmitQueue's messages, left visible for the submit function."""
    response = stack.client("sqs").receive_message(
        QueueUrl=stack.outputs["SubmitQueueUrl"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(message["Body"]) for message in response.get("Messages", [])]


class DynamoCalls:
    """The DynamoDB operations the shared package's client makes (botocore's before-call event)."""

    def __init__(self) -> None:
        self.operations: list[str] = []
        aws.client("dynamodb").meta.events.register("before-call.dynamodb", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)


@pytest.fixture
def start(stack: EmulatedStack) -> datetime:
    drain_test_event(stack)
    return utcnow()


# ------------------------------------------------------------------------------------ lost events
def test_a_lost_succeeded_event_is_recovered(stack: EmulatedStack, start: datetime) -> None:
    # Given a run whose RUNNING event arrived but whose SUCCEEDED event was lost
    job = submitted_job(stack, "incoming/lost-success.csv")
    run_id = job["tags"][RUN_ID_TAG]
    track(stack, job_event(stack, job, "RUNNING"))
    assert get_run(stack, run_id)["status"] == "RUNNING"  # type: ignore[index]

    # When the watchdog sweeps 15 minutes later (moto's Batch reports the job SUCCEEDED)
    report = sweep(stack, at=start + timedelta(minutes=15))

    # Then the run is SUCCEEDED and has left the sparse index
    run = get_run(stack, run_id)
    assert run is not None
    assert run["status"] == "SUCCEEDED"
    assert "activeStatus" not in run
    assert report["runs_reconciled"] == 1
    assert sweep(stack, at=start + timedelta(minutes=20))["items_read"] == 0


@pytest.mark.stack_params(RetryExitCodes="75", MaxAttempts="3", RetryBaseDelaySeconds="0")
def test_a_lost_failed_event_with_a_retryable_exit_code_is_retried(stack: EmulatedStack, start: datetime) -> None:
    # Given a running run whose job then failed with exit code 75, and the FAILED event was lost
    job = submitted_job(stack, "incoming/lost-failure.csv")
    run_id = job["tags"][RUN_ID_TAG]
    track(stack, job_event(stack, job, "RUNNING"))
    set_moto_job(stack, job["jobId"], "FAILED", exit_code=75, status_reason="Essential container in task exited")

    # When the watchdog sweeps
    report = sweep(stack, at=start + timedelta(minutes=15))

    # Then the run waits for attempt 2 and the retry request is on the SubmitQueue
    run = get_run(stack, run_id)
    assert run is not None
    assert (run["status"], run["attempt"], run["history"][0]["exitCode"]) == ("RETRY_WAIT", 2, 75)
    assert report["runs_reconciled"] == 1
    assert [(m["kind"], m["runId"], m["attempt"]) for m in visible_messages(stack)] == [("retry", run_id, 2)]

    # And the submit path starts attempt 2 from it
    deliver_all(stack)
    names = [j["jobName"] for j in all_jobs(stack)]
    assert job_name_for(run_id, 2, source_from_dict(run["source"])) in names


# ------------------------------------------------------------------------------------ stuck runs
def test_a_run_stuck_in_runnable_is_alerted_exactly_once(stack: EmulatedStack, start: datetime) -> None:
    # Given a subscriber to the alerts topic, and a job Batch keeps RUNNABLE for lack of capacity
    inbox = subscribe_alerts(stack)
    job = submitted_job(stack, "incoming/stuck.csv")
    run_id = job["tags"][RUN_ID_TAG]
    set_moto_job(stack, job["jobId"], "RUNNABLE", status_reason=CAPACITY)
    track(stack, job_event(stack, describe(stack, job["jobId"]), "RUNNABLE", status_reason=CAPACITY))

    # When the watchdog sweeps every 5 minutes from 35 to 60 minutes later
    reports = [sweep(stack, at=start + timedelta(minutes=minutes)) for minutes in (25, 35, 40, 45, 60)]

    # Then the subscriber got exactly one alert, with the queue and Batch's reason
    assert [r["stuck_runs"] for r in reports] == [0, 1, 1, 1, 1]
    (alert,) = received_alerts(stack, inbox)
    assert alert["Subject"].startswith("Batch job stuck in RUNNABLE: stuck.csv (")
    assert alert["MessageAttributes"]["alertType"]["Value"] == ALERT_RUN_STUCK
    queue_name = stack.outputs["JobQueueArn"].rsplit("/", 1)[-1]
    assert alert["MessageAttributes"]["jobQueue"]["Value"] == queue_name
    assert CAPACITY in alert["Message"]
    assert run_id in alert["Message"]
    assert get_run(stack, run_id)["status"] == "RUNNABLE"  # type: ignore[index]


@pytest.mark.stack_params(CancelStuckRunnableAfterMinutes="60", WatchdogIntervalMinutes="1")
def test_a_job_stuck_in_runnable_past_the_limit_is_terminated_once(stack: EmulatedStack, start: datetime) -> None:
    job = submitted_job(stack, "incoming/cancel-me.csv")
    set_moto_job(stack, job["jobId"], "RUNNABLE", status_reason=CAPACITY)
    track(stack, job_event(stack, describe(stack, job["jobId"]), "RUNNABLE", status_reason=CAPACITY))

    reports = [sweep(stack, at=start + timedelta(minutes=minutes)) for minutes in (35, 61, 62)]

    assert [r["jobs_cancelled"] for r in reports] == [0, 1, 0]
    reason = describe(stack, job["jobId"])["statusReason"]
    assert reason.startswith("batch-orchestrator watchdog: RUNNABLE for ")
    assert reason.endswith("(limit 60 min)")
    # Only with this option does the watchdog's role allow TerminateJob, and the schedule follows the interval
    assert "batch:TerminateJob" in _watchdog_actions(stack)
    assert _watchdog_schedule(stack).expression == "rate(1 minute)"


# ------------------------------------------------------------------------------------ stale claims
def test_a_claim_whose_submission_never_happened_is_resubmitted_exactly_once(
    stack: EmulatedStack, start: datetime
) -> None:
    # Given a claim a submit wrote 20 minutes ago before crashing (its lease long expired, no job)
    env = stack.function_environment("SubmitJobsFunction")
    source = S3Source(bucket=stack.outputs["InputBucketName"], key="incoming/never-submitted.csv", sequencer="0A1B")
    run_id = run_id_for(source)
    claimed_at = start - timedelta(minutes=20)
    RunsTable(stack.outputs["RunsTableName"], retention_days=90).claim_first_attempt(
        run_id=run_id,
        source=source,
        job_name=job_name_for(run_id, 1, source),
        job_queue=env["JOB_QUEUE_ARN"],
        job_definition=env["JOB_DEFINITION_ARN"],
        max_attempts=int(env["MAX_ATTEMPTS"]),
        now=claimed_at,
        claimed_until=epoch_seconds(claimed_at) + int(env["CLAIM_LEASE_SECONDS"]),
    )

    # When the watchdog sweeps twice
    first, second = sweep(stack), sweep(stack)

    # Then exactly one resubmit request is on the SubmitQueue
    assert (first["claims_recovered"], second["claims_recovered"]) == (1, 0)
    assert visible_messages(stack) == [
        {
            "kind": "resubmit",
            "runId": run_id,
            "attempt": 1,
            "source": source.to_dict(),
            # the run's plan: its workload's first step, On-Demand, no Spot interruption
            "workload": "default",
            "sizeStep": 0,
            "capacity": "on-demand",
            "spotInterruptions": 0,
        }
    ]

    # And submit_jobs treats it as a redelivery: it takes the stale claim over and submits the job
    deliver_all(stack)
    (job,) = all_jobs(stack)
    assert job["jobName"] == job_name_for(run_id, 1, source)
    # and a later sweep finds that job by its name and records what Batch says about it
    assert sweep(stack, at=start + timedelta(minutes=15))["runs_reconciled"] == 1
    assert get_run(stack, run_id)["status"] == "SUCCEEDED"  # type: ignore[index]


# ---------------------------------------------------------------------------------- what it reads
FINISHED_RUNS = 10_000


def _write_finished_runs(stack: EmulatedStack, count: int, *, at: datetime) -> None:
    """``count`` runs shaped like finished ones (terminal status, history, no activeStatus), written directly."""
    env = stack.function_environment("SubmitJobsFunction")
    serializer = TypeSerializer()
    dynamodb = stack.client("dynamodb")
    table = stack.outputs["RunsTableName"]
    items = []
    for index in range(count):
        run = finished_run_item(
            index,
            bucket=stack.outputs["InputBucketName"],
            job_queue=env["JOB_QUEUE_ARN"],
            job_definition=env["JOB_DEFINITION_ARN"],
            at=at,
        )
        items.append({"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in run.items()}}})
    for begin in range(0, len(items), 25):
        dynamodb.batch_write_item(RequestItems={table: items[begin : begin + 25]})


def test_items_read_per_sweep_grow_with_active_runs_not_with_the_table(
    stack: EmulatedStack, start: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 10,000 finished runs and 5 active ones (claimed, their events lost), all long untouched
    _write_finished_runs(stack, FINISHED_RUNS, at=start - timedelta(days=1))
    for index in range(5):
        upload(stack, f"incoming/active-{index}.csv")
    deliver_all(stack)
    calls = DynamoCalls()
    capsys.readouterr()

    # When the watchdog sweeps
    report = sweep(stack, at=start + timedelta(minutes=15))

    # Then it read the 5 active runs and nothing else: one Query per index partition, no Scan
    assert report["items_read"] == 5
    assert report["runs_reconciled"] == 5
    assert calls.operations.count("Query") == len(WATCHED_STATUSES)
    assert set(calls.operations) == {"Query", "UpdateItem"}
    # and says so in the ItemsRead metric, under the "service" dimension the alarms and dashboard use
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["ItemsRead"] == [5.0]
    assert emf["service"] == stack.function_environment("WatchdogFunction")["POWERTOOLS_SERVICE_NAME"]
    assert ["service"] in emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    # and the next sweep, with every run finished, reads nothing
    assert sweep(stack, at=start + timedelta(minutes=20))["items_read"] == 0


# ------------------------------------------------------------------------- template: what it adds
def _watchdog_actions(stack: EmulatedStack) -> set[str]:
    iam = stack.client("iam")
    role = stack.function_configuration("WatchdogFunction")["Role"].rsplit("/", 1)[-1]
    actions: set[str] = set()
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto 5.2 keeps a policy its CloudFormation created as the Python repr of the dict.
            document = ast.literal_eval(document)
        # (moto leaves an !If's AWS::NoValue in a list as null, where CloudFormation drops it)
        for statement in filter(None, document["Statement"]):
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def _watchdog_schedule(stack: EmulatedStack) -> Any:
    (schedule,) = [s for s in stack.schedules.values() if s.function_logical_id == "WatchdogFunction"]
    return schedule


def test_the_watchdog_runs_on_its_schedule_with_a_dead_letter_queue(stack: EmulatedStack) -> None:
    schedule = _watchdog_schedule(stack)
    assert schedule.name == stack.outputs["WatchdogScheduleName"]
    assert schedule.expression == "rate(5 minutes)"
    assert schedule.dead_letter_arn == stack.outputs["WatchdogDLQArn"]
    assert json.loads(schedule.input or "{}")["scheduleName"] == schedule.name
    invoke_config = stack.client("lambda").get_function_event_invoke_config(
        FunctionName=stack.outputs["WatchdogFunctionName"]
    )
    assert invoke_config["MaximumRetryAttempts"] == 0
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == stack.outputs["WatchdogDLQArn"]
    log_group = stack.function_log_group("WatchdogFunction")
    (described,) = stack.client("logs").describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
    assert described["retentionInDays"] == int(stack.template.sam["Parameters"]["LogRetentionDays"]["Default"])


def test_the_watchdog_role_reads_the_index_and_cannot_terminate_jobs_by_default(stack: EmulatedStack) -> None:
    actions = _watchdog_actions(stack)
    assert {"dynamodb:Query", "dynamodb:UpdateItem", "batch:DescribeJobs", "batch:ListJobs", "sqs:SendMessage",
            "sns:Publish"} <= actions  # fmt: skip
    assert not {"dynamodb:Scan", "dynamodb:PutItem", "dynamodb:DeleteItem", "batch:TerminateJob"} & actions


def test_alarms_cover_every_dead_letter_queue_function_and_stuck_runs(stack: EmulatedStack) -> None:
    # Given the alarms (created through emulator's shim: moto's CloudFormation skips the type)
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{stack.name}-")["MetricAlarms"]
    topic = stack.outputs["AlertsTopicArn"]

    # Then every alarm notifies the alerts topic
    assert alarms
    assert all(alarm["AlarmActions"] == [topic] for alarm in alarms)
    watched = {(a["Namespace"], a["MetricName"], d["Value"]) for a in alarms for d in a["Dimensions"]}
    # any visible message in each dead-letter queue
    for queue in DLQS:
        name = stack.outputs[f"{queue}Url"].rsplit("/", 1)[-1]
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", name) in watched
    # errors and throttles of each function
    for function in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            assert ("AWS/Lambda", metric, stack.function_name(function)) in watched
    # the watchdog's StuckRuns, in the namespace and service dimension Powertools publishes under
    env = stack.function_environment("WatchdogFunction")
    (stuck,) = [a for a in alarms if a["MetricName"] == "StuckRuns"]
    assert stuck["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert stuck["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert (stuck["ComparisonOperator"], stuck["Threshold"]) == ("GreaterThanThreshold", 0.0)
    assert len(alarms) == len(DLQS) + 2 * len(FUNCTIONS) + 1


def test_the_alerts_topic_uses_a_customer_managed_key_cloudwatch_may_use(stack: EmulatedStack) -> None:
    topic = stack.outputs["AlertsTopicArn"]
    key_arn = stack.outputs["AlertsKeyArn"]
    attributes = stack.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["KmsMasterKeyId"] == key_arn
    kms = stack.client("kms")
    assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyManager"] == "CUSTOMER"
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True

    # The key policy (as the transformed template declares it) lets CloudWatch of this account use the key
    policy = stack.template.cloudformation["Resources"]["AlertsKey"]["Properties"]["KeyPolicy"]
    (cloudwatch,) = [s for s in policy["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}

    # and the topic policy (as applied) lets exactly the stack's alarms publish
    topic_policy = json.loads(attributes["Policy"])
    (allow,) = [s for s in topic_policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    pattern = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    alarm_arns = [a["AlarmArn"] for a in stack.client("cloudwatch").describe_alarms()["MetricAlarms"]]
    assert alarm_arns
    assert all(fnmatch.fnmatch(arn, pattern) for arn in alarm_arns)

    # and the functions' KMS permissions name that key only
    for function in ("TrackJobsFunction", "WatchdogFunction"):
        statements = stack.template.sam["Resources"][function]["Properties"]["Policies"][0]["Statement"]
        (kms_statement,) = [s for s in statements if isinstance(s, dict) and s.get("Sid") == "AlertsTopicEncryption"]
        assert kms_statement["Resource"] == {"Fn::GetAtt": ["AlertsKey", "Arn"]}


def test_the_dashboard_shows_runs_dead_letter_queues_functions_and_stuck_runs(stack: EmulatedStack) -> None:
    body = stack.client("cloudwatch").get_dashboard(DashboardName=stack.outputs["DashboardName"])["DashboardBody"]
    text = json.dumps(json.loads(body))

    for metric in ("JobsSubmitted", "JobsSucceeded", "JobsFailed", "JobsRetried", "StuckRuns", "Errors", "Duration"):
        assert f'"{metric}"' in text
    # and, by workload (a search of the stack's metrics), pipelines' steps, arrays' parts, coalesced uploads
    searches = [
        line[0]["expression"]
        for widget in json.loads(body)["widgets"]
        for line in widget["properties"]["metrics"]
        if isinstance(line[0], dict)
    ]
    for metric in ("JobsSubmitted", "StepsAdvanced", "ArrayPartsAdvanced", "UploadsForwarded"):
        assert any(f'MetricName="{metric}"' in search and stack.name in search for search in searches), metric
    for queue in DLQS:
        assert stack.outputs[f"{queue}Url"].rsplit("/", 1)[-1] in text
    for function in FUNCTIONS:
        assert stack.function_name(function) in text
    assert stack.outputs["DashboardUrl"].endswith(f"#dashboards/dashboard/{stack.outputs['DashboardName']}")


def test_unreadable_items_in_the_index_fail_the_sweep_loudly(stack: EmulatedStack, start: datetime) -> None:
    # Given one old item per watched status in the index that is not a run (written directly)
    serializer = TypeSerializer()
    old = iso(start - timedelta(hours=3))
    for status in WATCHED_STATUSES:
        item = {"runId": f"not-a-run-{status.value}", "activeStatus": status.value, "updatedAt": old}
        stack.client("dynamodb").put_item(
            TableName=stack.outputs["RunsTableName"], Item={k: serializer.serialize(v) for k, v in item.items()}
        )

    # When the watchdog sweeps, every partition is read, and the invocation fails naming the count
    # (the Errors alarm and WatchdogDLQ report it; each item is logged with its runId)
    with pytest.raises(SweepIncomplete, match=f"{len(WATCHED_STATUSES)} runs could not be checked"):
        sweep(stack)
