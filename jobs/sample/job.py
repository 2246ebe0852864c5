"""Sample AWS Batch job of Batch Orchestrator: checksum one uploaded object and write a JSON result.

The orchestrator passes the input only as environment variables (never on a command line):

    RUN_ID, RUN_ATTEMPT, TRIGGER ("s3", "schedule" or "request")
    INPUT_BUCKET, INPUT_KEY, INPUT_VERSION_ID (optional)    for uploads
    SCHEDULE_NAME, SCHEDULED_TIME                           for schedule firings
    REQUEST_KEY, REQUEST_SOURCE, REQUEST_PAYLOAD (optional) for runs other applications request
    OUTPUT_BUCKET, OUTPUT_PREFIX                            set by the job definition
    SAMPLE_MEMORY_MIB (optional)                            set by a workload's environment (below)
    AWS_BATCH_JOB_ARRAY_INDEX, AWS_BATCH_JOB_ATTEMPT        set by AWS Batch (the index in array children only)
    ARRAY_ITEMS (optional)                                  set by the orchestrator on a child-only retry
    SAMPLE_FAIL_INDEXES, SAMPLE_FAIL_EXIT_CODE,
    SAMPLE_FAIL_UNTIL_ATTEMPT,
    SAMPLE_FAIL_UNTIL_RUN_ATTEMPT (all optional)            make chosen array items fail (below)

The result goes to ``s3://$OUTPUT_BUCKET/$OUTPUT_PREFIX$RUN_ID/result.json`` (an array item's to
``.../$RUN_ID/<item>/result.json``, with ``arrayItem`` and its ``arrayIndex``): the input's SHA-256, its size
in bytes and its number of lines (newline characters, plus one for a last line without one). Every attempt of
a run (of an item) writes the same key, so a retried run leaves one result.

A child of a coalesced run (docs/workloads.md, "Burst coalescing") gets the batch's manifest as its input: it
processes the upload its item names there (``coalesced_upload``), and its result says which (``input``, with the
``manifest`` beside it).

The item an array child processes (docs/workloads.md, "Arrays"): ``ARRAY_ITEMS[AWS_BATCH_JOB_ARRAY_INDEX]``
when ARRAY_ITEMS is set (a child-only retry: the failed items, as ranges like "3,7-9,42"), else
AWS_BATCH_JOB_ARRAY_INDEX itself; a single job has no AWS_BATCH_JOB_ARRAY_INDEX and processes index 0.

Exit codes (sysexits.h; the orchestrator retries the codes in its RetryExitCodes parameter,
75 by default):

    0   result written
    75  temporary failure (throttling, S3 unavailable, network): worth retrying
    66  the input object (version) does not exist any more
    77  access denied
    78  configuration missing (an environment variable)
    1   anything else

Demo directive: an input whose FIRST LINE is ``#exit <code>`` makes the job exit with that code
before writing anything; ``#exit <code> until attempt <n>`` does so only while RUN_ATTEMPT < n. A requested run
takes the same directive from its payload's ``directive`` field.
So ``#exit 75 until attempt 2`` fails once (retried) and then succeeds, and ``#exit 3`` fails
for good (the failure canary of ``orchestrator smoke``, ``smoke-fail-exit-N.txt``, starts with
``#exit N``). A first line ``#sleep <seconds>`` makes the job sleep first (to try the job timeout).

Array items: SAMPLE_FAIL_INDEXES="3,7" makes the children whose ORIGINAL items are 3 and 7 exit with
SAMPLE_FAIL_EXIT_CODE (1 by default) before writing anything, on every attempt unless limited: with
SAMPLE_FAIL_UNTIL_ATTEMPT=<n> only while AWS_BATCH_JOB_ATTEMPT (Batch's attempt inside one job) < n, so a job
definition's retryStrategy retries them into success; with SAMPLE_FAIL_UNTIL_RUN_ATTEMPT=<m> only while
RUN_ATTEMPT (the orchestrator's attempt) <= m, so the orchestrator's child-only retry runs them into success.
Both given: both must hold. The job decides from its own item, as an array child does.

Pipeline steps (docs/pipelines.md): with STEP_OUTPUT_PREFIX set, the result goes under it
(``$STEP_OUTPUT_PREFIX[<item>/]result.json``) and carries the step's name. A step told STEP_MANIFEST_KEY (its next
step's array is its manifest) also writes the input's lines, one item per non-empty line not starting with "#", as
that manifest: a preprocess step. A child told MANIFEST_KEY (its array is its previous step's manifest, or the
listing of an upload's directory) records its item's text from it (``manifestItem``). A single-job step after another
(PREVIOUS_STEP_OUTPUT_PREFIX) records the results its previous step left (``previousResults``: how many result.json
objects, and their keys): an aggregate.

Memory: with SAMPLE_MEMORY_MIB=<n> the job fills n MiB (every page touched, so they are resident) and
holds them about a second before it writes its result, to try a workload's memory ladder: with 700 it
is killed out of memory on a 512 MiB step and succeeds on a 1024 MiB one (the interpreter and boto3
take some 60 MiB more). Unset or 0: nothing extra.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

EX_OK = 0
EX_SOFTWARE = 1
EX_NOINPUT = 66
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78

CHUNK_BYTES = 1024 * 1024
MIB = 1024 * 1024
MEMORY_HOLD_SECONDS = 1.0
MAX_SAMPLE_MEMORY_MIB = 16384
FIRST_LINE_LIMIT = 200
# Where the orchestrator writes a coalesced batch's manifest (batch_orchestrator.workloads.COALESCED_MANIFEST_PREFIX;
# the job cannot import the layer, and tests/unit/test_sample_job.py keeps the two equal).
COALESCED_MANIFEST_PREFIX = "batch-orchestrator/coalesced/"
_EXIT_DIRECTIVE = re.compile(r"#exit\s+(\d{1,3})(?:\s+until\s+attempt\s+(\d{1,2}))?\s*")
_SLEEP_DIRECTIVE = re.compile(r"#sleep\s+(\d{1,5})\s*")
_TEMPORARY_CODES = frozenset(
    {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError"}
)
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404"})
_DENIED_CODES = frozenset({"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


class JobError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def log(message: str, **fields: Any) -> None:
    """One JSON line per event on stdout (Batch sends it to CloudWatch Logs)."""
    print(json.dumps({"message": message, **fields}, ensure_ascii=False), flush=True)


def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise JobError(f"environment variable {name} is not set", EX_CONFIG)
    return value


def directive_exit_code(first_line: str, attempt: int) -> int | None:
    """The exit code an ``#exit`` first line asks for at this attempt, or None."""
    match = _EXIT_DIRECTIVE.fullmatch(first_line.strip())
    if match is None:
        return None
    code, until = int(match[1]), match[2]
    if code == 0 or (until is not None and attempt >= int(until)):
        return None
    return min(code, 255)


def request_payload(env: Mapping[str, str]) -> dict[str, Any]:
    """REQUEST_PAYLOAD, the JSON object a requested run's request carried ({} without one)."""
    text = env.get("REQUEST_PAYLOAD", "")
    if not text:
        return {}
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise JobError(f"REQUEST_PAYLOAD is not JSON: {exc}", EX_CONFIG) from exc
    if not isinstance(payload, dict):
        raise JobError("REQUEST_PAYLOAD is not a JSON object", EX_CONFIG)
    return payload


def directive_sleep_seconds(first_line: str) -> int:
    match = _SLEEP_DIRECTIVE.fullmatch(first_line.strip())
    return int(match[1]) if match else 0


def array_index(env: Mapping[str, str]) -> int | None:
    """AWS_BATCH_JOB_ARRAY_INDEX (set in array children only); a value that is not an index is a configuration error."""
    text = env.get("AWS_BATCH_JOB_ARRAY_INDEX", "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise JobError(f"AWS_BATCH_JOB_ARRAY_INDEX is not an array index: {text!r}", EX_CONFIG)
    return int(text)


def decode_items(text: str) -> list[int]:
    """ARRAY_ITEMS ("3,7-9,42") as the list of items, in the order the children get them (the docs' snippet)."""
    items: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        items.extend(range(int(low), int(high or low) + 1))
    return items


def array_item(env: Mapping[str, str], index: int | None) -> int | None:
    """The original item this job processes (see the module docstring); None for a job of no array at all."""
    text = env.get("ARRAY_ITEMS", "").strip()
    if not text:
        return index
    try:
        items = decode_items(text)
    except ValueError:
        raise JobError(f"ARRAY_ITEMS is not a list of items and ranges: {text!r}", EX_CONFIG) from None
    position = index if index is not None else 0
    if position >= len(items):
        raise JobError(f"AWS_BATCH_JOB_ARRAY_INDEX {position} is past the {len(items)} items of ARRAY_ITEMS", EX_CONFIG)
    return items[position]


def _whole_numbers(env: Mapping[str, str], name: str, default: str) -> list[int]:
    text = env.get(name, "").strip() or default
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise JobError(f"{name} must be whole numbers separated by commas: {text!r}", EX_CONFIG)
    return [int(part) for part in parts]


def array_fail_exit_code(env: Mapping[str, str], item: int | None) -> int | None:
    """The exit code SAMPLE_FAIL_INDEXES asks of the job of this original item at this attempt, or None
    (``item`` None, a job of no array, is item 0, as a single job of an array is)."""
    if not env.get("SAMPLE_FAIL_INDEXES", "").strip():
        return None
    (code,) = _whole_numbers(env, "SAMPLE_FAIL_EXIT_CODE", str(EX_SOFTWARE))
    (until,) = _whole_numbers(env, "SAMPLE_FAIL_UNTIL_ATTEMPT", "0")
    (batch_attempt,) = _whole_numbers(env, "AWS_BATCH_JOB_ATTEMPT", "1")
    (until_run,) = _whole_numbers(env, "SAMPLE_FAIL_UNTIL_RUN_ATTEMPT", "0")
    (run_attempt,) = _whole_numbers(env, "RUN_ATTEMPT", "1")
    if (item or 0) not in _whole_numbers(env, "SAMPLE_FAIL_INDEXES", "") or code == 0:
        return None
    if (until and batch_attempt >= until) or (until_run and run_attempt > until_run):
        return None
    return min(code, 255)


def sample_memory_mib(env: Mapping[str, str]) -> int:
    """SAMPLE_MEMORY_MIB as a number of MiB (0 when unset); a value that is not one is a configuration error."""
    text = env.get("SAMPLE_MEMORY_MIB", "").strip() or "0"
    if not text.isdigit() or int(text) > MAX_SAMPLE_MEMORY_MIB:
        raise JobError(
            f"SAMPLE_MEMORY_MIB must be a whole number of MiB up to {MAX_SAMPLE_MEMORY_MIB}: {text!r}", EX_CONFIG
        )
    return int(text)


def use_memory(mib: int, *, hold_seconds: float = MEMORY_HOLD_SECONDS) -> None:
    """Fill ``mib`` MiB one MiB at a time (each a new, fully written block, so resident) and hold it a while."""
    if mib <= 0:
        return
    log("using memory as SAMPLE_MEMORY_MIB asks", mib=mib, seconds=hold_seconds)
    blocks = [bytes([index % 251 + 1]) * MIB for index in range(mib)]
    time.sleep(hold_seconds)
    log("memory released", mib=len(blocks))
    del blocks


def error_exit_code(exc: BaseException) -> int:
    """How an AWS error ends the job: temporary failures get EX_TEMPFAIL so they are retried."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _TEMPORARY_CODES or status >= 500:
            return EX_TEMPFAIL
        if code in _MISSING_CODES:
            return EX_NOINPUT
        if code in _DENIED_CODES:
            return EX_NOPERM
        return EX_SOFTWARE
    if isinstance(exc, BotoCoreError):  # connection errors, timeouts
        return EX_TEMPFAIL
    return EX_SOFTWARE


def summarise(stream: Any) -> tuple[dict[str, Any], str]:
    """SHA-256, bytes and lines of a streaming body, read in chunks; also its first line (decoded)."""
    digest = hashlib.sha256()
    size = lines = 0
    head = b""
    last = b""
    for chunk in stream.iter_chunks(CHUNK_BYTES):
        if not chunk:
            continue
        digest.update(chunk)
        size += len(chunk)
        lines += chunk.count(b"\n")
        if len(head) < FIRST_LINE_LIMIT and b"\n" not in head:
            head += chunk[: FIRST_LINE_LIMIT - len(head)]
        last = chunk[-1:]
    if size and last != b"\n":
        lines += 1
    first_line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return {"sha256": digest.hexdigest(), "bytes": size, "lines": lines}, first_line


def manifest_items(body: bytes) -> list[str]:
    """A manifest's items: a JSON array's elements as text, else one per non-empty line (as counted)."""
    text = body.decode("utf-8")
    if text.lstrip().startswith("["):
        return [item if isinstance(item, str) else json.dumps(item) for item in json.loads(text)]
    return [line for line in text.splitlines() if line.strip()]


def step_work(env: Mapping[str, str], s3: Any, bucket: str, item: int | None, result: dict[str, Any]) -> None:
    """What a pipeline step of the sample does beyond its result (see the module docstring); a child of an array of a
    manifest the orchestrator keeps (MANIFEST_KEY) records its item."""
    if env.get("MANIFEST_KEY"):  # a previous step's manifest, or the listing of an upload's directory
        items = manifest_items(s3.get_object(Bucket=bucket, Key=env["MANIFEST_KEY"])["Body"].read())
        position = item or 0
        if position >= len(items):
            raise JobError(f"item {position} is past the {len(items)} items of {env['MANIFEST_KEY']}", EX_CONFIG)
        result["manifestItem"] = items[position]
    if not env.get("STEP_NAME"):
        return
    result["step"] = env["STEP_NAME"]
    if env.get("STEP_MANIFEST_KEY") and env.get("INPUT_KEY"):
        body = s3.get_object(Bucket=required(env, "INPUT_BUCKET"), Key=env["INPUT_KEY"])["Body"].read(CHUNK_BYTES)
        lines = [line for line in manifest_items(body) if not line.lstrip().startswith("#")]
        s3.put_object(Bucket=bucket, Key=env["STEP_MANIFEST_KEY"], Body="".join(f"{line}\n" for line in lines).encode())
        log("manifest written", key=env["STEP_MANIFEST_KEY"], items=len(lines))
        result["manifestItems"] = len(lines)
    previous = env.get("PREVIOUS_STEP_OUTPUT_PREFIX")
    if previous and item is None:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=previous)
        keys = [
            entry["Key"] for page in pages for entry in page.get("Contents", []) if entry["Key"].endswith("result.json")
        ]
        result["previousResults"] = {"count": len(keys), "keys": sorted(keys)}


def coalesced_upload(manifest: bytes, item: int | None) -> dict[str, Any]:
    """Item ``item`` (0 for a single job) of a coalesced run's manifest: the upload this child processes
    (docs/workloads.md, "Burst coalescing": a JSON array of {bucket, key, versionId, runId})."""
    try:
        uploads = json.loads(manifest)
        upload = uploads[item or 0]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise JobError(f"item {item or 0} of the coalesced manifest is not an upload: {exc}", EX_CONFIG) from exc
    if not isinstance(upload, dict) or "bucket" not in upload or "key" not in upload:
        raise JobError(f"item {item or 0} of the coalesced manifest is not an upload: {upload!r}", EX_CONFIG)
    return upload


def run(env: Mapping[str, str], s3: Any) -> dict[str, Any]:
    run_id = required(env, "RUN_ID")
    attempt = int(env.get("RUN_ATTEMPT", "1") or "1")
    trigger = env.get("TRIGGER", "s3")
    output_bucket = required(env, "OUTPUT_BUCKET")
    output_prefix = env.get("OUTPUT_PREFIX", "")
    memory_mib = sample_memory_mib(env)
    index = array_index(env)
    item = array_item(env, index)
    result: dict[str, Any] = {"runId": run_id, "attempt": attempt, "trigger": trigger}
    if index is not None:
        result["arrayIndex"] = index
    if item is not None:
        result["arrayItem"] = item

    if trigger == "schedule":
        result["schedule"] = {"name": env.get("SCHEDULE_NAME"), "scheduledTime": env.get("SCHEDULED_TIME")}
    elif trigger == "request":
        payload = request_payload(env)
        result["request"] = {"key": env.get("REQUEST_KEY"), "source": env.get("REQUEST_SOURCE"), "payload": payload}
        code = directive_exit_code(str(payload.get("directive", "")), attempt)
        if code is not None:
            raise JobError(f"the request asks for exit code {code} at attempt {attempt}", code)
    else:
        bucket, key = required(env, "INPUT_BUCKET"), required(env, "INPUT_KEY")
        request = {"Bucket": bucket, "Key": key}
        if env.get("INPUT_VERSION_ID"):
            request["VersionId"] = env["INPUT_VERSION_ID"]
        log("reading input", bucket=bucket, key=key, version_id=env.get("INPUT_VERSION_ID"), attempt=attempt)
        response = s3.get_object(**request)
        if key.startswith(COALESCED_MANIFEST_PREFIX):  # a coalesced run's child: its upload is the manifest's item
            upload = coalesced_upload(response["Body"].read(), item)
            result["manifest"] = {"bucket": bucket, "key": key}
            bucket, key = str(upload["bucket"]), str(upload["key"])
            request = {"Bucket": bucket, "Key": key}
            if upload.get("versionId"):
                request["VersionId"] = str(upload["versionId"])
            log("reading the coalesced upload", bucket=bucket, key=key, item=item or 0)
            response = s3.get_object(**request)
        summary, first_line = summarise(response["Body"])
        seconds = directive_sleep_seconds(first_line)
        if seconds:
            log("sleeping as the input asks", seconds=seconds)
            time.sleep(seconds)
        code = directive_exit_code(first_line, attempt)
        if code is not None:
            raise JobError(f"the input asks for exit code {code} at attempt {attempt}", code)
        result["input"] = {"bucket": bucket, "key": key, "versionId": response.get("VersionId")}
        result.update(summary)

    code = array_fail_exit_code(env, item)
    if code is not None:
        raise JobError(
            f"SAMPLE_FAIL_INDEXES asks array child {index or 0} for exit code {code} (item {item or 0})", code
        )
    step_work(env, s3, output_bucket, item, result)
    use_memory(memory_mib)
    result["finishedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = env.get("STEP_OUTPUT_PREFIX") or f"{output_prefix}{run_id}/"
    output_key = f"{base}{'' if item is None else f'{item}/'}result.json"
    s3.put_object(
        Bucket=output_bucket,
        Key=output_key,
        Body=json.dumps(result, ensure_ascii=False, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
    log("result written", bucket=output_bucket, key=output_key, **{k: result.get(k) for k in ("bytes", "lines")})
    return result


def main() -> int:
    s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=30))
    try:
        run(os.environ, s3)
    except JobError as exc:
        log("job failed", error=str(exc), exit_code=exc.exit_code)
        return exc.exit_code
    except (ClientError, BotoCoreError) as exc:
        code = error_exit_code(exc)
        log("job failed", error=f"{type(exc).__name__}: {exc}", exit_code=code)
        return code
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
