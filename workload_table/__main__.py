"""``python -m workload_table render|check``: the commands behind ``make template`` and ``make validate``.

render  rewrites template.yaml's workloads regions and the layer's workload_table.json from workloads.yaml
        (or writes them to --output and --table-output).
check   prints one line per problem and exits 1 if there is any: the table, the deployment's parameters
        (samconfig.toml), schedule names, the Lambda environment budget, CloudFormation's resource quota,
        and a stale template.yaml or workload_table.json.
Both exit 1 with every problem of a table that does not validate, and 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from batch_orchestrator.workload_table_file import FILE_NAME
from batch_orchestrator.workloads import WorkloadTableError
from workload_table.budget import BudgetError
from workload_table.check import check, samconfig_overrides
from workload_table.regions import RegionError
from workload_table.render import render

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    workloads, template, table = Path(arguments.workloads), Path(arguments.template), Path(arguments.table)
    try:
        workloads_text = workloads.read_text(encoding="utf-8")
        template_text = template.read_text(encoding="utf-8")
        table_text = table.read_text(encoding="utf-8") if table.exists() else ""
        if arguments.command == "render":
            rendered = render(template_text, workloads_text, source=workloads.name)
            for output, old, new in (
                (Path(arguments.output or template), template_text, rendered.template_text),
                (Path(arguments.table_output or table), table_text, rendered.table_text),
            ):
                if new != old or output not in (template, table):
                    output.write_text(new, encoding="utf-8")
                print(f"{output}: rendered from {workloads}")
            return 0
        overrides = samconfig_overrides(Path(arguments.samconfig), arguments.config_env) if arguments.samconfig else {}
        result = check(template_text, workloads_text, table_text=table_text, overrides=overrides, source=workloads.name)
    except WorkloadTableError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except (OSError, ValueError, RegionError, BudgetError) as exc:
        print(f"{template if isinstance(exc, RegionError | BudgetError) else 'error'}: {exc}", file=sys.stderr)
        return 1
    for line in result.problems:
        print(line, file=sys.stderr)
    if result.ok:
        print(result.summary)
    return 0 if result.ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workload_table", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("render", "render workloads.yaml into template.yaml's marked regions and the layer's table"),
        ("check", "validate workloads.yaml and fail when template.yaml or the layer's table is stale"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--workloads", default=str(ROOT / "workloads.yaml"), help="default: %(default)s")
        command.add_argument("--template", default=str(ROOT / "template.yaml"), help="default: %(default)s")
        command.add_argument(
            "--table",
            default=str(ROOT / "layers" / "common" / "batch_orchestrator" / FILE_NAME),
            help="the layer's table file, default: %(default)s",
        )
        if name == "render":
            command.add_argument("--output", help="write the rendered template here instead of over --template")
            command.add_argument("--table-output", help="write the layer's table here instead of over --table")
        else:
            command.add_argument("--samconfig", help="check against this samconfig.toml's parameter_overrides")
            command.add_argument("--config-env", default="default", help="samconfig environment (%(default)s)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
