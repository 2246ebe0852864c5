"""The committed benchmark figures (bench/results.json, written by `make bench`) meet their targets.

Nothing is timed here: the checks read the committed file, so a regression in the figures shows up
as a failing test once someone reruns `make bench` and commits the result.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import COMMAND
from bench.report import PERFORMANCE_PAGE, readme_section, table
from bench.targets import COLD_START_RATIO_TARGET, checks, submit_rate_model

ROOT = Path(__file__).resolve().parents[2]
RESULTS = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
FUNCTIONS = ("submit_jobs", "submit_scheduled", "track_jobs", "watchdog")


def test_the_committed_figures_come_from_a_full_run() -> None:
    assert RESULTS["quick"] is False
    assert RESULTS["watchdog"]["finished_runs"] == 100_000
    assert RESULTS["invocations"]["uploads"] == 1000
    assert RESULTS["handler_work"]["items"] == 1000
    assert all(RESULTS["cold_start"]["functions"][name]["ours"]["processes"] >= 10 for name in FUNCTIONS)
    assert (RESULTS["arrays"]["array_size"], RESULTS["arrays"]["failed_children"]) == (10_000, 100)


@pytest.mark.parametrize("check", checks(RESULTS), ids=lambda check: check["name"])
def test_every_target_is_met(check: dict[str, Any]) -> None:
    # Recomputed from the figures, not read from the file's own verdicts
    assert check["ok"], f"{check['name']}: {check['measured']} (target {check['target']})"


def test_aws_calls_per_upload_event_retry_and_failure() -> None:
    calls = RESULTS["calls"]
    assert calls["upload"]["by_operation"] == {"batch:SubmitJob": 1.0, "dynamodb:PutItem": 1.0}
    assert calls["state_change_event"]["by_operation"] == {"dynamodb:UpdateItem": 1.0}
    for duplicate in ("duplicate_upload", "duplicate_event", "late_event", "duplicate_final_failure"):
        assert calls[duplicate]["calls"] == 1
        assert calls[duplicate]["failed_conditional_writes"] == 1
    assert calls["retry"]["calls"] == 4
    assert calls["final_failure"]["by_operation"] == {"dynamodb:UpdateItem": 2.0, "sns:Publish": 1.0}
    # and botocore retried nothing: one HTTP request per call
    counted = [figures for figures in calls.values() if isinstance(figures, dict) and "http_requests" in figures]
    assert counted
    assert all(figures["http_requests"] == figures["calls"] for figures in counted)


def test_cold_starts_are_within_the_ratio_and_were_traced() -> None:
    cold = RESULTS["cold_start"]
    ratios = {name: cold["functions"][name]["ratio"] for name in FUNCTIONS}
    assert max(ratios.values()) <= COLD_START_RATIO_TARGET, ratios
    assert cold["xray_segments_received"] > 0


def test_the_rate_model_is_the_one_the_figures_give() -> None:
    assert submit_rate_model(RESULTS) == RESULTS["submit_rate"]


def test_the_performance_page_is_the_one_the_committed_figures_generate() -> None:
    # `python -m bench --readme > docs/performance.md` regenerates it after `make bench`
    page = (ROOT / PERFORMANCE_PAGE).read_text(encoding="utf-8")
    assert table(RESULTS) in page
    assert page == readme_section(RESULTS, COMMAND)
