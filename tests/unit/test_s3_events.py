from typing import Any

import pytest

from batch_orchestrator.errors import MalformedMessage
from batch_orchestrator.models import S3Source
from batch_orchestrator.s3_events import Skipped, decode_key, iter_notification


def notification(
    raw_key: str, *, event_name: str = "ObjectCreated:Put", size: int = 17, **object_fields: object
) -> dict[str, Any]:
    obj: dict[str, object] = {"key": raw_key, "size": size, "sequencer": "0065F1C4A2B3D4E5F6", **object_fields}
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": event_name,
                "eventTime": "2026-11-21T10:00:00.000Z",
                "s3": {"bucket": {"name": "input-bucket"}, "object": obj},
            }
        ]
    }


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("incoming/my+report+%C3%BC+2026.csv", "incoming/my report ü 2026.csv"),
        ("incoming/a%2Bb.csv", "incoming/a+b.csv"),
        ("incoming/100%25.csv", "incoming/100%.csv"),
        ("incoming/%E6%97%A5%E6%9C%AC.csv", "incoming/日本.csv"),
        ("incoming/%3B+rm+-rf+%2F", "incoming/; rm -rf /"),
    ],
)
def test_keys_are_decoded_exactly(raw: str, decoded: str) -> None:
    assert decode_key(raw) == decoded


def test_object_created_record_becomes_a_source() -> None:
    # Given
    body = notification("incoming/my+report+%C3%BC+2026.csv", versionId="3HL4kqtJlcpXroDTDmJ")

    # When
    (item,) = iter_notification(body)

    # Then
    assert item == S3Source(
        bucket="input-bucket",
        key="incoming/my report ü 2026.csv",
        version_id="3HL4kqtJlcpXroDTDmJ",
        sequencer="0065F1C4A2B3D4E5F6",
        size=17,
        event_time="2026-11-21T10:00:00.000Z",
    )


def test_test_event_is_skipped() -> None:
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-21T10:00:00Z", "Bucket": "input-bucket"}
    (item,) = iter_notification(body)
    assert item == Skipped(reason="s3:TestEvent", bucket="input-bucket")


@pytest.mark.parametrize(
    ("raw_key", "fields", "reason"),
    [
        ("incoming/subdir/", {"size": 0}, "folder placeholder"),
        ("incoming/x.csv", {"event_name": "ObjectRemoved:Delete"}, "not an object creation"),
    ],
)
def test_records_that_start_no_run_are_skipped_with_a_reason(raw_key: str, fields: dict[str, Any], reason: str) -> None:
    (item,) = iter_notification(notification(raw_key, **fields))
    assert isinstance(item, Skipped)
    assert reason in item.reason


def test_non_empty_object_whose_key_ends_in_slash_is_not_a_placeholder() -> None:
    (item,) = iter_notification(notification("incoming/odd/", size=5))
    assert isinstance(item, S3Source)


def test_a_key_outside_every_prefix_is_still_an_upload_here() -> None:
    # Routing (which workload, if any) comes after parsing: see test_submit_messages.py
    (item,) = iter_notification(notification("other/x.csv"))
    assert isinstance(item, S3Source)
    assert item.key == "other/x.csv"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "no Records"),
        ({"Records": []}, "no Records"),
        ({"Records": ["x"]}, "not an object"),
        ({"Records": [{"eventName": "ObjectCreated:Put"}]}, "lacks s3.bucket.name"),
        ({"Records": [{"s3": {}}]}, "no eventName"),
        (notification("incoming/%FF.csv"), "percent-encoded UTF-8"),
        (notification(""), "empty or non-string"),
        (notification("incoming/a.csv", size=-1), "size -1 is not a byte count"),
        (notification("incoming/a.csv", size=10**38), "is not a byte count S3 could send"),
    ],
)
def test_malformed_notifications_raise_a_clear_error(body: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        list(iter_notification(body))


def test_the_largest_size_a_run_can_store_is_accepted() -> None:
    # Given a size of 38 digits, the most a DynamoDB number holds (S3's own maximum is far below it)
    body = notification("incoming/huge.csv", size=10**38 - 1)

    # When it is parsed
    (item,) = iter_notification(body)

    # Then it is a source like any other, with its size
    assert isinstance(item, S3Source)
    assert item.size == 10**38 - 1
