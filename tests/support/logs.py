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
    """Sum of every stack-wide metric in the Powertools EMF blobs printed to stdout (the per-workload breakdown,
    the same metrics with a Workload dimension, is left out: see ``emf_metrics_by_workload``)."""
    totals: dict[str, float] = {}
    for blob in _emf_blobs(stdout):
        if "Workload" not in blob:
            _add(totals, blob)
    return totals


def emf_metrics_by_workload(stdout: str) -> dict[str, dict[str, float]]:
    """Per workload, the sum of each metric of the EMF blobs with a Workload dimension."""
    by_workload: dict[str, dict[str, float]] = {}
    for blob in _emf_blobs(stdout):
        if "Workload" in blob:
            _add(by_workload.setdefault(blob["Workload"], {}), blob)
    return by_workload


def _emf_blobs(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(text) for text in stdout.splitlines() if '"_aws"' in text]


def _add(totals: dict[str, float], blob: dict[str, Any]) -> None:
    for directive in blob["_aws"]["CloudWatchMetrics"]:
        for metric in directive["Metrics"]:
            value = blob[metric["Name"]]
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(value if isinstance(value, list) else [value])
