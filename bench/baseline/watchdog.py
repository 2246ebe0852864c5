"""Baseline for the watchdog: one Query of the active-runs index per watched status."""

import datetime
import os
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
STATUSES = ("FAILED", "RETRY_WAIT", "RUNNABLE", "STARTING", "RUNNING", "PENDING", "SUBMITTED", "QUEUED")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=600)
    items = 0
    for status in STATUSES:
        response = dynamodb.query(
            TableName=os.environ["RUNS_TABLE"],
            IndexName="ActiveRunsIndex",
            KeyConditionExpression="activeStatus = :status AND updatedAt < :before",
            ExpressionAttributeValues={
                ":status": {"S": status},
                ":before": {"S": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")},
            },
        )
        items += response["Count"]
    return {"items_read": items}
