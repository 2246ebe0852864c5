"""What lets `orchestrator smoke` (and `make smoke`) run against `serve`.

* ``stack_functions_invocable`` — SIMULATED Lambda Invoke. moto's Lambda cannot run our handlers
  without Docker: an Invoke of a function of the stack answers "Simple Lambda happy path OK". While
  this context manager is active, moto's Lambda backend hands an Invoke of one of the stack's
  functions to ``run`` (``serve``: the pipeline, which runs the real handler in-process with the
  function's environment, as it does for every event it delivers) and answers as Lambda does:
  RequestResponse returns the handler's result, or ``X-Amz-Function-Error: Unhandled`` with the
  error; Event is queued (202) for the pipeline's asynchronous invoker; DryRun returns 204. Invokes of
  other functions go to moto unchanged. On AWS, Lambda runs the deployed code; that is the path users run.
* ``wait_until_serving`` / ``stop_serving`` — start-up and shut-down of a background ``serve`` for
  `make smoke`: wait until the process has written its state file; stop it with SIGTERM (serve
  stops cleanly, as on Ctrl-C), then SIGKILL if it does not within the timeout.
"""

from __future__ import annotations

import json
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack

FUNCTION = "AWS::Lambda::Function"
Run = Callable[[str, Any], Any]  # (function logical id, event) → the handler's result
RunAsync = Callable[[str, Any], None]


def function_name_of(identifier: str) -> str:
    """A FunctionName parameter (name, ARN or partial ARN, with or without qualifier) → the name."""
    parts = identifier.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


@contextmanager
def stack_functions_invocable(stack: EmulatedStack, run: Run, run_async: RunAsync | None = None) -> Iterator[None]:
    """SIMULATED Lambda Invoke of the stack's functions (see the module docstring)."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend  # the backend moto uses without Docker

    functions = {stack.function_name(logical_id): logical_id for logical_id in stack.resources_of_type(FUNCTION)}

    def answer(logical_id: str, body: Any, headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        payload = b""
        if invocation_type == "Event":
            (run_async or run)(logical_id, event)
        elif invocation_type != "DryRun":
            try:
                payload = json.dumps(run(logical_id, event)).encode("utf-8")
            except Exception as exc:  # Lambda's answer to an unhandled error: 200 with the error as payload
                response_headers["x-amz-function-error"] = "Unhandled"
                error = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
                payload = json.dumps(error).encode("utf-8")
        response_headers["x-amz-executed-version"] = "$LATEST"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    originals = {backend: backend.__dict__["invoke"] for backend in (LambdaBackend, LambdaSimpleBackend)}

    def patched(original: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> str | bytes | None:
            logical_id = functions.get(function_name_of(function_name))
            if logical_id is None:
                answered: str | bytes | None = original(
                    backend, function_name, qualifier, body, headers, response_headers
                )
                return answered
            return answer(logical_id, body, headers, response_headers)

        return invoke

    for backend, original in originals.items():
        backend.invoke = patched(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for backend, original in originals.items():
            backend.invoke = original  # type: ignore[method-assign]


# ------------------------------------------------------------------------------ background serve
def wait_until_serving(pid: int, *, timeout: float, read_state: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Block until the serve process ``pid`` has recorded its endpoint; RuntimeError if it died or timed out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = read_state()
            if int(state.get("pid", 0)) == pid:
                return state
        except LookupError:
            pass
        if not process_alive(pid):
            raise RuntimeError(f"serve (process {pid}) exited before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"serve (process {pid}) not ready after {timeout:.0f} s")
        time.sleep(0.2)


def stop_serving(pid: int, *, timeout: float) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True if it stopped by itself."""
    if not process_alive(pid):
        return True
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return False


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a child of ours that exited is reaped, not counted as alive)."""
    if pid <= 0:
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it, or it stays a zombie that looks alive
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child (a shell started it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
