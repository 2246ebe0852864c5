"""Output of the local pipeline for people: the ``demo`` and ``serve`` terminals.

Invariant: every line reaches the terminal the command started with, whole, even while a function
invocation redirects stdout into its log group (``emulator.function_logs``) on another thread.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from emulator.alerts_inbox import alert_run_id
from emulator.local_container import IMAGE_PATHS
from orchestrator_cli.job_logs import LOGS_COMMAND  # the CLI command that prints a run's job output
from orchestrator_cli.render import pad, shorten  # terminal columns, not characters: wide file names align

if TYPE_CHECKING:
    from batch_orchestrator.alert_format import Alert
    from emulator.pipeline import LocalPipeline
    from emulator.run_progress import StatusChange

STAND_INS = (
    ("AWS APIs", "moto {moto} server at {endpoint} (in this process; nothing reaches AWS)"),
    ("the stack", "template.yaml created in moto, with the documented shims of emulator/template_shims.py"),
    ("Lambda", "the handlers of functions/ run in this process, one invocation at a time"),
    ("SQS -> Lambda", "a local poller plays the event source mapping (batch size, window, partial failures)"),
    ("EventBridge", "the stack's rules route Batch events to track_jobs; moto delivers to the queue and topic targets"),
    ("AWS Batch/Fargate", "LOCAL JOB RUNNER: each job runs as a local process, not a container"),
    ("Fargate memory", "a job's process group over its MEMORY is killed: exit 137, OutOfMemoryError"),
    ("container image", "{image_paths}; python3 = this virtualenv's python"),
    ("SNS subscriber", "an SQS inbox subscribed to the alerts topic stands in for e-mail and chat"),
)
CONSOLE_LINK_NOTE = "the alert's console link is for AWS; it leads nowhere locally"


class Check(NamedTuple):
    """One check ``make demo`` prints as ``[ok]`` or ``[!!]``, with what went wrong."""

    what: str
    ok: bool
    detail: str = ""


class Console:
    """Output for people. Writes to the stream it was given when created, so the redirection of
    stdout during a function invocation never swallows it."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def line(self, text: str = "") -> None:
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def lines(self, texts: Sequence[str], indent: str = "") -> None:
        for text in texts:
            self.line(indent + text)

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text} " + "=" * max(0, 92 - len(text)))


def describe_stand_ins(pipeline: LocalPipeline) -> list[str]:
    import moto

    image_paths = ", ".join(f"image {path} -> {_relative(local)}/" for path, local in IMAGE_PATHS.items())
    values = {"moto": moto.__version__, "endpoint": pipeline.endpoint_url, "image_paths": image_paths}
    return [f"  {name:<18} {text.format(**values)}" for name, text in STAND_INS]


def format_change(change: StatusChange) -> str:
    exit_text = f"  exit {change.exit_code}" if change.exit_code is not None else ""
    size = f", {change.size}" if change.size else ""
    workload = f"  [{change.workload}{size}]" if change.workload else ""
    return (
        f"  {change.seconds:6.1f}s  {pad(shorten(change.label, 34), 34)} {change.status:<10} "
        f"attempt {change.attempt}/{change.max_attempts}{exit_text}{workload}"
    )


def job_output_line(alert: Alert, *, kept: bool = True) -> str | None:
    """The line printed after an alert: how to see the job's output locally (the alert itself is what
    the deployed function publishes, console link included). None for an alert about no single run.

    ``kept`` is False when the stack is gone once the command ends (the demo): the CLI cannot read it then.
    """
    run_id = alert_run_id(alert)
    if run_id is None:
        return None
    note = f"  ({CONSOLE_LINK_NOTE})" if "https://" in alert.message else ""
    if kept:
        return f"  job output: {LOGS_COMMAND} {run_id}{note}"
    return (
        f"  job output: `make demo ARGS=--verbose` prints it (the demo's stack is gone when it ends; "
        f"under `make serve`: {LOGS_COMMAND} RUN_ID){note}"
    )


def chat_card_lines(alert: Alert) -> list[str]:
    """The alert as a chat channel shows it: the custom notification AlertsTopic sends its https subscribers
    (``alert_chat``), rebuilt from the default message the local inbox received, as plain text."""
    from batch_orchestrator.alert_chat import chat_notification

    card = chat_notification(alert.subject, alert.message)
    content, metadata = card["content"], card["metadata"]
    lines = [f"[{content['title']}]", *content["description"].splitlines()]
    if content["nextSteps"]:
        lines += ["Next steps:", *(f"  - {step}" for step in content["nextSteps"])]
    lines.append(" ".join(f"#{keyword}" for keyword in content["keywords"]) + f"   (thread {metadata['threadId']})")
    return lines


def _relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
