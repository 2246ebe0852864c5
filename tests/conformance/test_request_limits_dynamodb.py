"""The run item stays within DynamoDB's limits (the approach: tests/conformance/lifecycles.py)."""

from __future__ import annotations

import pytest

from batch_orchestrator.job_outcome import REASON_MAX_CHARS
from batch_orchestrator.limits import DYNAMODB_MAX_ITEM_SIZE
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT
from tests.conformance.lifecycles import LOG_STREAM, SOURCES, Lifecycle
from tests.conformance.limit_checks import item_size, item_violations

pytestmark = pytest.mark.slow  # records every request the functions send in moto


# ================================================================================================
# DynamoDB: the run item after the most attempts
# ================================================================================================


@pytest.mark.parametrize("name", SOURCES)
def test_the_run_item_after_the_last_attempt_stays_far_below_400_kb(
    lifecycles: dict[str, Lifecycle], name: str
) -> None:
    """The run's item as the runs table left it after MAX_ATTEMPTS_LIMIT failed attempts, each with the
    longest reasons and log stream: sized by DynamoDB's rules, it uses at most a quarter of the 400 KB, so
    what operators add later (manual retries, alerts' bookkeeping) has room."""
    # Given
    item = lifecycles[name].item

    # When
    size = item_size(item)

    # Then: every attempt is in the history, each with its (clipped) reason and log stream
    history = item["history"]["L"]
    assert len(history) == MAX_ATTEMPTS_LIMIT
    assert all(entry["M"]["logStreamName"]["S"] == LOG_STREAM for entry in history)
    assert all(len(entry["M"]["reason"]["S"]) == REASON_MAX_CHARS for entry in history)
    assert item_violations(item) == []
    assert size <= DYNAMODB_MAX_ITEM_SIZE.value // 4, f"{size} bytes"


def test_the_item_size_follows_dynamodbs_rules() -> None:
    """Hand-computed sizes from the documented rules, and one byte over 400 KB rejected."""
    # Given
    text = {"name": {"S": "ab\u00e9"}}  # 4 + 4 bytes
    number = {"n": {"N": "-0012345.6700"}}  # name 1 + 7 significant digits (4 bytes) + 1
    flags = {"t": {"BOOL": True}, "z": {"NULL": True}}  # (1 + 1) * 2
    nested = {"m": {"M": {"k": {"L": [{"S": "x"}, {"N": "1"}]}}}}  # 1 + 3 + 1 + 1 + (3 + 1 + 1 + 1 + 2)
    padding = {"p": {"S": "x" * (DYNAMODB_MAX_ITEM_SIZE.value - 1)}}

    # When / Then
    assert item_size(text) == 8
    assert item_size(number) == 1 + 4 + 1
    assert item_size(flags) == 4
    assert item_size(nested) == 1 + 3 + (1 + 1 + (3 + (1 + 1) + (1 + 2)))
    assert item_violations(padding) == []
    assert item_violations({**padding, "q": {"S": ""}})
