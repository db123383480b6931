"""docs/self-hosting.md stays in step with the code: every check id check-server can
report has its section, every misconfiguration kind is in the table with the finding it
produces, and the page's links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synctools.doctor import CHECKS
from synctools.server.misconfig import KINDS

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = (DOCS / "self-hosting.md").read_text("utf-8")


@pytest.mark.parametrize("check", sorted(c for c in CHECKS if c.startswith("server.")))
def test_every_finding_has_its_section_with_a_fix(check: str) -> None:
    section = re.search(rf"^### {re.escape(check)}\n(.*?)(?=^## |^### |\Z)", PAGE, re.M | re.S)
    assert section, f"docs/self-hosting.md has no '### {check}' section"
    assert "Fix:" in section.group(1), f"the {check} section gives no fix"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_misconfiguration_is_in_the_table_with_its_finding(kind: str) -> None:
    row = re.search(rf"^\| `{re.escape(kind)}` \| (.*) \| (.*) \|$", PAGE, re.M)
    assert row, f"docs/self-hosting.md's table lacks {kind}"
    expected = KINDS[kind].finding or "nothing"
    assert row.group(2).strip("` ") == expected


def test_the_page_is_linked_and_its_links_resolve() -> None:
    for page in ("index.md", "connecting.md", "cli.md"):
        assert "(self-hosting.md" in (DOCS / page).read_text("utf-8"), f"docs/{page} does not link self-hosting.md"
    for target in re.findall(r"\]\(([^)\s]+)\)", PAGE):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = DOCS / file if file else DOCS / "self-hosting.md"
        assert path.exists(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text("utf-8"), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, target
