"""checkov on template.yaml: no failed check, and every exception listed once, with its reason, in checkov-skips.json.

The invariant: the set of checkov findings of template.yaml is exactly the set of entries of
checkov-skips.json, one entry per resource and check, each with its reason. The table is the only
place a finding may be accepted: no check is skipped globally (a global skip would hide a new
resource's real finding) and template.yaml carries no skip of its own. `make checkov` (a prerequisite
of `make test`) runs checkov with .checkov.yaml, which reads the table as a baseline; the tests below
fail on a finding without an entry, on an entry that no longer matches a finding, and on an entry
without a reason.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from emulator import load_template
from tests.conformance.workload_stacks import rendered_template_path
from tests.support.figures import figure

pytestmark = pytest.mark.slow  # runs checkov twice (about 40 s)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SKIPS_TABLE = ROOT / "checkov-skips.json"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_[0-9]+$")
# Long enough to say why the finding does not apply, as every entry does today.
MINIMUM_REASON_LENGTH = 40
needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov is not installed: `make checkov` installs it in .venv-checkov"
)


class Skip(NamedTuple):
    """One accepted finding: checkov's resource id ("<Type>.<LogicalId>") and check id."""

    resource: str
    check_id: str


def skips_table() -> dict[Skip, str]:
    """The entries of checkov-skips.json and their reasons; a resource and check listed twice is an error."""
    document = json.loads(SKIPS_TABLE.read_text(encoding="utf-8"))
    table: dict[Skip, str] = {}
    for file_entry in document["failed_checks"]:
        for finding in file_entry["findings"]:
            assert len(finding["check_ids"]) == 1, f"{finding['resource']}: one check per entry, each with its reason"
            skip = Skip(finding["resource"], finding["check_ids"][0])
            assert skip not in table, f"{skip} is listed twice"
            table[skip] = str(finding.get("reason") or "").strip()
    return table


def run_checkov(*arguments: str, cwd: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [str(CHECKOV), *arguments, "-o", "json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


def test_every_skip_names_one_check_of_a_resource_in_the_template_and_gives_its_reason() -> None:
    # Given the table and the template's resources as checkov names them
    table = skips_table()
    resources = {f"{r['Type']}.{name}" for name, r in load_template(TEMPLATE)["Resources"].items()}

    # Then every entry is a real check on a real resource, with a reason
    assert table, "checkov-skips.json lists no skip: drop the baseline from .checkov.yaml instead"
    for skip, reason in table.items():
        assert CHECK_ID.match(skip.check_id), skip
        assert skip.resource in resources, f"{skip}: no such resource in template.yaml"
        assert len(reason) >= MINIMUM_REASON_LENGTH, f"{skip} needs its reason"


def test_the_template_carries_no_skip_of_its_own() -> None:
    # Given the template as text and as resources
    text = TEMPLATE.read_text(encoding="utf-8")
    resources = load_template(TEMPLATE)["Resources"]

    # Then no inline suppression comment and no Metadata suppression bypasses the table
    assert not re.search(r"(checkov|bridgecrew):skip", text)
    for name, resource in resources.items():
        metadata = resource.get("Metadata") or {}
        assert not {"checkov", "bridgecrew"} & set(metadata), name


@needs_checkov
def test_checkov_findings_are_exactly_the_listed_skips(tmp_path: Path) -> None:
    # Given checkov on template.yaml without the table (run elsewhere, so .checkov.yaml is not read)
    report = run_checkov("--file", str(TEMPLATE), "--framework", "cloudformation", "--skip-download", cwd=tmp_path)

    # Then every finding has an entry and every entry still matches a finding
    found = {Skip(check["resource"], check["check_id"]) for check in report["results"]["failed_checks"]}
    listed = set(skips_table())
    assert sorted(found - listed) == [], "findings without an entry in checkov-skips.json"
    assert sorted(listed - found) == [], "entries of checkov-skips.json that match no finding any more"
    # and checkov sees no suppression in the template itself
    assert report["results"]["skipped_checks"] == []
    summary = report["summary"]
    figure(
        "Security (checkov)",
        f"checkov {summary['checkov_version']}: {summary['passed']} passed, 0 failed, {len(listed)} skipped "
        "(each with its reason in checkov-skips.json)",
    )


@needs_checkov
def test_make_checkov_finds_no_failed_check() -> None:
    # Given checkov as `make checkov` runs it: settings and the table from .checkov.yaml
    report = run_checkov("--config-file", str(CHECKOV_CONFIG), cwd=ROOT)

    # Then nothing fails, and what the table accepts is reported as skipped
    assert report["results"]["failed_checks"] == []
    assert report["summary"]["skipped"] == len(skips_table())


@needs_checkov
def test_a_rendered_two_workload_template_adds_no_finding(tmp_path: Path) -> None:
    # Given template.yaml rendered from two workloads (Spot queue, job definitions, schedule, scheduler role)
    rendered = tmp_path / "template.yaml"
    rendered.write_text(rendered_template_path().read_text(encoding="utf-8"), encoding="utf-8")

    # When checkov checks it without the table
    report = run_checkov("--file", str(rendered), "--framework", "cloudformation", "--skip-download", cwd=tmp_path)

    # Then its findings are exactly the listed skips: `make checkov` passes with workloads too
    found = {Skip(check["resource"], check["check_id"]) for check in report["results"]["failed_checks"]}
    assert found == set(skips_table())
    assert report["summary"]["resource_count"] > len(load_template(TEMPLATE)["Resources"])
