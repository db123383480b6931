"""End to end on the demo account with an independent client: PyFxA logs in and fetches
kB; keys are derived and records decrypted here with `cryptography` directly (not
synctools.net, not synctools.protocol.crypto), so the server is checked by a second
implementation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import fxa.core
import pytest
import requests
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from synctools.server import LocalStack

from .client import FIREFOX, OLDSYNC, StorageClient, session_auth

pytest.importorskip("synctools.demodata")


@pytest.fixture(scope="module")
def demo() -> Iterator[LocalStack]:
    with LocalStack(demo=True) as s:
        yield s


def _ksync(kb: bytes) -> tuple[bytes, bytes]:
    out = HKDF(hashes.SHA256(), 64, None, b"identity.mozilla.com/picl/v1/oldsync").derive(kb)
    return out[:32], out[32:]


def _decrypt(payload: str, enc: bytes, mac: bytes) -> dict:
    p = json.loads(payload)
    expected = hmac.new(mac, p["ciphertext"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, p["hmac"]):
        raise ValueError("HMAC mismatch")
    dec = Cipher(algorithms.AES(enc), modes.CBC(base64.b64decode(p["IV"]))).decryptor()
    padded = dec.update(base64.b64decode(p["ciphertext"])) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return json.loads(unpadder.update(padded) + unpadder.finalize())


def test_independent_client_decrypts_demo_records(demo: LocalStack) -> None:
    account = demo.demo_account
    session = fxa.core.Client(server_url=demo.auth_url).login(account.email, account.password, keys=True)
    _ka, kb = session.fetch_keys()
    assert kb == account.kb
    auth = session_auth(session.token)
    access = requests.post(
        demo.auth_url + "/oauth/token",
        json={"client_id": FIREFOX, "grant_type": "fxa-credentials", "scope": OLDSYNC},
        headers=auth,
        timeout=30,
    ).json()["access_token"]
    krt = requests.post(
        demo.auth_url + "/account/scoped-key-data",
        json={"client_id": FIREFOX, "scope": OLDSYNC},
        headers=auth,
        timeout=30,
    ).json()[OLDSYNC]["keyRotationTimestamp"]
    kxcs = hashlib.sha256(kb).digest()[:16]
    kid = f"{krt}-{base64.urlsafe_b64encode(kxcs).decode().rstrip('=')}"
    token = requests.get(
        demo.token_url, headers={"Authorization": f"Bearer {access}", "X-KeyID": kid}, timeout=30
    ).json()
    client = StorageClient(token)
    collections = client.get("/info/collections").json()
    assert {"meta", "crypto", "bookmarks", "history", "passwords"} <= set(collections)

    keys = _decrypt(client.get("/storage/crypto/keys").json()["payload"], *_ksync(kb))
    default = tuple(base64.b64decode(k) for k in keys["default"])
    planted_bad = {(p.collection, p.record_id) for p in account.planted}
    for coll in ("bookmarks", "passwords", "clients"):
        bundle = tuple(base64.b64decode(k) for k in keys.get("collections", {}).get(coll, [])) or default
        records = client.get(f"/storage/{coll}", params={"full": 1}).json()
        assert records
        failures = []
        for bso in records:
            try:
                clear = _decrypt(bso["payload"], *bundle)
            except ValueError:
                failures.append(bso["id"])
                continue
            assert clear["id"] == bso["id"]
        # only the planted bad records may fail
        assert all((coll, rid) in planted_bad for rid in failures), failures
