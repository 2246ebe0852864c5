"""Encryption at rest and TLS-only access for every store and queue of the template AWS would deploy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_orchestrator.adapters import aws
from emulator import EmulatedStack, prepare_template
from tests.support.figures import figure

SECURE_TRANSPORT_DENY = {"Bool": {"aws:SecureTransport": "false"}}


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, Mapping[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in template["Resources"].items() if r["Type"] == kind}


def _deny_insecure_transport_targets(template: Mapping[str, Any], policy_kind: str, targets_key: str) -> set[str]:
    """Logical ids of the resources a policy of ``policy_kind`` denies every non-TLS request to."""
    covered: set[str] = set()
    for properties in _resources(template, policy_kind).values():
        statements = properties["PolicyDocument"]["Statement"]
        denies = [
            s
            for s in statements
            # (a statement under Fn::If, the success notifications', has no Effect of its own: it is no deny)
            if s.get("Effect") == "Deny" and s.get("Principal") == "*" and s.get("Condition") == SECURE_TRANSPORT_DENY
        ]
        if not any(str(s["Action"]).endswith(":*") for s in denies):
            continue
        targets = properties[targets_key]
        for target in targets if isinstance(targets, list) else [targets]:
            covered.add(target.get("Ref") or target.get("Fn::GetAtt", [""])[0])
    return covered


def test_every_store_and_queue_is_encrypted_at_rest_and_refuses_plain_http() -> None:
    template = prepare_template().cloudformation

    # Buckets: default encryption, and a policy denying any request without TLS (bucket and objects)
    buckets = _resources(template, "AWS::S3::Bucket")
    for name, bucket in buckets.items():
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse"), name
    assert _deny_insecure_transport_targets(template, "AWS::S3::BucketPolicy", "Bucket") == set(buckets)
    for policy in _resources(template, "AWS::S3::BucketPolicy").values():
        (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Effect") == "Deny"]
        assert len(deny["Resource"]) == 2  # the bucket and its objects

    # Queues: SSE-SQS or KMS, and a queue policy denying non-TLS requests
    queues = _resources(template, "AWS::SQS::Queue")
    for name, queue in queues.items():
        assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue, name
    assert _deny_insecure_transport_targets(template, "AWS::SQS::QueuePolicy", "Queues") == set(queues)

    # Topic: a KMS key (with rotation), and a topic policy denying non-TLS requests
    topics = _resources(template, "AWS::SNS::Topic")
    for name, topic in topics.items():
        key = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
        assert template["Resources"][key]["Properties"]["EnableKeyRotation"] is True, name
    assert _deny_insecure_transport_targets(template, "AWS::SNS::TopicPolicy", "Topics") == set(topics)

    # Table: server-side encryption (KMS) and point-in-time recovery. DynamoDB's API is HTTPS only, so
    # TLS needs no policy there; the functions' clients are checked to use it below.
    tables = _resources(template, "AWS::DynamoDB::Table")
    for name, table in tables.items():
        assert table["SSESpecification"]["SSEEnabled"] is True, name
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name

    # Log groups: CloudWatch Logs encrypts them at rest itself; none may be left without a retention
    for name, group in _resources(template, "AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group, name

    figure(
        "Security (encryption, TLS)",
        f"{len(buckets)} bucket, {len(queues)} queues, {len(topics)} topic, {len(tables)} table: "
        "all encrypted at rest; bucket, queues and topic deny any request without TLS (aws:SecureTransport)",
    )


def test_the_functions_talk_to_aws_over_https_only(stack: EmulatedStack) -> None:
    # Given the clients the shared package creates (the local stack points them at moto in-process)
    clients = [aws.client(service) for service in ("dynamodb", "sqs", "sns", "batch")] + [aws.submit_client()]

    # Then every endpoint is https (no client disables TLS or certificate checks)
    for client in clients:
        assert client.meta.endpoint_url.startswith("https://"), client.meta.endpoint_url
        assert client._endpoint.http_session._verify is not False
