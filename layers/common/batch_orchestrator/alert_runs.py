"""What the alerts about a run say of it: its input, its workload (in the subject unless it is the default one), the
size and plan of an attempt, the link to a job's logs. Shared by the alerts of ``alerts`` (failed for good) and
``alert_stuck`` (stuck); pure.
"""

from __future__ import annotations

from typing import Any

from batch_orchestrator.console_links import log_stream_console_url
from batch_orchestrator.models import AttemptRecord, RequestSource, Run, S3Source, ScheduleSource
from batch_orchestrator.workloads import DEFAULT_WORKLOAD


def logs_line(region: str, log_group: str, log_stream: str | None) -> tuple[str, str | None]:
    """The body's "Logs" text and the link (None when there is none)."""
    if not log_stream:
        return "none (the container never started, so it wrote no log stream)", None
    try:
        url = log_stream_console_url(region, log_group, log_stream)
    except ValueError:
        return f"log group {log_group}, stream {log_stream} (no console link for {region})", None
    return url, url


def input_text(run: Run) -> str:
    source = run.source
    if isinstance(source, S3Source):
        text = f"s3://{source.bucket}/{source.key}"
        return f"{text} (version {source.version_id})" if source.version_id else text
    if isinstance(source, RequestSource):
        return f"request {source.request_key} from {source.requester or 'a SubmitQueue message'}"
    return f"schedule {source.schedule_name}, fired for {source.scheduled_time}"


def subject_prefix(text: str, run: Run) -> str:
    """``text`` + ": ", naming the workload unless it is the default one: "Batch job failed [images]: "."""
    return f"{text}: " if run.workload == DEFAULT_WORKLOAD else f"{text} [{run.workload}]: "


def size_text(vcpu: str | None, memory_mib: int | None) -> str | None:
    return f"{vcpu} vCPU, {memory_mib} MiB" if vcpu is not None and memory_mib is not None else None


def workload_details(run: Run, record: AttemptRecord | None) -> dict[str, Any]:
    """The JSON fields of the run's workload and of the failed attempt's plan and size."""
    return {
        "workload": run.workload,
        "sizeStep": run.plan.size_step,
        "capacity": run.plan.capacity.value,
        "spotInterruptions": run.plan.spot_interruptions,
        "vcpu": record.vcpu if record else run.vcpu,
        "memoryMib": record.memory_mib if record else run.memory_mib,
    }


def input_name(run: Run) -> str:
    """The short name of the input for the subject: the object's file name, the schedule or the request."""
    source = run.source
    if isinstance(source, ScheduleSource):
        return f"schedule {source.schedule_name}"
    if isinstance(source, RequestSource):
        return f"request {source.request_key}"
    return source.key.rstrip("/").rsplit("/", 1)[-1] or source.key
