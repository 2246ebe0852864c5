"""workloads.yaml rendered into template.yaml's marked regions: each workload's resources, permissions, environment.

``render_template(template_text, workloads_yaml_text)`` is the one entry point (``make template``, the
stale check of ``make validate``, and the tests and the emulator that deploy a rendered two-workload
stack). It raises ``WorkloadTableError`` on a table that must not deploy, with every problem.

Invariants of the rendered template:

* With ``workloads: []`` the regions hold exactly what the template held before workloads existed, plus
  WORKLOAD_TABLE_DIGEST (of the empty table), ``SPOT_JOB_QUEUE_ARN: ""`` and ``EC2_JOB_QUEUE_ARN: ""``: the
  stack behaves as it always did, and has no EC2 resource (``render_ec2``: only an ec2 workload brings the
  EC2 compute environment).
* The table the functions read is the layer's ``workload_table.json`` (``table_file_text``), written with
  the regions; the environment holds its digest, never the table, so the 4 KB environment does not grow
  with the table (``batch_orchestrator.workload_table_file``).
* Each workload's job definition is named ``batch-orch-<StackTail>-<workload>`` (``names.job_definition_name``),
  the name the functions submit (WORKLOAD_JOB_DEFINITION_PREFIX + the workload's name: SubmitJob takes the
  latest ACTIVE revision, the one CloudFormation last registered). Both submit functions may SubmitJob to
  ``job-definition/batch-orch-<StackTail>-*``, one statement whatever the number of workloads, and to
  SpotJobQueue and Ec2JobQueue when rendered; the tracker's EventBridge rule listens to every queue a job
  may run on. CloudFormation owns every job definition, queue and schedule: nothing is registered at run
  time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from batch_orchestrator.object_manifests import OBJECTS_MANIFEST_NAME
from batch_orchestrator.workload_steps import STEP_MANIFEST_NAME
from batch_orchestrator.workload_table_file import digest, file_text
from batch_orchestrator.workloads import (
    COALESCED_MANIFEST_PREFIX,
    ComputeType,
    ManifestSource,
    Schedule,
    Workload,
    WorkloadTable,
    to_runtime_json,
)
from workload_table.compute_text import COMPUTE_NETWORK, compute_environment_head
from workload_table.names import (
    EC2_QUEUE,
    JOB_DEFINITION_NAME_PREFIX,
    MANIFEST_READ_POLICY,
    SCHEDULER_ROLE,
    SPOT_COMPUTE_ENVIRONMENT,
    SPOT_QUEUE,
    job_definition_id,
    job_definition_name,
    schedule_id,
    schedule_name,
)
from workload_table.regions import replace_regions
from workload_table.render_coalesce import coalesce_region, queue_url_prefix_line
from workload_table.render_ec2 import (
    EC2_HOST_REASON,
    ec2_compute_region,
    ec2_outputs,
    public_ip_region,
    resource_requirements,
)
from workload_table.render_notify import NOTIFY_REGIONS
from workload_table.table import load_table
from workload_table.yaml_text import STACK_TAIL, flow_list, quoted, single_quoted, sub_escaped

# Batch's native retries, as JobDefinition's: infrastructure failures only (exit codes are the orchestrator's).
SPOT_REASON = "Your Spot Task was interrupted*"
INFRA_RETRY_RULES = (
    ("OnReason", "CannotPullContainerError*"),
    ("OnReason", "ResourceInitializationError*"),
    ("OnStatusReason", "Task failed to start*"),
)


# ------------------------------------------------------------------------------------------ regions
def environment_region(table: WorkloadTable) -> list[str]:
    spot = f"!Ref {SPOT_QUEUE}" if table.uses_spot else '""'
    ec2 = f"!Ref {EC2_QUEUE}" if table.uses_ec2 else '""'
    lines = [f"WORKLOAD_TABLE_DIGEST: {quoted(digest(table_file_text(table).encode()))}"]
    if table.workloads:
        lines.append(f"WORKLOAD_JOB_DEFINITION_PREFIX: !Sub [{quoted(JOB_DEFINITION_NAME_PREFIX)}, {STACK_TAIL}]")
    if table.coalescing:
        lines.append(queue_url_prefix_line())
    return [*lines, f"SPOT_JOB_QUEUE_ARN: {spot}", f"EC2_JOB_QUEUE_ARN: {ec2}"]


def table_file_text(table: WorkloadTable) -> str:
    """The layer's workload_table.json for this table: each workload in its runtime form, no container fields."""
    return file_text([to_runtime_json(w) for w in table.workloads])


def spot_queue_region(table: WorkloadTable) -> list[str]:
    if not table.uses_spot:
        return []
    return [
        *compute_environment_head(SPOT_COMPUTE_ENVIRONMENT),
        "      Type: FARGATE_SPOT",
        "      MaxvCpus: !Ref MaxVcpus",
        *COMPUTE_NETWORK,
        "",
        f"{SPOT_QUEUE}:",
        "  Type: AWS::Batch::JobQueue",
        "  Properties:",
        "    State: ENABLED",
        "    Priority: 1",
        "    ComputeEnvironmentOrder:",
        "      - Order: 1",
        f"        ComputeEnvironment: !Ref {SPOT_COMPUTE_ENVIRONMENT}",
    ]


def job_definitions_region(table: WorkloadTable) -> list[str]:
    lines: list[str] = []
    for workload in table.workloads:
        if lines:
            lines.append("")
        lines += job_definition(workload)
    manifests = manifest_read_policy(table)
    return [*lines, *([""] if lines and manifests else []), *manifests]


def manifest_read_policy(table: WorkloadTable) -> list[str]:
    """SubmitJobsFunction may read the uploads of the workloads whose array is the uploaded manifest, only those:
    ``<prefix>*<suffix>`` of each one's key rule, the version too (it reads the version that was uploaded).

    A policy of its own, attached to the role SAM generates for the function, so a table without such a workload
    renders none: submit_jobs of the default stack reads no object.
    """
    patterns = {
        f"${{InputBucket.Arn}}/{sub_escaped(w.key_rule.prefix)}*{sub_escaped(w.key_rule.suffix)}": None
        for w in table.workloads
        if w.key_rule is not None and w.array is not None and w.array.manifest is ManifestSource.UPLOAD
    }
    # A step whose array is its previous step's manifest: <OutputPrefix><run id>/<previous step>/manifest.
    previous = {w.then: w.name for w in table.workloads if w.then is not None}
    step_manifests = [
        f"/{previous[w.name]}/{STEP_MANIFEST_NAME}"
        for w in table.workloads
        if w.array is not None and w.array.manifest is ManifestSource.PREVIOUS_STEP and w.name in previous
    ]
    listings = [w for w in table.workloads if _lists_directory(w) and w.key_rule is not None]
    if not patterns and not step_manifests and not listings:
        return []
    statements = [
        "        - Sid: ReadManifests",
        "          Effect: Allow",
        "          # One GetObject per upload of a workload whose array is the uploaded manifest, to count its items;",
        "          # one per run of a pipeline step whose array is the manifest its previous step wrote; the listing",
        "          # of an upload's directory, read back when a delivery finds it written.",
        "          Action:",
        "            - s3:GetObject",
        "            - s3:GetObjectVersion",
        "          Resource:",
        *(f"            - !Sub {quoted(pattern)}" for pattern in patterns),
        # (OutputPrefix is never empty with a pipeline: the PipelinesNeedOutputPrefix rule refuses the deploy.)
        *(f"            - !Sub {quoted('${InputBucket.Arn}/${OutputPrefix}*' + rest)}" for rest in step_manifests),
        *(f"            - !Sub {quoted(_listing(w))}" for w in listings),
    ]
    statements += [
        "        - Sid: ListForManifests",
        "          Effect: Allow",
        "          # Key names of the stack's bucket: to list an upload's directory (upload-directory arrays),",
        "          # and so that GetObject of a manifest that is not there answers 404, not 403 AccessDenied",
        "          # (GetObject, Amazon S3 API Reference: without s3:ListBucket a missing key is a 403): an",
        "          # uploaded manifest deleted before its run, a step's manifest not written. A 404 refuses the",
        "          # run with its reason; a 403 reads as unreadable and the upload retries until the DLQ. S3",
        "          # documents no s3:prefix for that check: no condition (as the job role's).",
        "          Action: s3:ListBucket",
        "          Resource: !GetAtt InputBucket.Arn",
    ]
    if listings:
        statements += [
            "        - Sid: WriteDirectoryListings",
            "          Effect: Allow",
            "          # The listing, written once per run (a conditional PutObject) under the output prefix.",
            "          Action: s3:PutObject",
            "          Resource:",
            *(f"            - !Sub {quoted(_listing(w))}" for w in listings),
        ]
    return [
        f"{MANIFEST_READ_POLICY}:",
        "  Type: AWS::IAM::Policy",
        "  Properties:",
        "    PolicyName: read-workload-manifests",
        "    Roles: [!Ref SubmitJobsFunctionRole]",
        "    PolicyDocument:",
        '      Version: "2012-10-17"',
        "      Statement:",
        *statements,
    ]


def job_definition(workload: Workload) -> list[str]:
    container = workload.container
    if container is None:
        raise ValueError(f"workload {workload.name}: no container (a runtime table cannot be rendered)")
    size = workload.ladder[0]
    ec2 = workload.compute is ComputeType.EC2
    spot_action = "EXIT" if workload.compute is ComputeType.FARGATE_SPOT else "RETRY"
    lines = [
        f"{job_definition_id(workload)}:",
        "  Type: AWS::Batch::JobDefinition",
        "  Properties:",
        f"    JobDefinitionName: !Sub [{quoted(job_definition_name(workload))}, {STACK_TAIL}]",
        "    Type: container",
        f"    PlatformCapabilities: [{'EC2' if ec2 else 'FARGATE'}]",
        "    PropagateTags: true",
        "    Timeout:",
        f"      AttemptDurationSeconds: {workload.timeout_seconds}",
        "    RetryStrategy:",
        "      Attempts: !Ref InfraRetryAttempts",
        "      EvaluateOnExit:",
        f"        - Action: {spot_action}",
        f"          OnStatusReason: {quoted(EC2_HOST_REASON if ec2 else SPOT_REASON)}",
    ]
    for key, pattern in INFRA_RETRY_RULES:
        lines += ["        - Action: RETRY", f"          {key}: {quoted(pattern)}"]
    lines += [
        "        - Action: EXIT",
        '          OnReason: "*"',
        "    ContainerProperties:",
        f"      Image: {quoted(container.image)}",
        f"      Command: {flow_list(list(container.command))}",
        "      ExecutionRoleArn: !GetAtt JobExecutionRole.Arn",
        "      JobRoleArn: !GetAtt JobRole.Arn",
        *resource_requirements(size, workload.gpus),
        *([] if ec2 else _fargate_only(container.cpu_architecture)),
        *_job_environment(workload),
        "      LogConfiguration:",
        "        LogDriver: awslogs",
        "        Options:",
        "          awslogs-group: !Ref JobLogGroup",
        "          awslogs-region: !Ref AWS::Region",
        "          awslogs-stream-prefix: batch-orchestrator",
    ]
    return lines


def _fargate_only(cpu_architecture: str) -> list[str]:
    """The job definition properties Batch accepts on Fargate only (refused on EC2)."""
    return [
        "      RuntimePlatform:",
        "        OperatingSystemFamily: LINUX",
        f"        CpuArchitecture: {cpu_architecture}",
        "      FargatePlatformConfiguration:",
        "        PlatformVersion: LATEST",
        "      NetworkConfiguration:",
        "        AssignPublicIp: !If [CreateNetwork, ENABLED, !Ref AssignPublicIp]",
    ]


def _job_environment(workload: Workload) -> list[str]:
    """The workload's own variables, after OUTPUT_BUCKET/OUTPUT_PREFIX when OutputPrefix is set (as JobDefinition)."""
    assert workload.container is not None
    own = [(quoted(name), quoted(value)) for name, value in workload.container.environment.items()]
    output = [("OUTPUT_BUCKET", "!Ref InputBucket"), ("OUTPUT_PREFIX", "!Ref OutputPrefix")]
    lines = ["      Environment: !If", "        - HasOutputPrefix"]
    for branch in (output + own, own):
        if not branch:
            lines.append("        - !Ref AWS::NoValue")
        for index, (name, value) in enumerate(branch):
            lines += [f"{'        - - ' if index == 0 else '          - '}Name: {name}", f"            Value: {value}"]
    return lines


def job_input_region(table: WorkloadTable) -> list[str]:
    """JobRole may read the objects each key rule routes: ``<prefix>*<suffix>`` under the input bucket."""
    patterns = {
        f"${{InputBucket.Arn}}/{sub_escaped(w.key_rule.prefix)}*{sub_escaped(w.key_rule.suffix)}": None
        for w in table.workloads
        if w.key_rule is not None
    }
    # A coalesced run's children read their batch's manifest first (``coalesce``).
    patterns.update({f"${{InputBucket.Arn}}/{COALESCED_MANIFEST_PREFIX}{w.name}/*": None for w in table.coalescing})
    lines = [f"- !Sub {quoted(pattern)}" for pattern in patterns]
    directories = {
        f"${{InputBucket.Arn}}/{sub_escaped(_directory(w.key_rule.prefix))}*": None
        for w in table.workloads
        if _lists_directory(w) and w.key_rule is not None
    }
    if directories:
        listings = [_listing(w) for w in table.workloads if _lists_directory(w)]
        lines += [
            "# The objects beside the uploads of upload-directory arrays, and each run's listing of them.",
            *(f"- !Sub {quoted(d)}" for d in directories),
            *(f"- !Sub {quoted(listing)}" for listing in listings),
        ]
    if any(w.then is not None for w in table.workloads):
        # A pipeline's step reads what its previous step wrote, under the output prefix (workload_steps; the functions
        # refuse a pipeline without an OutputPrefix at cold start).
        lines += ["# A pipeline's steps read their previous step's outputs.", *_under_output_prefix("*")]
    return lines


def _under_output_prefix(rest: str) -> list[str]:
    """A Resource list entry for ``<OutputPrefix><rest>`` in the stack's bucket, only when OutputPrefix is set."""
    return [
        "- !If",
        "  - HasOutputPrefix",
        f"  - !Sub {quoted('${InputBucket.Arn}/${OutputPrefix}' + rest)}",
        "  - !Ref AWS::NoValue",
    ]


def input_filter_region(table: WorkloadTable) -> list[str]:
    if any(w.key_rule is not None for w in table.workloads):
        return ["# No filter: workloads.yaml has key rules of its own, so every new object is delivered."]
    return [
        "Filter: !If",
        "  - HasInputPrefix",
        "  - S3Key:",
        "      Rules:",
        "        - Name: prefix",
        "          Value: !Ref InputPrefix",
        "  - !Ref AWS::NoValue",
    ]


def input_condition_region(table: WorkloadTable) -> list[str]:
    """HasInputPrefix exists only while the filter uses it (cfn-lint refuses an unused condition)."""
    if any(w.key_rule is not None for w in table.workloads):
        return []
    return ['HasInputPrefix: !Not [!Equals [!Ref InputPrefix, ""]]']


def _extra_queues(table: WorkloadTable) -> list[str]:
    """The queues beyond JobQueue that some workload's attempts go to."""
    return [f"- !Ref {SPOT_QUEUE}"] * table.uses_spot + [f"- !Ref {EC2_QUEUE}"] * table.uses_ec2


def submit_job_region(table: WorkloadTable) -> list[str]:
    """The extra queues, and every workload job definition of this stack: one entry whatever their number."""
    if not table.workloads:
        return _extra_queues(table)
    account = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}"
    pattern = f"{account}:job-definition/{JOB_DEFINITION_NAME_PREFIX}*"
    return [*_extra_queues(table), f"- !Sub [{quoted(pattern)}, {STACK_TAIL}]"]


def tracked_queues_region(table: WorkloadTable) -> list[str]:
    return _extra_queues(table)


def schedules_region(table: WorkloadTable) -> list[str]:
    scheduled = [(w, s) for w in table.workloads for s in w.schedules]
    if not scheduled:
        return []
    lines = scheduler_role()
    for workload, schedule in scheduled:
        lines += ["", *schedule_resource(workload, schedule)]
    return lines


def scheduler_role() -> list[str]:
    return [
        f"{SCHEDULER_ROLE}:",
        "  Type: AWS::IAM::Role",
        "  Properties:",
        "    Description: Lets EventBridge Scheduler fire the workloads' schedules (submit_scheduled, ScheduleDLQ)",
        "    AssumeRolePolicyDocument:",
        '      Version: "2012-10-17"',
        "      Statement:",
        "        - Effect: Allow",
        "          Principal: { Service: scheduler.amazonaws.com }",
        "          Action: sts:AssumeRole",
        "          Condition:",
        '            StringEquals: { "aws:SourceAccount": !Ref AWS::AccountId }',
        "            ArnLike:",
        '              "aws:SourceArn": !Sub "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:'
        'schedule-group/default"',
        "    Policies:",
        "      - PolicyName: fire-workload-schedules",
        "        PolicyDocument:",
        '          Version: "2012-10-17"',
        "          Statement:",
        "            - Sid: InvokeSubmitScheduled",
        "              Effect: Allow",
        "              Action: lambda:InvokeFunction",
        "              Resource: !GetAtt SubmitScheduledFunction.Arn",
        "            - Sid: DeadLetterFirings",
        "              Effect: Allow",
        "              Action: sqs:SendMessage",
        "              Resource: !GetAtt ScheduleDLQ.Arn",
    ]


def schedule_resource(workload: Workload, schedule: Schedule) -> list[str]:
    name = schedule_name(workload, schedule)
    target_input = json.dumps(
        {
            "scheduleName": name,
            "workload": workload.name,
            "schedule": schedule.name,
            "scheduledTime": "<aws.scheduler.scheduled-time>",
            "executionId": "<aws.scheduler.execution-id>",
            "attemptNumber": "<aws.scheduler.attempt-number>",
        }
    )
    return [
        f"{schedule_id(workload, schedule)}:",
        "  Type: AWS::Scheduler::Schedule",
        "  Properties:",
        f"    Name: !Sub [{quoted(name)}, {STACK_TAIL}]",
        "    Description: !Sub "
        + quoted(f"Batch Orchestrator schedule {schedule.name} of workload {workload.name}, stack ${{AWS::StackName}}"),
        f"    ScheduleExpression: {quoted(schedule.expression)}",
        f"    ScheduleExpressionTimezone: {quoted(schedule.timezone)}",
        "    State: ENABLED",
        "    FlexibleTimeWindow:",
        '      Mode: "OFF"',
        "    Target:",
        "      Arn: !GetAtt SubmitScheduledFunction.Arn",
        f"      RoleArn: !GetAtt {SCHEDULER_ROLE}.Arn",
        "      Input: !Sub",
        f"        - {single_quoted(target_input)}",
        f"        - {STACK_TAIL}",
        "      RetryPolicy:",
        "        MaximumRetryAttempts: 5",
        "        MaximumEventAgeInSeconds: 3600",
        "      DeadLetterConfig:",
        "        Arn: !GetAtt ScheduleDLQ.Arn",
    ]


def outputs_region(table: WorkloadTable) -> list[str]:
    lines = []
    if table.uses_spot:
        lines += [
            "SpotJobQueueArn:",
            "  Description: AWS Batch job queue on Fargate Spot (the first attempts of fargate-spot workloads)",
            f"  Value: !Ref {SPOT_QUEUE}",
        ]
    lines += ec2_outputs(table)
    if table.workloads:
        lines += [
            "WorkloadJobDefinitionPrefix:",
            "  Description: The workloads' job definitions are named this prefix + the workload's name",
            f"  Value: !Sub [{quoted(JOB_DEFINITION_NAME_PREFIX)}, {STACK_TAIL}]",
        ]
    return lines


def rules_region(table: WorkloadTable) -> list[str]:
    """A stack with pipelines, or with arrays of the objects beside an upload, is refused at deploy while OutputPrefix
    is empty (the functions refuse it at cold start too, with the prefix's other limits, which Rules cannot express)."""
    if not any(w.then is not None or _lists_directory(w) for w in table.workloads):
        return []
    return [
        "PipelinesNeedOutputPrefix:",
        "  Assertions:",
        '    - Assert: !Not [!Equals [!Ref OutputPrefix, ""]]',
        "      AssertDescription: workloads.yaml has pipelines (then) or upload-directory arrays, which write under",
        "        OutputPrefix; set it.",
    ]


def _lists_directory(workload: Workload) -> bool:
    return workload.array is not None and workload.array.manifest is ManifestSource.UPLOAD_DIRECTORY


def _listing(workload: Workload) -> str:
    """Where the listings of an upload-directory workload's runs are kept (object_manifests.objects_manifest_key)."""
    return f"${{InputBucket.Arn}}/${{OutputPrefix}}*/{workload.name}/{OBJECTS_MANIFEST_NAME}"


def _directory(prefix: str) -> str:
    """The directory every key starting with ``prefix`` lies in (up to and with its last "/")."""
    return prefix[: prefix.rfind("/") + 1]


REGIONS = {
    "environment": environment_region,
    "rules": rules_region,
    "spot-queue": spot_queue_region,
    "ec2-compute": ec2_compute_region,
    "public-ip": public_ip_region,
    "job-input": job_input_region,
    "job-definitions": job_definitions_region,
    "input-filter": input_filter_region,
    "input-condition": input_condition_region,
    "submit-job": submit_job_region,
    "tracked-queues": tracked_queues_region,
    "schedules": schedules_region,
    "coalesce": lambda table: coalesce_region(table, _extra_queues(table)),
    "outputs": outputs_region,
    **NOTIFY_REGIONS,
}


def region_contents(table: WorkloadTable) -> dict[str, Sequence[str]]:
    return {name: build(table) for name, build in REGIONS.items()}


def render_table(template_text: str, table: WorkloadTable) -> str:
    """``template_text`` with every region rendered from an already validated table."""
    return replace_regions(template_text, region_contents(table))


def render_template(template_text: str, workloads_yaml_text: str, *, source: str = "workloads.yaml") -> str:
    """template.yaml's text with its regions rendered from workloads.yaml's text.

    Raises WorkloadTableError (every problem, one per line) for a table that does not validate, and
    RegionError when the template's markers are broken.
    """
    return render(template_text, workloads_yaml_text, source=source).template_text


@dataclass(frozen=True)
class Rendered:
    """What ``make template`` writes: template.yaml's text and the layer's workload_table.json."""

    template_text: str
    table_text: str


def render(template_text: str, workloads_yaml_text: str, *, source: str = "workloads.yaml") -> Rendered:
    """Both outputs of one table, which always go together (the template holds the table file's digest)."""
    table = load_table(workloads_yaml_text, source=source)
    return Rendered(render_table(template_text, table), table_file_text(table))
