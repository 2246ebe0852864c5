"""The baseline `make checkov` gives checkov: checkov-skips.json, its rendered-resource patterns expanded.

checkov-skips.json accepts findings in two lists, each entry with its reason:

* ``failed_checks``: findings of resources template.yaml always has, by their logical ids (checkov's baseline format);
* ``rendered_resources``: findings of resources ``make template`` renders from workloads.yaml only for some tables (a
  coalescing workload's queue and DLQ, the coalescer function and its log group), by ``fnmatch`` patterns of their
  logical ids, since the ids depend on the workloads' names.

checkov matches a baseline by exact resource id, so ``expand`` writes each pattern out for the template's resources
it matches. A pattern never covers a resource of the first list (it could hide that resource's own finding), and
tests/security/test_checkov.py renders a table with every kind of workload to prove each pattern still matches a
finding. Usage (the Makefile's): ``python -m workload_table.checkov_baseline TEMPLATE SKIPS OUTPUT``.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workload_table.yaml_text import load_cloudformation

RENDERED = "rendered_resources"


def resource_ids(template_text: str) -> list[str]:
    """checkov's id of each resource of a template: ``<Type>.<LogicalId>``."""
    resources = load_cloudformation(template_text)["Resources"]
    return [f"{body['Type']}.{logical_id}" for logical_id, body in resources.items()]


def expand(skips: Mapping[str, Any], resources: Sequence[str]) -> dict[str, Any]:
    """A checkov baseline: ``skips``' own findings, plus one finding per rendered pattern and resource it matches.

    ValueError when a pattern matches a resource ``failed_checks`` names (that resource's entries are its own).
    """
    baseline = json.loads(json.dumps(dict(skips)))  # a deep copy, JSON all the way down
    patterns = baseline.pop(RENDERED, [])
    (file_entry,) = baseline["failed_checks"]
    listed = {finding["resource"] for finding in file_entry["findings"]}
    for pattern in patterns:
        for resource in resources:
            if not fnmatch.fnmatchcase(resource, pattern["resource"]):
                continue
            if resource in listed:
                raise ValueError(f"{RENDERED} pattern {pattern['resource']!r} matches {resource}, listed by its id")
            file_entry["findings"].append(
                {"resource": resource, "check_ids": pattern["check_ids"], "reason": pattern["reason"]}
            )
    return dict(baseline)


def main(argv: Sequence[str]) -> int:
    template, skips, output = (Path(argument) for argument in argv)
    baseline = expand(json.loads(skips.read_text(encoding="utf-8")), resource_ids(template.read_text(encoding="utf-8")))
    output.write_text(json.dumps(baseline, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover - the Makefile's entry point
    sys.exit(main(sys.argv[1:]))
