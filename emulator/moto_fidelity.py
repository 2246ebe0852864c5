"""Where moto differs from AWS in a way the pipeline depends on, patched to behave as AWS does.

* S3 event notifications: moto 5.2 builds the record without ``s3.object.versionId`` and
  ``s3.object.sequencer``. AWS always sends ``sequencer`` for object-created events and
  ``versionId`` when the bucket is versioned; the submit path derives a run's id from them.
* Batch SubmitJob: moto submits from a deregistered (INACTIVE) job definition revision. AWS refuses
  it with a ClientException — which is what happens to a submission that names a revision
  CloudFormation deregistered when a deploy replaced the job definition. (AWS does not document the
  message; the code depends only on the error code.)
* DynamoDB streams: on every write, moto 5.2 "invokes" every event source mapping of the table's stream, enabled
  or not (a no-op without Docker), then empties the shard, so GetRecords finds nothing. On AWS a disabled mapping
  reads nothing and the records stay for 24 hours: a disabled mapping is skipped here, and the shard keeps its
  records (the emulator's mapping reads them with GetRecords: ``stream_source``).
* EventBridge targets: moto 5.2 delivers an event to an SQS target through its default input template, which drops
  ``account`` and adds nothing AWS adds; and a rule with an SNS target makes the whole PutEvents call fail
  (NotImplementedError). AWS delivers the event itself to a target without Input/InputPath/InputTransformer, and
  publishes to an SNS target (the InputTransformer's output as the message). Both are done so here; the rest of
  moto's target handling is unchanged.
* CloudFormation's ``AWS::NoValue`` in a list (``!If [Condition, item, !Ref AWS::NoValue]`` among a policy's
  statements): CloudFormation removes the element; moto 5.2 keeps a null there, which KMS then refuses to parse as a
  key policy (and a queue or topic policy would hold). The element is removed, as CloudFormation does.

``apply`` patches moto in *this* process: in-process ``mock_aws`` and a moto server started in this
process (``ThreadedMotoServer``); a moto server in another process is unchanged.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

_sequence = itertools.count(time.time_ns())
# Where a patched moto function keeps the original it wraps: a function that has it is not patched again,
# and the original can be put back (the local job runner's patches use it too, see moto_batch_patches).
ORIGINAL_ATTRIBUTE = "_emulator_original"
_TARGETS_LOCK = threading.Lock()


def apply() -> None:
    """Idempotent. Does nothing when moto is not importable."""
    _add_version_and_sequencer_to_s3_events()
    _refuse_inactive_job_definitions()
    _disabled_stream_mappings_read_nothing()
    _event_targets_as_aws_delivers()
    _no_value_leaves_lists()


def _disabled_stream_mappings_read_nothing() -> None:
    try:
        from moto.dynamodb.models.table import StreamShard
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = StreamShard.add
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def add_for_enabled_mappings(self: Any, old: Any, new: Any) -> None:
        mappings = self.table.lambda_event_source_mappings
        enabled = {arn: esm for arn, esm in mappings.items() if getattr(esm, "enabled", True)}
        self.table.lambda_event_source_mappings = enabled
        try:
            current(self, old, new)
        finally:
            self.table.lambda_event_source_mappings = mappings

    setattr(add_for_enabled_mappings, ORIGINAL_ATTRIBUTE, current)
    StreamShard.add = add_for_enabled_mappings  # type: ignore[method-assign]


def _refuse_inactive_job_definitions() -> None:
    try:
        from moto.batch.exceptions import ClientException
        from moto.batch.models import BatchBackend
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = BatchBackend.submit_job
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def submit_job_of_an_active_definition(self: Any, job_name: str, job_def_id: str, *args: Any, **kwargs: Any) -> Any:
        definition = self.get_job_definition(job_def_id)
        if definition is not None and definition.status != "ACTIVE":
            raise ClientException(f"Job definition {definition.arn} is {definition.status}, not ACTIVE")
        return current(self, job_name, job_def_id, *args, **kwargs)

    setattr(submit_job_of_an_active_definition, ORIGINAL_ATTRIBUTE, current)
    BatchBackend.submit_job = submit_job_of_an_active_definition  # type: ignore[method-assign]


def _add_version_and_sequencer_to_s3_events() -> None:
    try:
        from moto.s3 import notifications
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = notifications._get_s3_event
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def s3_event_with_version_and_sequencer(
        event_name: str, bucket: Any, key: Any, notification_id: str
    ) -> dict[str, list[dict[str, Any]]]:
        event = current(event_name, bucket, key, notification_id)
        for record in event["Records"]:
            s3_object = record["s3"]["object"]
            version_id = getattr(key, "version_id", None)
            if version_id and version_id != "null":
                s3_object["versionId"] = version_id
            # AWS: a hex string; for one key a later event has a greater value once both are
            # left-padded with zeros to the same length. Fixed width keeps plain comparison valid.
            s3_object["sequencer"] = f"{next(_sequence):020X}"
        return event

    setattr(s3_event_with_version_and_sequencer, ORIGINAL_ATTRIBUTE, current)
    notifications._get_s3_event = s3_event_with_version_and_sequencer


def _event_targets_as_aws_delivers() -> None:
    try:
        from moto.events.models import Rule
        from moto.events.utils import EventTemplateParser
        from moto.sns.models import sns_backends
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = Rule.send_to_targets
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        event = {name: value for name, value in original_event.items() if name != "ingestion-time"}
        rest = []
        for target in self.targets:
            service, transformed = target["Arn"].split(":")[2], "InputTransformer" in target
            if service == "sns":
                transformer = target.get("InputTransformer", {})
                message: Any = (
                    EventTemplateParser.parse(
                        input_template=transformer.get("InputTemplate"),
                        input_paths_map=transformer.get("InputPathsMap", {}),
                        event=original_event,
                    )
                    if transformed
                    else event
                )
                text = message if isinstance(message, str) else json.dumps(message)
                account, region = target["Arn"].split(":")[4], target["Arn"].split(":")[3]
                sns_backends[account][region].publish(message=text, arn=target["Arn"])
            elif service == "sqs" and not (transformed or "Input" in target or "InputPath" in target):
                group = target.get("SqsParameters", {}).get("MessageGroupId")
                self._send_to_sqs_queue(target["Arn"].split(":")[-1], dict(event), group)
            else:
                rest.append(target)
        if rest:
            with _TARGETS_LOCK:
                kept, self.targets = self.targets, rest
                try:
                    current(self, original_event, transform_input)
                finally:
                    self.targets = kept

    setattr(send_to_targets, ORIGINAL_ATTRIBUTE, current)
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _no_value_leaves_lists() -> None:
    try:
        from moto.cloudformation import parsing
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = parsing.clean_json
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, list):
            cleaned = [clean_json(value, resources_map) for value in resource_json]
            # An intrinsic (a dict) that resolved to nothing is AWS::NoValue: CloudFormation drops the element.
            return [
                c
                for value, c in zip(resource_json, cleaned, strict=True)
                if not (c is None and isinstance(value, dict))
            ]
        return current(resource_json, resources_map)

    setattr(clean_json, ORIGINAL_ATTRIBUTE, current)
    parsing.clean_json = clean_json
