"""Counting the items of an uploaded manifest: a workload with ``array: {manifest: upload}`` runs one child per item.

Pure (the bytes come from the ManifestReader port). A manifest is either a JSON array (its elements are the items,
whatever they are) or text with one item per line (blank lines do not count). The first character that is not
whitespace tells them apart: ``[`` is JSON. Invariants:

* A manifest is counted, never truncated: one of more items than an array job takes (BATCH_ARRAY_MAX_SIZE), or
  larger than MANIFEST_MAX_BYTES, refuses the run with the reason (splitting it into several array jobs under one
  run is not built yet); so does an empty one, or a JSON document that is not an array.
* 1 item runs as a single job (AWS Batch's arrays start at 2 children), 2 to 10,000 as an array job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from batch_orchestrator.limits import BATCH_ARRAY_MAX_SIZE, MANIFEST_MAX_BYTES

NOT_SPLIT_YET = "splitting a manifest into several array jobs under one run is not supported yet"


@dataclass(frozen=True)
class ManifestRefused:
    """Why an upload's manifest cannot run: its run is recorded FAILED with this reason, and alerted."""

    reason: str


def count_items(data: bytes, *, truncated: bool = False) -> int | ManifestRefused:
    """The number of items in a manifest's bytes (at most MANIFEST_MAX_BYTES of them: ``truncated`` says the object
    had more), or why it cannot run."""
    limit, largest = MANIFEST_MAX_BYTES.value, BATCH_ARRAY_MAX_SIZE.value
    if truncated:
        return ManifestRefused(
            f"the manifest is larger than {limit:,} bytes, more than an array job of {largest:,} items needs; "
            f"{NOT_SPLIT_YET}"
        )
    text = data.decode("utf-8", errors="replace")
    if text.lstrip().startswith("["):
        try:
            document = json.loads(text)
        except ValueError as exc:
            return ManifestRefused(f"the manifest starts as a JSON array but is not JSON: {exc}")
        if not isinstance(document, list):
            return ManifestRefused("the manifest starts as a JSON array but is not one")
        count = len(document)
    else:
        count = sum(1 for line in text.splitlines() if line.strip())
    if count == 0:
        return ManifestRefused("the manifest holds no items: an empty JSON array, or no line that is not blank")
    if count > largest:
        return ManifestRefused(
            f"the manifest holds {count:,} items, more than the {largest:,} children of one array job; {NOT_SPLIT_YET}"
        )
    return count
