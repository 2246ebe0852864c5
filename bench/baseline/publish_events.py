"""Baseline for publish_events: each stream record of a created run becomes one event, put in one PutEvents call."""

import json
import os
from typing import Any

import boto3

events = boto3.client("events")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    entries = []
    for record in event["Records"]:
        image = record["dynamodb"].get("NewImage") or {}
        if record["eventName"] == "INSERT" and image.get("status", {}).get("S") == "SUBMITTED":
            detail = {"runId": image["runId"]["S"], "status": "SUBMITTED", "jobName": image["jobName"]["S"]}
            entries.append(
                {
                    "Source": os.environ["EVENT_SOURCE"],
                    "DetailType": "Run Started",
                    "Detail": json.dumps(detail),
                    "EventBusName": os.environ["EVENT_BUS_NAME"],
                }
            )
    failed = []
    for start in range(0, len(entries), 10):
        answer = events.put_events(Entries=entries[start : start + 10])
        failed += [i for i, result in enumerate(answer["Entries"]) if "ErrorCode" in result]
    return {
        "batchItemFailures": [{"itemIdentifier": event["Records"][i]["dynamodb"]["SequenceNumber"]} for i in failed]
    }
