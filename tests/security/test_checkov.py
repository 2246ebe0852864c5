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

import fnmatch
import json
import re
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from emulator import load_template
from tests.conformance.workload_stacks import rendered_template_path
from tests.support.figures import figure
from tests.support.workload_yaml import SAMPLE_CONTAINER
from workload_table import checkov_baseline

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
def test_make_checkov_finds_no_failed_check(tmp_path: Path) -> None:
    # Given checkov as `make checkov` runs it: settings from .checkov.yaml, the table expanded for template.yaml
    baseline = tmp_path / "baseline.json"
    checkov_baseline.main([str(TEMPLATE), str(SKIPS_TABLE), str(baseline)])
    report = run_checkov("--config-file", str(CHECKOV_CONFIG), "--baseline", str(baseline), cwd=ROOT)

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


# A table with every kind of workload the renderer knows: Fargate Spot, EC2 with GPUs, a schedule, an uploaded-manifest
# array, a pipeline, an upload-directory array and burst coalescing.
EVERY_KIND = f"""\
workloads:
  - name: thumbs
    match: {{prefix: images/}}{SAMPLE_CONTAINER}
    compute: {{type: fargate-spot, on_demand_after: 2}}
    retry: {{exit_codes: "75", max_attempts: 4}}
    schedules:
      - {{name: nightly, expression: "cron(0 3 * * ? *)", timezone: Europe/Paris}}
  - name: inference
    match: {{prefix: models/}}
    image: public.ecr.aws/docker/library/python:3.13-slim
    vcpu: 8
    memory: 30000
    gpus: 1
    timeout_seconds: 600
    compute: {{type: ec2}}
  - name: batches
    match: {{prefix: batches/, suffix: .manifest}}{SAMPLE_CONTAINER}
    array: {{manifest: upload}}
  - name: split
    match: {{prefix: scenes/}}{SAMPLE_CONTAINER}
    then: render
  - name: render{SAMPLE_CONTAINER}
    array: {{manifest: previous-step}}
  - name: tiles
    match: {{prefix: tiles/, suffix: _READY}}{SAMPLE_CONTAINER}
    array: {{manifest: upload-directory}}
  - name: frames
    match: {{prefix: frames/}}{SAMPLE_CONTAINER}
    coalesce: {{window_seconds: 60, max_items: 1000}}
ec2_compute:
  instance_types: [g5.2xlarge]
  max_vcpus: 64
"""


@needs_checkov
def test_a_template_rendered_with_every_kind_of_workload_has_only_the_listed_findings(tmp_path: Path) -> None:
    # Given template.yaml rendered with every kind of workload, and the table expanded for it as `make checkov` does
    rendered = tmp_path / "template.yaml"
    rendered.write_text(rendered_template_path(EVERY_KIND).read_text(encoding="utf-8"), encoding="utf-8")
    document = json.loads(SKIPS_TABLE.read_text(encoding="utf-8"))
    expanded = checkov_baseline.expand(document, checkov_baseline.resource_ids(rendered.read_text(encoding="utf-8")))
    accepted = {
        Skip(finding["resource"], check_id)
        for finding in expanded["failed_checks"][0]["findings"]
        for check_id in finding["check_ids"]
    }

    # When checkov checks it without the table
    report = run_checkov("--file", str(rendered), "--framework", "cloudformation", "--skip-download", cwd=tmp_path)

    # Then its findings are exactly the accepted ones: each rendered pattern still matches a real finding
    found = {Skip(check["resource"], check["check_id"]) for check in report["results"]["failed_checks"]}
    assert sorted(found - accepted) == [], "findings of rendered resources without a rendered_resources entry"
    assert sorted(accepted - found) == [], "entries that match no finding any more"
    # and without the rendered patterns, the rendered resources' findings would fail `make checkov`
    own_only = {Skip(f["resource"], f["check_ids"][0]) for f in document["failed_checks"][0]["findings"]}
    unlisted = found - own_only
    assert unlisted
    assert all("Coalesce" in skip.resource for skip in unlisted), sorted(unlisted)


def test_each_rendered_pattern_has_its_reason_and_covers_no_resource_of_template_yaml() -> None:
    document = json.loads(SKIPS_TABLE.read_text(encoding="utf-8"))
    own = checkov_baseline.resource_ids(TEMPLATE.read_text(encoding="utf-8"))
    for pattern in document[checkov_baseline.RENDERED]:
        assert len(pattern["check_ids"]) == 1, pattern["resource"]
        assert CHECK_ID.match(pattern["check_ids"][0]), pattern
        assert len(pattern["reason"].strip()) >= MINIMUM_REASON_LENGTH, f"{pattern['resource']} needs its reason"
        assert not [r for r in own if fnmatch.fnmatchcase(r, pattern["resource"])], pattern["resource"]


def test_a_pattern_over_a_listed_resource_is_refused() -> None:
    # Given the table with a pattern that would also cover SubmitQueue, listed by its own id
    document = json.loads(SKIPS_TABLE.read_text(encoding="utf-8"))
    document[checkov_baseline.RENDERED].append(
        {"resource": "AWS::SQS::Queue.*Queue", "check_ids": ["CKV_AWS_27"], "reason": "x" * MINIMUM_REASON_LENGTH}
    )

    # Then expanding it is refused, naming the pattern and the resource
    own = checkov_baseline.resource_ids(TEMPLATE.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=r"'AWS::SQS::Queue\.\*Queue' matches AWS::SQS::Queue\.SubmitQueue"):
        checkov_baseline.expand(document, own)


def test_expanding_names_each_rendered_resource_once_per_pattern() -> None:
    # Given a coalescing workload's resources beside the template's own
    document = json.loads(SKIPS_TABLE.read_text(encoding="utf-8"))
    resources = ["AWS::SQS::Queue.WorkloadFramesCoalesceQueue", "AWS::SQS::Queue.WorkloadClipsCoalesceQueue"]
    expanded = checkov_baseline.expand(document, [*checkov_baseline.resource_ids(TEMPLATE.read_text()), *resources])

    # Then each gets the pattern's entry, the table's own entries are unchanged, and the input is not modified
    findings = expanded["failed_checks"][0]["findings"]
    assert [f["resource"] for f in findings if "Coalesce" in f["resource"]] == resources
    assert len(findings) == len(document["failed_checks"][0]["findings"]) + 2
    assert checkov_baseline.RENDERED not in expanded
    assert checkov_baseline.RENDERED in document
