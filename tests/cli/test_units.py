"""The CLI's pure parts: parsing, samconfig resolution, rendering, the manual retry decision."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch_orchestrator.models import Run, RunStatus, S3Source
from orchestrator_cli.errors import Refused, UsageError
from orchestrator_cli.manual_retry import plan_manual_retry
from orchestrator_cli.parsing import S3Url, parse_run_id, parse_s3_url, parse_since
from orchestrator_cli.render import age, display_width, fields, fit, shorten, table, truncate
from orchestrator_cli.settings import resolve_settings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RUN_ID = "s3-0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", datetime(2026, 11, 21, 10, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 11, 21, 11, 30, tzinfo=UTC)),
        ("1D", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
        ("1w", datetime(2026, 11, 14, 12, 0, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T08:00Z", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20T09:00+01:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2x", "", "-2h"])
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_since(text, now=NOW)


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://my-bucket/incoming/a b/ü.csv") == S3Url("my-bucket", "incoming/a b/ü.csv")
    assert str(parse_s3_url("s3://my.bucket/k")) == "s3://my.bucket/k"
    for bad in (
        "my-bucket/key",
        "s3:/my-bucket/key",
        "s3://my-bucket",
        "s3://my-bucket/",
        "s3://UPPER/key",
        "s3://a/key",
        "s3://my..bucket/key",
        "s3://b-/key",
        f"s3://my-bucket/{'k' * 1025}",
    ):
        with pytest.raises(UsageError):
            parse_s3_url(bad)


def test_parse_run_id() -> None:
    assert parse_run_id(f" {RUN_ID} ") == RUN_ID
    assert parse_run_id("sch-" + "f" * 24) == "sch-" + "f" * 24
    for bad in ("s3-123", "S3-0123456789ABCDEF01234567", "run-0123456789abcdef01234567"):
        with pytest.raises(UsageError):
            parse_run_id(bad)


def test_settings_flags_win_over_samconfig(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "from-global"\nregion = "eu-west-1"\n'
        '[default.deploy.parameters]\nstack_name = "from-deploy"\nprofile = "ops"\n',
        encoding="utf-8",
    )
    from_file = resolve_settings(
        stack_name=None, region=None, profile=None, endpoint_url=None, config_env=None, config_file=None, cwd=tmp_path
    )
    assert (from_file.stack_name, from_file.region, from_file.profile) == ("from-deploy", "eu-west-1", "ops")
    assert from_file.sources["stack_name"].endswith("[default]")

    flags = resolve_settings(
        stack_name="mine",
        region="us-west-2",
        profile=None,
        endpoint_url="http://localhost:5000",
        config_env=None,
        config_file=str(config),
    )
    assert (flags.stack_name, flags.region, flags.profile, flags.endpoint_url) == (
        "mine",
        "us-west-2",
        "ops",
        "http://localhost:5000",
    )


def test_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        resolve_settings(
            stack_name=None,
            region=None,
            profile=None,
            endpoint_url=None,
            config_env=None,
            config_file=str(tmp_path / "missing.toml"),
        )
    (tmp_path / "samconfig.toml").write_text("not = [valid", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid TOML"):
        resolve_settings(
            stack_name=None,
            region=None,
            profile=None,
            endpoint_url=None,
            config_env=None,
            config_file=None,
            cwd=tmp_path,
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match=r"no samconfig\.toml here"):
        resolve_settings(
            stack_name=None, region=None, profile=None, endpoint_url=None, config_env="dev", config_file=None, cwd=empty
        )
    nothing = resolve_settings(
        stack_name=None, region=None, profile=None, endpoint_url=None, config_env=None, config_file=None, cwd=empty
    )
    with pytest.raises(UsageError, match="no stack name"):
        nothing.require_stack_name()


def test_rendering() -> None:
    assert table(["A", "LONGER"], [["xx", None], ["y", 3]]) == ["A   LONGER", "xx  -", "y   3"]
    assert fields([("Label", "v"), ("Skipped", None), ("Long label", 1)]) == ["Label       v", "Long label  1"]
    assert shorten("incoming/a-very-long-name.csv", 15) == "incomin…ame.csv"
    assert shorten("short", 15) == "short"
    assert age("2026-11-21T11:59:15.000Z", NOW) == "45s"
    assert age("2026-11-21T09:00:00Z", NOW) == "3h"
    assert age("2026-11-18T12:00:00Z", NOW) == "3d"
    assert age(None, NOW) is None


JAPANESE = "incoming/売上レポート.csv"  # 9 + 6 wide characters + 4: 25 columns in 19 characters
ACCENTED = "incoming/cafe\u0301.csv"  # "café" with a combining acute accent: 17 columns in 18 characters


def test_display_width_counts_terminal_columns() -> None:
    assert display_width("plain.csv") == 9
    assert display_width(JAPANESE) == 25
    assert display_width(ACCENTED) == 17
    assert display_width("\uff21\uff22") == 4  # fullwidth A and B
    assert display_width("a\u200bb") == 2  # zero-width space


def test_columns_line_up_with_wide_and_combining_characters() -> None:
    # Given file names of different display widths than lengths
    rows: list[list[str | None]] = [[JAPANESE, "SUCCEEDED"], [ACCENTED, "FAILED"], ["incoming/plain.csv", None]]

    # When they are shown as a table and as fields
    lines = table(["INPUT", "STATUS"], rows)
    labels = fields([(JAPANESE, "1"), (ACCENTED, "2"), ("x", "3")])

    # Then the next column starts at the same terminal column on every line
    starts = {
        display_width(line[: line.rindex(status)])
        for line, status in zip(lines, ["STATUS", "SUCCEEDED", "FAILED", "-"], strict=True)
    }
    assert starts == {display_width(JAPANESE) + 2}
    assert {display_width(line[:-1]) for line in labels} == {display_width(JAPANESE) + 2}


def test_cutting_never_splits_a_wide_character_or_strands_an_accent() -> None:
    # A wide character that only half fits is left out; fit pads the column back to its width
    assert truncate("売上レポート", 5) == "売上…"
    assert truncate("売上レポート", 4) == "売…"
    assert fit("売上レポート", 4) == "売… "
    assert fit("ab", 4) == "ab  "
    assert all(display_width(fit(JAPANESE, width)) == width for width in range(30))
    # an accent stays with its letter, or goes with it
    assert truncate("cafe\u0301s!", 5) == "cafe\u0301…"
    assert truncate("cafe\u0301s!", 4) == "caf…"
    assert shorten("e\u0301" * 3 + "x" * 10 + "e\u0301" * 3, 7) == "e\u0301e\u0301e\u0301…e\u0301e\u0301e\u0301"
    # the middle of a long name goes, its end stays, within the limit
    short = shorten("incoming/2026/11/売上レポート_最終版.csv", 24)
    assert display_width(short) <= 24
    assert short.endswith("最終版.csv")


def _run(status: RunStatus, attempt: int = 1, max_attempts: int = 3, job_id: str | None = "job-1") -> Run:
    return Run(
        run_id=RUN_ID,
        status=status,
        attempt=attempt,
        max_attempts=max_attempts,
        source=S3Source(bucket="b", key="incoming/k"),
        progress=0,
        job_id=job_id,
        updated_at="2026-11-21T11:00:00.000Z",
    )


def test_plan_for_a_failed_run() -> None:
    plan = plan_manual_retry(_run(RunStatus.FAILED), force=False)
    assert (plan.attempt, plan.max_attempts, plan.resend, plan.forced) == (2, 3, False, False)
    assert plan.max_attempts_raised_from is None
    assert plan.abandoned is None
    assert plan.previous_job_id == "job-1"
    record = plan.record(now=NOW, requested_by="arn:aws:iam::1:user/ops")
    assert record == {
        "attempt": 2,
        "requestedAt": "2026-11-21T12:00:00.000Z",
        "previousStatus": "FAILED",
        "previousAttempt": 1,
        "forced": False,
        "resend": False,
        "previousJobId": "job-1",
        "requestedBy": "arn:aws:iam::1:user/ops",
    }


def test_plan_raises_max_attempts_by_one_at_most() -> None:
    plan = plan_manual_retry(_run(RunStatus.FAILED, attempt=3, max_attempts=3), force=False)
    assert (plan.attempt, plan.max_attempts, plan.max_attempts_raised_from) == (4, 4, 3)


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.SUBMITTED, RunStatus.RUNNING, RunStatus.QUEUED])
def test_plan_refuses_succeeded_and_in_flight_runs_unless_forced(status: RunStatus) -> None:
    with pytest.raises(Refused):
        plan_manual_retry(_run(status), force=False)
    forced = plan_manual_retry(_run(status), force=True)
    assert forced.attempt == 2
    assert (forced.abandoned is not None) == (status is not RunStatus.SUCCEEDED)


def test_plan_for_a_waiting_run_resends_the_pending_attempt() -> None:
    plan = plan_manual_retry(_run(RunStatus.RETRY_WAIT, attempt=2, job_id=None), force=False)
    assert (plan.attempt, plan.resend, plan.max_attempts) == (2, True, 3)


# --------------------------------------------------------------------------- a manual retry of an array run
def _array_run(status: RunStatus, kept: int, count: int) -> Run:
    from batch_orchestrator.models import AttemptPlan, ChildFailure

    children = tuple(ChildFailure(index=i, item=i * 3, exit_code=3, reason=None) for i in range(kept))
    return Run(
        run_id=RUN_ID,
        status=status,
        attempt=1,
        max_attempts=3,
        source=S3Source(bucket="b", key="tiles/a.txt"),
        progress=0,
        plan=AttemptPlan(workload="tiles", array_size=1_000),
        failed_children=children,
        failed_children_count=count,
    )


def test_a_manual_retry_of_a_failed_array_reruns_its_failed_items_when_the_run_kept_them_all() -> None:
    from orchestrator_cli.manual_retry import manual_attempt_plan

    # Given / When / Then: every failed child kept -> their items; more failed than kept -> the attempt's items
    assert manual_attempt_plan(_array_run(RunStatus.FAILED, 3, 3)).items == (0, 3, 6)
    assert manual_attempt_plan(_array_run(RunStatus.FAILED, 100, 150)).items == ()
    # and a run that succeeded (a forced re-run) reruns the attempt's items, as any run reruns its plan
    assert manual_attempt_plan(_array_run(RunStatus.SUCCEEDED, 0, 0)).items == ()


def test_a_run_refused_before_submission_is_not_retried_unless_forced() -> None:
    from copy import replace

    from batch_orchestrator.models import AttemptRecord

    # Given a run whose manifest could not run: FAILED at attempt 1, its one history entry without a job
    run = replace(
        _array_run(RunStatus.FAILED, 0, 0),
        status_reason="the manifest holds no items",
        history=(AttemptRecord(attempt=1, job_id="", status=RunStatus.FAILED, reason="the manifest holds no items"),),
    )

    # When / Then a retry is refused, saying why, unless forced
    with pytest.raises(Refused, match="refused before any job was submitted: the manifest holds no items"):
        plan_manual_retry(run, force=False)
    assert plan_manual_retry(run, force=True).attempt == 2


def test_a_rejected_run_request_is_not_retried_even_forced() -> None:
    from copy import replace

    from batch_orchestrator.models import AttemptRecord, RequestSource

    # Given a run request the stack rejected (its event's id kept), and an accepted request's run that failed
    reason = "environment variable 'REGION' is not one this workload lets requests set (CUSTOMER_ID)"
    source = RequestSource(workload="reports", request_key="k-1", requester="app", requested_at="t", message_id="e-1")
    rejected = replace(
        _array_run(RunStatus.FAILED, 0, 0),
        source=source,
        status_reason=reason,
        history=(AttemptRecord(attempt=1, job_id="", status=RunStatus.FAILED, reason=reason),),
    )
    failed = replace(_array_run(RunStatus.FAILED, 0, 0), source=source._replace(message_id=None))

    # When / Then the rejection is refused, even forced (its caller sends it again); the failed run is retried
    for force in (False, True):
        with pytest.raises(Refused, match="is a rejected run request: environment variable 'REGION'"):
            plan_manual_retry(rejected, force=force)
    assert plan_manual_retry(failed, force=False).attempt == 2
