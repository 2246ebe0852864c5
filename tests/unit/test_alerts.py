"""SNS alerts (batch_orchestrator.alerts): subjects SNS accepts, message attributes for filter policies,
console links, and the example alert of docs/how-a-run-works.md.

The body: test_alerts_body.py; the queue-blocked alert: test_alerts_queue_blocked.py."""

from __future__ import annotations

import os
from copy import replace
from pathlib import Path

import pytest

from batch_orchestrator.alert_format import SUBJECT_MAX_CHARS, Alert, sns_subject, to_ascii
from batch_orchestrator.console_links import console_base_url, log_stream_console_url
from batch_orchestrator.models import ScheduleSource
from tests.support.alert_builders import (
    UPLOAD,
    assert_sns_subject,
    failed_alert,
    make_observation,
    make_run,
    split_body,
)

GOLDEN = Path(__file__).parent / "golden" / "run_failed_alert.txt"
# ---------------------------------------------------------------------------------------------
# Subjects
# ---------------------------------------------------------------------------------------------


def test_subject_names_the_file_the_exit_code_and_the_attempt() -> None:
    alert = failed_alert()
    assert alert.subject == "Batch job failed: report 2026.csv (exit 3, attempt 3/3)"
    assert_sns_subject(alert.subject)


def test_unicode_key_gives_an_ascii_subject() -> None:
    # Given a key with accents, typographic punctuation, CJK, an emoji and a zero-width space
    key = "eingang/Übersicht \u2013 März \u201cfinal\u201d\u200b 报告 😀.csv"
    run = make_run(replace(UPLOAD, key=key))

    # When
    alert = failed_alert(run)

    # Then the subject is transliterated, and the body keeps the key as it is
    assert alert.subject == 'Batch job failed: Ubersicht - Marz "final" ?? ?.csv (exit 3, attempt 3/3)'
    assert_sns_subject(alert.subject)
    summary, data = split_body(alert)
    # (invisible characters are shown as escapes, so a reader can tell the key apart)
    assert "s3://acme-reports-input/eingang/Übersicht \u2013 März \u201cfinal\u201d\\u200b 报告 😀.csv" in summary
    assert data["source"]["key"] == key


@pytest.mark.parametrize("unit", ["x", "é", "报"])
def test_key_of_1024_bytes_gives_a_short_subject_and_a_complete_body(unit: str) -> None:
    # Given the longest key S3 allows: 1,024 bytes of UTF-8
    name = unit * (1021 // len(unit.encode()))
    key = "in/" + name
    assert len(key.encode()) <= 1024
    run = make_run(replace(UPLOAD, key=key))

    # When
    alert = failed_alert(run)

    # Then the file name is shortened in the middle, keeping the prefix, the end and the suffix
    assert_sns_subject(alert.subject)
    assert len(alert.subject) == SUBJECT_MAX_CHARS
    assert alert.subject.startswith("Batch job failed: ")
    assert alert.subject.endswith(" (exit 3, attempt 3/3)")
    assert "..." in alert.subject
    summary, data = split_body(alert)
    assert f"s3://acme-reports-input/{key} (version" in summary
    assert data["source"]["key"] == key


def test_control_characters_never_reach_the_subject_and_are_escaped_in_the_summary() -> None:
    run = make_run(replace(UPLOAD, key="in/two\nlines\tand\x7fdel.csv"))
    alert = failed_alert(run)
    assert alert.subject == "Batch job failed: two lines and del.csv (exit 3, attempt 3/3)"
    summary, data = split_body(alert)
    assert "in/two\\nlines\\tand\\x7fdel.csv" in summary
    assert data["source"]["key"] == "in/two\nlines\tand\x7fdel.csv"


def test_schedule_subject_and_input() -> None:
    run = make_run(ScheduleSource(schedule_name="nightly-report", scheduled_time="2026-03-14T02:00:00Z"))
    alert = failed_alert(run)
    assert alert.subject == "Batch job failed: schedule nightly-report (exit 3, attempt 3/3)"
    summary, data = split_body(alert)
    assert "Input:         schedule nightly-report, fired for 2026-03-14T02:00:00Z" in summary
    assert data["trigger"] == "schedule"
    assert data["source"] == {
        "trigger": "schedule",
        "scheduleName": "nightly-report",
        "scheduledTime": "2026-03-14T02:00:00Z",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  leading spaces", "leading spaces"),
        ("", "Batch Orchestrator alert"),
        ("\n\t", "Batch Orchestrator alert"),
        ("Straße \ufb01le \uff26\uff55\uff4c\uff4c", "Strasse file Full"),  # ligature, fullwidth
        ("x" * 150, "x" * 96 + "..."),
    ],
)
def test_any_text_becomes_a_valid_subject(text: str, expected: str) -> None:
    subject = sns_subject(text)
    assert subject == expected
    assert_sns_subject(subject)


def test_to_ascii_keeps_printable_ascii_as_is() -> None:
    printable = "".join(chr(code) for code in range(0x21, 0x7F))
    assert to_ascii(printable) == printable


# ---------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------


def test_attributes_are_in_sns_shape() -> None:
    assert failed_alert().attributes == {
        "alertType": {"DataType": "String", "StringValue": "RUN_FAILED"},
        "jobQueue": {"DataType": "String", "StringValue": "batch-orchestrator-jobs"},
        "trigger": {"DataType": "String", "StringValue": "s3"},
        "workload": {"DataType": "String", "StringValue": "default"},
        "exitCode": {"DataType": "Number", "StringValue": "3"},
    }


def test_exit_code_attribute_is_omitted_without_an_exit_code() -> None:
    alert = failed_alert(observation=make_observation(exit_code=None))
    assert set(alert.attributes) == {"alertType", "jobQueue", "trigger", "workload"}


def test_exit_code_zero_is_still_an_attribute() -> None:
    alert = failed_alert(observation=make_observation(exit_code=0))
    assert alert.attributes["exitCode"] == {"DataType": "Number", "StringValue": "0"}


def test_schedule_trigger_attribute() -> None:
    run = make_run(ScheduleSource(schedule_name="nightly", scheduled_time="2026-03-14T02:00:00Z"))
    assert failed_alert(run).attributes["trigger"] == {"DataType": "String", "StringValue": "schedule"}


# ---------------------------------------------------------------------------------------------
# Console links
# ---------------------------------------------------------------------------------------------


def test_log_stream_link_escapes_slashes_and_dollars_the_console_way() -> None:
    url = log_stream_console_url("eu-west-1", "/aws/batch/job", "my-job-def/default/0f1e2d3c$4b5a")
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fjob"
        "/log-events/my-job-def$252Fdefault$252F0f1e2d3c$25244b5a"
    )


def test_log_stream_link_escapes_spaces_and_brackets() -> None:
    url = log_stream_console_url("us-east-1", "group", "2026/03/14/[$LATEST]ab cd")
    assert url.endswith("/log-events/2026$252F03$252F14$252F$255B$2524LATEST$255Dab$2520cd")


@pytest.mark.parametrize(
    ("region", "base"),
    [
        ("us-east-1", "https://us-east-1.console.aws.amazon.com"),
        ("ap-southeast-2", "https://ap-southeast-2.console.aws.amazon.com"),
        ("cn-north-1", "https://console.amazonaws.cn"),
        ("cn-northwest-1", "https://console.amazonaws.cn"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com"),
    ],
)
def test_console_host_follows_the_partition(region: str, base: str) -> None:
    assert console_base_url(region) == base
    assert log_stream_console_url(region, "g", "s").startswith(f"{base}/cloudwatch/home?region={region}#logsV2:")


@pytest.mark.parametrize("region", ["us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "eusc-de-east-1"])
def test_isolated_partitions_have_no_console_link(region: str) -> None:
    with pytest.raises(ValueError, match="no known console"):
        console_base_url(region)


@pytest.mark.parametrize("region", ["", "US-EAST-1", "us-east-1/../x", "us-east-1#x"])
def test_malformed_regions_are_rejected(region: str) -> None:
    with pytest.raises(ValueError, match="not an AWS region"):
        console_base_url(region)


def test_alert_without_a_console_still_names_the_log_stream() -> None:
    summary, data = split_body(failed_alert(region="us-iso-east-1"))
    assert "Logs:          log group /aws/batch/batch-orchestrator-jobs, stream batch-orchestrator/default/" in summary
    assert "(no console link for us-iso-east-1)" in summary
    assert data["logUrl"] is None


# ---------------------------------------------------------------------------------------------
# The example alert of docs/how-a-run-works.md
# ---------------------------------------------------------------------------------------------


def render_for_subscriber(alert: Alert) -> str:
    """What an SQS or Lambda subscriber gets (the structured message's "default"): the subject, then the body."""
    return f"Subject: {alert.subject}\n\n{alert.message}"


def test_example_alert_matches_the_golden_file() -> None:
    # Given the example of docs/how-a-run-works.md: attempt 3 of 3 of an upload exits with code 3
    rendered = render_for_subscriber(failed_alert())

    # Then it is exactly the golden text (set UPDATE_GOLDEN=1 to rewrite it after a deliberate change)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(rendered, encoding="utf-8")
    assert rendered == GOLDEN.read_text(encoding="utf-8")
