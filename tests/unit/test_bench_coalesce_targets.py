"""Issue 14's burst-coalescing targets (bench/targets.py): met by the committed figures, missed by figures one step
over.

The checks are recomputed from bench/results.json's ``coalesce`` section and from copies of it with one figure
mutated: a target that still passed on 11 SubmitJob calls for 10,000 uploads, on a burst whose uploads were not all
children, or on a modelled time one second past the window + 60 s would be no target at all.
"""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.targets import (
    COALESCE_SECONDS_OVER_WINDOW,
    COALESCE_SUBMIT_JOBS_TARGET,
    checks,
    coalesce_time_model,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
COALESCE_CHECKS = ("burst coalescing: SubmitJob calls", "burst coalescing: all submitted (modelled)")


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    return {check["name"]: check["ok"] for check in checks(results) if check["name"] in COALESCE_CHECKS}


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    results: dict[str, Any] = copy.deepcopy(RESULTS)
    change(results["coalesce"])
    return results


def test_the_committed_figures_are_a_full_burst_meeting_every_target() -> None:
    coalesce = RESULTS["coalesce"]
    assert coalesce["uploads"] == 10_000
    assert coalesce["coalescing"]["children"] == 10_000
    assert verdicts(RESULTS) == dict.fromkeys(COALESCE_CHECKS, True)
    assert {c["name"]: c["ok"] for c in RESULTS["checks"] if c["name"] in COALESCE_CHECKS} == verdicts(RESULTS)
    # and the one-job-per-file path beside it keeps today's figures: 2 calls per upload, one SubmitJob each
    single = coalesce["one_job_per_file"]
    assert single["by_operation_per_upload"] == {"batch:SubmitJob": 1.0, "dynamodb:PutItem": 1.0}
    assert single["submit_jobs"] == 10_000


def _submit_jobs(count: int) -> Callable[[dict[str, Any]], None]:
    def change(coalesce: dict[str, Any]) -> None:
        coalesce["coalescing"]["submit_jobs"] = count

    return change


def _children(count: int) -> Callable[[dict[str, Any]], None]:
    def change(coalesce: dict[str, Any]) -> None:
        coalesce["coalescing"]["children"] = count

    return change


def _total(seconds: float) -> Callable[[dict[str, Any]], None]:
    def change(coalesce: dict[str, Any]) -> None:
        coalesce["coalescing"]["modelled"]["total_seconds"] = seconds

    return change


WINDOW = RESULTS["coalesce"]["window_seconds"]


@pytest.mark.parametrize(
    ("change", "check", "ok"),
    [
        (_submit_jobs(COALESCE_SUBMIT_JOBS_TARGET), COALESCE_CHECKS[0], True),
        (_submit_jobs(COALESCE_SUBMIT_JOBS_TARGET + 1), COALESCE_CHECKS[0], False),
        (_children(9_999), COALESCE_CHECKS[0], False),
        (_total(WINDOW + COALESCE_SECONDS_OVER_WINDOW), COALESCE_CHECKS[1], True),
        (_total(WINDOW + COALESCE_SECONDS_OVER_WINDOW + 1), COALESCE_CHECKS[1], False),
    ],
    ids=["10 SubmitJob", "11 SubmitJob", "an upload not a child", "window + 60 s", "window + 61 s"],
)
def test_a_figure_one_step_over_its_target_misses_it(
    change: Callable[[dict[str, Any]], None], check: str, ok: bool
) -> None:
    assert verdicts(mutated(change))[check] is ok


def test_the_model_adds_the_window_the_calls_and_the_work() -> None:
    # Given 1,000 forwarding invocations of 10 ms of work each, 3 batches, 3 SubmitJob calls
    model = coalesce_time_model(
        forward_work_seconds=10.0,
        forward_calls={"sqs:SendMessageBatch": 1_000},
        coalesce_work_seconds=1.0,
        coalesce_calls={"dynamodb:TransactWriteItems": 100, "batch:SubmitJob": 3},
        memory_mb=1769,
        submit_concurrency=2,
        coalesce_concurrency=2,
        window_seconds=60,
        submit_jobs=3,
    )
    # Then each part is its work at one vCPU plus its calls' assumed latency, over its concurrency
    assert model["forward_seconds"] == pytest.approx((10.0 + 1_000 * 0.020) / 2, abs=0.05)
    assert model["coalesce_seconds"] == pytest.approx((1.0 + 100 * 0.030 + 3 * 0.050) / 2, abs=0.05)
    assert model["total_seconds"] == pytest.approx(
        model["forward_seconds"] + 60 + model["coalesce_seconds"] + 3 / 50, abs=0.1
    )
