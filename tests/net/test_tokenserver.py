"""Tokenserver client: the exchange, node details, and each documented error."""

from __future__ import annotations

from typing import Any

import pytest

from synctools.net import (
    InvalidClientState,
    InvalidCredentials,
    InvalidKeyId,
    InvalidKeysChangedAt,
    TokenServerBusy,
    TokenServerClient,
    Trace,
)
from synctools.protocol.keys import SyncKeys, derive_sync_keys

from .conftest import Login


def test_exchange_gives_a_token_for_the_accounts_node(user: Login, stack: Any) -> None:
    token = user.token
    assert token.api_endpoint.endswith(f"/1.5/{token.uid}")
    assert any(token.api_endpoint.startswith(n) for n in stack.nodes)
    assert token.node in stack.nodes
    assert token.duration > 0 and not token.expired()
    shown = repr(token)
    assert token.id not in shown and token.key not in shown and str(token.uid) in shown


def test_tokenserver_url_may_be_given_with_or_without_the_sync_path(stack: Any) -> None:
    base = TokenServerClient(stack.token_url)
    assert base.url.endswith("/1.0/sync/1.5")
    assert TokenServerClient(base.url).url == base.url
    with pytest.raises(ValueError, match="http"):
        TokenServerClient("token.example.com")


def test_bad_access_token_is_invalid_credentials(user: Login) -> None:
    with pytest.raises(InvalidCredentials) as info:
        user.tokens.exchange("not-a-real-token-0123456789", user.keys)
    err = info.value
    assert err.status == 401 and "invalid-credentials" in str(err)
    assert "not-a-real-token-0123456789" not in str(err)  # the token is a secret
    assert "not-a-real-token-0123456789" not in err.response.body


def test_malformed_key_id_is_invalid_key_id(user: Login) -> None:
    # Well-formed for us (digits-b64url of 16 bytes) but the server allows 15 digits at most.
    kid = "1" * 16 + "-" + user.keys.kid.split("-", 1)[1]
    with pytest.raises(InvalidKeyId):
        user.tokens.exchange(user.session.oauth_token().access_token, key_id=kid)
    with pytest.raises(ValueError, match="key id"):
        user.tokens.exchange(user.session.oauth_token().access_token, key_id="garbage")


def test_keys_changed_at_may_not_go_backwards(user: Login) -> None:
    older = user.keys.key_rotation_timestamp - 1000
    stale = SyncKeys(user.keys.bundle, f"{older}-{user.keys.kid.split('-', 1)[1]}")
    with pytest.raises(InvalidKeysChangedAt):
        user.tokens.exchange(user.session.oauth_token().access_token, stale)


def test_returning_to_replaced_keys_is_invalid_client_state(user: Login) -> None:
    access = user.session.oauth_token().access_token
    ts = user.keys.key_rotation_timestamp
    newer = derive_sync_keys(b"\x07" * 32, ts + 1000)  # keys changed (e.g. a password reset)
    moved = user.tokens.exchange(access, newer)
    assert moved.uid != user.token.uid  # a new storage user: old data abandoned
    back = SyncKeys(user.keys.bundle, f"{ts + 2000}-{user.keys.kid.split('-', 1)[1]}")
    with pytest.raises(InvalidClientState, match="client state"):
        user.tokens.exchange(access, back)


def test_503_with_retry_after_is_surfaced_not_slept(user: Login, stack: Any) -> None:
    stack.admin.inject_fault("503", path="1.0/sync/1.5", retry_after=120)
    trace = Trace()
    seen: list[Any] = []
    client = TokenServerClient(stack.token_url, trace=trace, on_backoff=seen.append)
    with pytest.raises(TokenServerBusy) as info:
        client.exchange(user.session.oauth_token().access_token, user.keys)
    assert info.value.retry_after == 120
    assert [s.kind for s in seen] == ["retry-after"] and seen[0].seconds == 120
    assert [s.kind for s in trace.signals] == ["retry-after"]


def test_policy_that_waited_gets_the_request_retried(user: Login, stack: Any) -> None:
    stack.admin.inject_fault("503", path="1.0/sync/1.5", retry_after=1)
    waits: list[int | None] = []

    def policy(signal: Any) -> bool:
        waits.append(signal.seconds)  # a real policy would sleep or ask the person here
        return True

    client = TokenServerClient(stack.token_url, on_backoff=policy)
    token = client.exchange(user.session.oauth_token().access_token, user.keys)
    assert token.uid == user.token.uid and waits == [1]


def test_backoff_on_a_successful_exchange_is_a_notice(user: Login, stack: Any) -> None:
    stack.admin.inject_fault("backoff", path="1.0/sync/1.5", seconds=60)
    heard: list[Any] = []
    client = TokenServerClient(stack.token_url, on_backoff=heard.append)
    assert client.exchange(user.session.oauth_token().access_token, user.keys).uid
    assert [(s.kind, s.seconds) for s in heard] == [("backoff", 60)]
