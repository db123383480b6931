"""The committed output in data/demo-account/ equals a fresh generation."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from synctools.demodata import DemoAccount, account_summary, load_demo_files, write_demo_files

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "data" / "demo-account"

needs_data = pytest.mark.skipif(not COMMITTED.is_dir(), reason="data/demo-account is not in this checkout")


@needs_data
def test_committed_output_equals_a_fresh_generation(account: DemoAccount, tmp_path: Path) -> None:
    write_demo_files(account, tmp_path)
    fresh, committed = load_demo_files(tmp_path), load_demo_files(COMMITTED)
    assert committed["account"] == account_summary(account)  # pins the encrypted bytes too
    assert committed["planted"] == account.planted
    assert committed["cleartext"].keys() == fresh["cleartext"].keys()
    for coll, records in fresh["cleartext"].items():
        assert committed["cleartext"][coll] == records, f"{coll} differs: run python data/generate_demo.py"
    assert sorted(p.name for p in COMMITTED.iterdir()) == sorted(p.name for p in tmp_path.iterdir())


@needs_data
def test_committed_output_is_small_and_holds_no_secrets(account: DemoAccount) -> None:
    assert sum(p.stat().st_size for p in COMMITTED.iterdir()) < 4_000_000
    text = (COMMITTED / "account.json").read_text() + (COMMITTED / "planted.json").read_text()
    keys = account.collection_keys
    secrets = [account.kb.hex(), base64.b64encode(account.kb).decode(), *keys.default.to_b64()]
    secrets += [s for b in keys.collections.values() for s in b.to_b64()]
    assert not [s for s in secrets if s in text]
    assert not (COMMITTED / "crypto.jsonl.gz").exists(), "crypto/keys cleartext is key material"


def test_writing_twice_gives_identical_files(account: DemoAccount, tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in write_demo_files(account, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_demo_files(account, tmp_path / "b")}
    assert first == second


def test_load_reports_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="generate_demo.py"):
        load_demo_files(tmp_path)


@needs_data
def test_cli_check_passes_on_the_committed_files_and_fails_on_stale_ones(account: DemoAccount, tmp_path: Path) -> None:
    script = ROOT / "data" / "generate_demo.py"
    ok = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    write_demo_files(account, tmp_path)
    planted = tmp_path / "planted.json"
    planted.write_text(planted.read_text().replace("orphan-bookmark", "orphan"))
    stale = subprocess.run(
        [sys.executable, str(script), "--check", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert stale.returncode == 1 and "stale (planted differ)" in stale.stdout
