"""The runs table as the coalescer uses it: one item per coalesced key, claimed at most once (``coalesce``).

A key's item sits under the run id a plain upload of the key would have (``ids.run_id_for``), so a duplicate
notification finds it whichever path it takes, and `orchestrator runs find --key` finds it from the key. It is not a
run: it has no ``status`` (so no listing, no index, no watchdog sees it), only the batch run it belongs to
(``coalescedInto``), its child index there (``coalescedIndex``), the claim's lease (``claimedUntil``), its source and
workload, and ``expiresAt`` (TTL, as a finished run's: RUN_RETENTION_DAYS).

Writes are conditional, and none reads first: the claims are Puts on ``attribute_not_exists(runId)``, 100 per
TransactWriteItems ("TransactWriteItems", Amazon DynamoDB API Reference: up to 100 actions, all or none; a
cancelled transaction gives one CancellationReason per action, with the item that failed its condition when asked
for ReturnValuesOnConditionCheckFailure ALL_OLD). botocore fills ClientRequestToken (an idempotency token), so its
retry of a transaction whose answer was lost succeeds without writing twice (the same page: a token is valid for
10 minutes). Each Put is authorised as dynamodb:PutItem ("Using IAM with DynamoDB transactions").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.adapters.run_items import EXPIRES_AT, from_attribute_values, run_from_item, to_attribute_values
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.limits import DYNAMODB_TRANSACT_WRITE_ITEMS
from batch_orchestrator.models import Run
from batch_orchestrator.ports import KeyClaim, TakenKey
from batch_orchestrator.timeutil import epoch_seconds, iso

COALESCED_INTO = "coalescedInto"
COALESCED_INDEX = "coalescedIndex"
CLAIMED_UNTIL = "claimedUntil"
_CONDITION_FAILED = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"


def taken_key_of(run_id: str, item: Mapping[str, Any]) -> TakenKey:
    """The TakenKey of a deserialised item (a run of its own: no batch)."""
    index = item.get(COALESCED_INDEX)
    return TakenKey(
        run_id=run_id,
        batch_run_id=str(item.get(COALESCED_INTO, "")),
        index=int(index) if index is not None else None,
        claimed_until=int(item.get(CLAIMED_UNTIL, 0) or 0),
    )


class CoalescedKeysTable:
    def __init__(self, table_name: str, *, retention_days: int) -> None:
        self._table = table_name
        self._retention = timedelta(days=retention_days)

    def _item(self, claim: KeyClaim, *, claimed_until: int, now: datetime) -> dict[str, Any]:
        return {
            "runId": claim.run_id,
            COALESCED_INTO: claim.batch_run_id,
            COALESCED_INDEX: claim.index,
            CLAIMED_UNTIL: claimed_until,
            "workload": claim.workload,
            "source": claim.source.to_dict(),
            "createdAt": iso(now),
            EXPIRES_AT: epoch_seconds(now + self._retention),
        }

    def claim(self, claims: Sequence[KeyClaim], *, claimed_until: int, now: datetime) -> dict[str, TakenKey]:
        if not claims:
            return {}
        if len(claims) > DYNAMODB_TRANSACT_WRITE_ITEMS.value:
            raise ValueError(f"{len(claims)} claims in one transaction, more than TransactWriteItems takes")
        actions = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_attribute_values(self._item(claim, claimed_until=claimed_until, now=now)),
                    "ConditionExpression": "attribute_not_exists(runId)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for claim in claims
        ]
        try:
            client("dynamodb").transact_write_items(TransactItems=actions)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons")
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException" or not reasons:
                raise RunStoreError(f"cannot claim coalesced keys in {self._table}: {exc}") from exc
            return self._taken(claims, reasons, exc)
        except BotoCoreError as exc:
            raise RunStoreError(f"cannot claim coalesced keys in {self._table}: {exc}") from exc
        return {}

    def _taken(
        self, claims: Sequence[KeyClaim], reasons: Sequence[Mapping[str, Any]], exc: ClientError
    ) -> dict[str, TakenKey]:
        taken: dict[str, TakenKey] = {}
        for claim, reason in zip(claims, reasons, strict=True):
            code = reason.get("Code", "None")
            if code == _CONDITION_FAILED:
                taken[claim.run_id] = taken_key_of(claim.run_id, from_attribute_values(reason.get("Item", {})))
            elif code == _CONFLICT:
                taken[claim.run_id] = TakenKey(run_id=claim.run_id, conflict=True)
            elif code not in ("None", None):
                raise RunStoreError(f"cannot claim coalesced keys in {self._table}: {code}: {exc}") from exc
        if not taken:
            raise RunStoreError(f"cannot claim coalesced keys in {self._table}: {exc}") from exc
        return taken

    def take_over(self, claim: KeyClaim, *, previous: TakenKey, claimed_until: int, now: datetime) -> bool:
        request = {
            "TableName": self._table,
            "Key": to_attribute_values({"runId": claim.run_id}),
            "UpdateExpression": "SET #into = :into, #index = :index, #until = :until, #updated = :now",
            "ConditionExpression": "#into = :previous AND #until = :previousUntil",
            "ExpressionAttributeNames": {
                "#into": COALESCED_INTO,
                "#index": COALESCED_INDEX,
                "#until": CLAIMED_UNTIL,
                "#updated": "updatedAt",
            },
            "ExpressionAttributeValues": to_attribute_values(
                {
                    ":into": claim.batch_run_id,
                    ":index": claim.index,
                    ":until": claimed_until,
                    ":now": iso(now),
                    ":previous": previous.batch_run_id,
                    ":previousUntil": previous.claimed_until,
                }
            ),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            client("dynamodb").update_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise RunStoreError(f"cannot take coalesced key {claim.run_id} over: {exc}") from exc
            # A retry of our own write whose answer was lost finds the key already ours: applied.
            found = taken_key_of(claim.run_id, from_attribute_values(exc.response.get("Item", {})))
            return found.batch_run_id == claim.batch_run_id and found.index == claim.index
        except BotoCoreError as exc:
            raise RunStoreError(f"cannot take coalesced key {claim.run_id} over: {exc}") from exc
        return True

    def _get(self, run_id: str, *, projection: str | None = None) -> dict[str, Any] | None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_attribute_values({"runId": run_id}),
            "ConsistentRead": True,
        }
        if projection:
            request["ProjectionExpression"] = projection
        try:
            item = client("dynamodb").get_item(**request).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise RunStoreError(f"cannot read {run_id} from {self._table}: {exc}") from exc
        return from_attribute_values(item) if item else None

    def run_exists(self, run_id: str) -> bool:
        return self._get(run_id, projection="runId") is not None

    def read_run(self, run_id: str) -> Run | None:
        item = self._get(run_id)
        if item is None or "status" not in item:
            return None
        return run_from_item(item)

    def find_key(self, run_id: str) -> TakenKey | None:
        item = self._get(run_id)
        if item is None or COALESCED_INTO not in item:
            return None
        return taken_key_of(run_id, item)
