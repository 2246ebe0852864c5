"""The resources of burst coalescing, rendered only when some workload has ``coalesce:`` (``coalesce`` region).

Per coalescing workload: its queue (named ``batch-orch-<StackTail>-coalesce-<workload>``, so submit_jobs finds it
from COALESCE_QUEUE_URL_PREFIX + the name and its environment does not grow with the table), the queue's DLQ, a
policy refusing plain HTTP on both, the DLQ's alarm, and the event source mapping onto coalesce_uploads with
BatchSize = ``max_items`` and MaximumBatchingWindowInSeconds = ``window_seconds`` ("Lambda parameters for Amazon SQS
event source mappings": a BatchSize above 10 needs a window of at least 1 s, which the parser guarantees). Once:
the coalesce_uploads function with its log group, Errors and Throttles alarms, and the policy letting submit_jobs
send to these queues. A table without such a workload renders nothing: the default stack is unchanged.

Timing: coalesce_uploads' timeout is COALESCE_FUNCTION_TIMEOUT; its claims' lease (CLAIM_LEASE_SECONDS) that
+ 30 s; each queue's visibility timeout 6 x the timeout + the batching window ("Creating and configuring an Amazon
SQS event source mapping", Lambda guide: at least six times the function's timeout; plus the window, as
SubmitQueue's), so a failed batch comes back only after the lease of its claims has expired and can take its keys
over.
"""

from __future__ import annotations

from batch_orchestrator.workloads import COALESCED_MANIFEST_PREFIX, Workload, WorkloadTable, camel_case
from workload_table.names import JOB_DEFINITION_NAME_PREFIX, SCHEDULE_NAME_PREFIX
from workload_table.yaml_text import STACK_TAIL, quoted

COALESCE_FUNCTION = "CoalesceUploadsFunction"
COALESCE_LOG_GROUP = "CoalesceUploadsLogGroup"
COALESCE_FORWARD_POLICY = "WorkloadCoalesceForwardPolicy"
COALESCE_FUNCTION_TIMEOUT = 120  # 10,000 keys: 100 TransactWriteItems, one PutObject, one claim, one SubmitJob
COALESCE_CLAIM_LEASE = COALESCE_FUNCTION_TIMEOUT + 30
COALESCE_CONCURRENCY = 2  # the SQS event source's minimum MaximumConcurrency (LAMBDA_SQS_MIN_CONCURRENCY)
QUEUE_NAME_PREFIX = f"{SCHEDULE_NAME_PREFIX}${{StackTail}}-coalesce-"
_ACCOUNT = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}"


def queue_id(workload: Workload) -> str:
    return f"Workload{camel_case(workload.name)}CoalesceQueue"


def dlq_id(workload: Workload) -> str:
    return f"Workload{camel_case(workload.name)}CoalesceDLQ"


def visibility_timeout(workload: Workload) -> int:
    assert workload.coalesce is not None
    return 6 * COALESCE_FUNCTION_TIMEOUT + workload.coalesce.window_seconds


def queue_url_prefix_line() -> str:
    """COALESCE_QUEUE_URL_PREFIX, in the functions' environment when some workload coalesces."""
    url = "https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}/" + QUEUE_NAME_PREFIX
    return f"COALESCE_QUEUE_URL_PREFIX: !Sub [{quoted(url)}, {STACK_TAIL}]"


def coalesce_region(table: WorkloadTable, extra_queues: list[str]) -> list[str]:
    workloads = table.coalescing
    if not workloads:
        return []
    lines = _function(workloads, extra_queues)
    for workload in workloads:
        lines += ["", *_queues(workload)]
    return [*lines, "", *_forward_policy(workloads)]


def _function(workloads: tuple[Workload, ...], extra_queues: list[str]) -> list[str]:
    definitions = f"{_ACCOUNT}:job-definition/{JOB_DEFINITION_NAME_PREFIX}*"
    manifests = f"${{InputBucket.Arn}}/{COALESCED_MANIFEST_PREFIX}*"
    return [
        f"{COALESCE_LOG_GROUP}:",
        "  Type: AWS::Logs::LogGroup",
        "  Properties:",
        '    LogGroupName: !Sub "/aws/lambda/${AWS::StackName}/coalesce_uploads"',
        "    RetentionInDays: !Ref LogRetentionDays",
        "",
        f"{COALESCE_FUNCTION}:",
        "  Type: AWS::Serverless::Function",
        "  Properties:",
        "    Description: Coalesces a burst of uploads of a workload into one array job over a manifest",
        "    CodeUri: functions/coalesce_uploads/",
        "    Handler: app.handler",
        f"    Timeout: {COALESCE_FUNCTION_TIMEOUT}",
        "    LoggingConfig:",
        f"      LogGroup: !Ref {COALESCE_LOG_GROUP}",
        "    Environment:",
        "      Variables:",
        f'        CLAIM_LEASE_SECONDS: "{COALESCE_CLAIM_LEASE}"   # function timeout + 30 s margin',
        "        # The input bucket, by the name the template gives it (a Ref would be a name budget.py cannot bound).",
        f'        MANIFEST_BUCKET: !Sub ["batch-orch-input-${{AWS::AccountId}}-${{StackTail}}", {STACK_TAIL}]',
        "    Policies:",
        "      - Statement:",
        "          - Sid: RunsTable",
        "            Effect: Allow",
        "            # The keys' claims are Puts of TransactWriteItems: authorised as dynamodb:PutItem (Using IAM",
        "            # with DynamoDB transactions); GetItem reads a batch run, UpdateItem takes a key over.",
        "            Action:",
        "              - dynamodb:GetItem",
        "              - dynamodb:PutItem",
        "              - dynamodb:UpdateItem",
        "            Resource: !GetAtt RunsTable.Arn",
        "          - Sid: SubmitJob",
        "            Effect: Allow",
        "            Action: batch:SubmitJob",
        "            Resource:",
        "              - !Ref JobQueue",
        *(f"              {queue}" for queue in extra_queues),
        '              - !Sub "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/*"',
        f"              - !Sub [{quoted(definitions)}, {STACK_TAIL}]",
        "          - Sid: TagJobsAtSubmit",
        "            Effect: Allow",
        "            Action: batch:TagResource",
        '            Resource: !Sub "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/*"',
        "          - Sid: FindJobByName",
        "            Effect: Allow",
        "            # A batch run's stale claim is taken over after a look-up by job name (submit_run).",
        '            # ListJobs supports no resource-level permissions: Resource must be "*".',
        "            Action: batch:ListJobs",
        '            Resource: "*"',
        "          - Sid: WriteManifests",
        "            Effect: Allow",
        "            Action: s3:PutObject",
        f"            Resource: !Sub {quoted(manifests)}",
        "          - Sid: ConsumeCoalesceQueues",
        "            Effect: Allow",
        "            Action:",
        "              - sqs:ReceiveMessage",
        "              - sqs:DeleteMessage",
        "              - sqs:GetQueueAttributes",
        "              - sqs:ChangeMessageVisibility",
        "            Resource:",
        *(f"              - !GetAtt {queue_id(w)}.Arn" for w in workloads),
        "",
        *_alarm(f"{COALESCE_FUNCTION}ErrorsAlarm", "coalesce_uploads-errors", "Errors", "raised errors"),
        "",
        *_alarm(f"{COALESCE_FUNCTION}ThrottlesAlarm", "coalesce_uploads-throttles", "Throttles", "was throttled"),
    ]


def _alarm(logical_id: str, name: str, metric: str, what: str) -> list[str]:
    return [
        f"{logical_id}:",
        "  Type: AWS::CloudWatch::Alarm",
        "  Properties:",
        f'    AlarmName: !Sub "${{AWS::StackName}}-{name}"',
        f'    AlarmDescription: "The coalesce_uploads function {what} (see its log group)."',
        "    Namespace: AWS/Lambda",
        f"    MetricName: {metric}",
        f"    Dimensions: [{{ Name: FunctionName, Value: !Ref {COALESCE_FUNCTION} }}]",
        *_alarm_tail(),
    ]


def _alarm_tail() -> list[str]:
    return [
        "    Statistic: Sum",
        "    Period: 300",
        "    EvaluationPeriods: 1",
        "    Threshold: 0",
        "    ComparisonOperator: GreaterThanThreshold",
        "    TreatMissingData: notBreaching",
        "    AlarmActions: [!Ref AlertsTopic]",
    ]


def _queues(workload: Workload) -> list[str]:
    assert workload.coalesce is not None
    queue, dlq = queue_id(workload), dlq_id(workload)
    name = QUEUE_NAME_PREFIX + workload.name
    return [
        f"{dlq}:",
        "  Type: AWS::SQS::Queue",
        "  Properties:",
        "    SqsManagedSseEnabled: true",
        "    MessageRetentionPeriod: 1209600   # 14 days",
        "",
        f"{queue}:",
        "  Type: AWS::SQS::Queue",
        "  Properties:",
        f"    QueueName: !Sub [{quoted(name)}, {STACK_TAIL}]",
        "    SqsManagedSseEnabled: true",
        f"    VisibilityTimeout: {visibility_timeout(workload)}   # 6 x coalesce_uploads' timeout + the window",
        "    MessageRetentionPeriod: 345600   # 4 days",
        "    RedrivePolicy:",
        f"      deadLetterTargetArn: !GetAtt {dlq}.Arn",
        "      maxReceiveCount: !Ref SubmitMaxReceiveCount",
        "",
        f"{queue}Policy:",
        "  Type: AWS::SQS::QueuePolicy",
        "  Properties:",
        f"    Queues: [!Ref {queue}, !Ref {dlq}]",
        "    PolicyDocument:",
        '      Version: "2012-10-17"',
        "      Statement:",
        "        - Sid: DenyInsecureTransport",
        "          Effect: Deny",
        '          Principal: "*"',
        '          Action: "sqs:*"',
        "          Resource:",
        f"            - !GetAtt {queue}.Arn",
        f"            - !GetAtt {dlq}.Arn",
        "          Condition:",
        '            Bool: { "aws:SecureTransport": "false" }',
        "",
        f"{dlq}Alarm:",
        "  Type: AWS::CloudWatch::Alarm",
        "  Properties:",
        f'    AlarmName: !Sub "${{AWS::StackName}}-{dlq}-not-empty"',
        f'    AlarmDescription: "Uploads of {workload.name} failed to coalesce SubmitMaxReceiveCount times: '
        'fix the cause, then redrive."',
        "    Namespace: AWS/SQS",
        "    MetricName: ApproximateNumberOfMessagesVisible",
        f"    Dimensions: [{{ Name: QueueName, Value: !GetAtt {dlq}.QueueName }}]",
        "    Statistic: Maximum",
        *_alarm_tail()[1:],
        "",
        f"{queue}Messages:",
        "  Type: AWS::Lambda::EventSourceMapping",
        "  Properties:",
        f"    FunctionName: !Ref {COALESCE_FUNCTION}",
        f"    EventSourceArn: !GetAtt {queue}.Arn",
        f"    BatchSize: {workload.coalesce.max_items}",
        f"    MaximumBatchingWindowInSeconds: {workload.coalesce.window_seconds}",
        "    FunctionResponseTypes: [ReportBatchItemFailures]",
        "    ScalingConfig:",
        f"      MaximumConcurrency: {COALESCE_CONCURRENCY}",
    ]


def _forward_policy(workloads: tuple[Workload, ...]) -> list[str]:
    return [
        f"{COALESCE_FORWARD_POLICY}:",
        "  Type: AWS::IAM::Policy",
        "  Properties:",
        "    PolicyName: forward-coalesced-uploads",
        "    Roles: [!Ref SubmitJobsFunctionRole]",
        "    PolicyDocument:",
        '      Version: "2012-10-17"',
        "      Statement:",
        "        - Sid: ForwardCoalescedUploads",
        "          Effect: Allow",
        "          # SendMessageBatch is authorised as sqs:SendMessage (Amazon SQS batch actions).",
        "          Action: sqs:SendMessage",
        "          Resource:",
        *(f"            - !GetAtt {queue_id(w)}.Arn" for w in workloads),
    ]
