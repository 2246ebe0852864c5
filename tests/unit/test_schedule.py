from typing import Any

import pytest

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.models import ScheduleSource
from batch_orchestrator.schedule import parse_schedule_firing


def test_scheduler_input_identifies_the_firing_by_its_scheduled_time() -> None:
    event = {
        "scheduleName": "nightly",
        "scheduledTime": "2026-11-21T00:00:00Z",
        "executionId": "e1",
        "attemptNumber": "1",
    }
    assert parse_schedule_firing(event, default_name="x") == ScheduleSource("nightly", "2026-11-21T00:00:00Z")


def test_times_in_other_zones_normalise_to_the_same_instant() -> None:
    tokyo = parse_schedule_firing({"scheduledTime": "2026-11-21T09:00:00+09:00"}, default_name="nightly")
    utc = parse_schedule_firing({"scheduledTime": "2026-11-21T00:00:00.000Z"}, default_name="nightly")
    assert tokyo == utc


def test_classic_scheduled_event_uses_the_rule_name() -> None:
    event = {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2026-11-21T00:00:00Z",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly-rule"],
        "detail": {},
    }
    assert parse_schedule_firing(event, default_name="x") == ScheduleSource("nightly-rule", "2026-11-21T00:00:00Z")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"scheduleName": "n"}, "no scheduled time"),
        ({"scheduleName": "n", "scheduledTime": "yesterday"}, "not ISO-8601"),
        ({"scheduleName": "n", "scheduledTime": "2026-11-21T00:00:00"}, "no time zone"),
        ({"scheduleName": 5, "scheduledTime": "2026-11-21T00:00:00Z"}, "no scheduleName"),
        ("not an object", "not an object"),
    ],
)
# event is Any: one case is deliberately not a Mapping, to check the parser rejects it at run time.
def test_malformed_schedule_events_raise_a_clear_error(event: Any, message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        parse_schedule_firing(event, default_name="fallback")
