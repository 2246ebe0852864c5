"""Retry and resubmit messages stay within SQS's limits (the approach: tests/conformance/lifecycles.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batch_orchestrator.adapters.submit_queue import SubmitQueue
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.limits import SQS_MAX_DELAY, SUBMIT_QUEUE_MESSAGE_BUDGET
from batch_orchestrator.models import Source
from batch_orchestrator.retry_policy import MAX_ATTEMPTS_LIMIT, RetryPolicy, backoff_seconds
from tests.conformance.lifecycles import QUEUE_URL, SOURCES, Lifecycle, Recorder
from tests.conformance.limit_checks import sqs_message_violations

pytestmark = pytest.mark.slow  # records every request the functions send in moto


# ================================================================================================
# SQS: retry and resubmit requests
# ================================================================================================


@pytest.mark.parametrize("name", SOURCES)
def test_retry_messages_are_within_sqs_limits(lifecycles: dict[str, Lifecycle], name: str) -> None:
    """Every retry request the tracker sends (SubmitQueue.send_retry): within the message budget, only
    characters SQS accepts, and a DelaySeconds SQS allows (the longest backoff is in play)."""
    # Given
    calls = lifecycles[name].retry_messages

    # When
    problems = [sqs_message_violations(call.params["MessageBody"], call.params.get("DelaySeconds")) for call in calls]

    # Then: one retry request per attempt that had a successor, each waiting about the longest backoff
    assert [call.operation for call in calls] == ["SendMessage"] * (MAX_ATTEMPTS_LIMIT - 1)
    assert [found for found in problems if found] == []
    assert min(call.params["DelaySeconds"] for call in calls) >= SQS_MAX_DELAY.value // 2


@pytest.mark.parametrize(("name", "source"), SOURCES.items())
def test_resubmit_messages_are_within_sqs_limits(
    recorded: Callable[[str], Recorder], name: str, source: Source
) -> None:
    """The watchdog's resubmit request of the last attempt (SubmitQueue.send_resubmit)."""
    # Given
    sqs = recorded("sqs")

    # When
    SubmitQueue(QUEUE_URL).send_resubmit(run_id=run_id_for(source), attempt=MAX_ATTEMPTS_LIMIT, source=source)

    # Then
    (call,) = sqs.calls
    assert sqs_message_violations(call.params["MessageBody"], call.params.get("DelaySeconds")) == []


def _always(draw: float) -> Callable[[], float]:
    """A random source that always draws ``draw``."""
    return lambda: draw


def test_no_backoff_the_retry_policy_can_produce_exceeds_the_sqs_delay() -> None:
    """For every base delay and cap the policy accepts, every attempt and the extremes of the jitter,
    the backoff is a DelaySeconds SQS allows."""
    # Given
    caps = (0, 1, 2, 59, 60, 61, 300, 899, SQS_MAX_DELAY.value)
    policies = [
        RetryPolicy.from_settings(
            retry_exit_codes="1",
            max_attempts=str(MAX_ATTEMPTS_LIMIT),
            base_delay_seconds=str(base),
            max_delay_seconds=str(cap),
        )
        for cap in caps
        for base in range(cap + 1)
    ]

    # When
    delays = {
        backoff_seconds(policy, attempt, _always(draw))
        for policy in policies
        for attempt in range(1, MAX_ATTEMPTS_LIMIT + 1)
        for draw in (0.0, 0.5, 1.0)
    }

    # Then
    assert max(delays) == SQS_MAX_DELAY.value
    assert [delay for delay in delays if sqs_message_violations("{}", delay)] == []


def test_the_queue_adapter_never_asks_for_more_than_the_sqs_delay(recorded: Callable[[str], Recorder]) -> None:
    """SubmitQueue.send_retry clamps whatever delay it is given into SQS's range."""
    # Given
    sqs = recorded("sqs")
    source = SOURCES["schedule name of 64 characters"]

    # When
    for delay in (SQS_MAX_DELAY.value, SQS_MAX_DELAY.value + 1, 10**9, -5):
        SubmitQueue(QUEUE_URL).send_retry(run_id=run_id_for(source), attempt=2, source=source, delay_seconds=delay)

    # Then
    assert [call.params["DelaySeconds"] for call in sqs.calls] == [SQS_MAX_DELAY.value] * 3 + [0]


def test_sqs_checks_reject_one_over_the_limit() -> None:
    """The SQS checker rejects a message one byte over the budget, a delay one second over, a bad character."""
    # Given
    at_limit = "x" * SUBMIT_QUEUE_MESSAGE_BUDGET.value

    # When / Then
    assert sqs_message_violations(at_limit, SQS_MAX_DELAY.value) == []
    assert sqs_message_violations(at_limit + "x")
    assert sqs_message_violations(at_limit[:-1] + "é")  # one character, two bytes
    assert sqs_message_violations("{}", SQS_MAX_DELAY.value + 1)
    assert sqs_message_violations("{}", -1)
    assert sqs_message_violations("nul\x00")
    assert sqs_message_violations("\ufffe")
