"""The emulator's progress report follows every workload's uploads, routed as the submit function routes them.

``emulator.run_progress.run_ids_of`` reads the runs an SQS batch is about; before it used the stack's
workload table it knew INPUT_PREFIX only, so a thumbnails upload outside it was never followed.
"""

from __future__ import annotations

import json
from typing import Any

from batch_orchestrator.ids import run_id_for
from batch_orchestrator.models import S3Source
from emulator.run_progress import run_ids_of
from tests.support.environments import SUBMIT_ENV, with_workloads, workload_json


def _sqs_batch(*keys: str) -> dict[str, Any]:
    records = [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": "input"},
                "object": {"key": key, "size": 1, "sequencer": "0A"},
            },
        }
        for key in keys
    ]
    return {"Records": [{"body": json.dumps({"Records": [record]})} for record in records]}


def _run_id(key: str) -> str:
    return run_id_for(S3Source(bucket="input", key=key, sequencer="0A", size=1))


def test_uploads_of_every_workload_are_followed_and_unmatched_ones_are_not() -> None:
    # Given a stack whose thumbnails workload takes images/*.jpg besides the default's incoming/
    environment = with_workloads(
        SUBMIT_ENV, [workload_json("thumbnails", match={"prefix": "images/", "suffix": ".jpg"})]
    )

    # When a batch with an upload for each workload and one nobody takes is read
    found = run_ids_of(_sqs_batch("incoming/a.csv", "images/cat.jpg", "other/x.bin"), environment)

    # Then the runs of both workloads are followed, and nothing for the unmatched key
    assert found == [_run_id("incoming/a.csv"), _run_id("images/cat.jpg")]


def test_without_a_valid_table_the_default_workload_alone_is_followed() -> None:
    # Given a layer table the function itself would refuse (not the one its template was rendered with)
    environment = {
        **with_workloads(SUBMIT_ENV, [workload_json("thumbnails", match={"prefix": "images/"})]),
        "WORKLOAD_TABLE_DIGEST": "0" * 16,
    }

    # When the same batch is read, then only the default workload's upload is followed
    found = run_ids_of(_sqs_batch("incoming/a.csv", "images/cat.jpg"), environment)
    assert found == [_run_id("incoming/a.csv")]
