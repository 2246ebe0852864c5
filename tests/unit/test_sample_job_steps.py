"""The sample job as a pipeline's steps (jobs/sample/job.py, docs/pipelines.md), on moto's S3: a preprocess step
writes the upload's lines as its next step's manifest, an array step's child records its item from that manifest, an
aggregate lists what the step before it left; each writes its result under its STEP_OUTPUT_PREFIX.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.test_sample_job import BUCKET, JOB, _env, s3  # noqa: F401 - s3: the moto bucket fixture

RUN = "s3-0123456789abcdef01234567"
PREFIX = f"output/{RUN}/"


def _result(s3: Any, key: str) -> dict[str, Any]:  # noqa: F811 - the client the tests pass
    found: dict[str, Any] = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return found


def test_a_preprocess_step_writes_the_uploads_lines_as_the_next_steps_manifest(s3: Any) -> None:  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key="scenes/a.txt", Body=b"sky\n# a comment\n\nmoon\n")
    env = _env(
        "scenes/a.txt",
        STEP_NAME="split",
        STEP_OUTPUT_PREFIX=f"{PREFIX}split/",
        STEP_MANIFEST_KEY=f"{PREFIX}split/manifest",
    )

    result = JOB.run(env, s3)

    manifest = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}split/manifest")["Body"].read()
    assert manifest == b"sky\nmoon\n"  # blank and "#" lines are no items
    assert (result["step"], result["manifestItems"]) == ("split", 2)
    assert _result(s3, f"{PREFIX}split/result.json")["step"] == "split"


@pytest.mark.parametrize("manifest", [b"sky\nmoon\nstars\n", b'["sky", "moon", "stars"]'])
def test_an_array_steps_child_records_its_item_from_the_manifest(s3: Any, manifest: bytes) -> None:  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key="scenes/a.txt", Body=b"sky\nmoon\nstars\n")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}split/manifest", Body=manifest)
    env = _env(
        "scenes/a.txt",
        STEP_NAME="render",
        STEP_OUTPUT_PREFIX=f"{PREFIX}render/",
        MANIFEST_KEY=f"{PREFIX}split/manifest",
        AWS_BATCH_JOB_ARRAY_INDEX="0",
        ARRAY_ITEMS="2",  # a child-only retry of item 2
    )

    JOB.run(env, s3)

    assert _result(s3, f"{PREFIX}render/2/result.json")["manifestItem"] == "stars"


def test_an_item_past_the_manifest_is_a_configuration_error(s3: Any) -> None:  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key="scenes/a.txt", Body=b"x\n")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}split/manifest", Body=b"only\n")
    env = _env("scenes/a.txt", STEP_NAME="render", MANIFEST_KEY=f"{PREFIX}split/manifest", ARRAY_ITEMS="3")

    with pytest.raises(JOB.JobError) as raised:
        JOB.run(env, s3)
    assert raised.value.exit_code == JOB.EX_CONFIG


def test_an_aggregate_step_lists_the_results_the_step_before_left(s3: Any) -> None:  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key="scenes/a.txt", Body=b"x\n")
    for item in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}render/{item}/result.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}render/notes.txt", Body=b"not a result")
    env = _env(
        "scenes/a.txt",
        STEP_NAME="merge",
        STEP_OUTPUT_PREFIX=f"{PREFIX}merge/",
        PREVIOUS_STEP_OUTPUT_PREFIX=f"{PREFIX}render/",
    )

    JOB.run(env, s3)

    merged = _result(s3, f"{PREFIX}merge/result.json")["previousResults"]
    assert merged["count"] == 3
    assert merged["keys"][0] == f"{PREFIX}render/0/result.json"
