"""Small checkers of AWS request limits, reading every number and rule from batch_orchestrator.limits.

Each checker returns the list of violations it found (empty when the request is within its limits),
so a test can assert both that a real request passes and that the same checker rejects an input
one byte, one character or one tag over the limit. None of them re-implements AWS: they apply the
documented rule that ``limits.py`` records, with its source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from batch_orchestrator.limits import (
    BATCH_JOB_NAME,
    BATCH_PROPAGATED_TAGS,
    BATCH_RESERVED_ENVIRONMENT_PREFIX,
    BATCH_SUBMIT_JOB_PAYLOAD,
    BATCH_TAG_KEY,
    BATCH_TAG_VALUE,
    BATCH_TAGS_PER_RESOURCE,
    DYNAMODB_MAX_ITEM_SIZE,
    ECS_RUN_TASK_OVERRIDES,
    SNS_MAX_MESSAGE_SIZE,
    SNS_MESSAGE_ATTRIBUTE_NAME,
    SNS_MESSAGE_ATTRIBUTE_TYPE,
    SNS_RAW_DELIVERY_ATTRIBUTES,
    SNS_STRUCTURED_DEFAULT,
    SNS_SUBJECT,
    SNS_SUBSCRIPTION_PROTOCOLS,
    SQS_MAX_DELAY,
    SQS_MESSAGE_CHARACTERS,
    SUBMIT_QUEUE_MESSAGE_BUDGET,
    TAG_RESERVED_PREFIX,
    NameRule,
    Reserved,
)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def name_violations(what: str, text: str, rule: NameRule) -> list[str]:
    """``text`` against a NameRule: its length and its pattern over the whole text."""
    problems = []
    if len(text) > rule.max_length:
        problems.append(f"{what}: {len(text)} characters, more than {rule.max_length} ({rule.source})")
    if not re.fullmatch(rule.pattern, text):
        problems.append(f"{what}: {text[:60]!r}... does not match {rule.pattern} ({rule.source})")
    return problems


def takes_reserved(text: str, reserved: Reserved) -> bool:
    if reserved.case_sensitive:
        return text.startswith(reserved.prefix)
    return text.casefold().startswith(reserved.prefix.casefold())


# ------------------------------------------------------------------------------------------ Batch


def job_name_violations(name: str) -> list[str]:
    return name_violations("jobName", name, BATCH_JOB_NAME)


def tag_violations(tags: Mapping[str, str], *, inherited_tags: int = 0) -> list[str]:
    """A job's tags: count, key and value rules, the reserved prefix; with propagateTags, the job's tags
    plus ``inherited_tags`` (its job definition's) must stay within the combined maximum."""
    problems = []
    if len(tags) > BATCH_TAGS_PER_RESOURCE.value:
        problems.append(f"{len(tags)} tags, more than {BATCH_TAGS_PER_RESOURCE.value}")
    if len(tags) + inherited_tags > BATCH_PROPAGATED_TAGS.value:
        problems.append(f"{len(tags)} + {inherited_tags} propagated tags, more than {BATCH_PROPAGATED_TAGS.value}")
    for key, value in tags.items():
        problems += name_violations(f"tag key {key!r}", key, BATCH_TAG_KEY)
        problems += name_violations(f"tag value of {key!r}", value, BATCH_TAG_VALUE)
        for text in (key, value):
            if takes_reserved(text, TAG_RESERVED_PREFIX):
                problems.append(f"tag {key!r}: {text[:20]!r} uses the reserved prefix {TAG_RESERVED_PREFIX.prefix}")
    return problems


def environment_violations(environment: Sequence[Mapping[str, str]]) -> list[str]:
    """containerOverrides.environment: names present, unique, not in Batch's reserved namespace."""
    problems = []
    names = [variable.get("name", "") for variable in environment]
    for name in names:
        if not name:
            problems.append("an environment variable has no name")
        elif takes_reserved(name, BATCH_RESERVED_ENVIRONMENT_PREFIX):
            problems.append(f"environment variable {name} starts with {BATCH_RESERVED_ENVIRONMENT_PREFIX.prefix}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"environment variables set twice: {duplicates}")
    for variable in environment:
        if not isinstance(variable.get("value"), str):
            problems.append(f"environment variable {variable.get('name')} has no string value")
    return problems


def overrides_violations(container_overrides: Mapping[str, Any]) -> list[str]:
    """The overrides as ECS would count them, every non-ASCII character escaped (the longest spelling)."""
    length = len(json.dumps(container_overrides, ensure_ascii=True))
    if length > ECS_RUN_TASK_OVERRIDES.value:
        return [f"containerOverrides: {length} characters of JSON, more than {ECS_RUN_TASK_OVERRIDES.value}"]
    return []


def submit_payload_violations(body: bytes) -> list[str]:
    if len(body) > BATCH_SUBMIT_JOB_PAYLOAD.value:
        return [f"SubmitJob payload of {len(body)} bytes, more than {BATCH_SUBMIT_JOB_PAYLOAD.value}"]
    return []


# ------------------------------------------------------------------------------------------ SQS


def sqs_message_violations(body: str, delay_seconds: int | None = None) -> list[str]:
    """A SubmitQueue message: size within our budget, only the characters SQS accepts, a valid delay."""
    problems = []
    size = utf8_len(body)
    if size > SUBMIT_QUEUE_MESSAGE_BUDGET.value:
        problems.append(f"message of {size} bytes, more than {SUBMIT_QUEUE_MESSAGE_BUDGET.value}")
    if not re.fullmatch(SQS_MESSAGE_CHARACTERS.pattern, body):
        problems.append("message holds characters SQS rejects")
    if delay_seconds is not None and not 0 <= delay_seconds <= SQS_MAX_DELAY.value:
        problems.append(f"DelaySeconds {delay_seconds} outside 0..{SQS_MAX_DELAY.value}")
    return problems


# ------------------------------------------------------------------------------------------ SNS


def sns_publish_violations(subject: str | None, message: str, attributes: Mapping[str, Mapping[str, str]]) -> list[str]:
    """One Publish: the subject's rule, the size of body plus attributes, the attributes' names and count."""
    problems = []
    if subject is not None:
        problems += name_violations("Subject", subject, SNS_SUBJECT)
    size = utf8_len(message)
    if len(attributes) > SNS_RAW_DELIVERY_ATTRIBUTES.value:
        problems.append(f"{len(attributes)} message attributes, more than {SNS_RAW_DELIVERY_ATTRIBUTES.value}")
    for name, attribute in attributes.items():
        data_type = attribute.get("DataType", "")
        value = attribute.get("StringValue", "")
        problems += name_violations(f"attribute name {name!r}", name, SNS_MESSAGE_ATTRIBUTE_NAME)
        if not data_type or utf8_len(data_type) > SNS_MESSAGE_ATTRIBUTE_TYPE.value:
            problems.append(f"attribute {name}: data type {data_type!r} empty or too long")
        if not value:
            problems.append(f"attribute {name}: empty value")
        size += utf8_len(name) + utf8_len(data_type) + utf8_len(value)
    if size > SNS_MAX_MESSAGE_SIZE.value:
        problems.append(f"message and attributes of {size} bytes, more than {SNS_MAX_MESSAGE_SIZE.value}")
    return problems


def sns_structured_message_violations(message: str) -> list[str]:
    """Publish's Message with MessageStructure=json: a JSON object holding a string under "default", every other key
    a subscription protocol (SNS ignores any other key, so a misspelt one would silently fall back to the default),
    every value a string (SNS ignores a key whose value is not one). Its size is sns_publish_violations'."""
    try:
        messages = json.loads(message)
    except ValueError:
        return ["Message is not JSON"]
    if not isinstance(messages, dict):
        return ["Message is not a JSON object"]
    problems = []
    if not isinstance(messages.get(SNS_STRUCTURED_DEFAULT), str):
        problems.append(f'no string under "{SNS_STRUCTURED_DEFAULT}"')
    for key, value in messages.items():
        if key != SNS_STRUCTURED_DEFAULT and key not in SNS_SUBSCRIPTION_PROTOCOLS:
            problems.append(f"key {key!r} is no protocol: SNS ignores it")
        if not isinstance(value, str):
            problems.append(f"the message for {key!r} is not a string: SNS ignores it")
    return problems


# ------------------------------------------------------------------------------------------ DynamoDB


def _number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 byte; leading and trailing zeroes do not count."""
    digits = format(Decimal(text).copy_abs(), "f").replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def attribute_value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value without its name, by DynamoDB's rules (DYNAMODB_ITEM_SIZE_RULES).

    String: its UTF-8 bytes. Number: see _number_size. Binary: its raw bytes. Null and Boolean: 1 byte.
    List and Map: 3 bytes, plus 1 byte per element, plus the elements (with their names, in a Map).
    """
    (kind, data), *_ = value.items()
    if kind == "S":
        return utf8_len(data)
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(item) for item in data)
    if kind == "M":
        return 3 + sum(1 + utf8_len(name) + attribute_value_size(item) for name, item in data.items())
    if kind == "SS":
        return sum(utf8_len(item) for item in data)
    if kind == "NS":
        return sum(_number_size(item) for item in data)
    if kind == "BS":
        return sum(len(item) for item in data)
    raise ValueError(f"unknown attribute value type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size: every attribute's name (UTF-8 bytes) plus its value's size."""
    return sum(utf8_len(name) + attribute_value_size(value) for name, value in item.items())


def item_violations(item: Mapping[str, Mapping[str, Any]]) -> list[str]:
    size = item_size(item)
    if size > DYNAMODB_MAX_ITEM_SIZE.value:
        return [f"item of {size} bytes, more than {DYNAMODB_MAX_ITEM_SIZE.value}"]
    return []
