"""``python -m emulator serve`` and ``upload``: the local pipeline kept running for the user's files.

``serve`` starts the local pipeline with its schedules running, installs the Lambda Invoke shim of
``emulator.smoke_support`` (the smoke test and `dlq redrive` invoke the stack's functions),
records where it is reached (``emulator.serve_state``), prints how to use it, every run's progress
and every alert, and stops everything on Ctrl-C or SIGTERM. ``upload`` puts files into the input
bucket of a running ``serve``, from another process.

Invariant: whatever ends ``serve`` (Ctrl-C, SIGTERM, an error), its state file is removed and the
pipeline is stopped, so no later command finds a stack that is gone.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.console import Console, describe_stand_ins, format_change, job_output_line
from emulator.moto_server import REGION, client_for
from emulator.pipeline import LocalPipeline
from emulator.serve_state import read_state, write_state
from emulator.smoke_support import stack_functions_invocable

if TYPE_CHECKING:
    from batch_orchestrator.alert_format import Alert


def run_serve(
    *,
    port: int = 0,
    verbose: bool = False,
    schedule_expression: str | None = None,
    console: Console | None = None,
) -> int:
    """Keep the local pipeline running until Ctrl-C; print how to use it and every run's progress."""
    console = console or Console()
    parameters = {}
    if schedule_expression:
        parameters = {"ScheduleEnabled": "true", "ScheduleExpression": schedule_expression}
    console.line("Starting the local stack (moto server, template.yaml, functions, local job runner)...")
    pipeline = LocalPipeline(
        parameters,
        port=port,
        run_schedules=True,
        echo=console.line,
        echo_function_logs=verbose,
        echo_job_output=verbose,
    )
    with _terminate_as_interrupt(), pipeline, _invocable(pipeline):
        state = write_state(pipeline)
        try:
            _print_serve_help(pipeline, console)
            pipeline.on_status_change(lambda change: console.line(format_change(change)))
            _read_commands(pipeline, console)
            shown = 0
            while True:
                time.sleep(1.0)
                alerts = pipeline.alerts()
                for alert in alerts[shown:]:
                    print_alert(console, alert)
                shown = len(alerts)
        except KeyboardInterrupt:
            console.line()
            console.line("Stopping the local stack...")
        finally:
            state.unlink(missing_ok=True)
    console.line("Stopped.")
    return 0


def print_alert(console: Console, alert: Alert) -> None:
    """An alert as it arrives (its first paragraph), then where the job's output is locally."""
    console.line(f"  ALERT  Subject: {alert.subject}")
    console.lines(alert.message.split("\n\n", 1)[0].splitlines(), indent="         | ")
    hint = job_output_line(alert)
    if hint is not None:
        console.line(hint)


def _print_serve_help(pipeline: LocalPipeline, console: Console) -> None:
    outputs = pipeline.stack.outputs
    bucket, prefix = outputs["InputBucketName"], outputs["InputPrefix"]
    endpoint = pipeline.endpoint_url
    schedules = ", ".join(
        f"{s.name} {s.expression} {s.state}" + (" (fires on its own here)" if s.state == "ENABLED" else "")
        for s in pipeline.stack.schedules.values()
    )
    console.heading("Local stand-ins (SIMULATED)")
    console.lines(describe_stand_ins(pipeline))
    console.heading("The local stack is running")
    console.lines(
        [
            f"  endpoint       {endpoint}",
            f"  input bucket   {bucket}  (uploads under {prefix} start a run; results under {outputs['OutputPrefix']})",
            f"  runs table     {outputs['RunsTableName']}",
            "",
            "  Drop a file in (another terminal, from the repository):",
            "    .venv/bin/python -m emulator upload path/to/file.csv",
            "",
            "  Watch it (another terminal, from the repository; the CLI finds this local stack by itself):",
            "    .venv/bin/orchestrator runs list      (also: stack, runs show RUN_ID, runs logs RUN_ID, dlq list)",
            "",
            "  or with the AWS CLI (fake credentials; the emulator accepts any):",
            "    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=" + REGION,
            f'    aws --endpoint-url {endpoint} s3 cp path/to/file.csv "s3://{bucket}/{prefix}file.csv"',
            f"    aws --endpoint-url {endpoint} s3 ls --recursive s3://{bucket}/{outputs['OutputPrefix']}",
            f"    aws --endpoint-url {endpoint} dynamodb scan --table-name {outputs['RunsTableName']}",
            "",
            "  A first line '#exit 75 until attempt 2' makes the sample job fail once and be retried;",
            "  '#exit 3' makes it fail for good (an alert is printed here).",
            f"  Schedules: {schedules}.",
            "  Type 'fire' + Enter to fire the run schedule now ('fire NAME' for another); Ctrl-C stops everything.",
            "",
            "  Smoke test (what `orchestrator smoke --stack NAME` does after `sam deploy`), from another terminal:",
            "    .venv/bin/orchestrator smoke --local --timeout 60",
            f"    (= .venv/bin/orchestrator --endpoint-url {endpoint} --region {REGION} smoke --stack "
            f"{pipeline.stack.name} --timeout 60, with the fake credentials above)",
            "  Lambda Invoke of the stack's functions runs their real handler in this process (SIMULATED).",
        ]
    )
    console.heading("Run status changes")


def _read_commands(pipeline: LocalPipeline, console: Console) -> None:
    """Lines typed in the serve terminal: 'fire' fires the schedule on demand."""

    def read() -> None:
        for raw in sys.stdin:
            command, _, argument = raw.strip().partition(" ")
            if command.lower() in ("fire", "f"):
                try:
                    firing = pipeline.fire_schedule(argument.strip() or None)
                    console.line(f"  schedule {firing.schedule_name} fired for {firing.scheduled_time}")
                except Exception as exc:
                    console.line(f"  cannot fire the schedule: {exc}")
            elif command:
                console.line("  commands: fire [SCHEDULE NAME] (fire a schedule now); Ctrl-C to stop")

    if sys.stdin is not None:
        threading.Thread(target=read, name="serve-commands", daemon=True).start()


def _invocable(pipeline: LocalPipeline) -> contextlib.AbstractContextManager[None]:
    """SIMULATED Lambda Invoke of the stack's functions (the smoke test and `dlq redrive` invoke them)."""
    return stack_functions_invocable(pipeline.stack, pipeline.invoke_function, pipeline.invoke_function_async)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (e.g. from a process manager) stops serve as cleanly as Ctrl-C does."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------- upload
def run_upload(
    files: Sequence[Path], *, key: str | None = None, endpoint_url: str | None = None, console: Console | None = None
) -> int:
    """Put files into the input bucket of the running ``serve`` (under its input prefix)."""
    console = console or Console()
    try:
        state = read_state()
    except LookupError as exc:
        console.line(f"upload: {exc}")
        return 2
    if key is not None and len(files) != 1:
        console.line("upload: --key names one object; give one file with it")
        return 2
    for layer_dir in state.get("layer_dirs", []):
        if layer_dir not in sys.path:
            sys.path.insert(0, layer_dir)
    from batch_orchestrator.ids import run_id_for
    from batch_orchestrator.models import S3Source

    s3 = client_for(endpoint_url or state["endpoint_url"], "s3", state["region"])
    bucket = state["bucket"]
    for path in files:
        object_key = key or f"{state['input_prefix']}{path.name}"
        try:
            with path.open("rb") as stream:
                version_id = s3.put_object(Bucket=bucket, Key=object_key, Body=stream).get("VersionId")
        except OSError as exc:
            console.line(f"upload: cannot read {path}: {exc}")
            return 2
        run_id = run_id_for(S3Source(bucket=bucket, key=object_key, version_id=version_id))
        console.line(f"uploaded {path} -> s3://{bucket}/{object_key} (version {version_id}); run {run_id}")
    return 0
