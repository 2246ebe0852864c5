"""SIMULATED CloudWatch Logs of the functions: what a handler prints goes to its log group in moto.

During an invocation, what the handler prints (Powertools' logger and metrics write to stdout, as
on Lambda) and the warnings it raises are collected, then put to the function's log group under
one stream per function, like a warm Lambda container. The Powertools logger keeps the stream it
was created with, so its handler is pointed here while the pipeline runs.

Functions are invoked from more than one thread (the asynchronous invoker, the SQS pollers, the
stream poller), and other threads print meanwhile (serve's console, a CLI test), so a capture is
per thread: ``install`` puts a ``ThreadRoutedStream`` in ``sys.stdout`` (and in the logger's handler),
which sends a write to the capture active in the writing thread, and any other write on to the stream it
replaced. Whoever swaps ``sys.stdout`` after ``install`` (pytest's capsys, a CLI runner) would take the
functions' output, so ``capture`` puts a router back on top of what it finds, with that as its
fallback: whoever swapped restores their own stream later, never a stale one of ours.

Warnings: ``warnings.catch_warnings`` swaps process-wide state (filters and ``showwarning``), so two
threads' captures would restore each other's. Instead ``warnings.showwarning`` is wrapped once, like
stdout (and put back by ``capture`` if replaced, as pytest does around each test): a warning a capturing
thread raises goes to its capture as ``Category: message``, any other one to the replaced hook. Which
warnings are shown stays with the process's filters (Python's default shows each once per place, as a
warm Lambda container does): changing the filters per capture would change them for every thread.

Invariants: logs are a convenience. Failing to ship them never changes an invocation's outcome.
Captures of two threads never mix, and nothing printed inside a capture reaches the real stdout;
what a thread prints outside any capture goes where it would without the pipeline. ``uninstall``
gives back what ``install`` changed: the Powertools logger's stream, and ``sys.stdout`` and
``warnings.showwarning`` where they are still ours (a router left under someone else's stream only
passes writes on once no capture runs).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack

ShowWarning = Callable[..., None]


class ThreadRoutedStream(io.TextIOBase):
    """A stream whose writes go to the capture of the writing thread, or else on to ``fallback``."""

    def __init__(self, logs: FunctionLogs, fallback: IO[str]) -> None:
        super().__init__()
        self.logs = logs
        self.fallback = fallback

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        buffer = self.logs.buffer_of_this_thread()
        if buffer is None:
            self.fallback.write(text)
        else:
            buffer.append(text)
        return len(text)

    def flush(self) -> None:
        if self.logs.buffer_of_this_thread() is None:
            self.fallback.flush()

    def isatty(self) -> bool:
        return self.logs.buffer_of_this_thread() is None and self.fallback.isatty()

    def fileno(self) -> int:
        return self.fallback.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase's is an attribute of None
        return str(getattr(self.fallback, "encoding", None) or "utf-8")


class _WarningRoute:
    """``warnings.showwarning`` while installed: a capturing thread's warnings go to its capture."""

    def __init__(self, logs: FunctionLogs, fallback: ShowWarning) -> None:
        self.logs = logs
        self.fallback = fallback

    def __call__(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: IO[str] | None = None,
        line: str | None = None,
    ) -> None:
        buffer = self.logs.buffer_of_this_thread()
        if buffer is None:
            self.fallback(message, category, filename, lineno, file, line)
        else:
            buffer.append(f"{category.__name__}: {message}\n")


class FunctionLogs:
    """The functions' stdout during ``capture``, per thread, shipped to their log groups (and to ``echo``)."""

    def __init__(self, stack: EmulatedStack, *, echo: Callable[[str], None] | None) -> None:
        self._stack = stack
        self._echo = echo
        self._local = threading.local()  # .captures: this thread's open captures' buffers, innermost last
        self._lock = threading.Lock()  # sys.stdout, warnings.showwarning, the logger's stream
        self._streams_lock = threading.Lock()
        self._installed = False
        self._streams: dict[str, tuple[str, str]] = {}
        self._saved_stream: Any = None

    def buffer_of_this_thread(self) -> list[str] | None:
        captures: list[list[str]] = getattr(self._local, "captures", [])
        return captures[-1] if captures else None

    def install(self) -> None:
        from batch_orchestrator.observability import logger

        with self._lock:
            self._installed = True
            self._route()
            handler = logger.registered_handler
            if isinstance(handler, logging.StreamHandler):
                self._saved_stream = handler.setStream(ThreadRoutedStream(self, handler.stream))

    def uninstall(self) -> None:
        from batch_orchestrator.observability import logger

        with self._lock:
            self._installed = False
            while isinstance(sys.stdout, ThreadRoutedStream) and sys.stdout.logs is self:
                sys.stdout = sys.stdout.fallback
            while isinstance(warnings.showwarning, _WarningRoute) and warnings.showwarning.logs is self:
                warnings.showwarning = warnings.showwarning.fallback
            if self._saved_stream is None:
                return
            handler = logger.registered_handler
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self._saved_stream)
            self._saved_stream = None

    def _route(self) -> None:
        """Put a router of ours on top of ``sys.stdout`` and ``warnings.showwarning`` unless one is there."""
        if not (isinstance(sys.stdout, ThreadRoutedStream) and sys.stdout.logs is self):
            sys.stdout = ThreadRoutedStream(self, sys.stdout)
        if not (isinstance(warnings.showwarning, _WarningRoute) and warnings.showwarning.logs is self):
            warnings.showwarning = _WarningRoute(self, warnings.showwarning)

    @contextlib.contextmanager
    def capture(self, logical_id: str) -> Iterator[None]:
        """What this thread prints and warns until the block ends goes to ``logical_id``'s log group."""
        with self._lock:
            if not self._installed:
                raise RuntimeError("FunctionLogs.capture before install")
            self._route()
        captures: list[list[str]] | None = getattr(self._local, "captures", None)
        if captures is None:
            captures = self._local.captures = []
        buffer: list[str] = []
        captures.append(buffer)
        try:
            yield
        finally:
            captures.pop()  # this one: a thread's captures end in the reverse order they began
            lines = [line for line in "".join(buffer).splitlines() if line.strip()]
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
        with self._streams_lock:
            if logical_id not in self._streams:
                logs = self._stack.client("logs")
                group = self._stack.function_log_group(logical_id)
                stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
                with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                    logs.create_log_group(logGroupName=group)
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
                self._streams[logical_id] = (group, stream)
            return self._streams[logical_id]
