"""Why moto's CloudFormation did not create (all of) the stack: the messages ``deploy_stack`` reports.

Owns the diagnosis of a failed or partial CreateStack: which resource moto was creating when
CreateStack failed (``describe_create_failure``), which resources a failed stack reports as
failed (``failed_resources``), and which resources moto skipped without an error although their
Condition holds (``skipped_resources``). The invariant: every message names the logical ids (and
types) involved, so a failure points at the resource of template.yaml to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.template import PreparedTemplate


def failed_resources(cloudformation: Any, stack_name: str) -> list[str]:
    """The resources a stack that ended other than CREATE_COMPLETE reports as failed, with their reasons."""
    return [
        f"{event['LogicalResourceId']} ({event.get('ResourceType')}): {event.get('ResourceStatusReason', '')}"
        for event in cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
        if event.get("ResourceStatus", "").endswith("_FAILED")
    ]


def describe_create_failure(
    exc: Exception, prepared: PreparedTemplate, stack_name: str, account_id: str, region: str
) -> str:
    """A message naming what moto was creating when CreateStack failed.

    moto creates resources synchronously, one after another, and lazily (a Ref creates its
    target first). In-process, the traceback shows the chain of resources being created when
    an error escaped; an error moto turned into an API error leaves no such trace, so the
    resources it had not created yet are listed instead (read from moto's backend).
    """
    types = {k: r.get("Type") for k, r in prepared.deployable["Resources"].items()}
    chain: list[str] = []
    traceback = exc.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "parse_and_create_resource":
            logical_id = frame.f_locals.get("logical_id")
            if isinstance(logical_id, str) and logical_id not in chain:
                chain.append(logical_id)
        traceback = traceback.tb_next
    message = f"moto could not create stack {stack_name}: {_error_text(exc)}"
    if chain:
        where = " → ".join(f"{name} ({types.get(name)})" for name in chain)
        return f"{message}\nfailed resource: {chain[-1]} ({types.get(chain[-1])}); creation chain: {where}"
    progress = _moto_progress(stack_name, account_id, region)
    if progress is not None:
        created, conditions = progress
        missing = [
            f"{name} ({kind})"
            for name, kind in types.items()
            if name not in created and conditions.get(prepared.deployable["Resources"][name].get("Condition"), True)
        ]
        if missing:
            return (
                f"{message}\nfirst resource not created (the failed one, or one that needs it): {missing[0]}; "
                f"{len(missing) - 1} more not created: {missing[1:]}"
            )
    return message


_EMBEDDED_JSON_ERROR = re.compile(r'"__type": "([^"]*)", "message": "((?:[^"\\]|\\.)*)"')


def _error_text(exc: Exception) -> str:
    """moto answers some CreateStack errors in JSON where botocore expects XML; show just the error."""
    found = _EMBEDDED_JSON_ERROR.search(str(exc))
    return f"{found.group(1)}: {found.group(2)}" if found else f"{type(exc).__name__}: {exc}"


def _moto_progress(stack_name: str, account_id: str, region: str) -> tuple[set[str], dict[str, bool]] | None:
    """In-process only: the logical ids moto created for the stack, and its Conditions' values."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return None
    try:
        from moto.cloudformation.models import cloudformation_backends

        stacks = cloudformation_backends[account_id][region].stacks.values()
        resource_map = next(stack for stack in stacks if stack.name == stack_name).resource_map
        created = {name for name, value in resource_map._parsed_resources.items() if not isinstance(value, str)}
        return created, {name: bool(resource_map.lazy_condition_map[name]) for name in resource_map.lazy_condition_map}
    except (ImportError, StopIteration, AttributeError, KeyError):
        return None


def skipped_resources(
    prepared: PreparedTemplate, created: Mapping[str, str], conditions: Mapping[str, bool]
) -> list[str]:
    """The resources moto did not create although their Condition holds (it skips types it has no model for)."""
    skipped = []
    for logical_id, resource in prepared.deployable["Resources"].items():
        condition = resource.get("Condition")
        if logical_id not in created and (condition is None or conditions.get(condition, True)):
            skipped.append(logical_id)
    return skipped
