"""`orchestrator dlq list | redrive`: the command line of the dead-letter queue subcommands.

Owns their arguments, help (OVERVIEW: what each DLQ holds and how it is redriven) and which handler
each one runs; the handlers are in dlq_list and dlq_redrive, the queues in dlq_queues. Invariant:
--queue only accepts the names of dlq_queues.QUEUES.
"""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator_cli.commands.dlq_list import list_dlqs
from orchestrator_cli.commands.dlq_queues import QUEUES
from orchestrator_cli.commands.dlq_redrive import redrive_dlq
from orchestrator_cli.parsing import positive_int

OVERVIEW = """\
`orchestrator dlq list | redrive`: the three dead-letter queues, counted, peeked at, moved back.

    submit    SubmitDLQ: S3 notifications and retry requests the submit function failed
              SubmitMaxReceiveCount times          → back onto the SubmitQueue
    schedule  ScheduleDLQ: schedule firings that never produced a run (scheduler target failures,
              failed submit_scheduled invocations)  → submit_scheduled, invoked again (async)
    tracking  TrackingDLQ: Batch events that never updated a run (rule target failures, failed
              track_jobs invocations)               → track_jobs, invoked again (async)

    watchdog  WatchdogDLQ (stacks with the watchdog): failed sweeps. Listed, never redriven: the
              next sweep redoes the work; read the watchdog's logs, then purge the queue.

Only SubmitDLQ is the dead-letter queue of another queue, so only it can use SQS's own redrive
(StartMessageMoveTask); schedule and tracking hold events for Lambda functions, which are sent again
by invoking the function asynchronously: a failure lands in the same queue again.
"""

PEEK_DEFAULT = 3


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    dlq = subparsers.add_parser(
        "dlq",
        help="dead-letter queues: counts, a peek, redrive",
        description=OVERVIEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = dlq.add_subparsers(dest="dlq_command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list",
        parents=parents,
        help="message counts of each DLQ and a peek at the first messages",
        description="Message counts of the DLQs and a peek at the first messages (a peek receives them with a "
        "visibility timeout of 0: they stay in the queue, their receive count goes up).",
    )
    listing.add_argument("--queue", choices=sorted(QUEUES), action="append", help="only this DLQ (repeatable)")
    listing.add_argument(
        "--peek",
        type=int,
        default=PEEK_DEFAULT,
        choices=range(11),
        metavar="N",
        help=f"messages to show per DLQ, 0-10 (default {PEEK_DEFAULT})",
    )
    listing.set_defaults(handler=list_dlqs)

    redrive = commands.add_parser(
        "redrive",
        parents=parents,
        help="move DLQ messages back to where they failed",
        description=OVERVIEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    redrive.add_argument("--queue", choices=sorted(QUEUES), default="submit", help="which DLQ (default submit)")
    redrive.add_argument(
        "--max",
        type=positive_int,
        metavar="N",
        help="move at most N messages (the submit DLQ then moves them itself instead of with StartMessageMoveTask, "
        "which always moves everything)",
    )
    redrive.set_defaults(handler=redrive_dlq)
