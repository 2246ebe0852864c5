"""Burst coalescing: the uploads of a workload with ``coalesce:`` that arrive together run as ONE array job.

submit_jobs forwards each such upload to the workload's own queue (``coalesce_message``: SendMessageBatch, 10 per
call); that queue's event source mapping gathers up to ``max_items`` of them for up to ``window_seconds`` (Lambda's
BatchSize and MaximumBatchingWindowInSeconds) and hands the batch to coalesce_uploads, which calls ``coalesce_batch``:

1. parse each record (a malformed one fails alone: batchItemFailures, then the queue's DLQ) and drop duplicates
   within the batch (same run id: bucket, key and version id or sequencer, as ``ids.run_id_for``);
2. **claim each key** under the run id a plain upload of it would have, with conditional puts, 100 per
   TransactWriteItems (``CoalescedKeys.claim``): the key's item names the batch's run and the key's child index,
   with a lease (``claimedUntil``). A key whose item exists is a duplicate notification and starts nothing, unless
   its batch run was never recorded and its lease has expired: the batch that claimed it died before step 4, and
   this one takes the key over (a conditional update on the old lease);
3. write the manifest, a JSON array of the claimed keys in child order, under COALESCED_MANIFEST_PREFIX (where
   routing never takes a key: a manifest does not start a run of its own);
4. start the batch's run through the existing submit path (``submit.submit_run``: the claim of the run, then one
   SubmitJob of an array job of the claimed keys; one key runs as a single job).

Exactly once per key. SQS delivers at least once, and a batch may die at any step:

* before or during 2: the keys it claimed keep its lease and no run names its batch; once the lease has expired
  (CLAIM_LEASE_SECONDS, the function's timeout + 30 s, so its invocation is over) the redelivered messages take them
  over (the queue's visibility timeout is longer than the lease); a key still leased by a live batch fails its
  message, which comes back after the visibility timeout and finds the key's batch run by then;
* between 3 and 4: the same; the manifest is left behind, never routed (an orphan object, no run);
* in 4, after the run's claim: the run exists, so every key is a duplicate from now on; the run itself is recovered by
  the claim protocol of ``submit_run`` (a redelivered batch that finds a key of such a run hands the run to
  ``submit_run`` again, which takes a stale claim over, looks the job name up and submits only if no job exists;
  the watchdog does the same for a run whose messages are all gone);
* after SubmitJob: every redelivered key is a duplicate, and the run's claim a duplicate too.

So a key becomes a child of at most one run (the claim is conditional and a takeover conditional on the lease it
replaces), and of exactly one once its messages stop failing. At-least-once remains where it was: a child may run
twice if Batch or the orchestrator retries it (its output must be idempotent, as every array child's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from copy import replace
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from batch_orchestrator.attempt_plan import first_plan
from batch_orchestrator.errors import MalformedMessage, WorkloadUnavailable
from batch_orchestrator.ids import RUN_ID_PATTERN, run_id_for
from batch_orchestrator.limits import DYNAMODB_TRANSACT_WRITE_ITEMS
from batch_orchestrator.models import RunStatus, S3Source, SubmitRequest, source_from_dict
from batch_orchestrator.ports import CoalescedKeys, JobGateway, KeyClaim, ManifestWriter, RunStore, TakenKey
from batch_orchestrator.submit import SubmitOutcome, SubmitResult, SubmitSettings, submit_run
from batch_orchestrator.timeutil import epoch_seconds
from batch_orchestrator.workloads import COALESCED_MANIFEST_PREFIX

COALESCE_KIND = "coalesce"


def coalesce_message(*, workload: str, source: S3Source) -> str:
    """The body submit_jobs sends to a coalescing workload's queue for one upload (a few hundred bytes)."""
    return json.dumps({"kind": COALESCE_KIND, "workload": workload, "source": source.to_dict()}, separators=(",", ":"))


@dataclass(frozen=True)
class CoalescedUpload:
    """One upload a coalescing queue delivered: its message, its workload and its run id as a plain upload."""

    message_id: str
    workload: str
    source: S3Source
    run_id: str


def parse_coalesce_message(message_id: str, body: str) -> CoalescedUpload:
    """The upload one coalescing-queue message carries; MalformedMessage when it is not one."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"coalesce message is not JSON: {exc}") from exc
    if not isinstance(payload, Mapping) or payload.get("kind") != COALESCE_KIND:
        raise MalformedMessage("not a coalesce message (kind)")
    workload, data = payload.get("workload"), payload.get("source")
    if not isinstance(workload, str) or not isinstance(data, Mapping):
        raise MalformedMessage("coalesce message lacks its workload or source")
    try:
        source = source_from_dict(dict(data))
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"coalesce message source: {exc}") from exc
    if not isinstance(source, S3Source) or not source.bucket or not source.key:
        raise MalformedMessage("coalesce message source is not an uploaded object")
    return CoalescedUpload(message_id=message_id, workload=workload, source=source, run_id=run_id_for(source))


def manifest_key(workload: str, batch_id: str) -> str:
    """Where a batch's manifest is written: under COALESCED_MANIFEST_PREFIX, never routed."""
    return f"{COALESCED_MANIFEST_PREFIX}{workload}/{batch_id}.json"


def manifest_body(claimed: Sequence[CoalescedUpload]) -> bytes:
    """The manifest: a JSON array, element i the upload child i processes (its bucket, key, version and run id)."""
    items = []
    for upload in claimed:
        item: dict[str, Any] = {"bucket": upload.source.bucket, "key": upload.source.key, "runId": upload.run_id}
        if upload.source.version_id:
            item["versionId"] = upload.source.version_id
        items.append(item)
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class KeyVerdict(StrEnum):
    CLAIMED = "CLAIMED"  # a child of this batch
    DUPLICATE = "DUPLICATE"  # another run (coalesced or plain) has this key: nothing starts
    BUSY = "BUSY"  # leased by a batch that may still be running: the message fails and comes back


@dataclass
class CoalesceResult:
    batch_run_id: str
    claimed: list[CoalescedUpload] = field(default_factory=list)
    duplicates: int = 0  # messages that start nothing (within the batch, or the key already taken)
    failed_message_ids: list[str] = field(default_factory=list)  # busy keys: redelivered later
    submit: SubmitResult | None = None  # the batch run's submission (None: nothing claimed)
    recovered: list[SubmitResult] = field(default_factory=list)  # earlier batch runs handed to submit_run again


def coalesce_batch(
    uploads: Sequence[CoalescedUpload],
    *,
    workload: str,
    bucket: str,
    batch_id: str,
    keys: CoalescedKeys,
    manifests: ManifestWriter,
    runs: RunStore,
    jobs: JobGateway,
    settings: SubmitSettings,
    now: datetime,
) -> CoalesceResult:
    """Claim the batch's distinct keys, write their manifest and submit one run over it (see the module docstring).

    Raises WorkloadUnavailable (before any write) when the stack lacks the workload, and whatever the submit path
    raises (JobSubmitError, RunStoreError) after the keys are claimed: the caller fails the claimed keys' messages,
    whose redelivery finds the batch run and hands it to submit_run again.
    """
    table_workload = settings.workload(workload)
    if table_workload is None or table_workload.coalesce is None:
        raise WorkloadUnavailable(f"coalesced uploads of workload {workload!r}, which this stack does not coalesce")
    key = manifest_key(workload, batch_id)
    manifest_source = S3Source(bucket=bucket, key=key)
    result = CoalesceResult(batch_run_id=run_id_for(manifest_source))
    distinct: dict[str, list[CoalescedUpload]] = {}
    for upload in uploads:
        distinct.setdefault(upload.run_id, []).append(upload)
    result.duplicates += sum(len(group) - 1 for group in distinct.values())
    lease_until = epoch_seconds(now) + settings.claim_lease_seconds
    verdicts, earlier_batches = _claim_keys(
        [group[0] for group in distinct.values()], keys, result.batch_run_id, lease_until=lease_until, now=now
    )
    for run_id, verdict in verdicts.items():
        group = distinct[run_id]
        if verdict is KeyVerdict.CLAIMED:
            result.claimed.append(group[0])
        elif verdict is KeyVerdict.DUPLICATE:
            result.duplicates += 1
        else:
            result.failed_message_ids += [upload.message_id for upload in group]
    result.claimed.sort(key=lambda upload: verdicts.index_of(upload.run_id))
    for batch_run_id in sorted(earlier_batches):
        recovered = _resubmit_earlier_batch(batch_run_id, keys, runs=runs, jobs=jobs, settings=settings, now=now)
        if recovered is not None:
            result.recovered.append(recovered)
    if not result.claimed:
        return result
    manifests.write(manifest_source, manifest_body(result.claimed))
    plan = replace(first_plan(table_workload), array_size=len(result.claimed))
    request = SubmitRequest(run_id=result.batch_run_id, attempt=1, source=manifest_source, plan=plan)
    result.submit = submit_run(request, runs=runs, jobs=jobs, settings=settings, now=now)
    return result


class _Verdicts(dict[str, KeyVerdict]):
    """Each key's verdict, and the child index of each claimed key."""

    def __init__(self) -> None:
        super().__init__()
        self.indexes: dict[str, int] = {}

    def index_of(self, run_id: str) -> int:
        return self.indexes[run_id]


def _claim_keys(
    uploads: Sequence[CoalescedUpload], keys: CoalescedKeys, batch_run_id: str, *, lease_until: int, now: datetime
) -> tuple[_Verdicts, set[str]]:
    """Claim each upload's key for the batch, 100 per transaction; the verdicts, and the earlier batch runs whose
    keys were found (to hand them to submit_run again: they may be stuck between their claim and SubmitJob)."""
    verdicts = _Verdicts()
    earlier: set[str] = set()
    pending = list(uploads)
    chunk = DYNAMODB_TRANSACT_WRITE_ITEMS.value
    while pending:
        head, pending = pending[:chunk], pending[chunk:]
        first_index = len(verdicts.indexes)
        claims = [
            KeyClaim(run_id=u.run_id, source=u.source, workload=u.workload, batch_run_id=batch_run_id, index=i)
            for i, u in enumerate(head, start=first_index)
        ]
        taken = keys.claim(claims, claimed_until=lease_until, now=now)
        if not taken:
            for claim in claims:
                verdicts[claim.run_id] = KeyVerdict.CLAIMED
                verdicts.indexes[claim.run_id] = claim.index
            continue
        retry: list[CoalescedUpload] = []
        for upload, claim in zip(head, claims, strict=True):
            found = taken.get(claim.run_id)
            if found is None:
                retry.append(upload)  # the transaction failed as a whole: claim it again with the rest
                continue
            if found.batch_run_id == batch_run_id and found.index is not None:  # ours already: a lost answer
                verdicts[claim.run_id] = KeyVerdict.CLAIMED
                verdicts.indexes[claim.run_id] = found.index
                continue
            verdict = _judge_taken(found, keys, now=now)
            if verdict is KeyVerdict.CLAIMED:  # the claim of a batch that died before its run: take it over
                index = len(verdicts.indexes)
                if keys.take_over(replace(claim, index=index), previous=found, claimed_until=lease_until, now=now):
                    verdicts[claim.run_id] = KeyVerdict.CLAIMED
                    verdicts.indexes[claim.run_id] = index
                    continue
                verdict = KeyVerdict.BUSY  # another delivery took it over first
            verdicts[claim.run_id] = verdict
            if found.batch_run_id:
                earlier.add(found.batch_run_id)
        pending = retry + pending
    return verdicts, earlier


def _judge_taken(found: TakenKey, keys: CoalescedKeys, *, now: datetime) -> KeyVerdict:
    """What a key found taken means: a run has it (duplicate), a live batch holds it (busy), or a dead one did."""
    if found.conflict:
        return KeyVerdict.BUSY  # another transaction was writing it: the message comes back
    if not found.batch_run_id:
        return KeyVerdict.DUPLICATE  # a plain run of this upload (the workload coalesced only later)
    if keys.run_exists(found.batch_run_id):
        return KeyVerdict.DUPLICATE
    if found.claimed_until > epoch_seconds(now):
        return KeyVerdict.BUSY
    return KeyVerdict.CLAIMED


def _resubmit_earlier_batch(
    batch_run_id: str, keys: CoalescedKeys, *, runs: RunStore, jobs: JobGateway, settings: SubmitSettings, now: datetime
) -> SubmitResult | None:
    """An earlier batch run whose first attempt has no job yet, handed to submit_run again (its claim protocol
    decides: a live claim is a duplicate, a stale one is taken over after a look-up by job name)."""
    if not RUN_ID_PATTERN.match(batch_run_id):
        return None
    run = keys.read_run(batch_run_id)
    if run is None or run.attempt != 1 or run.job_id or run.status not in (RunStatus.SUBMITTED, RunStatus.QUEUED):
        return None
    request = SubmitRequest(run_id=run.run_id, attempt=1, source=run.source, plan=run.plan)
    result = submit_run(request, runs=runs, jobs=jobs, settings=settings, now=now)
    return None if result.outcome is SubmitOutcome.DUPLICATE else result
