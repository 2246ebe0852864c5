"""The README shows what the code does: its examples are checked against the sources they quote."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml's short-form intrinsics (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_readme_quotes_the_example_alert_exactly():
    golden = (ROOT / "tests/unit/golden/run_failed_alert.txt").read_text(encoding="utf-8").rstrip("\n")
    assert f"```text\n{golden}\n```" in README


def test_readme_documents_every_template_parameter():
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CfnLoader)
    undocumented = [name for name in template["Parameters"] if f"| `{name}` |" not in README]
    assert undocumented == []
