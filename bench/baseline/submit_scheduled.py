"""Baseline for submit_scheduled: one conditional PutItem and one SubmitJob per firing."""

import hashlib
import os
import time
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
batch = boto3.client("batch")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    name = event.get("scheduleName") or os.environ["SCHEDULE_NAME"]
    run_id = "sch-" + hashlib.sha256(f"{name}/{event['scheduledTime']}".encode()).hexdigest()[:24]
    job_name = f"{run_id}-a1"
    dynamodb.put_item(
        TableName=os.environ["RUNS_TABLE"],
        Item={
            "runId": {"S": run_id},
            "status": {"S": "SUBMITTED"},
            "jobName": {"S": job_name},
            "updatedAt": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        },
        ConditionExpression="attribute_not_exists(runId)",
    )
    job = batch.submit_job(
        jobName=job_name,
        jobQueue=os.environ["JOB_QUEUE_ARN"],
        jobDefinition=os.environ["JOB_DEFINITION_ARN"],
        containerOverrides={"environment": [{"name": "RUN_ID", "value": run_id}]},
        tags={"batch-orchestrator:run-id": run_id},
        propagateTags=True,
    )
    return {"runId": run_id, "jobId": job["jobId"]}
