"""The lifecycle events' wiring, as AWS would evaluate it: the stream mapping, its filters, PutEvents' IAM and limits.

Proven, on template.yaml transformed and resolved (``resolve.py``): the runs table streams NEW_AND_OLD_IMAGES; the
mapping reads that stream with partial batch responses, bounded retries and an on-failure queue; its FilterCriteria
(within Lambda's 5 filters of 4,096 characters) pass the stream record of every transition of
``tests/support/lifecycle_changes.py`` and drop the progress writes, the retry claims and TTL deletions; the mapping
may read the stream (DescribeStream, GetRecords, GetShardIterator on its StreamArn, ListStreams), and a template whose
statement names the table instead of its stream, or lacks a statement, is denied those calls; publish_events
may PutEvents on the stack's bus, and a template whose statement names another bus is denied; the largest run item's
event is one PutEvents entry within 256 KB, and an inflated one is refused before any call.

Not proven: Lambda's filter engine itself (moto's EventBridge matcher stands in: the syntax is documented as shared;
the emulator applies the same patterns end to end, tests/e2e/test_lifecycle_events.py).
"""

from __future__ import annotations

import copy
import json
from typing import Any, cast

import pytest

from batch_orchestrator.adapters.event_bus import EventBus, entry_size
from batch_orchestrator.adapters.stream_records import item_change
from batch_orchestrator.lifecycle_events import BlockedQueueImage, DetailType, ItemChange, RunImage, event_for
from batch_orchestrator.limits import EVENTBRIDGE_ENTRY_SIZE, LAMBDA_EVENT_FILTERS
from tests.conformance.lifecycles import SOURCES, Lifecycle
from tests.conformance.requests import all_calls, decide
from tests.conformance.resolve import (
    Mutation,
    ResolvedStack,
    Template,
    resolve_stack,
    resolve_template,
    transformed_template,
)
from tests.conformance.workload_stacks import rendered_stack
from tests.support.lifecycle_changes import CONTEXT, NOT_TRANSITIONS, SOURCE, TRANSITIONS

MAPPING = "PublishEventsFunctionRunsTableStream"
FILTER_PATTERN_CHARS = 4096  # AWS::Lambda::EventSourceMapping Filter: Pattern, Maximum 4096
# Non-transitions the filters must keep from the function (the others reach it and publish nothing).
FILTERED_OUT = (
    "runnable after submitted",
    "running after runnable",
    "released claim (QUEUED)",
    "claim taken over",
    "retry claimed (attempt 2 submitted)",
    "TTL deletion",
    "blocked queue lease taken over",
    "coalesced key",
)


def _stack() -> ResolvedStack:
    return resolve_stack()


def _image(image: Any) -> dict[str, Any] | None:
    """The attributes of an image the filters can see, as a stream record carries them."""
    if isinstance(image, RunImage):
        item: dict[str, Any] = {"runId": {"S": image.run.run_id}, "status": {"S": image.run.status.value}}
        if image.stuck_alerted_for:
            item["stuckAlertedFor"] = {"S": image.stuck_alerted_for}
        return item
    if isinstance(image, BlockedQueueImage):
        return {"runId": {"S": f"queue-blocked#{image.job_id}"}, "jobQueue": {"S": image.job_queue}}
    return None


def stream_record(change: ItemChange, key: str = "s3-coalesced-key") -> dict[str, Any]:
    old, new = _image(change.old), _image(change.new)
    dynamodb: dict[str, Any] = {"Keys": {"runId": (new or old or {"runId": {"S": key}})["runId"]}}
    if new is not None:
        dynamodb["NewImage"] = new
    elif change.old is None:  # a coalesced key's INSERT: an item with no status
        dynamodb["NewImage"] = {"runId": {"S": key}, "coalescedInto": {"S": "s3-batch"}}
    if old is not None:
        dynamodb["OldImage"] = old
    return {"eventName": "MODIFY" if old and "NewImage" in dynamodb else "INSERT", "dynamodb": dynamodb}


def passes(patterns: list[str], record: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern

    return any(EventPattern.load(p).matches_event(cast(Any, record)) for p in patterns)


def _patterns(stack: ResolvedStack) -> list[str]:
    return [str(f["Pattern"]) for f in stack.resources[MAPPING].properties["FilterCriteria"]["Filters"]]


def test_the_mapping_reads_the_runs_tables_stream_as_documented() -> None:
    # Given the resolved stack
    stack = _stack()
    table = stack.resources["RunsTable"].properties
    mapping = stack.resources[MAPPING].properties

    # Then the table streams both images and the mapping reads that stream into publish_events
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert mapping["EventSourceArn"] == stack.get_att("RunsTable", "StreamArn")
    assert mapping["FunctionName"] == stack.ref("PublishEventsFunction")
    # with partial batch responses, bounded retries, and what it gives up on reported to EventsDLQ
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < int(mapping["MaximumRetryAttempts"]) <= 100
    assert 0 < int(mapping["MaximumRecordAgeInSeconds"]) < 24 * 3600
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == stack.get_att("EventsDLQ", "Arn")
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    # and filters within Lambda's quota and pattern length
    patterns = _patterns(stack)
    assert len(patterns) <= LAMBDA_EVENT_FILTERS.value
    assert all(len(p) <= FILTER_PATTERN_CHARS and isinstance(json.loads(p), dict) for p in patterns)


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_the_filters_pass_every_transition(name: str) -> None:
    change, _ = TRANSITIONS[name]
    assert passes(_patterns(_stack()), stream_record(change))


@pytest.mark.parametrize("name", FILTERED_OUT)
def test_the_filters_keep_writes_that_are_no_transition_from_the_function(name: str) -> None:
    assert not passes(_patterns(_stack()), stream_record(NOT_TRANSITIONS[name]))


def test_a_filter_that_drops_a_transition_is_caught() -> None:
    # Given the filters without the one that passes RETRY_WAIT/SUCCEEDED/FAILED writes
    broken = [p for p in _patterns(_stack()) if "RETRY_WAIT" not in p]

    # Then a retried attempt's record no longer reaches the function
    assert not passes(broken, stream_record(TRANSITIONS["attempt_failed"][0]))


# ------------------------------------------------------------------------------------------ IAM
def _put_events_verdicts(stack: ResolvedStack) -> list[bool]:
    calls = [c for c in all_calls(stack) if c.who == "PublishEventsFunction (code)" and c.action == "events:PutEvents"]
    return [decision.allowed for call in calls for _, decision in decide(stack, call)]


def test_publish_events_may_put_events_on_the_stacks_bus_only() -> None:
    # Given the default stack, and one on a bus of its own
    for parameters in ({}, {"EventBusName": "orchestrator-events"}):
        # Then PutEvents on the configured bus is allowed
        assert _put_events_verdicts(resolve_stack(parameters)) == [True]


def test_a_broken_put_events_policy_denies_its_call() -> None:
    # Given the template whose PutEvents statement names another bus
    template = copy.deepcopy(transformed_template())
    role = template["Resources"]["PublishEventsFunctionRole"]["Properties"]
    (statement,) = [
        s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if s.get("Sid") == "PutLifecycleEvents"
    ]
    statement["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/other"}

    # Then the function's PutEvents is denied
    assert _put_events_verdicts(resolve_template(template)) == [False]


def _stream_read_verdicts(stack: ResolvedStack) -> list[tuple[str, bool]]:
    calls = [c for c in all_calls(stack) if c.who == "PublishEventsFunction (event source mapping)"]
    return sorted(
        (call.action, decision.allowed)
        for call in calls
        if call.action.startswith("dynamodb:")
        for _, decision in decide(stack, call)
    )


STREAM_READS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]


def _stream_statement(template: Template, sid: str) -> dict[str, Any]:
    role = template["Resources"]["PublishEventsFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    (statement,) = [s for s in statements if s.get("Sid") == sid]
    return cast(dict[str, Any], statement)


def _table_instead_of_stream(template: Template) -> None:
    _stream_statement(template, "ReadRunsTableStream")["Resource"] = {"Fn::GetAtt": ["RunsTable", "Arn"]}


def _without_statement(sid: str) -> Mutation:
    def mutate(template: Template) -> None:
        role = template["Resources"]["PublishEventsFunctionRole"]["Properties"]
        for policy in role["Policies"]:
            document = policy["PolicyDocument"]
            document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]

    return mutate


def test_the_mapping_may_read_the_runs_tables_stream() -> None:
    # Then the mapping's four calls (the stream's ARN as AWS gives it: table/<name>/stream/<label>) are allowed
    assert _stream_read_verdicts(_stack()) == [(action, True) for action in STREAM_READS]


@pytest.mark.parametrize(
    ("mutation", "denied"),
    [
        (_table_instead_of_stream, STREAM_READS[:3]),
        (_without_statement("ReadRunsTableStream"), STREAM_READS[:3]),
        (_without_statement("ListStreams"), STREAM_READS[3:]),
    ],
    ids=["the table's ARN instead of its stream's", "no stream statement", "no ListStreams statement"],
)
def test_a_broken_stream_read_policy_denies_the_mappings_calls(mutation: Mutation, denied: list[str]) -> None:
    # Given the template whose publish_events policy lost (part of) what lets the mapping read the stream
    template = copy.deepcopy(transformed_template())
    mutation(template)

    # Then exactly those calls are denied, the others still allowed
    assert _stream_read_verdicts(resolve_template(template)) == [
        (action, action not in denied) for action in STREAM_READS
    ]


# ------------------------------------------------------------------------------------------ limits
def _largest_failure(lifecycle: Lifecycle) -> dict[str, Any]:
    """The stream record of the largest run item's last write (FAILED after every attempt, the longest inputs)."""
    new = lifecycle.item
    old = copy.deepcopy(new)
    old["status"] = {"S": "RUNNING"}
    old["history"] = {"L": new["history"]["L"][:-1]}
    return {"eventName": "MODIFY", "dynamodb": {"NewImage": new, "OldImage": old, "SequenceNumber": "1"}}


@pytest.mark.slow
@pytest.mark.parametrize("name", SOURCES)
def test_the_largest_run_items_event_is_one_entry_within_256_kb(lifecycles: dict[str, Lifecycle], name: str) -> None:
    # Given the record of the largest run item's final write
    event = event_for(item_change(_largest_failure(lifecycles[name])), CONTEXT)
    assert event is not None
    assert event.detail_type is DetailType.RUN_FAILED

    # When it is made a PutEvents entry
    entry = EventBus("default", SOURCE).entry(event)

    # Then it is within the entry limit, with room to spare
    assert entry_size(entry) <= EVENTBRIDGE_ENTRY_SIZE.value // 4, entry_size(entry)
    assert isinstance(json.loads(entry["Detail"]), dict)


@pytest.mark.slow
def test_an_oversize_event_is_refused_before_any_call(lifecycles: dict[str, Lifecycle]) -> None:
    # Given the largest failure's event with a reason inflated past the entry limit
    name = next(iter(SOURCES))
    event = event_for(item_change(_largest_failure(lifecycles[name])), CONTEXT)
    assert event is not None
    inflated = event._replace(detail={**event.detail, "reason": "x" * EVENTBRIDGE_ENTRY_SIZE.value})
    bus = EventBus("default", SOURCE)

    # Then its size is over the limit and the adapter refuses it without calling PutEvents
    assert entry_size(bus.entry(inflated)) > EVENTBRIDGE_ENTRY_SIZE.value
    assert bus.put([inflated]) == [0]
    assert bus.calls == 0


# ------------------------------------------------------------------------------------------ success notifications
NOTIFYING = """\
workloads:
  - name: thumbnails
    match: {prefix: images/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
    notify: {on_success: true}
  - name: reports
    match: {prefix: reports/}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: "0.25"
    memory: 512
    timeout_seconds: 60
"""


def _notification_calls(stack: ResolvedStack) -> list[tuple[str, bool]]:
    calls = [c for c in all_calls(stack) if c.who == "events.amazonaws.com (SuccessNotifications)"]
    return [(call.action, decision.allowed) for call in calls for _, decision in decide(stack, call)]


@pytest.mark.parametrize("notify_default", ["false", "true"])
def test_a_workload_that_notifies_gets_the_rule_and_every_permission_it_needs(notify_default: str) -> None:
    # Given the stack rendered with one notifying workload (and the default workload's choice)
    stack = rendered_stack({"NotifyOnSuccess": notify_default}, workloads_yaml=NOTIFYING)
    rule = stack.resources["SuccessNotifications"].properties

    # Then the rule matches this stack's Run Succeeded events of exactly the workloads that opted in
    expected = ["default", "thumbnails"] if notify_default == "true" else ["thumbnails"]
    assert rule["EventPattern"] == {
        "source": [f"batch-orchestrator.{stack.stack_name}"],
        "detail-type": ["Run Succeeded"],
        "detail": {"workload": expected},
    }
    # and EventBridge may publish (and encrypt) to the alerts topic, and dead-letter to EventsDLQ
    assert sorted(_notification_calls(stack)) == [
        ("kms:Decrypt", True),
        ("kms:GenerateDataKey", True),
        ("sns:Publish", True),
        ("sqs:SendMessage", True),
    ]


def test_without_notifying_workloads_the_rule_exists_only_with_notify_on_success() -> None:
    assert "SuccessNotifications" not in resolve_stack().resources
    assert _notification_calls(resolve_stack({"NotifyOnSuccess": "true"})) != []


def test_a_topic_policy_without_the_rules_statement_denies_its_publish() -> None:
    # Given the notifying stack whose topic policy lost the rule's statement
    template = copy.deepcopy(transformed_template({"NotifyOnSuccess": "true"}))
    document = template["Resources"]["AlertsTopicPolicy"]["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if "Fn::If" not in s]

    # Then EventBridge's publish to the topic is denied
    assert ("sns:Publish", False) in _notification_calls(resolve_template(template, {"NotifyOnSuccess": "true"}))
