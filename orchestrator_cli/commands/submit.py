"""`orchestrator submit s3://bucket/key`: a manual run, through the same path as an upload.

The CLI does not submit anything to Batch itself: it puts on the SubmitQueue the message S3 would
have sent for the object (an ObjectCreated notification, key URL-encoded as S3 does), so the submit
function claims and submits it exactly as it does an upload. The run id is the one that function
will derive from the message, so it can be printed before anything runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source
from batch_orchestrator.timeutil import iso
from orchestrator_cli.context import Context
from orchestrator_cli.errors import NotFound, Refused, error_code, from_aws, from_cause
from orchestrator_cli.parsing import S3Url, parse_s3_url

CONFIGURATION_ID = "orchestrator-cli-manual-submit"


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "submit",
        parents=parents,
        help="start a run for an object already in the input bucket",
        description=(
            "Start a run for an S3 object: HeadObject finds its version, then an S3-notification-shaped message "
            "goes on the SubmitQueue and the submit function handles it like an upload. Prints the run id. "
            "An object version that already has a run is refused: retry that run instead."
        ),
    )
    parser.add_argument("url", metavar="s3://BUCKET/KEY", help="the object (key as stored, not URL-encoded)")
    parser.add_argument("--version-id", help="a specific object version (default: the current one)")
    parser.set_defaults(handler=submit_object)


def notification_body(source: S3Source, *, region: str, etag: str | None, principal: str | None) -> str:
    """An ObjectCreated notification in the shape S3 sends to SQS (event version 2.1).

    S3 URL-encodes the key the way HTML forms are encoded: ``+`` for a space, ``%XX`` for other
    reserved and non-ASCII bytes; ``/`` stays as it is.
    """
    obj: dict[str, Any] = {"key": quote_plus(source.key, safe="/"), "size": source.size or 0}
    if etag:
        obj["eTag"] = etag
    if source.version_id:
        obj["versionId"] = source.version_id
    if source.sequencer:
        obj["sequencer"] = source.sequencer
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": source.event_time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": principal or "orchestrator-cli"},
        "requestParameters": {"sourceIPAddress": "orchestrator-cli"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": CONFIGURATION_ID,
            "bucket": {"name": source.bucket, "arn": f"arn:aws:s3:::{source.bucket}"},
            "object": obj,
        },
    }
    return json.dumps({"Records": [record]})


def manual_sequencer(last_modified: datetime | None, etag: str | None) -> str:
    """For an unversioned bucket: S3's sequencer is not readable afterwards, so derive one from the
    object's write (time and ETag). Submitting the same object twice yields one run; a new write, a new run."""
    millis = int(last_modified.timestamp() * 1000) if last_modified else 0
    digest = hashlib.sha256((etag or "").encode()).hexdigest()[:8].upper()
    return f"{millis:016X}{digest}"


def submit_object(ctx: Context, args: argparse.Namespace) -> int:
    url = parse_s3_url(args.url)
    deployment = ctx.deployment()
    input_bucket = deployment.output("InputBucketName")
    prefix = deployment.outputs.get("InputPrefix", "")
    queue_url = deployment.output("SubmitQueueUrl")
    if url.bucket != input_bucket:
        raise Refused(
            f"{url} is not in the stack's input bucket {input_bucket}",
            hint="the jobs may read only the input bucket; copy the object there (under the input prefix)",
        )
    # With workloads beyond the default, routing (the submit function's, by the most specific key rule)
    # decides, and a key outside InputPrefix may well belong to one; the CLI does not hold the table.
    routed = _has_other_workloads(deployment.outputs)
    if not routed and not url.key.startswith(prefix):
        raise Refused(
            f"{url} is outside the input prefix {prefix!r}: the submit function would skip it",
            hint=f"copy it under s3://{input_bucket}/{prefix}",
        )

    head = _head_object(ctx, url, args.version_id)
    etag = str(head.get("ETag", "")).strip('"') or None
    version_id = head.get("VersionId")
    version_id = version_id if version_id and version_id != "null" else None
    size = int(head.get("ContentLength", 0))
    if url.key.endswith("/") and not size:
        raise Refused(f"{url} is a folder placeholder (empty, key ends in /): the submit function would skip it")
    source = S3Source(
        bucket=url.bucket,
        key=url.key,
        version_id=version_id,
        sequencer=None if version_id else manual_sequencer(head.get("LastModified"), etag),
        size=size,
        event_time=iso(ctx.now),
    )
    run_id = run_id_for(source)
    try:
        existing = deployment.runs_admin().read_item(run_id)
    except RunStoreError as exc:
        raise from_cause(exc, f"reading run {run_id}") from exc
    if existing is not None:
        raise Refused(
            f"{url}{' version ' + version_id if version_id else ''} already has run {run_id} "
            f"({existing.get('status')} at attempt {existing.get('attempt')})",
            hint=f"`orchestrator runs retry {run_id}` starts a new attempt of it",
        )

    body = notification_body(source, region=ctx.aws.region, etag=etag, principal=ctx.aws.caller_arn())
    sent = ctx.aws.call(
        "sending the notification to the SubmitQueue",
        ctx.aws.client("sqs").send_message,
        QueueUrl=queue_url,
        MessageBody=body,
    )
    result = {
        "runId": run_id,
        "bucket": url.bucket,
        "key": url.key,
        "versionId": version_id,
        "sequencer": source.sequencer,
        "size": size,
        "messageId": sent.get("MessageId"),
        "queueUrl": queue_url,
    }
    if ctx.out.json_mode:
        ctx.out.json(result)
        return 0
    version = f" (version {version_id})" if version_id else ""
    ctx.out.line(f"Queued {url}{version} on the SubmitQueue (message {sent.get('MessageId')}).")
    ctx.out.line(f"Run id: {run_id}")
    ctx.out.line(f"Follow it with: orchestrator runs show {run_id}")
    if routed:
        ctx.out.line(
            "The submit function routes it to a workload; a key no workload takes starts no run "
            "(its log says 'upload unmatched', metric UploadsUnmatched)."
        )
    return 0


def _has_other_workloads(outputs: dict[str, str]) -> bool:
    """Whether the stack was rendered with workloads.yaml entries (then it has a WorkloadJobDefinitionPrefix output)."""
    return "WorkloadJobDefinitionPrefix" in outputs


def _head_object(ctx: Context, url: S3Url, version_id: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {"Bucket": url.bucket, "Key": url.key}
    if version_id:
        request["VersionId"] = version_id
    try:
        return dict(ctx.aws.client("s3").head_object(**request))
    except ClientError as exc:
        # HeadObject has no body: a missing object, version or bucket is a bare 404 (400 for a bad version id).
        missing = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "NoSuchBucket"} | ({"400"} if version_id else set())
        if error_code(exc) in missing:
            what = f"{url} version {version_id}" if version_id else str(url)
            raise NotFound(f"no object {what}") from exc
        raise from_aws(exc, f"reading {url}") from exc
    except BotoCoreError as exc:
        raise from_aws(exc, f"reading {url}") from exc
