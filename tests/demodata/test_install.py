"""The demo account loaded into the embedded stack, read back over real HTTP.

The client here is deliberately small and independent (requests + mohawk), not
synctools.net: it logs in with the demo credentials, fetches kB, gets a storage token
and decrypts what the server returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from synctools.demodata import DemoAccount, DemoAccountInfo, PlantedKind, install_demo
from synctools.protocol import onepw
from synctools.protocol._util import b64url_nopad
from synctools.protocol.bso import ServerTime
from synctools.protocol.crypto import CollectionKeys, CryptoError, KeyBundle, decrypt_many
from synctools.protocol.keys import derive_sync_keys

server = pytest.importorskip("synctools.server")
mohawk = pytest.importorskip("mohawk")

FIREFOX = "5882386c6d801776"
OLDSYNC = "https://identity.mozilla.com/apps/oldsync"


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with server.LocalStack(demo=True) as s:
        yield s


def _hawk(method: str, url: str, ident: str, key: Any) -> str:
    sender = mohawk.Sender({"id": ident, "key": key, "algorithm": "sha256"}, url, method, content="", content_type="")
    return sender.request_header


class Session:
    """Login → kB → OAuth → token → Hawk-signed storage reads."""

    def __init__(self, stack: Any, email: str, password: str):
        stretched = onepw.quick_stretch_v1(email, password)
        r = requests.post(
            stack.auth_url + "/account/login?keys=true",
            json={"email": email, "authPW": onepw.auth_pw(stretched).hex(), "reason": "login"},
            timeout=30,
        )
        r.raise_for_status()
        login = r.json()
        kft = onepw.token_credentials(bytes.fromhex(login["keyFetchToken"]), "keyFetchToken")
        url = stack.auth_url + "/account/keys"
        r = requests.get(url, headers={"Authorization": _hawk("GET", url, kft.token_id, kft.hmac_key)}, timeout=30)
        r.raise_for_status()
        _ka, wrap_kb = onepw.unwrap_keys_bundle(kft.extra, bytes.fromhex(r.json()["bundle"]))
        self.kb = onepw.unwrap_kb(wrap_kb, onepw.unwrap_b_key(stretched))
        st = onepw.token_credentials(bytes.fromhex(login["sessionToken"]), "sessionToken")
        bearer = {"Authorization": f"Bearer fxs_{st.token_id}"}
        r = requests.post(
            stack.auth_url + "/oauth/token",
            json={"client_id": FIREFOX, "grant_type": "fxa-credentials", "scope": OLDSYNC},
            headers=bearer,
            timeout=30,
        )
        r.raise_for_status()
        access = r.json()["access_token"]
        r = requests.post(
            stack.auth_url + "/account/scoped-key-data",
            json={"client_id": FIREFOX, "scope": OLDSYNC},
            headers=bearer,
            timeout=30,
        )
        r.raise_for_status()
        self.key_rotation_timestamp = r.json()[OLDSYNC]["keyRotationTimestamp"]
        kid = f"{self.key_rotation_timestamp}-{b64url_nopad(hashlib.sha256(self.kb).digest()[:16])}"
        r = requests.get(stack.token_url, headers={"Authorization": f"Bearer {access}", "X-KeyID": kid}, timeout=30)
        r.raise_for_status()
        self.token = r.json()
        self.http = requests.Session()

    def get(self, path: str, **params: Any) -> requests.Response:
        req = requests.Request("GET", self.token["api_endpoint"] + path, params=params).prepare()
        req.headers["Authorization"] = _hawk("GET", req.url, self.token["id"], self.token["key"])
        r = self.http.send(req, timeout=60)
        r.raise_for_status()
        return r

    def collection(self, name: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"full": 1, "sort": "oldest", "limit": 5000}
        while True:
            r = self.get(f"/storage/{name}", **params)
            out.extend(r.json())
            offset = r.headers.get("X-Weave-Next-Offset")
            if not offset:
                return out
            params["offset"] = offset


@pytest.fixture(scope="module")
def session(stack: Any) -> Session:
    info = stack.demo_account
    return Session(stack, info.email, info.password)


def test_stack_reports_the_demo_credentials(stack: Any, account: DemoAccount) -> None:
    info = stack.demo_account
    assert isinstance(info, DemoAccountInfo) and info.loaded
    assert (info.email, info.password, info.kb) == (account.email, account.password, account.kb)
    assert info.planted == account.planted
    assert info.records == sum(len(v) for v in account.bsos.values())
    assert account.password not in repr(info) and account.kb.hex() not in repr(info)


def test_login_yields_the_accounts_kb(session: Session, account: DemoAccount) -> None:
    assert session.kb == account.kb
    assert session.key_rotation_timestamp == account.key_rotation_timestamp


def test_counts_over_http_hide_the_expired_record(session: Session, account: DemoAccount) -> None:
    counts = session.get("/info/collection_counts").json()
    expected = {c: len(v) for c, v in account.bsos.items()}
    expected["tabs"] -= 1  # the planted expired record is invisible
    assert counts == expected
    expired = account.planted_of(PlantedKind.EXPIRED)
    assert expired.record_id not in {b["id"] for b in session.collection("tabs")}


def test_records_decrypt_with_keys_from_kb(session: Session, account: DemoAccount) -> None:
    ksync = derive_sync_keys(session.kb, session.key_rotation_timestamp).bundle
    keys = CollectionKeys.from_cleartext(ksync.decrypt(session.get("/storage/crypto/keys").json()["payload"], "keys"))
    bad = {
        (p.collection, p.record_id) for p in account.planted if p.kind in (PlantedKind.BAD_HMAC, PlantedKind.WRONG_KEY)
    }
    for coll in ("bookmarks", "history", "passwords", "clients"):
        bsos = session.collection(coll)
        assert len(bsos) == len(account.bsos[coll])
        bundle: KeyBundle = keys.bundle_for(coll)
        results = decrypt_many(bundle, [b["payload"] for b in bsos], [b["id"] for b in bsos])
        expected = {r["id"]: r for r in account.cleartext[coll]}
        failed = set()
        for bso, result in zip(bsos, results):
            if isinstance(result, CryptoError):
                failed.add((coll, bso["id"]))
            else:
                assert result == expected[bso["id"]]
        assert failed == {b for b in bad if b[0] == coll}


def test_times_are_shifted_to_now_keeping_ages(session: Session, account: DemoAccount, stack: Any) -> None:
    shift = stack.demo_account.shift_centis
    served = {b["id"]: ServerTime.parse(b["modified"]) for b in session.collection("clients")}
    for bso in account.bsos["clients"]:
        assert served[bso["id"]] == ServerTime.parse(bso["modified"]) + shift
    stale = account.planted_of(PlantedKind.STALE_CLIENT).record_id
    newest = max(served.values())
    assert newest - served[stale] > 90 * 86_400 * 100
    meta = session.get("/storage/meta/global").json()
    assert meta["payload"] == account.bsos["meta"][0]["payload"]


def test_a_second_install_leaves_the_account_alone(stack: Any, session: Session, account: DemoAccount) -> None:
    before = session.get("/info/collections").json()
    again = install_demo(stack.admin, account=account)
    assert not again.loaded and again.requests == 0
    assert session.get("/info/collections").json() == before
