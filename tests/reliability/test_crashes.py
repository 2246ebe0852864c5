"""Crashes: the process dies right after any AWS call of the submit, track or watchdog path.

A story (an upload, its Batch jobs, their events) is first played without faults, numbering every
AWS call the shared package makes (harness.CallTrace). It is then replayed once per call, the
process dying right after that call returned (harness.ProcessCrash: its effect happened, nobody
learned of it). Redelivery follows AWS's rules on a virtual clock:

* submit_jobs (SQS): the whole batch comes back after the queue's visibility timeout (420 s);
* track_jobs (asynchronous invoke): Lambda retries the event after 1 and then 2 minutes, then
  gives up (the event lands in TrackingDLQ);
* watchdog (schedule): the next sweep, every WatchdogIntervalMinutes (5).

Batch is simulated: a submitted job reports RUNNABLE, RUNNING and its final state, both in events
and in moto's DescribeJobs (``stories.Simulation``), unless the story loses the final event.

After each replay the promise is checked: exactly one Batch job per attempt, exactly one alert
per final failure. One crash point is the documented exception (docs/limits.md):
dying after the SNS publish and before its confirming write republishes once (at-least-once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from emulator import EmulatedStack
from tests.reliability.stories import (
    Outcome,
    Simulation,
    Story,
    check_failed_twice,
    check_succeeded_once,
)
from tests.support.figures import figure
from tests.support.runs import subscribe_alerts, take_all_bodies

CRASH_TESTED_PARAMS = {"MaxAttempts": "2", "RetryExitCodes": "3", "RetryBaseDelaySeconds": "0"}


def _replay_with_every_crash(
    stack: EmulatedStack, story: Story, check: Callable[[Outcome], list[str]]
) -> tuple[list[str], dict[str, list[str]], Counter[str]]:
    """Play the story once without faults, then once per call with a crash right after it."""
    inbox = subscribe_alerts(stack)
    take_all_bodies(stack)  # the s3:TestEvent
    reference = Simulation(stack, story, inbox, key=f"incoming/{story.name}/reference.csv", crash_after=None).play()
    problems = {"no crash": check(reference)}
    alerts_per_crash: Counter[str] = Counter()
    for index, call in enumerate(reference.calls, start=1):
        key = f"incoming/{story.name}/crash-{index:02d}.csv"
        outcome = Simulation(stack, story, inbox, key=key, crash_after=index).play()
        label = f"crash after call {index}: {call}"
        if outcome.crashed_at != call:
            problems[label] = [f"the replay diverged: call {index} was {outcome.crashed_at!r}"]
            continue
        problems[label] = check(outcome)
        alerts_per_crash[call] = len(outcome.alerts)
    return reference.calls, {label: found for label, found in problems.items() if found}, alerts_per_crash


def _report(story: str, calls: list[str], problems: dict[str, list[str]], alerts: Counter[str]) -> None:
    assert problems == {}, "\n".join(f"{label}: {'; '.join(found)}" for label, found in problems.items())
    duplicated = sorted(call for call, count in alerts.items() if count > 1)
    note = f"; a second, identical alert only after {', '.join(duplicated)} (documented)" if duplicated else ""
    figure(f"Crashes ({story})", f"{len(calls)} crash points, each recovered: 1 job per attempt{note}")


@pytest.mark.stack_params(**CRASH_TESTED_PARAMS)
def test_a_crash_after_any_call_of_the_submit_and_track_paths_is_recovered(stack: EmulatedStack) -> None:
    # Given attempt 1 failing with retryable exit 3, attempt 2 failing again (MaxAttempts 2): a retry, then an alert
    story = Story("submit-track", exit_codes={1: 3, 2: 3})

    # When the process dies after each AWS call in turn
    calls, problems, alerts = _replay_with_every_crash(stack, story, check_failed_twice)

    # Then every replay ends with one job per attempt and one alert (two identical after a crash past Publish)
    steps = {call.split(" (", 1)[1][:-1] for call in calls}
    assert {"claim", "SubmitJob", "status write", "retry enqueue", "retry claim", "SNS publish"} <= steps
    assert {"confirming write"} <= steps
    _report("submit and track paths", calls, problems, alerts)


@pytest.mark.stack_params(**CRASH_TESTED_PARAMS)
def test_a_crash_after_any_call_of_the_watchdog_repairing_lost_events_is_recovered(stack: EmulatedStack) -> None:
    # Given the same story, but both final FAILED events lost: only the watchdog's DescribeJobs sees them
    story = Story("watchdog-repair", exit_codes={1: 3, 2: 3}, lost_final_events=frozenset({1, 2}))

    # When the process dies after each AWS call in turn
    calls, problems, alerts = _replay_with_every_crash(stack, story, check_failed_twice)

    # Then the watchdog still retries once and alerts once
    assert any("DescribeJobs" in call for call in calls)
    _report("watchdog repairing lost events", calls, problems, alerts)


def test_a_crash_after_any_call_of_the_watchdog_resubmitting_a_lost_claim_is_recovered(stack: EmulatedStack) -> None:
    # Given an upload whose claim was written, whose SubmitJob never happened, and whose message is gone
    story = Story("watchdog-resubmit", exit_codes={1: 0}, message_lost_after_claim=True)

    # When the process dies after each AWS call in turn
    calls, problems, alerts = _replay_with_every_crash(stack, story, check_succeeded_once)

    # Then the watchdog resubmits the claim and its one job runs
    assert any("resubmit" in call for call in calls)
    _report("watchdog resubmitting a lost claim", calls, problems, alerts)
