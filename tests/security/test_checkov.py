"""checkov on template.yaml: no failed check, and every skip justified next to its resource.

`make checkov` (a prerequisite of `make test`) installs checkov in its own virtual environment and
fails the build on any failed check. This test reads the same scan and checks the skips: each names
its check and gives a reason in the template, at the resource it concerns.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.reliability.harness import figure

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIP = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9_]+)(:(.*))?$")


def test_every_skip_in_the_template_carries_a_reason() -> None:
    skips = [SKIP.search(line) for line in (ROOT / "template.yaml").read_text(encoding="utf-8").splitlines()]
    found = [match for match in skips if match]
    assert found, "the template has no checkov skips: remove this test's expectations or the skips"
    for match in found:
        reason = (match.group(3) or "").strip()
        assert len(reason) >= 40, f"{match.group(1)} needs its reason"


@pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov is not installed: `make checkov` installs it in .venv-checkov"
)
def test_checkov_finds_no_failed_check() -> None:
    completed = subprocess.run(
        [str(CHECKOV), "--file", "template.yaml", "--framework", "cloudformation", "--skip-download", "-o", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(completed.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    skipped = report["results"]["skipped_checks"]
    assert all(len((check.get("check_result", {}).get("suppress_comment") or "").strip()) >= 40 for check in skipped)
    summary = report["summary"]
    figure(
        "Security (checkov)",
        f"checkov {summary['checkov_version']}: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped (each with its reason at the resource)",
    )
