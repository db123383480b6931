"""docs/doctor.md and the registered checks stay in step: every check has a row with its
severity, and every row is a check that exists."""

from __future__ import annotations

import re
from pathlib import Path

from synctools import doctor

PAGE = Path(__file__).resolve().parents[2] / "docs" / "doctor.md"


def _rows() -> dict[str, str]:
    text = PAGE.read_text("utf-8")
    table = text[text.index("## The checks") :]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z]+\.[a-z-]+)` \| ([a-z /]+) \|", table, re.M)}


def test_every_check_has_a_row_and_every_row_a_check():
    """The device checks (a Firefox profile's) have their own page, docs/device.md."""
    rows = _rows()
    account = {c for c in doctor.CHECKS if not c.startswith("device.")}
    assert set(rows) == account, (sorted(account - set(rows)), sorted(set(rows) - account))
    device_page = (PAGE.parent / "device.md").read_text("utf-8")
    assert [c for c in doctor.CHECKS if c.startswith("device.") and f"`{c}`" not in device_page] == []


def test_each_rows_severity_is_the_checks():
    for check, severity in _rows().items():
        assert doctor.CHECKS[check].severity in [s.strip() for s in severity.split("/")], check


def test_every_validator_problem_kind_has_a_check():
    """The names about:sync shows (bookmark_validator's BookmarkProblemData), in kebab case."""
    kinds = ["missingIDs", "duplicates", "parentChildMismatches", "cycles", "orphans", "missingChildren",
             "deletedChildren", "multipleParents", "deletedParents", "childrenOnNonFolder", "duplicateChildren",
             "parentNotFolder", "rootOnServer"]  # fmt: skip
    kebab = {k: "bookmarks." + re.sub(r"(?<!^)(?=[A-Z])", "-", k).lower().replace("i-ds", "ids") for k in kinds}
    missing = [k for k, check in kebab.items() if check not in doctor.CHECKS]
    assert not missing, {k: kebab[k] for k in missing}
