"""A workload's ``coalesce:`` (batch_orchestrator.workload_coalesce): read in both forms with its defaults, one line
per problem, refused with what it cannot go with; routing hands the workload's uploads to the coalescer and never
routes a manifest it wrote."""

from __future__ import annotations

from typing import Any

import pytest

from batch_orchestrator.routing import InputPrefixOnly, UploadRoutes
from batch_orchestrator.s3_events import Coalesced, Skipped
from batch_orchestrator.submit_messages import parse_submit_message
from batch_orchestrator.workloads import (
    COALESCED_MANIFEST,
    CoalesceSpec,
    NoWorkload,
    WorkloadTable,
    WorkloadTableError,
    parse_workloads,
    to_runtime_json,
)
from tests.unit.test_workloads import entry

T = "workloads.yaml: thumbnails: "


def parsed(**mutation: Any) -> CoalesceSpec | None:
    (workload,) = parse_workloads([entry(**mutation)], source="workloads.yaml", runtime=False)
    return workload.coalesce


def problems(**mutation: Any) -> list[str]:
    with pytest.raises(WorkloadTableError) as raised:
        parse_workloads([entry(**mutation)], source="workloads.yaml", runtime=False)
    return [str(p) for p in raised.value.problems]


def test_coalesce_reads_with_its_defaults_and_survives_the_runtime_form() -> None:
    assert parsed() is None
    assert parsed(coalesce={}) == CoalesceSpec(window_seconds=60, max_items=10_000)
    assert parsed(coalesce={"window_seconds": 300, "max_items": 2}) == CoalesceSpec(300, 2)
    (workload,) = parse_workloads([entry(coalesce={"window_seconds": 5})], source="workloads.yaml", runtime=False)
    (again,) = parse_workloads([to_runtime_json(workload)], source="workload_table.json", runtime=True)
    assert again.coalesce == CoalesceSpec(5, 10_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"window_seconds": 0}, "coalesce.window_seconds: must be between 1 and 300, got 0"),
        ({"window_seconds": 301}, "coalesce.window_seconds: must be between 1 and 300, got 301"),
        ({"max_items": 1}, "coalesce.max_items: must be between 2 and 10,000, got 1"),
        ({"max_items": 10_001}, "coalesce.max_items: must be between 2 and 10,000, got 10001"),
        ({"max_items": True}, "coalesce.max_items: must be a whole number, 2 to 10,000, got true"),
        ({"window": 5}, "coalesce.window: unknown key; did you mean 'window_seconds'?"),
        (
            [],
            "coalesce: must be a mapping {window_seconds: 1..300, max_items: 2..10000} (or {} for the defaults), "
            "got a list",
        ),
    ],
)
def test_a_bad_value_is_one_problem_line(value: Any, expected: str) -> None:
    assert problems(coalesce=value) == [T + expected]


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ({"array": {"size": 3}}, "cannot go with array: a coalesced run is already an array, one child per upload"),
        (
            {"match": None, "schedules": [{"name": "n", "expression": "rate(1 day)", "timezone": "UTC"}]},
            "needs a key rule (match): only uploads are coalesced, a schedule's firing is not one",
        ),
    ],
    ids=["with array", "schedules only"],
)
def test_what_coalescing_cannot_go_with_is_one_problem_line(mutation: dict[str, Any], expected: str) -> None:
    assert problems(coalesce={}, **mutation) == [f"{T}coalesce: {expected}"]


def test_pipelines_are_refused_with_coalescing() -> None:
    assert f"{T}coalesce: cannot go with then: coalesced runs do not start pipelines yet" in problems(
        coalesce={}, then="next"
    )


def _table() -> WorkloadTable:
    return WorkloadTable(
        parse_workloads(
            [entry(name="frames", match={"prefix": "frames/"}, coalesce={}), entry(match={"prefix": "images/"})],
            source="workloads.yaml",
            runtime=False,
        )
    )


def _notification(key: str) -> str:
    return (
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "in"}, '
        f'"object": {{"key": "{key}", "versionId": "v1", "sequencer": "00A1", "size": 3}}}}}}]}}'
    )


def test_routing_hands_a_coalescing_workloads_uploads_over_and_skips_its_manifests() -> None:
    routes = UploadRoutes(_table())
    (frames,) = parse_submit_message(_notification("frames/a.png"), routes=routes)
    assert isinstance(frames, Coalesced)
    assert (frames.workload, frames.source.key) == ("frames", "frames/a.png")
    (image,) = parse_submit_message(_notification("images/a.png"), routes=routes)
    assert not isinstance(image, Coalesced | Skipped)
    (manifest,) = parse_submit_message(_notification("batch-orchestrator/coalesced/frames/1.json"), routes=routes)
    assert type(manifest) is Skipped
    # and a table without a coalescing workload routes that prefix as any other key; nothing coalesces by prefix
    plain = WorkloadTable(tuple(w for w in _table().workloads if w.coalesce is None))
    routed = plain.route("batch-orchestrator/coalesced/frames/1.json")
    assert not (isinstance(routed, NoWorkload) and routed.reason == COALESCED_MANIFEST)
    assert not InputPrefixOnly("").coalesces("default")
