"""Where moto differs from AWS in a way the pipeline depends on, patched to behave as AWS does.

* S3 event notifications: moto 5.2 builds the record without ``s3.object.versionId`` and
  ``s3.object.sequencer``. AWS always sends ``sequencer`` for object-created events and
  ``versionId`` when the bucket is versioned; the submit path derives a run's id from them.
* Batch SubmitJob: moto submits from a deregistered (INACTIVE) job definition revision. AWS refuses
  it with a ClientException — which is what happens to a submission that names a revision
  CloudFormation deregistered when a deploy replaced the job definition. (AWS does not document the
  message; the code depends only on the error code.)

``apply`` patches moto in *this* process: in-process ``mock_aws`` and a moto server started in this
process (``ThreadedMotoServer``); a moto server in another process is unchanged.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

_sequence = itertools.count(time.time_ns())
# Where a patched moto function keeps the original it wraps: a function that has it is not patched again,
# and the original can be put back (the local job runner's patches use it too, see moto_batch_patches).
ORIGINAL_ATTRIBUTE = "_emulator_original"


def apply() -> None:
    """Idempotent. Does nothing when moto is not importable."""
    _add_version_and_sequencer_to_s3_events()
    _refuse_inactive_job_definitions()


def _refuse_inactive_job_definitions() -> None:
    try:
        from moto.batch.exceptions import ClientException
        from moto.batch.models import BatchBackend
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = BatchBackend.submit_job
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def submit_job_of_an_active_definition(self: Any, job_name: str, job_def_id: str, *args: Any, **kwargs: Any) -> Any:
        definition = self.get_job_definition(job_def_id)
        if definition is not None and definition.status != "ACTIVE":
            raise ClientException(f"Job definition {definition.arn} is {definition.status}, not ACTIVE")
        return current(self, job_name, job_def_id, *args, **kwargs)

    setattr(submit_job_of_an_active_definition, ORIGINAL_ATTRIBUTE, current)
    BatchBackend.submit_job = submit_job_of_an_active_definition  # type: ignore[method-assign]


def _add_version_and_sequencer_to_s3_events() -> None:
    try:
        from moto.s3 import notifications
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = notifications._get_s3_event
    if hasattr(current, ORIGINAL_ATTRIBUTE):
        return

    def s3_event_with_version_and_sequencer(
        event_name: str, bucket: Any, key: Any, notification_id: str
    ) -> dict[str, list[dict[str, Any]]]:
        event = current(event_name, bucket, key, notification_id)
        for record in event["Records"]:
            s3_object = record["s3"]["object"]
            version_id = getattr(key, "version_id", None)
            if version_id and version_id != "null":
                s3_object["versionId"] = version_id
            # AWS: a hex string; for one key a later event has a greater value once both are
            # left-padded with zeros to the same length. Fixed width keeps plain comparison valid.
            s3_object["sequencer"] = f"{next(_sequence):020X}"
        return event

    setattr(s3_event_with_version_and_sequencer, ORIGINAL_ATTRIBUTE, current)
    notifications._get_s3_event = s3_event_with_version_and_sequencer
