"""Cold start of each handler, against the same for a plain-boto3 handler making the same AWS calls.

A moto server on loopback (in this process) holds the stack of template.yaml. For every function,
fresh interpreters laid out like Lambda (``bench.lambda_sandbox``: the `sam build` output, tracing
on as with ``Tracing: Active``) import the handler and serve its first event against the server:

* ours:     functions/<name>/app.py with the CommonLayer, as built;
* baseline: bench/baseline/<name>.py, plain boto3 with module-level clients, same AWS calls;
* and a bare ``import boto3`` in the same layout.

Processes are interleaved in a shuffled order, round after round, with each function's two kinds
(ours, baseline) back to back in a drawn order, so a slow moment of the machine hits a pair alike; one
warm-up round (disk cache) is not counted. The ratio is the median over rounds of ours / baseline
within a round (``ratio_of_medians``, the median of ours over the median of the baseline, is kept
beside it: it moved by up to 0.15 between runs of one commit on a shared two-core machine). Wall-clock
time is what a user waits for; CPU time of the process is shown too because it is much less
sensitive to other load on the machine.

First events: submit_jobs gets one SQS record of a new upload (one claim, one SubmitJob);
submit_scheduled one firing; track_jobs a RUNNING event of a submitted job (one UpdateItem);
the watchdog its schedule event with nothing to repair (one Query per watched status).
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    FUNCTIONS,
    REGION,
    all_jobs,
    deliver_all,
    drain_test_event,
    fake_aws_environment,
    load_event,
    median,
    progress,
    section_main,
    upload,
)
from bench.lambda_sandbox import Sandbox, XRayDaemon, build_sandbox

CHILD = Path(__file__).resolve().parent / "_child_cold_start.py"
CHILD_TIMEOUT_SECONDS = 120


@dataclass
class Kind:
    label: str
    function: str | None  # logical id; None for the bare import
    task: str  # the sandbox task root: a logical id, or "baseline"
    module: str
    make_event: Callable[[int], dict[str, Any]] | None
    accept: Callable[[Any], bool]
    samples: list[dict[str, Any]]
    extra_environment: dict[str, str] | None = None


def run(quick: bool) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    from emulator import deploy_stack
    from emulator.batch_event_builder import job_state_change

    processes = 10 if quick else 21
    fake_aws_environment()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp, XRayDaemon() as daemon:
        sandbox = build_sandbox(Path(tmp))
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            progress("cold start: creating the stack in a moto server")
            stack = deploy_stack({})
            drain_test_event(stack)

            environments = {logical_id: stack.function_environment(logical_id) for logical_id in FUNCTIONS}
            names = {logical_id: stack.function_name(logical_id) for logical_id in FUNCTIONS}
            submit_queue_arn = stack.event_source_mapping_for("SubmitJobsFunction").event_source_arn
            bucket = stack.outputs["InputBucketName"]

            rounds = processes + 1
            per_track_kind = rounds
            progress(f"cold start: submitting {2 * per_track_kind} jobs for track_jobs' first events")
            for index in range(2 * per_track_kind):
                upload(stack, f"incoming/bench/cold-track-{index:03d}.csv")
            deliver_all(stack)
            running = [
                job_state_change(job, "RUNNING", region=REGION, account=stack.account_id) for job in all_jobs(stack)
            ]
            assert len(running) == 2 * per_track_kind
            track_events = {"TrackJobsFunction": running[:per_track_kind], "baseline": running[per_track_kind:]}

            def sqs_event(index: int) -> dict[str, Any]:
                return _sqs_s3_event(
                    bucket, f"incoming/bench/cold-{uuid.uuid4().hex[:8]}-{index}.csv", submit_queue_arn
                )

            def firing(index: int) -> dict[str, Any]:
                event = load_event("schedule_firing.json")
                event["scheduleName"] = environments["SubmitScheduledFunction"]["SCHEDULE_NAME"]
                event["scheduledTime"] = f"2026-11-21T03:{index:02d}:00Z"  # a new firing every round
                event["executionId"] = str(uuid.uuid4())
                return event

            def track_event(task: str) -> Callable[[int], dict[str, Any]]:
                return lambda index: track_events[task][index]

            def watchdog_event(_: int) -> dict[str, Any]:
                return load_event("watchdog_schedule.json")

            def stream_event(index: int) -> dict[str, Any]:
                return _stream_event(f"s3-{uuid.uuid4().hex[:24]}", index)

            kinds = [Kind("import boto3", None, "baseline", "boto3", None, lambda result: True, [])]
            plans = {
                "SubmitJobsFunction": (sqs_event, sqs_event, _no_failures, _no_failures),
                "SubmitScheduledFunction": (firing, firing, _outcome("SUBMITTED"), _has("jobId")),
                "TrackJobsFunction": (
                    track_event("TrackJobsFunction"),
                    track_event("baseline"),
                    _outcome("UPDATED"),
                    _outcome("UPDATED"),
                ),
                "WatchdogFunction": (watchdog_event, watchdog_event, _nothing_to_repair, _has("items_read")),
                # One run created: one Run Started event, one PutEvents call.
                "PublishEventsFunction": (stream_event, stream_event, _no_failures, _no_failures),
            }
            for logical_id, (ours_event, baseline_event, ours_ok, baseline_ok) in plans.items():
                directory = FUNCTIONS[logical_id]
                kinds.append(Kind(f"{directory} (ours)", logical_id, logical_id, "app", ours_event, ours_ok, []))
                kinds.append(
                    Kind(f"{directory} (baseline)", logical_id, "baseline", directory, baseline_event, baseline_ok, [])
                )

            shuffle = random.Random(7)  # noqa: S311 - an order, not a secret
            # Each function's two kinds run back to back (which one first is drawn per round), so a pair
            # shares the machine's moment: the per-round ratio of a pair is what the target reads.
            units: list[list[Kind]] = [[kinds[0]]] + [kinds[i : i + 2] for i in range(1, len(kinds), 2)]
            for round_number in range(rounds):
                progress(f"cold start: round {round_number + 1}/{rounds} ({len(kinds)} processes)")
                shuffle.shuffle(units)
                order = [kind for unit in units for kind in shuffle.sample(unit, len(unit))]
                for kind in order:
                    sample = _cold_start(
                        sandbox,
                        kind,
                        round_number,
                        environments.get(kind.function or "", {}),
                        names.get(kind.function or "", "bench-import"),
                        daemon.port,
                        endpoint,
                        Path(tmp),
                    )
                    if round_number > 0:  # the first round warms the disk cache
                        kind.samples.append(sample)
        finally:
            server.stop()
            os.environ.pop("AWS_ENDPOINT_URL", None)
        segments = daemon.segments
    return _summary(kinds, processes, segments)


def _cold_start(
    sandbox: Sandbox,
    kind: Kind,
    index: int,
    function_environment: dict[str, str],
    function_name: str,
    daemon_port: int,
    endpoint: str,
    tmp: Path,
) -> dict[str, Any]:
    request = {
        "event": kind.make_event(index) if kind.make_event else None,
        "function_name": function_name,
        "sandbox_root": str(sandbox.root),
    }
    request_path = tmp / "request.json"
    result_path = tmp / "result.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    environment = sandbox.environment(
        kind.task, function_environment, function_name=function_name, daemon_port=daemon_port, endpoint_url=endpoint
    )
    environment.update(kind.extra_environment or {})
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        sandbox.command(CHILD, kind.module, str(request_path), str(result_path)),
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0 or not result_path.is_file():
        raise RuntimeError(f"{kind.label}: cold-start process failed ({completed.returncode}):\n{completed.stderr}")
    sample: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    if sample["foreign_modules"]:
        raise RuntimeError(f"{kind.label}: modules from outside the sandbox: {sample['foreign_modules'][:5]}")
    if not kind.accept(sample["result"]):
        raise RuntimeError(f"{kind.label}: the first event did not do the expected work: {sample['result']}")
    return sample


def _summary(kinds: list[Kind], processes: int, segments: int) -> dict[str, Any]:
    def stats(kind: Kind) -> dict[str, Any]:
        samples = kind.samples
        return {
            "processes": len(samples),
            "median_total_ms": round(median([s["total_ms"] for s in samples]), 1),
            "median_import_ms": round(median([s["import_ms"] for s in samples]), 1),
            "median_first_event_ms": round(median([s["first_event_ms"] for s in samples]), 1),
            "median_total_cpu_ms": round(median([s["total_cpu_ms"] for s in samples]), 1),
            "median_import_cpu_ms": round(median([s["import_cpu_ms"] for s in samples]), 1),
            "modules_loaded": round(median([s["modules"] for s in samples])),
        }

    by_label = {kind.label: stats(kind) for kind in kinds}
    by_kind = {kind.label: kind for kind in kinds}
    functions = {}
    for logical_id, directory in FUNCTIONS.items():
        ours = by_label[f"{directory} (ours)"]
        baseline = by_label[f"{directory} (baseline)"]
        functions[directory] = {
            "ours": ours,
            "baseline": baseline,
            "ratio": round(_paired_ratio(by_kind[f"{directory} (ours)"], by_kind[f"{directory} (baseline)"]), 2),
            "ratio_of_medians": round(ours["median_total_ms"] / baseline["median_total_ms"], 2),
            "ratio_cpu": round(ours["median_total_cpu_ms"] / baseline["median_total_cpu_ms"], 2),
            "logical_id": logical_id,
        }
    return {
        "processes_per_kind": processes,
        "import_boto3": by_label["import boto3"],
        "functions": functions,
        "xray_segments_received": segments,
        "tracing": "on: LAMBDA_TASK_ROOT and a sampled _X_AMZN_TRACE_ID set, POWERTOOLS_TRACE_DISABLED unset",
    }


def _sqs_s3_event(bucket: str, key: str, queue_arn: str) -> dict[str, Any]:
    """One SQS record holding the S3 notification of a new object version, as Lambda delivers it."""
    event = load_event("sqs_s3_object_created.json")
    record = event["Records"][0]
    body = json.loads(record["body"])
    s3 = body["Records"][0]["s3"]
    s3["bucket"]["name"] = bucket
    s3["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    s3["object"]["key"] = key
    s3["object"]["versionId"] = uuid.uuid4().hex
    s3["object"]["sequencer"] = f"{uuid.uuid4().int % 16**18:018X}"
    record["body"] = json.dumps(body)
    record["messageId"] = str(uuid.uuid4())
    record["eventSourceARN"] = queue_arn
    return event


def _stream_event(run_id: str, index: int) -> dict[str, Any]:
    """The stream mapping's batch of one record: a run created by its claim (INSERT, status SUBMITTED)."""
    item = {
        "runId": {"S": run_id},
        "status": {"S": "SUBMITTED"},
        "attempt": {"N": "1"},
        "maxAttempts": {"N": "3"},
        "progress": {"N": "10001"},
        "source": {"M": {"trigger": {"S": "s3"}, "bucket": {"S": "b"}, "key": {"S": f"incoming/bench/{index}.csv"}}},
        "jobName": {"S": f"{run_id}-a1-bench_csv"},
        "createdAt": {"S": "2026-11-21T03:00:00.000Z"},
        "updatedAt": {"S": "2026-11-21T03:00:00.000Z"},
    }
    sequence = str(1100000000017454423009 + index)
    record = {"SequenceNumber": sequence, "Keys": {"runId": item["runId"]}, "NewImage": item}
    stream = {"StreamViewType": "NEW_AND_OLD_IMAGES", **record}
    return {
        "Records": [{"eventID": sequence, "eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": stream}]
    }


def _no_failures(result: Any) -> bool:
    return isinstance(result, dict) and result.get("batchItemFailures") == []


def _outcome(expected: str) -> Callable[[Any], bool]:
    return lambda result: isinstance(result, dict) and result.get("outcome") == expected


def _has(key: str) -> Callable[[Any], bool]:
    return lambda result: isinstance(result, dict) and key in result


def _nothing_to_repair(result: Any) -> bool:
    return isinstance(result, dict) and result.get("items_read") == 0 and result.get("errors") == 0


def _paired_ratio(ours: Kind, baseline: Kind) -> float:
    """The median over rounds of ours / baseline within one round (the two ran back to back).

    A ratio of the two medians mixes samples taken minutes apart, so a slow spell of a shared machine
    that hits one side more than the other moves it; pairing cancels what the two processes of a round
    share. Samples are in round order for both kinds (one sample per counted round each).
    """
    pairs = zip(ours.samples, baseline.samples, strict=True)
    return median([mine["total_ms"] / theirs["total_ms"] for mine, theirs in pairs])


if __name__ == "__main__":
    section_main(run)
