"""`orchestrator smoke`: after `sam deploy`, prove with one command that the deployed stack works.

A green emulator run proves the logic, not that AWS accepts the requests: this command drives the
deployed stack through its real paths and reads the outcome from the stack's own records. Against
the local stack (``--local`` / ``--endpoint-url``) the same code runs, but what the endpoint does is
simulated there (see the note it prints); the real-account run is the one that proves a deployment.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from copy import replace
from typing import Any

from orchestrator_cli.aws import Aws, aws_environment
from orchestrator_cli.context import Context
from orchestrator_cli.errors import UsageError
from orchestrator_cli.local_serve import LOCAL_STACK_NAME, fake_credentials, find_local_serve, state_file
from orchestrator_cli.parsing import positive_int
from orchestrator_cli.smoke_report import render_text
from orchestrator_cli.smoke_run import SmokeRun
from orchestrator_cli.smoke_steps import CANARY_CONTRACT, Clock

DEFAULT_TIMEOUT_SECONDS = 900  # per step: a Fargate job may take minutes to get capacity and pull its image
CLOCK = Clock()  # replaced by tests

DESCRIPTION = """\
Prove that a deployed stack works, end to end, in one command (run it after `sam deploy`):

  1 upload succeeds  uploads <InputPrefix>smoke/<smoke id>/smoke-ok.txt and waits for its run to SUCCEED
  2 failure alerts   uploads .../smoke-fail-exit-N.txt (first line '#exit N'; N = 3, or the lowest code
                     RetryExitCodes does not retry) and waits for its run to FAIL and for its alert on a
                     temporary SQS queue subscribed to the alerts topic
  3 schedule fires   if the schedule is ENABLED: invokes SubmitScheduledFunction with the schedule's own
                     payload for a scheduled time of its own, and waits for that run to SUCCEED
                     (SKIPPED when the schedule is DISABLED)
  4 alarms known     every CloudWatch alarm of the stack is OK or INSUFFICIENT_DATA
  5 job definitions  every job definition of the stack is ACTIVE and is what its submissions run: the
                     default's by ARN; each workload's found by name, as the functions submit it
  6 clean up         removes the canaries (every version), the results the jobs wrote for these runs,
                     the runs' items, the temporary queue and subscription - also after a failure or
                     Ctrl-C; --keep leaves them for debugging

Steps 1-3 run at the same time; each has --timeout seconds. A step that FAILS says what it expected,
what it saw (run status, exit code, reason) and where to look.
"""

_CONTRACT = textwrap.fill(
    f"Step 2 needs a job that fails for good on the failure canary: {CANARY_CONTRACT}. The template's default "
    "placeholder command and jobs/sample both honour it. A job of your own that succeeds on it makes step 2 "
    "NOT VERIFIED (the alert path was not exercised), not PASSED.",
    width=100,
    initial_indent="  ",
    subsequent_indent="  ",
)

EPILOG = f"""\
the canary contract:
{_CONTRACT}

result and exit code:
  0 when no step FAILED (NOT VERIFIED and SKIPPED steps are named in the verdict); 6 when one did;
  130 after Ctrl-C (what was created is removed first); 2/3/4 as for every command (no stack, ...).

IAM permissions of the identity running it (STACK = stack name, resources of that stack):
  cloudformation:DescribeStacks, cloudformation:ListStackResources   the stack
  s3:PutObject                          <bucket>/<InputPrefix>smoke/*
  s3:ListBucketVersions                 the input bucket
  s3:DeleteObjectVersion                <bucket>/<InputPrefix>smoke/* and <bucket>/<OutputPrefix>*
  dynamodb:GetItem, DeleteItem          the runs table
  sqs:CreateQueue, sqs:TagQueue, sqs:GetQueueAttributes, sqs:SetQueueAttributes, sqs:ReceiveMessage,
  sqs:DeleteMessage, sqs:DeleteQueue    arn:aws:sqs:REGION:ACCOUNT:<first 40 chars of STACK>-smoke-*
  sns:Subscribe, sns:Unsubscribe, sns:ConfirmSubscription             the alerts topic
  scheduler:GetSchedule                 schedule/default/<the ScheduleName output>
  lambda:InvokeFunction                 the SubmitScheduled function
  cloudwatch:DescribeAlarms             "*"
  batch:DescribeJobDefinitions          "*" (no resource-level permission)
  No KMS permission: SNS decrypts an alert before delivering it, and the temporary queue uses
  SQS-managed encryption (SSE-SQS), which needs no key policy.

examples:
  orchestrator smoke --stack batch-orchestrator --region eu-west-1 --profile admin
  orchestrator smoke --config-env prod --json
  orchestrator smoke --local            (against `make serve`; `make smoke` does it all)
"""


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "smoke",
        parents=parents,
        help="post-deploy smoke test: upload, failure alert, schedule and alarms, then clean up",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--stack", dest="stack_name", metavar="NAME", default=argparse.SUPPRESS, help="the stack (= --stack-name)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long each step may take (default {DEFAULT_TIMEOUT_SECONDS})",
    )
    parser.add_argument("--keep", action="store_true", help="leave what the smoke test created, for debugging")
    parser.add_argument(
        "--local",
        action="store_true",
        help="test the local stack `make serve` is running (its endpoint, fake credentials); nothing reaches AWS",
    )
    parser.set_defaults(handler=smoke)


def smoke(ctx: Context, args: argparse.Namespace) -> int:
    if not args.local:
        return _run(ctx, args, simulated=bool(ctx.settings.endpoint_url))
    if ctx.settings.endpoint_url:
        raise UsageError("--local and --endpoint-url both name an endpoint", hint="pass one of them")
    named = ctx.settings.sources.get("stack_name") == "flag" and ctx.settings.stack_name
    serve = find_local_serve(named or LOCAL_STACK_NAME)
    settings = replace(
        ctx.settings,
        stack_name=serve.stack_name,
        region=serve.region,
        profile=None,
        endpoint_url=serve.endpoint_url,
        sources={**ctx.settings.sources, "endpoint_url": f"--local ({state_file(serve.stack_name)})"},
    )
    with fake_credentials(), aws_environment(settings):
        local = Context(settings=settings, aws=Aws(), out=ctx.out, now=ctx.now)
        return _run(local, args, simulated=True)


def _run(ctx: Context, args: argparse.Namespace, *, simulated: bool) -> int:
    deployment = ctx.deployment()
    smoke_run = SmokeRun(ctx, deployment, timeout=args.timeout, clock=CLOCK, progress=_progress)
    report = smoke_run.run(keep=args.keep)
    if simulated:
        report.notes.append(
            f"{ctx.settings.endpoint_url} is not AWS. Against `make serve`, Lambda Invoke runs the handler in the "
            "serve process, Batch jobs are local processes and SNS delivers through moto: all SIMULATED. Run the "
            "smoke test against your deployed stack to prove it on AWS."
        )
    if ctx.out.json_mode:
        ctx.out.json(report.to_json())
    else:
        ctx.out.lines(render_text(report))
    return report.verdict().exit_code


def _progress(text: str) -> None:
    sys.stderr.write(f"orchestrator: smoke: {text}\n")
    sys.stderr.flush()
