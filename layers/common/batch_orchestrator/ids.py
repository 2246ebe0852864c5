"""Deterministic identities: run ids from their source, Batch job names from run ids, and back.

A run id is derived only from what identifies the requested work, so every duplicate delivery of
one upload (or of one schedule firing) maps onto the same run and the conditional claim in
DynamoDB lets exactly one of them through. The formats are written and read here only: the tracker
finds the run of a job with ``run_of_job_name`` and the patterns below.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from batch_orchestrator.limits import BATCH_JOB_NAME
from batch_orchestrator.models import AttemptPlan, RequestSource, S3Source, ScheduleSource, Source

# The run's identity on its Batch job (with the job name, see job_name_for): the tracker reads it back.
RUN_ID_TAG = "batch-orchestrator:run-id"
ATTEMPT_TAG = "batch-orchestrator:attempt"
# The attempt's plan on its Batch job (plan_tags), so the tracker decides the next attempt from the event
# alone. Jobs submitted before workloads existed have none of these (see models.DEFAULT_PLAN).
WORKLOAD_TAG = "batch-orchestrator:workload"
SIZE_STEP_TAG = "batch-orchestrator:size-step"
SPOT_INTERRUPTIONS_TAG = "batch-orchestrator:spot-interruptions"
# An array workload's attempts only: the items of the run's whole array (the attempt's own items travel in
# SubmitJob's parameters, too long for a tag). Jobs of other workloads carry no such tag.
ARRAY_SIZE_TAG = "batch-orchestrator:array-size"
# A pipeline's later steps (``workload_steps``) and a large array's later parts (``array_parts``) only: the step's
# index (1 for the second step; 0 for a part of a first step) and the run's attempts before the step (or part) began,
# from which its own attempts are counted. Any other job has neither.
STEP_TAG = "batch-orchestrator:step"
ATTEMPTS_BEFORE_STEP_TAG = "batch-orchestrator:attempts-before-step"
_RUN_ID = r"(?:s3|sch|req)-[0-9a-f]{24}"
_ATTEMPT = r"[1-9][0-9]?"  # 1..99 without leading zeros, as job_name_for and the attempt tag write it
MAX_RUN_ATTEMPT = 99  # the most attempts a run can number (all its pipeline steps together): _ATTEMPT's range
RUN_ID_PATTERN = re.compile(rf"^{_RUN_ID}$")
ATTEMPT_PATTERN = re.compile(rf"^{_ATTEMPT}$")
# A workload's name as the table allows it (workloads.yaml: ^[a-z][a-z0-9-]{0,19}$; "default" is one).
WORKLOAD_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
# A ladder step or an interruption count as plan_tags writes it: 0..99 without leading zeros.
COUNT_PATTERN = re.compile(r"^(?:0|[1-9][0-9]?)$")
# An array run's size as plan_tags writes it: 1..100,000 (ARRAY_RUN_MAX_ITEMS) without leading zeros.
ARRAY_SIZE_PATTERN = re.compile(r"^(?:[1-9][0-9]{0,4}|100000)$")
_JOB_NAME_PATTERN = re.compile(rf"(?P<run_id>{_RUN_ID})-a(?P<attempt>{_ATTEMPT})(?:-[A-Za-z0-9_-]+)?")
# How a Batch job queue's ARN names it: arn:<partition>:batch:<region>:<account>:job-queue/<name>.
JOB_QUEUE_ARN_PART = ":job-queue/"
JOB_NAME_MAX_LENGTH = BATCH_JOB_NAME.max_length
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_FIELD_SEPARATOR = "\x1f"  # cannot occur in a bucket name or schedule name, so fields never run together


def _digest(*parts: str) -> str:
    return hashlib.sha256(_FIELD_SEPARATOR.join(parts).encode("utf-8")).hexdigest()[:24]


def run_id_for(source: Source) -> str:
    """The run id of a source: the same upload or firing always yields the same id."""
    if isinstance(source, S3Source):
        # A version id names one object version for good; without versioning, S3's sequencer orders
        # the events of one key, so two uploads of the same key are two runs while a redelivered
        # notification of one upload is not.
        revision = source.version_id or source.sequencer or ""
        return "s3-" + _digest(source.bucket, source.key, revision)
    if isinstance(source, ScheduleSource):
        if source.workload is None:
            return "sch-" + _digest(source.schedule_name, source.scheduled_time)
        # Three fields, never two: a workload's schedule cannot share a run with the stack's own schedule.
        return "sch-" + _digest(source.workload, source.schedule_name, source.scheduled_time)
    if isinstance(source, RequestSource):
        # A rejected request (the only kind that keeps its event or message id) is known by that id: its rejection
        # does not use its key up. A request run is its caller's idempotency key within its workload: the same key
        # twice is one run, whatever else the second request carries.
        if source.rejected:
            return "req-" + _digest("rejected", source.message_id or "")
        return "req-" + _digest("request", source.workload, source.request_key)
    raise TypeError(f"unsupported source {type(source).__name__}")


def _slug(text: str) -> str:
    # "été" reads better as "ete" than as "_t_": strip accents before dropping what Batch refuses.
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _SLUG_UNSAFE.sub("_", ascii_text).strip("_-")


def job_name_for(run_id: str, attempt: int, source: Source) -> str:
    """``<runId>-a<attempt>-<slug>``: unique per attempt, readable in the Batch console.

    The slug (the key's base name, the schedule name, or a request's key) is only a hint for humans: it is reduced to
    Batch's job-name charset and cut so the whole name stays within JOB_NAME_MAX_LENGTH. The run id and
    attempt come first, so they survive any truncation and the tracker can parse them back.
    """
    if not RUN_ID_PATTERN.match(run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    prefix = f"{run_id}-a{attempt}"
    hint = _hint(source)
    slug = _slug(hint)[: JOB_NAME_MAX_LENGTH - len(prefix) - 1].rstrip("_-")
    return f"{prefix}-{slug}" if slug else prefix


def _hint(source: Source) -> str:
    if isinstance(source, S3Source):
        return source.key.rsplit("/", 1)[-1]
    if isinstance(source, ScheduleSource):
        return source.schedule_name
    return source.request_key or source.workload


def run_of_job_name(job_name: str) -> tuple[str, int] | None:
    """The (run id, attempt) at the start of a name job_name_for wrote; None for any other name."""
    match = _JOB_NAME_PATTERN.fullmatch(job_name)
    return (match["run_id"], int(match["attempt"])) if match else None


def plan_tags(plan: AttemptPlan) -> dict[str, str]:
    """The tags that carry an attempt's plan on its job (the capacity is not among them: the tracker
    derives the next one from the workload and the interruptions; nor are an array attempt's items: they
    travel in the job's parameters)."""
    tags = {
        WORKLOAD_TAG: plan.workload,
        SIZE_STEP_TAG: str(plan.size_step),
        SPOT_INTERRUPTIONS_TAG: str(plan.spot_interruptions),
    }
    if plan.array_size:
        tags[ARRAY_SIZE_TAG] = str(plan.array_size)
    if plan.step or plan.attempts_before_step:  # a later pipeline step, or a later part of a large array
        tags[STEP_TAG] = str(plan.step)
        tags[ATTEMPTS_BEFORE_STEP_TAG] = str(plan.attempts_before_step)
    return tags
