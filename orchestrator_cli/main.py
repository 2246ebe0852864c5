"""`orchestrator`: the operator CLI of a Batch Orchestrator stack.

``main(argv)`` parses, runs one command and returns its exit code (see orchestrator_cli.errors);
it never calls sys.exit itself, so tests call it directly. The commands (and through them the
shared package) are imported only once the X-Ray SDK is loaded without the profile (see
``load_xray_sdk_without_profile``): a bad AWS_PROFILE must not break --help.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from batch_orchestrator.timeutil import utcnow
from orchestrator_cli.aws import Aws, aws_environment, load_xray_sdk_without_profile
from orchestrator_cli.errors import CliError, ExitCode
from orchestrator_cli.local_serve import auto_local_serve, fake_credentials, local_settings
from orchestrator_cli.parsing import ENDPOINT_FORM, endpoint_url, region_name
from orchestrator_cli.render import Output
from orchestrator_cli.settings import DEFAULT_CONFIG_ENV, DEFAULT_CONFIG_FILE, resolve_settings

PROG = "orchestrator"

EPILOG = f"""\
The stack name, region and profile default to samconfig.toml in the current directory
([<config-env>.deploy.parameters], then [<config-env>.global.parameters]); then boto3's usual
chain (AWS_REGION, AWS_PROFILE, ~/.aws/config). Global options go before or after the command.

the local stack: while `make serve` runs, a command that names no target uses it (its endpoint,
region, stack and fake credentials) and says so on stderr. Naming a target means any of
--stack-name, --profile, --endpoint-url, --region, --config-env, --config-file, AWS_PROFILE,
AWS_DEFAULT_PROFILE, AWS_ENDPOINT_URL[_<SERVICE>] or a profile in samconfig.toml; samconfig.toml's
stack_name and AWS_REGION do not.

exit codes:
  {ExitCode.OK:d}  ok
  {ExitCode.UNEXPECTED:d}  unexpected error (-v prints the traceback)
  {ExitCode.USAGE:d}  usage: bad arguments, malformed run id or S3 URL, no stack name or region
  {ExitCode.NOT_FOUND:d}  not found: stack, stack output, run, S3 object
  {ExitCode.AWS:d}  AWS or credentials: no/expired credentials, access denied, unreachable endpoint, throttling
  {ExitCode.REFUSED:d}  refused or conflict: the action does not fit the run's state (e.g. retry of a
     SUCCEEDED run without --force), object outside the input prefix, run changed meanwhile
  {ExitCode.CHECK_FAILED:d}  a check failed: `smoke` ran and at least one step FAILED (NOT VERIFIED and SKIPPED
     steps do not fail it)
  {ExitCode.INTERRUPTED:d}  interrupted (Ctrl-C); `smoke` removes what it created first

examples:
  {PROG} runs list                                        (with `make serve` running: the local stack)
  {PROG} stack
  {PROG} runs list --status failed --since 1d
  {PROG} runs show s3-0123456789abcdef01234567
  {PROG} runs retry s3-0123456789abcdef01234567
  {PROG} submit "s3://my-input-bucket/incoming/report 2026.csv"
  {PROG} request reports --key invoice-2026-03-0042 --env CUSTOMER_ID=c-1842 --payload '{{"month": "2026-03"}}'
  {PROG} dlq list && {PROG} dlq redrive --queue submit
  {PROG} smoke --stack my-stack --region eu-west-1        (after `sam deploy`: proves the deployed stack works)
  {PROG} smoke --local                                    (against `make serve`)
  {PROG} --endpoint-url http://localhost:5000 --stack-name batch-orchestrator-local runs list
"""

# name → (default, add_argument keyword arguments); defaults are applied after parsing so that an
# option given after the command is not overwritten by the same option's default before it.
_GLOBAL_OPTIONS: dict[str, tuple[Any, dict[str, Any]]] = {
    "stack_name": (None, {"flags": ["--stack-name"], "metavar": "NAME", "help": "CloudFormation stack"}),
    "region": (None, {"flags": ["--region"], "type": region_name, "help": "AWS region"}),
    "profile": (None, {"flags": ["--profile"], "help": "AWS profile (wins over credentials in the environment)"}),
    "endpoint_url": (
        None,
        {
            "flags": ["--endpoint-url"],
            "metavar": "URL",
            "type": endpoint_url,
            "help": f"AWS endpoint ({ENDPOINT_FORM}), e.g. a moto server for the local stack",
        },
    ),
    "config_env": (
        None,
        {
            "flags": ["--config-env"],
            "metavar": "ENV",
            "help": f"samconfig.toml environment (default {DEFAULT_CONFIG_ENV})",
        },
    ),
    "config_file": (
        None,
        {"flags": ["--config-file"], "metavar": "PATH", "help": f"SAM config file (default ./{DEFAULT_CONFIG_FILE})"},
    ),
    "json": (False, {"flags": ["--json"], "action": "store_true", "help": "print JSON (errors too) for scripts"}),
    "verbose": (0, {"flags": ["-v", "--verbose"], "action": "count", "help": "say more (-vv: every AWS call)"}),
}


def _global_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("global options")
    for dest, (_default, spec) in _GLOBAL_OPTIONS.items():
        options = dict(spec)
        flags = options.pop("flags")
        group.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, **options)
    return parent


def build_parser() -> argparse.ArgumentParser:
    load_xray_sdk_without_profile()
    from orchestrator_cli.commands import dlq, request, runs, smoke, stack, submit

    parents = [_global_options()]
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=parents,
        description=(
            "Operate a Batch Orchestrator stack: its runs, manual submissions and run requests, dead-letter queues and "
            "smoke test."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    stack.add_parser(commands, parents)
    runs.add_parser(commands, parents)
    submit.add_parser(commands, parents)
    request.add_parser(commands, parents)
    dlq.add_parser(commands, parents)
    smoke.add_parser(commands, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    from orchestrator_cli.context import Context  # only after build_parser: see the module docstring

    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    for dest, (default, _spec) in _GLOBAL_OPTIONS.items():
        if not hasattr(args, dest):
            setattr(args, dest, default)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return ExitCode.USAGE

    out = Output(json_mode=args.json)
    handler = _start_logging(args.verbose)
    try:
        settings = resolve_settings(
            stack_name=args.stack_name,
            region=args.region,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
            config_env=args.config_env,
            config_file=args.config_file,
            environ=os.environ,
        )
        # `smoke --local` finds the serve itself (also for a stack it names).
        serve = None if getattr(args, "local", False) else auto_local_serve(settings, os.environ)
        credentials: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if serve is not None:
            settings = local_settings(settings, serve, how="local serve")
            credentials = fake_credentials()
            sys.stderr.write(
                f"{PROG}: using the local serve at {serve.endpoint_url} (stack {serve.stack_name}); "
                "pass --stack-name to use AWS\n"
            )
        with credentials, aws_environment(settings):
            context = Context(settings=settings, aws=Aws(), out=out, now=utcnow())
            return int(args.handler(context, args))
    except CliError as exc:
        _report(out, exc.kind, exc.message, exc.hint, exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug or an answer we did not foresee: say so, with the details on -v
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        hint = None if args.verbose else "run again with -v for the traceback"
        _report(out, "UNEXPECTED", f"{type(exc).__name__}: {exc}", hint, ExitCode.UNEXPECTED)
        return ExitCode.UNEXPECTED
    finally:
        logging.getLogger("orchestrator_cli").removeHandler(handler)


def _report(out: Output, kind: str, message: str, hint: str | None, code: int) -> None:
    """Errors go to stderr for people; with --json, the same as a JSON document on stdout for scripts."""
    sys.stderr.write(f"{PROG}: error: {message}\n")
    if hint:
        sys.stderr.write(f"{PROG}: hint: {hint}\n")
    if out.json_mode:
        out.stream.write(
            json.dumps({"error": {"type": kind, "message": message, "hint": hint, "exitCode": int(code)}}, indent=2)
            + "\n"
        )


def _start_logging(verbose: int) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    logger = logging.getLogger("orchestrator_cli")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
    return handler


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
