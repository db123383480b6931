"""Replay what a real Firefox sends on its first sync (shared/reference/firefox-first-sync.md):
Hawk with payload hashes on the accounts service, text/plain bodies and
X-If-Unmodified-Since: 0 on storage."""

from __future__ import annotations

import json
import secrets

import mohawk
import requests

from synctools.protocol import onepw
from synctools.server import LocalStack

from .client import FIREFOX, OLDSYNC, StorageClient, key_id, login_session

JSON_UTF8 = "application/json; charset=utf-8"


def _hawk(method: str, url: str, session: str, body: dict | None = None) -> requests.Response:
    creds = onepw.token_credentials(bytes.fromhex(session), "sessionToken")
    data = json.dumps(body) if body is not None else ""
    sender = mohawk.Sender(
        {"id": creds.token_id, "key": creds.hmac_key, "algorithm": "sha256"},
        url,
        method,
        content=data,
        content_type=JSON_UTF8 if body else "",
    )
    headers = {"Authorization": sender.request_header}
    if body is not None:
        headers["Content-Type"] = JSON_UTF8
    return requests.request(method, url, data=data or None, headers=headers, timeout=30)


def test_firefox_first_sync(stack: LocalStack) -> None:
    email, kb = f"ff-{secrets.token_hex(4)}@example.com", secrets.token_bytes(32)
    info = stack.admin.create_account(email, "pw", kb=kb, key_rotation_timestamp=1_793_880_000_000)
    session = login_session(stack, email, "pw")["sessionToken"]
    auth = stack.auth_url
    assert _hawk("GET", auth + "/account/attached_clients", session).status_code == 200
    assert _hawk("GET", auth + "/account/devices?filterIdleDevicesTimestamp=1793880732296", session).status_code == 200
    r = _hawk(
        "POST",
        auth + "/oauth/token",
        session,
        {"client_id": FIREFOX, "grant_type": "fxa-credentials", "scope": "profile"},
    )
    profile_token = r.json()["access_token"]
    r = requests.get(stack.profile_url + "/profile", headers={"Authorization": f"Bearer {profile_token}"}, timeout=30)
    assert r.json()["uid"] == info.uid
    r = _hawk(
        "POST",
        auth + "/account/device",
        session,
        {"name": "Firefox on Linux", "type": "desktop", "availableCommands": {}},
    )
    assert r.status_code == 200
    r = _hawk(
        "POST",
        auth + "/oauth/token",
        session,
        {"client_id": FIREFOX, "grant_type": "fxa-credentials", "scope": OLDSYNC, "ttl": 21600},
    )
    access = r.json()["access_token"]
    r = requests.get(
        stack.token_url,
        headers={"Authorization": f"Bearer {access}", "X-KeyID": key_id(kb, 1_793_880_000_000)},
        timeout=30,
    )
    assert r.status_code == 200
    c = StorageClient(r.json())
    plain = {"content_type": "text/plain"}

    assert c.get("/info/collections").json() == {}
    assert c.get("/info/configuration").status_code == 200
    assert c.get("/storage/meta/global").status_code == 404
    assert c.delete("/storage", headers={"X-Confirm-Delete": "1"}).status_code == 200
    zero = {"X-If-Unmodified-Since": "0"}
    r = c.request("PUT", "/storage/meta/global", data=json.dumps({"payload": "{}"}), headers=zero, **plain)
    assert r.status_code == 200
    r = c.request("PUT", "/storage/crypto/keys", data=json.dumps({"payload": "{}"}), headers=zero, **plain)
    assert r.status_code == 200
    assert set(c.get("/info/collections").json()) == {"meta", "crypto"}
    assert c.get("/storage/crypto/keys").status_code == 200
    assert c.get("/info/collections", params={"v": "1.155.0"}).status_code == 200
    for coll in ("clients", "prefs", "tabs", "bookmarks"):
        assert c.delete(f"/storage/{coll}").status_code == 200
        r = c.request(
            "POST",
            f"/storage/{coll}",
            params={"batch": "true", "commit": "true"},
            data=json.dumps([{"id": "x", "payload": "{}"}]),
            headers=zero,
            **plain,
        )
        assert r.status_code == 200 and r.json()["success"] == ["x"]
    meta_ts = c.get("/info/collections").json()["meta"]
    r = c.request(
        "PUT",
        "/storage/meta/global",
        data=json.dumps({"payload": "{}"}),
        headers={"X-If-Unmodified-Since": f"{meta_ts:.2f}"},
        **plain,
    )
    assert r.status_code == 200
    r = c.get("/storage/bookmarks", params={"newer": "0", "full": 1, "sort": "oldest", "limit": 1000})
    assert [b["id"] for b in r.json()] == ["x"]
    # the second scheduled sync refetches a token with the same X-KeyID
    r = requests.get(
        stack.token_url,
        headers={"Authorization": f"Bearer {access}", "X-KeyID": key_id(kb, 1_793_880_000_000)},
        timeout=30,
    )
    assert r.json()["uid"] == c.token["uid"]


def test_hawk_replay_is_refused(stack: LocalStack, user) -> None:
    c = user.client
    url = c.endpoint + "/info/collections"
    sender = mohawk.Sender(
        {"id": c.token["id"], "key": c.token["key"], "algorithm": "sha256"},
        url,
        "GET",
        content="",
        content_type="",
    )
    headers = {"Authorization": sender.request_header}
    assert requests.get(url, headers=headers, timeout=30).status_code == 200
    assert requests.get(url, headers=headers, timeout=30).status_code == 401
