"""The functions' environments as template.yaml sets them, for the unit tests that build a config or load a handler.

``GLOBALS`` is what Globals.Function.Environment.Variables gives every function (the default workload's
variables, the digest of the layer's empty workload table, SPOT_JOB_QUEUE_ARN and EC2_JOB_QUEUE_ARN with no
other workload); each ``*_ENV`` adds
what the template sets on that function. The integration tests read the real template instead
(``tests/support/stack.py``); ``tests/unit/test_config.py`` holds these dictionaries to the template's names.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from batch_orchestrator.workload_table_file import DIGEST_VARIABLE, FILE_VARIABLE, digest, file_text

ACCOUNT = "123456789012"
QUEUE = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/batch-orchestrator"
SPOT_QUEUE = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/batch-orchestrator-spot"
DEFINITION = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/batch-orchestrator:3"
# What the template sets WORKLOAD_JOB_DEFINITION_PREFIX to: batch-orch-<StackTail>- (names.JOB_DEFINITION_NAME_PREFIX).
JOB_DEFINITION_PREFIX = "batch-orch-0123456789ab-"

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
    DIGEST_VARIABLE: digest(file_text([]).encode()),
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


def workload_json(name: str, **fields: Any) -> dict[str, Any]:
    """One workload as the layer's table carries it (``workloads.to_runtime_json``'s shape)."""
    workload: dict[str, Any] = {"name": name, "vcpu": "1", "memory": 2048, "timeout_seconds": 900}
    workload.update(fields)
    return workload


def job_definition(name: str) -> str:
    """What a function submits for workload ``name``: the job definition the template names for it."""
    return f"{JOB_DEFINITION_PREFIX}{name}"


def with_workloads(env: Mapping[str, str], workloads: Iterable[Mapping[str, Any]], **more: str) -> dict[str, str]:
    """``env`` whose layer holds these workloads (a table file of their own, as ``make template`` writes it,
    named by WORKLOAD_TABLE_FILE with its digest), and ``more``."""
    text = file_text([dict(w) for w in workloads])
    handle, name = tempfile.mkstemp(prefix="test-", suffix="-workload_table.json")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    atexit.register(Path(name).unlink, missing_ok=True)
    table = {
        FILE_VARIABLE: name,
        DIGEST_VARIABLE: digest(text.encode()),
        "WORKLOAD_JOB_DEFINITION_PREFIX": JOB_DEFINITION_PREFIX,
    }
    return {**env, **table, **more}
