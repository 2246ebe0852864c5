"""Lost answers: a call that took effect in AWS, but whose answer never arrived (5xx, read timeout).

botocore's standard retry mode retries a call that answered 5xx or timed out, and DynamoDB documents
that such a write may have been applied: the retry of a conditional write then fails its own
condition. Each call of the submit-and-track story (an upload failing twice with a retryable exit
code, MaxAttempts 2: a retry, then an alert) is replayed with its answer lost, once as an HTTP 500
and once as a read timeout (harness.LostAnswer), and the promise is checked as after a crash: one
Batch job per attempt, exactly one alert. One more promise holds here: a lost answer costs no time.
The run settles exactly when it settles without faults; in particular the first claim of an upload
is not mistaken for a duplicate's (which would leave the job to the watchdog, 10 minutes later).

Exceptions, each documented: SubmitJob is never retried by botocore (it has no idempotency token),
so its lost answer is recovered by the claim protocol after the claim's lease (the job is adopted,
not submitted twice); a retried sns:Publish delivers the alert twice (SNS standard topics keep no
idempotency key: at least once, docs/limits.md).
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from batch_orchestrator.adapters import aws
from emulator import EmulatedStack
from tests.reliability.harness import LOST_ANSWER_KINDS, LostAnswer, Sleeps
from tests.reliability.stories import Outcome, Simulation, Story, alert_identity, check_failed_twice
from tests.support.figures import figure
from tests.support.runs import subscribe_alerts, take_all_bodies

LOST_ANSWER_PARAMS = {"MaxAttempts": "2", "RetryExitCodes": "3", "RetryBaseDelaySeconds": "0"}
WRITES = frozenset({"PutItem", "UpdateItem", "SubmitJob", "SendMessage", "Publish"})
RECOVERED_BY_THE_CLAIM_PROTOCOL = "SubmitJob"  # not retried by botocore: adopted after the claim's lease
DELIVERED_TWICE = "Publish"  # retried by botocore: at least once


def _simulate(stack: EmulatedStack, story: Story, inbox: str, key: str, fault: LostAnswer) -> Outcome:
    simulation = Simulation(
        stack,
        story,
        inbox,
        key=key,
        crash_after=None,
        faults=lambda: fault.attach(aws.client("dynamodb"), aws.client("sqs"), aws.client("sns"), aws.submit_client()),
    )

    def batch_runs_what_it_accepted(operation: str, answer: bytes) -> None:
        if operation == "SubmitJob":  # nobody learned the job id, but Batch runs the job all the same
            simulation.new_jobs.append(str(json.loads(answer)["jobId"]))

    fault.on_lost = batch_runs_what_it_accepted
    return simulation.play()


def _check(outcome: Outcome, lost: str | None, reference: Outcome) -> list[str]:
    found = [problem for problem in check_failed_twice(outcome) if not problem.endswith("alerts, expected 1")]
    expected_alerts = 2 if lost == DELIVERED_TWICE else 1
    if len(outcome.alerts) != expected_alerts:
        found.append(f"{len(outcome.alerts)} alerts, expected {expected_alerts}")
    if len({alert_identity(alert) for alert in outcome.alerts}) > 1:
        found.append("the alerts differ")
    if lost != RECOVERED_BY_THE_CLAIM_PROTOCOL and outcome.settled_after != reference.settled_after:
        found.append(f"settled after {outcome.settled_after}, without the fault after {reference.settled_after}")
    return found


@pytest.mark.stack_params(**LOST_ANSWER_PARAMS)
def test_a_write_whose_answer_was_lost_is_counted_as_applied(
    stack: EmulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the story without faults, and every write it makes
    monkeypatch.setattr(time, "sleep", Sleeps())  # botocore's retry backoff, recorded not slept
    story = Story("lost-answers", exit_codes={1: 3, 2: 3})
    inbox = subscribe_alerts(stack)
    take_all_bodies(stack)  # the s3:TestEvent
    counting = LostAnswer(target=0, kind="5xx", operations=WRITES)
    reference = _simulate(stack, story, inbox, "incoming/lost/reference.csv", counting)
    assert not check_failed_twice(reference)
    writes = counting.sent

    # When each write's answer is lost, as a 5xx and as a timeout
    problems: dict[str, list[str]] = {}
    lost_per_operation: Counter[str] = Counter()
    for target in range(1, writes + 1):
        for kind in LOST_ANSWER_KINDS:
            fault = LostAnswer(target=target, kind=kind, operations=WRITES)
            key = f"incoming/lost/{kind}-{target:02d}.csv"
            outcome = _simulate(stack, story, inbox, key, fault)
            assert fault.lost is not None, f"write {target} was never made"
            lost_per_operation[fault.lost] += 1
            found = _check(outcome, fault.lost, reference)
            if found:
                problems[f"{kind} after write {target} ({fault.lost})"] = found

    # Then every replay ends as promised, and as soon as without the fault
    assert problems == {}, "\n".join(f"{label}: {'; '.join(found)}" for label, found in problems.items())
    assert {"PutItem", "UpdateItem", "SubmitJob", "SendMessage", "Publish"} <= set(lost_per_operation)
    figure(
        "Lost answers (5xx and timeouts after success)",
        f"{writes} writes x {len(LOST_ANSWER_KINDS)} kinds ({_counts(lost_per_operation)}) "
        "-> 1 job per attempt, 1 alert, settled as fast as without the fault; SubmitJob's adopted after the claim "
        "lease; a retried Publish delivers the alert twice (documented)",
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{operation} {count}" for operation, count in sorted(counter.items()))
