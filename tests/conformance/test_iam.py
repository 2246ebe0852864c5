"""The evaluator decides small policies as AWS documents, and refuses what it does not implement.

Proven: allow, explicit deny wins, no match is an implicit deny, wildcards in actions (case-insensitive)
and resources, NotAction/NotResource, principals, the KMS and trust-policy rules, every supported
condition operator true and false, a missing key with and without IfExists, ForAnyValue/ForAllValues,
and that unsupported operators, keys, principals and policy variables raise.
Not proven: agreement with AWS beyond these documented cases (there is no account to compare against).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.iam import (
    Policy,
    Request,
    UnsupportedPolicyError,
    conditions_hold,
    evaluate,
    role,
    service,
)

ACCOUNT = "123456789012"
ROLE = role(f"arn:aws:iam::{ACCOUNT}:role/worker")
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def allow(action: Any = "sqs:SendMessage", resource: Any = QUEUE, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy("test", {"Version": "2012-10-17", "Statement": list(statements)})


def send(context: dict[str, Any] | None = None, *, action: str = "sqs:SendMessage", resource: str = QUEUE) -> Request:
    return Request(ROLE, action, resource, context or {})


# ------------------------------------------------------------------------------------------ basics
def test_an_identity_policy_allows_its_action_on_its_resource() -> None:
    assert evaluate(send(), [policy(allow())]).allowed


def test_nothing_allows_by_default() -> None:
    decision = evaluate(send(), [policy(allow(action="sqs:ReceiveMessage"))])
    assert not decision.allowed
    assert decision.reason.startswith("implicitly denied")


def test_an_explicit_deny_wins_over_any_allow() -> None:
    # Given an allow in the identity policy and a deny in the resource policy
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE}

    # Then the request is denied, and the deny is named
    decision = evaluate(send(), [policy(allow())], policy(deny))
    assert not decision.allowed
    assert decision.denied_by == ("test/0",)


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("SQS:send*", QUEUE, True),  # actions are case-insensitive, with wildcards
        ("sqs:Send?essage", QUEUE, True),
        ("sqs:Receive*", QUEUE, False),
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:*", True),
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:JOBS", False),  # resources are case-sensitive
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:job?", True),
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs:*", False),
    ],
)
def test_wildcards_in_actions_and_resources(action: str, resource: str, allowed: bool) -> None:
    assert evaluate(send(), [policy(allow(action, resource))]).allowed is allowed


def test_not_action_and_not_resource_allow_everything_else() -> None:
    everything_else = {"Effect": "Allow", "NotAction": "sqs:DeleteQueue", "NotResource": f"{QUEUE}-dlq"}
    assert evaluate(send(), [policy(everything_else)]).allowed
    assert not evaluate(send(action="sqs:DeleteQueue"), [policy(everything_else)]).allowed
    assert not evaluate(send(resource=f"{QUEUE}-dlq"), [policy(everything_else)]).allowed


# ------------------------------------------------------------------------------------------ principals
def test_a_resource_policy_allows_the_service_it_names_and_no_other() -> None:
    queue_policy = policy(allow(Principal={"Service": "s3.amazonaws.com"}))
    assert evaluate(Request(service("s3.amazonaws.com"), "sqs:SendMessage", QUEUE), [], queue_policy).allowed
    assert not evaluate(Request(service("sns.amazonaws.com"), "sqs:SendMessage", QUEUE), [], queue_policy).allowed


def test_a_resource_policy_allows_a_role_it_names() -> None:
    assert evaluate(send(), [], policy(allow(Principal={"AWS": ROLE.name}))).allowed
    assert not evaluate(send(), [], policy(allow(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"}))).allowed


def test_a_key_policy_must_allow_directly_or_delegate_to_the_account() -> None:
    # Given an identity policy allowing the key, and key policies with and without the account statement
    identity = [policy(allow("kms:Decrypt", KEY))]
    root = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    delegating = policy(allow("kms:*", "*", Principal=root))
    other_service = policy(allow("kms:*", "*", Principal={"Service": "cloudwatch.amazonaws.com"}))
    request = Request(ROLE, "kms:Decrypt", KEY)

    # Then only delegation makes the identity policy count, and delegation alone grants nothing
    assert evaluate(request, identity, delegating, mode="kms").allowed
    assert not evaluate(request, identity, other_service, mode="kms").allowed
    assert not evaluate(request, [], delegating, mode="kms").allowed


def test_a_trust_policy_must_name_the_service_that_assumes_the_role() -> None:
    trust = policy({"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"})
    assume = "sts:AssumeRole"
    assert evaluate(Request(service("lambda.amazonaws.com"), assume, ROLE.name), [], trust, mode="trust").allowed
    assert not evaluate(Request(service("states.amazonaws.com"), assume, ROLE.name), [], trust, mode="trust").allowed


@pytest.mark.parametrize(
    "principal",
    [{"Federated": "cognito-identity.amazonaws.com"}, {"CanonicalUser": "abc"}],
)
def test_unsupported_principals_raise(principal: dict[str, str]) -> None:
    with pytest.raises(UnsupportedPolicyError):
        evaluate(send(), [], policy(allow(Principal=principal)))


def test_not_principal_raises() -> None:
    with pytest.raises(UnsupportedPolicyError, match="NotPrincipal"):
        evaluate(send(), [], policy(allow(NotPrincipal={"AWS": ROLE.name})))


# ------------------------------------------------------------------------------------------ conditions
SOURCE = "arn:aws:s3:::input-bucket"
CASES: list[tuple[str, Any, dict[str, Any], bool]] = [
    ("StringEquals", ACCOUNT, {"aws:SourceAccount": ACCOUNT}, True),
    ("StringEquals", ACCOUNT, {"aws:SourceAccount": "999999999999"}, False),
    ("StringNotEquals", ACCOUNT, {"aws:SourceAccount": "999999999999"}, True),
    ("StringNotEquals", ACCOUNT, {"aws:SourceAccount": ACCOUNT}, False),
    ("StringEqualsIgnoreCase", "SNS.us-east-1.amazonaws.com", {"kms:ViaService": "sns.us-east-1.amazonaws.com"}, True),
    (
        "StringNotEqualsIgnoreCase",
        "SNS.us-east-1.amazonaws.com",
        {"kms:ViaService": "sns.us-east-1.amazonaws.com"},
        False,
    ),
    ("StringLike", "incoming/*", {"s3:prefix": "incoming/a.csv"}, True),
    ("StringLike", "incoming/?.csv", {"s3:prefix": "incoming/ab.csv"}, False),
    ("StringNotLike", "output/*", {"s3:prefix": "incoming/a.csv"}, True),
    ("StringNotLike", "incoming/*", {"s3:prefix": "incoming/a.csv"}, False),
    ("ArnEquals", SOURCE, {"aws:SourceArn": SOURCE}, True),
    ("ArnLike", "arn:aws:s3:::input-*", {"aws:SourceArn": SOURCE}, True),
    ("ArnLike", "arn:aws:s3:::other-*", {"aws:SourceArn": SOURCE}, False),
    (
        "ArnLike",
        "arn:aws:cloudwatch:*:*:alarm:stack-*",
        {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:1:alarm:x"},
        False,
    ),
    ("ArnNotEquals", SOURCE, {"aws:SourceArn": "arn:aws:s3:::other"}, True),
    ("ArnNotLike", "arn:aws:s3:::input-*", {"aws:SourceArn": SOURCE}, False),
    ("Bool", "false", {"aws:SecureTransport": False}, True),
    ("Bool", "false", {"aws:SecureTransport": True}, False),
    ("NumericLessThan", "10", {"aws:SourceAccount": "9"}, True),
    ("NumericGreaterThanEquals", "10", {"aws:SourceAccount": "9"}, False),
    ("NumericEquals", "10", {"aws:SourceAccount": "10.0"}, True),
    ("NumericNotEquals", "10", {"aws:SourceAccount": "10"}, False),
    ("NumericLessThanEquals", "10", {"aws:SourceAccount": "10"}, True),
    ("NumericGreaterThan", "10", {"aws:SourceAccount": "10"}, False),
    ("StringEquals", [ACCOUNT, "999999999999"], {"aws:SourceAccount": "999999999999"}, True),  # values: any of
    ("Null", "true", {}, True),  # the key is absent
    ("Null", "true", {"aws:SourceArn": SOURCE}, False),
    ("Null", "false", {"aws:SourceArn": SOURCE}, True),
]


@pytest.mark.parametrize(("operator", "expected", "context", "holds"), CASES)
def test_each_condition_operator(operator: str, expected: Any, context: dict[str, Any], holds: bool) -> None:
    key = next(iter(context), "aws:SourceArn")
    assert conditions_hold({operator: {key: expected}}, context) is holds


@pytest.mark.parametrize(
    ("operator", "holds"),
    [
        ("StringEquals", False),  # a missing key matches nothing...
        ("ArnLike", False),
        ("Bool", False),
        ("StringNotEquals", True),  # ...so a negated operator holds (documented)
        ("ArnNotLike", True),
        ("StringEqualsIfExists", True),  # IfExists: no key, no test
        ("ArnLikeIfExists", True),
        ("BoolIfExists", True),
    ],
)
def test_a_key_missing_from_the_request(operator: str, holds: bool) -> None:
    assert conditions_hold({operator: {"aws:SourceArn": "arn:aws:s3:::x"}}, {}) is holds


def test_if_exists_still_tests_a_present_key() -> None:
    assert not conditions_hold({"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}, {"aws:SourceAccount": "1"})


def test_every_operator_and_key_must_hold() -> None:
    block = {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": SOURCE}}
    assert conditions_hold(block, {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": SOURCE})
    assert not conditions_hold(block, {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": "arn:aws:s3:::other"})


def test_condition_key_names_are_case_insensitive() -> None:
    assert conditions_hold({"ArnLike": {"AWS:SourceArn": SOURCE}}, {"aws:sourcearn": SOURCE})


@pytest.mark.parametrize(
    ("operator", "values", "holds"),
    [
        ("ForAnyValue:StringLike", ("incoming/a", "other/b"), True),
        ("ForAnyValue:StringLike", ("other/b",), False),
        ("ForAnyValue:StringLike", None, False),  # missing: no value matches
        ("ForAllValues:StringLike", ("incoming/a", "incoming/b"), True),
        ("ForAllValues:StringLike", ("incoming/a", "other/b"), False),
        ("ForAllValues:StringLike", None, True),  # missing: vacuously true (documented)
    ],
)
def test_multivalued_keys(operator: str, values: tuple[str, ...] | None, holds: bool) -> None:
    context = {} if values is None else {"s3:prefix": values}
    assert conditions_hold({operator: {"s3:prefix": "incoming/*"}}, context) is holds


def test_a_condition_in_a_statement_decides_the_request() -> None:
    statement = allow(Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}})
    assert evaluate(send({"aws:SourceAccount": ACCOUNT}), [policy(statement)]).allowed
    assert not evaluate(send({"aws:SourceAccount": "999999999999"}), [policy(statement)]).allowed


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"DateLessThan": {"aws:SourceArn": "x"}}, "operator 'DateLessThan'"),
        ({"IpAddress": {"aws:SourceArn": "x"}}, "operator 'IpAddress'"),
        ({"StringEquals": {"aws:SourceVpce": "x"}}, "key 'aws:SourceVpce'"),
        ({"StringEquals": {"aws:SourceArn": "${aws:username}"}}, "policy variable"),
        ({"ForAnyValue:StringLikeIfExists": {"s3:prefix": "x"}}, "qualifier with ...IfExists"),
        ({"StringLike": {"s3:prefix": "x"}}, "multivalued key"),
        ({"ArnLike": {"aws:SourceArn": "not-an-arn"}}, "is not an ARN"),
    ],
)
def test_what_the_evaluator_does_not_implement_raises(block: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedPolicyError, match=message.replace("(", r"\(").replace(".", r"\.")):
        conditions_hold(block, {"aws:SourceArn": "arn:aws:s3:::x", "s3:prefix": ("a", "b")})


def test_a_policy_variable_in_a_resource_raises() -> None:
    with pytest.raises(UnsupportedPolicyError, match="policy variable"):
        evaluate(send(), [policy(allow(resource="arn:aws:s3:::bucket/${aws:username}/*"))])
