"""What the functions write: their Powertools log lines (the ``logs`` fixture) and EMF metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """What the functions' Powertools logger writes (JSON lines, as CloudWatch would receive them)."""
    from batch_orchestrator.observability import logger

    capture = LogCapture()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(capture.stream)
    try:
        yield capture
    finally:
        handler.setStream(previous)


class LogCapture:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for text in self.stream.getvalue().splitlines():
            try:
                found.append(json.loads(text))
            except ValueError:
                continue
        return found

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


def emf_metrics(stdout: str) -> dict[str, float]:
    """Sum of every metric in the Powertools EMF blobs printed to stdout."""
    totals: dict[str, float] = {}
    for text in stdout.splitlines():
        if '"_aws"' not in text:
            continue
        blob = json.loads(text)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                    value if isinstance(value, list) else [value]
                )
    return totals
