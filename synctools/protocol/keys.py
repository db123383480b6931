"""Sync keys: kSync, kXCS, ``X-KeyID`` and ``X-Client-State`` from kB, a JWK or raw kSync.

``kSync = HKDF-SHA256(kB, info="identity.mozilla.com/picl/v1/oldsync", 64)``;
``kXCS = SHA-256(kB)[:16]``; ``X-KeyID = "<keyRotationTimestamp ms>-" + b64url(kXCS)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ._util import b64url_decode, b64url_nopad, hkdf_sha256
from .crypto import KeyBundle

OLDSYNC_SCOPE = "https://identity.mozilla.com/apps/oldsync"
OLDSYNC_INFO = b"identity.mozilla.com/picl/v1/oldsync"


class KeyIdError(ProtocolError):
    """A kid / X-KeyID is not ``<timestamp>-<base64url kXCS>``."""


@dataclass(frozen=True, repr=False)
class SyncKeys:
    """The account's sync keys: the kSync bundle and the key id sent to the tokenserver."""

    bundle: KeyBundle
    kid: str  # "<keyRotationTimestamp ms>-<b64url kXCS>", sent as X-KeyID

    @property
    def key_rotation_timestamp(self) -> int:
        return parse_kid(self.kid)[0]

    @property
    def kxcs(self) -> bytes:
        return parse_kid(self.kid)[1]

    @property
    def client_state(self) -> str:
        """``X-Client-State``: hex of kXCS."""
        return self.kxcs.hex()

    @property
    def ksync(self) -> bytes:
        return self.bundle.enc_key + self.bundle.hmac_key

    @property
    def fingerprint(self) -> str:
        return self.bundle.fingerprint

    def __repr__(self) -> str:
        return f"<SyncKeys kid={self.kid} kSync={self.bundle.fingerprint}>"

    __str__ = __repr__

    # -- constructors
    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> SyncKeys:
        """From the scoped-key JWK ``{"kty": "oct", "k": b64url(kSync), "kid": ...}``."""
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "oct":
            raise ValueError("a sync key JWK must be an object with kty 'oct'")
        k, kid = jwk.get("k"), jwk.get("kid")
        if not isinstance(k, str) or not isinstance(kid, str):
            raise ValueError("a sync key JWK needs string fields 'k' and 'kid'")
        parse_kid(kid)
        return cls(KeyBundle.from_ksync(b64url_decode(k)), kid)

    @classmethod
    def from_ksync(cls, ksync: bytes, kid: str) -> SyncKeys:
        """From raw kSync (64 bytes) and its kid."""
        parse_kid(kid)
        return cls(KeyBundle.from_ksync(ksync), kid)

    def to_jwk(self) -> dict[str, str]:
        """The JWK form. It holds the key itself: never print or log it."""
        return {"kty": "oct", "scope": OLDSYNC_SCOPE, "k": b64url_nopad(self.ksync), "kid": self.kid}


def parse_kid(kid: str) -> tuple[int, bytes]:
    """``"1510726317123-BAik7hEOdpGnPZnPBSdaTg"`` → (timestamp ms, kXCS bytes)."""
    ts, sep, tail = kid.partition("-") if isinstance(kid, str) else ("", "", "")
    if not sep or not (ts.isascii() and ts.isdigit()) or not tail:  # "²" is a digit to str.isdigit
        raise KeyIdError(f"key id must be '<timestamp>-<base64url kXCS>', got {str(kid)[:20]!r}…")
    try:
        kxcs = b64url_decode(tail)
    except ValueError as exc:
        raise KeyIdError("key id's kXCS part is not base64url") from exc
    if len(kxcs) != 16:
        raise KeyIdError(f"key id's kXCS must be 16 bytes, got {len(kxcs)}")
    return int(ts), kxcs


def derive_ksync(kb: bytes) -> bytes:
    if len(kb) != 32:
        raise ValueError(f"kB must be 32 bytes, got {len(kb)}")
    return hkdf_sha256(kb, OLDSYNC_INFO, 64)


def derive_kxcs(kb: bytes) -> bytes:
    return hashlib.sha256(kb).digest()[:16]


def make_kid(key_rotation_timestamp: int, kxcs: bytes) -> str:
    return f"{int(key_rotation_timestamp)}-{b64url_nopad(kxcs)}"


def derive_sync_keys(kB: bytes, key_rotation_timestamp: int) -> SyncKeys:  # noqa: N803
    """From kB and the scope's ``keyRotationTimestamp`` (ms): kSync bundle, kid, client state."""
    return SyncKeys(KeyBundle.from_ksync(derive_ksync(kB)), make_kid(key_rotation_timestamp, derive_kxcs(kB)))
