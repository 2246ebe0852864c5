"""`orchestrator runs find --key KEY`: which run, and which child of it, processed an uploaded object.

An upload of a plain workload is its own run, whose id is derived from the object (``ids.run_id_for``: bucket, key and
version id). An upload of a coalescing workload is a child of its batch's run: the item under that same id names the
run (``coalescedInto``) and the child's index (``coalescedIndex``), and the run records its children's fate (its
status, its children by status, its failed items). So the answer takes one HeadObject when no version is given (the
object's current version) and two GetItems. Invariant: read-only.
"""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.adapters.coalesced_keys import COALESCED_INDEX, COALESCED_INTO
from batch_orchestrator.adapters.run_items import ARRAY_ITEMS, FAILED_CHILDREN
from batch_orchestrator.array_items import parse_items
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source
from orchestrator_cli.commands.runs_item import read_run, runs_admin, workload_of
from orchestrator_cli.context import Context
from orchestrator_cli.errors import NotFound, from_aws, from_cause
from orchestrator_cli.render import fields, plain

FIND_HELP = """\
The object's current version is looked up (HeadObject) unless --version-id names one: each
version of a key is its own upload. A key of a coalescing workload (workloads.yaml's coalesce)
answers with its batch's run and its child index, the child's item in the run's manifest; a
key of any other workload with its own run.
"""


def add_find_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    find = commands.add_parser(
        "find",
        parents=parents,
        help="which run (and which child of it) processed an uploaded key",
        description="Find the run, and for a coalesced upload the child of it, that an uploaded object started.",
        epilog=FIND_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    find.add_argument("--key", required=True, metavar="KEY", help="the object's key, as stored (not URL-encoded)")
    find.add_argument("--version-id", metavar="VERSION", help="the object version (default: the current one)")
    find.add_argument("--bucket", metavar="BUCKET", help="the bucket (default: the stack's input bucket)")
    find.set_defaults(handler=find_run)


def _current_version(bucket: str, key: str) -> str | None:
    try:
        response = client("s3").head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise from_aws(exc, f"reading the current version of s3://{bucket}/{key}") from exc
    version: str | None = response.get("VersionId")
    return version if version and version != "null" else None


def _child_status(run: dict[str, Any], item: int) -> str:
    """What the run says of one of its items: FAILED (with its exit code) in its last failed attempt, else its run's
    status."""
    for child in run.get(FAILED_CHILDREN) or []:
        if int(child.get("item", -1)) == item:
            exit_code = child.get("exitCode")
            return "FAILED" + (f" (exit {exit_code})" if exit_code is not None else "") + " in the last failed attempt"
    status = str(run.get("status"))
    return status if status in ("SUCCEEDED", "FAILED") else f"{status} (as its run)"


def _child_job(run: dict[str, Any], item: int) -> str | None:
    """The current attempt's child job id of ``item`` (``<parent id>:<index>``), when the attempt runs it."""
    job_id = run.get("jobId")
    if not job_id:  # Batch sends no event for a submission: the id comes with the job's first one
        return f"of job {run.get('jobName')} (its id comes with Batch's first event)" if run.get("jobName") else None
    items = parse_items(str(run[ARRAY_ITEMS])) if run.get(ARRAY_ITEMS) else None
    if items is not None and item not in items:
        return None
    index = items.index(item) if items is not None else item
    return f"{job_id}:{index}" if int(run.get("arraySize") or 0) > 1 else str(job_id)


def find_run(ctx: Context, args: argparse.Namespace) -> int:
    deployment = ctx.deployment()
    bucket = args.bucket or deployment.output("InputBucketName")
    version = args.version_id or _current_version(bucket, args.key)
    key_run_id = run_id_for(S3Source(bucket=bucket, key=args.key, version_id=version))
    try:
        item = runs_admin(ctx).read_item(key_run_id)
    except RunStoreError as exc:
        raise from_cause(exc, f"reading {key_run_id}") from exc
    if item is None:
        raise NotFound(
            f"no run for s3://{bucket}/{args.key}" + (f" (version {version})" if version else ""),
            hint="not routed to a workload, not handled yet, or expired after RunRetentionDays",
        )
    if COALESCED_INTO not in item:
        document: dict[str, Any] = {"key": args.key, "versionId": version, "runId": key_run_id, "coalesced": False}
        document["status"] = item.get("status")
    else:
        run_id, index = str(item[COALESCED_INTO]), int(item[COALESCED_INDEX])
        run = read_run(ctx, run_id)
        document = {
            "key": args.key,
            "versionId": version,
            "runId": run_id,
            "coalesced": True,
            "workload": workload_of(run),
            "item": index,
            "arraySize": plain(run.get("arraySize")),
            "status": run.get("status"),
            "childStatus": _child_status(run, index),
            "childJobId": _child_job(run, index),
            "manifest": f"s3://{(run.get('source') or {}).get('bucket')}/{(run.get('source') or {}).get('key')}",
        }
    if ctx.out.json_mode:
        ctx.out.json(document)
        return 0
    ctx.out.line(f"s3://{bucket}/{args.key}" + (f" (version {version})" if version else ""))
    rows: list[tuple[str, Any]] = [("Run", document["runId"]), ("Run status", document["status"])]
    if document["coalesced"]:
        rows += [
            ("Coalesced", f"item {document['item']} of {document['arraySize']} in workload {document['workload']}"),
            ("Child", document["childJobId"] or "not submitted in the current attempt"),
            ("Child status", document["childStatus"]),
            ("Manifest", document["manifest"]),
        ]
    ctx.out.lines(fields(rows, indent=2))
    ctx.out.line(f"  `orchestrator runs show {document['runId']}` shows the run")
    return 0
