"""SIMULATED consumer of the run lifecycle events: an EventBridge rule on the stack's bus, matching the stack's
``source`` (output EventSource), with an SQS queue as its target, both created in the emulator (not in the template).

It is what an application subscribing to the events would build (docs/integration.md, "Subscribe"): the events come
back exactly as a rule target receives them, the full EventBridge envelope (moto routes the rule to the queue).

Invariant: ``EventsInbox.received`` returns every event delivered so far, in delivery order (the queue is drained
into the list), each a dict with ``detail-type``, ``source``, ``detail`` and the rest of the envelope.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from emulator.queue_inbox import QueueInbox

if TYPE_CHECKING:
    from emulator.stack import EmulatedStack


class EventsInbox:
    """A rule → queue subscription to one stack's lifecycle events, and the events read from it so far."""

    def __init__(self, stack: EmulatedStack, name: str) -> None:
        self._inbox: QueueInbox[dict[str, Any]] = QueueInbox(stack, name, json.loads)
        bus = stack.outputs["EventBusName"]
        events = stack.client("events")
        events.put_rule(
            Name=name, EventBusName=bus, EventPattern=json.dumps({"source": [stack.outputs["EventSource"]]})
        )
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "inbox", "Arn": self._inbox.arn}])

    def received(self) -> list[dict[str, Any]]:
        return self._inbox.received()


def event_types(events: Sequence[Mapping[str, Any]], run_id: str | None = None) -> list[str]:
    """The detail-types of ``events`` (of one run's when ``run_id`` is given), in delivery order."""
    return [str(e["detail-type"]) for e in events if run_id is None or e.get("detail", {}).get("runId") == run_id]


def event_lines(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per event, as the demo prints them: detail-type, run (or blocked job), attempt, exit code."""
    lines = []
    for event in events:
        detail = event.get("detail", {})
        subject = detail.get("runId") or f"job {detail.get('jobId')}"
        extra = f" attempt {detail['attempt']}" if "attempt" in detail else ""
        if detail.get("exitCode") is not None:
            extra += f", exit {detail['exitCode']}"
        lines.append(f"  {event.get('detail-type', '?'):<20} {subject}{extra}")
    return lines


def sequence_problems(events: Sequence[Mapping[str, Any]], run_ids: Sequence[str]) -> list[str]:
    """Runs whose events do not start with Run Started and end with one Run Succeeded or Run Failed."""
    problems = []
    for run_id in run_ids:
        types = event_types(events, run_id)
        ends = [t for t in types if t in ("Run Succeeded", "Run Failed")]
        if not types or types[0] != "Run Started" or ends != types[-1:]:
            problems.append(f"{run_id}: {types}")
    return problems
