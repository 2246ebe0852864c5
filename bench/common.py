"""What the measurements share: paths, the stack of template.yaml in moto, and AWS call counting."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO / ".aws-sam" / "build"
EVENTS_DIR = REPO / "events"
REGION = "us-east-1"

# The template's functions, by logical id, and their handler directories.
FUNCTIONS = {
    "SubmitJobsFunction": "submit_jobs",
    "SubmitScheduledFunction": "submit_scheduled",
    "TrackJobsFunction": "track_jobs",
    "WatchdogFunction": "watchdog",
    "PublishEventsFunction": "publish_events",
}


def fake_aws_environment() -> None:
    """Fake credentials and a fixed region, so nothing here can reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # In-process runs only: the handlers' Powertools read these when the shared package is imported.
            "POWERTOOLS_SERVICE_NAME": "batch-orchestrator",
            "POWERTOOLS_METRICS_NAMESPACE": "BatchOrchestrator",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return data


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def section_main(run: Callable[[bool], dict[str, Any]]) -> None:
    """Entry point of a measurement module: ``python -m bench.<name> [--quick] [--out FILE]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="CI-size run")
    parser.add_argument("--out", type=Path, help="write the figures here (default: stdout)")
    args = parser.parse_args()
    result = run(args.quick)
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


def progress(message: str) -> None:
    print(f"  . {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------- the stack
@contextmanager
def moto_stack(parameters: Mapping[str, str] | None = None) -> Iterator[Any]:
    """template.yaml created in a fresh in-process moto (as tests/integration/conftest.py does)."""
    fake_aws_environment()
    from moto import mock_aws

    from batch_orchestrator.adapters import aws
    from emulator import deploy_stack
    from emulator.stack import MOTO_CONFIG

    with mock_aws(config=MOTO_CONFIG):
        aws.reset_clients()
        try:
            yield deploy_stack(dict(parameters or {}))
        finally:
            aws.reset_clients()


def drain_test_event(stack: Any) -> None:
    """Consume the s3:TestEvent S3 sends when the bucket notification is configured."""
    from emulator import deliver_sqs_batch

    delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True)
    assert delivery.failed == (), delivery.result


def upload(stack: Any, key: str) -> None:
    stack.client("s3").put_object(Bucket=stack.outputs["InputBucketName"], Key=key, Body=b"a,b\n1,2\n")


def deliver_all(stack: Any) -> list[Any]:
    """Play the SQS event source mapping until the SubmitQueue has nothing visible; every delivery."""
    from emulator import deliver_sqs_batch

    deliveries: list[Any] = []
    while True:
        delivery = deliver_sqs_batch(stack, "SubmitJobsFunction", raise_errors=True)
        if delivery.event is None:
            return deliveries
        assert delivery.failed == (), delivery.result
        deliveries.append(delivery)


def all_jobs(stack: Any) -> list[dict[str, Any]]:
    """Every job of the stack's queue (DescribeJobs entries), whatever its status."""
    batch = stack.client("batch")
    queue = stack.outputs["JobQueueArn"]
    ids: set[str] = set()
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        for page in batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus=status):
            ids.update(summary["jobId"] for summary in page["jobSummaryList"])
    ordered = sorted(ids)
    jobs: list[dict[str, Any]] = []
    for start in range(0, len(ordered), 100):
        jobs.extend(batch.describe_jobs(jobs=ordered[start : start + 100])["jobs"])
    return jobs


def job_environment(job: Mapping[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in job["container"].get("environment", [])}


# ------------------------------------------------------------------------------------ call counts
@dataclass
class Window:
    """The AWS calls made between two points, by "service:Operation"."""

    calls: Counter[str] = field(default_factory=Counter)
    failed_conditions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    http_requests: int = 0

    def per(self, items: int) -> dict[str, Any]:
        """Calls per item (one upload, one event...), and what they were."""
        total = sum(self.calls.values())
        return {
            "items": items,
            "calls": round(total / items, 3),
            "by_operation": {name: round(count / items, 3) for name, count in sorted(self.calls.items())},
            "failed_conditional_writes": round(sum(self.failed_conditions.values()) / items, 3),
            "other_errors": round(sum(self.errors.values()) / items, 3),
            # HTTP requests include botocore's retries; equal to the calls when nothing was retried.
            "http_requests": round(self.http_requests / items, 3),
        }


class AwsCalls:
    """Counts the API calls of the shared package's AWS clients, at botocore's client boundary.

    ``before-call`` fires once per API call, ``request-created`` once per HTTP attempt (retries
    included) and ``after-call`` with the parsed response, error or not, which tells a failed
    conditional write from a successful one. The harness's own clients (``stack.client``) are
    separate objects and are not counted.
    """

    def __init__(self) -> None:
        self._window: Window | None = None

    def attach(self) -> AwsCalls:
        from batch_orchestrator.adapters import aws

        clients = [aws.client(service) for service in ("dynamodb", "sqs", "sns", "batch")]
        for client in [*clients, aws.submit_client()]:
            client.meta.events.register("before-call", self._before_call)
            client.meta.events.register("after-call", self._after_call)
            client.meta.events.register("request-created", self._request_created)
        return self

    def attach_events(self) -> AwsCalls:
        """Count the EventBridge client too (publish_events' PutEvents)."""
        from batch_orchestrator.adapters import aws

        client = aws.client("events")
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)
        client.meta.events.register("request-created", self._request_created)
        return self

    @contextmanager
    def window(self) -> Iterator[Window]:
        window = Window()
        self._window = window
        try:
            yield window
        finally:
            self._window = None

    def _before_call(self, model: Any, **_: Any) -> None:
        if self._window is not None:
            self._window.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _after_call(self, model: Any, parsed: Mapping[str, Any], **_: Any) -> None:
        if self._window is None:
            return
        code = parsed.get("Error", {}).get("Code") if isinstance(parsed, Mapping) else None
        if code == "ConditionalCheckFailedException":
            self._window.failed_conditions[model.name] += 1
        elif code:
            self._window.errors[f"{model.name}:{code}"] += 1

    def _request_created(self, **_: Any) -> None:
        if self._window is not None:
            self._window.http_requests += 1
