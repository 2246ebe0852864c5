"""Issue 14's array targets (bench/targets.py): met by the committed figures, missed by figures one step over.

The checks are recomputed from bench/results.json's ``arrays`` section and from copies of it with one figure
mutated: a target that still passed on 201 tracker invocations, on failed + 21 writes, on an item one byte over
100 KB or on a rerun of the wrong size would be no target at all.
"""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.targets import (
    ARRAY_ITEM_BYTES_TARGET,
    ARRAY_TRACKER_INVOCATIONS_TARGET,
    ARRAY_WRITES_OVER_FAILED,
    array_tracker_invocations_target,
    checks,
    single_job_equivalent,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
ARRAY_CHECKS = (
    "array: tracker invocations",
    "array: DynamoDB writes",
    "array: largest run item",
    "array: rerun is one array of exactly the failed children",
)


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    return {check["name"]: check["ok"] for check in checks(results) if check["name"] in ARRAY_CHECKS}


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    results: dict[str, Any] = copy.deepcopy(RESULTS)
    change(results["arrays"])
    return results


def set_writes(arrays: dict[str, Any], total: int) -> None:
    arrays["dynamodb_writes"] = total
    arrays["dynamodb_writes_by_operation"] = {"dynamodb:PutItem": 1, "dynamodb:UpdateItem": total - 1}


def test_the_committed_array_figures_are_a_full_10000_child_run_meeting_every_target() -> None:
    arrays = RESULTS["arrays"]
    assert (arrays["array_size"], arrays["failed_children"]) == (10_000, 100)
    assert arrays["run_status"] == "SUCCEEDED"
    assert verdicts(RESULTS) == dict.fromkeys(ARRAY_CHECKS, True)
    # and the file's own verdicts are the recomputed ones
    assert {c["name"]: c["ok"] for c in RESULTS["checks"] if c["name"] in ARRAY_CHECKS} == verdicts(RESULTS)


def test_the_children_s_events_stopped_at_the_rule_and_the_rerun_ran_exactly_the_failed_items() -> None:
    arrays = RESULTS["arrays"]
    events = arrays["batch_events"]
    # 4 state changes per child of both attempts dropped; the parents' reached the tracker
    assert events["dropped_at_rule"] == 4 * (arrays["array_size"] + arrays["failed_children"])
    assert events["to_tracker"] == arrays["tracker_invocations"]
    rerun = arrays["rerun"]
    assert rerun["items"] == ",".join(str(item) for item in range(0, 10_000, 100))
    assert rerun["items_are_the_failed_children"] is True
    assert rerun["first_attempt_failed_children_listed"] == arrays["failed_children"]


def test_the_single_job_figures_beside_the_array_are_computed_from_the_calls_section() -> None:
    assert single_job_equivalent(RESULTS) == RESULTS["array_vs_single_jobs"]
    # 10,000 uploads + 10,100 attempts x 4 events x 1 write + 100 resubmission claims
    assert RESULTS["array_vs_single_jobs"]["dynamodb_writes"] == 10_000 + 10_100 * 4 + 100
    assert RESULTS["array_vs_single_jobs"]["tracker_invocations"] == 10_100 * 4


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("array: tracker invocations", lambda a: a.update(tracker_invocations=ARRAY_TRACKER_INVOCATIONS_TARGET + 1)),
        ("array: DynamoDB writes", lambda a: set_writes(a, a["failed_children"] + ARRAY_WRITES_OVER_FAILED + 1)),
        ("array: DynamoDB writes", lambda a: a.update(dynamodb_writes=a["dynamodb_writes"] - 1)),  # total != ops
        ("array: largest run item", lambda a: a.update(largest_item_bytes=ARRAY_ITEM_BYTES_TARGET + 1)),
        ("array: largest run item", lambda a: a.update(largest_item_bytes=0)),  # nothing measured
        ("array: rerun is one array of exactly the failed children", lambda a: a["rerun"].update(array_size=99)),
        (
            "array: rerun is one array of exactly the failed children",
            lambda a: a["rerun"].update(items_are_the_failed_children=False),
        ),
        ("array: rerun is one array of exactly the failed children", lambda a: a.update(submit_jobs=3)),
        ("array: rerun is one array of exactly the failed children", lambda a: a.update(run_status="FAILED")),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_figure_past_its_target_misses_that_target_only(name: str, change: Callable[[dict[str, Any]], None]) -> None:
    assert verdicts(mutated(change)) == {check: check != name for check in ARRAY_CHECKS}


def test_figures_exactly_at_the_targets_meet_them() -> None:
    def at_limits(arrays: dict[str, Any]) -> None:
        arrays["tracker_invocations"] = ARRAY_TRACKER_INVOCATIONS_TARGET
        set_writes(arrays, arrays["failed_children"] + ARRAY_WRITES_OVER_FAILED)
        arrays["largest_item_bytes"] = ARRAY_ITEM_BYTES_TARGET

    assert verdicts(mutated(at_limits)) == dict.fromkeys(ARRAY_CHECKS, True)


def test_the_quick_array_s_invocations_target_is_scaled_to_its_size() -> None:
    assert array_tracker_invocations_target(10_000) == 200
    assert array_tracker_invocations_target(1_000) == 20
    assert array_tracker_invocations_target(10) == 1

    def quick(arrays: dict[str, Any]) -> None:
        arrays.update(array_size=1_000, failed_children=10, tracker_invocations=21)
        arrays["rerun"].update(array_size=10)

    assert verdicts(mutated(quick))["array: tracker invocations"] is False
