"""`export --reveal` writes passwords in clear, so its file is readable by its owner
alone (0600), like the session file: whatever the umask, and when it replaces a file
that others could read. The real command, the real file mode."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pandas as pd
import pytest

from synctools.demodata import build_demo_account

from .conftest import saved_session, session_file


def export(env, *args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; from synctools.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "export", "passwords", *args], capture_output=True, text=True, env=env,
        timeout=300, preexec_fn=None if umask is None else (lambda: os.umask(umask)),  # noqa: PLW1509 - a umask, no threads
    )  # fmt: skip


@pytest.fixture(scope="module")
def secret():
    demo = build_demo_account()
    return next(r["password"] for r in demo.cleartext["passwords"] if len(r["password"]) >= 10)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_revealed_export_is_private_even_with_an_open_umask(stack, env, tmp_path, secret):
    saved_session(stack, session_file(env))
    out = tmp_path / "passwords.csv"
    proc = export(env, "--reveal", "--format", "csv", "-o", str(out), umask=0)
    assert proc.returncode == 0, proc.stderr
    assert mode(out) == 0o600
    assert secret in out.read_text() and len(pd.read_csv(out)) == 200
    # the same umask without --reveal: an ordinary file (nothing secret in it)
    masked = tmp_path / "masked.csv"
    assert export(env, "--format", "csv", "-o", str(masked), umask=0).returncode == 0
    assert mode(masked) == 0o666 and secret not in masked.read_text()


@pytest.mark.parametrize("before", [0o644, 0o666])
def test_revealed_export_over_a_readable_file_makes_it_private(stack, env, tmp_path, secret, before):
    saved_session(stack, session_file(env))
    out = tmp_path / "passwords.json"
    out.write_text("an older export, much longer than nothing at all " * 10_000)
    out.chmod(before)
    proc = export(env, "--reveal", "--format", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert mode(out) == 0o600
    rows = pd.read_json(out, lines=True)  # the old content is gone, not left after the new
    assert len(rows) == 200 and secret in set(rows["password"])
