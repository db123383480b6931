"""RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps), as FxA uses for two-step authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time

STEP = 30
DIGITS = 6


def new_secret() -> str:
    """A random base32 secret (what an authenticator app is given)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    text = secret.replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError as exc:
        raise ValueError("TOTP secret must be base32 text (A-Z, 2-7)") from exc


def code_at(secret: str, when: float | None = None) -> str:
    counter = int((time.time() if when is None else when) // STEP)
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify(secret: str, code: str, window: int = 1) -> bool:
    """True when ``code`` matches the current step or one step either side (clock drift)."""
    now = time.time()
    return any(
        hmac.compare_digest(code_at(secret, now + d * STEP), str(code).strip()) for d in range(-window, window + 1)
    )
