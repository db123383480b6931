"""The main job (`synctools demo`) works end to end, as the README promises."""

from __future__ import annotations

import io
import subprocess
import sys

from synctools.demo import run_demo


def test_demo_runs_every_stage_and_verifies_its_commit():
    out = io.StringIO()
    assert run_demo(out=out) == 0
    text = out.getvalue()
    for stage in ("authenticate", "exchange_token", "fetch_info", "fetch_meta_global", "fetch_crypto_keys"):
        assert stage in text
    assert "history" in text and "passwords" in text
    assert "hmac-mismatch" in text  # the planted bad records are shown, not hidden
    assert "→ OK" in text and "MISMATCH" not in text
    assert "X-If-Unmodified-Since" in text


def test_demo_command_line_exit_status():
    proc = subprocess.run(
        [sys.executable, "-m", "synctools.cli", "demo", "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Verified on the server" in proc.stdout
    assert "Traceback" not in proc.stderr
