"""HTTP routes of the accounts service (``/v1/...``) and the profile server (``/profile/v1``).

Shapes follow fxa-auth-server as PyFxA and Firefox call it; see accounts.py for storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from ..protocol import onepw
from . import totp
from .accounts import (
    ACCESS_TOKEN_TTL,
    MAX_TTL,
    OLDSYNC_SCOPE,
    PROFILE_SCOPE,
    AccountsService,
    fxa_error,
    invalid_token,
)
from .accounts import request_body as _body
from .devices import Devices
from .http import HTTPError, Request, Response, json_response

Handler = Callable[[Request], Response]


def _param(body: dict[str, Any], name: str, kind: type = str) -> Any:
    value = body.get(name)
    if not isinstance(value, kind):
        raise fxa_error(400, 107, f"Invalid parameter in request body: {name}")
    return value


class AccountsAPI:
    def __init__(self, service: AccountsService, base_url: Callable[[], str]):
        self.svc = service
        self.base_url = base_url
        self.devices = Devices(service)
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "/account/create"): self.account_create,
            ("POST", "/account/login"): self.account_login,
            ("GET", "/account/keys"): self.account_keys,
            ("POST", "/account/status"): self.account_status_post,
            ("GET", "/account/status"): self.account_status_get,
            ("POST", "/account/credentials/status"): self.credentials_status,
            ("GET", "/account/profile"): self.account_profile,
            ("POST", "/account/scoped-key-data"): self.scoped_key_data,
            ("GET", "/session/status"): self.session_status,
            ("POST", "/session/destroy"): self.session_destroy,
            ("POST", "/session/verify/totp"): self.verify_totp,
            ("POST", "/session/verify_code"): self.verify_code,
            ("POST", "/session/resend_code"): self.resend_code,
            ("GET", "/recovery_email/status"): self.email_status,
            ("GET", "/totp/exists"): self.totp_exists,
            ("POST", "/oauth/token"): self.oauth_token,
            ("POST", "/token"): self.oauth_token,
            ("POST", "/oauth/authorization"): self.oauth_authorization,
            ("POST", "/authorization"): self.oauth_authorization,
            ("POST", "/verify"): self.oauth_verify,
            ("POST", "/oauth/verify"): self.oauth_verify,
            ("POST", "/destroy"): self.oauth_destroy,
            ("POST", "/oauth/destroy"): self.oauth_destroy,
            ("GET", "/jwks"): lambda req: json_response({"keys": []}),
            ("GET", "/account/attached_clients"): self.attached_clients,
            **self.devices.routes(),
        }

    def handle(self, req: Request, path: str) -> Response:
        try:
            handler = self.routes.get((req.method, path))
            if handler is None:
                if any(p == path for _, p in self.routes):
                    raise fxa_error(405, 998, f"Method {req.method} not allowed on {path}")
                raise fxa_error(404, 998, f"Unknown endpoint /v1{path}")
            resp = handler(req)
        except HTTPError as exc:
            resp = exc.response
        resp.headers.append(("Timestamp", str(int(time.time()))))
        return resp

    # -- account ------------------------------------------------------------------
    def account_create(self, req: Request) -> Response:
        body = _body(req)
        email = _param(body, "email")
        auth_pw = self._auth_pw(body)
        if self.svc.account_by_email(email) is not None:
            raise fxa_error(400, 101, "Account already exists")
        uid = self.svc.create(
            email,
            auth_pw=auth_pw,
            unwrap_bkey=None,
            kb=None,
            totp_secret=None,
            verification="none",
            key_rotation_timestamp=None,
        )
        return self._new_session(uid, req, verified=True, keys=req.arg("keys") == "true", code=None, method=None)

    @staticmethod
    def _auth_pw(body: dict[str, Any], name: str = "authPW") -> bytes:
        text = _param(body, name)
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise fxa_error(400, 107, f"Invalid parameter in request body: {name} (64 hex digits)")
        return raw

    def account_login(self, req: Request) -> Response:
        body = _body(req)
        email = _param(body, "email")
        auth_pw = self._auth_pw(body)
        conn = self.svc.db.conn()
        row = conn.execute(
            "SELECT uid, email, auth_salt, verify_hash, verify_hash_v2, verification FROM accounts WHERE email_lower=?",
            (email.lower(),),
        ).fetchone()
        if row is None:
            raise fxa_error(400, 102, "Unknown account")
        uid, stored_email, salt, vh, vh2, verification = row
        if stored_email != email:
            # The email is the salt of the stretched password: the client must retry
            # with the address exactly as it was registered.
            raise fxa_error(400, 120, "Incorrect email case", email=stored_email)
        check = onepw.verify_hash(auth_pw, salt)
        # A v2 account keeps its v1 verifier: authPW may be either; a client that knows
        # both sends authPWVersion2 too and gets a keyFetchToken for each.
        if hmac.compare_digest(check, vh):
            versions = [1]
        elif vh2 is not None and hmac.compare_digest(check, vh2):
            versions = [2]
        else:
            raise fxa_error(400, 103, "Incorrect password")
        if "authPWVersion2" in body:
            check2 = onepw.verify_hash(self._auth_pw(body, "authPWVersion2"), salt)
            if vh2 is None or not hmac.compare_digest(check2, vh2):
                raise fxa_error(400, 103, "Incorrect password")
            versions = sorted({*versions, 2})
        keys = req.arg("keys") == "true"
        if verification == "none":
            return self._new_session(uid, req, True, keys, None, None, versions)
        if verification == "totp":
            return self._new_session(uid, req, False, keys, None, "totp-2fa", versions)
        code = f"{secrets.randbelow(10**6):06d}"
        return self._new_session(uid, req, False, keys, code, "email-otp", versions)

    def _new_session(
        self,
        uid: str,
        req: Request,
        verified: bool,
        keys: bool,
        code: str | None,
        method: str | None,
        versions: list[int] | None = None,
    ) -> Response:
        with self.svc.db.write() as conn:
            session = self.svc._new_token(conn, "sessionToken", uid, verified, code)
            out: dict[str, Any] = {
                "uid": uid,
                "sessionToken": session,
                "verified": verified,
                "authAt": int(time.time()),
            }
            if keys:
                parent = onepw.token_credentials(bytes.fromhex(session), "sessionToken").token_id
                for version in versions or [1]:
                    kft = self.svc._new_token(conn, "keyFetchToken", uid, verified, parent=parent, key_version=version)
                    out["keyFetchTokenVersion2" if version == 2 else "keyFetchToken"] = kft
        if not verified:
            out["verificationMethod"] = method
            out["verificationReason"] = "login"
        return json_response(out)

    def account_keys(self, req: Request) -> Response:
        token = self.svc.authenticate(req, "keyFetchToken")
        session = self.svc._token(token.parent, "sessionToken") if token.parent else None
        if session is None or not session[0].verified:
            raise fxa_error(400, 104, "Unconfirmed account")
        conn = self.svc.db.conn()
        column = "wrap_kb_v2" if token.key_version == 2 else "wrap_kb"
        ka, wrap_kb = conn.execute(
            f"SELECT ka, {column} FROM accounts WHERE uid=?",  # noqa: S608 - fixed names
            (token.uid,),
        ).fetchone()
        with self.svc.db.write() as wconn:  # single use
            wconn.execute("DELETE FROM tokens WHERE token_id=?", (token.token_id,))
        bundle = onepw.make_keys_bundle(token.extra, ka, wrap_kb)
        return json_response({"bundle": bundle.hex()})

    def account_status_post(self, req: Request) -> Response:
        email = _param(_body(req), "email")
        return json_response({"exists": self.svc.account_by_email(email) is not None})

    def account_status_get(self, req: Request) -> Response:
        uid = req.arg("uid")
        if uid is None:
            session = self.svc.authenticate(req, "sessionToken")
            uid = session.uid
        return json_response({"exists": self.svc.account_by_uid(uid) is not None})

    def credentials_status(self, req: Request) -> Response:
        email = _param(_body(req), "email")
        row = (
            self.svc.db.conn()
            .execute(
                "SELECT client_salt, verify_hash_v2 FROM accounts WHERE email_lower=?",
                (email.lower(),),
            )
            .fetchone()
        )
        if row is None:
            raise fxa_error(400, 102, "Unknown account")
        if row[1] is not None:
            return json_response({"currentVersion": "v2", "clientSalt": row[0], "upgradeNeeded": False})
        return json_response({"currentVersion": "v1", "upgradeNeeded": True})

    def account_profile(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        account = self.svc.account_by_uid(session.uid)
        assert account is not None
        return json_response(
            {
                "email": account.email,
                "locale": "en-US",
                "authenticationMethods": ["pwd"],
                "authenticatorAssuranceLevel": 2 if account.totp_secret else 1,
            }
        )

    def scoped_key_data(self, req: Request) -> Response:
        session = self.svc.verified_session(req)
        body = _body(req)
        client_id = _param(body, "client_id")
        scope = self.svc._check_scopes(client_id, _param(body, "scope"))
        account = self.svc.account_by_uid(session.uid)
        assert account is not None
        out = {}
        if OLDSYNC_SCOPE in scope.split():
            out[OLDSYNC_SCOPE] = {
                "identifier": OLDSYNC_SCOPE,
                "keyRotationSecret": "0" * 64,
                "keyRotationTimestamp": account.key_rotation_timestamp,
            }
        return json_response(out)

    # -- session ------------------------------------------------------------------
    def session_status(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        return json_response(
            {
                "state": "verified" if session.verified else "unverified",
                "uid": session.uid,
                "details": {
                    "accountEmailVerified": True,
                    "sessionVerified": session.verified,
                    "sessionVerificationMeetsMinimumAAL": session.verified,
                },
            }
        )

    def session_destroy(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        with self.svc.db.write() as conn:
            conn.execute("DELETE FROM tokens WHERE token_id=? OR parent=?", (session.token_id, session.token_id))
            Devices.forget_session(conn, session.token_id)
        return json_response({})

    def _mark_verified(self, session_id: str) -> None:
        with self.svc.db.write() as conn:
            conn.execute("UPDATE tokens SET verified=1, code=NULL WHERE token_id=?", (session_id,))
            conn.execute("UPDATE tokens SET verified=1 WHERE parent=?", (session_id,))

    def verify_totp(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        code = _param(_body(req), "code")
        account = self.svc.account_by_uid(session.uid)
        assert account is not None
        if not account.totp_secret:
            raise fxa_error(400, 155, "TOTP token not found for this account")
        if not totp.verify(account.totp_secret, code):
            return json_response({"success": False})
        self._mark_verified(session.token_id)
        return json_response({"success": True})

    def verify_code(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        code = _param(_body(req), "code")
        row = self.svc.db.conn().execute("SELECT code FROM tokens WHERE token_id=?", (session.token_id,)).fetchone()
        if session.verified:
            return json_response({})
        if row is None or row[0] is None or not hmac.compare_digest(row[0], str(code)):
            raise fxa_error(400, 183, "Invalid or expired confirmation code")
        self._mark_verified(session.token_id)
        return json_response({})

    def resend_code(self, req: Request) -> Response:
        self.svc.authenticate(req, "sessionToken")
        return json_response({})

    def email_status(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        account = self.svc.account_by_uid(session.uid)
        assert account is not None
        return json_response(
            {
                "email": account.email,
                "verified": session.verified,
                "sessionVerified": session.verified,
                "emailVerified": True,
            }
        )

    def totp_exists(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        account = self.svc.account_by_uid(session.uid)
        assert account is not None
        return json_response({"exists": bool(account.totp_secret), "verified": True})

    # -- OAuth --------------------------------------------------------------------
    def oauth_token(self, req: Request) -> Response:
        body = _body(req)
        grant = body.get("grant_type", "authorization_code")
        client_id = _param(body, "client_id")
        ttl = body.get("ttl", ACCESS_TOKEN_TTL)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise fxa_error(400, 107, "Invalid parameter in request body: ttl")
        ttl = min(ttl, MAX_TTL)
        grant_extra: dict[str, Any] = {}
        if grant == "fxa-credentials":
            session = self.svc.verified_session(req)
            uid = session.uid
            scope = self.svc._check_scopes(client_id, _param(body, "scope"))
        elif grant == "refresh_token":
            found = self._consume_grant("refresh", _param(body, "refresh_token"), keep=True)
            uid, granted = found[0], found[2]
            scope = body.get("scope", granted)
            if not isinstance(scope, str) or not set(scope.split()) <= set(granted.split()):
                raise fxa_error(400, 163, "Requested scopes exceed the refresh token's")
        elif grant == "authorization_code":
            found = self._consume_grant("code", _param(body, "code"), keep=False)
            uid, scope = found[0], found[2]
            grant_extra = json.loads(found[3] or "{}")
            challenge = grant_extra.get("challenge")
            if challenge:
                verifier = body.get("code_verifier", "")
                digest = hashlib.sha256(str(verifier).encode()).digest()
                expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if not hmac.compare_digest(expected, challenge):
                    raise fxa_error(400, 107, "PKCE code_verifier does not match")
        else:
            raise fxa_error(400, 107, f"Unsupported grant_type {str(grant)[:40]!r}")
        with self.svc.db.write() as conn:
            access = self.svc._issue(conn, "access", uid, client_id, scope, ttl)
            out: dict[str, Any] = {
                "access_token": access,
                "token_type": "bearer",
                "scope": scope,
                "expires_in": ttl,
                "auth_at": int(time.time()),
            }
            if grant == "authorization_code" and grant_extra.get("keys_jwe"):
                # Scoped keys travel encrypted by the client to the client: the server
                # only hands back what the authorizing client left with the code.
                out["keys_jwe"] = grant_extra["keys_jwe"]
            if grant == "fxa-credentials" and body.get("access_type") == "offline":
                out["refresh_token"] = self.svc._issue(conn, "refresh", uid, client_id, scope, 365 * 86400)
        return json_response(out)

    def _consume_grant(self, kind: str, token: str, keep: bool) -> tuple[str, str, str, str]:
        from .accounts import _hash_token

        with self.svc.db.write() as conn:
            row = conn.execute(
                "SELECT uid, client_id, scope, IFNULL(extra, ''), expires FROM oauth WHERE token_hash=? AND kind=?",
                (_hash_token(token), kind),
            ).fetchone()
            if row is None or row[4] <= time.time():
                raise fxa_error(400, 110, f"Invalid or expired {kind} token")
            if not keep:
                conn.execute("DELETE FROM oauth WHERE token_hash=?", (_hash_token(token),))
        return row[0], row[1], row[2], row[3]

    def oauth_authorization(self, req: Request) -> Response:
        session = self.svc.verified_session(req)
        body = _body(req)
        client_id = _param(body, "client_id")
        scope = self.svc._check_scopes(client_id, body.get("scope") or PROFILE_SCOPE)
        state = str(body.get("state", ""))
        extra = json.dumps({"challenge": body.get("code_challenge") or "", "keys_jwe": body.get("keys_jwe") or ""})
        with self.svc.db.write() as conn:
            code = self.svc._issue(conn, "code", session.uid, client_id, scope, 600, extra)
        redirect = self.base_url() + "/oauth/success/" + client_id + "?" + urlencode({"code": code, "state": state})
        return json_response({"code": code, "state": state, "redirect": redirect})

    def oauth_verify(self, req: Request) -> Response:
        token = _param(_body(req), "token")
        access = self.svc.verify_access_token(token)
        if access is None:
            raise fxa_error(400, 110, "Invalid or expired access token")
        return json_response(
            {
                "user": access.uid,
                "client_id": access.client_id,
                "scope": list(access.scopes),
                "generation": 0,
                "profile_changed_at": 0,
            }
        )

    def oauth_destroy(self, req: Request) -> Response:
        from .accounts import _hash_token

        body = _body(req)
        token = body.get("token") or body.get("access_token") or body.get("refresh_token")
        if not isinstance(token, str):
            raise fxa_error(400, 107, "Invalid parameter in request body: token")
        with self.svc.db.write() as conn:
            conn.execute("DELETE FROM oauth WHERE token_hash=?", (_hash_token(token),))
        return json_response({})

    # -- devices (the device routes themselves are in devices.py) -------------------
    def attached_clients(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        out = []
        for d, owner in self.devices.records(session.uid):
            out.append(
                {
                    "clientId": None,
                    "deviceId": d["id"],
                    "sessionTokenId": owner,
                    "refreshTokenId": None,
                    "isCurrentSession": owner == session.token_id,
                    "deviceType": d.get("type"),
                    "name": d.get("name"),
                    "createdTime": d.get("createdAt"),
                    "lastAccessTime": int(time.time() * 1000),
                    "scope": None,
                    "location": {},
                    "userAgent": "",
                    "os": None,
                }
            )
        if not any(c["isCurrentSession"] for c in out):
            out.append(
                {
                    "clientId": None,
                    "deviceId": None,
                    "sessionTokenId": session.token_id,
                    "refreshTokenId": None,
                    "isCurrentSession": True,
                    "deviceType": None,
                    "name": None,
                    "createdTime": None,
                    "lastAccessTime": int(time.time() * 1000),
                    "scope": None,
                    "location": {},
                    "userAgent": "",
                    "os": None,
                }
            )
        return json_response(out)


class ProfileAPI:
    """``/profile/v1/profile``: Firefox refetches it until it sees the signed-in uid."""

    def __init__(self, service: AccountsService):
        self.svc = service

    def handle(self, req: Request, path: str) -> Response:
        try:
            if req.method != "GET" or path not in ("/profile", "/uid", "/email"):
                raise HTTPError(
                    json_response({"code": 404, "errno": 116, "error": "Not Found", "message": "Not found"}, 404)
                )
            header = req.header("Authorization") or ""
            token = header[7:].strip() if header.startswith("Bearer ") else ""
            access = self.svc.verify_access_token(token) if token else None
            if access is None or not any(
                s == PROFILE_SCOPE or s.startswith("profile") or s == OLDSYNC_SCOPE for s in access.scopes
            ):
                raise HTTPError(
                    json_response({"code": 401, "errno": 100, "error": "Unauthorized", "message": "Unauthorized"}, 401)
                )
            account = self.svc.account_by_uid(access.uid)
            if account is None:
                raise invalid_token()
            profile = {
                "uid": account.uid,
                "email": account.email,
                "locale": "en-US",
                "amrValues": ["pwd", "otp"] if account.totp_secret else ["pwd"],
                "twoFactorAuthentication": bool(account.totp_secret),
                "avatar": "",
                "avatarDefault": True,
                "displayName": None,
                "subscriptions": [],
            }
            if path == "/uid":
                return json_response(account.uid)
            if path == "/email":
                return json_response(account.email)
            return json_response(profile)
        except HTTPError as exc:
            return exc.response
