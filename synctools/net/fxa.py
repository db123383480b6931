"""Firefox Accounts client on PyFxA: log in, verify, fetch keys, get the Sync OAuth token.

Read-only by construction: the account's key stretching is never upgraded (v1 unless
``/account/credentials/status`` says the account is already v2; PyFxA's own v2 login
would run a password change) and every PyFxA method that changes an account is
disabled on the client this module builds. PyFxA's HTTP goes through a
:class:`~synctools.net.http.TracedSession`, so accounts exchanges are in the trace.
"""

from __future__ import annotations

import os
from binascii import unhexlify
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fxa.core
import fxa.crypto
import fxa.errors
import fxa.oauth
import requests
from fxa._utils import APIClient, FxATokenBearerAuth

from synctools.protocol.keys import OLDSYNC_SCOPE, SyncKeys, derive_sync_keys

from ._private import write_private
from .errors import (
    FxaBusy,
    FxaError,
    IncorrectEmailCase,
    IncorrectPassword,
    InvalidVerificationCode,
    LoginRequired,
    NetError,
    ResponseInfo,
    ServerUnreachable,
    UnknownAccount,
    VerificationRequired,
    scrub_credentials,
    unreachable,
)
from .http import RetryPolicy, SignalHook, Trace, TracedSession, fp, never_retry

PRODUCTION_AUTH_URL = "https://api.accounts.firefox.com"
PRODUCTION_OAUTH_URL = "https://oauth.accounts.firefox.com"
FIREFOX_CLIENT_ID = "5882386c6d801776"  # Firefox desktop: the Sync scope is granted to it
SESSION_FORMAT = "synctools-fxa-session"
_ERRNO_CLASSES: dict[int, type[FxaError]] = {
    102: UnknownAccount,
    103: IncorrectPassword,
    120: IncorrectEmailCase,
    152: InvalidVerificationCode,
    183: InvalidVerificationCode,
}
_UNVERIFIED_ERRNOS = {104, 138}
# PyFxA methods that change an account; disabled on our client (see module docstring).
_ACCOUNT_CHANGING = (
    "create_account", "destroy_account", "change_password", "start_password_change",
    "finish_password_change", "finish_password_change_v2", "_finish_password_change",
    "reset_account", "send_reset_code", "verify_reset_otp", "verify_reset_code",
)  # fmt: skip


def _v1_url(url: str) -> str:
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"server URL must start with http:// or https://, got {url[:60]!r}")
    return url if url.endswith("/v1") else url + "/v1"


@dataclass(frozen=True, repr=False)
class OAuthToken:
    """An OAuth access token for the Sync scope. ``repr`` shows a fingerprint only."""

    access_token: str
    expires_at: datetime | None
    scope: str = OLDSYNC_SCOPE

    def expired(self, margin: float = 30.0) -> bool:
        if self.expires_at is None:
            return False
        return datetime.now(UTC) + timedelta(seconds=margin) >= self.expires_at

    def __repr__(self) -> str:
        when = f"{self.expires_at:%Y-%m-%d %H:%M:%S}Z" if self.expires_at else "unknown"
        return f"OAuthToken({fp(self.access_token)}, expires_at={when})"

    __str__ = __repr__


class FxaClient:
    """One accounts server (and its OAuth server), for any number of logins.

    ``auth_url``/``oauth_url`` take the self-hoster's URLs with or without ``/v1``.
    """

    def __init__(
        self,
        auth_url: str = PRODUCTION_AUTH_URL,
        oauth_url: str = PRODUCTION_OAUTH_URL,
        *,
        trace: Trace | None = None,
        client_id: str = FIREFOX_CLIENT_ID,
        on_backoff: RetryPolicy | None = None,
        on_signal: SignalHook | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        self.auth_url = _v1_url(auth_url)
        self.oauth_url = _v1_url(oauth_url)
        self.client_id = client_id
        self.trace = trace if trace is not None else Trace()
        self.retry_policy = on_backoff or never_retry
        limits: dict[str, Any] = {"on_signal": on_signal, "timeout": timeout, "deadline": deadline}
        self.auth_session = TracedSession("fxa", self.trace, **limits)
        self.oauth_session = TracedSession("oauth", self.trace, **limits)
        # A session we own: PyFxA then mounts no hidden retrying adapter.
        self.api = APIClient(self.auth_url, session=self.auth_session)
        self.api.timeout = timeout
        self.core = fxa.core.Client(server_url=self.api)
        for name in _ACCOUNT_CHANGING:
            setattr(self.core, name, _refuse(name))
        self.oauth = fxa.oauth.Client(client_id, server_url=self.oauth_url, cache=False)
        self.oauth.apiclient = APIClient(self.oauth_url, session=self.oauth_session)

    def __repr__(self) -> str:
        return f"<FxaClient {self.auth_url}>"

    # ------------------------------------------------------------------ plumbing
    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: Any = None,
        oauth: bool = False,
        expect: type | None = dict,
    ) -> Any:
        """One accounts-server call through PyFxA, with our errors and retry policy.

        The answer must be a JSON ``expect`` (``None``: anything): else an
        :class:`FxaError` naming the endpoint. Every error is raised outside the except
        block that caught PyFxA's, so no exception quoting a body is chained to it.
        """
        api = self.oauth.apiclient if oauth else self.api
        session = self.oauth_session if oauth else self.auth_session
        kwargs: dict[str, Any] = {} if auth is None else {"auth": auth}
        where = f"{method} {path.split('?', 1)[0]}"
        for _attempt in range(5):
            # PyFxA caches a 503 and replays it later as a raw Response; we decide instead.
            api._backoff_response, api._backoff_until = None, 0
            err: NetError | None = None
            try:
                if method == "GET":
                    answer = api.get(path, **kwargs)
                else:
                    answer = api.request(method, path, json=body, **kwargs)
            except fxa.errors.InProtocolError as exc:
                err = self._error(exc, session, where)
            except fxa.errors.OutOfProtocolError:
                err = self._out_of_protocol(session, where)
            except requests.RequestException as exc:
                err = unreachable(f"accounts server {api.server_url} did not answer {where}", exc)
            except (AttributeError, TypeError, KeyError, ValueError) as exc:
                # PyFxA reading an error body that is not an object (a list, a string...)
                err = FxaError(
                    f"the accounts server's answer to {where} is not what the protocol says"
                    f" ({type(exc).__name__} in PyFxA)", _info(session, self.trace),
                )  # fmt: skip
            if err is None:
                for sig in session.last_signals:
                    if sig.kind == "backoff":
                        self.retry_policy(sig)  # a notice: the call itself succeeded
                if expect is not None and not isinstance(answer, expect):
                    want = "an array" if expect is list else "a JSON object"
                    raise malformed(session, self.trace, where, f"expected {want}, got {_jtype(answer)}")
                return answer
            retry = [s for s in getattr(err, "signals", ()) if s.kind == "retry-after"]
            if retry and self.retry_policy(retry[0]) is True:
                continue
            raise err
        raise err  # type: ignore[misc]  # the fifth retry's error: never None here

    def _error(self, exc: fxa.errors.InProtocolError, session: TracedSession, where: str) -> FxaError:
        info = _info(session, self.trace)
        errno = exc.errno if type(exc.errno) is int else None
        cls = _ERRNO_CLASSES.get(errno or -1, FxaError)
        if info is not None and info.status in (429, 503) and cls is FxaError:
            cls = FxaBusy
        details = exc.details if isinstance(exc.details, dict) else {}
        text = details.get("message") or details.get("error") or "unknown error"
        message = scrub_credentials(self.trace.scrub(str(text)[:300]))
        err = cls(f"accounts server error {errno} on {where}: {message}", info, errno)
        if isinstance(err, IncorrectEmailCase):
            email = details.get("email")
            err.email = email if type(email) is str else None
        return err

    def _out_of_protocol(self, session: TracedSession, where: str) -> FxaError:
        info = _info(session, self.trace)
        resp = session.last_response
        status = resp.status_code if resp is not None else None
        if resp is not None and 300 <= resp.status_code < 400:
            to = self.trace.scrub(resp.headers.get("Location", "nowhere"))[:200]
            return FxaError(
                f"the accounts server redirected {where} to {to}; synctools never follows a"
                " redirect (it would resend credentials): use the final URL as the server URL", info,
            )  # fmt: skip
        kind = resp.headers.get("Content-Type", "none") if resp is not None else "none"
        problem = (
            f"its Content-Type is {kind[:60]!r}, not JSON" if not kind.startswith("application/json")
            else f"HTTP {status} with a body that is not JSON"
        )  # fmt: skip
        return FxaError(f"the accounts server's answer to {where} is malformed: {problem}", info)

    # ----------------------------------------------------------------- login
    def key_stretch_version(self, email: str) -> tuple[int, str | None]:
        """``(1, None)`` or ``(2, clientSalt)`` from ``/account/credentials/status``.

        Any failure means v1, the safe choice: v1 credentials work on every account and
        logging in with them changes nothing.
        """
        try:
            resp = self.call("POST", "/account/credentials/status", {"email": email})
        except (FxaError, ServerUnreachable):
            return 1, None
        salt = resp.get("clientSalt")
        if resp.get("currentVersion") == "v2" and type(salt) is str and salt:
            return 2, salt
        return 1, None

    def login(self, email: str, password: str) -> FxaSession:
        """Log in with ``keys=true``. Verify the session next if ``needs_verification``.

        An errno 120 (the account's email differs in case) is retried once with the
        email the server names, since the email is the password's salt.
        """
        if not email or not password:
            raise ValueError("login() needs an email and a password")
        # The password itself never leaves this function (only authPW, in a body the
        # trace does not keep), so it is not even registered with the trace.
        for attempt in (1, 2):
            version, salt = self.key_stretch_version(email)
            if version == 2:
                assert salt is not None
                stretched = fxa.crypto.stretch_password(salt, password)
            else:
                stretched = fxa.crypto.quick_stretch_password(email, password)
            auth_pw = fxa.crypto.derive_auth_pw(stretched).hex()
            self.trace.add_secret(auth_pw)
            body = {"email": email, "authPW": auth_pw, "reason": "login"}
            try:
                resp = self.call("POST", "/account/login?keys=true", body)
                break
            except IncorrectEmailCase as exc:
                if attempt == 2 or not exc.email or exc.email == email:
                    raise
                email = exc.email
        where = "POST /account/login"
        # The body is never shown (a credential service's answer): register its secrets first.
        for name in ("sessionToken", "keyFetchToken", "keyFetchTokenVersion2"):
            if type(resp.get(name)) is str:
                self.trace.add_secret(resp[name])
        session_token = _field(resp, "sessionToken", str, where, self)
        key_fetch_token = resp.get("keyFetchTokenVersion2") if version == 2 else None
        key_fetch_token = key_fetch_token or resp.get("keyFetchToken")
        if not (type(key_fetch_token) is str and _is_hex(key_fetch_token, 64)):
            raise malformed(self.auth_session, self.trace, where, "keyFetchToken is missing or not 64 hex digits")
        if not _is_hex(session_token, 64):
            raise malformed(self.auth_session, self.trace, where, "sessionToken is not 64 hex digits")
        method = resp.get("verificationMethod")
        auth_at = resp.get("authAt")
        session = FxaSession(
            self,
            email=email,
            uid=_field(resp, "uid", str, where, self),
            session_token=session_token,
            verified=resp.get("verified") is True,
            verification_method=method if type(method) is str else None,
            auth_at=auth_at if type(auth_at) is int else None,
            key_stretch_version=version,
        )
        session._key_fetch_token = key_fetch_token
        session._stretched = stretched
        self.trace.add_secret(key_fetch_token)
        return session


class FxaSession:
    """A logged-in account: verification, keys, and the Sync OAuth token.

    Holds the session token (secret) and, until keys are fetched, the stretched
    password; neither ever appears in ``repr``. ``sync_keys`` is set once fetched.
    """

    def __init__(
        self,
        client: FxaClient,
        *,
        email: str | None,
        uid: str | None,
        session_token: str | None,
        verified: bool,
        verification_method: str | None = None,
        auth_at: int | None = None,
        key_stretch_version: int = 1,
        sync_keys: SyncKeys | None = None,
        oauth: OAuthToken | None = None,
    ) -> None:
        self.client = client
        self.email = email
        self.uid = uid
        self.verified = verified
        self.verification_method = verification_method
        self.auth_at = auth_at
        self.key_stretch_version = key_stretch_version
        self.sync_keys = sync_keys
        self._session_token = session_token
        self._oauth = oauth
        self._key_fetch_token: str | None = None
        self._stretched: bytes | None = None
        if session_token:
            client.trace.add_secret(session_token)
            client.trace.add_secret(self._auth().id)
        if oauth is not None:
            client.trace.add_secret(oauth.access_token)

    def __repr__(self) -> str:
        state = "verified" if self.verified else f"needs {self.verification_method or 'verification'}"
        keys = f", keys {self.sync_keys.kid.split('-')[0]}-…" if self.sync_keys else ""
        return f"<FxaSession {self.email} uid={self.uid} {state}{keys}>"

    @property
    def trace(self) -> Trace:
        return self.client.trace

    @property
    def has_session_token(self) -> bool:
        return bool(self._session_token)

    @property
    def needs_verification(self) -> bool:
        return not self.verified

    def _auth(self) -> FxATokenBearerAuth:
        if not self._session_token:
            raise LoginRequired("this session has no session token (built from an OAuth token); log in")
        return FxATokenBearerAuth(self._session_token, "sessionToken", self.client.api)

    # ---------------------------------------------------------- verification
    def verify_totp(self, code: str) -> None:
        """Answer the TOTP challenge (``/session/verify/totp``)."""
        resp = self.client.call("POST", "/session/verify/totp", {"code": str(code)}, auth=self._auth())
        where = "POST /session/verify/totp"
        success = resp.get("success")
        if type(success) is not bool:
            raise malformed(self.client.auth_session, self.trace, where, f"success is {_jtype(success)}, not a boolean")
        if not success:
            info = _info(self.client.auth_session, self.trace)
            raise InvalidVerificationCode(f"{where}: the TOTP code was not accepted (wrong or expired)", info)
        self.verified = True

    def verify_code(self, code: str) -> None:
        """Answer the emailed code (``/session/verify_code``; PyFxA has no helper)."""
        self.client.call("POST", "/session/verify_code", {"code": str(code)}, auth=self._auth())
        self.verified = True

    def resend_code(self) -> None:
        """Ask the server to email a fresh verification code."""
        self.client.call("POST", "/session/resend_code", {}, auth=self._auth())

    def status(self) -> dict[str, Any]:
        """``/session/status``: raises if the session token is no longer valid."""
        return dict(self.client.call("GET", "/session/status", auth=self._auth()))

    def devices(self) -> list[dict[str, Any]]:
        """``/account/devices``: the devices connected to the account (read-only).

        Firefox hides client records whose ``fxaDeviceId`` is not in this list."""
        resp = self.client.call("GET", "/account/devices", auth=self._auth(), expect=list)
        if not all(isinstance(d, dict) for d in resp):
            raise malformed(self.client.auth_session, self.client.trace, "GET /account/devices",
                            "the device list holds an entry that is not an object")  # fmt: skip
        return [dict(d) for d in resp]

    # ------------------------------------------------------------------- keys
    def fetch_keys(self) -> SyncKeys:
        """kB (``/account/keys``) + ``keyRotationTimestamp`` → :class:`SyncKeys`.

        kB is used to derive the sync keys and then dropped; only kSync and the kid stay.
        """
        if self.sync_keys is not None:
            return self.sync_keys
        if not self.verified:
            raise VerificationRequired(
                f"verify the session first ({self.verification_method or 'TOTP or emailed code'}):"
                " call verify_totp(code) or verify_code(code)"
            )
        if self._key_fetch_token is None or self._stretched is None:
            raise LoginRequired(
                "keys can only be fetched right after a login with the password "
                "(this session was saved without keys): log in again"
            )
        try:
            kb = self._fetch_kb()
        except FxaError as exc:
            if exc.errno in _UNVERIFIED_ERRNOS:
                raise VerificationRequired(f"the server says the session is unverified: {exc}") from None
            raise
        finally:
            self._key_fetch_token = None  # single-use either way
            self._stretched = None
        self.trace.add_secret(kb)
        ts = self.key_rotation_timestamp()
        self.sync_keys = derive_sync_keys(kb, ts)
        self.trace.add_secret(self.sync_keys.ksync)
        self.trace.add_secret(self.sync_keys.bundle.enc_key)
        self.trace.add_secret(self.sync_keys.bundle.hmac_key)
        del kb
        return self.sync_keys

    def _fetch_kb(self) -> bytes:
        assert self._key_fetch_token is not None and self._stretched is not None
        auth = FxATokenBearerAuth(self._key_fetch_token, "keyFetchToken", self.client.api)
        self.trace.add_secret(auth.id)
        resp = self.client.call("GET", "/account/keys", auth=auth)
        where = "GET /account/keys"
        bundle = resp.get("bundle")
        if not (type(bundle) is str and _is_hex(bundle, 192)):
            raise malformed(self.client.auth_session, self.trace, where, "bundle is missing or not 192 hex digits")
        try:
            keys = auth.unbundle("account/keys", unhexlify(bundle))
        except fxa.errors.TrustError:
            keys = None
        if keys is None:  # raised outside the except block: nothing rides along
            raise malformed(
                self.client.auth_session, self.trace, where,
                "the key bundle does not verify (its HMAC is wrong): the answer was altered",
            )  # fmt: skip
        _ka, kb = fxa.crypto.unwrap_keys(keys, self._stretched)
        return bytes(kb)

    def key_rotation_timestamp(self) -> int:
        """The Sync scope's ``keyRotationTimestamp`` (ms) from ``/account/scoped-key-data``."""
        resp = self.client.call(
            "POST",
            "/account/scoped-key-data",
            {"client_id": self.client.client_id, "scope": OLDSYNC_SCOPE},
            auth=self._auth(),
        )
        where = "POST /account/scoped-key-data"
        data = resp.get(OLDSYNC_SCOPE)
        if not isinstance(data, dict):
            raise malformed(self.client.auth_session, self.trace, where, "it has no object for the Sync scope")
        secret = data.get("keyRotationSecret")
        self.trace.add_secret(secret if type(secret) is str else None)
        ts = data.get("keyRotationTimestamp")
        if type(ts) is not int or not 0 <= ts < 10**15:
            raise malformed(
                self.client.auth_session, self.trace, where,
                f"keyRotationTimestamp is {_jtype(ts)}, not a time in milliseconds",
            )  # fmt: skip
        return ts

    @property
    def keys(self) -> SyncKeys:
        return self.fetch_keys()

    # ------------------------------------------------------------------ OAuth
    def oauth_token(self, *, refresh: bool = False, ttl: int | None = None) -> OAuthToken:
        """The Sync-scope OAuth token, fetched like Firefox does and reused until it expires.

        ``POST /oauth/token`` with ``grant_type=fxa-credentials`` on the accounts server,
        authenticated by the session token.
        """
        if self._oauth is not None and not refresh and not self._oauth.expired():
            return self._oauth
        if not self._session_token:
            raise LoginRequired("the OAuth token expired and there is no session to renew it: log in")
        if not self.verified:
            raise VerificationRequired("verify the session before asking for an OAuth token")
        body: dict[str, Any] = {
            "client_id": self.client.client_id,
            "grant_type": "fxa-credentials",
            "scope": OLDSYNC_SCOPE,
            "access_type": "online",
        }
        if ttl is not None:
            body["ttl"] = int(ttl)
        resp = self.client.call("POST", "/oauth/token", body, auth=self._auth())
        where = "POST /oauth/token"
        for name in ("access_token", "refresh_token"):
            if type(resp.get(name)) is str:
                self.trace.add_secret(resp[name])
        access = _field(resp, "access_token", str, where, self.client)
        expires = resp.get("expires_in")
        if expires is not None and (type(expires) is not int or not 0 < expires <= 10**8):
            raise malformed(
                self.client.auth_session, self.trace, where, f"expires_in is {_jtype(expires)}, not seconds"
            )
        scope = resp.get("scope", OLDSYNC_SCOPE)
        self._oauth = OAuthToken(
            access_token=access,
            expires_at=datetime.now(UTC) + timedelta(seconds=expires) if expires else None,
            scope=scope if type(scope) is str else OLDSYNC_SCOPE,
        )
        return self._oauth

    def revoke_oauth_token(self) -> None:
        """Destroy the current OAuth token on the OAuth server (PyFxA ``destroy_token``)."""
        if self._oauth is None:
            return
        where = "POST /destroy"
        err: NetError | None = None
        try:
            self.client.oauth.destroy_token(self._oauth.access_token)
        except fxa.errors.InProtocolError as exc:
            err = self.client._error(exc, self.client.oauth_session, where)
        except fxa.errors.OutOfProtocolError:
            err = self.client._out_of_protocol(self.client.oauth_session, where)
        except requests.RequestException as exc:
            err = unreachable(f"OAuth server {self.client.oauth_url} did not answer {where}", exc)
        if err is not None:  # raised outside the except block: nothing rides along
            raise err
        self._oauth = None

    def token_provider(self, tokenserver: Any) -> Callable[[], Any]:
        """A zero-argument callable for ``StorageClient(token_provider=...)``.

        If the tokenserver refuses the OAuth token (expired or revoked early) and this
        session can mint another, it does so once and retries.
        """
        from .errors import InvalidCredentials

        def provide() -> Any:
            try:
                return tokenserver.exchange(self.oauth_token().access_token, self.keys)
            except InvalidCredentials:
                if not self._session_token:
                    raise
                return tokenserver.exchange(self.oauth_token(refresh=True).access_token, self.keys)

        return provide

    def logout(self) -> None:
        """Destroy the session token on the server (signs this session out)."""
        self.client.call("POST", "/session/destroy", {}, auth=self._auth())
        self._session_token = None

    # ---------------------------------------------------------- without login
    @classmethod
    def from_oauth(
        cls,
        access_token: str,
        sync_keys: SyncKeys | dict[str, Any],
        *,
        client: FxaClient | None = None,
        expires_at: datetime | None = None,
        email: str | None = None,
        trace: Trace | None = None,
    ) -> FxaSession:
        """For a person who already has an OAuth token and keys (kSync + kid): no login."""
        if isinstance(sync_keys, dict):
            sync_keys = SyncKeys.from_jwk(sync_keys)
        if not isinstance(sync_keys, SyncKeys):
            raise TypeError("sync_keys must be SyncKeys or a JWK dict {kty, k, kid}")
        client = client or FxaClient(trace=trace)
        client.trace.add_secret(sync_keys.ksync)
        return cls(
            client,
            email=email,
            uid=None,
            session_token=None,
            verified=True,
            sync_keys=sync_keys,
            oauth=OAuthToken(access_token, expires_at),
        )

    # ------------------------------------------------------------- save/load
    def to_dict(self, include_keys: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": SESSION_FORMAT,
            "version": 1,
            "saved_at": datetime.now(UTC).isoformat(),
            "auth_url": self.client.auth_url,
            "oauth_url": self.client.oauth_url,
            "client_id": self.client.client_id,
            "email": self.email,
            "uid": self.uid,
            "verified": self.verified,
            "key_stretch_version": self.key_stretch_version,
            "session_token": self._session_token,
            "oauth": None,
        }
        if self._oauth is not None:
            data["oauth"] = {
                "access_token": self._oauth.access_token,
                "expires_at": self._oauth.expires_at.isoformat() if self._oauth.expires_at else None,
                "scope": self._oauth.scope,
            }
        if include_keys and self.sync_keys is not None:
            data["keys"] = self.sync_keys.to_jwk()
        return data

    def save(self, path: str | os.PathLike[str], *, include_keys: bool = False) -> Path:
        """Write the session to ``path`` (mode 0600). Keys only with ``include_keys=True``;
        :func:`~synctools.net.sessionfile.load_session` reads it back."""
        return write_private(path, self.to_dict(include_keys=include_keys))


def malformed(session: TracedSession, trace: Trace, where: str, problem: str) -> FxaError:
    """The error for an accounts answer of the wrong shape (its body is never shown)."""
    return FxaError(f"the accounts server's answer to {where} is malformed: {problem}", _info(session, trace))


def _field(resp: dict[str, Any], name: str, kind: type, where: str, client: FxaClient) -> Any:
    value = resp.get(name)
    if type(value) is not kind or (kind is str and not value):
        what = "missing" if name not in resp else f"{_jtype(value)}, not {'a string' if kind is str else kind.__name__}"
        raise malformed(client.auth_session, client.trace, where, f"{name} is {what}")
    return value


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in "0123456789abcdefABCDEF" for c in value)


def _jtype(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _info(session: TracedSession, trace: Trace) -> ResponseInfo | None:
    resp = session.last_response
    if resp is None:
        return None
    return ResponseInfo.from_response(resp, session.service, trace, tuple(session.last_signals))


def _refuse(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"synctools never changes an account: PyFxA's {name}() is disabled on this client")

    return refuse
