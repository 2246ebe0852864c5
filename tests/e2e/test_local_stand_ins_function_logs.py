"""The local stand-in for the functions' CloudWatch Logs (``emulator.function_logs``) under threads: the pipeline
invokes functions from its pollers and its asynchronous invoker while other threads print (serve's console, a CLI
test). Proven: two captures at once ship exactly their own lines and warnings; nothing printed inside a capture
reaches the real stdout, or a stream swapped in after ``install``; what other threads print meanwhile goes where
it would without the pipeline; ``uninstall`` gives back sys.stdout, ``warnings.showwarning`` and the logger's stream.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast

import pytest

from emulator.function_logs import FunctionLogs

LINES = 200


class _AlreadyExistsError(Exception):
    pass


class _ShippingStack:
    """The part of ``EmulatedStack`` FunctionLogs uses: its logs client, which keeps the lines shipped per group."""

    class exceptions:  # noqa: N801 - boto3's spelling
        ResourceAlreadyExistsException = _AlreadyExistsError

    def __init__(self) -> None:
        self.shipped: dict[str, list[str]] = defaultdict(list)

    def client(self, service: str) -> _ShippingStack:
        assert service == "logs"
        return self

    def function_log_group(self, logical_id: str) -> str:
        return logical_id

    def create_log_group(self, **_: Any) -> None:
        pass

    def create_log_stream(self, **_: Any) -> None:
        pass

    def put_log_events(self, *, logGroupName: str, logStreamName: str, logEvents: list[dict[str, Any]]) -> None:  # noqa: N803
        self.shipped[logGroupName] += [event["message"] for event in logEvents]


@contextlib.contextmanager
def _installed(stack: _ShippingStack) -> Any:
    logs = FunctionLogs(cast(Any, stack), echo=None)
    logs.install()
    try:
        yield logs
    finally:
        logs.uninstall()


def _in_threads(*targets: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)


def test_two_captures_at_once_ship_exactly_their_own_lines_and_none_reaches_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = _ShippingStack()
    both_printing = threading.Barrier(2, timeout=10)
    a_done = threading.Event()

    def invocation(logs: FunctionLogs, name: str) -> Callable[[], None]:
        def run() -> None:
            with logs.capture(name):
                for i in range(LINES):
                    print(f"{name} line {i}")
                    both_printing.wait()  # both threads inside their capture, printing in turn
                if name == "B":  # and B goes on printing after A's capture has ended
                    assert a_done.wait(timeout=10)
                    print("B after A")
            if name == "A":
                a_done.set()

        return run

    # Given two functions invoked at once, from two threads, each printing line after line in turn with the other
    with _installed(stack) as logs:
        _in_threads(invocation(logs, "A"), invocation(logs, "B"))
        print("the test's own line")

    # Then each function's log group holds exactly its own lines, in order
    assert dict(stack.shipped) == {
        "A": [f"A line {i}" for i in range(LINES)],
        "B": [*(f"B line {i}" for i in range(LINES)), "B after A"],
    }
    # and the real stdout got only what was printed outside any capture
    assert capsys.readouterr().out == "the test's own line\n"


def test_a_stream_swapped_in_after_install_gets_what_its_thread_prints_and_no_function_line() -> None:
    stack = _ShippingStack()
    printed, go_on = threading.Event(), threading.Event()
    stdout, showwarning = sys.stdout, warnings.showwarning

    def invocation(logs: FunctionLogs) -> Callable[[], None]:
        def run() -> None:
            with logs.capture("Function"):
                print("the function's first line")
                printed.set()
                assert go_on.wait(timeout=10)
                print("the function's last line")

        return run

    # Given the pipeline's logs installed, then stdout swapped (as capsys or a CLI runner does)
    with _installed(stack) as logs, contextlib.redirect_stdout(io.StringIO()) as swapped:
        thread = threading.Thread(target=invocation(logs))
        thread.start()
        # When this thread prints while the function's capture runs on another
        assert printed.wait(timeout=10)
        print("the CLI's output")
        go_on.set()
        thread.join(timeout=10)

    # Then the swapped stream got this thread's line only, and the log group the function's lines only
    assert swapped.getvalue() == "the CLI's output\n"
    assert dict(stack.shipped) == {"Function": ["the function's first line", "the function's last line"]}
    # and uninstall gave back what install changed
    assert (sys.stdout, warnings.showwarning) == (stdout, showwarning)


def test_two_captures_at_once_log_their_own_warnings(recwarn: pytest.WarningsRecorder) -> None:
    stack = _ShippingStack()
    both_warning = threading.Barrier(2, timeout=10)

    def invocation(logs: FunctionLogs, name: str) -> Callable[[], None]:
        def run() -> None:
            with logs.capture(name):
                for i in range(3):
                    warnings.warn(f"{name} warning {i}", UserWarning, stacklevel=1)
                    both_warning.wait()

        return run

    # Given two functions warning at once, from two threads, while this thread warns outside any capture
    with _installed(stack) as logs:
        _in_threads(invocation(logs, "A"), invocation(logs, "B"))
        warnings.warn("the test's own warning", UserWarning, stacklevel=1)

    # Then each function logs its own warnings, and the test's own warning is shown where it was before
    assert dict(stack.shipped) == {name: [f"UserWarning: {name} warning {i}" for i in range(3)] for name in ("A", "B")}
    assert [str(w.message) for w in recwarn] == ["the test's own warning"]


def test_the_powertools_logger_writes_to_the_capture_of_its_thread_and_gets_its_stream_back() -> None:
    from batch_orchestrator.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    before = handler.stream
    stack = _ShippingStack()

    with _installed(stack) as logs:
        _in_threads(lambda: _log_in_capture(logs, logger))

    assert handler.stream is before
    (line,) = stack.shipped["Function"]
    assert json.loads(line)["message"] == "from the function"


def _log_in_capture(logs: FunctionLogs, logger: Any) -> None:
    with logs.capture("Function"):
        logger.info("from the function")
