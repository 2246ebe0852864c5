"""A workload's ``array:`` (batch_orchestrator.workload_array): read in both forms, one line per problem, the
runtime form carries it, and the ARRAY_* variables are the orchestrator's."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from batch_orchestrator.attempt_plan import first_plan
from batch_orchestrator.workloads import (
    ArraySpec,
    ManifestSource,
    WorkloadTableError,
    parse_workloads,
    to_runtime_json,
)
from tests.unit.test_workloads import entry

T = "workloads.yaml: thumbnails: "
NIGHTLY = [{"name": "n", "expression": "rate(1 day)", "timezone": "UTC"}]
ARRAY_YAML = """
workloads:
  - name: tiles
    match: {prefix: tiles/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    array: {size: 3}
  - name: batches
    match: {suffix: .manifest}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    array: {manifest: upload}
"""


def problems(**mutation: Any) -> list[str]:
    with pytest.raises(WorkloadTableError) as raised:
        parse_workloads([entry(**mutation)], source="workloads.yaml", runtime=False)
    return [str(p) for p in raised.value.problems]


def test_a_fixed_size_and_an_uploaded_manifest_read_as_written() -> None:
    # Given both kinds of array as a user writes them
    data = yaml.safe_load(ARRAY_YAML)["workloads"]

    # When parsed
    tiles, batches = parse_workloads(data, source="workloads.yaml", runtime=False)

    # Then
    assert tiles.array == ArraySpec(size=3)
    assert batches.array == ArraySpec(manifest=ManifestSource.UPLOAD)
    # and a run's first attempt covers every item of a fixed array; a manifest's size is counted at submission
    assert (first_plan(tiles).array_size, first_plan(tiles).items) == (3, ())
    assert first_plan(batches).array_size == 0


@pytest.mark.parametrize("size", [2, 10_000])
def test_the_sizes_batch_allows_are_accepted(size: int) -> None:
    (workload,) = parse_workloads([entry(array={"size": size})], source="workloads.yaml", runtime=False)
    assert workload.array == ArraySpec(size=size)


RULES: list[tuple[dict[str, Any], str]] = [
    (
        {"array": {"size": 1}},
        T + "array.size: must be between 2 and 100,000 (more than 10,000 run as array jobs of 10,000 one after "
        "another; for one item, leave array out), got 1",
    ),
    (
        {"array": {"size": 100_001}},
        T + "array.size: must be between 2 and 100,000 (more than 10,000 run as array jobs of 10,000 one after "
        "another; for one item, leave array out), got 100001",
    ),
    ({"array": {"size": "3"}}, T + "array.size: must be a whole number of children, 2 to 100,000, got '3'"),
    ({"array": {"size": True}}, T + "array.size: must be a whole number of children, 2 to 100,000, got true"),
    ({"array": {"sise": 3}}, T + "array.sise: unknown key; did you mean 'size'?"),
    ({"array": {"size": 3, "split": True}}, T + "array.split: unknown key; expected size or manifest"),
    (
        {"array": {"size": 3, "manifest": "upload"}},
        T + "array: needs exactly one of size (a fixed number of children) and manifest (upload)",
    ),
    ({"array": {}}, T + "array: needs exactly one of size (a fixed number of children) and manifest (upload)"),
    (
        {"array": 3},
        T + "array: must be a mapping, {size: N} or {manifest: upload | previous-step | upload-directory}, got 3",
    ),
    (
        {"array": {"manifest": "s3"}},
        T + "array.manifest: must be upload, previous-step or upload-directory (the uploaded object, the manifest the "
        "previous pipeline step wrote, or the objects beside the upload), got 's3'",
    ),
    (
        {"array": {"manifest": "upload"}, "match": None, "schedules": NIGHTLY},
        T + "array.manifest: upload needs a key rule (match): the manifest comes from the upload, and only uploads "
        "have one",
    ),
    (
        {"array": {"manifest": "upload"}, "schedules": NIGHTLY},
        T + "array.manifest: cannot go with schedules: a schedule's firing uploads nothing, so it has no manifest "
        "to count",
    ),
    (
        {"environment": {"ARRAY_ITEMS": "1"}},
        T + "environment.ARRAY_ITEMS: is set by the orchestrator on every job (RUN_ID, RUN_ATTEMPT, TRIGGER, INPUT_*, "
        "SCHEDULE_*, SCHEDULED_TIME, OUTPUT_*, ARRAY_*, STEP_*, PREVIOUS_STEP_*, MANIFEST_*, REQUEST_*): "
        "choose another name",
    ),
]


@pytest.mark.parametrize(("mutation", "line"), RULES, ids=[line.split(": ", 2)[2][:50] for _, line in RULES])
def test_each_array_rule_reports_one_line_naming_the_field(mutation: dict[str, Any], line: str) -> None:
    # Given a valid workload with one mutation of its array
    # When it is parsed
    # Then exactly that one line comes out
    assert problems(**mutation) == [line]


def test_a_schedule_only_workload_may_be_a_fixed_array() -> None:
    (workload,) = parse_workloads(
        [entry(match=None, schedules=NIGHTLY, array={"size": 4})], source="workloads.yaml", runtime=False
    )
    assert workload.array == ArraySpec(size=4)


@pytest.mark.parametrize("array", [{"size": 3}, {"manifest": "upload"}])
def test_the_runtime_form_carries_the_array_and_reads_back_the_same(array: dict[str, Any]) -> None:
    # Given a file-form workload with an array
    (written,) = parse_workloads([entry(array=array)], source="workloads.yaml", runtime=False)

    # When it is rendered into the layer's table and read back at cold start
    runtime = to_runtime_json(written)
    (read,) = parse_workloads([runtime], source="workload_table.json", runtime=True)

    # Then the array survived, spelled as in workloads.yaml
    assert runtime["array"] == array
    assert read.array == written.array


def test_a_workload_without_array_renders_as_before() -> None:
    (written,) = parse_workloads([entry()], source="workloads.yaml", runtime=False)
    assert "array" not in to_runtime_json(written)
    assert written.array is None


def test_an_array_spec_has_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ArraySpec()
    with pytest.raises(ValueError, match="exactly one"):
        ArraySpec(size=3, manifest=ManifestSource.UPLOAD)
