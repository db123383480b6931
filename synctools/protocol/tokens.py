"""Tokenserver tokens, minted and checked exactly as Mozilla's ``tokenlib`` does.

A token id is ``urlsafe_b64(json ‖ HMAC-SHA256(sigkey, json))`` (with padding) where
``sigkey = HKDF(secret, info="services.mozilla.com/tokenlib/v1/signing")``; the
token's Hawk key is ``urlsafe_b64(HKDF(secret, salt=data["salt"], info=".../derive/" + id))``.
A storage node with the same master secret can therefore verify any token the
tokenserver (or Mozilla's own tokenlib) minted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from typing import Any

from ..errors import ProtocolError
from ._util import hkdf_sha256

INFO_SIGNING = b"services.mozilla.com/tokenlib/v1/signing"
INFO_DERIVE = b"services.mozilla.com/tokenlib/v1/derive/"
_SIG_LEN = 32


class TokenError(ProtocolError):
    """Base class: the token could not be accepted."""


class MalformedTokenError(TokenError):
    """Not base64 / not JSON / too short."""


class InvalidSignatureError(TokenError):
    """Signed with another secret, or altered."""


class ExpiredTokenError(TokenError):
    """Valid signature, but ``expires`` has passed."""

    def __init__(self, message: str, data: dict[str, Any]):
        super().__init__(message)
        self.data = data


def _as_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def signing_key(secret: str | bytes) -> bytes:
    return hkdf_sha256(_as_bytes(secret), INFO_SIGNING, _SIG_LEN)


def make_token(data: dict[str, Any], secret: str | bytes, timeout: float = 300) -> str:
    """Mint a token id embedding ``data`` (``salt`` and ``expires`` added if missing)."""
    data = dict(data)
    data.setdefault("salt", os.urandom(3).hex())
    data.setdefault("expires", time.time() + timeout)
    payload = json.dumps(data).encode("utf-8")
    sig = hmac.new(signing_key(secret), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(payload + sig).decode("ascii")


def _decode(token: str) -> tuple[bytes, bytes]:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise MalformedTokenError("token is not urlsafe base64") from exc
    if len(raw) <= _SIG_LEN:
        raise MalformedTokenError("token too short")
    return raw[:-_SIG_LEN], raw[-_SIG_LEN:]


def parse_token(
    token: str, secret: str | bytes, now: float | None = None, allow_expired: bool = False
) -> dict[str, Any]:
    """Check the token's signature and expiry; return its data.

    With ``allow_expired`` an expired token is returned instead of raising (storage
    nodes accept expired tokens for ``info/collections``).
    """
    payload, sig = _decode(token)
    expected = hmac.new(signing_key(secret), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise InvalidSignatureError("token signature does not match this secret")
    try:
        data = json.loads(payload.decode("utf-8"))
    except ValueError as exc:  # pragma: no cover - signed garbage
        raise MalformedTokenError("token payload is not JSON") from exc
    if not isinstance(data, dict) or "expires" not in data:
        raise MalformedTokenError("token payload has no expiry")
    if not allow_expired and data["expires"] <= (time.time() if now is None else now):
        raise ExpiredTokenError("token has expired", data)
    return data


def derived_secret(token: str, secret: str | bytes) -> str:
    """The per-token Hawk key (as the text the client uses as its key)."""
    payload, _ = _decode(token)
    try:
        salt = json.loads(payload.decode("utf-8"))["salt"].encode("ascii")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedTokenError("token payload has no salt") from exc
    key = hkdf_sha256(_as_bytes(secret), INFO_DERIVE + token.encode("ascii"), _SIG_LEN, salt=salt)
    return base64.urlsafe_b64encode(key).decode("ascii")
