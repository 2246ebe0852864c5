"""What an operator should do about a blocked queue or a stuck run, from what Batch said.

Invariant: every alert that asks for action gets advice — a documented reason code picks its own,
anything else falls back to a general checklist — so no alert ends in "unknown".
"""

from __future__ import annotations

import re

from batch_orchestrator.models import RunStatus

_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z])")
_REASON_CODE = re.compile(r"\s*([A-Z][A-Z0-9_]*(?::[A-Z][A-Z0-9_]*)?)")
UNKNOWN_REASON_CODE = "UNKNOWN"

# What to do for each blocked-queue reason AWS Batch documents ("Jobs stuck in a RUNNABLE
# status", AWS Batch User Guide). Cancelling the head job unblocks the queue only when the
# cause is specific to that job; for environment-wide causes the next job blocks again.
_QUEUE_BLOCKED_ADVICE = {
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": (
        "No compute environment of the queue can get the instances the job needs right now. "
        "It may clear on its own; otherwise allow more instance types or subnets "
        "(Availability Zones), or cancel the job. A jobStateTimeLimitActions rule on the queue "
        "can cancel such jobs automatically after a wait."
    ),
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": (
        "The job needs more vCPUs than the maxvCpus of every compute environment of the queue. "
        "Raise maxvCpus or lower the job's vCPU requirement, then cancel the job so the jobs "
        "behind it can run."
    ),
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": (
        "No compute environment of the queue offers the vCPU/memory/GPU the job asks for. "
        "Lower the job definition's resource requirements (on Fargate, use a supported "
        "vCPU/memory combination) or allow larger instance types, then cancel the job."
    ),
    "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS": (
        "The AWS Batch service role lacks permissions. Compare it with the AWS managed policy "
        "for Batch (or use the service-linked role) and fix it; cancelling the job alone will "
        "only block the next one. jobStateTimeLimitActions cannot handle this reason."
    ),
    "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED": (
        "A compute environment uses instance types that are not offered in its Availability "
        "Zones or that do not fit its launch template. Check the instance types, subnets and "
        "launch template of the compute environments."
    ),
    "ACTION_REQUIRED": (
        "Every compute environment of the queue is INVALID. Open the compute environments in "
        "the Batch console and read their status reason."
    ),
}
_DEFAULT_QUEUE_BLOCKED_ADVICE = (
    "AWS Batch could not tell why. Check that the compute environments are VALID and ENABLED, "
    "that their subnets reach ECS (public IP, NAT or VPC endpoints), the EC2 and Fargate "
    "quotas, and the job definition's resources."
)

_STUCK_ADVICE = {
    RunStatus.QUEUED: (
        "AWS Batch refused the job's submission and the retries did not get it through. Look at the "
        "submit_jobs logs and SubmitDLQ for the error (a throttled or invalid SubmitJob)."
    ),
    RunStatus.SUBMITTED: (
        "The job was handed to AWS Batch but never reported back. Check that the job queue is ENABLED "
        "and VALID, and look for errors in the submit_jobs and track_jobs logs."
    ),
    RunStatus.PENDING: (
        "The job waits in PENDING, which normally lasts seconds for a job without dependencies. Check "
        "the job in the Batch console and the state of its job queue."
    ),
    RunStatus.RUNNABLE: (
        "The job waits for capacity. Check that the compute environment is VALID and ENABLED, that its "
        "maxvCpus is not used up by other jobs, the account's Fargate vCPU quota, and that the subnets "
        "reach ECR, ECS and CloudWatch Logs (public IP, NAT gateway or VPC endpoints)."
    ),
    RunStatus.STARTING: (
        "The task was placed but has not started: usually a slow or failing image pull (image size, "
        "registry permissions, no route to ECR) or a slow ENI attachment. Check the job's status reason "
        "and the ECS task in the console."
    ),
    RunStatus.RUNNING: (
        "The job runs longer than its timeout allows, so Batch should already have stopped it, or its "
        "SUCCEEDED/FAILED event never arrived. Check the job's log stream; terminate it if it hangs."
    ),
}


def queue_blocked_reason_code(status_reason: str) -> str:
    """The code at the start of a blocked job's statusReason, e.g. ``CAPACITY:INSUFFICIENT_...``."""
    match = _REASON_CODE.match(status_reason)
    return match.group(1) if match else UNKNOWN_REASON_CODE


def queue_blocked_advice(status_reason: str) -> str:
    """What an operator should do about a blocked queue, from the job's statusReason."""
    code = queue_blocked_reason_code(status_reason)
    return _QUEUE_BLOCKED_ADVICE.get(code, _DEFAULT_QUEUE_BLOCKED_ADVICE)


def stuck_run_advice(status: RunStatus, status_reason: str | None) -> str:
    """What to do about a run stuck in ``status``; a known blocked-queue reason code wins for RUNNABLE."""
    if status is RunStatus.RUNNABLE and status_reason:
        code = queue_blocked_reason_code(status_reason)
        if code in _QUEUE_BLOCKED_ADVICE:
            return _QUEUE_BLOCKED_ADVICE[code]
    return _STUCK_ADVICE.get(status, _DEFAULT_QUEUE_BLOCKED_ADVICE)


def cancel_job_command(region: str, job_id: str, queue: str) -> str:
    """The command that cancels the job blocking ``queue`` (a RUNNABLE job: cancel-job, not terminate-job)."""
    return f'aws batch cancel-job --region {region} --job-id {job_id} --reason "unblock queue {queue}"'


def terminate_job_command(region: str, job_id: str, status: str) -> str:
    """The command that stops a run's job stuck in ``status`` (terminate-job stops it in any state)."""
    return f'aws batch terminate-job --region {region} --job-id {job_id} --reason "stuck in {status}"'


def advice_steps(advice: str) -> list[str]:
    """An advice text as steps, one sentence each (the chat card lists them as next steps)."""
    return [
        sentence if sentence.endswith(".") else sentence + "." for sentence in _SENTENCE_END.split(advice) if sentence
    ]
