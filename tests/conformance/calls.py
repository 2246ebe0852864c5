"""The AWS calls the functions' own code makes, and what IAM authorises for each of them.

``OPERATIONS`` maps every API operation the adapters call (``service.Operation`` in botocore's names) to
the IAM requests AWS evaluates for it, built from the function's real environment on the resolved stack:
the same table name, queue URL, topic ARN and job queue/definition ARNs the code passes to the API.
``FUNCTION_OPERATIONS`` says which function makes which call. Both are checked against the code, not
trusted: ``adapter_operations`` reads every ``client("svc").operation``, ``submit_client().operation``
and ``get_paginator("operation")`` out of the adapters' source (test_calls_from_code.py fails on an
operation missing here), and the same test records what each function really calls while the
integration flows run in moto and fails on a call its entry lacks.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

from batch_orchestrator.adapters.run_items import ACTIVE_RUNS_INDEX
from batch_orchestrator.coalesce import manifest_key
from batch_orchestrator.object_manifests import objects_manifest_key
from batch_orchestrator.workload_steps import step_manifest_key
from batch_orchestrator.workload_table_file import DIGEST_VARIABLE, PACKAGED, digest
from batch_orchestrator.workloads import ComputeType, ManifestSource, Workload, WorkloadTable, parse_workloads
from tests.conformance.iam import ContextValue
from tests.conformance.iam_database import TypedResource
from tests.conformance.policies import UnknownPolicy, queue_arn
from tests.conformance.resolve import ResolvedStack

ADAPTERS = Path(__file__).resolve().parents[2] / "layers" / "common" / "batch_orchestrator" / "adapters"
# A job id as Batch makes them (a UUID): SubmitJob, TagResource and TerminateJob are authorised on job/<id>.
SAMPLE_JOB_ID = "0c1b2a39-4d5e-4f60-8a7b-9c8d7e6f5a41"
# A workload's job definition is submitted by name, so Batch uses its latest ACTIVE revision; IAM still sees the
# revision: "the request ARN includes the revision (for example, job-definition/my-job-def:1)" (AWS Batch User
# Guide, "Resource: Restrict to job definition prefix on job submission", Accounting for job definition
# revisions). A revision above 1 (the stack updated a few times) proves the policy matches every revision.
SUBMITTED_REVISION = 7
# The layer's table of each rendered stack, by the digest its template holds (register_table).
_TABLES: dict[str, str] = {}


@dataclass(frozen=True)
class Scope:
    """One function of the resolved stack: what its code calls AWS with."""

    stack: ResolvedStack
    function: str
    environment: Mapping[str, str]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.stack.partition}:{service}:{self.stack.region}:{self.stack.account_id}:{resource}"


@dataclass(frozen=True)
class Authorised:
    """One IAM request an API call causes: the action, its resources, the context keys it adds."""

    action: str
    resources: tuple[TypedResource, ...]
    context: Mapping[str, ContextValue]
    note: str = ""


Builder = Callable[[Scope], list[Authorised]]


def _on_table(action: str) -> Builder:
    return lambda s: [
        Authorised(action, (TypedResource("table", s.arn("dynamodb", f"table/{s.environment['RUNS_TABLE']}")),), {})
    ]


def _query(s: Scope) -> list[Authorised]:
    # The only index the code queries (ACTIVE_RUNS_INDEX; the recorded calls confirm the IndexName).
    index = s.arn("dynamodb", f"table/{s.environment['RUNS_TABLE']}/index/{ACTIVE_RUNS_INDEX}")
    return [Authorised("dynamodb:Query", (TypedResource("index", index),), {})]


def _anything(action: str) -> Builder:
    return lambda s: [Authorised(action, (TypedResource(None, "*"),), {})]


def _job(s: Scope) -> TypedResource:
    return TypedResource("job", s.arn("batch", f"job/{SAMPLE_JOB_ID}"))


def register_table(text: str) -> None:
    """Make a rendered layer table known to ``runtime_workloads`` (``workload_stacks`` renders them)."""
    _TABLES[digest(text.encode())] = text


def runtime_workloads(environment: Mapping[str, str]) -> tuple[Workload, ...]:
    """The workloads of the layer's table the environment's digest names, read by the functions' own parser
    (runtime form), each on its named job definition (WORKLOAD_JOB_DEFINITION_PREFIX + its name)."""
    wanted = environment[DIGEST_VARIABLE]
    packaged = PACKAGED.read_text(encoding="utf-8")
    text = packaged if digest(packaged.encode()) == wanted else _TABLES.get(wanted)
    if text is None:
        raise KeyError(f"no rendered workload table has digest {wanted}: render it with workload_stacks")
    workloads = parse_workloads(json.loads(text), source="workload_table.json", runtime=True)
    if not workloads:
        return ()
    return WorkloadTable(workloads).with_job_definitions(environment["WORKLOAD_JOB_DEFINITION_PREFIX"]).workloads


def submit_targets(environment: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(job queue, job definition, why) of every SubmitJob the code may make: the default workload on JOB_QUEUE_ARN,
    each Fargate workload of the layer's table on the On-Demand queue, a fargate-spot one on SPOT_JOB_QUEUE_ARN too, and
    an ec2 one on EC2_JOB_QUEUE_ARN only (capacity_for: every attempt of an ec2 workload runs on EC2)."""
    targets = [(environment["JOB_QUEUE_ARN"], environment["JOB_DEFINITION_ARN"], "")]
    for workload in runtime_workloads(environment):
        if workload.compute is ComputeType.EC2:
            targets.append(
                (environment["EC2_JOB_QUEUE_ARN"], workload.job_definition, f"workload {workload.name} on EC2")
            )
            continue
        targets.append((environment["JOB_QUEUE_ARN"], workload.job_definition, f"workload {workload.name}"))
        if workload.compute is ComputeType.FARGATE_SPOT:
            spot = environment["SPOT_JOB_QUEUE_ARN"]
            targets.append((spot, workload.job_definition, f"workload {workload.name} on Spot"))
    return targets


def _submit_job(s: Scope) -> list[Authorised]:
    requests = []
    targets = submit_targets(s.environment)
    if s.function in RENDERED_FUNCTION_OPERATIONS:  # coalesce_uploads submits the coalescing workloads' runs only
        coalescing = {f"workload {w.name}" for w in runtime_workloads(s.environment) if w.coalesce is not None}
        targets = [target for target in targets if target[2] in coalescing]
    for queue, definition, why in targets:
        if not definition.startswith("arn:"):  # a workload's, by name
            definition = s.arn("batch", f"job-definition/{definition}:{SUBMITTED_REVISION}")
        revision = re.search(r":job-definition/[^:/]+:\d+$", definition) is not None
        resources = (
            TypedResource("job-queue", queue),
            TypedResource("job-definition-revision" if revision else "job-definition", definition),
            _job(s),
        )
        requests.append(Authorised("batch:SubmitJob", resources, {}, why))
    # The adapter passes tags (and propagateTags) in SubmitJob: tagging on create is authorised as TagResource.
    requests.append(Authorised("batch:TagResource", (_job(s),), {}, "tags set at SubmitJob"))
    return requests


def _get_manifest(s: Scope) -> list[Authorised]:
    """GetObject of an upload whose workload's array is the uploaded manifest (none for a table without one); the
    code names the version it reads, so IAM checks s3:GetObjectVersion as well. A manifest the stack writes (a pipeline
    step's, an upload-directory listing) is read by key alone. Any of them may be missing (deleted before its run, not
    written): S3 answers 404 rather than 403 only to a caller that may s3:ListBucket the bucket (GetObject, Amazon S3
    API Reference)."""
    from tests.conformance.requests import SAMPLE_RUN_ID, input_bucket  # requests imports this module

    bucket = input_bucket(s.stack)
    requests = []
    workloads = runtime_workloads(s.environment)
    previous = {w.then: w.name for w in workloads if w.then is not None}
    for workload in workloads:
        rule = workload.key_rule
        if workload.array is None or workload.array.manifest is None:
            continue
        written = {
            ManifestSource.PREVIOUS_STEP: lambda w: step_manifest_key(
                s.environment["OUTPUT_PREFIX"], SAMPLE_RUN_ID, previous[w.name]
            ),
            ManifestSource.UPLOAD_DIRECTORY: lambda w: objects_manifest_key(
                s.environment["OUTPUT_PREFIX"], SAMPLE_RUN_ID, w.name
            ),
        }.get(workload.array.manifest)
        if written is not None:
            key = written(workload)
            bucket_arn = f"arn:{s.stack.partition}:s3:::{s.environment['OUTPUT_BUCKET']}"
            manifest = TypedResource("object", f"{bucket_arn}/{key}")
            why = f"the manifest {workload.name} reads"
            requests.append(Authorised("s3:GetObject", (manifest,), {}, why))
            requests.append(
                Authorised("s3:ListBucket", (TypedResource("bucket", bucket_arn),), {"s3:prefix": key}, why + " (404)")
            )
            continue
        assert rule is not None, "an upload's manifest goes with a key rule"
        manifest = TypedResource("object", f"arn:{s.stack.partition}:s3:::{bucket}/{rule.prefix}items{rule.suffix}")
        why = f"the manifest of workload {workload.name}"
        requests += [Authorised(action, (manifest,), {}, why) for action in ("s3:GetObject", "s3:GetObjectVersion")]
        # A manifest deleted before its run must read as gone (404: refused with its reason), not as denied.
        key = f"{rule.prefix}items{rule.suffix}"
        bucket_arn = f"arn:{s.stack.partition}:s3:::{bucket}"
        requests.append(
            Authorised("s3:ListBucket", (TypedResource("bucket", bucket_arn),), {"s3:prefix": key}, why + " (404)")
        )
    return requests


def _directory_calls(action: str) -> Builder:
    """What submit_jobs does for an upload-directory array (none for a table without one): ListObjectsV2 of the
    upload's directory (s3:ListBucket with that s3:prefix), PutObject of the run's listing under the output prefix."""

    def build(s: Scope) -> list[Authorised]:
        from tests.conformance.requests import SAMPLE_RUN_ID  # requests imports this module

        bucket_arn = f"arn:{s.stack.partition}:s3:::{s.environment['OUTPUT_BUCKET']}"
        requests = []
        for workload in runtime_workloads(s.environment):
            rule = workload.key_rule
            if workload.array is None or workload.array.manifest is not ManifestSource.UPLOAD_DIRECTORY:
                continue
            assert rule is not None, "an upload-directory array goes with a key rule"
            if action == "s3:ListBucket":
                directory = f"{rule.prefix}2026-12-01/"
                context = {"s3:prefix": directory}
                requests.append(Authorised(action, (TypedResource("bucket", bucket_arn),), context, "the directory"))
            else:
                key = objects_manifest_key(s.environment["OUTPUT_PREFIX"], SAMPLE_RUN_ID, workload.name)
                requests.append(
                    Authorised(action, (TypedResource("object", f"{bucket_arn}/{key}"),), {}, "the listing")
                )
        return requests

    return build


def _send_message(s: Scope) -> list[Authorised]:
    return [
        Authorised(
            "sqs:SendMessage", (TypedResource("queue", queue_arn(s.stack, s.environment["SUBMIT_QUEUE_URL"])),), {}
        )
    ]


def _publish(s: Scope) -> list[Authorised]:
    topic = s.environment["ALERTS_TOPIC_ARN"]
    requests = [Authorised("sns:Publish", (TypedResource("topic", topic),), {})]
    key = topic_key_arn(s.stack, topic)
    if key is not None:
        # Publishing to an SSE topic: SNS calls KMS with the publisher's credentials (SNS Developer Guide,
        # "Encryption at rest": the publisher needs kms:GenerateDataKey* and kms:Decrypt on the key).
        via = {"kms:ViaService": f"sns.{s.stack.region}.amazonaws.com", "kms:CallerAccount": s.stack.account_id}
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            requests.append(Authorised(action, (TypedResource("key", key),), via, "SNS encrypts the message"))
    return requests


def _forward_coalesced(s: Scope) -> list[Authorised]:
    """SendMessageBatch to each coalescing workload's queue (COALESCE_QUEUE_URL_PREFIX + its name): authorised as
    sqs:SendMessage ("Amazon SQS batch actions"); none for a table without such a workload."""
    prefix = s.environment.get("COALESCE_QUEUE_URL_PREFIX", "")
    return [
        Authorised("sqs:SendMessage", (TypedResource("queue", queue_arn(s.stack, prefix + w.name)),), {}, w.name)
        for w in runtime_workloads(s.environment)
        if w.coalesce is not None
    ]


def _claim_keys(s: Scope) -> list[Authorised]:
    """TransactWriteItems of conditional Puts: each authorised as dynamodb:PutItem ("Using IAM with DynamoDB
    transactions")."""
    table = TypedResource("table", s.arn("dynamodb", f"table/{s.environment['RUNS_TABLE']}"))
    return [Authorised("dynamodb:PutItem", (table,), {}, "each Put of the transaction")]


def _write_manifest(s: Scope) -> list[Authorised]:
    """PutObject of a coalesced batch's manifest, under COALESCED_MANIFEST_PREFIX, one per coalescing workload."""
    from tests.conformance.requests import input_bucket  # requests imports this module

    bucket = input_bucket(s.stack)
    return [
        Authorised(
            "s3:PutObject",
            (TypedResource("object", f"arn:{s.stack.partition}:s3:::{bucket}/{manifest_key(w.name, 'b' * 32)}"),),
            {},
            f"the manifest of a batch of {w.name}",
        )
        for w in runtime_workloads(s.environment)
        if w.coalesce is not None
    ]


def _put_object(s: Scope) -> list[Authorised]:
    """PutObject: the coalescer's batch manifests; submit_jobs' listings of upload directories."""
    return _write_manifest(s) if s.function == "CoalesceUploadsFunction" else _directory_calls("s3:PutObject")(s)


def _put_events(s: Scope) -> list[Authorised]:
    """PutEvents of the lifecycle events, on the bus the function names (EVENT_BUS_NAME): authorised on the bus."""
    bus = TypedResource("event-bus", s.arn("events", f"event-bus/{s.environment['EVENT_BUS_NAME']}"))
    return [Authorised("events:PutEvents", (bus,), {"events:source": s.environment["EVENT_SOURCE"]})]


OPERATIONS: dict[str, Builder] = {
    "dynamodb.PutItem": _on_table("dynamodb:PutItem"),
    "dynamodb.UpdateItem": _on_table("dynamodb:UpdateItem"),
    "dynamodb.Query": _query,
    "batch.SubmitJob": _submit_job,
    "batch.ListJobs": _anything("batch:ListJobs"),
    "batch.DescribeJobs": _anything("batch:DescribeJobs"),
    "batch.TerminateJob": lambda s: [Authorised("batch:TerminateJob", (_job(s),), {})],
    "sqs.SendMessage": _send_message,
    "sns.Publish": _publish,
    "s3.GetObject": _get_manifest,
    "s3.ListObjectsV2": _directory_calls("s3:ListBucket"),
    "s3.PutObject": _put_object,
    "dynamodb.GetItem": _on_table("dynamodb:GetItem"),
    "dynamodb.TransactWriteItems": _claim_keys,
    "sqs.SendMessageBatch": _forward_coalesced,
    "events.PutEvents": _put_events,
}

# function -> operation -> the template Condition under which the code makes it (None: always).
FUNCTION_OPERATIONS: dict[str, dict[str, str | None]] = {
    "SubmitJobsFunction": {
        "dynamodb.PutItem": None,  # the claim of a first attempt
        "dynamodb.UpdateItem": None,  # claims of retries and stale claims, release after a refused SubmitJob
        "batch.SubmitJob": None,
        "batch.ListJobs": None,  # a stale claim: is there a job of that name already?
        "s3.GetObject": None,  # a manifest (only for workloads with array: {manifest: ...})
        "s3.ListObjectsV2": None,  # an upload's directory (only for array: {manifest: upload-directory})
        "s3.PutObject": None,  # its listing, once per run (only for array: {manifest: upload-directory})
        "sqs.SendMessageBatch": None,  # uploads of coalescing workloads, forwarded to their queues (none without)
    },
    "SubmitScheduledFunction": {
        "dynamodb.PutItem": None,
        "dynamodb.UpdateItem": None,
        "batch.SubmitJob": None,
        "batch.ListJobs": None,
    },
    "TrackJobsFunction": {
        "dynamodb.PutItem": None,  # the lease of a blocked queue's one alert (an item keyed by the blocking job)
        "dynamodb.UpdateItem": None,  # forward-only observations, side-effect leases
        "sqs.SendMessage": None,  # retry requests
        "sns.Publish": None,  # alerts
        "batch.ListJobs": None,  # an array parent that FAILED: its failed children
    },
    "WatchdogFunction": {
        "dynamodb.Query": None,  # the sparse ActiveRunsIndex, one partition per status
        "dynamodb.UpdateItem": None,
        "batch.DescribeJobs": None,
        "batch.ListJobs": None,  # a stale claim's job by name; an array parent that FAILED: its failed children
        "batch.TerminateJob": "CancelStuckRunnable",
        "sqs.SendMessage": None,  # retries and resubmissions
        "sns.Publish": None,  # stuck runs, recovered alerts
    },
    "PublishEventsFunction": {
        "events.PutEvents": None,  # the lifecycle events of the runs table's stream, 10 per call
    },
}


# Functions only a rendered table brings (their logical id -> operations, as above): coalesce_uploads exists when some
# workload has ``coalesce:``. ``functions_of`` gives the entries of the functions one stack has.
RENDERED_FUNCTION_OPERATIONS: dict[str, dict[str, str | None]] = {
    "CoalesceUploadsFunction": {
        "dynamodb.TransactWriteItems": None,  # the keys' claims, 100 conditional Puts per call
        "dynamodb.GetItem": None,  # a taken key's batch run: does it exist, does it owe a submission?
        "dynamodb.UpdateItem": None,  # a dead batch's key taken over; stale claims of batch runs
        "dynamodb.PutItem": None,  # the batch run's claim (submit_run)
        "s3.PutObject": None,  # the batch's manifest
        "batch.SubmitJob": None,
        "batch.ListJobs": None,  # a batch run's stale claim: is there a job of that name already?
    },
}


def functions_of(functions: set[str]) -> dict[str, dict[str, str | None]]:
    """The table entries of a stack whose functions are ``functions``: every always-present one, and the rendered
    ones it has."""
    return FUNCTION_OPERATIONS | {f: ops for f, ops in RENDERED_FUNCTION_OPERATIONS.items() if f in functions}


def topic_key_arn(stack: ResolvedStack, topic_arn: str) -> str | None:
    """The ARN of the customer managed key a topic of the stack is encrypted with (None: not encrypted)."""
    topics = [t for t in stack.of_type("AWS::SNS::Topic") if stack.ref(t) == topic_arn]
    if len(topics) != 1:
        raise UnknownPolicy(f"{topic_arn} is not a topic of the stack")
    key = stack.resources[topics[0]].properties.get("KmsMasterKeyId")
    if key is None:
        return None
    key = str(key)
    if key.startswith("alias/"):
        aliases = [a for a in stack.of_type("AWS::KMS::Alias").values() if a.properties["AliasName"] == key]
        if len(aliases) != 1:
            raise UnknownPolicy(f"{topics[0]}: key {key} is not an alias of the stack (an AWS managed key?)")
        key = str(aliases[0].properties["TargetKeyId"])
    if key.startswith("arn:"):
        return key
    keys = [k for k in stack.of_type("AWS::KMS::Key") if stack.ref(k) == key]
    if len(keys) != 1:
        raise UnknownPolicy(f"{topics[0]}: key {key} is not a key of the stack")
    return stack.get_att(keys[0], "Arn")


# --------------------------------------------------------------------------------------- the code
@dataclass(frozen=True)
class CodeCall:
    where: str  # file:line
    service: str
    operation: str

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"


@cache
def _method_names(service: str) -> dict[str, str]:
    """botocore method name (submit_job) -> operation name (SubmitJob) for one service."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def adapter_operations(directory: Path = ADAPTERS) -> list[CodeCall]:
    """Every API operation the adapters name: ``client("svc").op``, ``submit_client().op``,
    ``client("svc").get_paginator("op")``. A client attribute that is no operation raises."""
    found = []
    for path in sorted(directory.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            service = _client_service(node.value)
            if service is None or node.attr in ("meta", "exceptions", "get_paginator"):
                continue
            found.append(_code_call(f"{path.name}:{node.lineno}", service, node.attr))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_paginator"
                and (service := _client_service(node.func.value)) is not None
            ):
                (argument,) = node.args
                if not isinstance(argument, ast.Constant) or not isinstance(argument.value, str):
                    raise ValueError(f"{path.name}:{node.lineno}: get_paginator with a name that is not a literal")
                found.append(_code_call(f"{path.name}:{node.lineno}", service, argument.value))
    return found


def _code_call(where: str, service: str, method: str) -> CodeCall:
    operation = _method_names(service).get(method)
    if operation is None:
        raise ValueError(f"{where}: the {service} client has no operation {method!r}")
    return CodeCall(where, service, operation)


def _client_service(node: ast.expr) -> str | None:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None
    if node.func.id == "submit_client" and not node.args:
        return "batch"  # adapters/aws.py: the Batch client used for SubmitJob
    if node.func.id == "client" and len(node.args) == 1:
        argument = node.args[0]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            return argument.value
        raise ValueError(f"line {node.lineno}: client() with a service that is not a literal")
    return None
