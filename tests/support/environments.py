"""The functions' environments as template.yaml sets them, for the unit tests that build a config or load a handler.

``GLOBALS`` is what Globals.Function.Environment.Variables gives every function (the default workload's
variables, WORKLOADS, SPOT_JOB_QUEUE_ARN and EC2_JOB_QUEUE_ARN with no other workload); each ``*_ENV`` adds
what the template sets on that function. The integration tests read the real template instead
(``tests/support/stack.py``); ``tests/unit/test_config.py`` holds these dictionaries to the template's names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

ACCOUNT = "123456789012"
QUEUE = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/batch-orchestrator"
SPOT_QUEUE = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/batch-orchestrator-spot"
DEFINITION = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/batch-orchestrator:3"

GLOBALS: Mapping[str, str] = {
    "RUNS_TABLE": "runs",
    "RUN_RETENTION_DAYS": "90",
    "JOB_QUEUE_ARN": QUEUE,
    "JOB_DEFINITION_ARN": DEFINITION,
    "INPUT_PREFIX": "incoming/",
    "OUTPUT_PREFIX": "results/",
    "MAX_ATTEMPTS": "3",
    "RETRY_EXIT_CODES": "3,75,137-143",
    "RETRY_BASE_DELAY_SECONDS": "30",
    "RETRY_ON_NO_EXIT_CODE": "false",
    "RETRY_ON_TIMEOUT": "false",
    "JOB_TIMEOUT_SECONDS": "3600",
    "JOB_VCPU": "0.5",
    "JOB_MEMORY": "1024",
    "WORKLOADS": "[]",
    "SPOT_JOB_QUEUE_ARN": "",
    "EC2_JOB_QUEUE_ARN": "",
}
SUBMIT_ENV: Mapping[str, str] = {**GLOBALS, "CLAIM_LEASE_SECONDS": "120"}
SCHEDULED_ENV: Mapping[str, str] = {**SUBMIT_ENV, "SCHEDULE_NAME": "batch-orch-0123456789ab-schedule"}
TRACK_ENV: Mapping[str, str] = {
    **GLOBALS,
    "AWS_REGION": "us-east-1",
    "SUBMIT_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/submit",
    "ALERTS_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts",
    "JOB_LOG_GROUP": "/aws/batch/batch-orchestrator",
    "SIDE_EFFECT_LEASE_SECONDS": "120",
}
WATCHDOG_ENV: Mapping[str, str] = {
    **TRACK_ENV,
    "SIDE_EFFECT_LEASE_SECONDS": "330",
    "RECONCILE_AFTER_SECONDS": "600",
    "STUCK_SUBMITTED_MINUTES": "15",
    "STUCK_RUNNABLE_MINUTES": "30",
    "STUCK_STARTING_MINUTES": "15",
    "STUCK_RUNNING_MINUTES": "0",
    "CANCEL_STUCK_RUNNABLE_AFTER_MINUTES": "0",
}


def workload_json(name: str, *, job_definition: str | None = None, **fields: Any) -> dict[str, Any]:
    """One workload as the WORKLOADS variable carries it (``workloads.to_runtime_json``'s shape)."""
    workload: dict[str, Any] = {"name": name, "vcpu": "1", "memory": 2048, "timeout_seconds": 900}
    workload.update(fields)
    workload["job_definition"] = job_definition or f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/{name}:1"
    return workload


def with_workloads(env: Mapping[str, str], workloads: Iterable[Mapping[str, Any]], **more: str) -> dict[str, str]:
    """``env`` with these workloads in WORKLOADS (compact JSON, as the template renders it), and ``more``."""
    return {**env, "WORKLOADS": json.dumps(list(workloads), separators=(",", ":")), **more}
