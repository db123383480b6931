"""Every way into a Sync: login (with TOTP or an emailed code), a saved session, keys in
hand (OAuth token + kSync), and a storage token for a bare node."""

from __future__ import annotations

import os
import stat

import pytest

from synctools import net
from synctools.machine import State, Sync, SyncError


def test_login_with_totp_asked_through_a_callable(stack, seeder):
    acct = seeder(n_bookmarks=3)
    email = "totp-" + acct.email
    stack.admin.create_account(email, "pw-totp", verification="totp")
    asked = []
    s = Sync.login(email, "pw-totp", auth_url=stack.auth_url, token_url=stack.token_url,
                   totp=lambda: asked.append(1) or stack.admin.totp_code(email), interactive=False)  # fmt: skip
    result = s.authenticate()
    assert asked == [1] and result.verification in ("totp-2fa", "totp")
    assert "pw-totp" not in repr(s) and "pw-totp" not in repr(result)


def test_login_with_emailed_code(stack):
    email = f"email-{os.getpid()}@example.com"
    stack.admin.create_account(email, "pw-email", verification="email")
    s = Sync.login(email, "pw-email", auth_url=stack.auth_url, token_url=stack.token_url,
                   code=lambda: stack.admin.verification_code(email), interactive=False)  # fmt: skip
    assert s.authenticate().verification is not None
    s.exchange_token()
    assert s.state is State.TOKEN


def test_verification_needed_but_not_given_is_a_clear_error(stack):
    email = f"nocode-{os.getpid()}@example.com"
    stack.admin.create_account(email, "pw", verification="email")
    s = Sync.login(email, "pw", auth_url=stack.auth_url, token_url=stack.token_url, interactive=False)
    with pytest.raises(SyncError, match="needs verification"):
        s.authenticate()


def test_wrong_password_is_a_clear_error(stack, account):
    s = Sync.login(account.email, "wrong", auth_url=stack.auth_url, token_url=stack.token_url, interactive=False)
    with pytest.raises(net.IncorrectPassword):
        s.authenticate()


def test_from_session_resumes_without_the_password(stack, account, tmp_path):
    client = net.FxaClient(stack.auth_url, stack.oauth_url)
    session = client.login(account.email, account.password)
    session.fetch_keys()
    session.oauth_token()
    path = net.save_session(session, tmp_path / "session.json", include_keys=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    s = Sync.from_session(path, token_url=stack.token_url, progress=False)
    s.run(until="download")
    assert len(s.records("bookmarks")) == 20
    assert account.password not in path.read_text()


def test_from_keys_with_oauth_token_and_jwk(stack, account):
    client = net.FxaClient(stack.auth_url, stack.oauth_url)
    session = client.login(account.email, account.password)
    keys = session.fetch_keys()
    token = session.oauth_token().access_token
    s = Sync.from_keys(access_token=token, sync_keys=keys.to_jwk(), token_url=stack.token_url, progress=False)
    s.run(until="download")
    assert s.results["authenticate"].kid == keys.kid
    assert len(s.records("bookmarks")) == 20


def test_from_keys_with_a_storage_token_skips_the_tokenserver(stack, account):
    client = net.FxaClient(stack.auth_url, stack.oauth_url)
    session = client.login(account.email, account.password)
    keys = session.fetch_keys()
    token = net.TokenServerClient(stack.token_url).exchange(session.oauth_token().access_token, keys)
    s = Sync.from_keys(sync_keys=keys, storage_token=token, progress=False)
    s.run(until="download")
    assert "tokenserver skipped" in " ".join(s.results["exchange_token"].decisions)
    assert not [r for r in s.trace_log.exchanges if "/token/" in r.url]
    assert len(s.records("bookmarks")) == 20


def test_from_keys_needs_keys_and_a_token():
    with pytest.raises(ValueError, match="sync_keys"):
        Sync.from_keys(access_token="x")


def test_login_keeps_its_store_in_the_data_dir_so_a_new_kernel_resumes(stack, account, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCTOOLS_DATA_DIR", str(tmp_path))
    s = Sync.login(account.email, account.password, auth_url=stack.auth_url, token_url=stack.token_url,
                   interactive=False, progress=False)  # fmt: skip
    s.run(until="download")
    s.edit("bookmarks", "bookmark0004", {"title": "survives a restart"})
    [path] = list((tmp_path / "stores").glob("*.sqlite"))
    assert account.email.split("@")[0] not in path.name
    s.store.close()
    again = Sync.login(account.email, account.password, auth_url=stack.auth_url, token_url=stack.token_url,
                       interactive=False, progress=False)  # fmt: skip
    again.run(until="download")
    assert again.store.path == path
    assert list(again.staged()["id"]) == ["bookmark0004"]
