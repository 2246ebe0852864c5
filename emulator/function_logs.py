"""SIMULATED CloudWatch Logs of the functions: what a handler prints goes to its log group in moto.

During an invocation, what the handler prints (Powertools' logger and metrics write to stdout, as
on Lambda) and the warnings it raises are collected, then put to the function's log group under
one stream per function, like a warm Lambda container. The Powertools logger keeps the stream it
was created with, so its handler is pointed here while the pipeline runs.

Invariant: logs are a convenience. Failing to ship them never changes an invocation's outcome,
and ``uninstall`` gives the Powertools logger back the stream it had before ``install``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack


class FunctionLogs(io.TextIOBase):
    """The functions' stdout during ``capture``, shipped to their log groups (and to ``echo``)."""

    def __init__(self, stack: EmulatedStack, *, echo: Callable[[str], None] | None) -> None:
        super().__init__()
        self._stack = stack
        self._echo = echo
        self._current: str | None = None
        self._buffer: list[str] = []
        self._streams: dict[str, tuple[str, str]] = {}
        self._saved_stream: Any = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._current is not None:
            self._buffer.append(text)
        return len(text)

    def install(self) -> None:
        from batch_orchestrator.observability import logger

        handler = logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            self._saved_stream = handler.setStream(self)

    def uninstall(self) -> None:
        if self._saved_stream is None:
            return
        from batch_orchestrator.observability import logger

        handler = logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(self._saved_stream)
        self._saved_stream = None

    @contextlib.contextmanager
    def capture(self, logical_id: str) -> Iterator[None]:
        self._current, self._buffer = logical_id, []
        caught: list[warnings.WarningMessage] = []
        try:
            # Lambda's runtime sends what the handler prints, and Python's warnings, to the log stream.
            with contextlib.redirect_stdout(self), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                yield
        finally:
            self._buffer += [f"{w.category.__name__}: {w.message}\n" for w in caught]
            lines = [line for line in "".join(self._buffer).splitlines() if line.strip()]
            self._current, self._buffer = None, []
            self._ship(logical_id, lines)

    def _ship(self, logical_id: str, lines: Sequence[str]) -> None:
        if self._echo is not None:
            for line in lines:
                self._echo(f"[function {logical_id}] {line}")
        if not lines:
            return
        logs = self._stack.client("logs")
        try:
            group, stream = self._stream_of(logical_id)
            now = int(time.time() * 1000)
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": now, "message": line} for line in lines[:5000]],
            )
        except Exception:  # noqa: S110 - logs are a convenience; the invocation's outcome stands
            pass

    def _stream_of(self, logical_id: str) -> tuple[str, str]:
        if logical_id not in self._streams:
            logs = self._stack.client("logs")
            group = self._stack.function_log_group(logical_id)
            stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams[logical_id] = (group, stream)
        return self._streams[logical_id]
