import re

import pytest

from batch_orchestrator.ids import JOB_NAME_MAX_LENGTH, RUN_ID_PATTERN, job_name_for, run_id_for
from batch_orchestrator.models import S3Source, ScheduleSource

JOB_NAME_CHARSET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def test_same_upload_delivered_twice_has_one_run_id() -> None:
    # Given two deliveries of one notification
    first = S3Source(bucket="in", key="incoming/a.csv", version_id="v1", sequencer="0055AED6DCD90281E5")
    second = S3Source(bucket="in", key="incoming/a.csv", version_id="v1", sequencer="0055AED6DCD90281E5", size=3)

    # When / Then
    assert run_id_for(first) == run_id_for(second)
    assert RUN_ID_PATTERN.match(run_id_for(first))


def test_two_uploads_of_one_key_are_two_runs() -> None:
    # Given an unversioned bucket: only the sequencer tells the two uploads apart
    first = S3Source(bucket="in", key="incoming/a.csv", sequencer="0055AED6DCD90281E5")
    second = S3Source(bucket="in", key="incoming/a.csv", sequencer="0055AED6DCD90281F0")

    # Then
    assert run_id_for(first) != run_id_for(second)


def test_fields_cannot_run_together() -> None:
    # Given sources whose concatenated bucket+key would be equal
    one = S3Source(bucket="ab", key="c", sequencer="1")
    other = S3Source(bucket="a", key="bc", sequencer="1")

    # Then
    assert run_id_for(one) != run_id_for(other)


def test_schedule_run_id_depends_on_name_and_time() -> None:
    base = ScheduleSource(schedule_name="nightly", scheduled_time="2026-11-21T00:00:00Z")
    assert run_id_for(base).startswith("sch-")
    assert run_id_for(base) == run_id_for(ScheduleSource("nightly", "2026-11-21T00:00:00Z"))
    assert run_id_for(base) != run_id_for(ScheduleSource("nightly", "2026-11-22T00:00:00Z"))
    assert run_id_for(base) != run_id_for(ScheduleSource("hourly", "2026-11-21T00:00:00Z"))


@pytest.mark.parametrize(
    "key",
    [
        "incoming/my report ü 2026.csv",
        "incoming/; rm -rf /",
        "incoming/$(id)`whoami`",
        "incoming/../../etc/passwd",
        "incoming/" + "x" * 1000,
        "incoming/\x01\x7f\n.csv",
        "incoming/日本語のファイル.csv",
        "incoming/___",
    ],
)
def test_job_name_is_valid_for_any_key_and_keeps_run_identity(key: str) -> None:
    # Given
    source = S3Source(bucket="in", key=key, sequencer="01")
    run_id = run_id_for(source)

    # When
    name = job_name_for(run_id, 10, source)

    # Then
    assert JOB_NAME_CHARSET.match(name), name
    assert len(name) <= JOB_NAME_MAX_LENGTH
    assert name.startswith(f"{run_id}-a10")


def test_job_name_shows_the_file_name() -> None:
    source = S3Source(bucket="in", key="incoming/my report ü 2026.csv", sequencer="01")
    assert job_name_for(run_id_for(source), 1, source).endswith("-a1-my_report_u_2026_csv")


def test_job_name_rejects_foreign_run_ids() -> None:
    with pytest.raises(ValueError, match="not a run id"):
        job_name_for("my-run", 1, ScheduleSource("s", "2026-11-21T00:00:00Z"))
