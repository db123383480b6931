"""`synctools discard` drops staged changes (shown first, confirmed, never touching the
server); `synctools restore` lists snapshots and plans putting one back, committing only
with --commit and a confirmation. Neither leaves anything staged that a later plan
could carry unseen."""

from __future__ import annotations

import io
import json
import sqlite3
import sys

import pytest

from synctools import Sync
from synctools.cli import main

from .conftest import one_line_error, run_cli, saved_session, session_file


def cli(argv: list[str], capsys, monkeypatch, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))  # no terminal: confirmations need --yes
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def sync(stack, env):
    """The saved session in-process, on the same local store as the commands."""
    path = saved_session(stack, session_file(env))
    s = Sync.from_session(path, token_url=stack.token_url, progress=False)
    s.run(until="fetch_crypto_keys")
    s.download(["bookmarks", "passwords"])
    return s


def server_title(stack, record_id: str) -> str:
    s = Sync.local(stack)
    s.run(until="fetch_crypto_keys")
    s.download(["bookmarks"])
    return s.record("bookmarks", record_id)["title"]


def bookmark_ids(sync, n: int) -> list[str]:
    return list(sync.frame("bookmarks").query("type == 'bookmark'")["id"].iloc[:n])


def test_discard_shows_confirms_and_drops_without_touching_the_server(stack, sync, capsys, monkeypatch):
    b1, b2 = bookmark_ids(sync, 2)
    sync.edit("bookmarks", b1, {"title": "one"})
    sync.edit("bookmarks", b2, {"title": "two"})
    pw = sync.frame("passwords")["id"].iloc[0]
    sync.edit("passwords", pw, {"password": "hunter2-staged"})

    code, out, err = cli(["discard"], capsys, monkeypatch)
    assert code == 1 and "staged now: bookmarks (2), passwords (1)" in err

    code, out, err = cli(["discard", "bookmarks", "--", b1], capsys, monkeypatch)
    assert code == 1 and "--yes" in err and f"edit    bookmarks/{b1}" in out
    assert len(sync.store.staged_index()) == 3  # nothing dropped without a yes

    before = len(stack.admin.requests())
    code, out, err = cli(["discard", "--yes", "bookmarks", "--", b1], capsys, monkeypatch)
    assert code == 0 and "dropped 1 staged change(s)" in out
    assert {(c, r) for c, r, _ in sync.store.staged_index()} == {("bookmarks", b2), ("passwords", pw)}
    assert "hunter2-staged" not in out + err  # ids and kinds only: no record content shown

    code, out, err = cli(["discard", "nosuch", "--yes"], capsys, monkeypatch)
    assert code == 1 and "nothing is staged for nosuch" in err

    code, out, err = cli(["discard", "--all", "--yes"], capsys, monkeypatch)
    assert code == 0 and "dropped 2" in out and sync.store.staged_index() == []
    assert len(stack.admin.requests()) == before  # not one request: the server never had them

    code, out, err = cli(["discard", "--all"], capsys, monkeypatch)
    assert code == 0 and "nothing is staged" in out


def test_discard_works_when_a_staged_record_no_longer_decrypts(sync, capsys, monkeypatch):
    with sqlite3.connect(sync.store.path) as db:  # staged under keys this account no longer has
        db.execute(
            "INSERT INTO staged (collection, id, kind, record, staged_at) VALUES (?, ?, ?, ?, ?)",
            ("bookmarks", "unreadable01", "edit", json.dumps({"ciphertext": "x", "IV": "y", "hmac": "z"}), 1.0),
        )
    code, out, err = cli(["discard", "bookmarks", "unreadable01", "--yes"], capsys, monkeypatch)
    assert code == 0 and "dropped 1" in out, err
    assert sync.store.staged_index() == []


def test_restore_lists_plans_and_commits_only_when_asked(stack, env, sync):
    rid = bookmark_ids(sync, 1)[0]
    original = sync.record("bookmarks", rid)["title"]
    sync.edit("bookmarks", rid, {"title": "changed, to be restored"})
    sync.merge()
    result = sync.commit(sync.plan_upload().accept())
    assert result.status == "committed" and server_title(stack, rid) == "changed, to be restored"

    listing = run_cli(["restore"], env)
    assert listing.returncode == 0, listing.stderr
    assert f"{result.snapshot:>8}" in listing.stdout and "before commit of plan" in listing.stdout

    plan_only = run_cli(["restore", str(result.snapshot)], env)
    assert plan_only.returncode == 0, plan_only.stderr
    assert rid in plan_only.stdout and "X-If-Unmodified-Since" in plan_only.stdout
    assert "not committed (a plan only)" in plan_only.stderr
    assert server_title(stack, rid) == "changed, to be restored"
    assert sync.store.staged_index() == []  # the plan's records did not stay staged

    assert "--yes" in one_line_error(run_cli(["restore", str(result.snapshot), "--commit"], env))
    assert server_title(stack, rid) == "changed, to be restored"

    done = run_cli(["restore", str(result.snapshot), "--commit", "--yes"], env)
    assert done.returncode == 0, done.stderr
    assert "commit: committed, 1 record(s) written; snapshot #" in done.stdout
    assert server_title(stack, rid) == original
    assert sync.store.staged_index() == []

    line = one_line_error(run_cli(["restore", "999"], env))
    assert "no snapshot 999" in line and str(result.snapshot) in line


def test_restore_refuses_over_changes_staged_earlier(stack, env, sync):
    rid = bookmark_ids(sync, 1)[0]
    sync.edit("bookmarks", rid, {"title": "staged in a notebook"})
    sync.merge()
    snap = sync.commit(sync.plan_upload().accept()).snapshot
    other = bookmark_ids(sync, 2)[1]
    sync.edit("bookmarks", other, {"title": "not part of the snapshot"})
    line = one_line_error(run_cli(["restore", str(snap), "--commit", "--yes"], env))
    assert "already staged" in line and "synctools discard --all" in line
    assert [r for _, r, _ in sync.store.staged_index()] == [other]  # left as it was
