"""Each extension point is registered in one place, and its docs page names every entry
(docs/architecture.md lists the points). Adding an engine, a server fault or a command
without documenting it fails here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from synctools import engines
from synctools.server import faults

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_engine_is_documented():
    page = (DOCS / "dataframes.md").read_text("utf-8")
    documented = set(re.findall(r"^- \*\*([a-z]+)\*\*:", page, flags=re.M))
    assert set(engines.ENGINES) <= documented, f"document in dataframes.md: {set(engines.ENGINES) - documented}"


def test_every_server_fault_is_documented():
    page = (DOCS / "embedded-stack.md").read_text("utf-8")
    documented = set(re.findall(r'^\| `"([\w-]+)"` \|', page, flags=re.M))
    assert set(faults.KINDS) <= documented, f"document in embedded-stack.md: {set(faults.KINDS) - documented}"


def test_every_command_is_documented():
    from synctools.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    page = (DOCS / "cli.md").read_text("utf-8")
    missing = [name for name in sub.choices if f"synctools {name}" not in page]
    assert missing == [], f"document in cli.md: {missing}"


def test_architecture_names_every_extension_point_page():
    page = (DOCS / "architecture.md").read_text("utf-8")
    for target in ("dataframes.md", "doctor.md", "embedded-stack.md", "stepwise-sync.md", "cli.md"):
        assert f"]({target})" in page
