"""SIMULATED: the container of a Batch job, as a local process group.

The local job runner (``emulator.runner``) does not pull images or start containers. It runs the job's
command as a local process in a process group of its own (the task: a stop or an out-of-memory kill
reaches every process of it), with:

* the image's paths mapped to directories of this checkout (``IMAGE_PATHS``: the sample image copies
  ``jobs/sample/job.py`` to its WORKDIR ``/app``), and the image's ``python3`` replaced by this virtual
  environment's interpreter, which has boto3 as the image does (``local_command``);
* the container's environment: the job's (definition + SubmitJob overrides), the variables Batch adds
  (an array child's index and size among them), and what keeps the process on the emulator:
  AWS_ENDPOINT_URL, fake credentials, no profile files (``container_environment``).

Invariant: a job's process can reach only the emulator's endpoint, never AWS, whatever its environment says.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from emulator.template import REPO_ROOT

SAMPLE_JOB_DIR = REPO_ROOT / "jobs" / "sample"
# Container image path → local directory (the sample image copies job.py to its WORKDIR /app).
IMAGE_PATHS: dict[str, Path] = {"/app": SAMPLE_JOB_DIR}
IMAGE_WORKDIR = "/app"
# The image's interpreter names; they run as this environment's python (it has boto3, as the image does).
IMAGE_PYTHONS = frozenset({"python", "python3", "python3.13"})
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def local_command(command: Sequence[str], image_paths: Mapping[str, Path]) -> list[str]:
    """The container command as a local argv: image paths mapped, the image's python replaced."""
    argv = [_local_path(part, image_paths) for part in command]
    if argv and argv[0] in IMAGE_PYTHONS:
        argv[0] = sys.executable
    return argv


def _local_path(argument: str, image_paths: Mapping[str, Path]) -> str:
    for image_path, local in image_paths.items():
        if argument == image_path or argument.startswith(image_path.rstrip("/") + "/"):
            return str(local) + argument[len(image_path.rstrip("/")) :]
    return argument


def container_environment(
    environment: Mapping[str, str],
    *,
    job_id: str,
    attempt: int,
    job_queue: str,
    endpoint_url: str,
    region: str,
    array_index: int | None = None,
    array_size: int | None = None,
) -> dict[str, str]:
    """The container's environment, plus what lets the local process reach the emulator only.

    An array child (``array_index`` given) also gets AWS_BATCH_JOB_ARRAY_INDEX and AWS_BATCH_JOB_ARRAY_SIZE
    ("AWS Batch job environment variables": the index "is only set in child array jobs", the size "is set to
    the size of the parent array job"); its AWS_BATCH_JOB_ID is its own id, ``<parent id>:<index>``.
    """
    base = {name: os.environ[name] for name in ("PATH", "HOME", "TMPDIR", "SYSTEMROOT") if name in os.environ}
    array = {} if array_index is None else {"AWS_BATCH_JOB_ARRAY_INDEX": str(array_index)}
    if array and array_size is not None:
        array["AWS_BATCH_JOB_ARRAY_SIZE"] = str(array_size)
    return {
        **base,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        **environment,
        # What Batch adds to every container.
        "AWS_BATCH_JOB_ID": job_id,
        "AWS_BATCH_JOB_ATTEMPT": str(attempt),
        "AWS_BATCH_JQ_NAME": job_queue.rsplit("/", 1)[-1],
        **array,
        # SIMULATED: the task role's credentials would come from the ECS credentials endpoint.
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,  # no profile of the user's can point the job elsewhere
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` to the task: the process group the runner started the job's process in."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
