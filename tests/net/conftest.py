"""Fixtures for the network clients: one embedded stack per test session, real HTTP.

Each test gets its own account (unique email), so tests never see each other's data
and the stack's state (faults, limits) is reset around every test.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from synctools.net import (
    FxaClient,
    FxaSession,
    StorageClient,
    Token,
    TokenServerClient,
    Trace,
)
from synctools.protocol.keys import SyncKeys

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's password


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    server = pytest.importorskip("synctools.server")
    with server.LocalStack(demo=False) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults and limits set by one test never leak into the next."""
    yield
    if "stack" in request.fixturenames:
        s = request.getfixturevalue("stack")
        s.admin.clear_faults()
        s.admin.reset_config()


DEFAULT_LIMITS = {
    "max_post_bytes": 2_621_440,
    "max_post_records": 100,
    "max_record_payload_bytes": 2_621_440,
    "max_request_bytes": 2_625_536,
    "max_total_bytes": 262_144_000,
    "max_total_records": 10_000,
}


def new_email(tag: str = "user") -> str:
    return f"{tag}-{os.getpid()}-{next(_counter)}@example.com"


@dataclass
class Login:
    """Everything one logged-in test account gives a test."""

    email: str
    password: str
    trace: Trace
    fxa: FxaClient
    session: FxaSession
    keys: SyncKeys
    tokens: TokenServerClient
    token: Token

    def storage(self, **kwargs: Any) -> StorageClient:
        kwargs.setdefault("trace", self.trace)
        kwargs.setdefault("token_provider", self.session.token_provider(self.tokens))
        return StorageClient(self.token, **kwargs)


def login(stack: Any, *, trace: Trace | None = None, **create: Any) -> Login:
    email = create.pop("email", None) or new_email()
    stack.admin.create_account(email, PASSWORD, **create)
    trace = trace or Trace()
    fxa = FxaClient(stack.auth_url, stack.oauth_url, trace=trace)
    session = fxa.login(email, PASSWORD)
    keys = session.fetch_keys()
    tokens = TokenServerClient(stack.token_url, trace=trace)
    token = tokens.exchange(session.oauth_token().access_token, keys)
    return Login(email, PASSWORD, trace, fxa, session, keys, tokens, token)


@pytest.fixture
def user(stack: Any) -> Login:
    return login(stack)


@pytest.fixture
def storage(user: Login) -> StorageClient:
    return user.storage()
