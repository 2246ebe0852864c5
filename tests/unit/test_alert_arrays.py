"""What a run-failed alert says of an array run (batch_orchestrator.alert_arrays): its size, the failed attempt's
items, the failed items (those not retryable first, the first 20, then "and N more") in the text and the JSON,
within SNS's limits however many children failed. A single job's alert is tests/unit/golden's, unchanged."""

from __future__ import annotations

import pytest

from batch_orchestrator.alert_arrays import ALERT_FAILED_ITEMS
from batch_orchestrator.alerts import ALERT_RUN_FAILED
from tests.support.array_runs import ArrayStack, failed


@pytest.fixture
def stack() -> ArrayStack:
    return ArrayStack()


def test_the_failed_items_are_listed_those_not_retryable_first_then_counted(stack: ArrayStack) -> None:
    # Given a 10,000-item array with 25 failed children: 22 retryable (exit 75), items 30, 10 and 20 not (exit 3;
    # item 20 without a reason)
    children = [failed(i) for i in range(40, 62)] + [failed(30, 3), failed(10, 3), failed(20, 3, None)]

    # When its parent FAILED
    stack.end(stack.start("grid/a.txt"), "FAILED", *children)

    # Then the one alert names the array, the items of the attempt and the failed items, the first 20 of them
    (alert,) = stack.alerts.of_type(ALERT_RUN_FAILED)
    assert alert.subject == "Batch job failed [grid]: a.txt (25 of 10000 children failed, attempt 1/3)"
    assert "attempt 1 of 3 had 25 of 10000 children fail." in alert.message
    assert "Array:         10000 items" in alert.message
    assert "Items:         0-9999 (10000 in this attempt)" in alert.message
    assert "Failed:        25 of 10000 children (3 not retryable)" in alert.message
    listed = alert.message.split("Failed items:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(listed) == ALERT_FAILED_ITEMS + 1
    assert listed[:3] == [
        "  item 10 (child 10): exit code 3, not retryable: exit code 3 is not in the retry list 75 - "
        "Essential container in task exited",
        "  item 20 (child 20): exit code 3, not retryable: exit code 3 is not in the retry list 75",  # no reason
        "  item 30 (child 30): exit code 3, not retryable: exit code 3 is not in the retry list 75 - "
        "Essential container in task exited",
    ]
    assert listed[3].startswith("  item 40 (child 40): exit code 75, retryable")
    assert listed[-1] == "  and 5 more"
    # and the JSON carries the same, with the counts
    array = alert.details["array"]
    assert (array["arraySize"], array["items"], array["children"], array["failedChildren"]) == (
        10_000,
        "0-9999",
        10_000,
        25,
    )
    assert [entry["item"] for entry in array["failedItems"]][:4] == [10, 20, 30, 40]
    assert (len(array["failedItems"]), array["moreFailedItems"]) == (ALERT_FAILED_ITEMS, 5)
    assert (array["notRetryableChildren"], array["notRetryableItems"]) == (3, [10, 20, 30])
    assert array["failedItems"][0] == {
        "item": 10,
        "index": 10,
        "exitCode": 3,
        "reason": "Essential container in task exited",
        "retryable": False,
        "why": "exit code 3 is not in the retry list 75",
    }


def test_ten_thousand_failed_children_still_make_one_valid_alert(stack: ArrayStack) -> None:
    # Given every child of a 10,000-item array failed for good, each with a long reason
    children = [failed(i, 3, "r" * 255) for i in range(10_000)]

    # When its parent FAILED (the fake SNS refuses what SNS refuses: over 256 KiB, a bad subject)
    stack.end(stack.start("grid/a.txt"), "FAILED", *children)

    # Then one alert went out, listing 20 and counting the rest
    (alert,) = stack.alerts.published
    assert alert.details["array"]["moreFailedItems"] == 10_000 - ALERT_FAILED_ITEMS
    assert len(alert.message.encode()) < 64 * 1024


def test_a_single_job_of_an_array_run_says_which_item_it_ran(stack: ArrayStack) -> None:
    # Given attempt 2, the single job of item 1, exits 3 (not retryable)
    stack.end(stack.start("tiles/a.txt"), "FAILED", failed(1))
    stack.finish(stack.next_attempt(), "FAILED", exit_code=3)

    # Then the alert is a single job's (its exit code) and names the array and the item
    (alert,) = stack.alerts.published
    assert "(exit 3, attempt 2/3)" in alert.subject
    assert "Items:         1 (1 in this attempt)" in alert.message
    assert alert.details["array"]["items"] == "1"
    assert alert.attributes["exitCode"]["StringValue"] == "3"
    # and its history shows both attempts' items
    assert "  1. FAILED, no exit code, 1 vCPU, 2048 MiB, items 0-2, 1 child failed\n" in alert.message
    assert "  2. FAILED, exit code 3, 1 vCPU, 2048 MiB, items 1 - Essential container in task exited" in alert.message
