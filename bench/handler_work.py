"""Handler work per upload and per state-change event, without the emulator.

The handlers run in a process laid out like Lambda (``bench.lambda_sandbox``, tracing on), on 1,000
items: submit_jobs gets 100 SQS batches of 10 new uploads, track_jobs 1,000 state-change events
(200 jobs x PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED). The AWS calls are answered at
botocore's HTTP boundary with canned responses (see ``_child_handler_work.py``): what is measured
is the functions' own CPU work per item, including botocore's request building, signing and
parsing, Powertools and the X-Ray SDK, and excluding network, AWS and any emulator. The canned
responses and the event shapes come from the stack of template.yaml in moto (one real upload and
its job), so the handlers parse what they would parse on AWS.
"""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.common import (
    REGION,
    all_jobs,
    deliver_all,
    drain_test_event,
    median,
    moto_stack,
    progress,
    section_main,
    upload,
)
from bench.lambda_sandbox import XRayDaemon, build_sandbox

CHILD = Path(__file__).resolve().parent / "_child_handler_work.py"
ITEMS = 1000
LOG_STREAM = "batch-orchestrator/default/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
JSON_10 = "application/x-amz-json-1.0"


def run(quick: bool) -> dict[str, Any]:
    repeats = 3 if quick else 7
    inputs = _inputs_from_the_stack()
    figures: dict[str, Any] = {"items": ITEMS, "repeats": repeats}
    with tempfile.TemporaryDirectory(prefix="bench-work-") as tmp, XRayDaemon() as daemon:
        sandbox = build_sandbox(Path(tmp))
        for logical_id, label in (("SubmitJobsFunction", "per_upload"), ("TrackJobsFunction", "per_event")):
            progress(f"handler work: {logical_id}, {repeats} x {ITEMS} items")
            request = {
                "function_name": inputs["names"][logical_id],
                "events": inputs["events"][logical_id],
                "items": ITEMS,
                "repeats": repeats,
                "responses": inputs["responses"],
                "layer": str(sandbox.layer),
                "runtime": str(sandbox.runtime),
            }
            request_path, result_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
            request_path.write_text(json.dumps(request), encoding="utf-8")
            environment = sandbox.environment(
                logical_id,
                inputs["environments"][logical_id],
                function_name=inputs["names"][logical_id],
                daemon_port=daemon.port,
            )
            segments_before = daemon.segments
            completed = subprocess.run(  # noqa: S603 - our own interpreter and script
                sandbox.command(CHILD, str(request_path), str(result_path)),
                env=environment,
                stdout=subprocess.DEVNULL,  # the handlers' logs and metrics
                stderr=subprocess.PIPE,
                text=True,
                timeout=900,
                check=False,
            )
            if completed.returncode != 0:
                raise RuntimeError(f"handler work of {logical_id} failed:\n{completed.stderr}")
            result = json.loads(result_path.read_text(encoding="utf-8"))
            figures[label] = {
                "function": logical_id,
                "median_us": round(median(result["wall_us"])),
                "median_cpu_us": round(median(result["cpu_us"])),
                "runs_us": [round(value) for value in result["wall_us"]],
                "aws_calls_per_item": {name: round(count, 3) for name, count in result["calls_per_item"].items()},
                "profile_shares_percent": result["profile_shares"],
                "xray_segments_received": daemon.segments - segments_before,
            }
    figures["method"] = (
        "Lambda layout with tracing on; AWS answered by canned responses at botocore's before-send "
        "(no network, no emulator); median over repetitions of 1,000 items after one warm-up invocation"
    )
    return figures


def _inputs_from_the_stack() -> dict[str, Any]:
    """Environments, event shapes and canned responses, from one real upload on the stack in moto."""
    from emulator.batch_event_builder import attempt_entry, job_state_change

    with moto_stack() as stack:
        drain_test_event(stack)
        upload(stack, "incoming/bench/work-template.csv")
        (delivery,) = deliver_all(stack)
        (job,) = all_jobs(stack)
        raw_run = stack.client("dynamodb").get_item(
            TableName=stack.outputs["RunsTableName"], Key={"runId": {"S": job["tags"]["batch-orchestrator:run-id"]}}
        )["Item"]
        environments = {
            logical_id: stack.function_environment(logical_id)
            for logical_id in ("SubmitJobsFunction", "TrackJobsFunction")
        }
        names = {logical_id: stack.function_name(logical_id) for logical_id in environments}
        sqs_template = delivery.event
        events_by_status = {
            status: job_state_change(job, status, region=REGION, account=stack.account_id)
            for status in ("PENDING", "RUNNABLE", "STARTING", "RUNNING")
        }
        events_by_status["SUCCEEDED"] = job_state_change(
            job,
            "SUCCEEDED",
            region=REGION,
            account=stack.account_id,
            exit_code=0,
            attempts=[attempt_entry(exit_code=0, log_stream_name=LOG_STREAM)],
            log_stream_name=LOG_STREAM,
        )
    responses = {
        "PutItem": {"status": 200, "content_type": JSON_10, "body": "{}"},
        "UpdateItem": {"status": 200, "content_type": JSON_10, "body": json.dumps({"Attributes": raw_run})},
        "SubmitJob": {
            "status": 200,
            "content_type": "application/json",
            "body": json.dumps({"jobArn": job["jobArn"], "jobName": job["jobName"], "jobId": job["jobId"]}),
        },
    }
    return {
        "environments": environments,
        "names": names,
        "responses": responses,
        "events": {
            "SubmitJobsFunction": _upload_batches(sqs_template),
            "TrackJobsFunction": _state_changes(events_by_status),
        },
    }


def _upload_batches(template: dict[str, Any]) -> list[dict[str, Any]]:
    """100 SQS events of 10 records, each the S3 notification of a new object version."""
    record = template["Records"][0]
    batches = []
    for batch in range(ITEMS // 10):
        records = []
        for index in range(10):
            item = copy.deepcopy(record)
            body = json.loads(item["body"])
            s3 = body["Records"][0]["s3"]
            s3["object"]["key"] = f"incoming/bench/work-{batch:03d}-{index}.csv"
            s3["object"]["versionId"] = uuid.uuid4().hex
            item["body"] = json.dumps(body)
            item["messageId"] = str(uuid.uuid4())
            records.append(item)
        batches.append({"Records": records})
    return batches


def _state_changes(by_status: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """1,000 events: 200 jobs, each PENDING → RUNNABLE → STARTING → RUNNING → SUCCEEDED."""
    events = []
    for job in range(ITEMS // len(by_status)):
        run_id = f"s3-{job:024x}"
        job_id = str(uuid.uuid4())
        for template in by_status.values():
            event = copy.deepcopy(template)
            detail = event["detail"]
            detail["jobId"] = job_id
            detail["jobArn"] = detail["jobArn"].rsplit("/", 1)[0] + "/" + job_id
            detail["jobName"] = f"{run_id}-a1-work_{job}_csv"
            detail["tags"] = {"batch-orchestrator:run-id": run_id, "batch-orchestrator:attempt": "1"}
            event["resources"] = [detail["jobArn"]]
            events.append(event)
    return events


if __name__ == "__main__":
    section_main(run)
