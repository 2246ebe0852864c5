"""Counting the items of a manifest: a workload with ``array: {manifest: upload}`` (or a pipeline step with
``{manifest: previous-step}``) runs one child per item.

Pure (the bytes come from the ManifestReader port). A manifest is either a JSON array (its elements are the items,
whatever they are) or text with one item per line (blank lines do not count). The first character that is not
whitespace tells them apart: ``[`` is JSON. Invariants:

* A manifest is counted, never truncated: one of more items than an array run takes (ARRAY_RUN_MAX_ITEMS), or
  larger than MANIFEST_MAX_BYTES, refuses the run with the reason; so does an empty one, or a JSON document that is
  not an array.
* 1 item runs as a single job (AWS Batch's arrays start at 2 children), 2 to 10,000 as an array job, more as array
  jobs of at most 10,000, one after another (``array_parts``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from batch_orchestrator.limits import ARRAY_RUN_MAX_ITEMS, MANIFEST_MAX_BYTES


@dataclass(frozen=True)
class ManifestRefused:
    """Why an upload's manifest cannot run: its run is recorded FAILED with this reason, and alerted."""

    reason: str


def count_items(data: bytes, *, truncated: bool = False) -> int | ManifestRefused:
    """The number of items in a manifest's bytes (at most MANIFEST_MAX_BYTES of them: ``truncated`` says the object
    had more), or why it cannot run."""
    limit, largest = MANIFEST_MAX_BYTES.value, ARRAY_RUN_MAX_ITEMS.value
    if truncated:
        return ManifestRefused(
            f"the manifest is larger than the {limit:,} bytes the submit function reads; split it into several "
            "uploads (runs)"
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
            f"the manifest holds {count:,} items, more than the {largest:,} one array run takes (as array jobs of "
            "10,000 one after another); split it into several uploads (runs)"
        )
    return count
