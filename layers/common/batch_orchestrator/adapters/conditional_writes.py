"""One conditional write to the runs table, and what became of it: applied, or refused and why.

Every write here carries its precondition and asks DynamoDB to return the item as it was when the
condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD), so the caller learns why it was
refused in the same round trip: never a read before or after.

A write whose answer was lost is still told apart from a lost race. botocore retries a write that
answered 5xx or timed out, and DynamoDB documents that such a write may have succeeded; the retry
then fails its own condition. Every write therefore stamps the item with an id of its own
(``writeId``): a failed condition whose returned item carries this call's id means the first try
was applied, and it is reported as applied, with that item as the result. (The one case it cannot
see: another writer changing the item in the seconds between the lost answer and the retry; every
condition of the runs table then refuses the retry, as it should.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batch_orchestrator.adapters.aws import client
from batch_orchestrator.adapters.run_items import WRITE_ID, from_attribute_values, run_from_item, to_attribute_values
from batch_orchestrator.errors import RunStoreError
from batch_orchestrator.models import Run
from batch_orchestrator.observability import logger
from batch_orchestrator.ports import WriteResult

# Reads the item a write returns: a run, or None for the items that are not runs.
ItemParser = Callable[[Mapping[str, Any]], Run | None]


def put_if(
    table: str,
    item: Mapping[str, Any],
    *,
    condition: str,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    parse: ItemParser = run_from_item,
) -> WriteResult:
    """PutItem ``item`` (Python values) into ``table`` if ``condition`` holds."""
    request: dict[str, Any] = {"Item": to_attribute_values(item), "ConditionExpression": condition}
    if names is not None:
        request["ExpressionAttributeNames"] = dict(names)
    if values is not None:
        request["ExpressionAttributeValues"] = to_attribute_values(values)
    return _write(table, "PutItem", parse=parse, **request)


def update_if(
    table: str,
    run_id: str,
    *,
    update: str,
    condition: str,
    names: Mapping[str, str],
    values: Mapping[str, Any],
    return_new: bool,
    parse: ItemParser = run_from_item,
) -> WriteResult:
    """UpdateItem the item ``run_id`` of ``table`` with ``update`` (``SET ...``) if ``condition`` holds.

    ``values`` are Python values. With ``return_new`` the result holds the item after the write;
    without, an applied write's result holds no run.
    """
    return _write(
        table,
        "UpdateItem",
        parse=parse,
        Key=to_attribute_values({"runId": run_id}),
        UpdateExpression=update,
        ConditionExpression=condition,
        ExpressionAttributeNames=dict(names),
        ExpressionAttributeValues=to_attribute_values(values),
        ReturnValues="ALL_NEW" if return_new else "NONE",
    )


def _write(table: str, operation: str, *, parse: ItemParser, **request: Any) -> WriteResult:
    """One conditional PutItem/UpdateItem, stamped with an id of its own (see the module docstring)."""
    write_id = uuid.uuid4().hex
    request["TableName"] = table
    request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if operation == "PutItem":
        request["Item"] = {**request["Item"], WRITE_ID: {"S": write_id}}
        call = client("dynamodb").put_item
    else:
        expression = str(request["UpdateExpression"])
        if not expression.startswith("SET "):
            raise ValueError(f"an update must start with SET: {expression!r}")
        request["UpdateExpression"] = f"SET #{WRITE_ID} = :{WRITE_ID}, " + expression[len("SET ") :]
        request["ExpressionAttributeNames"] = {
            **request.get("ExpressionAttributeNames", {}),
            f"#{WRITE_ID}": WRITE_ID,
        }
        request["ExpressionAttributeValues"] = {
            **request.get("ExpressionAttributeValues", {}),
            f":{WRITE_ID}": {"S": write_id},
        }
        call = client("dynamodb").update_item
    try:
        response = call(**request)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ConditionalCheckFailedException":
            old: Mapping[str, Any] | None = exc.response.get("Item")
            current = from_attribute_values(old) if old else None
            if current is not None and current.get(WRITE_ID) == write_id:
                # A retry of this very call: its first try was applied and its answer lost.
                logger.warning(
                    "conditional write applied by an earlier try whose answer was lost",
                    extra={"operation": operation, "key": current.get("runId")},
                )
                return WriteResult(applied=True, run=parse(current))
            return WriteResult(applied=False, run=parse(current) if current is not None else None)
        raise RunStoreError(f"{operation} on {table} failed: {error.get('Code')}: {error.get('Message')}") from exc
    except BotoCoreError as exc:
        raise RunStoreError(f"{operation} on {table} failed: {exc}") from exc
    attributes = response.get("Attributes")
    return WriteResult(applied=True, run=parse(from_attribute_values(attributes)) if attributes else None)
