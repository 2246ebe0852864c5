"""The table's pipelines (``then:``): what a valid one is, and one clear line for each way to get it wrong.

Each rule of ``workload_steps`` has a mutation of a valid pipeline that breaks it and the problem it must report: a
check that let the mutation through would fail here.
"""

from __future__ import annotations

from typing import Any

import pytest

from batch_orchestrator.workload_steps import (
    pipeline_of,
    step_environment,
    step_manifest_key,
    step_output_prefix,
    step_position,
)
from batch_orchestrator.workloads import (
    WorkloadTableError,
    parse_workloads,
    to_runtime_json,
    validate_table,
)
from tests.support.environments import workload_json
from tests.support.pipeline_runs import PIPELINE_WORKLOADS, pipeline_table

SOURCE = "workload_table.json"


def problems(entries: list[dict[str, Any]]) -> list[str]:
    try:
        validate_table(parse_workloads(entries, source=SOURCE, runtime=True), source=SOURCE)
    except WorkloadTableError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def with_changed(name: str, **fields: Any) -> list[dict[str, Any]]:
    """The valid pipeline table with workload ``name``'s fields changed (a field set to None is removed)."""
    entries = [dict(entry) for entry in PIPELINE_WORKLOADS]
    for entry in entries:
        if entry["name"] == name:
            for key, value in fields.items():
                if value is None:
                    entry.pop(key, None)
                else:
                    entry[key] = value
    return entries


def test_the_valid_pipelines_parse_and_later_steps_need_no_trigger() -> None:
    assert problems([dict(entry) for entry in PIPELINE_WORKLOADS]) == []
    table = pipeline_table()
    pipeline = pipeline_of(table, "merge")
    assert pipeline is not None
    assert pipeline.steps == ("split", "render", "merge")
    assert pipeline_of(table, "default") is None
    position = step_position(table, "render")
    assert position is not None
    assert (str(position), position.max_attempts) == ("render (step 2 of 3)", 2)
    # and the runtime form keeps `then` (what the layer's table carries)
    render = table.get("render")
    assert render is not None
    assert to_runtime_json(render)["then"] == "merge"


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (with_changed("merge", then="merge"), "merge: then: names this workload itself: a step cannot follow itself"),
        (with_changed("merge", then="nowhere"), "merge: then: names 'nowhere', which is not a workload of this table"),
        (
            [*with_changed("check", then="render")[:-1], workload_json("publish", match={"prefix": "p/"})],
            "check: then: 'render' already follows 'split': a workload is the next step of one only",
        ),
        (
            with_changed("render", match={"prefix": "renders/"}),
            "split: then: 'render' has a trigger of its own (match or schedules)",
        ),
        (
            [
                *with_changed("publish", array={"manifest": "previous-step"}),
                workload_json("lonely", match={"prefix": "l/"}, array={"manifest": "previous-step"}),
            ],
            "lonely: array.manifest: previous-step needs a previous step",
        ),
        (
            with_changed("split", match=None),
            "split: match: a workload needs a trigger",
        ),
        (
            [dict(entry) for entry in PIPELINE_WORKLOADS]
            + [workload_json("ping", then="pong"), workload_json("pong", then="ping")],
            "loop back on themselves, so no trigger ever starts them",
        ),
        (
            [
                workload_json(
                    f"s{i}",
                    retry={"max_attempts": 10},
                    then=f"s{i + 1}",
                    **({"match": {"prefix": "s/"}} if i == 0 else {}),
                )
                for i in range(10)
            ]
            + [workload_json("s10")],
            "allows 101 attempts in all (each step's retry.max_attempts, times the parts of an array of more than "
            "10,000 items), over the 99 a run can number",
        ),
        (with_changed("render", then=3), "render: then: must name the workload that runs after this one succeeds"),
        (
            with_changed("merge", environment={"STEP_NAME": "x"}),
            "",  # runtime form: no environment key at all (the file form checks names: test below)
        ),
    ],
)
def test_each_pipeline_rule_reports_one_line_naming_the_workload(entries: list[dict[str, Any]], expected: str) -> None:
    found = problems(entries)
    if not expected:
        assert any("environment: unknown key" in line for line in found), found
        return
    assert any(expected in line for line in found), found
    assert all(line.startswith(SOURCE) for line in found)


def test_a_pipeline_needs_an_output_prefix_where_its_steps_write() -> None:
    from batch_orchestrator.config import workload_table_from_env
    from batch_orchestrator.errors import ConfigError
    from tests.support.pipeline_runs import PIPELINE_ENV

    with pytest.raises(
        (ConfigError, WorkloadTableError), match="pipeline's steps write under the stack's OutputPrefix"
    ):
        workload_table_from_env({**PIPELINE_ENV, "OUTPUT_PREFIX": ""})


def test_a_step_may_not_set_the_variables_the_orchestrator_gives_steps() -> None:
    from batch_orchestrator.workload_fields import environment_name_problem

    for name in ("STEP_NAME", "STEP_OUTPUT_PREFIX", "PREVIOUS_STEP_OUTPUT_PREFIX", "MANIFEST_KEY"):
        assert environment_name_problem(name) is not None, name
    assert environment_name_problem("STEPS_TO_SKIP") is None


def test_a_steps_environment_says_where_it_stands_and_where_its_outputs_go() -> None:
    table = pipeline_table()
    run_id = "s3-0123456789abcdef01234567"
    prefix = table.output_prefix

    split, render, merge = (
        step_environment(table, name, run_id=run_id, output_prefix=prefix) for name in ("split", "render", "merge")
    )

    assert (
        split["STEP_MANIFEST_KEY"] == step_manifest_key(prefix, run_id, "split") == f"{prefix}{run_id}/split/manifest"
    )
    assert "PREVIOUS_STEP_OUTPUT_PREFIX" not in split
    assert render["MANIFEST_KEY"] == split["STEP_MANIFEST_KEY"]
    assert render["PREVIOUS_STEP_OUTPUT_PREFIX"] == split["STEP_OUTPUT_PREFIX"]
    assert "STEP_MANIFEST_KEY" not in render
    assert (merge["STEP_NUMBER"], merge["STEP_COUNT"]) == ("3", "3")
    assert merge["PREVIOUS_STEP_OUTPUT_PREFIX"] == step_output_prefix(prefix, run_id, "render")
    assert "MANIFEST_KEY" not in merge
    assert step_environment(table, "default", run_id=run_id, output_prefix=prefix) == {}


def test_a_table_with_pipelines_renders_the_rule_that_refuses_an_empty_output_prefix() -> None:
    from workload_table.render import rules_region

    lines = rules_region(pipeline_table())
    assert lines[0] == "PipelinesNeedOutputPrefix:"
    assert '!Not [!Equals [!Ref OutputPrefix, ""]]' in "\n".join(rules_region(pipeline_table()))
    # and a table without one renders none (the default stack's template is unchanged)
    no_pipeline = [dict(entry) for entry in PIPELINE_WORKLOADS if entry["name"] in ("merge",)]
    no_pipeline[0]["match"] = {"prefix": "m/"}
    plain = validate_table(parse_workloads(no_pipeline, source=SOURCE, runtime=True), source=SOURCE)
    assert rules_region(plain) == []
