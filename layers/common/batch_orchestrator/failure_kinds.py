"""Two kinds of failed attempt the retry logic treats apart: out of memory, and a Spot interruption.

Both are recognised from the text AWS puts in a failed job's reasons, since Batch gives them no code
of their own. Pure functions of the reasons (no AWS call): the tracker reads them from the Batch
event it is handling.

* Out of memory. Fargate stops the container with exit code 137 (SIGKILL) and the container reason
  "OutOfMemoryError: Container killed due to memory usage"; on EC2 the container reason (or the
  job's status reason) carries "OutOfMemory" in other wordings. Every one of these shapes names
  "OutOfMemory", so the reasons alone decide: the exit code is not needed (137 without such a reason
  is any SIGKILL, e.g. a stop after the 30 s SIGTERM grace, and more memory would not help it).
* Spot interruption. Fargate Spot stops the task with the status reason "Your Spot Task was
  interrupted." (the ECS stoppedReason Batch copies; the stack's job definitions match it with
  ``OnStatusReason: "Your Spot Task was interrupted*"``); EC2 Spot reclaims show as "Host EC2
  (instance i-...) terminated.". Either may come with or without an exit code (the container may have
  exited on the SIGTERM of the two-minute warning), so the exit code is not consulted.

Sources: https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html (evaluateOnExit on
"Host EC2*" for Spot reclaims), https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
(the Spot two-minute warning and SIGTERM), and the OutOfMemoryError reason as ECS reports it in a
stopped container's ``reason``.
"""

from __future__ import annotations

_OOM_MARKER = "OutOfMemory"  # in "OutOfMemoryError: Container killed due to memory usage" (Fargate) and EC2's wordings
SPOT_INTERRUPTION_PREFIXES = ("Your Spot Task was interrupted", "Host EC2")


def is_out_of_memory(exit_code: int | None, container_reason: str | None, status_reason: str | None) -> bool:
    """Did the attempt die for want of memory? True when either reason names OutOfMemory.

    ``exit_code`` is taken so callers pass the whole failure, but it cannot change the answer: the
    Fargate shape (137 + "OutOfMemoryError: ...") is recognised by its reason, and a 137 without an
    OutOfMemory reason is not an out-of-memory kill (see the module docstring).
    """
    del exit_code
    return _OOM_MARKER in (container_reason or "") or _OOM_MARKER in (status_reason or "")


def is_spot_interruption(status_reason: str | None) -> bool:
    """Was the attempt stopped because AWS took its Spot capacity back (exit code or not)?"""
    return (status_reason or "").startswith(SPOT_INTERRUPTION_PREFIXES)
