"""Batch state-change events in the documented shape, for jobs that moto ran.

SIMULATED: moto's Batch emits no EventBridge events and never reports an exit code, so the local
stack and the tests build the events AWS Batch would send from moto's DescribeJobs entry for the
job, with the status, exit code and attempts of the scenario being played. The shape follows the
"Batch Job State Change" event: ``detail`` mirrors DescribeJobs.

This module builds events; the layer's ``batch_orchestrator.batch_events`` parses them. Invariant:
every event built here is one that parser accepts as AWS Batch would send it.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

JOB_STATE_CHANGE = "Batch Job State Change"
QUEUE_BLOCKED = "Batch Job Queue Blocked"
TERMINAL = ("SUCCEEDED", "FAILED")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def attempt_entry(
    *,
    exit_code: int | None,
    reason: str | None = None,
    status_reason: str = "Essential container in task exited",
    log_stream_name: str | None = None,
    started_at: int | None = None,
    stopped_at: int | None = None,
) -> dict[str, Any]:
    """One finished Batch attempt, as it appears in ``attempts[]``."""
    stopped = stopped_at or _now_ms()
    container: dict[str, Any] = {"networkInterfaces": []}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason is not None:
        container["reason"] = reason
    if log_stream_name is not None:
        container["logStreamName"] = log_stream_name
    return {
        "container": container,
        "startedAt": started_at or stopped - 1000,
        "stoppedAt": stopped,
        "statusReason": status_reason,
    }


def job_state_change(
    job: Mapping[str, Any],
    status: str,
    *,
    region: str,
    account: str,
    exit_code: int | None = None,
    container_reason: str | None = None,
    status_reason: str | None = None,
    attempts: Sequence[Mapping[str, Any]] = (),
    log_stream_name: str | None = None,
) -> dict[str, Any]:
    """The event Batch would emit when ``job`` (a DescribeJobs entry) reaches ``status``."""
    detail = copy.deepcopy(dict(job))
    detail["status"] = status
    detail["attempts"] = [dict(entry) for entry in attempts]
    container = dict(detail.get("container") or {})
    for key in ("exitCode", "reason", "logStreamName"):
        container.pop(key, None)
    if status in ("RUNNING", *TERMINAL) and log_stream_name:
        container["logStreamName"] = log_stream_name
    if status in TERMINAL:
        if exit_code is not None:
            container["exitCode"] = exit_code
        if container_reason is not None:
            container["reason"] = container_reason
        detail.setdefault("startedAt", _now_ms() - 1000)
        detail["stoppedAt"] = _now_ms()
    elif status == "RUNNING":
        detail["startedAt"] = _now_ms()
        detail.pop("stoppedAt", None)
    else:
        detail.pop("startedAt", None)
        detail.pop("stoppedAt", None)
    detail["container"] = container
    if status_reason is not None:
        detail["statusReason"] = status_reason
    else:
        detail.pop("statusReason", None)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": JOB_STATE_CHANGE,
        "source": "aws.batch",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [detail.get("jobArn", "")],
        "detail": detail,
    }


def queue_blocked(job: Mapping[str, Any], *, region: str, account: str, status_reason: str) -> dict[str, Any]:
    """The "Batch Job Queue Blocked" event for a RUNNABLE job that cannot run."""
    detail = copy.deepcopy(dict(job))
    detail["status"] = "RUNNABLE"
    detail["statusReason"] = status_reason
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": QUEUE_BLOCKED,
        "source": "aws.batch",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [detail.get("jobArn", ""), detail.get("jobQueue", "")],
        "detail": detail,
    }
