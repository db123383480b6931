"""A record payload's parts and what can be wrong with them: the exception for each way a
payload can be bad (a subclass of :class:`CryptoError`, naming the record when known and
never holding key material), and the checks both decrypt paths share.

Below :mod:`.crypto` (the key bundles) and :mod:`._bulk` (the bulk path), which both use it
and :mod:`.crypto` re-exports; on its own so that neither imports the other in a circle.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any

from ..errors import ProtocolError

BLOCK = 16


# --------------------------------------------------------------------------- errors


class CryptoError(ProtocolError):
    """A payload could not be decrypted. ``reason`` is a short stable code."""

    reason = "crypto"
    hint = ""

    def __init__(self, message: str, record_id: str | None = None):
        self.record_id = record_id
        self.detail = message
        where = f"record {record_id!r}: " if record_id is not None else ""
        hint = f" {self.hint}" if self.hint else ""
        super().__init__(f"{where}{message}.{hint}")


class HMACMismatchError(CryptoError):
    reason = "hmac-mismatch"
    hint = "The record was encrypted with another key (stale crypto/keys, a password reset) or was altered in transit."


class Base64Error(CryptoError):
    reason = "bad-base64"
    hint = "The payload is corrupt; the record must be re-uploaded by a client that has it."


class PaddingError(CryptoError):
    reason = "bad-padding"
    hint = "The ciphertext decrypted to garbage although its HMAC matched; it is corrupt."


class CleartextJSONError(CryptoError):
    reason = "not-json"
    hint = "The decrypted bytes are not UTF-8 JSON; the writing client is broken."


class PayloadShapeError(CryptoError):
    reason = "bad-shape"
    hint = "Expected an object with string fields ciphertext, IV and hmac."


class CleartextShapeError(PayloadShapeError):
    reason = "bad-cleartext"
    hint = "The decrypted record must be a JSON object whose id matches the BSO id."


# --------------------------------------------------------------------------- helpers


def _b64decode(text: Any, what: str, record_id: str | None) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError, TypeError):
        raise Base64Error(f"{what} is not valid base64", record_id) from None


def _parse_envelope(payload: Any, record_id: str | None) -> tuple[bytes, str, str]:
    """Return (ciphertext b64 as ASCII bytes, IV b64, hmac hex) or raise."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError):  # RecursionError: nested 50,000 deep
            raise PayloadShapeError("payload is not JSON", record_id) from None
    if not isinstance(payload, Mapping):
        raise PayloadShapeError("payload is not a JSON object", record_id)
    ct, iv, mac = payload.get("ciphertext"), payload.get("IV"), payload.get("hmac")
    if not (isinstance(ct, str) and isinstance(iv, str) and isinstance(mac, str)):
        missing = [k for k, v in (("ciphertext", ct), ("IV", iv), ("hmac", mac)) if not isinstance(v, str)]
        raise PayloadShapeError(f"payload field(s) {missing} missing or not strings", record_id)
    try:
        ct_bytes = ct.encode("ascii")
    except UnicodeEncodeError:
        raise Base64Error("ciphertext is not valid base64", record_id) from None
    return ct_bytes, iv, mac


def _unpad(padded: bytes, record_id: str | None) -> bytes:
    n = padded[-1] if padded else 0
    if not 1 <= n <= BLOCK or padded[-n:] != bytes([n]) * n:
        raise PaddingError("bad PKCS#7 padding", record_id)
    return padded[:-n]


def _load_cleartext(raw: bytes, record_id: str | None) -> dict[str, Any]:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested 50,000 deep
        raise CleartextJSONError("cleartext is not UTF-8 JSON", record_id) from None
    _check_cleartext(obj, record_id)
    cleartext: dict[str, Any] = obj  # _check_cleartext refused anything but an object
    return cleartext


def _check_cleartext(obj: Any, record_id: str | None) -> None:
    if not isinstance(obj, dict):
        raise CleartextShapeError("cleartext is not a JSON object", record_id)
    # The HMAC covers the ciphertext but not the IV, so a damaged IV only shows in the
    # first 16 bytes of cleartext, which hold '{"id":"...': checking the id catches it.
    if record_id is not None and obj.get("id") != record_id:
        shown = str(obj.get("id"))[:64] if "id" in obj else "(none)"
        raise CleartextShapeError(f"cleartext id {shown!r} does not match the BSO id", record_id)
