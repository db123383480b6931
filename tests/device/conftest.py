"""A real Firefox ESR 153.8 profile (fixtures/profile, made by fixtures/make_profile.py) and
the server's records for the same account (fixtures/server.json), copied per test so a
test may damage its copy; and the demo stack with a synthetic profile of its account."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def profile_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "profile"
    shutil.copytree(FIXTURES / "profile", dest)
    return dest


@pytest.fixture(scope="session")
def server() -> dict:
    return json.loads((FIXTURES / "server.json").read_text("utf-8"))


def hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (names and contents): what 'never modified' means."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo():
    """The demo stack, a downloaded sync of its account, and a synthetic profile of it."""
    import tempfile

    from synctools import LocalStack, Sync
    from synctools.device.demo import write_demo_profile

    with LocalStack(demo=True) as stack, tempfile.TemporaryDirectory() as tmp:
        sync = Sync.local(stack)
        sync.run(until="download")
        planted = write_demo_profile(Path(tmp) / "profile", sync)
        yield stack, sync, Path(tmp) / "profile", planted
