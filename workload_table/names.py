"""The names the renderer gives what it generates: logical ids, job definition and EventBridge Scheduler names.

Derived from the workload and schedule names only (``camel_case`` of the model), so a renamed workload
is a new resource and an unchanged one keeps its resources across renders. ``validate_table`` refuses
two workloads, or two workload-schedule pairs, with one CamelCase, so the ids below are distinct: a job
definition's ends in ``JobDefinition``, a schedule's in ``Schedule``, the scheduler role's in ``Role``.
"""

from __future__ import annotations

from batch_orchestrator.workloads import Schedule, Workload, camel_case

SPOT_QUEUE = "SpotJobQueue"
SPOT_COMPUTE_ENVIRONMENT = "SpotComputeEnvironment"
SCHEDULER_ROLE = "WorkloadSchedulerRole"
# Rendered only when some workload's array is the uploaded manifest: what submit_jobs may read of those uploads.
MANIFEST_READ_POLICY = "WorkloadManifestsReadPolicy"
# Rendered only when some workload has compute type ec2 (render_ec2.py).
EC2_QUEUE = "Ec2JobQueue"
EC2_COMPUTE_ENVIRONMENT = "Ec2ComputeEnvironment"
EC2_INSTANCE_ROLE = "Ec2InstanceRole"
EC2_INSTANCE_PROFILE = "Ec2InstanceProfile"
EC2_LAUNCH_TEMPLATE = "Ec2LaunchTemplate"
SCHEDULE_NAME_PREFIX = "batch-orch-"
# A workload's job definition name (the functions submit by name: WORKLOAD_JOB_DEFINITION_PREFIX + workload).
JOB_DEFINITION_NAME_PREFIX = f"{SCHEDULE_NAME_PREFIX}${{StackTail}}-"
STACK_TAIL_LENGTH = 12  # the last group of the stack id's UUID, as the template's other schedule names use


def job_definition_id(workload: Workload) -> str:
    """``thumbnails`` -> ``WorkloadThumbnailsJobDefinition``."""
    return f"Workload{camel_case(workload.name)}JobDefinition"


def job_definition_name(workload: Workload, stack_tail: str = "${StackTail}") -> str:
    """``batch-orch-<StackTail>-<workload>``: 44 characters at most (Batch allows 128), unique per stack."""
    return JOB_DEFINITION_NAME_PREFIX.replace("${StackTail}", stack_tail) + workload.name


def schedule_id(workload: Workload, schedule: Schedule) -> str:
    """``reports`` / ``nightly`` -> ``WorkloadReportsNightlySchedule``."""
    return f"Workload{camel_case(f'{workload.name}-{schedule.name}')}Schedule"


def schedule_name(workload: Workload, schedule: Schedule, stack_tail: str = "${StackTail}") -> str:
    """The EventBridge Scheduler name: ``batch-orch-<StackTail>-<workload>-<schedule>`` (64 characters at most)."""
    return f"{SCHEDULE_NAME_PREFIX}{stack_tail}-{workload.name}-{schedule.name}"
