"""An embedded stack for the stepwise-sync tests, and small accounts seeded through
the admin API with records encrypted by the protocol core (not by the code under test)."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass

import pytest

from synctools.protocol.crypto import CollectionKeys
from synctools.protocol.keys import derive_sync_keys
from synctools.protocol.metaglobal import MetaGlobal
from synctools.server import LocalStack

_n = itertools.count(1)


@pytest.fixture(scope="module")
def stack():
    with LocalStack(demo=False) as s:
        yield s


@dataclass
class Seeded:
    email: str
    password: str
    keys: CollectionKeys
    kb: bytes
    meta: MetaGlobal

    def bookmark(self, i: int) -> dict:
        return {"id": f"bookmark{i:04d}", "type": "bookmark", "title": f"Site {i}",
                "bmkUri": f"https://site{i}.example/", "parentid": "unfiled", "parentName": "",
                "tags": [], "keyword": None}  # fmt: skip


def seed(stack, *, n_bookmarks: int = 20, meta: bool = True, crypto: bool = True,
         own_key_for: tuple[str, ...] = (), storage_version: int = 5) -> Seeded:  # fmt: skip
    email = f"user{next(_n)}-{os.getpid()}@example.com"
    password = "correct horse battery staple"
    kb = os.urandom(32)
    stack.admin.create_account(email, password, kb=kb, key_rotation_timestamp=1_700_000_000_000)
    keys = CollectionKeys.generate(own_key_for)
    ksync = derive_sync_keys(kb, 1_700_000_000_000).bundle
    mg = MetaGlobal.fresh()
    if storage_version != 5:
        mg = MetaGlobal(mg.sync_id, storage_version, mg.engines, mg.declined)
    if meta:
        stack.admin.put_records(email, "meta", [{"id": "global", "payload": mg.to_json()}])
    if crypto:
        stack.admin.put_records(
            email, "crypto", [{"id": "keys", "payload": json.dumps(ksync.encrypt(keys.to_cleartext()))}]
        )
    s = Seeded(email, password, keys, kb, mg)
    bundle = keys.bundle_for("bookmarks")
    recs = [{"id": (b := s.bookmark(i))["id"], "payload": json.dumps(bundle.encrypt(b))} for i in range(n_bookmarks)]
    if recs:
        stack.admin.put_records(email, "bookmarks", recs)
    return s


@pytest.fixture
def account(stack):
    return seed(stack)


@pytest.fixture
def seeder(stack):
    """``seeder(**kw)`` seeds another account (see :func:`seed`)."""
    return lambda **kw: seed(stack, **kw)
