"""The tracker's EventBridge rule, as AWS would evaluate it: array children's state changes stop at the rule.

The rule (TrackJobsFunctionBatchEvents, from the BatchEvents event of TrackJobsFunction) is taken from the
real template, SAM-transformed and resolved (``tests.conformance.resolve``), and evaluated against the event
shapes AWS documents. What the documents say, by title:

* AWS Batch User Guide, "Job state change events": "Anytime that an existing (previously submitted) job
  changes states, an event is created"; the ``detail`` "resembles the JobDetail object" of DescribeJobs. The
  page's example event (``DOCUMENTED_EXAMPLE`` below, verbatim) is a single job and has no
  ``arrayProperties``.
* AWS Batch API Reference, "JobDetail": ``arrayProperties`` is not required; "ArrayPropertiesDetail":
  ``index`` "is returned for array job children", ``size`` and ``statusSummary`` "for parent array jobs".
  "Array jobs" (User Guide): child ``i`` of a parent is ``<parent id>:<i>``, the first index is 0.
* AWS Batch User Guide, "Job queue blocked events": "Anytime that AWS Batch detects a job in the RUNNABLE
  state and thus blocking a queue, an event is created"; its detail resembles that job's JobDetail. An array parent
  is never RUNNABLE ("Array jobs": SUBMITTED, PENDING, FAILED or SUCCEEDED), its children are: so a
  queue-blocked event about an array names a child, and must still reach the tracker.
* Amazon EventBridge User Guide, "Content filtering in Amazon EventBridge event patterns", Exists matching:
  ``{"exists": false}`` matches "any event that does not have a ``detail.c-count`` field"; "Exists matching
  only works on leaf nodes. It does not work on intermediate nodes": the same pattern also matches an event
  whose ``c-count`` is an object (``{"c1": 100}``) "because c-count isn't a leaf node".
* "Comparison operators for use in event patterns in Amazon EventBridge": the fields of a pattern are ANDed
  ("Location is New York and Day is Monday"); ``$or`` ORs sub-patterns ("Location is New York, or Day is
  Monday"), on event buses too; comparison operators "only work on leaf nodes, with the exception of $or
  and anything-but".
* Not said in so many words, and derived: ``{"exists": false}`` on ``detail.arrayProperties.index`` matches
  when ``arrayProperties`` is absent altogether or is ``{}``. EventBridge's matcher (aws/event-ruler, whose
  README describes an event "as a set of name/value pairs" such as ``detail.state``) sees only leaves, and
  an absent or empty object contributes none, so there is no ``detail.arrayProperties.index`` to exist.
  Whether Batch sends ``arrayProperties`` as ``{}`` or leaves it out for a single job is not documented:
  both are tested.

The evaluator is the local pipeline's own (``emulator.stack.EventRule.matches``: moto 5.2's
``moto.events.models.EventPattern``), so this test and the emulated EventBridge cannot disagree.
``test_the_evaluator_reads_patterns_as_the_documents_do`` pins it on the documents' own examples. Its known
gaps, none of which this pattern touches: it keeps an empty object as a leaf value (``exists`` on the
intermediate ``arrayProperties`` would see ``{}`` as present; AWS would not), and it does not flatten
arrays of objects as event-ruler does. aws/event-ruler is Java; the PyPI package ``event-ruler`` (0.3.0,
2023) ships only CPython 3.10-3.12 wheels and no sdist, so it cannot be installed for the Lambda runtime's
Python 3.13.

Proven: the rule routes the documented single job (with no ``arrayProperties`` and with ``{}``), an array
parent's events, and every queue-blocked event (a child's included) from the stack's queues; it drops every
child's state change (index 0 included), other queues' events and other detail-types; and mutated patterns
(the child filter removed, ``exists`` on the intermediate node, the filter applied to queue-blocked events,
``exists: true``, parents picked by ``size``, the queue or the detail-type filter removed) each fail it, naming
the events they misroute. Of the Batch events on the stack's queue, the rule drops exactly those the tracker's
parser ignores as an array child's.
Not proven: that AWS emits state-change events for children at all (no document shows one; the local
runner emits them, as the "Job state change events" sentence reads); that moto and EventBridge agree beyond
the documents' examples.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from batch_orchestrator.batch_events import IGNORED_ARRAY_CHILD, Ignored, parse_event
from emulator.stack import EventRule
from tests.conformance.resolve import ResolvedStack, resolve_stack
from tests.conformance.workload_stacks import rendered_stack
from tests.support.events import load_event

Event = dict[str, Any]
Pattern = dict[str, Any]
RULE = "TrackJobsFunctionBatchEvents"

# AWS Batch User Guide, "Job state change events", "Example Job State Change Event", verbatim.
DOCUMENTED_EXAMPLE = """
{
    "version": "0",
    "id": "c8f9c4b5-76e5-d76a-f980-7011e206042b",
    "detail-type": "Batch Job State Change",
    "source": "aws.batch",
    "account": "123456789012",
    "time": "2022-01-11T23:36:40Z",
    "region": "us-east-1",
    "resources": [
        "arn:aws:batch:us-east-1:123456789012:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8"
    ],
    "detail": {
        "jobArn": "arn:aws:batch:us-east-1:123456789012:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8",
        "jobName": "event-test",
        "jobId": "4c7599ae-0a82-49aa-ba5a-4727fcce14a8",
        "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/PexjEHappyPathCanary2JobQueue",
        "status": "RUNNABLE",
        "attempts": [],
        "createdAt": 1641944200058,
        "retryStrategy": {
            "attempts": 2,
            "evaluateOnExit": []
        },
        "dependsOn": [],
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/first-run-job-definition:1",
        "parameters": {},
        "container": {
            "image": "137112412989.dkr.ecr.us-east-1.amazonaws.com/amazonlinux:latest",
            "command": [
                "sleep",
                "600"
            ],
            "volumes": [],
            "environment": [],
            "mountPoints": [],
            "ulimits": [],
            "networkInterfaces": [],
            "resourceRequirements": [
                {
                    "value": "2",
                    "type": "VCPU"
                }, {
                    "value": "256",
                    "type": "MEMORY"
                }
            ],
            "secrets": []
        },
        "tags": {
            "resourceArn": "arn:aws:batch:us-east-1:123456789012:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8"
        },
        "propagateTags": false,
        "platformCapabilities": []
    }
}
"""
OTHER_QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/someone-elses-queue"
# Every status a parent's statusSummary counts ("ArrayPropertiesDetail": children per status).
STATUS_SUMMARY = {
    "SUBMITTED": 0,
    "PENDING": 0,
    "RUNNABLE": 1,
    "STARTING": 0,
    "RUNNING": 1,
    "SUCCEEDED": 1,
    "FAILED": 0,
}


# ------------------------------------------------------------------------------------------- evaluator
def routes(pattern: Pattern, event: Event) -> bool:
    """Whether the rule with ``pattern`` routes ``event``: the local pipeline's EventBridge, exactly."""
    rule = EventRule(
        logical_id=RULE,
        name=RULE,
        arn=f"arn:aws:events:us-east-1:123456789012:rule/{RULE}",
        event_bus_name="default",
        state="ENABLED",
        pattern=pattern,
        schedule_expression=None,
        targets=(),
    )
    return rule.matches(event)


def tracker_pattern(stack: ResolvedStack) -> Pattern:
    pattern: Pattern = stack.resources[RULE].properties["EventPattern"]
    return pattern


# ---------------------------------------------------------------------------------------- event shapes
def _job(queue: str, **detail: Any) -> Event:
    """The documented example event on ``queue``, with ``detail`` fields set."""
    event: Event = json.loads(DOCUMENTED_EXAMPLE)
    event["detail"].update(jobQueue=queue, **detail)
    event["resources"] = [event["detail"]["jobArn"]]
    return event


def _child(queue: str, index: int, status: str) -> Event:
    """Child ``index`` of the documented example's job as an array parent ("Array jobs": id ``<parent id>:<i>``)."""
    parent = json.loads(DOCUMENTED_EXAMPLE)["detail"]
    return _job(
        queue,
        jobId=f"{parent['jobId']}:{index}",
        jobArn=f"{parent['jobArn']}:{index}",
        status=status,
        arrayProperties={"index": index},
    )


def _queue_blocked(queue: str, **detail: Any) -> Event:
    """The project's sample of a "Batch Job Queue Blocked" event (shaped as the page documents it) on ``queue``."""
    event = load_event("batch_queue_blocked.json")
    event["detail"]["jobQueue"] = queue
    event["detail"].update(detail)
    event["resources"] = [event["detail"]["jobArn"], queue]
    return event


def expected_routing(queue: str) -> dict[str, tuple[Event, bool]]:
    """Name → (event, whether the tracker must receive it), for a job on ``queue`` (one of the stack's)."""
    blocked = _queue_blocked(queue)
    child_id = f"{blocked['detail']['jobId']}:7"
    return {
        "the documented example (a single job, no arrayProperties)": (_job(queue), True),
        "a single job with arrayProperties {}": (_job(queue, arrayProperties={}), True),
        "a single job that SUCCEEDED": (_job(queue, status="SUCCEEDED", stoppedAt=1641944300058), True),
        "an array parent, PENDING": (
            _job(queue, status="PENDING", arrayProperties={"size": 3, "statusSummary": STATUS_SUMMARY}),
            True,
        ),
        "an array parent, FAILED": (
            _job(queue, status="FAILED", arrayProperties={"size": 3, "statusSummary": {"SUCCEEDED": 2, "FAILED": 1}}),
            True,
        ),
        "array child 0, RUNNABLE": (_child(queue, 0, "RUNNABLE"), False),
        "array child 2, FAILED": (_child(queue, 2, "FAILED"), False),
        "a queue blocked by a single job": (blocked, True),
        "a queue blocked by array child 7": (
            _queue_blocked(
                queue, jobId=child_id, jobArn=f"{blocked['detail']['jobArn']}:7", arrayProperties={"index": 7}
            ),
            True,
        ),
        "a single job on another queue": (_job(OTHER_QUEUE), False),
        "a queue-blocked event of another queue": (_queue_blocked(OTHER_QUEUE), False),
        "a service job's queue blocked (another detail-type)": (
            {**_queue_blocked(queue), "detail-type": "Batch Service Job Queue Blocked"},
            False,
        ),
        "another source": ({**_job(queue), "source": "aws.ecs"}, False),
    }


def misrouted(pattern: Pattern, queue: str) -> list[str]:
    """The events ``pattern`` routes wrongly: "delivered: <name>" reached the tracker but must not, "lost: <name>"
    must reach it but did not."""
    return [
        f"{'lost' if should else 'delivered'}: {name}"
        for name, (event, should) in expected_routing(queue).items()
        if routes(pattern, event) != should
    ]


def stack_named(name: str) -> ResolvedStack:
    return resolve_stack() if name == "default template" else rendered_stack()


# ---------------------------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("name", ["default template", "two workloads"])
def test_the_rule_delivers_parents_single_jobs_and_blocked_queues_but_no_child(name: str) -> None:
    # Given the tracker's rule of the stack (template.yaml as it is, and rendered with a Spot workload)
    stack = stack_named(name)
    pattern = tracker_pattern(stack)

    # Then, for a job on each of the stack's queues, every documented shape is routed as the tracker needs
    queues = [stack.ref(logical_id) for logical_id in stack.of_type("AWS::Batch::JobQueue")]
    assert len(queues) == (1 if name == "default template" else 2)
    for queue in queues:
        assert misrouted(pattern, queue) == [], queue


def test_the_rule_keeps_the_filters_it_had() -> None:
    # Given the tracker's rule of template.yaml
    stack = resolve_stack()
    pattern = tracker_pattern(stack)

    # Then it still takes aws.batch's two detail-types from the stack's queue, and adds only the child filter
    assert pattern["source"] == ["aws.batch"]
    assert pattern["detail-type"] == ["Batch Job State Change", "Batch Job Queue Blocked"]
    assert pattern["detail"] == {"jobQueue": [stack.ref("JobQueue")]}
    assert pattern["$or"] == [
        {"detail-type": ["Batch Job Queue Blocked"]},
        {"detail": {"arrayProperties": {"index": [{"exists": False}]}}},
    ]


def test_every_event_the_rule_drops_from_the_stacks_queue_is_one_the_tracker_ignores_as_a_child() -> None:
    # Given the rule, and the Batch events of the expected routing on the stack's queue
    stack = resolve_stack()
    pattern = tracker_pattern(stack)
    ours = {
        name: event
        for name, (event, _) in expected_routing(stack.ref("JobQueue")).items()
        if event["source"] == "aws.batch"
        and event["detail-type"] in pattern["detail-type"]
        and event["detail"]["jobQueue"] == stack.ref("JobQueue")
    }
    assert len(ours) == 9

    # Then the rule drops exactly the events the tracker's parser would ignore as an array child's
    for name, event in ours.items():
        parsed = parse_event(event)
        ignored_child = isinstance(parsed, Ignored) and parsed.reason == IGNORED_ARRAY_CHILD
        assert routes(pattern, event) is not ignored_child, name


# ------------------------------------------------------------------------------------------- mutations
def _without_child_filter(pattern: Pattern) -> None:
    del pattern["$or"]


def _exists_on_the_intermediate_node(pattern: Pattern) -> None:
    pattern["$or"][1] = {"detail": {"arrayProperties": [{"exists": False}]}}


def _child_filter_on_every_detail_type(pattern: Pattern) -> None:
    del pattern["$or"]
    pattern["detail"]["arrayProperties"] = {"index": [{"exists": False}]}


def _exists_true(pattern: Pattern) -> None:
    pattern["$or"][1]["detail"]["arrayProperties"]["index"] = [{"exists": True}]


def _parents_by_size(pattern: Pattern) -> None:
    pattern["$or"][1] = {"detail": {"arrayProperties": {"size": [{"exists": True}]}}}


def _without_queue_filter(pattern: Pattern) -> None:
    del pattern["detail"]["jobQueue"]


def _without_detail_type_filter(pattern: Pattern) -> None:
    del pattern["detail-type"]


CHILDREN_DELIVERED = {"delivered: array child 0, RUNNABLE", "delivered: array child 2, FAILED"}
SINGLE_JOBS_LOST = {
    "lost: the documented example (a single job, no arrayProperties)",
    "lost: a single job with arrayProperties {}",
    "lost: a single job that SUCCEEDED",
}
MUTANTS: dict[str, tuple[Callable[[Pattern], None], set[str]]] = {
    "the child filter removed": (_without_child_filter, CHILDREN_DELIVERED),
    # "only works on leaf nodes": arrayProperties holds an object, so exists:false on it is true of children
    "exists on the intermediate node arrayProperties": (_exists_on_the_intermediate_node, CHILDREN_DELIVERED),
    "the child filter on queue-blocked events too": (
        _child_filter_on_every_detail_type,
        {"lost: a queue blocked by array child 7"},
    ),
    "exists true instead of false": (
        _exists_true,
        SINGLE_JOBS_LOST | CHILDREN_DELIVERED | {"lost: an array parent, PENDING", "lost: an array parent, FAILED"},
    ),
    "parents picked by arrayProperties.size": (_parents_by_size, SINGLE_JOBS_LOST),
    "the queue filter removed": (
        _without_queue_filter,
        {"delivered: a single job on another queue", "delivered: a queue-blocked event of another queue"},
    ),
    "the detail-type filter removed": (
        _without_detail_type_filter,
        {"delivered: a service job's queue blocked (another detail-type)"},
    ),
}


@pytest.mark.parametrize("mutant", MUTANTS)
def test_a_broken_pattern_misroutes_the_events_its_defect_concerns(mutant: str) -> None:
    # Given the tracker's rule with one defect
    stack = resolve_stack()
    change, expected = MUTANTS[mutant]
    pattern = copy.deepcopy(tracker_pattern(stack))
    change(pattern)

    # Then the routing check fails, naming (at least) the events that defect misroutes
    found = set(misrouted(pattern, stack.ref("JobQueue")))
    assert expected <= found, found


# ------------------------------------------------------------------------------------------- evaluator
def test_the_evaluator_reads_patterns_as_the_documents_do() -> None:
    # "Content filtering in Amazon EventBridge event patterns", Exists matching: its patterns and events
    not_c_count = {"detail": {"c-count": [{"exists": False}]}}
    state_exists = {"detail": {"state": [{"exists": True}]}}
    without_c_count = {"detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": "pending"}}
    c_count_object = {"detail-type": ["EC2 Instance State-change Notification"], "detail": {"c-count": {"c1": 100}}}
    assert routes(not_c_count, without_c_count)
    assert routes(not_c_count, c_count_object)  # "because c-count isn't a leaf node"
    assert not routes(not_c_count, {"detail": {"c-count": 5}})  # it has a detail.c-count field
    assert routes(state_exists, without_c_count)
    assert not routes(state_exists, c_count_object)  # "it doesn't have a detail.state field"

    # "Comparison operators for use in event patterns in Amazon EventBridge": And, and Or over fields ($or)
    both = {"Location": ["New York"], "Day": ["Monday"]}
    either = {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}
    assert routes(both, {"Location": "New York", "Day": "Monday"})
    assert not routes(both, {"Location": "New York", "Day": "Sunday"})
    assert routes(either, {"Location": "New York", "Day": "Sunday"})
    assert routes(either, {"Location": "Paris", "Day": "Monday"})
    assert not routes(either, {"Location": "Paris", "Day": "Sunday"})

    # Derived (event-ruler matches leaves only): no arrayProperties, or an empty one, has no index to exist
    no_index = {"detail": {"arrayProperties": {"index": [{"exists": False}]}}}
    assert routes(no_index, {"detail": {"jobId": "a"}})
    assert routes(no_index, {"detail": {"jobId": "a", "arrayProperties": {}}})
    assert not routes(no_index, {"detail": {"jobId": "a:0", "arrayProperties": {"index": 0}}})
