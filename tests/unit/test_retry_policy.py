# Over 400 lines on purpose: four small behaviour tables of one policy (exit code lists, settings, decisions, backoff).
"""The retry policy: exit code lists, settings validation, decisions and backoff."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_orchestrator.models import JobFailure
from batch_orchestrator.retry_policy import (
    SQS_MAX_DELAY_SECONDS,
    ExitCodeSet,
    RetryDecision,
    RetryPolicy,
    backoff_seconds,
    decide,
)

CODES = ExitCodeSet.parse("3,75,137-143")


def policy(**overrides: object) -> RetryPolicy:
    settings: dict[str, object] = {
        "retry_exit_codes": CODES,
        "max_attempts": 3,
        "base_delay_seconds": 30,
        "max_delay_seconds": 900,
    }
    settings.update(overrides)
    return RetryPolicy(**settings)  # type: ignore[arg-type]


def exit_code(code: int) -> JobFailure:
    return JobFailure(exit_code=code, reason="Essential container in task exited")


SPOT_RECLAIM = JobFailure(exit_code=None, reason="Host EC2 (instance i-0abc123def4567890) terminated.")
TIMEOUT = JobFailure(exit_code=None, reason="Job attempt duration exceeded timeout", timed_out=True)


# ---------------------------------------------------------------------------------------------
# ExitCodeSet
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [(3, True), (75, True), (137, True), (140, True), (143, True), (1, False), (136, False), (144, False), (0, False)],
)
def test_codes_and_ranges_are_members(code: int, expected: bool) -> None:
    assert (code in CODES) is expected


def test_whitespace_is_tolerated_and_spelling_is_canonical() -> None:
    # Given a messy but valid list with overlaps, duplicates and adjacent codes
    codes = ExitCodeSet.parse("  137 - 143 , 3,75 , 140,3 ,4-5")

    # Then it prints sorted and merged
    assert str(codes) == "3-5,75,137-143"
    assert 4 in codes


@pytest.mark.parametrize("spec", ["", "   ", "\t\n"])
def test_empty_spec_is_no_codes(spec: str) -> None:
    codes = ExitCodeSet.parse(spec)
    assert not codes
    assert str(codes) == ""
    assert 0 not in codes


def test_non_ints_are_never_members() -> None:
    assert True not in ExitCodeSet.parse("1")
    assert "3" not in CODES


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a", "'a' is not an exit code"),
        ("3,x", "'x' is not an exit code"),
        ("-1", "'-1' is not an exit code"),
        ("+3", "'+3' is not an exit code"),
        ("\uff11", "is not an exit code"),  # fullwidth digit one: int() would accept it
        ("1 3", "'1 3' is not an exit code"),
        ("3-", "'3-' is not an exit code"),
        ("3-4-5", "'3-4-5' is not an exit code"),
        ("256", "256 is outside 0..255"),
        ("100-300", "300 is outside 0..255"),
        ("143-137", "range '143-137' is reversed (write 137-143)"),
        ("3,,4", "empty item"),
        ("3,", "empty item"),
    ],
)
def test_bad_specs_raise_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match="exit code list") as excinfo:
        ExitCodeSet.parse(spec)
    assert message in str(excinfo.value)


def test_direct_construction_validates_and_normalises() -> None:
    assert str(ExitCodeSet(((140, 143), (137, 139)))) == "137-143"
    with pytest.raises(ValueError, match="invalid exit code range"):
        ExitCodeSet(((5, 3),))


# ---------------------------------------------------------------------------------------------
# RetryPolicy settings
# ---------------------------------------------------------------------------------------------


def test_from_settings_parses_environment_strings() -> None:
    # When
    parsed = RetryPolicy.from_settings(
        retry_exit_codes="3,75,137-143",
        max_attempts=" 3 ",
        base_delay_seconds="30",
        max_delay_seconds="900",
        retry_on_no_exit_code="TRUE",
        retry_on_timeout="false",
    )

    # Then
    assert parsed == RetryPolicy(CODES, 3, 30, 900, retry_on_no_exit_code=True, retry_on_timeout=False)


def test_from_settings_defaults_keep_infrastructure_failures_unretried() -> None:
    parsed = RetryPolicy.from_settings(
        retry_exit_codes="", max_attempts="1", base_delay_seconds="0", max_delay_seconds="0"
    )
    assert not parsed.retry_on_no_exit_code
    assert not parsed.retry_on_timeout
    assert not parsed.retry_exit_codes


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"retry_exit_codes": "3,a"}, "RETRY_EXIT_CODES: exit code list '3,a'"),
        ({"max_attempts": "three"}, "MAX_ATTEMPTS must be a whole number, got 'three'"),
        ({"max_attempts": "2.5"}, "MAX_ATTEMPTS must be a whole number"),
        ({"max_attempts": "0"}, "max_attempts (MAX_ATTEMPTS) must be between 1 and 10, got 0"),
        ({"max_attempts": "11"}, "must be between 1 and 10, got 11"),
        ({"base_delay_seconds": "-5"}, "base_delay_seconds (RETRY_BASE_DELAY_SECONDS) must be >= 0"),
        ({"base_delay_seconds": ""}, "RETRY_BASE_DELAY_SECONDS must be a whole number"),
        ({"max_delay_seconds": "901"}, "between 0 and 900 (the SQS DelaySeconds limit), got 901"),
        ({"base_delay_seconds": "600", "max_delay_seconds": "60"}, "must not exceed max_delay_seconds"),
        ({"retry_on_timeout": "yes"}, "RETRY_ON_TIMEOUT must be true or false, got 'yes'"),
        ({"retry_on_no_exit_code": ""}, "RETRY_ON_NO_EXIT_CODE must be true or false"),
    ],
)
def test_bad_settings_raise_clear_errors(override: dict[str, str], message: str) -> None:
    # Given valid settings with one bad value
    settings = {
        "retry_exit_codes": "3",
        "max_attempts": "3",
        "base_delay_seconds": "30",
        "max_delay_seconds": "900",
    } | override

    # Then
    with pytest.raises(ValueError, match=re.escape(message)):
        RetryPolicy.from_settings(**settings)


@pytest.mark.parametrize(
    "override",
    [
        {"max_attempts": True},
        {"max_attempts": 3.0},
        {"retry_on_timeout": "false"},
        {"retry_exit_codes": "3,75"},
    ],
)
def test_constructor_rejects_wrong_types(override: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        policy(**override)


def test_decision_invariants_are_enforced() -> None:
    with pytest.raises(ValueError, match="next_attempt"):
        RetryDecision(retry=True, next_attempt=None, delay_seconds=0, reason="x")
    with pytest.raises(ValueError, match="delay_seconds"):
        RetryDecision(retry=True, next_attempt=2, delay_seconds=901, reason="x")


# ---------------------------------------------------------------------------------------------
# decide
# ---------------------------------------------------------------------------------------------


def test_retryable_code_with_attempts_left_is_retried() -> None:
    # When attempt 1 of 3 exits with 3, with a random draw of 0 (the shortest delay)
    decision = decide(policy(), 1, exit_code(3), rand=lambda: 0.0)

    # Then attempt 2 follows after half the base delay
    assert decision == RetryDecision(
        retry=True,
        next_attempt=2,
        delay_seconds=15,
        reason="exit code 3 is retryable (attempt 1 of 3); attempt 2 starts in 15 s",
    )


def test_code_inside_a_range_is_retried() -> None:
    decision = decide(policy(), 2, exit_code(139), rand=random.Random(7))
    assert decision.retry
    assert decision.next_attempt == 3
    assert 30 <= decision.delay_seconds <= 60


def test_code_outside_the_list_is_not_retried() -> None:
    decision = decide(policy(), 1, exit_code(1))
    assert decision == RetryDecision(
        retry=False, next_attempt=None, delay_seconds=0, reason="exit code 1 is not in the retry list 3,75,137-143"
    )


def test_empty_list_retries_nothing() -> None:
    decision = decide(policy(retry_exit_codes=ExitCodeSet()), 1, exit_code(3))
    assert not decision.retry
    assert decision.reason == "exit code 3 is not retried (the retry list is empty)"


def test_attempts_exhausted() -> None:
    decision = decide(policy(), 3, exit_code(3))
    assert decision == RetryDecision(
        retry=False,
        next_attempt=None,
        delay_seconds=0,
        reason="exit code 3 is retryable, but attempts exhausted (3 of 3)",
    )


def test_single_attempt_policy_never_retries() -> None:
    assert not decide(policy(max_attempts=1), 1, exit_code(3)).retry


def test_no_exit_code_is_not_retried_by_default() -> None:
    decision = decide(policy(), 1, SPOT_RECLAIM)
    assert not decision.retry
    assert decision.reason == (
        "no exit code (Host EC2 (instance i-0abc123def4567890) terminated.); "
        "failures without an exit code are not retried (RetryOnNoExitCode=false)"
    )


def test_no_exit_code_is_retried_when_enabled() -> None:
    decision = decide(policy(retry_on_no_exit_code=True), 1, SPOT_RECLAIM, rand=lambda: 1.0)
    assert decision.retry
    assert decision.delay_seconds == 30
    assert decision.reason.startswith("no exit code (Host EC2")
    assert "RetryOnNoExitCode=true (attempt 1 of 3); attempt 2 starts in 30 s" in decision.reason


def test_no_exit_code_without_reason_says_so() -> None:
    decision = decide(policy(), 1, JobFailure(exit_code=None, reason=None))
    assert decision.reason.startswith("no exit code (no reason given)")


def test_long_reasons_are_clipped_in_the_decision() -> None:
    decision = decide(policy(), 1, JobFailure(exit_code=None, reason="x" * 5_000))
    assert len(decision.reason) < 400


def test_timeout_is_not_retried_by_default() -> None:
    decision = decide(policy(), 1, TIMEOUT)
    assert decision == RetryDecision(
        retry=False,
        next_attempt=None,
        delay_seconds=0,
        reason="timed out; timeouts are not retried (RetryOnTimeout=false)",
    )


def test_timeout_wins_over_a_retryable_exit_code() -> None:
    # Given a timed-out container that still reported a retryable exit code
    killed = JobFailure(exit_code=137, reason="Job attempt duration exceeded timeout", timed_out=True)

    # Then the timeout setting decides, not the exit code list
    assert not decide(policy(), 1, killed).retry
    assert decide(policy(retry_on_timeout=True), 1, killed).retry


def test_timeout_is_retried_when_enabled_until_exhausted() -> None:
    enabled = policy(retry_on_timeout=True)
    assert decide(enabled, 2, TIMEOUT).reason.startswith("timed out and RetryOnTimeout=true (attempt 2 of 3)")
    assert decide(enabled, 3, TIMEOUT).reason == "timed out and RetryOnTimeout=true, but attempts exhausted (3 of 3)"


def test_attempt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        decide(policy(), 0, exit_code(3))


def test_same_inputs_give_the_same_decision() -> None:
    # A duplicate FAILED event must not change the outcome.
    first = decide(policy(), 1, exit_code(3), rand=random.Random(42))
    second = decide(policy(), 1, exit_code(3), rand=random.Random(42))
    assert first == second


# ---------------------------------------------------------------------------------------------
# backoff_seconds
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 15, 30), (2, 30, 60), (3, 60, 120), (4, 120, 240), (5, 240, 480), (6, 450, 900), (7, 450, 900)],
)
def test_backoff_grows_exponentially_and_is_capped(attempt: int, low: int, high: int) -> None:
    grown = policy(max_attempts=10)
    assert backoff_seconds(grown, attempt, lambda: 0.0) == low
    assert backoff_seconds(grown, attempt, lambda: 0.999999) == high
    assert backoff_seconds(grown, attempt, lambda: 1.0) == high


def test_backoff_respects_a_lower_cap() -> None:
    capped = policy(base_delay_seconds=10, max_delay_seconds=45)
    assert backoff_seconds(capped, 10, lambda: 1.0) == 45
    assert backoff_seconds(capped, 10, lambda: 0.0) == 23


def test_zero_base_means_no_delay() -> None:
    assert backoff_seconds(policy(base_delay_seconds=0), 5, random.Random(1)) == 0


def test_one_second_base_never_collapses_to_zero() -> None:
    assert backoff_seconds(policy(base_delay_seconds=1), 1, lambda: 0.0) == 1


def test_huge_attempt_numbers_are_capped_cheaply() -> None:
    assert backoff_seconds(policy(), 10**9, lambda: 1.0) == 900


def test_backoff_attempt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        backoff_seconds(policy(), 0)


def test_random_source_must_return_a_unit_float() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        backoff_seconds(policy(), 1, lambda: 1.5)


def test_default_random_source_stays_within_bounds() -> None:
    for _ in range(200):
        assert 15 <= backoff_seconds(policy(), 1) <= 30


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

exit_ranges = st.tuples(st.integers(0, 255), st.integers(0, 255)).map(lambda pair: (min(pair), max(pair)))
exit_code_sets = st.lists(exit_ranges, max_size=8).map(lambda ranges: ExitCodeSet(tuple(ranges)))
policies = st.builds(
    lambda codes, attempts, cap, base_share, no_exit, timeout: RetryPolicy(
        retry_exit_codes=codes,
        max_attempts=attempts,
        base_delay_seconds=int(cap * base_share),
        max_delay_seconds=cap,
        retry_on_no_exit_code=no_exit,
        retry_on_timeout=timeout,
    ),
    exit_code_sets,
    st.integers(1, 10),
    st.integers(0, SQS_MAX_DELAY_SECONDS),
    st.floats(0, 1),
    st.booleans(),
    st.booleans(),
)
failures = st.builds(
    JobFailure,
    exit_code=st.none() | st.integers(0, 255),
    reason=st.none() | st.text(max_size=50),
    timed_out=st.booleans(),
)
unit_floats = st.floats(0, 1)


@given(exit_code_sets)
def test_canonical_spelling_round_trips(codes: ExitCodeSet) -> None:
    spelled = str(codes)
    assert ExitCodeSet.parse(spelled) == codes
    assert str(ExitCodeSet.parse(spelled)) == spelled


@given(st.lists(exit_ranges, max_size=8), st.integers(-5, 260))
def test_membership_matches_the_ranges(ranges: list[tuple[int, int]], code: int) -> None:
    spec = ",".join(f"{low}-{high}" for low, high in ranges)
    assert (code in ExitCodeSet.parse(spec)) == any(low <= code <= high for low, high in ranges)


@given(policies, st.integers(1, 40), unit_floats)
def test_delay_is_always_within_the_sqs_limit_and_the_cap(chosen: RetryPolicy, attempt: int, draw: float) -> None:
    delay = backoff_seconds(chosen, attempt, lambda: draw)
    assert 0 <= delay <= chosen.max_delay_seconds <= SQS_MAX_DELAY_SECONDS
    ceiling = min(chosen.max_delay_seconds, chosen.base_delay_seconds * 2 ** (attempt - 1))
    assert (ceiling + 1) // 2 <= delay <= ceiling  # equal jitter: at least half the ceiling


@given(policies, st.integers(1, 40), unit_floats)
def test_delay_never_decreases_with_the_attempt_for_a_given_draw(
    chosen: RetryPolicy, attempt: int, draw: float
) -> None:
    assert backoff_seconds(chosen, attempt, lambda: draw) <= backoff_seconds(chosen, attempt + 1, lambda: draw)


@given(policies, st.integers(1, 40), failures, unit_floats)
def test_decide_never_retries_without_attempts_left(
    chosen: RetryPolicy, attempt: int, failure: JobFailure, draw: float
) -> None:
    decision = decide(chosen, attempt, failure, rand=lambda: draw)
    if attempt >= chosen.max_attempts:
        assert not decision.retry
    if decision.retry:
        assert decision.next_attempt == attempt + 1 <= chosen.max_attempts
        assert 0 <= decision.delay_seconds <= chosen.max_delay_seconds
    else:
        assert decision.next_attempt is None
        assert decision.delay_seconds == 0
    assert decision.reason
