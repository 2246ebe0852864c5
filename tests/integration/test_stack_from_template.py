"""The local stack mechanism: template.yaml itself, transformed and created in moto.

Expectations are read from the transformed template wherever they can be, so these tests follow
template.yaml instead of restating it.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from emulator import EmulatedStack, StackCreationError, deliver_sqs_batch, deploy_stack, invoke_handler
from emulator.invoke import is_s3_test_event
from emulator.stack import MOTO_CONFIG
from emulator.template import prepare_template
from emulator.template_error import TemplateError
from emulator.template_shims import NO_OP_TYPES

UPLOAD_KEY = "incoming/my report ü 2026.csv"


def _only(resources: dict[str, Any]) -> tuple[str, Any]:
    assert len(resources) == 1, f"expected one resource, found {sorted(resources)}"
    return next(iter(resources.items()))


def _queue_messages(stack: EmulatedStack, queue_url: str) -> list[dict[str, Any]]:
    response = stack.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    return list(response.get("Messages", []))


# ------------------------------------------------------------------------------ template.yaml in moto
def test_every_resource_of_the_template_is_created(stack: EmulatedStack) -> None:
    # Given the stack of template.yaml with its default parameters (the fixture)
    cloudformation = stack.template.cloudformation

    # Then moto reports it complete, and nothing was skipped for lack of moto support
    status = stack.client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"
    assert stack.skipped == []
    # every resource whose Condition holds exists (directly or through a documented shim)
    expected = {
        logical_id
        for logical_id, resource in cloudformation["Resources"].items()
        if stack.conditions.get(resource.get("Condition", ""), True) and resource["Type"] not in NO_OP_TYPES
    }
    assert expected - set(stack.resources) == set()
    # and every output the template declares has a value
    assert set(stack.outputs) == set(cloudformation.get("Outputs", {}))
    assert all(stack.outputs.values())


def test_runs_table_has_the_key_index_and_ttl_of_the_template(stack: EmulatedStack) -> None:
    # Given the table as template.yaml declares it
    logical_id, declared = _only(stack.template.resources_of_type("AWS::DynamoDB::Table"))
    properties = declared["Properties"]
    dynamodb = stack.client("dynamodb")
    table_name = stack.resources[logical_id]

    # When we read the table moto created
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]

    # Then key, indexes, TTL, PITR and encryption are the template's
    assert table["KeySchema"] == properties["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == properties["BillingMode"]
    created_indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"]) for index in table["GlobalSecondaryIndexes"]
    }
    declared_indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"]) for index in properties["GlobalSecondaryIndexes"]
    }
    assert created_indexes == declared_indexes
    assert ttl == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": properties["TimeToLiveSpecification"]["AttributeName"],
    }
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["DeletionProtectionEnabled"] is False  # TableDeletionProtection defaults to "false"


def test_deleting_the_stack_succeeds_and_keeps_the_uploads_and_the_runs(aws_env: dict[str, str]) -> None:
    with mock_aws(config=MOTO_CONFIG):
        # Given a stack in the account's existing network (moto cannot delete a VPC the stack creates: it
        # reports dependencies AWS would have removed first), with uploads in its versioned bucket
        ec2 = boto3.client("ec2", region_name=aws_env["region"])
        subnets = [subnet["SubnetId"] for subnet in ec2.describe_subnets()["Subnets"]][:2]
        (group,) = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
        stack = deploy_stack(
            {"NetworkMode": "existing", "SubnetIds": ",".join(subnets), "SecurityGroupIds": group["GroupId"]}
        )
        s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
        bucket, table = stack.outputs["InputBucketName"], stack.outputs["RunsTableName"]
        for body in (b"v1", b"v2"):
            s3.put_object(Bucket=bucket, Key="incoming/kept.csv", Body=body)
        dynamodb.put_item(TableName=table, Item={"runId": {"S": "s3-0123456789abcdef01234567"}})

        # When the stack is deleted (what `sam delete` asks CloudFormation to do)
        cloudformation = stack.client("cloudformation")
        cloudformation.delete_stack(StackName=stack.name)

        # Then the deletion completes, and the user's data is still there: both object versions and the run
        (deleted,) = cloudformation.describe_stacks(StackName=stack.stack_id)["Stacks"]
        assert deleted["StackStatus"] == "DELETE_COMPLETE"
        assert len(s3.list_object_versions(Bucket=bucket, Prefix="incoming/kept.csv")["Versions"]) == 2
        assert dynamodb.get_item(TableName=table, Key={"runId": {"S": "s3-0123456789abcdef01234567"}})["Item"]
        # while what holds no data went with the stack
        assert stack.outputs["SubmitQueueUrl"] not in stack.client("sqs").list_queues().get("QueueUrls", [])


def test_upload_reaches_the_submit_queue_as_a_url_encoded_s3_notification(stack: EmulatedStack) -> None:
    # Given the input bucket and the queue its notification configuration targets
    bucket_id, _ = _only(stack.template.resources_of_type("AWS::S3::Bucket"))
    bucket = stack.resources[bucket_id]
    s3 = stack.client("s3")
    queue_arns = {c["QueueArn"] for c in s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]}
    assert queue_arns == {stack.outputs["SubmitQueueArn"]}
    queue_url = stack.outputs["SubmitQueueUrl"]
    setup_messages = _queue_messages(stack, queue_url)
    assert [is_s3_test_event(m["Body"]) for m in setup_messages] == [True]  # S3 tests a new configuration

    # When a file is uploaded under the input prefix, and another outside it
    version_id = s3.put_object(Bucket=bucket, Key=UPLOAD_KEY, Body=b"a,b\n1,2\n")["VersionId"]
    s3.put_object(Bucket=bucket, Key="elsewhere/not-an-input.csv", Body=b"x")

    # Then exactly one S3 notification is on the SubmitQueue, with the key URL-encoded
    messages = _queue_messages(stack, queue_url)
    assert len(messages) == 1
    (record,) = json.loads(messages[0]["Body"])["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == bucket
    encoded_key = record["s3"]["object"]["key"]
    assert " " not in encoded_key
    assert "ü" not in encoded_key
    assert "+" in encoded_key
    assert unquote_plus(encoded_key) == UPLOAD_KEY
    assert record["s3"]["object"]["versionId"] == version_id
    assert record["s3"]["object"]["sequencer"]


def test_functions_see_the_real_table_name(stack: EmulatedStack) -> None:
    # Given the runs table moto created
    table_id, _ = _only(stack.template.resources_of_type("AWS::DynamoDB::Table"))
    table_name = stack.resources[table_id]

    # When we read each function's environment back from Lambda
    environments = {
        logical_id: stack.function_environment(logical_id)
        for logical_id in stack.template.resources_of_type("AWS::Lambda::Function")
    }

    # Then every function points at that table, which exists, and its code dir has the handler
    assert environments
    assert {env["RUNS_TABLE"] for env in environments.values()} == {table_name}
    assert stack.client("dynamodb").describe_table(TableName=table_name)["Table"]["TableStatus"] == "ACTIVE"
    for logical_id in environments:
        assert (stack.function_dir(logical_id) / "app.py").is_file()


@pytest.mark.stack_params(MaxAttempts="5", RetryExitCodes="3,137-143")
def test_parameter_overrides_reach_the_functions(stack: EmulatedStack) -> None:
    # Given parameters passed through the stack_params mark
    # Then the environment Lambda holds carries them, as strings
    track_jobs = next(
        logical_id
        for logical_id in stack.template.resources_of_type("AWS::Lambda::Function")
        if "RETRY_EXIT_CODES" in stack.function_environment(logical_id)
    )
    environment = stack.function_environment(track_jobs)
    assert environment["MAX_ATTEMPTS"] == "5"
    assert environment["RETRY_EXIT_CODES"] == "3,137-143"


def test_wiring_is_read_back_from_moto(stack: EmulatedStack) -> None:
    # Then the SQS mapping, the Batch events rule and the schedule are there with the template's settings
    (mapping,) = [m for m in stack.event_source_mappings.values() if not m.is_stream]
    assert mapping.event_source_arn == stack.outputs["SubmitQueueArn"]
    assert mapping.reports_batch_item_failures
    assert mapping.enabled_in_template
    assert mapping.maximum_concurrency is not None

    rules = {rule.logical_id: rule for rule in stack.event_rules.values()}
    assert sorted(rules) == ["RunRequests", "TrackJobsFunctionBatchEvents"]
    rule = rules["TrackJobsFunctionBatchEvents"]
    batch_event = {
        "source": "aws.batch",
        "detail-type": "Batch Job State Change",
        "detail": {"jobQueue": stack.outputs["JobQueueArn"], "status": "RUNNING"},
    }
    assert stack.rules_matching(batch_event) == [rule]
    assert not rule.matches({**batch_event, "detail": {"jobQueue": "arn:aws:batch:us-east-1:1:job-queue/other"}})
    declared_targets = stack.template.cloudformation["Resources"][rule.logical_id]["Properties"]["Targets"]
    assert [target.function_logical_id for target in rule.targets] == [
        t["Arn"]["Fn::GetAtt"][0] for t in declared_targets
    ]
    assert rule.targets[0].dead_letter_arn == stack.outputs["TrackingDLQArn"]
    # and the run requests' rule, to the SubmitQueue (undelivered ones to SubmitDLQ), for this stack's requests only
    (requests,) = rules["RunRequests"].targets
    assert (requests.arn, requests.function_logical_id) == (stack.outputs["SubmitQueueArn"], None)
    assert requests.dead_letter_arn == stack.outputs["SubmitDLQArn"]
    request = {"detail-type": "Run Requested", "source": "com.example", "detail": {"orchestrator": stack.name}}
    assert stack.rules_matching(request) == [rules["RunRequests"]]
    assert stack.rules_matching({**request, "detail": {"orchestrator": "another-stack"}}) == []
    # and the runs table's stream mapping, with its filters, retries and on-failure queue
    (stream,) = [m for m in stack.event_source_mappings.values() if m.is_stream]
    assert stream.function_logical_id == "PublishEventsFunction"
    assert stream.enabled_in_template
    assert stream.reports_batch_item_failures
    assert (stream.batch_size, stream.maximum_batching_window_seconds) == (100, 1)
    assert len(stream.filter_patterns) == 4
    assert stream.on_failure_destination == stack.outputs["EventsDLQArn"]

    # (the watchdog's schedule is checked in test_watchdog.py)
    (schedule,) = [s for s in stack.schedules.values() if s.function_logical_id == "SubmitScheduledFunction"]
    assert schedule.name == stack.outputs["ScheduleName"]
    assert schedule.dead_letter_arn == stack.outputs["ScheduleDLQArn"]
    assert json.loads(schedule.input or "{}")["scheduleName"] == schedule.name


def test_template_rules_refuse_bad_parameters() -> None:
    # moto ignores the Rules section; emulator checks it like CloudFormation does
    with pytest.raises(TemplateError, match="FargateSpotIsX86"):
        prepare_template({"UseFargateSpot": "true", "JobCpuArchitecture": "ARM64"})
    with pytest.raises(TemplateError, match="MaxAttempts"):
        prepare_template({"MaxAttempts": "0"})


# ------------------------------------------------------------------- invoke and SQS delivery mechanics
ECHO_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.handler
      Runtime: python3.13
      Timeout: 30
      MemorySize: 512
      Environment:
        Variables:
          GREETING: !Ref Greeting
          QUEUE_URL: !Ref WorkQueue
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
"""

ECHO_HANDLER = """
import os

LOADED_WITH = os.environ.get("GREETING")  # read at import time, like handlers read their config
CALLS = []


def handler(event, context):
    CALLS.append(event)
    if isinstance(event, dict) and "Records" in event:
        failed = [r["messageId"] for r in event["Records"] if "fail" in r["body"]]
        if any(r["body"] == "bogus-report" for r in event["Records"]):
            return {"batchItemFailures": [{"itemIdentifier": "not-a-message-id"}]}
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
    return {
        "loaded_with": LOADED_WITH,
        "calls": len(CALLS),
        "greeting": os.environ["GREETING"],
        "region": os.environ["AWS_REGION"],
        "trace_disabled": os.environ["POWERTOOLS_TRACE_DISABLED"],
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
    }
"""


@pytest.fixture
def echo_stack(tmp_path: Path, aws_env: dict[str, str]) -> Any:
    (tmp_path / "template.yaml").write_text(textwrap.dedent(ECHO_TEMPLATE), encoding="utf-8")
    (tmp_path / "functions" / "echo").mkdir(parents=True)
    (tmp_path / "functions" / "echo" / "app.py").write_text(textwrap.dedent(ECHO_HANDLER), encoding="utf-8")
    with mock_aws(config=MOTO_CONFIG):
        yield deploy_stack({"Greeting": "bonjour"}, stack_name="echo", template_path=tmp_path / "template.yaml")


def test_invoke_handler_runs_a_fresh_module_with_the_function_environment(
    echo_stack: EmulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a variable the test process has and the function does not
    monkeypatch.setenv("GREETING", "from-the-test")

    # When the handler is invoked twice
    first = invoke_handler(echo_stack, "EchoFunction", {"n": 1})
    second = invoke_handler(echo_stack, "EchoFunction", {"n": 2})

    # Then each call imported app.py afresh, with the function's environment already set
    assert first["loaded_with"] == "bonjour"
    assert first["greeting"] == "bonjour"
    assert (first["calls"], second["calls"]) == (1, 1)
    assert first["region"] == "us-east-1"
    assert first["trace_disabled"] == "true"
    # and the context looks like Lambda's
    function_name = echo_stack.resources["EchoFunction"]
    assert first["function_name"] == function_name
    assert first["arn"] == f"arn:aws:lambda:us-east-1:{echo_stack.account_id}:function:{function_name}"
    assert first["memory"] == 512
    assert 0 < first["remaining_ms"] <= 30_000
    assert first["request_id"] != second["request_id"]
    # and the test process's environment is back as it was
    assert os.environ["GREETING"] == "from-the-test"


def test_sqs_delivery_deletes_only_what_the_handler_did_not_report(echo_stack: EmulatedStack) -> None:
    # Given three messages on the mapped queue, one of which the handler fails
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = echo_stack.resources["WorkQueue"]
    for body in ("ok-1", "please-fail", "ok-2"):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )

    # When the mapping's poller is played once
    delivery = deliver_sqs_batch(echo_stack, "EchoFunction", release_failed=True)

    # Then the handler got the Lambda SQS event shape
    assert delivery.size == 3
    record = delivery.event["Records"][0] if delivery.event else {}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":" + queue_url.rsplit("/", 1)[-1])
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    # and only the reported message stays on the queue
    assert len(delivery.deleted) == 2
    (left,) = _queue_messages(echo_stack, queue_url)
    assert left["Body"] == "please-fail"
    assert delivery.failed == (left["MessageId"],)


def test_an_invalid_batch_item_failure_fails_the_whole_batch(echo_stack: EmulatedStack) -> None:
    # Given a batch the handler answers with an itemIdentifier that is not in it
    queue_url = echo_stack.resources["WorkQueue"]
    for body in ("ok", "bogus-report"):
        boto3.client("sqs", region_name="us-east-1").send_message(QueueUrl=queue_url, MessageBody=body)

    # When delivered
    delivery = deliver_sqs_batch(echo_stack, "EchoFunction", release_failed=True)

    # Then, as on AWS, nothing is deleted
    assert delivery.deleted == ()
    assert len(_queue_messages(echo_stack, queue_url)) == 2


def test_a_resource_moto_cannot_create_is_named_in_the_error(tmp_path: Path, aws_env: dict[str, str]) -> None:
    # Given a template whose compute environment uses a security group that does not exist
    template = """
        Resources:
          Environment:
            Type: AWS::Batch::ComputeEnvironment
            Properties:
              Type: MANAGED
              ComputeResources:
                Type: FARGATE
                MaxvCpus: 4
                Subnets: [subnet-12345678]
                SecurityGroupIds: [sg-12345678]
    """
    (tmp_path / "template.yaml").write_text(textwrap.dedent(template), encoding="utf-8")

    # When it is deployed, Then the error says what failed and where
    with mock_aws(config=MOTO_CONFIG), pytest.raises(StackCreationError) as failure:
        deploy_stack({}, stack_name="broken", template_path=tmp_path / "template.yaml")
    assert "sg-12345678" in str(failure.value)
    assert "Environment (AWS::Batch::ComputeEnvironment)" in str(failure.value)
