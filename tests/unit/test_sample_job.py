"""The sample job's exit codes for a missing or forbidden input (jobs/sample/job.py), on moto's S3.

S3 answers a GET of a missing object with 404 NoSuchKey only when the caller may also s3:ListBucket
the bucket; without it, with 403 AccessDenied. The template grants the job role s3:ListBucket on the
input bucket (statement MissingInputIsNotFound; tests/conformance proves the request is allowed), so
"input gone" reaches the job as a 404 and ends it with EX_NOINPUT (66), which no default retry
policy retries, while a real denial ends it with EX_NOPERM (77). moto checks no IAM: it always
answers 404 for a missing object, which is what AWS answers with the template's permissions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.support.events import REPO_ROOT

BUCKET = "batch-orch-input-123456789012-0123456789ab"


def _load_job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_job", REPO_ROOT / "jobs" / "sample" / "job.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


JOB = _load_job()


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _env(key: str, **extra: str) -> dict[str, str]:
    return {
        "RUN_ID": "s3-0123456789abcdef01234567",
        "RUN_ATTEMPT": "1",
        "TRIGGER": "s3",
        "INPUT_BUCKET": BUCKET,
        "INPUT_KEY": key,
        "OUTPUT_BUCKET": BUCKET,
        "OUTPUT_PREFIX": "output/",
        **extra,
    }


def _exit_code(env: dict[str, str], s3: Any) -> int:
    try:
        JOB.run(env, s3)
    except JOB.JobError as exc:
        return int(exc.exit_code)
    except ClientError as exc:
        return int(JOB.error_exit_code(exc))
    return int(JOB.EX_OK)


def test_an_input_deleted_before_the_job_read_it_ends_the_job_with_ex_noinput(s3: Any) -> None:
    # Given an upload whose object is gone when its job starts (as S3 answers with s3:ListBucket: 404)
    s3.put_object(Bucket=BUCKET, Key="incoming/gone.csv", Body=b"a\n")
    s3.delete_object(Bucket=BUCKET, Key="incoming/gone.csv")

    # Then the job ends with 66 (input gone), not 77 (access denied)
    assert _exit_code(_env("incoming/gone.csv"), s3) == JOB.EX_NOINPUT == 66


def test_an_input_version_that_no_longer_exists_ends_the_job_with_ex_noinput(s3: Any) -> None:
    # Given an upload whose version was removed (expired as a noncurrent version, say)
    version = s3.put_object(Bucket=BUCKET, Key="incoming/v.csv", Body=b"a\n")["VersionId"]
    s3.delete_object(Bucket=BUCKET, Key="incoming/v.csv", VersionId=version)

    # Then the job ends with 66
    assert _exit_code(_env("incoming/v.csv", INPUT_VERSION_ID=version), s3) == JOB.EX_NOINPUT


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, 66),  # GetObject of a missing key, with s3:ListBucket
        ("404", 404, 66),  # HeadObject of a missing key, with s3:ListBucket (no body, so no error code)
        ("AccessDenied", 403, 77),  # denied, or a missing key WITHOUT s3:ListBucket
        ("SlowDown", 503, 75),  # S3 asks to slow down: temporary, retried by RetryExitCodes=75
        ("InternalError", 500, 75),
    ],
)
def test_s3_errors_map_to_the_documented_exit_codes(code: str, status: int, expected: int) -> None:
    error = ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )
    assert JOB.error_exit_code(error) == expected


# ------------------------------------------------------------------------------ the child contract
@pytest.mark.parametrize(
    ("array", "item"),
    [
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "2"}, 2),  # a child of a first attempt: its index
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "1", "ARRAY_ITEMS": "3,7-9,42"}, 7),  # a child-only retry: ARRAY_ITEMS[index]
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "4", "ARRAY_ITEMS": "3,7-9,42"}, 42),
        ({"ARRAY_ITEMS": "5"}, 5),  # a single job of one item: index 0
        ({}, None),  # a job of no array
    ],
)
def test_each_job_processes_its_original_item_and_writes_its_result_there(
    s3: Any, array: dict[str, str], item: int | None
) -> None:
    # Given an input, and a job of an array (or not)
    s3.put_object(Bucket=BUCKET, Key="incoming/items.txt", Body=b"a\n")

    # When the job runs
    result = JOB.run(_env("incoming/items.txt", **array), s3)

    # Then it names its item, and writes its result under it
    assert result.get("arrayItem") == item
    suffix = "result.json" if item is None else f"{item}/result.json"
    assert s3.get_object(Bucket=BUCKET, Key=f"output/s3-0123456789abcdef01234567/{suffix}")


@pytest.mark.parametrize(
    ("environment", "fails"),
    [
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "1"}, True),  # item 1, every attempt
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "0"}, False),  # item 0 is not chosen
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "0", "ARRAY_ITEMS": "1"}, True),  # child 0 of a retry runs item 1
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "1", "ARRAY_ITEMS": "0,2"}, False),  # child 1 of that retry runs item 2
        ({"ARRAY_ITEMS": "1", "SAMPLE_FAIL_UNTIL_RUN_ATTEMPT": "1", "RUN_ATTEMPT": "1"}, True),
        ({"ARRAY_ITEMS": "1", "SAMPLE_FAIL_UNTIL_RUN_ATTEMPT": "1", "RUN_ATTEMPT": "2"}, False),  # the retry succeeds
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "1", "SAMPLE_FAIL_UNTIL_ATTEMPT": "2", "AWS_BATCH_JOB_ATTEMPT": "1"}, True),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "1", "SAMPLE_FAIL_UNTIL_ATTEMPT": "2", "AWS_BATCH_JOB_ATTEMPT": "2"}, False),
    ],
)
def test_sample_fail_indexes_fails_the_chosen_original_items_until_the_given_attempt(
    environment: dict[str, str], fails: bool
) -> None:
    # Given SAMPLE_FAIL_INDEXES="1" with exit code 75
    env = {"SAMPLE_FAIL_INDEXES": "1", "SAMPLE_FAIL_EXIT_CODE": "75", "RUN_ATTEMPT": "1", **environment}

    # When / Then
    index = JOB.array_index(env)
    assert JOB.array_fail_exit_code(env, JOB.array_item(env, index)) == (75 if fails else None)


@pytest.mark.parametrize("array_items", ["x", "3,,4", "a-3"])
def test_array_items_that_are_no_ranges_are_a_configuration_error(array_items: str) -> None:
    with pytest.raises(JOB.JobError) as raised:
        JOB.array_item({"ARRAY_ITEMS": array_items}, 0)
    assert raised.value.exit_code == JOB.EX_CONFIG


def test_an_index_past_array_items_is_a_configuration_error() -> None:
    with pytest.raises(JOB.JobError, match="past the 2 items"):
        JOB.array_item({"ARRAY_ITEMS": "3,5"}, 2)


def test_a_coalesced_child_processes_the_upload_its_item_names_in_the_manifest(s3: Any) -> None:
    from batch_orchestrator.workloads import COALESCED_MANIFEST_PREFIX

    # Given two uploads (the first one overwritten since) and the manifest of their coalesced batch
    first = s3.put_object(Bucket=BUCKET, Key="frames/a.png", Body=b"a\n")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="frames/a.png", Body=b"newer\nbody\n")
    s3.put_object(Bucket=BUCKET, Key="frames/b.png", Body=b"b\n")
    manifest = f"{JOB.COALESCED_MANIFEST_PREFIX}frames/0123.json"
    body = f'[{{"bucket": "{BUCKET}", "key": "frames/a.png", "versionId": "{first}", "runId": "s3-0"}}, ' + (
        f'{{"bucket": "{BUCKET}", "key": "frames/b.png", "runId": "s3-1"}}]'
    )
    s3.put_object(Bucket=BUCKET, Key=manifest, Body=body.encode())

    # When child 0 and child 1 run, and a child past the manifest
    results = [JOB.run(_env(manifest, AWS_BATCH_JOB_ARRAY_INDEX=str(i)), s3) for i in (0, 1)]

    # Then each read its own upload (child 0 the version the manifest names), with the manifest beside it
    assert [(r["input"]["key"], r["lines"]) for r in results] == [("frames/a.png", 1), ("frames/b.png", 1)]
    assert results[0]["input"]["versionId"] == first
    assert results[0]["manifest"] == {"bucket": BUCKET, "key": manifest}
    assert _exit_code(_env(manifest, AWS_BATCH_JOB_ARRAY_INDEX="2"), s3) == JOB.EX_CONFIG
    # and the job's prefix is the orchestrator's
    assert JOB.COALESCED_MANIFEST_PREFIX == COALESCED_MANIFEST_PREFIX
