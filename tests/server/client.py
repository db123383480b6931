"""A minimal, independent test client for the embedded stack: Hawk with mohawk + requests.

Deliberately not synctools.net: the server's tests must not share code with the client
they will be used to test.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import mohawk
import requests
from mohawk.base import EmptyValue

from synctools.protocol import onepw
from synctools.protocol._util import b64url_nopad

FIREFOX = "5882386c6d801776"
OLDSYNC = "https://identity.mozilla.com/apps/oldsync"


def session_auth(session_token_hex: str) -> dict[str, str]:
    creds = onepw.token_credentials(bytes.fromhex(session_token_hex), "sessionToken")
    return {"Authorization": f"Bearer fxs_{creds.token_id}"}


def key_id(kb: bytes, keys_changed_at: int) -> str:
    return f"{keys_changed_at}-{b64url_nopad(hashlib.sha256(kb).digest()[:16])}"


class StorageClient:
    """Signs every request with the token's Hawk credentials."""

    def __init__(self, token: dict[str, Any]):
        self.token = token
        self.endpoint = token["api_endpoint"]
        self.http = requests.Session()

    def request(
        self,
        method: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        hash_payload: bool = False,
        credentials: dict[str, str] | None = None,
    ) -> requests.Response:
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            headers.setdefault("Content-Type", content_type)
        prepared = requests.Request(method, self.endpoint + path, params=params, data=data, headers=headers).prepare()
        raw = prepared.body or b""
        if isinstance(raw, str):
            raw = raw.encode()
        creds = credentials or {"id": self.token["id"], "key": self.token["key"]}
        sender = mohawk.Sender(
            {**creds, "algorithm": "sha256"},
            prepared.url,
            method,
            content=raw if hash_payload else EmptyValue,
            content_type=headers.get("Content-Type", "") if hash_payload else EmptyValue,
            always_hash_content=hash_payload,
        )
        prepared.headers["Authorization"] = sender.request_header
        return self.http.send(prepared, timeout=30)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("PUT", path, body=body, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("POST", path, body=body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)


@dataclass
class User:
    email: str
    password: str
    kb: bytes
    session_token: str
    access_token: str
    keys_changed_at: int
    token: dict[str, Any]
    client: StorageClient


def login_session(stack: Any, email: str, password: str) -> dict[str, Any]:
    stretched = onepw.quick_stretch_v1(email, password)
    r = requests.post(
        stack.auth_url + "/account/login?keys=true",
        json={"email": email, "authPW": onepw.auth_pw(stretched).hex(), "reason": "login"},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


def oauth_token(stack: Any, session_token: str, scope: str = OLDSYNC) -> str:
    r = requests.post(
        stack.auth_url + "/oauth/token",
        json={"client_id": FIREFOX, "grant_type": "fxa-credentials", "scope": scope},
        headers=session_auth(session_token),
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["access_token"]


def get_token(stack: Any, access_token: str, kid: str) -> requests.Response:
    return requests.get(
        stack.token_url,
        headers={"Authorization": f"Bearer {access_token}", "X-KeyID": kid},
        timeout=30,
    )


def new_user(stack: Any, **create: Any) -> User:
    """A fresh account signed in all the way to a storage token."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    password = "correct horse " + secrets.token_hex(4)
    kb = create.pop("kb", None) or secrets.token_bytes(32)
    krt = create.pop("key_rotation_timestamp", 1_700_000_000_000)
    stack.admin.create_account(email, password, kb=kb, key_rotation_timestamp=krt, **create)
    session = login_session(stack, email, password)
    access = oauth_token(stack, session["sessionToken"])
    r = get_token(stack, access, key_id(kb, krt))
    r.raise_for_status()
    token = r.json()
    return User(email, password, kb, session["sessionToken"], access, krt, token, StorageClient(token))
