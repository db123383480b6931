"""Stacks for the widget tests: the demo account (read-only views) and small accounts
seeded through the admin API with records encrypted by the protocol core."""

from __future__ import annotations

import itertools
import json
import os

import pytest

from synctools import Sync
from synctools.protocol.crypto import CollectionKeys
from synctools.protocol.keys import derive_sync_keys
from synctools.protocol.metaglobal import MetaGlobal
from synctools.server import LocalStack

_n = itertools.count(1)
KEY_TIME = 1_700_000_000_000


@pytest.fixture(scope="package")
def demo_stack():
    with LocalStack(demo=True) as stack:
        yield stack


@pytest.fixture(scope="package")
def demo_sync(demo_stack):
    """The demo account, downloaded. Tests must not commit through it."""
    sync = Sync.local(demo_stack)
    sync.run(until="download")
    return sync


@pytest.fixture(scope="package")
def stack():
    with LocalStack() as s:
        yield s


def bookmark(i: int) -> dict:
    return {"id": f"bookmark{i:04d}", "type": "bookmark", "title": f"Site {i}", "bmkUri": f"https://site{i}.example/",
            "parentid": "unfiled", "parentName": "", "tags": []}  # fmt: skip


@pytest.fixture
def account(stack):
    """A fresh account with 10 bookmarks; returns (email, password)."""
    email, password = f"widgets{next(_n)}-{os.getpid()}@example.com", "correct horse battery staple"
    kb = os.urandom(32)
    stack.admin.create_account(email, password, kb=kb, key_rotation_timestamp=KEY_TIME)
    keys = CollectionKeys.generate()
    stack.admin.put_records(email, "meta", [{"id": "global", "payload": MetaGlobal.fresh().to_json()}])
    ksync = derive_sync_keys(kb, KEY_TIME).bundle
    stack.admin.put_records(
        email, "crypto", [{"id": "keys", "payload": json.dumps(ksync.encrypt(keys.to_cleartext()))}]
    )
    bundle = keys.bundle_for("bookmarks")
    stack.admin.put_records(email, "bookmarks", [{"id": b["id"], "payload": json.dumps(bundle.encrypt(b))}
                                                 for b in map(bookmark, range(10))])  # fmt: skip
    return email, password


def downloaded(stack, account) -> Sync:
    email, password = account
    sync = Sync.local(stack, email=email, password=password)
    sync.run(until="download")
    return sync


def server_bookmarks(stack, account) -> dict[str, dict]:
    """What the server holds now, read by an independent sync."""
    return downloaded(stack, account).records("bookmarks")
