"""What the check-server tests share: the command line in a subprocess, a page that is
not a Sync server, a port nothing listens on, and the secrets an output must not hold."""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

# A run of base64url/hex this long, with lower-case letters and digits, is a token id, a
# Hawk key, an OAuth token or a MAC -- never a URL, a fingerprint (8 hex digits) or a
# setting's name (SYNC_TOKENSERVER__FXA_OAUTH_SERVER_URL).
LONG_RUN = re.compile(r"[A-Za-z0-9_+/=-]{40,}")


def run_cli(args: list[str], stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``synctools ARGS`` as the console script runs it."""
    code = "import sys; from synctools.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)  # fmt: skip


def assert_no_secrets(text: str, secrets: list[str | bytes | None]) -> None:
    for secret in secrets:
        if not secret:
            continue
        forms = [secret.hex(), secret.decode("latin-1")] if isinstance(secret, bytes) else [secret]
        for form in forms:
            assert form not in text, f"a secret ({len(form)} chars) appears in the output"
    found = [r for r in LONG_RUN.findall(text) if re.search(r"[a-z]", r) and re.search(r"[0-9]", r)]
    assert not found, f"something secret-looking appears in the output: {[f[:6] + '…' for f in found]}"


def assert_one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 1, nothing on stdout, exactly one line on stderr, no traceback."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("synctools: error: ")
    assert proc.stdout.strip() == ""
    return lines[0]


def report_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but never listened on: connecting is refused, deterministically."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


class _Page(http.server.BaseHTTPRequestHandler):
    body = b"<!doctype html><html><head><title>Welcome to my NAS</title></head><body>hello</body></html>"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def html_site() -> Iterator[str]:
    """A web server that answers an HTML page to every GET, as a router or NAS does."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
