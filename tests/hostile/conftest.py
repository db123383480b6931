"""A real embedded stack, a hostile proxy in front of it, and small accounts seeded with
records encrypted by the protocol core (not by the code under test)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from synctools.protocol.crypto import CollectionKeys
from synctools.protocol.keys import derive_sync_keys
from synctools.protocol.metaglobal import MetaGlobal
from synctools.server import LocalStack

from .proxy import HostileProxy

_n = itertools.count(1)
PASSWORD = "hostile horse battery staple"  # noqa: S105 - a test account's password
KRT = 1_700_000_000_000
COUNTS = {"bookmarks": 7, "history": 4, "passwords": 2}
PAGE_SIZE = 3  # bookmarks take 3 pages


@dataclass
class Account:
    email: str
    password: str
    kb: bytes
    counts: dict[str, int]


@dataclass
class ProxiedStack:
    """What ``Sync.local`` needs of a stack, with every URL pointing at the proxy."""

    stack: LocalStack
    proxy: HostileProxy
    demo_account: Any = None

    @property
    def auth_url(self) -> str:
        return self.proxy.url + "/v1"

    @property
    def oauth_url(self) -> str:
        return self.proxy.url + "/v1"

    @property
    def token_url(self) -> str:
        return self.proxy.url + "/token/1.0/sync/1.5"

    @property
    def admin(self) -> Any:
        return _Admin(self.stack.admin)


@dataclass
class _Admin:
    """The stack's admin, except that an emailed code asked for when none was sent (a
    mangled login answer can send the flow that way) is a wrong one, as a person would
    type: the server then refuses it, and the error names that request."""

    admin: Any

    def verification_code(self, email: str) -> str:
        return self.admin.verification_code(email) or "000000"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.admin, name)


def _records(keys: CollectionKeys, collection: str, n: int) -> list[dict[str, Any]]:
    bundle = keys.bundle_for(collection)
    out = []
    for i in range(n):
        rid = f"{collection[:4]}{i:08d}"
        if collection == "bookmarks":
            rec = {"id": rid, "type": "bookmark", "title": f"Site {i}", "bmkUri": f"https://site{i}.example/",
                   "parentid": "unfiled", "parentName": "", "tags": [], "keyword": None}  # fmt: skip
        elif collection == "history":
            rec = {"id": rid, "histUri": f"https://page{i}.example/", "title": f"Page {i}",
                   "visits": [{"date": 1_700_000_000_000_000 + i, "type": 1}]}  # fmt: skip
        else:
            rec = {"id": rid, "hostname": f"https://login{i}.example", "username": f"user{i}",
                   "password": f"secret-password-{i}", "formSubmitURL": "", "httpRealm": None,
                   "usernameField": "", "passwordField": ""}  # fmt: skip
        out.append({"id": rid, "payload": json.dumps(bundle.encrypt(rec)), "sortindex": i})
    return out


def seed(stack: LocalStack, *, verification: str = "totp") -> Account:
    email = f"hostile{next(_n)}-{os.getpid()}@example.com"
    kb = os.urandom(32)
    stack.admin.create_account(email, PASSWORD, kb=kb, key_rotation_timestamp=KRT, verification=verification)
    keys = CollectionKeys.generate()
    ksync = derive_sync_keys(kb, KRT).bundle
    stack.admin.put_records(email, "meta", [{"id": "global", "payload": MetaGlobal.fresh().to_json()}])
    stack.admin.put_records(
        email, "crypto", [{"id": "keys", "payload": json.dumps(ksync.encrypt(keys.to_cleartext()))}]
    )
    for collection, n in COUNTS.items():
        stack.admin.put_records(email, collection, _records(keys, collection, n))
    return Account(email, PASSWORD, kb, dict(COUNTS))


@pytest.fixture(scope="session")
def hostile_stack() -> Iterator[LocalStack]:
    with LocalStack(demo=False) as s:
        yield s


@pytest.fixture(scope="session")
def proxy(hostile_stack: LocalStack) -> Iterator[HostileProxy]:
    p = HostileProxy(hostile_stack.url).start()
    yield p
    p.stop()


@pytest.fixture
def proxied(hostile_stack: LocalStack, proxy: HostileProxy) -> Iterator[ProxiedStack]:
    proxy.arm(None)
    yield ProxiedStack(hostile_stack, proxy)
    proxy.arm(None)
    hostile_stack.admin.clear_faults()
