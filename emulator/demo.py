"""The local pipeline for people: ``python -m emulator demo | serve | upload``.

``demo`` starts the local pipeline (``emulator.runtime``), uploads a few files chosen to show
every path (success, a retried temporary failure, a permanent failure with its alert, a key with
spaces and non-ASCII characters), prints the runs' progress, a summary and the alerts SNS
delivered, checks the outcome against what the pipeline must do, stops everything and exits 1 if
anything was off. ``serve`` keeps the pipeline running for the user's own files; ``upload`` puts a
file into the input bucket of a running ``serve``.

Everything runs on this machine: nothing here talks to AWS. The output says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from emulator.runner import IMAGE_PATHS
from emulator.runtime import LOCAL_PARAMETERS, REGION, Alert, LocalPipeline, StatusChange, client_for
from emulator.smoke_support import process_alive, stack_functions_invocable
from emulator.stack import DEFAULT_STACK_NAME

if TYPE_CHECKING:
    from batch_orchestrator.models import Run

RUN_TIMEOUT_SECONDS = 120.0
STATE_DIR = Path(tempfile.gettempdir()) / "batch-orchestrator-local"
RESULT_NAME = "result.json"  # jobs/sample/job.py writes OUTPUT_PREFIX + RUN_ID + "/result.json"

STAND_INS = (
    ("AWS APIs", "moto {moto} server at {endpoint} (in this process; nothing reaches AWS)"),
    ("the stack", "template.yaml created in moto, with the documented shims of emulator/template.py"),
    ("Lambda", "the handlers of functions/ run in this process, one invocation at a time"),
    ("SQS -> Lambda", "a local poller plays the event source mapping (batch size, window, partial failures)"),
    ("EventBridge", "the stack's own rule patterns route the Batch events to track_jobs"),
    ("AWS Batch/Fargate", "LOCAL JOB RUNNER: each job runs as a local process, not a container"),
    ("container image", "{image_paths}; python3 = this virtualenv's python"),
    ("SNS subscriber", "an SQS inbox subscribed to the alerts topic stands in for e-mail"),
)


# --------------------------------------------------------------------------------------- console
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
    return (
        f"  {change.seconds:6.1f}s  {_clip(change.label, 34):<34} {change.status:<10} "
        f"attempt {change.attempt}/{change.max_attempts}{exit_text}"
    )


# ------------------------------------------------------------------------------------------ demo
@dataclass(frozen=True)
class DemoInput:
    name: str
    body: str
    what: str
    status: str
    attempts: int
    exit_code: int
    alerts: int


DEMO_INPUTS = (
    DemoInput("hello.csv", "city,visitors\nOsaka,3\nLyon,5\n", "plain upload", "SUCCEEDED", 1, 0, 0),
    DemoInput(
        "flaky.txt",
        "#exit 75 until attempt 2\nExits 75 (EX_TEMPFAIL) on its first attempt.\n",
        "exit 75 once: retried",
        "SUCCEEDED",
        2,
        0,
        0,
    ),
    DemoInput("broken.txt", "#exit 3\nExits 3 on every attempt.\n", "exit 3: not retryable", "FAILED", 1, 3, 1),
    DemoInput(
        "rapport été 2026.csv", "région,total\nÎle-de-France,12\n", "space + non-ASCII key", "SUCCEEDED", 1, 0, 0
    ),
)


@dataclass
class Check:
    what: str
    ok: bool
    detail: str = ""


def run_demo(*, verbose: bool = False, console: Console | None = None) -> int:
    """The whole demo; returns the process exit code (0 when the pipeline behaved as expected)."""
    console = console or Console()
    began = time.monotonic()
    console.line("Batch Orchestrator - local demo. Everything below runs on this machine; nothing talks to AWS.")
    console.line("Starting the local stack (moto server, template.yaml, functions, local job runner)...")
    pipeline = LocalPipeline(echo=console.line, echo_function_logs=verbose, echo_job_output=verbose)
    try:
        with pipeline:
            started = time.monotonic() - began
            console.heading("Local stand-ins (SIMULATED)")
            console.lines(describe_stand_ins(pipeline))
            console.line(f"  stack {pipeline.stack.name} ready in {started:.1f} s; parameters: {_parameters_text()}")
            return _play(pipeline, console, began)
    except Exception as exc:
        console.line(f"DEMO FAILED: {type(exc).__name__}: {exc}")
        return 1
    finally:
        console.line(f"Stopped everything the demo started ({time.monotonic() - began:.1f} s in all).")


def _play(pipeline: LocalPipeline, console: Console, began: float) -> int:
    prefix = pipeline.stack.outputs["InputPrefix"]
    bucket = pipeline.stack.outputs["InputBucketName"]
    console.heading(f"Uploading {len(DEMO_INPUTS)} files to s3://{bucket}/{prefix}")
    pipeline.on_status_change(lambda change: console.line(format_change(change)))
    uploads = {}
    for item in DEMO_INPUTS:
        upload = pipeline.upload(prefix + item.name, item.body)
        uploads[item.name] = upload
        console.line(f"  {prefix + item.name:<40} ({item.what}) -> run {upload.run_id}")
    console.heading("Progress (read from the runs table after every function invocation)")
    ran_from = time.monotonic()
    runs = pipeline.wait_for_runs([u.run_id for u in uploads.values()], timeout=RUN_TIMEOUT_SECONDS)
    pipeline.wait_idle(timeout=30)
    ran = time.monotonic() - ran_from
    alerts = pipeline.alerts()

    console.heading("Summary")
    rows = [("run", "input", "attempts", "status", "exit code")]
    for item in DEMO_INPUTS:
        run = runs[uploads[item.name].run_id]
        exit_code = "-" if run.exit_code is None else str(run.exit_code)
        rows.append((run.run_id, prefix + item.name, f"{run.attempt}/{run.max_attempts}", run.status.value, exit_code))
    console.lines(_table(rows), indent="  ")

    console.heading(f"Alerts SNS delivered ({len(alerts)}) - as a subscriber receives them")
    for alert in alerts:
        console.line(f"  Subject: {alert.subject}")
        console.lines(alert.message.splitlines(), indent="  | ")
        console.line()

    checks = _checks(pipeline, uploads, runs, alerts)
    console.heading("Checks")
    for check in checks:
        detail = f" - {check.detail}" if check.detail and not check.ok else ""
        console.line(f"  [{'ok' if check.ok else '!!'}] {check.what}{detail}")
    failed = [check for check in checks if not check.ok]
    console.line()
    console.line(
        f"Stack started in {ran_from - began:.1f} s; the {len(DEMO_INPUTS)} runs finished {ran:.1f} s after upload."
    )
    if failed:
        console.line(f"DEMO FAILED: {len(failed)} of {len(checks)} checks did not hold.")
        return 1
    console.line(f"DEMO OK: all {len(checks)} checks hold.")
    return 0


def _checks(pipeline: LocalPipeline, uploads: dict[str, Any], runs: dict[str, Run], alerts: list[Alert]) -> list[Check]:
    stack = pipeline.stack
    s3 = stack.client("s3")
    bucket, output_prefix = stack.outputs["InputBucketName"], stack.outputs["OutputPrefix"]
    checks: list[Check] = []
    for item in DEMO_INPUTS:
        run_id = uploads[item.name].run_id
        run = runs[run_id]
        name = item.name
        got = (run.status.value, run.attempt, run.exit_code)
        want = (item.status, item.attempts, item.exit_code)
        checks.append(
            Check(
                f"{name}: {item.status} after {item.attempts} attempt(s), exit {item.exit_code}",
                got == want,
                f"got {got}",
            )
        )
        jobs = pipeline.jobs_of(run_id)
        last = jobs[-1] if jobs else {}
        described = (last.get("status"), (last.get("container") or {}).get("exitCode"))
        checks.append(
            Check(
                f"{name}: one Batch job per attempt; DescribeJobs agrees",
                len(jobs) == item.attempts and described == (item.status, item.exit_code),
                f"{len(jobs)} job(s), last {described}",
            )
        )
        own = [alert for alert in alerts if alert.run_id == run_id]
        checks.append(Check(f"{name}: {item.alerts} alert(s)", len(own) == item.alerts, f"got {len(own)}"))
        if item.status == "SUCCEEDED":
            checks.append(_result_check(s3, bucket, f"{output_prefix}{run_id}/{RESULT_NAME}", item))
    checks.append(Check("no other alert", len(alerts) == sum(i.alerts for i in DEMO_INPUTS), f"{len(alerts)} in all"))
    for output in ("SubmitDLQUrl", "TrackingDLQUrl", "ScheduleDLQUrl"):
        depth = pipeline.queue_depth(output)
        checks.append(Check(f"{output.removesuffix('Url')} is empty", depth == 0, f"{depth} message(s)"))
    checks.append(Check("the local machinery reported no error", not pipeline.errors, "; ".join(pipeline.errors)))
    return checks


def _result_check(s3: Any, bucket: str, key: str, item: DemoInput) -> Check:
    data = item.body.encode("utf-8")
    expected = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "lines": item.body.count("\n")}
    try:
        result = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:
        return Check(f"{item.name}: result object written", False, f"s3://{bucket}/{key}: {exc}")
    got = {name: result.get(name) for name in expected}
    return Check(f"{item.name}: result {key} holds its checksum, bytes and lines", got == expected, f"got {got}")


# ----------------------------------------------------------------------------------------- serve
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
        state = _write_state(pipeline)
        try:
            _print_serve_help(pipeline, console)
            pipeline.on_status_change(lambda change: console.line(format_change(change)))
            _read_commands(pipeline, console)
            shown = 0
            while True:
                time.sleep(1.0)
                alerts = pipeline.alerts()
                for alert in alerts[shown:]:
                    console.line(f"  ALERT  Subject: {alert.subject}")
                    console.lines(alert.message.split("\n\n", 1)[0].splitlines(), indent="         | ")
                shown = len(alerts)
        except KeyboardInterrupt:
            console.line()
            console.line("Stopping the local stack...")
        finally:
            state.unlink(missing_ok=True)
    console.line("Stopped.")
    return 0


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


# ------------------------------------------------------------------------------- serve state file
def state_path(stack_name: str = DEFAULT_STACK_NAME) -> Path:
    return STATE_DIR / f"{stack_name}.json"


def _write_state(pipeline: LocalPipeline) -> Path:
    stack = pipeline.stack
    functions = stack.resources_of_type("AWS::Lambda::Function")
    layer_dirs = sorted({str(path) for logical_id in functions for path in stack.layer_dirs(logical_id)})
    state = {
        "endpoint_url": pipeline.endpoint_url,
        "region": stack.region,
        "stack_name": stack.name,
        "bucket": stack.outputs["InputBucketName"],
        "input_prefix": stack.outputs["InputPrefix"],
        "output_prefix": stack.outputs["OutputPrefix"],
        "layer_dirs": layer_dirs,
        "pid": os.getpid(),
    }
    path = state_path(stack.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return path


def read_state(stack_name: str = DEFAULT_STACK_NAME) -> dict[str, Any]:
    path = state_path(stack_name)
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LookupError("no local stack is running: start one with `make serve`") from None
    if not process_alive(int(state.get("pid", 0))):
        raise LookupError(f"the local stack that wrote {path} is gone: start one with `make serve`")
    return state

    return True


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


# ----------------------------------------------------------------------------------------- helpers
def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def _relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _parameters_text() -> str:
    return ", ".join(f"{name}={value}" for name, value in LOCAL_PARAMETERS.items())
