"""`status`, `export` and `doctor` work from the local store when the server does not
answer (or with --offline), saying so and as of when; nothing that needs the server
pretends to work. The account is pulled once while the embedded stack runs; then the
stack stops and the saved OAuth token expires, as it would for a person on a train."""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from synctools import LocalStack, Sync
from synctools.machine import OfflineError, State, SyncError
from synctools.protocol.metaglobal import MetaGlobal

from .conftest import one_line_error, run_cli, saved_session

AS_OF = re.compile(r"as of \d{4}-\d\d-\d\d \d\d:\d\d UTC")


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """A pulled account whose server has gone away. Holds what the online runs printed."""
    base = tmp_path_factory.mktemp("offline")
    env = {**os.environ, "XDG_CONFIG_HOME": str(base / "config"), "SYNCTOOLS_DATA_DIR": str(base / "data")}
    env.pop("SYNCTOOLS_SESSION", None)
    session = base / "config" / "synctools" / "session.json"
    online = {}
    with LocalStack(demo=True) as stack:
        saved_session(stack, session)
        assert run_cli(["pull"], env).returncode == 0
        online["export"] = run_cli(["export", "bookmarks", "-o", str(base / "online.csv")], env)
        online["status"] = run_cli(["status"], env)
        before = len(stack.admin.requests())
        online["status --offline"] = run_cli(["status", "--offline"], env)
        online["requests during --offline"] = len(stack.admin.requests()) - before
        demo = stack.demo_account
    # the stack is gone; and the saved OAuth token has expired since
    data = json.loads(session.read_text())
    data["oauth"]["expires_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    session.write_text(json.dumps(data))
    session.chmod(0o600)
    return {"env": env, "base": base, "session": session, "online": online, "demo": demo}


def test_offline_flag_reads_the_store_without_a_single_request(account):
    proc = account["online"]["status --offline"]
    assert proc.returncode == 0, proc.stderr
    assert account["online"]["requests during --offline"] == 0
    assert "offline (--offline)" in proc.stdout and AS_OF.search(proc.stdout)


def test_status_with_the_server_gone_works_from_the_store(account):
    proc = run_cli(["status"], account["env"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "offline (the server did not answer)" in proc.stdout and AS_OF.search(proc.stdout)
    assert "synctools: offline" in proc.stderr and "did not answer" in proc.stderr  # which server, and why
    online = account["online"]["status"].stdout
    for line in ("meta/global: ", "crypto/keys: ", "collections on the server: "):
        want = next(x for x in online.splitlines() if x.startswith(line))
        assert want in proc.stdout  # the same setup, as last read
    assert "setup.declined-engine-data" in proc.stdout  # and the same findings


def test_export_with_the_server_gone_writes_what_was_pulled(account):
    out = account["base"] / "offline.csv"
    proc = run_cli(["export", "bookmarks", "-o", str(out)], account["env"])
    assert proc.returncode == 0, proc.stderr
    assert "synctools: offline" in proc.stderr and "bookmarks: as downloaded last" in proc.stderr
    assert out.read_text() == (account["base"] / "online.csv").read_text()
    assert len(pd.read_csv(out)) == 2360


def test_export_offline_of_a_collection_never_pulled_says_so(account):
    line = one_line_error(run_cli(["export", "nosuch", "-o", "-", "--offline"], account["env"]))
    assert "local store holds no 'nosuch'" in line and "bookmarks" in line


def test_doctor_with_the_server_gone_finds_the_planted_problems(account):
    proc = run_cli(["doctor", "--fail-on", "error"], account["env"])
    assert proc.returncode == 3, proc.stderr  # the planted errors, found offline
    assert "synctools: offline" in proc.stderr
    for planted in account["demo"].planted:
        assert planted.record_id in proc.stdout


def test_what_needs_the_server_still_fails_offline(account):
    line = one_line_error(run_cli(["doctor", "--fix", "--yes"], account["env"]))
    assert "need the server" in line
    assert "did not answer" in one_line_error(run_cli(["pull"], account["env"]))


def saved_sync(account, monkeypatch, **kwargs) -> Sync:
    """The account's saved session, in-process, on the store the commands used."""
    monkeypatch.setenv("SYNCTOOLS_DATA_DIR", account["env"]["SYNCTOOLS_DATA_DIR"])
    token_url = json.loads(account["session"].read_text())["synctools_cli"]["token_url"]
    return Sync.from_session(account["session"], token_url=token_url, progress=False, **kwargs)


def test_the_store_keeps_crypto_keys_only_as_the_server_s_ciphertext(account, monkeypatch):
    sync = saved_sync(account, monkeypatch)
    sync.authenticate()
    assert sync.trace_log.exchanges == []  # a saved session with keys: no network, even with the token expired
    sync.open_offline("test")
    stored = sync.store.server_record("crypto", "keys")
    assert set(json.loads(stored.payload)) == {"ciphertext", "IV", "hmac"}
    files = [p for p in sync.store.path.parent.iterdir() if p.name.startswith(sync.store.path.name)]
    raw = b"".join(p.read_bytes() for p in files)  # the database, its WAL and shared memory
    for bundle in [sync.collection_keys.default, *sync.collection_keys.collections.values()]:
        for key in (bundle.enc_key, bundle.hmac_key):
            assert base64.b64encode(key) not in raw and key not in raw
    assert base64.b64encode(sync.keys.ksync) not in raw and sync.keys.ksync not in raw


def test_an_offline_sync_reads_everything_and_writes_nothing(account, monkeypatch):
    sync = saved_sync(account, monkeypatch)
    sync.authenticate()
    result = sync.open_offline("on a train")
    assert sync.state is State.DOWNLOADED and sync.offline is not None and sync.offline.reason == "on a train"
    assert "on a train" in result.warnings[0] and result.requests == []
    assert len(sync.frame("bookmarks")) == 2360 and len(sync.frame("history", "visits")) > 0
    assert set(sync.errors()["id"]) == {p.record_id for p in account["demo"].planted if p.details.get("error")}
    assert isinstance(sync.meta_global, MetaGlobal) and sync.config is not None
    for stage in ("exchange_token", "fetch_info", "fetch_meta_global", "fetch_crypto_keys", "download"):
        with pytest.raises(OfflineError, match=f"{stage}.. needs the server"):
            getattr(sync, stage)()
    # reviewing works (local), committing does not
    rid = sync.frame("bookmarks").query("type == 'bookmark'")["id"].iloc[0]
    sync.edit("bookmarks", rid, {"title": "edited offline"})
    sync.merge()
    plan = sync.plan_upload()
    assert [c.id for c in plan.changes()] == [rid]
    with pytest.raises(OfflineError, match="needs the server"):
        sync.commit(plan.accept())
    with pytest.raises(OfflineError):
        sync.plan_fresh_start()
    sync.discard("bookmarks")


def test_open_offline_without_a_copy_of_the_setup_says_what_to_do(account, monkeypatch, tmp_path):
    sync = saved_sync(account, monkeypatch, store=tmp_path / "empty.sqlite")
    sync.authenticate()
    with pytest.raises(SyncError, match=r"no copy of this account's server setup .*synctools pull"):
        sync.open_offline("test")
    fresh = saved_sync(account, monkeypatch)
    with pytest.raises(SyncError, match="run sync.authenticate.. first"):
        fresh.open_offline("test")
