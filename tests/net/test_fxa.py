"""Accounts client against the embedded accounts server, over real HTTP."""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest

from synctools.net import (
    FxaBusy,
    FxaClient,
    FxaSession,
    IncorrectPassword,
    InvalidCredentials,
    InvalidVerificationCode,
    LoginRequired,
    ServerUnreachable,
    TokenServerClient,
    Trace,
    UnknownAccount,
    VerificationRequired,
    load_session,
)
from synctools.protocol.keys import derive_sync_keys

from .conftest import PASSWORD, new_email


def _client(stack: Any, trace: Trace | None = None) -> FxaClient:
    return FxaClient(stack.auth_url, stack.oauth_url, trace=trace or Trace())


def test_login_without_verification_derives_the_accounts_sync_keys(stack: Any) -> None:
    email = new_email()
    kb = bytes(range(32))
    stack.admin.create_account(email, PASSWORD, kb=kb)
    session = _client(stack).login(email, PASSWORD)
    assert session.verified and not session.needs_verification
    keys = session.fetch_keys()
    # The kid's timestamp is the account's keyRotationTimestamp; kSync follows from kB.
    expected = derive_sync_keys(kb, keys.key_rotation_timestamp)
    assert keys.kid == expected.kid
    assert keys.bundle.fingerprint == expected.bundle.fingerprint
    token = session.oauth_token()
    assert token.access_token and not token.expired()
    assert session.oauth_token() is token  # reused until it expires


def test_login_with_totp(stack: Any) -> None:
    email = new_email("totp")
    stack.admin.create_account(email, PASSWORD, totp_secret="JBSWY3DPEHPK3PXP", verification="totp")
    session = _client(stack).login(email, PASSWORD)
    assert session.needs_verification and session.verification_method == "totp-2fa"
    with pytest.raises(VerificationRequired, match="verify_totp"):
        session.fetch_keys()
    session.verify_totp(stack.admin.totp_code(email))
    assert session.verified
    assert session.fetch_keys().kid


def test_wrong_totp_code_is_refused_and_the_session_stays_unverified(stack: Any) -> None:
    email = new_email("totp")
    stack.admin.create_account(email, PASSWORD, totp_secret="JBSWY3DPEHPK3PXP", verification="totp")
    session = _client(stack).login(email, PASSWORD)
    good = stack.admin.totp_code(email)
    with pytest.raises(InvalidVerificationCode):
        session.verify_totp("000000" if good != "000000" else "111111")
    assert session.needs_verification


def test_login_with_an_emailed_code(stack: Any) -> None:
    email = new_email("otp")
    stack.admin.create_account(email, PASSWORD, verification="email")
    trace = Trace()
    session = _client(stack, trace).login(email, PASSWORD)
    assert session.needs_verification and session.verification_method == "email-otp"
    with pytest.raises(InvalidVerificationCode):
        session.verify_code("not-the-code")
    session.verify_code(stack.admin.verification_code(email))
    assert session.fetch_keys().kid
    assert any(e.url.endswith("/v1/session/verify_code") and e.status == 200 for e in trace)


def test_errno_120_is_retried_with_the_email_the_server_names(stack: Any) -> None:
    email = new_email("Case")  # registered with a capital letter
    stack.admin.create_account(email, PASSWORD)
    trace = Trace()
    session = _client(stack, trace).login(email.lower(), PASSWORD)
    assert session.email == email
    logins = [e for e in trace if e.url.endswith("/account/login?keys=true")]
    assert [e.status for e in logins] == [400, 200]
    assert session.fetch_keys().kid


def test_wrong_password_and_unknown_account_are_typed_errors(stack: Any) -> None:
    email = new_email()
    stack.admin.create_account(email, PASSWORD)
    client = _client(stack)
    with pytest.raises(IncorrectPassword) as info:
        client.login(email, "not the password")
    assert info.value.errno == 103 and info.value.status == 400
    assert "not the password" not in str(info.value)
    with pytest.raises(UnknownAccount):
        client.login(new_email("nobody"), PASSWORD)


def test_v1_account_is_never_upgraded_and_nothing_is_changed(stack: Any) -> None:
    email = new_email()
    stack.admin.create_account(email, PASSWORD)
    client = _client(stack)
    assert client.key_stretch_version(email) == (1, None)
    client.login(email, PASSWORD).fetch_keys()
    assert client.key_stretch_version(email) == (1, None)
    paths = [e.url for e in client.trace]
    assert not any("/password/" in p or "/account/create" in p for p in paths)
    with pytest.raises(RuntimeError, match="never changes an account"):
        client.core.change_password(email, PASSWORD, "new", session_token="00" * 32)


def test_session_file_is_private_and_reusable(stack: Any, tmp_path: Any) -> None:
    email = new_email()
    stack.admin.create_account(email, PASSWORD)
    session = _client(stack).login(email, PASSWORD)
    keys = session.fetch_keys()
    session.oauth_token()
    path = tmp_path / "session.json"
    session.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert '"keys"' not in text  # keys only when asked for
    again = load_session(path)
    assert again.uid == session.uid and again.verified
    assert again.status()["uid"] == session.uid  # the session token still works
    with pytest.raises(LoginRequired, match="log in again"):
        again.fetch_keys()

    session.save(path, include_keys=True)
    with_keys = load_session(path)
    assert with_keys.fetch_keys().kid == keys.kid
    tokens = TokenServerClient(stack.token_url)
    assert tokens.exchange(with_keys.oauth_token().access_token, with_keys.keys).uid

    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_session(path)


def test_someone_with_a_token_and_keys_skips_login(stack: Any) -> None:
    email = new_email()
    stack.admin.create_account(email, PASSWORD)
    first = _client(stack).login(email, PASSWORD)
    keys = first.fetch_keys()
    access = first.oauth_token().access_token

    session = FxaSession.from_oauth(access, keys.to_jwk())
    assert session.keys.kid == keys.kid
    token = TokenServerClient(stack.token_url).exchange(session.oauth_token().access_token, session.keys)
    assert token.api_endpoint
    with pytest.raises(LoginRequired):
        session.status()


def test_accounts_server_busy_is_surfaced_with_its_wait(stack: Any) -> None:
    email = new_email()
    stack.admin.create_account(email, PASSWORD)
    stack.admin.inject_fault("503", path="/account/login", retry_after=30)
    client = _client(stack)
    with pytest.raises(FxaBusy) as info:
        client.login(email, PASSWORD)
    assert info.value.retry_after == 30 and info.value.status == 503
    # PyFxA would replay that 503 from its cache for 30s; we ask the server again.
    assert client.login(email, PASSWORD).verified


def test_accounts_server_that_drops_the_connection_is_unreachable(stack: Any) -> None:
    email = new_email()
    stack.admin.create_account(email, PASSWORD)
    stack.admin.inject_fault("drop", path="/account/login")
    with pytest.raises(ServerUnreachable):
        _client(stack).login(email, PASSWORD)


def test_loading_a_missing_or_foreign_session_file_says_what_is_wrong(tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError, match="log in and save one first"):
        load_session(tmp_path / "nope.json")
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    other.chmod(0o600)
    with pytest.raises(ValueError, match="not a saved synctools session"):
        load_session(other)


def test_a_revoked_oauth_token_is_replaced_when_a_storage_token_is_needed(stack: Any) -> None:
    email = new_email()
    stack.admin.create_account(email, PASSWORD)
    trace = Trace()
    session = _client(stack, trace).login(email, PASSWORD)
    session.fetch_keys()
    tokens = TokenServerClient(stack.token_url, trace=trace)
    provide = session.token_provider(tokens)
    first = provide()
    stale = session.oauth_token()
    session.revoke_oauth_token()  # through PyFxA's OAuth client, traced as "oauth"
    assert any(e.service == "oauth" and e.url.endswith("/destroy") for e in trace)
    with pytest.raises(InvalidCredentials):
        tokens.exchange(stale.access_token, session.keys)
    session._oauth = stale  # as if we still believed in it
    assert provide().uid == first.uid
    assert session.oauth_token() is not stale


def test_v2_account_logs_in_with_v2_and_stays_as_it_was(stack: Any) -> None:
    email = new_email("v2")
    kb = bytes(range(1, 33))
    stack.admin.create_account(email, PASSWORD, kb=kb, key_stretch_version=2)
    client = _client(stack)
    version, salt = client.key_stretch_version(email)
    assert version == 2 and salt
    session = client.login(email, PASSWORD)
    assert session.key_stretch_version == 2
    keys = session.fetch_keys()  # unwrapped with the v2 stretched password
    assert keys.kid == derive_sync_keys(kb, keys.key_rotation_timestamp).kid
    assert client.key_stretch_version(email) == (2, salt)
