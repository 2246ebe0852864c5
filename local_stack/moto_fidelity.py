"""Where moto's S3 event notification differs from AWS in a way the pipeline depends on.

moto 5.2 builds the S3 event record without ``s3.object.versionId`` and ``s3.object.sequencer``.
AWS always sends ``sequencer`` for object-created events and ``versionId`` when the bucket is
versioned; the submit path derives a run's id from them. ``apply`` wraps moto's record builder
to add both. It patches moto in *this* process: in-process ``mock_aws`` and a moto server
started in this process (``ThreadedMotoServer``); a moto server in another process is unchanged.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

_sequence = itertools.count(time.time_ns())
_ORIGINAL_ATTRIBUTE = "_local_stack_original"


def apply() -> None:
    """Idempotent. Does nothing when moto is not importable."""
    try:
        from moto.s3 import notifications
    except ImportError:  # pragma: no cover - moto is a dev dependency
        return
    current = notifications._get_s3_event
    if hasattr(current, _ORIGINAL_ATTRIBUTE):
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

    setattr(s3_event_with_version_and_sequencer, _ORIGINAL_ATTRIBUTE, current)
    notifications._get_s3_event = s3_event_with_version_and_sequencer
