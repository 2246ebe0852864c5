"""Baseline for track_jobs: one conditional UpdateItem per Batch job state-change event."""

import os
import time
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
RANK = {"SUBMITTED": 1, "PENDING": 2, "RUNNABLE": 3, "STARTING": 4, "RUNNING": 5, "SUCCEEDED": 6, "FAILED": 6}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event["detail"]
    run_id = detail["tags"]["batch-orchestrator:run-id"]
    try:
        item = dynamodb.update_item(
            TableName=os.environ["RUNS_TABLE"],
            Key={"runId": {"S": run_id}},
            UpdateExpression="SET #status = :status, #rank = :rank, jobId = :job, updatedAt = :now",
            ConditionExpression="attribute_exists(runId) AND (attribute_not_exists(#rank) OR #rank < :rank)",
            ExpressionAttributeNames={"#status": "status", "#rank": "statusRank"},
            ExpressionAttributeValues={
                ":status": {"S": detail["status"]},
                ":rank": {"N": str(RANK[detail["status"]])},
                ":job": {"S": detail["jobId"]},
                ":now": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            },
            ReturnValues="ALL_NEW",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return {"runId": run_id, "outcome": "STALE"}
    return {"runId": run_id, "outcome": "UPDATED", "status": item["Attributes"]["status"]["S"]}
