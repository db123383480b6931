"""The command line end to end: login with prompts, status, pull, export, doctor, trace,
logout; every expected failure is one line and a non-zero exit."""

from __future__ import annotations

import json
import stat

import pandas as pd
import pytest

from synctools.cli import main
from synctools.demodata import build_demo_account

from .conftest import TOTP_EMAIL, TOTP_PASSWORD, run_cli, server_args, session_file


def login_demo(stack, env) -> None:
    acct = stack.demo_account
    proc = run_cli(["login", "--email", acct.email, *server_args(stack)], env, stdin=acct.password + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_login_asks_password_and_totp_and_saves_a_private_session(stack, env):
    code = stack.admin.totp_code(TOTP_EMAIL)
    proc = run_cli(["login", *server_args(stack)], env, stdin=f"{TOTP_EMAIL}\n{TOTP_PASSWORD}\n{code}\n")
    assert proc.returncode == 0, proc.stderr
    assert "Password for" in proc.stderr and "TOTP code" in proc.stderr
    assert f"logged in as {TOTP_EMAIL} (verified by totp" in proc.stdout
    path = session_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = path.read_text()
    assert TOTP_PASSWORD not in saved and TOTP_PASSWORD not in proc.stdout + proc.stderr
    assert json.loads(saved)["synctools_cli"]["token_url"] == stack.token_url
    # the saved session works for the next command, without any prompt
    status = run_cli(["status"], env)
    assert status.returncode == 0, status.stderr
    assert f"account: {TOTP_EMAIL}" in status.stdout and "no problems found" in status.stdout


def test_commands_on_a_saved_session(stack, env, tmp_path, capsys):
    login_demo(stack, env)

    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "storage version 5" in text and "setup.declined-engine-data" in text

    assert main(["pull"]) == 0
    captured = capsys.readouterr()
    assert "bookmarks" in captured.out and "hmac-mismatch: 1" in captured.out
    assert "local store:" in captured.err
    stores = list((tmp_path / "data").rglob("*.sqlite"))
    assert stores, "pull keeps the records in the per-user store"
    assert main(["pull"]) == 0  # a second pull reads only what changed: nothing
    table = capsys.readouterr().out.splitlines()
    row = next(line.split() for line in table if line.split()[:1] == ["bookmarks"])
    assert row[1] == "0" and row[3] == "2360"  # downloaded 0, total 2360 (from the store)

    out_csv = tmp_path / "bookmarks.csv"
    assert main(["export", "bookmarks", "--format", "csv", "-o", str(out_csv)]) == 0
    frame = pd.read_csv(out_csv)
    assert len(frame) == 2360 and {"id", "url", "title", "parent_id"} <= set(frame.columns)

    demo = build_demo_account()
    secret = next(r["password"] for r in demo.cleartext["passwords"] if len(r["password"]) >= 10)
    assert main(["export", "passwords", "--format", "json", "-o", "-"]) == 0
    masked = capsys.readouterr().out
    assert "********" in masked and secret not in masked
    assert main(["export", "passwords", "--format", "json", "-o", "-", "--reveal"]) == 0
    revealed = capsys.readouterr()
    assert secret in revealed.out and "REVEALED" in revealed.err

    share = tmp_path / "share.json"
    assert main(["doctor", "--share", str(share), "--fail-on", "error"]) == 3  # the planted errors
    report = capsys.readouterr().out
    for p in demo.planted:
        assert p.record_id in report
    anon = json.loads(share.read_text())
    assert anon["format"] == "synctools-doctor-share/1"
    assert demo.planted[0].record_id not in share.read_text()

    assert main(["trace", "--until", "fetch_info"]) == 0
    trace = capsys.readouterr().out
    assert "/token/1.0/sync/1.5" in trace and "info/collections" in trace and "state: info" in trace

    proc = run_cli(["logout"], env)
    assert proc.returncode == 0 and "logged out" in proc.stdout, proc.stderr
    assert not session_file(env).exists()
    again = run_cli(["status"], env)
    assert again.returncode == 1
    assert again.stderr.strip().startswith("synctools: error: not logged in") and "Traceback" not in again.stderr


def _one_line_error(proc) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("synctools: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_expected_failures_are_one_line(stack, env):
    acct = stack.demo_account
    line = _one_line_error(
        run_cli(["login", "--email", acct.email, *server_args(stack)], env, stdin="wrong password\n")
    )
    assert "password" in line.lower()
    line = _one_line_error(run_cli(["login", "--email", acct.email, "--auth-url", "http://127.0.0.1:9/v1",
                                    "--token-url", "http://127.0.0.1:9/token"], env, stdin="x\n"))  # fmt: skip
    assert "unreachable" in line.lower() or "connect" in line.lower()
    _one_line_error(run_cli(["login", "--email", acct.email, *server_args(stack)], env, stdin=""))
    login_demo(stack, env)
    path = session_file(env)
    path.chmod(0o644)
    assert "chmod 600" in _one_line_error(run_cli(["status"], env))
    path.chmod(0o600)
    assert "stdout" in _one_line_error(run_cli(["export", "bookmarks", "--format", "parquet", "-o", "-"], env))
    assert "no 'nosuch' collection" in _one_line_error(run_cli(["export", "nosuch"], env))


def test_one_off_login_for_a_single_command(stack, env):
    acct = stack.demo_account
    proc = run_cli(["status", "--email", acct.email, *server_args(stack)], env, stdin=acct.password + "\n")
    assert proc.returncode == 0, proc.stderr
    assert f"account: {acct.email}" in proc.stdout and "storage version 5" in proc.stdout
    assert not session_file(env).exists()  # nothing saved
    assert "--email" in _one_line_error(run_cli(["status", "--auth-url", stack.auth_url], env))


def test_doctor_fix_on_the_local_demo_stack(env, capsys):
    assert main(["doctor", "--local", "--fix", "--yes", "--fail-on", "error"]) == 0  # nothing left that bad
    text = capsys.readouterr().out
    before, after = text.split("after the fixes: ")
    assert "[ERROR] records.wrong-key" in before and "commit: committed" in before
    assert "[ERROR]" not in after
    # what is left waits for a person's choice: which password to keep, what to do with a livemark
    left = {line.split(" — ")[0] for line in after.splitlines() if line.startswith("[WARNING]")}
    assert left == {"[WARNING] passwords.duplicate", "[WARNING] bookmarks.non-syncable"}, after


def test_lab_dry_run_opens_the_notebooks(env, capsys):
    assert main(["lab", "--dry-run", "--no-browser"]) == 0
    cmd = capsys.readouterr().out
    assert "-m jupyterlab" in cmd and "--notebook-dir=" in cmd and cmd.strip().endswith("--no-browser")
    assert "notebooks" in cmd


@pytest.mark.parametrize("command", ["login", "status", "pull", "export", "doctor", "trace", "lab", "logout"])
def test_help_says_what_each_command_does(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert len(text) > 300
    if command in ("status", "pull", "export", "doctor", "trace"):
        assert "--local" in text and "--session" in text


def test_login_no_keys_saves_a_session_without_keys(stack, env):
    acct = stack.demo_account
    proc = run_cli(["login", "--no-keys", "--email", acct.email, *server_args(stack)], env, stdin=acct.password + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "without the sync keys" in proc.stdout
    assert '"keys"' not in session_file(env).read_text()
    line = _one_line_error(run_cli(["status"], env))
    assert "holds no sync keys" in line and "--email" in line
