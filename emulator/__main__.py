"""``python -m emulator``: the whole pipeline on this machine (moto + in-process functions + local jobs).

python -m emulator demo            upload sample files, show their runs, check the outcome (exit 1 if off)
python -m emulator serve           keep the stack running for your own files until Ctrl-C
python -m emulator upload FILE...  put files into the input bucket of a running `serve`
python -m emulator wait-serve --pid PID / stop-serve --pid PID   for `make smoke`: a background serve
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emulator.demo import run_demo
from emulator.serve import run_serve, run_upload
from emulator.serve_state import read_state
from emulator.smoke_support import stop_serving, wait_until_serving


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Run Batch Orchestrator locally: template.yaml in a moto server, the functions in-process, "
        "jobs as local processes. Nothing talks to AWS.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the demo and check its outcome (exit status 1 if it is off)")
    demo.add_argument("--verbose", action="store_true", help="also print the functions' logs and the jobs' output")

    serve = commands.add_parser("serve", help="keep the local stack running until Ctrl-C")
    serve.add_argument("--port", type=int, default=0, help="port of the moto server (default: a free one)")
    serve.add_argument("--verbose", action="store_true", help="also print the functions' logs and the jobs' output")
    serve.add_argument(
        "--schedule",
        metavar="EXPRESSION",
        help="turn the schedule on with this expression, e.g. 'rate(2 minutes)' (default: off, fire it on demand)",
    )

    upload = commands.add_parser("upload", help="upload files to the input bucket of a running `serve`")
    upload.add_argument("files", nargs="+", type=Path, metavar="FILE")
    upload.add_argument("--key", help="object key (default: the input prefix + the file name)")
    upload.add_argument("--endpoint-url", help="moto server URL (default: the one `serve` recorded)")

    wait = commands.add_parser("wait-serve", help="wait until the background serve PID has started its stack")
    wait.add_argument("--pid", type=int, required=True)
    wait.add_argument("--timeout", type=float, default=90.0, help="seconds (default 90)")
    stop = commands.add_parser("stop-serve", help="stop the background serve PID (SIGTERM, then SIGKILL)")
    stop.add_argument("--pid", type=int, required=True)
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL (default 30)")

    args = parser.parse_args(argv)
    # Keys and file names may hold any character; a terminal that cannot show one gets a '?'.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    if args.command == "demo":
        return run_demo(verbose=args.verbose)
    if args.command == "serve":
        return run_serve(port=args.port, verbose=args.verbose, schedule_expression=args.schedule)
    if args.command == "wait-serve":
        try:
            state = wait_until_serving(args.pid, timeout=args.timeout, read_state=read_state)
        except RuntimeError as exc:
            print(f"wait-serve: {exc}", file=sys.stderr)
            return 1
        print(f"local stack {state['stack_name']} ready at {state['endpoint_url']} (serve process {args.pid})")
        return 0
    if args.command == "stop-serve":
        clean = stop_serving(args.pid, timeout=args.timeout)
        print(f"serve (process {args.pid}) " + ("stopped" if clean else f"killed after {args.timeout:.0f} s"))
        return 0
    return run_upload(args.files, key=args.key, endpoint_url=args.endpoint_url)


if __name__ == "__main__":
    sys.exit(main())
