"""`orchestrator stack`: the deployment's status, outputs and parameters (CloudFormation DescribeStacks)."""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator_cli.context import Context
from orchestrator_cli.render import fields


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "stack",
        parents=parents,
        help="show the deployment's outputs and parameters",
        description="Show the stack's status, outputs and parameters (CloudFormation DescribeStacks).",
    )
    parser.set_defaults(handler=show_stack)


def show_stack(ctx: Context, args: argparse.Namespace) -> int:
    deployment = ctx.deployment()
    if ctx.out.json_mode:
        ctx.out.json(deployment.to_json())
        return 0
    when = deployment.updated_at or deployment.created_at
    status = deployment.status + (f" (last change {when:%Y-%m-%dT%H:%M:%SZ})" if when else "")
    ctx.out.lines(fields([("Stack", deployment.name), ("Status", status), ("Region", deployment.region)]))
    ctx.out.line()
    ctx.out.line("Outputs")
    ctx.out.lines(fields(sorted(deployment.outputs.items()), indent=2) or ["  (none)"])
    ctx.out.line()
    ctx.out.line("Parameters")
    parameters = [(name, value if value != "" else "(empty)") for name, value in sorted(deployment.parameters.items())]
    ctx.out.lines(fields(parameters, indent=2) or ["  (none)"])
    return 0
