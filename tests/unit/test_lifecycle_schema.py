"""The lifecycle events' JSON Schema (events/schemas/lifecycle-event.schema.json): the samples under events/ are
exactly what the code builds, they validate, and mutated events are rejected. tests/e2e/test_lifecycle_events.py
validates the events a test consumer received from the local pipeline against the same schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from tests.support.events import EVENTS_DIR, load_event
from tests.support.lifecycle_changes import SAMPLES, sample_text

SCHEMA = json.loads((EVENTS_DIR / "schemas" / "lifecycle-event.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def errors(event: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(event)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("file", sorted(SAMPLES))
def test_each_sample_is_what_the_code_builds_and_validates(file: str) -> None:
    # Given a sample event of events/
    text = (EVENTS_DIR / file).read_text(encoding="utf-8")

    # Then it is byte for byte the event the code builds (regenerate: python -m tests.support.lifecycle_changes)
    assert text == sample_text(SAMPLES[file])
    # and it validates against the schema
    assert errors(json.loads(text)) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = event
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = event
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


MUTATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "unknown detail-type": ("lifecycle_succeeded.json", _set("detail-type", "Run Exploded")),
    "source of another application": ("lifecycle_succeeded.json", _set("source", "com.example.other")),
    "detail without its runId": ("lifecycle_succeeded.json", _drop("detail.runId")),
    "detail with an unknown field": ("lifecycle_started.json", _set("detail.extra", 1)),
    "another schema version": ("lifecycle_failed.json", _set("detail.schemaVersion", "2.0")),
    "exit code as text": ("lifecycle_failed.json", _set("detail.exitCode", "3")),
    "a success whose status is FAILED": ("lifecycle_succeeded.json", _set("detail.status", "FAILED")),
    "a failed attempt without its next attempt": ("lifecycle_attempt_failed.json", _drop("detail.next")),
    "a started run with a failed attempt's next": ("lifecycle_started.json", _set("detail.next", {"attempt": 2})),
    "an S3 input without its key": ("lifecycle_started.json", _drop("detail.input.key")),
    "a stuck run already finished": ("lifecycle_stuck.json", _set("detail.status", "SUCCEEDED")),
    "a blocked queue without its queue": ("lifecycle_queue_blocked.json", _drop("detail.jobQueue")),
    "an envelope without its account": ("lifecycle_retry_requested.json", _drop("account")),
    "a step finished of an unknown kind": ("lifecycle_step_finished.json", _set("detail.finished", "phase")),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mutated_event_is_rejected(name: str) -> None:
    # Given a valid sample, mutated
    file, mutate = MUTATIONS[name]
    event = load_event(file)
    assert errors(event) == []
    broken = copy.deepcopy(event)
    mutate(broken)

    # Then the schema rejects it
    assert errors(broken) != []
