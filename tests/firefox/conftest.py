"""Fixtures of the real-Firefox tests: the Firefox binary (skip without it, fail with
SYNCTOOLS_REQUIRE_FIREFOX), and a stack with a profile signed in to it whose syncs, when
the test ends, left no unexplained ERROR line and tried nothing on the internet."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import SignedIn, signed_in_firefox


def firefox_or_skip() -> str:
    binary = shutil.which("firefox-esr")
    if binary is None:
        reason = "firefox-esr is not installed (run .ci/install-firefox.sh)"
        if os.environ.get("SYNCTOOLS_REQUIRE_FIREFOX"):  # CI installs it: never skip there
            pytest.fail(f"SYNCTOOLS_REQUIRE_FIREFOX is set but {reason}")
        pytest.skip(reason)
    return binary


def nothing_left_the_machine(ff: SignedIn) -> None:
    unexpected = [a for a in ff.sink.attempts if a not in ff.allowed_attempts]
    assert unexpected == [], f"Firefox tried to reach the internet; silence it in profile.py: {unexpected}"
    unexplained = [str(v) for o in ff.outcomes for v in o.unexplained]
    assert unexplained == [], f"unexplained ERROR lines in Firefox's sync logs: {unexplained}"


@pytest.fixture
def firefox_binary() -> str:
    return firefox_or_skip()


@pytest.fixture
def firefox(tmp_path: Path) -> Iterator[SignedIn]:
    with signed_in_firefox(firefox_or_skip(), tmp_path) as ff:
        yield ff
        nothing_left_the_machine(ff)
