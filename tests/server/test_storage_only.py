"""``storage_only``: one node at the root, as syncstorage-rs serves it, accepting tokens
that Mozilla's own tokenlib mints with the same secret."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
import tokenlib

from synctools.server import LocalStack

from .client import StorageClient

SECRET = "shared master secret"


@pytest.fixture(scope="module")
def node() -> Iterator[LocalStack]:
    with LocalStack(storage_only=True, secret=SECRET) as s:
        yield s


def _client(node: LocalStack, uid: int, **data) -> StorageClient:
    token_id = tokenlib.make_token({"uid": uid, "node": node.url, **data}, secret=SECRET)
    key = tokenlib.get_derived_secret(token_id, secret=SECRET)
    return StorageClient({"id": token_id, "key": key, "api_endpoint": f"{node.url}/1.5/{uid}"})


def test_tokenlib_tokens_work(node: LocalStack) -> None:
    c = _client(node, 42, fxa_uid="abc", fxa_kid="0000000001234-xyz")
    r = c.post("/storage/bookmarks", [{"id": "a", "payload": "p"}])
    assert r.status_code == 200
    assert c.get("/storage/bookmarks").json() == ["a"]
    assert c.get("/info/collections").status_code == 200
    assert node.nodes == [node.url]


def test_other_secret_rejected(node: LocalStack) -> None:
    token_id = tokenlib.make_token({"uid": 7, "node": node.url}, secret="not the secret")
    key = tokenlib.get_derived_secret(token_id, secret="not the secret")
    c = StorageClient({"id": token_id, "key": key, "api_endpoint": f"{node.url}/1.5/7"})
    assert c.get("/info/collections").status_code == 401


def test_expired_tokenlib_token(node: LocalStack) -> None:
    token_id = tokenlib.make_token({"uid": 8, "node": node.url, "expires": time.time() - 5}, secret=SECRET)
    key = tokenlib.get_derived_secret(token_id, secret=SECRET)
    c = StorageClient({"id": token_id, "key": key, "api_endpoint": f"{node.url}/1.5/8"})
    assert c.get("/info/collections").status_code == 200
    assert c.get("/storage/tabs").status_code == 401


def test_only_storage_is_served(node: LocalStack) -> None:
    assert requests.get(node.url + "/token/1.0/sync/1.5", timeout=10).status_code == 404
    assert requests.post(node.url + "/v1/account/login", timeout=10).status_code == 404
    with pytest.raises(RuntimeError, match="storage-only"):
        node.admin.create_account("x@example.com", "pw")
    node.admin.inject_fault("503", path="/info/collections")  # faults still work
    c = _client(node, 9)
    assert c.get("/info/collections").status_code == 503
