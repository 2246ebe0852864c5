"""`make bench` = ``python -m bench``: run every measurement, check the targets, write the results.

    python -m bench              # everything; writes bench/results.json (what docs/performance.md shows)
    python -m bench --quick      # CI size: 10,000 finished runs, an array of 1,000, a burst of 1,000, fewer
                                 # repetitions; a temp file
    python -m bench --readme     # print docs/performance.md from bench/results.json (> docs/performance.md)

Each measurement runs in its own process (``python -m bench.<name>``), so one's emulator state,
imports and memory never leak into the next. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO
from bench.report import PERFORMANCE_PAGE, machine_line, readme_section, table
from bench.targets import checks, single_job_equivalent, submit_rate_model

RESULTS = REPO / "bench" / "results.json"
SECTIONS = ("sizes", "calls", "invocations", "handler_work", "cold_start", "watchdog", "arrays", "coalesce")
COMMAND = "make bench"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-size run (written to a temporary file)")
    parser.add_argument("--output", type=Path, help=f"where to write the results (default {RESULTS.name})")
    parser.add_argument("--readme", action="store_true", help=f"print {PERFORMANCE_PAGE} from the results file")
    args = parser.parse_args()
    if args.readme:
        print(readme_section(json.loads((args.output or RESULTS).read_text(encoding="utf-8")), COMMAND), end="")
        return 0

    output = args.output or (Path(tempfile.gettempdir()) / "bench-results-quick.json" if args.quick else RESULTS)
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": COMMAND + (" ARGS=--quick" if args.quick else ""),
        "quick": args.quick,
        "measured_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
    }
    for section in SECTIONS:
        print(f"bench: {section}", file=sys.stderr, flush=True)
        results[section] = run_section(section, args.quick)
    results["submit_rate"] = submit_rate_model(results)
    results["array_vs_single_jobs"] = single_job_equivalent(results)
    results["checks"] = checks(results)
    results["seconds"] = round(time.monotonic() - started)
    output.write_text(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")

    print(table(results))
    print(f"\n{machine_line(results)}, {results['measured_at']}; {results['seconds']} s. Figures: {output}")
    missed = [check["name"] for check in results["checks"] if not check["ok"]]
    if missed:
        print(f"MISSED: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def run_section(section: str, quick: bool) -> Any:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-W", "ignore::UserWarning", "-m", f"bench.{section}", "--out", str(out)]
        if quick:
            command.append("--quick")
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "layers" / "common")]))
        # stdout carries the handlers' own logs and metrics (in-process runs): not for the console.
        completed = subprocess.run(  # noqa: S603 - our own interpreter and module
            command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, check=False
        )
        if completed.returncode != 0 or not out.is_file():
            raise SystemExit(f"bench: {section} failed (exit {completed.returncode})")
        return json.loads(out.read_text(encoding="utf-8"))


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
    }


if __name__ == "__main__":
    sys.exit(main())
