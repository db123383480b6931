"""The command line against the embedded stack: the stack runs in the test process,
``synctools`` runs as a subprocess (login reads its prompts from stdin) or in-process
through ``synctools.cli.main`` with captured output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synctools.protocol.crypto import CollectionKeys
from synctools.protocol.keys import derive_sync_keys
from synctools.protocol.metaglobal import MetaGlobal
from synctools.server import LocalStack

TOTP_EMAIL = "totp-user@example.com"
TOTP_PASSWORD = "a password with TOTP"  # noqa: S105 - a test account
KRT = 1_700_000_000_000


@pytest.fixture(scope="module")
def stack():
    with LocalStack(demo=True) as s:
        kb = os.urandom(32)
        s.admin.create_account(TOTP_EMAIL, TOTP_PASSWORD, kb=kb, verification="totp", key_rotation_timestamp=KRT)
        s.admin.put_records(TOTP_EMAIL, "meta", [{"id": "global", "payload": MetaGlobal.fresh().to_json()}])
        keys = CollectionKeys.generate()
        payload = json.dumps(derive_sync_keys(kb, KRT).bundle.encrypt(keys.to_cleartext()))
        s.admin.put_records(TOTP_EMAIL, "crypto", [{"id": "keys", "payload": payload}])
        yield s


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """Per-test config and data folders, for subprocesses and in-process runs alike."""
    values = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "SYNCTOOLS_DATA_DIR": str(tmp_path / "data"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SYNCTOOLS_SESSION", raising=False)
    return {**os.environ, **values}


def run_cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    # what the `synctools` console script runs (``python -m synctools.cli`` would load cli.py
    # twice, as __main__ and as synctools.cli, with two CommandError classes)
    code = "import sys; from synctools.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def server_args(stack) -> list[str]:
    return ["--auth-url", stack.auth_url, "--token-url", stack.token_url]


def session_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "synctools" / "session.json"


def free_port() -> int:
    """A port nothing listens on (bound, then released): requests to it are refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def saved_session(stack, path: Path, *, email: str | None = None, password: str | None = None) -> Path:
    """Log in to the stack's demo account (or another) and save the session as
    `synctools login` does: keys included, the tokenserver URL beside it."""
    from synctools import net

    acct = stack.demo_account
    client = net.FxaClient(stack.auth_url, stack.oauth_url)
    session = client.login(email or acct.email, password or acct.password)
    session.fetch_keys()
    session.oauth_token()
    return net.save_session(session, path, include_keys=True, extra={"synctools_cli": {"token_url": stack.token_url}})


def unreachable_session(stack, path: Path) -> Path:
    """A real saved session (keys and all) whose servers no longer answer."""
    saved_session(stack, path)
    data = json.loads(path.read_text())
    dead = f"http://127.0.0.1:{free_port()}"
    data.update(auth_url=f"{dead}/v1", oauth_url=f"{dead}/v1", synctools_cli={"token_url": f"{dead}/token"})
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit status 1 and said why in exactly one line."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("synctools: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]
