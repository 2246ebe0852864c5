"""`orchestrator runs list | show | logs | retry | find`: the runs table, read and acted on like the functions do.

Owns the command line of the `runs` subcommands: their arguments, help and which handler each one
runs; the handlers are in runs_list, runs_show (show and logs), runs_retry and runs_find (which adds its own
parser). Invariant: every
subcommand takes the global options and sets exactly one handler.
"""

from __future__ import annotations

import argparse
from typing import Any

from batch_orchestrator.adapters.run_items import ACTIVE_RUNS_INDEX
from batch_orchestrator.models import RunStatus
from batch_orchestrator.workloads import DEFAULT_WORKLOAD
from orchestrator_cli.commands.runs_find import add_find_parser
from orchestrator_cli.commands.runs_list import list_runs
from orchestrator_cli.commands.runs_retry import retry_run
from orchestrator_cli.commands.runs_show import run_logs, show_run
from orchestrator_cli.parsing import positive_int, workload_name

DEFAULT_LIMIT = 50
DEFAULT_MAX_SCAN = 10_000

LIST_HELP = f"""\
Non-terminal runs are read from the sparse {ACTIVE_RUNS_INDEX}: one Query per status,
cheap, proportional to the active runs. SUCCEEDED and FAILED runs are in no index: listing
them Scans the runs table with a filter, reading (and paying for) up to --max-scan items,
then shows the newest --limit. Acceptable for an operator now and then; never put it in a
loop. --since shortens the output, it does not make the Scan cheaper.

--status takes run statuses (any case: {", ".join(s.value.lower() for s in RunStatus)})
and two shorthands: "active" (the default: every non-terminal status) and "all".

--workload keeps the runs of one workload ("{DEFAULT_WORKLOAD}": the one the stack parameters
describe, and every run written before runs recorded their workload). It filters the same
Query and Scan: the runs of other workloads are still read, and paid for.
"""


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    runs = subparsers.add_parser(
        "runs", help="list, show, read the job output of and retry runs", description="Inspect and act on runs."
    )
    commands = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list",
        parents=parents,
        help="runs by status, workload and time, newest first",
        description="List runs by status, workload and time, newest update first.",
        epilog=LIST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="a run status, or 'active' (default) or 'all'; repeat or comma-separate for several",
    )
    listing.add_argument(
        "--workload",
        type=workload_name,
        metavar="NAME",
        help=f"only the runs of this workload ('{DEFAULT_WORKLOAD}': the stack parameters' own)",
    )
    listing.add_argument("--since", metavar="WHEN", help="updated since: 2h, 30m, 7d, 1w, or an ISO-8601 date/time")
    listing.add_argument(
        "--limit", type=positive_int, default=DEFAULT_LIMIT, help=f"rows to show (default {DEFAULT_LIMIT})"
    )
    listing.add_argument(
        "--max-scan",
        type=positive_int,
        default=DEFAULT_MAX_SCAN,
        help=f"for SUCCEEDED/FAILED: items the Scan may read (default {DEFAULT_MAX_SCAN:,})",
    )
    listing.set_defaults(handler=list_runs)

    show = commands.add_parser(
        "show",
        parents=parents,
        help="one run with its attempt history and log links",
        description=(
            "Show one run: status, workload, input, timestamps, and every attempt with its size (vCPU, memory, "
            "Spot or On-Demand), exit code, reason and log link "
            "(against the local stack, the `runs logs` command instead of an AWS console link)."
        ),
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(handler=show_run)

    logs = commands.add_parser(
        "logs",
        parents=parents,
        help="the output of a run's job: its CloudWatch Logs events",
        description=(
            "Print the log events of one attempt of a run: the log stream the run records for it, in the stack's "
            "job log group (JobLogGroupName). Works against AWS and the local stack alike."
        ),
    )
    logs.add_argument("run_id", metavar="RUN_ID")
    logs.add_argument(
        "--attempt",
        type=positive_int,
        metavar="N",
        help="the attempt (default: the latest one with a log stream, the one `runs show` shows)",
    )
    logs.set_defaults(handler=run_logs)

    retry = commands.add_parser(
        "retry",
        parents=parents,
        help="start a new attempt of a run through the normal submit path",
        description=(
            "Start a new attempt of a FAILED run: the run moves to RETRY_WAIT (one conditional write) and a retry "
            "request goes on the SubmitQueue, whose consumer submits the attempt exactly once. A run already in "
            "RETRY_WAIT has its request sent again at once. A manual attempt may exceed the run's maxAttempts by "
            "one (maxAttempts is raised and the change recorded in the run's manualRetries)."
        ),
    )
    retry.add_argument("run_id", metavar="RUN_ID")
    retry.add_argument(
        "--force",
        action="store_true",
        help="also retry a SUCCEEDED run (run it again) or an in-flight one that is stuck (its job is not cancelled)",
    )
    retry.set_defaults(handler=retry_run)

    add_find_parser(commands, parents)
