"""``synctools serve`` in a real subprocess: banner, serving, clean stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import requests

from synctools.cli import main


def _serve(*args: str) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "synctools.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    return proc, lines


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=30)


def test_serve_prints_urls_and_serves(tmp_path) -> None:
    proc, lines = _serve("--data-dir", str(tmp_path), "--admin-secret", "s3")
    try:
        text = "\n".join(lines)
        url = re.search(r"at (http://127\.0\.0\.1:\d+)", text).group(1)
        assert f"accounts      {url}/v1" in text
        assert f"tokenserver   {url}/token/1.0/sync/1.5" in text
        assert "s3" not in text  # an admin secret the person chose is not echoed
        r = requests.post(
            url + "/__admin__/create_account",
            json={"email": "cli@example.com", "password": "pw"},
            headers={"X-Admin-Secret": "s3"},
            timeout=10,
        )
        assert r.status_code == 200
    finally:
        assert _stop(proc) == 0
    assert (tmp_path / "accounts.db").exists()


def test_serve_storage_only() -> None:
    proc, lines = _serve("--storage-only", "--secret", "abc")
    try:
        url = re.search(r"at (http://127\.0\.0\.1:\d+)", "\n".join(lines)).group(1)
        assert requests.get(url + "/1.5/1/info/collections", timeout=10).status_code == 401
    finally:
        assert _stop(proc) == 0


def test_serve_demo_prints_credentials() -> None:
    proc, lines = _serve("--demo")
    try:
        text = "\n".join(lines)
        assert re.search(r"email\s+\S+@\S+", text) and re.search(r"password\s+\S+", text)
    finally:
        assert _stop(proc) == 0


def test_serve_argument_errors(capsys) -> None:
    assert main(["serve", "--storage-only"]) == 1
    assert "--secret" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 1
