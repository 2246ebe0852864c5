"""The README and docs/ show what the code does: their examples are checked against the sources they quote."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# A Markdown link: [text](target#anchor), either part optional.
LINK = re.compile(r"\]\(([^)\s#]*)(?:#([^)\s]*))?\)")


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml's short-form intrinsics (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _read(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lowercase, punctuation dropped, spaces as hyphens."""
    anchors, in_code = set(), False
    for line in _read(page).splitlines():
        in_code ^= line.startswith("```")
        if line.startswith("#") and not in_code:
            anchors.add(re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-"))
    return anchors


def test_the_run_page_quotes_the_example_alert_exactly() -> None:
    golden = _read(ROOT / "tests/unit/golden/run_failed_alert.txt").rstrip("\n")
    assert f"```text\n{golden}\n```" in _read(DOCS / "how-a-run-works.md")


def test_the_operations_page_quotes_the_example_chat_card_exactly() -> None:
    golden = _read(ROOT / "tests/unit/golden/run_failed_chat.json").rstrip("\n")
    assert f"```json\n{golden}\n```" in _read(DOCS / "operations.md")


def test_the_configuration_page_documents_every_template_parameter() -> None:
    template = yaml.load(_read(ROOT / "template.yaml"), Loader=_CfnLoader)
    page = _read(DOCS / "configuration.md")
    undocumented = [name for name in template["Parameters"] if f"| `{name}` |" not in page]
    assert undocumented == []


def test_the_readme_links_every_docs_page() -> None:
    # Given the README, the newcomer's way into docs/
    readme = _read(README)
    # Then every page of docs/ is reachable from it
    unlinked = [page.name for page in sorted(DOCS.glob("*.md")) if f"](docs/{page.name})" not in readme]
    assert unlinked == []


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_and_heading_of_the_repository(page: Path) -> None:
    broken: list[str] = []
    for target, anchor in LINK.findall(_read(page)):
        if "://" in target:
            continue
        linked = page.parent / target if target else page
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
            broken.append(f"{target}#{anchor}" if anchor else target)
    assert broken == []
