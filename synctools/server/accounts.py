"""The accounts service: a Firefox Accounts stand-in under ``/v1`` and ``/profile/v1``.

It follows the onepw protocol (the client sends authPW, the server keeps a verifier and
wrapKB) and answers the routes PyFxA and a real Firefox call on sign-in. Errors carry
FxA's body ``{"code", "errno", "error", "message"}``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from ..protocol import onepw
from .db import Database
from .hawk import HawkError, NonceCache, check_hawk, hawk_id
from .http import HTTPError, Request, json_response

FIREFOX_CLIENT_ID = "5882386c6d801776"
# Mozilla's own clients: desktop Firefox, Fenix, Firefox iOS. Only these get oldsync.
MOZILLA_CLIENTS = {
    FIREFOX_CLIENT_ID: "Firefox",
    "a2270f727f45f648": "Firefox for Android",
    "1b1a3e44c54fbb58": "Firefox for iOS",
}
OLDSYNC_SCOPE = "https://identity.mozilla.com/apps/oldsync"
PROFILE_SCOPE = "profile"
ACCESS_TOKEN_TTL = 6 * 3600
MAX_TTL = 24 * 3600


def fxa_error(status: int, errno: int, message: str, **extra: Any) -> HTTPError:
    body = {
        "code": status,
        "errno": errno,
        "error": HTTPStatus(status).phrase,
        "message": message,
        **extra,
    }
    return HTTPError(json_response(body, status))


def request_body(req: Request) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``), or FxA's errno 106/107."""
    try:
        obj = req.json() if req.body else {}
    except (ValueError, UnicodeDecodeError):
        raise fxa_error(400, 106, "Invalid JSON in request body") from None
    if not isinstance(obj, dict):
        raise fxa_error(400, 107, "Invalid parameter in request body: expected an object")
    return obj


def invalid_token() -> HTTPError:
    return fxa_error(401, 110, "The authentication token could not be found")


@dataclass(frozen=True)
class AccountRow:
    uid: str
    email: str
    totp_secret: str | None
    verification: str
    key_rotation_timestamp: int


@dataclass(frozen=True)
class TokenRow:
    token_id: str
    kind: str
    uid: str
    verified: bool
    parent: str | None
    extra: bytes
    key_version: int


@dataclass(frozen=True)
class AccessToken:
    uid: str
    client_id: str
    scopes: tuple[str, ...]
    expires: float


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class AccountsService:
    """Accounts, sessions, OAuth tokens and devices, over one SQLite database."""

    def __init__(self, db: Database, on_account_created: Callable[[str, bytes | None, int], None]):
        self.db = db
        self.nonces = NonceCache()
        self._on_created = on_account_created

    # -- accounts -----------------------------------------------------------------
    def create(
        self,
        email: str,
        *,
        auth_pw: bytes,
        unwrap_bkey: bytes | None,
        kb: bytes | None,
        totp_secret: str | None,
        verification: str,
        key_rotation_timestamp: int | None,
        v2: tuple[bytes, bytes, str] | None = None,
    ) -> str:
        """Store a new account. ``kb`` known (admin) or random; returns the FxA uid.

        ``v2`` = (authPW v2, unwrapBKey v2, clientSalt) makes a key-stretching v2 account,
        which keeps its v1 credentials too, as FxA does for older clients.
        """
        if verification not in ("none", "totp", "email"):
            raise ValueError('verification must be "none", "totp" or "email"')
        if verification == "totp" and not totp_secret:
            raise ValueError('verification="totp" needs a totp_secret')
        if kb is not None and len(kb) != 32:
            raise ValueError("kb must be 32 bytes")
        uid = uuid.uuid4().hex
        salt = os.urandom(32)
        if unwrap_bkey is not None:
            kb = kb if kb is not None else os.urandom(32)
            wrap_kb = _xor(kb, unwrap_bkey)
        else:
            # Created over the API: like FxA, the server picks wrapKB and never knows kB.
            wrap_kb = os.urandom(32)
        vh2 = wrap_kb2 = client_salt = None
        if v2 is not None:
            if kb is None:
                raise ValueError("a v2 account needs kB known to the server")
            vh2 = onepw.verify_hash(v2[0], salt)
            wrap_kb2 = _xor(kb, v2[1])
            client_salt = v2[2]
        krt = key_rotation_timestamp if key_rotation_timestamp is not None else int(time.time() * 1000)
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO accounts(uid, email, email_lower, auth_salt, verify_hash, "
                    "wrap_kb, ka, totp_secret, verification, key_rotation_timestamp, created, "
                    "verify_hash_v2, wrap_kb_v2, client_salt) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        uid,
                        email,
                        email.lower(),
                        salt,
                        onepw.verify_hash(auth_pw, salt),
                        wrap_kb,
                        os.urandom(32),
                        totp_secret,
                        verification,
                        krt,
                        int(time.time() * 1000),
                        vh2,
                        wrap_kb2,
                        client_salt,
                    ),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"an account with email {email!r} already exists") from None
        self._on_created(uid, kb if unwrap_bkey is not None else None, krt)
        return uid

    def account_by_email(self, email: str) -> AccountRow | None:
        row = (
            self.db.conn()
            .execute(
                "SELECT uid, email, totp_secret, verification, key_rotation_timestamp FROM accounts "
                "WHERE email_lower=?",
                (email.lower(),),
            )
            .fetchone()
        )
        return AccountRow(*row) if row else None

    def account_by_uid(self, uid: str) -> AccountRow | None:
        row = (
            self.db.conn()
            .execute(
                "SELECT uid, email, totp_secret, verification, key_rotation_timestamp FROM accounts WHERE uid=?",
                (uid,),
            )
            .fetchone()
        )
        return AccountRow(*row) if row else None

    def latest_code(self, uid: str) -> str | None:
        row = (
            self.db.conn()
            .execute(
                "SELECT code FROM tokens WHERE uid=? AND kind='sessionToken' AND code IS NOT NULL "
                "ORDER BY created DESC LIMIT 1",
                (uid,),
            )
            .fetchone()
        )
        return row[0] if row else None

    # -- tokens -------------------------------------------------------------------
    def _new_token(
        self,
        conn: sqlite3.Connection,
        kind: str,
        uid: str,
        verified: bool,
        code: str | None = None,
        parent: str | None = None,
        key_version: int = 1,
    ) -> str:
        token = secrets.token_bytes(32)
        creds = onepw.token_credentials(token, kind)
        conn.execute(
            "INSERT INTO tokens(token_id, kind, uid, hawk_key, extra, verified, code, parent, "
            "key_version, created) VALUES(?,?,?,?,?,?,?,?,?,?)",
            (
                creds.token_id,
                kind,
                uid,
                creds.hmac_key,
                creds.extra,
                int(verified),
                code,
                parent,
                key_version,
                time.time(),
            ),
        )
        return token.hex()

    def _token(self, token_id: str, kind: str) -> tuple[TokenRow, bytes] | None:
        row = (
            self.db.conn()
            .execute(
                "SELECT token_id, kind, uid, verified, parent, extra, key_version, hawk_key "
                "FROM tokens WHERE token_id=? AND kind=?",
                (token_id, kind),
            )
            .fetchone()
        )
        if row is None:
            return None
        return TokenRow(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6]), row[7]

    def authenticate(self, req: Request, kind: str) -> TokenRow:
        """The token behind ``Bearer fx?_<id>`` or a Hawk header (checked)."""
        header = req.header("Authorization") or ""
        prefix = {"sessionToken": "fxs_", "keyFetchToken": "fxk_"}[kind]
        if header.startswith("Bearer "):
            value = header[7:].strip()
            if not value.startswith(prefix):
                raise invalid_token()
            found = self._token(value[len(prefix) :], kind)
            if found is None:
                raise invalid_token()
            return found[0]
        if header.startswith("Hawk "):
            try:
                token_id = hawk_id(header)
                found = self._token(token_id, kind)
                if found is None:
                    raise invalid_token()
                check_hawk(req, lambda _id: found[1], self.nonces)
            except HawkError:
                raise fxa_error(401, 109, "Invalid request signature") from None
            return found[0]
        raise fxa_error(401, 110, "Missing or unsupported Authorization header")

    def verified_session(self, req: Request) -> TokenRow:
        session = self.authenticate(req, "sessionToken")
        if not session.verified:
            raise fxa_error(400, 138, "Unconfirmed session")
        return session

    # -- OAuth --------------------------------------------------------------------
    def _issue(
        self,
        conn: sqlite3.Connection,
        kind: str,
        uid: str,
        client_id: str,
        scope: str,
        ttl: float,
        extra: str | None = None,
    ) -> str:
        token = secrets.token_hex(32)
        conn.execute(
            "INSERT INTO oauth(token_hash, kind, uid, client_id, scope, expires, extra) VALUES(?,?,?,?,?,?,?)",
            (_hash_token(token), kind, uid, client_id, scope, time.time() + ttl, extra),
        )
        return token

    def verify_access_token(self, token: str) -> AccessToken | None:
        row = (
            self.db.conn()
            .execute(
                "SELECT uid, client_id, scope, expires FROM oauth WHERE token_hash=? AND kind='access'",
                (_hash_token(token),),
            )
            .fetchone()
        )
        if row is None or row[3] <= time.time():
            return None
        return AccessToken(row[0], row[1], tuple(row[2].split()), row[3])

    def expire_access_tokens(self, uid: str | None = None) -> None:
        with self.db.write() as conn:
            if uid is None:
                conn.execute("UPDATE oauth SET expires=0 WHERE kind='access'")
            else:
                conn.execute("UPDATE oauth SET expires=0 WHERE kind='access' AND uid=?", (uid,))

    @staticmethod
    def _check_scopes(client_id: str, scope: str) -> str:
        if client_id not in MOZILLA_CLIENTS:
            raise fxa_error(400, 162, f"Unknown client_id {client_id[:32]!r}")
        scopes = scope.split()
        allowed = {OLDSYNC_SCOPE, PROFILE_SCOPE} | {s for s in scopes if s.startswith("profile:")}
        if not scopes or any(s not in allowed for s in scopes):
            raise fxa_error(400, 163, f"Requested scopes are not allowed: {scope[:200]!r}")
        return " ".join(scopes)
