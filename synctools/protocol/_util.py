"""Small shared helpers: base64 flavours, HKDF, fingerprints."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf_sha256(ikm: bytes, info: bytes, length: int, salt: bytes | None = None) -> bytes:
    """HKDF-SHA256 (RFC 5869). ``salt=None`` is the empty salt the protocol uses."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; raises ``ValueError`` on bad input."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64url") from exc


def fingerprint(secret: bytes, length: int = 8) -> str:
    """A short, non-reversible label for secret bytes, safe to show on screen.

    It is the first ``length`` hex digits of SHA-256 over a domain-separated input, so
    the same key always shows the same label and the label reveals nothing useful.
    """
    return hashlib.sha256(b"synctools-fingerprint:" + secret).hexdigest()[:length]
