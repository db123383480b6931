"""Tokenserver client: trade an OAuth access token and the key id for a storage token.

``GET <tokenserver>/1.0/sync/1.5`` with ``Authorization: Bearer <access token>`` and
``X-KeyID: <keyRotationTimestamp>-<b64url kXCS>`` answers the storage node
(``api_endpoint``) and a Hawk id/key pair valid for ``duration`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests

from synctools.protocol.keys import SyncKeys, parse_kid

from . import _json
from .errors import (
    TOKENSERVER_ERRORS,
    ResponseInfo,
    TokenServerBusy,
    TokenServerError,
    UnsupportedService,
    unreachable,
)
from .http import RetryPolicy, ServerSignal, SignalHook, Trace, TracedSession, fp, never_retry

SYNC_PATH = "/1.0/sync/1.5"
PRODUCTION_TOKEN_URL = "https://token.services.mozilla.com"  # noqa: S105 - a URL


@dataclass(frozen=True, repr=False)
class Token:
    """A storage token: Hawk ``id``/``key`` for ``api_endpoint`` until ``expires_at``.

    ``key`` is used as its UTF-8 text for Hawk. ``repr`` shows fingerprints only.
    """

    id: str
    key: str
    uid: int
    api_endpoint: str
    duration: int
    expires_at: datetime
    hashed_fxa_uid: str | None = None
    node_type: str | None = None
    server_time: float | None = None  # the tokenserver's X-Timestamp, seconds
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expiry(self) -> datetime:
        return self.expires_at

    def expired(self, now: datetime | None = None, margin: float = 10.0) -> bool:
        """True if the token expires within ``margin`` seconds of ``now``."""
        now = now or datetime.now(UTC)
        return now + timedelta(seconds=margin) >= self.expires_at

    @property
    def node(self) -> str:
        """The node's base URL (``api_endpoint`` without ``/1.5/<uid>``)."""
        tail = f"/1.5/{self.uid}"
        ep = self.api_endpoint.rstrip("/")
        return ep[: -len(tail)] if ep.endswith(tail) else ep

    def __repr__(self) -> str:
        return (
            f"Token(uid={self.uid}, api_endpoint={self.api_endpoint!r}, "
            f"expires_at={self.expires_at:%Y-%m-%d %H:%M:%S}Z, id={fp(self.id)}, key={fp(self.key)})"
        )

    __str__ = __repr__

    @classmethod
    def from_json(cls, data: dict[str, Any], server_time: float | None = None) -> Token:
        """From a tokenserver answer. Raises ``ValueError`` naming the field that is
        missing or of the wrong type (never quoting a value: ``id`` and ``key`` are secrets)."""
        if not isinstance(data, dict):
            raise ValueError(f"a token is a JSON object, not {_jtype(data)}")
        missing = [k for k in ("id", "key", "uid", "api_endpoint", "duration") if k not in data]
        if missing:
            raise ValueError(f"the token lacks {missing}")
        for name in ("id", "key", "api_endpoint"):
            if type(data[name]) is not str or not data[name]:
                raise ValueError(f"the token's {name} is {_jtype(data[name])}, not a non-empty string")
        for name, high in (("uid", 2**63 - 1), ("duration", MAX_DURATION)):
            if type(data[name]) is not int or not 0 <= data[name] <= high:
                raise ValueError(f"the token's {name} is {_jtype(data[name])}, not an integer in 0..{high}")
        problem = check_endpoint(data["api_endpoint"])
        if problem:
            raise ValueError(f"the token's api_endpoint {problem}")
        duration = data["duration"]
        known = {"id", "key", "uid", "api_endpoint", "duration", "hashed_fxa_uid", "node_type"}
        optional = {k: data.get(k) for k in ("hashed_fxa_uid", "node_type")}
        return cls(
            id=data["id"],
            key=data["key"],
            uid=data["uid"],
            api_endpoint=data["api_endpoint"],
            duration=duration,
            # Local clock + duration: immune to skew between us and the tokenserver.
            expires_at=datetime.now(UTC) + timedelta(seconds=duration),
            hashed_fxa_uid=optional["hashed_fxa_uid"] if type(optional["hashed_fxa_uid"]) is str else None,
            node_type=optional["node_type"] if type(optional["node_type"]) is str else None,
            server_time=server_time,
            extra={k: v for k, v in data.items() if k not in known},
        )


MAX_DURATION = 366 * 24 * 3600  # a token valid longer than a year is not a storage token


def check_endpoint(url: str) -> str | None:
    """Why ``url`` cannot be a storage node's ``api_endpoint`` (None if it can): it must
    be an absolute http(s) URL with a host, or every request to it would fail obscurely."""
    if not isinstance(url, str):
        return f"is {_jtype(url)}, not a URL"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"{url[:80]!r} does not start with http:// or https://"
    if not parts.hostname:
        return f"{url[:80]!r} has no host"
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return f"{url[:80]!r} has an invalid port"
    return None


def _jtype(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def sync_token_url(url: str) -> str:
    """``https://host[/prefix]`` or the full ``…/1.0/sync/1.5`` URL → the full URL."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"tokenserver URL must start with http:// or https://, got {url[:60]!r}")
    return url if url.endswith(SYNC_PATH) else url + SYNC_PATH


class TokenServerClient:
    """Exchanges OAuth access tokens for storage tokens. One per tokenserver.

    ``on_backoff`` is called with every backoff/alert signal; for a 503 with
    ``Retry-After`` its return value decides: ``True`` retries (it has waited),
    anything else raises :class:`TokenServerBusy`.
    """

    service = "tokenserver"

    def __init__(
        self,
        url: str = PRODUCTION_TOKEN_URL,
        *,
        trace: Trace | None = None,
        on_backoff: RetryPolicy | None = None,
        on_signal: SignalHook | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        self.url = sync_token_url(url)
        self.trace = trace if trace is not None else Trace()
        self.retry_policy = on_backoff or never_retry
        self.session = TracedSession(self.service, self.trace, on_signal=on_signal, timeout=timeout, deadline=deadline)

    def __repr__(self) -> str:
        return f"<TokenServerClient {self.url}>"

    def exchange(self, access_token: str, sync_keys: SyncKeys | None = None, *, key_id: str | None = None) -> Token:
        """Get a storage token. Give ``sync_keys`` (or just its ``key_id``) for X-KeyID."""
        kid = key_id if key_id is not None else (sync_keys.kid if sync_keys is not None else None)
        if kid is None:
            raise ValueError("exchange() needs sync_keys or key_id (the X-KeyID)")
        parse_kid(kid)  # clear error before any request
        if not access_token or not isinstance(access_token, str):
            raise ValueError("exchange() needs the OAuth access token (a non-empty string)")
        self.trace.add_secret(access_token)
        headers = {"Authorization": f"Bearer {access_token}", "X-KeyID": kid}
        for _attempt in range(5):
            failure: requests.RequestException | None = None
            try:
                resp = self.session.get(self.url, headers=headers)
            except requests.RequestException as exc:
                failure = exc
            if failure is not None:  # raised outside the except block: nothing rides along
                raise unreachable(f"tokenserver {self.url}", failure)
            signals = tuple(self.session.last_signals)
            for sig in signals:
                if sig.kind == "backoff":
                    self.retry_policy(sig)  # a notice: the answer itself still counts
            if resp.status_code == 200:
                return self._token(resp)
            retry = [s for s in signals if s.kind == "retry-after"]
            if resp.status_code in (429, 503) and retry and self.retry_policy(retry[0]) is True:
                continue
            raise self._error(resp, signals)
        raise self._error(resp, signals)

    def _token(self, resp: requests.Response) -> Token:
        # The answer holds the Hawk id and key: its body never goes into an error (see
        # ResponseInfo), and no exception that quotes it is chained to ours.
        problem = ""
        try:
            data = _json.loads(resp.content)
        except ValueError as exc:
            problem = str(exc)
        else:
            if isinstance(data, dict):
                for field in ("id", "key"):
                    if type(data.get(field)) is str:
                        self.trace.add_secret(data[field])
            try:
                token = Token.from_json(data, _timestamp(resp.headers.get("X-Timestamp")))
            except ValueError as exc:
                problem = str(exc)
        if problem:
            info = ResponseInfo.from_response(resp, self.service, self.trace)
            raise TokenServerError(f"tokenserver {self.url} sent a malformed token: {problem}", info)
        self.trace.add_secret(token.id)
        self.trace.add_secret(token.key)
        return token

    def _error(self, resp: requests.Response, signals: tuple[ServerSignal, ...]) -> TokenServerError:
        # Register the secrets first: the error body is scrubbed with them.
        info = ResponseInfo.from_response(resp, self.service, self.trace, signals)
        data = info.json()
        name, description = "", ""
        if isinstance(data, dict):
            name = str(data.get("status", ""))
            errors = data.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                description = str(errors[0].get("description", ""))
                if name in ("", "error") and errors[0].get("name"):
                    name = str(errors[0]["name"])
        status = resp.status_code
        if 300 <= status < 400:
            to = self.trace.scrub(resp.headers.get("Location", "nowhere"))[:200]
            return TokenServerError(
                f"tokenserver {self.url} redirected to {to}; synctools never follows a redirect"
                " (it would resend the OAuth token): use the final URL as the tokenserver URL", info,
            )  # fmt: skip
        if name in TOKENSERVER_ERRORS:
            cls = TOKENSERVER_ERRORS[name]
        elif status in (429, 503):
            cls = TokenServerBusy
        elif status == 404:
            cls = UnsupportedService
        else:
            cls = TokenServerError
        detail = f"{name}: {description}" if description else name or f"HTTP {status}"
        err = cls(f"tokenserver refused the token exchange ({detail})", info, description)
        if cls is TokenServerError:
            err.error_name = name
        return err


def _timestamp(value: str | None) -> float | None:
    """The tokenserver's X-Timestamp (seconds), or None if absent or not a number."""
    try:
        t = float(value) if value else None
    except ValueError:
        return None
    return t if t is not None and 0 <= t < 1e11 else None
