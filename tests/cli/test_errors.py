"""Every mistake a person can make on the command line ends in one line that says what
was wrong and what to do, with exit status 1: never a traceback, and never an error
reported with exit status 0. The specific reports of issue 12 run the real command in a
subprocess; a walk over every command with hostile arguments, broken files and servers
that do not answer runs it in-process (a traceback there is an exception escaping
``main``)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synctools.cli import main

from .conftest import (
    free_port,
    one_line_error,
    run_cli,
    saved_session,
    server_args,
    session_file,
    unreachable_session,
)

# -- login: the emails PyFxA refuses, URLs without a scheme --------------------------------


@pytest.mark.parametrize(
    ("email", "says"),
    [
        ("ada@EXAMPLE.com", "'ada@example.com'"),  # capitals in the domain: the fix is offered
        ("ada.example.com", "no @"),
        ("ada@example.com ", "spaces"),
    ],
)
def test_login_with_an_email_pyfxa_refuses_is_one_line(stack, env, email, says):
    proc = run_cli(["login", "--email", email, *server_args(stack)], env, stdin="a password\n")
    line = one_line_error(proc)
    assert says in line
    assert "Password for" not in proc.stderr  # refused before anyone types a password for it
    assert not session_file(env).exists()


def test_an_email_typed_at_the_prompt_is_checked_too(stack, env):
    line = one_line_error(run_cli(["login", *server_args(stack)], env, stdin="Ada@Example.COM\npw\n"))
    assert "'Ada@example.com'" in line


def test_an_auth_url_without_a_scheme_is_one_line(env):
    proc = run_cli(["login", "--email", "ada@example.com", "--auth-url", "127.0.0.1:8000/v1"], env, stdin="pw\n")
    line = one_line_error(proc)
    assert "--auth-url '127.0.0.1:8000/v1'" in line and "http://" in line


def _in_process(argv: list[str], capsys, monkeypatch, stdin: str = "pw\n") -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("email", [" ada@example.com", "ada@localhost", "ada@exa mple.com", "", "ada@example.com\n"])
@pytest.mark.parametrize("command", ["login", "status", "doctor"])
def test_every_command_checks_the_email(env, capsys, monkeypatch, command, email):
    code, err = _in_process([command, "--email", email, "--token-url", "http://127.0.0.1:1/token"], capsys,
                            monkeypatch, stdin="also not an email\npw\n")  # fmt: skip
    assert code == 1 and err.count("synctools: error:") == 1 and "email" in err, err


@pytest.mark.parametrize("command", [["login", "--email", "ada@example.com"], ["status", "--email", "ada@example.com"],
                                     ["export", "bookmarks"], ["trace", "--local"]])  # fmt: skip
@pytest.mark.parametrize(
    ("option", "url"),
    [("--auth-url", "localhost"), ("--token-url", "ftp://127.0.0.1/token"),
     ("--token-url", "http://127.0.0.1:99999/token"), ("--auth-url", "http://[::1/v1"), ("--token-url", " http://a.b/")],
)  # fmt: skip
def test_a_server_url_without_scheme_or_host_is_one_line(env, capsys, monkeypatch, command, option, url):
    code, err = _in_process([*command, option, url], capsys, monkeypatch)
    assert code == 1 and err.count("synctools: error:") == 1, err
    assert option in err and "http://" in err and "starting the embedded stack" not in err


def test_email_rule_is_pyfxa_s_rule():
    """What we refuse is exactly what PyFxA would refuse (its v1 salt check), so no email
    reaches PyFxA to fail there, and none it takes is turned away."""
    from fxa.crypto import quick_stretch_password

    from synctools.cli import CommandError
    from synctools.commands._common import check_email

    @given(st.text(alphabet=st.sampled_from("aAzZ09.@-_+ é\n"), max_size=24) | st.emails().map(str))
    @settings(max_examples=300, deadline=None, derandomize=True)
    def agree(email):
        try:
            quick_stretch_password(email, "pw")
            pyfxa_ok = not email.endswith("\n")  # PyFxA's pattern ends in `$`, which a final newline passes
        except ValueError:
            pyfxa_ok = False
        try:
            check_email(email)
            ours = True
        except CommandError:
            ours = False
        assert ours == pyfxa_ok, email

    agree()


# -- errors reported with exit status 0 ---------------------------------------------------


def test_trace_csv_into_a_missing_folder_fails_before_any_request(env, tmp_path):
    proc = run_cli(["trace", "--local", "--csv", str(tmp_path / "nope" / "trace.csv")], env)
    line = one_line_error(proc)
    assert "nope" in line and "does not exist" in line
    assert "starting the embedded stack" not in proc.stderr  # nothing was run for nothing


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["export", "bookmarks", "-o", "{missing}/b.csv"], "-o"),
        (["export", "bookmarks", "-o", "{tmp}"], "-o"),
        (["doctor", "--share", "{missing}/share.json"], "--share"),
        (["trace", "--csv", "{tmp}"], "--csv"),
    ],
)
def test_outputs_that_cannot_be_written_fail_first(env, tmp_path, args, option):
    args = [a.format(missing=tmp_path / "missing", tmp=tmp_path) for a in args]
    proc = run_cli([*args, "--local"], env)
    assert one_line_error(proc).startswith(f"synctools: error: {option} ")
    assert "starting the embedded stack" not in proc.stderr  # refused before any work


def test_logout_that_cannot_reach_the_server_keeps_the_session_and_fails(stack, env):
    path = unreachable_session(stack, session_file(env))
    line = one_line_error(run_cli(["logout"], env))
    assert "still valid on the server" in line and "--forget" in line
    assert path.exists()
    forced = run_cli(["logout", "--forget"], env)
    assert forced.returncode == 0 and "logged out" in forced.stdout, forced.stderr
    assert not path.exists() and "stays valid on the server" in forced.stderr


def test_logout_refuses_to_delete_a_file_that_is_no_session(env, tmp_path):
    other = tmp_path / "notes.json"
    other.write_text('{"mine": true}')
    other.chmod(0o600)
    assert "nothing was deleted" in one_line_error(run_cli(["logout", "--session", str(other)], env))
    assert other.exists()


def test_pull_that_could_not_store_a_collection_fails(stack, env):
    saved_session(stack, session_file(env))
    # another client writes to history while its pages are read (20,000 records: 4 pages of
    # 5,000): the read cannot be consistent
    stack.admin.inject_fault("412", count=3, method="GET", path=r"/storage/history$")
    try:
        proc = run_cli(["pull"], env)
    finally:
        stack.admin.clear_faults()
    line = one_line_error(proc)
    assert "history" in line and "pull` again" in line


def test_doctor_fix_without_a_terminal_asks_for_yes_before_any_work(env):
    proc = run_cli(["doctor", "--local", "--fix"], env)
    assert "--yes" in one_line_error(proc)
    assert "starting the embedded stack" not in proc.stderr


# -- the walk: every command, hostile arguments, broken files, servers that do not answer --


def _session_files(folder: Path, good: Path) -> dict[str, Path]:
    """Session files that are broken in every way a file can be."""
    real = json.loads(good.read_text())
    variants = {
        "empty": "",
        "not-json": "{not json",
        "a-list": "[1, 2]",
        "other-format": json.dumps({"format": "something else"}),
        "no-urls": json.dumps({"format": real["format"], "version": 1}),
        "bad-url": json.dumps({**real, "auth_url": "not a url"}),
        "number-url": json.dumps({**real, "auth_url": 5}),
        "bad-keys": json.dumps({**real, "keys": {"kty": "oct", "k": "!!", "kid": "x"}}),
        "bad-oauth": json.dumps({**real, "oauth": {"access_token": "t", "expires_at": "yesterday"}}),
        "oauth-string": json.dumps({**real, "oauth": "token"}),
        "no-keys": json.dumps({k: v for k, v in real.items() if k != "keys"}),
        "token-url-number": json.dumps({**real, "synctools_cli": {"token_url": 42}}),
        "unreachable": good.read_text(),
    }
    out = {}
    for name, text in variants.items():
        p = folder / f"{name}.json"
        p.write_text(text)
        p.chmod(0o600)
        out[name] = p
    wide = folder / "wide.json"
    wide.write_text(good.read_text())
    wide.chmod(0o644)
    out["wide"] = wide
    out["missing"] = folder / "missing.json"
    out["folder"] = folder
    return out


def _paths(folder: Path) -> dict[str, Path]:
    """Store and output paths that cannot be used as they are."""
    not_sqlite = folder / "not.sqlite"
    not_sqlite.write_bytes(b"this is not a database" * 10)
    places = folder / "places.sqlite"
    with sqlite3.connect(places) as db:
        db.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    a_file = folder / "a-file"
    a_file.write_text("x")
    return {
        "missing-folder": folder / "missing" / "x.out",
        "folder": folder,
        "not-sqlite": not_sqlite,
        "places": places,
        "under-a-file": a_file / "x.out",
        "fresh": folder / "fresh.sqlite",
    }


EMAILS = ["ada@EXAMPLE.com", "noat", "a@b.c ", "", "ünï@example.com", "a@b.c"]
URLS = [
    "127.0.0.1:9/v1",
    "",
    "http://",
    "ftp://x/y",
    "http://127.0.0.1:99999",
    "http://[::1",
    "http://127.0.0.1:{dead}/v1",
]
WORDS = ["bookmarks", "nosuch", "", "../etc", "a/b", "-", "é" * 40, "meta", "crypto"]


def _argv(data, sessions: dict[str, Path], paths: dict[str, Path], dead: int) -> list[str]:
    def pick(values):
        return str(data.draw(st.sampled_from(values)))

    def session() -> list[str]:
        return ["--session", str(sessions[data.draw(st.sampled_from(sorted(sessions)))])]

    def path() -> str:
        return str(paths[data.draw(st.sampled_from(sorted(paths)))])

    url = lambda: pick(URLS).format(dead=dead)  # noqa: E731
    server = {
        "session": session,
        "store": lambda: ["--store", path()],
        "token-url": lambda: ["--token-url", url()],
        "email": lambda: ["--email", pick(EMAILS)],
        "auth-url": lambda: ["--auth-url", url()],
    }
    per_command = {
        "login": {
            "email": server["email"],
            "auth-url": server["auth-url"],
            "token-url": server["token-url"],
            "oauth-url": lambda: ["--oauth-url", url()],
            "session": session,
            "no-keys": lambda: ["--no-keys"],
        },
        "logout": {"session": session, "forget": lambda: ["--forget"]},
        "status": {**server, "offline": lambda: ["--offline"]},
        "pull": server,
        "export": {
            **server,
            "format": lambda: ["--format", pick(["csv", "json", "parquet"])],
            "output": lambda: ["-o", pick(["-", *map(str, paths.values())])],
            "part": lambda: ["--part", pick(WORDS)],
            "reveal": lambda: ["--reveal"],
            "offline": lambda: ["--offline"],
        },
        "doctor": {
            **server,
            "share": lambda: ["--share", path()],
            "json": lambda: ["--json"],
            "fix": lambda: ["--fix"],
            "yes": lambda: ["--yes"],
            "fail-on": lambda: ["--fail-on", "warning"],
            "offline": lambda: ["--offline"],
        },
        "trace": {
            **server,
            "until": lambda: ["--until", pick(["fetch_info", "download"])],
            "csv": lambda: ["--csv", path()],
        },
        "discard": {**server, "all": lambda: ["--all"], "yes": lambda: ["--yes"]},
        "restore": {**server, "commit": lambda: ["--commit"], "yes": lambda: ["--yes"]},
        "lab": {"dir": lambda: ["--dir", path()], "allow-root": lambda: ["--allow-root"]},
        "snapshot": {
            **server,
            "output": lambda: ["-o", path()],
            "from-aboutsync": lambda: ["--from-aboutsync", path()],
        },
        "device": {
            "json": lambda: ["--json"],
            "export": lambda: ["--export", path()],
            "format": lambda: ["--format", pick(["csv", "json", "parquet"])],
            "syncs": lambda: ["--syncs", pick(["-1", "0", "x"])],
        },
    }
    command = data.draw(st.sampled_from(sorted(per_command)))
    argv = [command]
    if command == "export":
        argv.append(pick(WORDS))
    if command == "device":
        argv.append(path())
    if command == "discard" and data.draw(st.booleans()):
        argv += [pick(WORDS)] + ([pick(WORDS)] if data.draw(st.booleans()) else [])
    if command == "restore" and data.draw(st.booleans()):
        argv.append(pick(["1", "0", "-3", "99"]))
    options = per_command[command]
    for name in data.draw(st.lists(st.sampled_from(sorted(options)), max_size=4, unique=True)):
        argv += options[name]()
    if command == "lab":
        argv.append("--dry-run")  # never start a server from the walk; the real one has its own tests
    return argv


def _check_outcome(argv: list[str], code: int | None, err: str) -> None:
    assert "Traceback" not in err, (argv, err)
    errors = [line for line in err.splitlines() if line.startswith("synctools: error:")]
    if code == 2:  # argparse: a usage line and its own error line
        assert "usage:" in err, (argv, err)
        return
    assert code in (0, 1, 3), (argv, code, err)
    if code == 1:
        assert len(errors) == 1 and len(errors[0]) > len("synctools: error: ") + 10, (argv, err)
    else:
        assert not errors, (argv, code, err)  # an error is never reported with exit status 0


def test_walk_every_command_with_hostile_arguments(stack, env, tmp_path, capsys, monkeypatch):
    """Each example: one command with up to four options drawn from hostile values, run
    in-process against broken session files, unusable stores and outputs, and servers
    that do not answer. No exception escapes main(); exit 1 comes with one error line;
    exit 0 with none."""
    good = unreachable_session(stack, tmp_path / "good.json")
    dead = free_port()
    examples = int(os.environ.get("SYNCTOOLS_FUZZ_EXAMPLES", "120"))
    long_run = os.environ.get("HYPOTHESIS_PROFILE") == "long"

    @given(data=st.data())
    @settings(max_examples=examples, deadline=None, derandomize=not long_run, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
    def walk(data):
        with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
            base = Path(folder)
            (base / "s").mkdir()
            (base / "p").mkdir()
            argv = _argv(data, _session_files(base / "s", good), _paths(base / "p"), dead)
            monkeypatch.setattr(sys, "stdin", io.StringIO("a password\n123456\n"))
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's own exits: --help 0, a bad option 2
                code = exc.code if isinstance(exc.code, int) else 2
            captured = capsys.readouterr()
            _check_outcome(argv, code, captured.err)

    walk()


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--port", "70000"],
        ["serve", "--storage-only"],
        ["doctor", "--local", "--offline"],
        ["status", "--offline", "--email", "ada@example.com"],
        ["restore", "--local"],
    ],
)
def test_more_mistakes_are_one_line(env, capsys, monkeypatch, argv):
    """Cases the walk leaves out because they start a server (or would)."""
    try:
        code, err = _in_process(argv, capsys, monkeypatch)
    except SystemExit as exc:  # argparse refuses the combination outright
        assert exc.code == 2 and "usage:" in capsys.readouterr().err
        return
    assert code == 1 and err.count("synctools: error:") == 1 and "Traceback" not in err, err


def test_a_reader_that_goes_away_is_no_error(env):
    """`synctools ... | head`: stdout closes early; no traceback, the shell's status for SIGPIPE."""
    code = "import sys; from synctools.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "lab", "--dry-run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "Exception ignored" not in err, err


def test_login_refuses_a_session_path_it_could_not_save_before_the_password(stack, env, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    acct = stack.demo_account
    proc = run_cli(["login", "--email", acct.email, "--session", str(a_file / "session.json"), *server_args(stack)],
                   env, stdin=acct.password + "\n")  # fmt: skip
    assert "is a file, not a folder" in one_line_error(proc)
    assert "Password for" not in proc.stderr
