"""Baseline for submit_jobs: per S3 record, one conditional PutItem and one SubmitJob."""

import hashlib
import json
import os
import time
import urllib.parse
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")
batch = boto3.client("batch")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        try:
            for s3_record in json.loads(record["body"]).get("Records", []):
                bucket = s3_record["s3"]["bucket"]["name"]
                key = urllib.parse.unquote_plus(s3_record["s3"]["object"]["key"])
                version = s3_record["s3"]["object"].get("versionId", "")
                run_id = "s3-" + hashlib.sha256(f"{bucket}/{key}/{version}".encode()).hexdigest()[:24]
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
                batch.submit_job(
                    jobName=job_name,
                    jobQueue=os.environ["JOB_QUEUE_ARN"],
                    jobDefinition=os.environ["JOB_DEFINITION_ARN"],
                    containerOverrides={
                        "environment": [
                            {"name": "RUN_ID", "value": run_id},
                            {"name": "INPUT_BUCKET", "value": bucket},
                            {"name": "INPUT_KEY", "value": key},
                        ]
                    },
                    tags={"batch-orchestrator:run-id": run_id},
                    propagateTags=True,
                )
        except Exception as exc:
            print(f"record {record['messageId']} failed: {exc}")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
