"""AWS Batch: submitting one attempt of a run, finding a job by its deterministic name, an array's failed children."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import THROTTLING_ERROR_CODES, client, submit_client
from batch_orchestrator.errors import BatchLookupError, JobSubmitError
from batch_orchestrator.limits import (
    BATCH_ARRAY_MIN_SIZE,
    BATCH_DESCRIBE_JOBS_IDS,
    BATCH_LIST_JOBS_PAGE,
    BATCH_TERMINATE_REASON,
)
from batch_orchestrator.models import ChildFailure
from batch_orchestrator.ports import JobSpec

# Error codes with which AWS refuses a SubmitJob before creating anything. A throttled call is also
# safe to retry; the others are refused again.
_REJECTED_CODES = THROTTLING_ERROR_CODES | {"ClientException", "ValidationException", "AccessDeniedException"}


def submit_request(spec: JobSpec) -> dict[str, Any]:
    """The SubmitJob request for one attempt: its input as environment overrides, its plan as tags, a ladder step's
    size as resource overrides; an array's size and a child-only retry's parameters only for an array workload."""
    overrides: dict[str, Any] = {
        "environment": [{"name": name, "value": value} for name, value in spec.environment.items()]
    }
    if spec.resources is not None:
        # A memory ladder's step above the first: this job only, the job definition keeps step 0.
        overrides["resourceRequirements"] = [
            {"type": "VCPU", "value": spec.resources.vcpu},
            {"type": "MEMORY", "value": str(spec.resources.memory_mib)},
        ]
    request: dict[str, Any] = {
        "jobName": spec.job_name,
        "jobQueue": spec.job_queue,
        "jobDefinition": spec.job_definition,
        "containerOverrides": overrides,
        "tags": dict(spec.tags),
        "propagateTags": True,
    }
    # Only an array workload's attempts carry these: a single job's request stays as it always was.
    if spec.array_size >= BATCH_ARRAY_MIN_SIZE.value:
        request["arrayProperties"] = {"size": spec.array_size}
    if spec.parameters:
        request["parameters"] = dict(spec.parameters)
    return request


class BatchJobs:
    """Data access for AWS Batch."""

    def __init__(
        self,
        *,
        throttle_retries: int = 3,
        base_backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._throttle_retries = throttle_retries
        self._base_backoff = base_backoff_seconds
        self._sleep = sleep

    def submit(self, spec: JobSpec) -> str:
        """Submit the job and return its id.

        Only throttling is retried here (the call was refused, so no job exists); any other error is
        raised as JobSubmitError telling whether a job might exist, for the claim protocol to handle.
        """
        request = submit_request(spec)
        for retry in range(self._throttle_retries + 1):
            try:
                return str(submit_client().submit_job(**request)["jobId"])
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in THROTTLING_ERROR_CODES and retry < self._throttle_retries:
                    self._sleep(self._base_backoff * (2**retry) * (0.5 + random.random() / 2))  # noqa: S311 - jitter needs no secrecy
                    continue
                raise JobSubmitError(
                    f"SubmitJob {spec.job_name} refused: {code}: {exc.response.get('Error', {}).get('Message')}",
                    definitely_not_submitted=code in _REJECTED_CODES,
                ) from exc
            except BotoCoreError as exc:
                raise JobSubmitError(
                    f"SubmitJob {spec.job_name} outcome unknown: {exc}", definitely_not_submitted=False
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def find_job_id(self, *, job_queue: str, job_name: str) -> str | None:
        """The id of a job with this exact name in the queue, if one exists (any status)."""
        try:
            paginator = client("batch").get_paginator("list_jobs")
            pages = paginator.paginate(jobQueue=job_queue, filters=[{"name": "JOB_NAME", "values": [job_name]}])
            for page in pages:
                for summary in page.get("jobSummaryList", []):
                    if summary.get("jobName") == job_name:
                        return str(summary["jobId"])
        except (ClientError, BotoCoreError) as exc:
            raise BatchLookupError(f"ListJobs for {job_name} failed: {exc}") from exc
        return None

    def failed_children(self, parent_job_id: str) -> tuple[ChildFailure, ...]:
        """ListJobs(arrayJobId, jobStatus=FAILED), every page of up to BATCH_LIST_JOBS_PAGE children.

        Paged by hand, as ``runs_table.active_runs``: botocore's paginator loads its own model data on first use.
        """
        # Here, not at the top: submit_jobs' cold start never lists children (`make bench`).
        from batch_orchestrator.batch_arrays import child_failure

        request: dict[str, Any] = {
            "arrayJobId": parent_job_id,
            "jobStatus": "FAILED",
            "maxResults": BATCH_LIST_JOBS_PAGE.value,
        }
        children: list[ChildFailure] = []
        try:
            while True:
                page = client("batch").list_jobs(**request)
                summaries = page.get("jobSummaryList", [])
                children += [child_failure(s, f"jobSummaryList[{i}]") for i, s in enumerate(summaries)]
                token = page.get("nextToken")
                if not token:
                    return tuple(children)
                request["nextToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise BatchLookupError(f"ListJobs of the failed children of {parent_job_id} failed: {exc}") from exc

    def describe_jobs(self, job_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        """DescribeJobs for any number of ids, in calls of at most BATCH_DESCRIBE_JOBS_IDS (the API's limit).

        A job Batch no longer knows (jobs are kept for a limited time after they end) is simply
        absent from the result.
        """
        limit = BATCH_DESCRIBE_JOBS_IDS.value
        unique = list(dict.fromkeys(job_ids))
        jobs: list[Mapping[str, Any]] = []
        try:
            for start in range(0, len(unique), limit):
                response = client("batch").describe_jobs(jobs=unique[start : start + limit])
                jobs.extend(response.get("jobs", []))
        except (ClientError, BotoCoreError) as exc:
            raise BatchLookupError(f"DescribeJobs for {len(unique)} jobs failed: {exc}") from exc
        return jobs

    def terminate_job(self, *, job_id: str, reason: str) -> None:
        """TerminateJob: a job not yet STARTING is cancelled, a STARTING or RUNNING one is stopped."""
        try:
            client("batch").terminate_job(jobId=job_id, reason=reason[: BATCH_TERMINATE_REASON.value])
        except (ClientError, BotoCoreError) as exc:
            raise BatchLookupError(f"TerminateJob {job_id} failed: {exc}") from exc
