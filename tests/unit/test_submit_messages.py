import json

import pytest

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import DEFAULT_PLAN, AttemptPlan, S3Source, ScheduleSource, SubmitRequest
from batch_orchestrator.retry_policy import ExitCodeSet, RetryPolicy
from batch_orchestrator.routing import UploadRoutes
from batch_orchestrator.s3_events import Skipped, Unmatched
from batch_orchestrator.submit_messages import parse_submit_message, resubmit_message, retry_message
from batch_orchestrator.workloads import (
    DEFAULT_WORKLOAD,
    NO_RULE_MATCHES,
    UNDER_OUTPUT_PREFIX,
    Capacity,
    ComputeType,
    KeyRule,
    Size,
    Workload,
    WorkloadTable,
)

SOURCE = S3Source(bucket="in", key="incoming/a b.csv", sequencer="01")


def test_retry_message_round_trips() -> None:
    # Given
    body = retry_message(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE)

    # When
    (request,) = parse_submit_message(body, input_prefix="incoming/")

    # Then
    assert request == SubmitRequest(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE)


def test_notification_yields_first_attempts_and_skips() -> None:
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": "in"},
                        "object": {"key": "incoming/a+b.csv", "size": 1, "sequencer": "01"},
                    },
                },
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "in"}, "object": {"key": "other/c.csv", "size": 1}},
                },
            ]
        }
    )
    first, second = parse_submit_message(body, input_prefix="incoming/")
    assert first == SubmitRequest(
        run_id=run_id_for(SOURCE), attempt=1, source=S3Source("in", "incoming/a b.csv", sequencer="01", size=1)
    )
    # A key outside the only rule is unmatched: skipped, and counted apart by submit_jobs
    assert isinstance(second, Unmatched)
    assert isinstance(second, Skipped)
    assert (second.key, second.reason) == ("other/c.csv", "key is outside the input prefix 'incoming/'")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps({"kind": "retry", "runId": "bad", "attempt": 2, "source": SOURCE.to_dict()}), "invalid runId"),
        (
            json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": 1, "source": SOURCE.to_dict()}),
            "invalid attempt",
        ),
        (
            json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": True, "source": SOURCE.to_dict()}),
            "invalid attempt",
        ),
        (json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": 2}), "no source"),
        (
            json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": 2, "source": {"trigger": "ftp"}}),
            "unknown source",
        ),
        (
            json.dumps(
                {
                    "kind": "retry",
                    "runId": run_id_for(SOURCE),
                    "attempt": 2,
                    "source": {**SOURCE.to_dict(), "key": "incoming/other"},
                }
            ),
            "does not belong",
        ),
    ],
)
def test_malformed_messages_raise_a_clear_error(body: str, message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        parse_submit_message(body, input_prefix="incoming/")


# ------------------------------------------------------------------------------------------ workloads
POLICY = RetryPolicy(ExitCodeSet(), max_attempts=3, base_delay_seconds=0, max_delay_seconds=0)


def _workload(name: str, rule: KeyRule, **fields: object) -> Workload:
    return Workload(
        name=name,
        key_rule=rule,
        schedules=(),
        ladder=(Size("1", 2048), Size("1", 4096)),
        timeout_seconds=900,
        retry=POLICY,
        job_definition=f"arn:aws:batch:us-east-1:123456789012:job-definition/{name}:1",
        **fields,  # type: ignore[arg-type]
    )


ROUTES = UploadRoutes(
    WorkloadTable(
        (
            _workload(DEFAULT_WORKLOAD, KeyRule(prefix="incoming/")),
            _workload("images", KeyRule(prefix="incoming/images/", suffix=".jpg")),
            _workload("video", KeyRule(suffix=".mp4"), compute=ComputeType.FARGATE_SPOT, on_demand_after=2),
        ),
        output_prefix="results/",
    )
)


def _upload(*keys: str) -> str:
    records = [
        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "in"}, "object": {"key": key, "size": 1}}}
        for key in keys
    ]
    return json.dumps({"Records": records})


def test_uploads_are_routed_to_their_workloads_first_plan() -> None:
    # When one notification holds uploads for three workloads, one under the output prefix and one nobody takes
    default, image, video, result, stray = parse_submit_message(
        _upload("incoming/a.csv", "incoming/images/cat.jpg", "clips/b.mp4", "results/out.mp4", "misc/x"),
        routes=ROUTES,
    )

    # Then each request asks for its workload's first attempt (the Spot workload's on Spot capacity)
    assert isinstance(default, SubmitRequest)
    assert isinstance(image, SubmitRequest)
    assert isinstance(video, SubmitRequest)
    assert default.plan == DEFAULT_PLAN
    assert image.plan == AttemptPlan(workload="images")
    assert video.plan == AttemptPlan(workload="video", capacity=Capacity.SPOT)
    # And the other two start nothing, each with its reason: a job's result is skipped (expected, not counted
    # with the uploads nobody takes), the stray key is unmatched
    assert result == Skipped(reason=UNDER_OUTPUT_PREFIX, bucket="in", key="results/out.mp4")
    assert not isinstance(result, Unmatched)
    assert stray == Unmatched(reason=NO_RULE_MATCHES, bucket="in", key="misc/x")


def test_routing_reads_the_decoded_key() -> None:
    (request,) = parse_submit_message(_upload("incoming%2Fimages%2Fa+b.jpg"), routes=ROUTES)
    assert isinstance(request, SubmitRequest)
    assert isinstance(request.source, S3Source)
    assert (request.source.key, request.plan.workload) == ("incoming/images/a b.jpg", "images")


@pytest.mark.parametrize("message", [retry_message, resubmit_message])
def test_retry_and_resubmit_requests_carry_the_plan(message: object) -> None:
    # Given the plan of attempt 3: ladder step 2, On-Demand after one Spot interruption
    plan = AttemptPlan(workload="video", size_step=1, capacity=Capacity.ON_DEMAND, spot_interruptions=1)
    assert callable(message)
    body = message(run_id=run_id_for(SOURCE), attempt=3, source=SOURCE, plan=plan)

    # When / Then the submit path reads the same plan back
    (request,) = parse_submit_message(body, routes=ROUTES)
    assert request == SubmitRequest(run_id=run_id_for(SOURCE), attempt=3, source=SOURCE, plan=plan)


def test_a_request_written_before_workloads_asks_for_the_default_plan() -> None:
    # Given a retry request as the tracker wrote it before workloads existed
    body = json.dumps({"kind": "retry", "runId": run_id_for(SOURCE), "attempt": 2, "source": SOURCE.to_dict()})

    # When / Then
    (request,) = parse_submit_message(body, routes=ROUTES)
    assert isinstance(request, SubmitRequest)
    assert request.plan == DEFAULT_PLAN


def test_a_workload_schedules_firing_round_trips_in_a_retry() -> None:
    source = ScheduleSource(schedule_name="nightly", scheduled_time="2026-11-21T17:00:00Z", workload="reports")
    body = retry_message(run_id=run_id_for(source), attempt=2, source=source, plan=AttemptPlan(workload="reports"))
    (request,) = parse_submit_message(body, routes=ROUTES)
    assert isinstance(request, SubmitRequest)
    assert (request.source, request.plan.workload) == (source, "reports")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workload", "Images"),
        ("workload", 7),
        ("sizeStep", -1),
        ("sizeStep", "1"),
        ("sizeStep", True),
        ("spotInterruptions", 100),
        ("capacity", "reserved"),
        ("capacity", ["spot"]),
    ],
)
def test_a_plan_field_submit_never_writes_is_malformed(field: str, value: object) -> None:
    payload = json.loads(retry_message(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE))
    payload[field] = value
    with pytest.raises(MalformedMessage, match=f"retry request has an invalid {field}"):
        parse_submit_message(json.dumps(payload), routes=ROUTES)


# ------------------------------------------------------------------------------------------- arrays
@pytest.mark.parametrize("message", [retry_message, resubmit_message])
@pytest.mark.parametrize("items", [(), (1,), (0, 2, 3, 4, 9_999)])
def test_an_array_plan_round_trips_with_its_size_and_items(message: object, items: tuple[int, ...]) -> None:
    # Given the plan of a child-only retry of a 10,000-item array (or of its whole array)
    plan = AttemptPlan(workload="images", size_step=1, array_size=10_000, items=items)
    assert callable(message)
    body = message(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE, plan=plan)

    # When / Then the submit path reads the same plan back, items written as ranges
    (request,) = parse_submit_message(body, routes=ROUTES)
    assert request == SubmitRequest(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE, plan=plan)
    assert json.loads(body).get("items") == ({(1,): "1", (0, 2, 3, 4, 9_999): "0,2-4,9999"}.get(items))


def test_a_single_jobs_request_has_no_array_fields() -> None:
    body = json.loads(retry_message(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE, plan=AttemptPlan()))
    assert not {"arraySize", "items"} & set(body)


@pytest.mark.parametrize(
    ("changes", "fault"),
    [
        ({"arraySize": -1}, "invalid arraySize -1"),
        ({"arraySize": 100_001}, "invalid arraySize 100001"),
        ({"arraySize": "3"}, "invalid arraySize '3'"),
        ({"arraySize": 3, "items": [1]}, "invalid items"),
        ({"arraySize": 3, "items": "2,1"}, "does not come after 2"),
        ({"arraySize": 3, "items": "1-3"}, "go past its array of 3 items"),
        ({"items": "0"}, "go past its array of 0 items"),
    ],
)
def test_array_fields_submit_never_writes_are_malformed(changes: dict[str, object], fault: str) -> None:
    payload = json.loads(retry_message(run_id=run_id_for(SOURCE), attempt=2, source=SOURCE))
    payload.update(changes)
    with pytest.raises(MalformedMessage, match=fault):
        parse_submit_message(json.dumps(payload), routes=ROUTES)
