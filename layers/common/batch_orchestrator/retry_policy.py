"""Retry policy: which failed attempts get another try, and how long to wait before it.

The orchestrator retries on its own (a delayed message on the SubmitQueue starts attempt n+1)
instead of relying on Batch's ``retryStrategy`` alone, because Batch cannot wait between
attempts and its ``evaluateOnExit`` holds at most five rules, too few for lists like
``3,75,137-143``. Everything here is pure: the tracker passes in the policy, the attempt that
just failed and how it failed, and gets back a decision it can store, log and act on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batch_orchestrator.limits import BATCH_RETRY_ATTEMPTS, SQS_MAX_DELAY

if TYPE_CHECKING:
    # Only a type here: ``workloads`` imports this module and ``models`` imports ``workloads``, so a runtime
    # import of ``models`` would close that circle.
    from batch_orchestrator.models import JobFailure

MIN_EXIT_CODE = 0
MAX_EXIT_CODE = 255  # a process exit status is one byte; Batch reports 128+N for signal N
MAX_ATTEMPTS_LIMIT = BATCH_RETRY_ATTEMPTS.value  # the same ceiling as Batch's retryStrategy.attempts: both read alike
SQS_MAX_DELAY_SECONDS = SQS_MAX_DELAY.value  # a retry waits as a delayed SQS message

_NUMBER = re.compile(r"[0-9]+")  # not int(): it accepts "+3", "1_0" and non-ASCII digits
_TRUE_FALSE = {"true": True, "false": False}


def _exit_code(text: str, item: str, spec: str) -> int:
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"exit code list {spec!r}: {item!r} is not an exit code or a range like 137-143")
    code = int(text)
    if not MIN_EXIT_CODE <= code <= MAX_EXIT_CODE:
        raise ValueError(f"exit code list {spec!r}: {code} is outside {MIN_EXIT_CODE}..{MAX_EXIT_CODE}")
    return code


def _merged(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge overlapping or adjacent ranges, so equal sets have one spelling."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


@dataclass(frozen=True)
class ExitCodeSet:
    """A set of container exit codes, written as a list of codes and ranges: ``3,75,137-143``.

    Stored as sorted, merged inclusive ranges, so ``str()`` gives one canonical spelling of a
    set (``"5,3,4"`` and ``"3-5"`` are the same set and print the same).
    """

    ranges: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for low, high in self.ranges:
            if not MIN_EXIT_CODE <= low <= high <= MAX_EXIT_CODE:
                raise ValueError(f"invalid exit code range {low}-{high}")
        object.__setattr__(self, "ranges", _merged(self.ranges))

    @classmethod
    def parse(cls, spec: str) -> ExitCodeSet:
        """Parse ``"3, 75, 137-143"``; whitespace is ignored and ``""`` is the empty set.

        Overlaps and duplicates are accepted (they are harmless); anything else that is not a
        code or an ascending range of codes in 0..255 raises ValueError naming the bad item.
        """
        if not spec.strip():
            return cls()
        ranges: list[tuple[int, int]] = []
        for raw_item in spec.split(","):
            item = raw_item.strip()
            if not item:
                raise ValueError(f"exit code list {spec!r} has an empty item (a stray comma?)")
            low_text, dash, high_text = item.partition("-")
            low = _exit_code(low_text.strip(), item, spec)
            high = _exit_code(high_text.strip(), item, spec) if dash else low
            if high < low:
                raise ValueError(f"exit code list {spec!r}: range {item!r} is reversed (write {high}-{low})")
            ranges.append((low, high))
        return cls(tuple(ranges))

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, int) or isinstance(code, bool):
            return False
        return any(low <= code <= high for low, high in self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __str__(self) -> str:
        return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in self.ranges)


def _int_setting(name: str, raw: str) -> int:
    text = raw.strip()
    if not re.fullmatch(r"-?[0-9]+", text):
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    return int(text)


def _bool_setting(name: str, raw: str) -> bool:
    try:
        return _TRUE_FALSE[raw.strip().lower()]
    except KeyError:
        raise ValueError(f"{name} must be true or false, got {raw!r}") from None


def _require_int(name: str, value: object) -> int:
    # bool is an int subclass; RetryPolicy(max_attempts=True) is a bug, not "1".
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed attempt is retried, and the backoff before the next one.

    Defaults for the two infrastructure cases are off: a timeout usually means the job needs a
    longer timeout, not another try, and Batch's own retryStrategy already retries Spot
    reclaims and host failures inside an attempt.
    """

    retry_exit_codes: ExitCodeSet
    max_attempts: int
    base_delay_seconds: int
    max_delay_seconds: int
    retry_on_no_exit_code: bool = False
    retry_on_timeout: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.retry_exit_codes, ExitCodeSet):
            raise ValueError(f"retry_exit_codes must be an ExitCodeSet, got {self.retry_exit_codes!r}")
        attempts = _require_int("max_attempts (MAX_ATTEMPTS)", self.max_attempts)
        if not 1 <= attempts <= MAX_ATTEMPTS_LIMIT:
            raise ValueError(f"max_attempts (MAX_ATTEMPTS) must be between 1 and {MAX_ATTEMPTS_LIMIT}, got {attempts}")
        base = _require_int("base_delay_seconds (RETRY_BASE_DELAY_SECONDS)", self.base_delay_seconds)
        if base < 0:
            raise ValueError(f"base_delay_seconds (RETRY_BASE_DELAY_SECONDS) must be >= 0, got {base}")
        cap = _require_int("max_delay_seconds (RETRY_MAX_DELAY_SECONDS)", self.max_delay_seconds)
        if not 0 <= cap <= SQS_MAX_DELAY_SECONDS:
            raise ValueError(
                "max_delay_seconds (RETRY_MAX_DELAY_SECONDS) must be between 0 and "
                f"{SQS_MAX_DELAY_SECONDS} (the SQS DelaySeconds limit), got {cap}"
            )
        if base > cap:
            # Every delay would be the cap: almost certainly the two values were swapped.
            raise ValueError(f"base_delay_seconds ({base}) must not exceed max_delay_seconds ({cap})")
        for name, flag in (
            ("retry_on_no_exit_code", self.retry_on_no_exit_code),
            ("retry_on_timeout", self.retry_on_timeout),
        ):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be a bool, got {flag!r}")

    @classmethod
    def from_settings(
        cls,
        *,
        retry_exit_codes: str,
        max_attempts: str,
        base_delay_seconds: str,
        max_delay_seconds: str,
        retry_on_no_exit_code: str = "false",
        retry_on_timeout: str = "false",
    ) -> RetryPolicy:
        """Build the policy from the raw strings of the environment (RETRY_EXIT_CODES, ...).

        The config layer reads os.environ and calls this once per container; every bad value
        raises ValueError naming the variable, so a misconfigured stack fails at cold start.
        """
        try:
            codes = ExitCodeSet.parse(retry_exit_codes)
        except ValueError as exc:
            raise ValueError(f"RETRY_EXIT_CODES: {exc}") from exc
        return cls(
            retry_exit_codes=codes,
            max_attempts=_int_setting("MAX_ATTEMPTS", max_attempts),
            base_delay_seconds=_int_setting("RETRY_BASE_DELAY_SECONDS", base_delay_seconds),
            max_delay_seconds=_int_setting("RETRY_MAX_DELAY_SECONDS", max_delay_seconds),
            retry_on_no_exit_code=_bool_setting("RETRY_ON_NO_EXIT_CODE", retry_on_no_exit_code),
            retry_on_timeout=_bool_setting("RETRY_ON_TIMEOUT", retry_on_timeout),
        )


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt. ``reason`` is stored on the run and shown in alerts."""

    retry: bool
    next_attempt: int | None
    delay_seconds: int
    reason: str

    def __post_init__(self) -> None:
        if self.retry != (self.next_attempt is not None):
            raise ValueError("next_attempt is set exactly when retry is True")
        if not 0 <= self.delay_seconds <= SQS_MAX_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be within 0..{SQS_MAX_DELAY_SECONDS}")


Rand = random.Random | Callable[[], float] | None


def _draw(rand: Rand) -> float:
    if rand is None:
        value = random.random()  # noqa: S311 - jitter spreads load; it needs no secrecy
    elif isinstance(rand, random.Random):
        value = rand.random()
    else:
        value = rand()
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"the random source must return a float in [0, 1], got {value!r}")
    return value


def backoff_seconds(policy: RetryPolicy, attempt: int, rand: Rand = None) -> int:
    """Delay before the attempt after ``attempt``: exponential growth with equal jitter.

    ``ceiling = min(max_delay, base * 2**(attempt - 1))``, and the delay is drawn uniformly from
    the whole seconds in ``[ceil(ceiling / 2), ceiling]``. "Equal jitter" (half fixed, half
    random) spreads a burst of failures over time like full jitter does, yet never collapses
    to 0 s, which would retry at once into the same transient fault. For a fixed random draw
    the delay never decreases as ``attempt`` grows. A zero base means no delay at all.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    cap = policy.max_delay_seconds
    # Any base of 1 s or more reaches the cap (<= 900) long before 2**32; so stop doubling
    # there instead of building huge integers for absurd attempt numbers.
    ceiling = min(cap, policy.base_delay_seconds << min(attempt - 1, 32))
    low = ceiling - ceiling // 2
    spread = ceiling - low + 1
    return min(ceiling, low + int(_draw(rand) * spread))


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decide(
    policy: RetryPolicy,
    attempt: int,
    failure: JobFailure,
    *,
    rand: Rand = None,
) -> RetryDecision:
    """Decide whether the failed ``attempt`` (1-based) gets a successor, and after how long.

    Checks, in order: a timeout is governed by ``retry_on_timeout`` (whatever exit code the
    killed container left); a failure without an exit code by ``retry_on_no_exit_code``;
    otherwise the exit code must be in ``retry_exit_codes``. A retryable failure is retried
    only while ``attempt < max_attempts``. The same inputs (and random draw) give the same
    decision, so a duplicate FAILED event cannot change the outcome.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    retryable, verdict = judge(policy, failure)
    if not retryable:
        return RetryDecision(retry=False, next_attempt=None, delay_seconds=0, reason=verdict)
    if attempt >= policy.max_attempts:
        return RetryDecision(
            retry=False,
            next_attempt=None,
            delay_seconds=0,
            reason=f"{verdict}, but attempts exhausted ({attempt} of {policy.max_attempts})",
        )
    delay = backoff_seconds(policy, attempt, rand)
    return RetryDecision(
        retry=True,
        next_attempt=attempt + 1,
        delay_seconds=delay,
        reason=(f"{verdict} (attempt {attempt} of {policy.max_attempts}); attempt {attempt + 1} starts in {delay} s"),
    )


def judge(policy: RetryPolicy, failure: JobFailure) -> tuple[bool, str]:
    """Is this failure of a kind the policy retries (attempts aside), and the verdict's words: see ``decide``."""
    codes = policy.retry_exit_codes
    if failure.timed_out:
        retryable = policy.retry_on_timeout
        verdict = (
            "timed out and RetryOnTimeout=true"
            if retryable
            else "timed out; timeouts are not retried (RetryOnTimeout=false)"
        )
    elif failure.exit_code is None:
        retryable = policy.retry_on_no_exit_code
        cause = f"no exit code ({_clip(failure.reason or 'no reason given')})"
        verdict = (
            f"{cause} and RetryOnNoExitCode=true"
            if retryable
            else f"{cause}; failures without an exit code are not retried (RetryOnNoExitCode=false)"
        )
    elif failure.exit_code in codes:
        retryable = True
        verdict = f"exit code {failure.exit_code} is retryable"
    else:
        retryable = False
        verdict = (
            f"exit code {failure.exit_code} is not in the retry list {codes}"
            if codes
            else f"exit code {failure.exit_code} is not retried (the retry list is empty)"
        )
    return retryable, verdict
