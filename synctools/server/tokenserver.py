"""The tokenserver: ``GET /token/1.0/sync/1.5`` trades an OAuth token for a storage token.

Rules follow syncstorage-rs's tokenserver: ``X-KeyID`` is ``<keysChangedAt>-<b64url
kXCS>``; keysChangedAt may not go backwards; a new client state needs a newer
keysChangedAt and gets a fresh storage uid (the old data is abandoned); a client state
seen before and replaced is refused (``invalid-client-state``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..protocol import tokens
from ..protocol._util import b64url_decode, b64url_nopad
from .accounts import OLDSYNC_SCOPE, AccountsService
from .db import Database
from .http import Request, Response, json_response

DEFAULT_DURATION = 3600
KEYID_RE = re.compile(r"([0-9]{1,15})-([A-Za-z0-9_-]{22})")  # fullmatch: "$" allows a final "\n"
PATH_RE = re.compile(r"/1\.0/([^/]+)/([^/]+)")


def ts_error(
    status: int,
    name: str,
    description: str,
    location: str = "body",
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    body = {
        "status": name if status == 401 else ("error" if status >= 500 else name),
        "errors": [{"location": location, "name": name, "description": description}],
    }
    return json_response(body, status, headers)


@dataclass(frozen=True)
class Assignment:
    storage_uid: int
    node: str
    client_state: str | None
    keys_changed_at: int | None


class TokenRegistry:
    """Token ids minted so far, so that the admin can make them fail as expired."""

    def __init__(self) -> None:
        self._issued: dict[str, str] = {}  # token id -> fxa uid
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def add(self, token_id: str, fxa_uid: str) -> None:
        with self._lock:
            self._issued[token_id] = fxa_uid

    def revoke(self, fxa_uid: str | None) -> None:
        with self._lock:
            for token_id, owner in self._issued.items():
                if fxa_uid is None or owner == fxa_uid:
                    self._revoked.add(token_id)

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._revoked


class TokenServer:
    def __init__(
        self,
        db: Database,
        accounts: AccountsService,
        nodes: dict[str, str],
        secret: str,
        duration: int = DEFAULT_DURATION,
    ):
        self.db = db
        self.accounts = accounts
        # node key (stored, survives a port change) -> node base URL (in tokens)
        self.nodes = nodes
        self.secret = secret
        self.duration = duration
        self.registry = TokenRegistry()
        self._lock = threading.Lock()
        self._metrics_key = hashlib.sha256(b"synctools-metrics:" + secret.encode()).digest()

    # -- user records -------------------------------------------------------------
    def assignment(self, fxa_uid: str, conn: sqlite3.Connection | None = None) -> Assignment | None:
        row = (
            (conn or self.db.conn())
            .execute(
                "SELECT storage_uid, node, client_state, keys_changed_at FROM ts_users WHERE fxa_uid=? AND replaced=0",
                (fxa_uid,),
            )
            .fetchone()
        )
        return Assignment(*row) if row else None

    def is_assigned(self, storage_uid: int, node: str) -> bool:
        row = (
            self.db.conn().execute("SELECT node, replaced FROM ts_users WHERE storage_uid=?", (storage_uid,)).fetchone()
        )
        return row is not None and self.nodes.get(row[0]) == node and row[1] == 0

    def _least_loaded(self, conn: sqlite3.Connection, exclude: str | None = None) -> str:
        counts = dict(conn.execute("SELECT node, COUNT(*) FROM ts_users WHERE replaced=0 GROUP BY node").fetchall())
        keys = list(self.nodes)
        candidates = [n for n in keys if n != exclude] or keys
        return min(candidates, key=lambda n: (counts.get(n, 0), keys.index(n)))

    def allocate(
        self, fxa_uid: str, client_state: str | None, keys_changed_at: int | None, node: str | None = None
    ) -> Assignment:
        """A new user record (replacing any current one): new storage uid, maybe new node."""
        with self.db.write() as conn:
            node = node or self._least_loaded(conn)
            conn.execute("UPDATE ts_users SET replaced=1 WHERE fxa_uid=? AND replaced=0", (fxa_uid,))
            cur = conn.execute(
                "INSERT INTO ts_users(fxa_uid, node, client_state, keys_changed_at) VALUES(?,?,?,?)",
                (fxa_uid, node, client_state, keys_changed_at),
            )
            return Assignment(int(cur.lastrowid or 0), node, client_state, keys_changed_at)

    def reassign(self, fxa_uid: str, node: str | None) -> Assignment:
        current = self.assignment(fxa_uid)
        if node is not None:
            by_url = {url: key for key, url in self.nodes.items()}
            if node in by_url:
                node = by_url[node]
            elif node not in self.nodes:
                raise ValueError(f"unknown node {node!r}; nodes are {list(self.nodes.values())}")
        if node is None:
            with self.db.read() as conn:
                node = self._least_loaded(conn, exclude=current.node if current else None)
        return self.allocate(
            fxa_uid,
            current.client_state if current else None,
            current.keys_changed_at if current else None,
            node,
        )

    # -- the endpoint -------------------------------------------------------------
    def handle(self, req: Request, path: str) -> Response:
        resp = self._handle(req, path)
        resp.headers.append(("X-Timestamp", str(int(time.time()))))
        return resp

    def _handle(self, req: Request, path: str) -> Response:
        m = PATH_RE.fullmatch(path)
        if not m:
            return ts_error(404, "not-found", f"unknown path /token{path}", "url")
        if (m.group(1), m.group(2)) != ("sync", "1.5"):
            return ts_error(
                404,
                "unsupported-application",
                f"unsupported application or version {m.group(1)}/{m.group(2)}",
                "url",
            )
        if req.method != "GET":
            resp = ts_error(405, "method-not-allowed", "use GET", "url")
            resp.headers.append(("Allow", "GET"))
            return resp
        header = req.header("Authorization") or ""
        if not header.startswith("Bearer "):
            return ts_error(
                401,
                "invalid-credentials",
                "Unsupported authorization: send 'Authorization: Bearer <OAuth token>'",
                "header",
            )
        access = self.accounts.verify_access_token(header[7:].strip())
        if access is None or OLDSYNC_SCOPE not in access.scopes:
            return ts_error(
                401,
                "invalid-credentials",
                "Unauthorized: the OAuth token is unknown, expired or lacks the oldsync scope",
                "header",
            )
        key_id = req.header("X-KeyID")
        parsed = KEYID_RE.fullmatch(key_id or "")
        if not parsed:
            return ts_error(
                401,
                "invalid-key-id",
                "X-KeyID must be '<keysChangedAt ms>-<base64url kXCS (16 bytes)>'",
                "header",
            )
        keys_changed_at = int(parsed.group(1))
        client_state = b64url_decode(parsed.group(2)).hex()
        with self._lock:
            result = self._check_user(access.uid, client_state, keys_changed_at)
        if isinstance(result, Response):
            return result
        return self._mint(access.uid, result)

    def _check_user(self, fxa_uid: str, client_state: str, kca: int) -> Assignment | Response:
        user = self.assignment(fxa_uid)
        if user is None:
            return self.allocate(fxa_uid, client_state, kca)
        if user.keys_changed_at is not None and kca < user.keys_changed_at:
            return ts_error(401, "invalid-keysChangedAt", "Unauthorized: keysChangedAt went backwards", "body")
        if user.client_state is None:
            with self.db.write() as conn:
                conn.execute(
                    "UPDATE ts_users SET client_state=?, keys_changed_at=? WHERE storage_uid=?",
                    (client_state, kca, user.storage_uid),
                )
            return Assignment(user.storage_uid, user.node, client_state, kca)
        if client_state != user.client_state:
            seen = (
                self.db.conn()
                .execute(
                    "SELECT 1 FROM ts_users WHERE fxa_uid=? AND replaced=1 AND client_state=?",
                    (fxa_uid, client_state),
                )
                .fetchone()
            )
            if seen:
                return ts_error(401, "invalid-client-state", "Unacceptable client-state value stale value", "header")
            if user.keys_changed_at is not None and kca <= user.keys_changed_at:
                return ts_error(
                    401,
                    "invalid-keysChangedAt",
                    "Unauthorized: the client state changed but keysChangedAt did not move forward",
                    "body",
                )
            # Keys changed: a new user record on the same node; old data is abandoned.
            return self.allocate(fxa_uid, client_state, kca, user.node)
        if user.keys_changed_at is None or kca > user.keys_changed_at:
            with self.db.write() as conn:
                conn.execute("UPDATE ts_users SET keys_changed_at=? WHERE storage_uid=?", (kca, user.storage_uid))
        return user

    def _mint(self, fxa_uid: str, user: Assignment) -> Response:
        hashed_fxa_uid = hmac.new(self._metrics_key, fxa_uid.encode(), hashlib.sha256).hexdigest()[:32]
        client_state = bytes.fromhex(user.client_state) if user.client_state else b""
        data: dict[str, Any] = {
            "uid": user.storage_uid,
            "node": self.nodes[user.node],
            "expires": int(time.time()) + self.duration,
            "fxa_uid": fxa_uid,
            "fxa_kid": f"{user.keys_changed_at or 0:013d}-{b64url_nopad(client_state)}",
            "hashed_fxa_uid": hashed_fxa_uid,
            "hashed_device_id": hmac.new(self._metrics_key, (fxa_uid + "none").encode(), hashlib.sha256).hexdigest()[
                :32
            ],
        }
        token_id = tokens.make_token(data, self.secret, self.duration)
        self.registry.add(token_id, fxa_uid)
        body = {
            "id": token_id,
            "key": tokens.derived_secret(token_id, self.secret),
            "uid": user.storage_uid,
            "api_endpoint": f"{self.nodes[user.node]}/1.5/{user.storage_uid}",
            "duration": self.duration,
            "hashed_fxa_uid": hashed_fxa_uid,
            "hashalg": "sha256",
            "node_type": "spanner",
        }
        return json_response(body)
