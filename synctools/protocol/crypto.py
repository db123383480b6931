"""Record payload encryption (AES-256-CBC + HMAC-SHA256), bulk decryption, crypto/keys.

A record's payload is ``{"ciphertext": b64, "IV": b64, "hmac": hex}`` where the HMAC is
over the ASCII bytes of the base64 ciphertext. The HMAC is always checked before
anything is decrypted. Each way a payload can be bad has its own exception, a subclass
of :class:`CryptoError`, that names the record when known and never holds key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import ProtocolError
from ._util import fingerprint

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
    hint = (
        "The record was encrypted with another key (stale crypto/keys, a password reset)"
        " or was altered in transit."
    )


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


# --------------------------------------------------------------------------- KeyBundle


@dataclass(frozen=True, eq=True, repr=False)
class KeyBundle:
    """An AES-256 key and an HMAC-SHA256 key. Its repr shows fingerprints, never keys."""

    enc_key: bytes
    hmac_key: bytes

    def __post_init__(self) -> None:
        if len(self.enc_key) != 32 or len(self.hmac_key) != 32:
            raise ValueError("a KeyBundle needs a 32-byte encryption key and a 32-byte HMAC key")

    # -- constructors
    @classmethod
    def from_ksync(cls, raw64: bytes) -> KeyBundle:
        """From the 64 raw bytes of kSync: AES key first, then HMAC key."""
        if len(raw64) != 64:
            raise ValueError(f"kSync must be 64 bytes, got {len(raw64)}")
        return cls(bytes(raw64[:32]), bytes(raw64[32:]))

    @classmethod
    def from_b64(cls, enc_b64: str, hmac_b64: str) -> KeyBundle:
        """From the ``[enc, hmac]`` base64 pair stored in ``crypto/keys``."""
        return cls(base64.b64decode(enc_b64, validate=True), base64.b64decode(hmac_b64, validate=True))

    @classmethod
    def random(cls) -> KeyBundle:
        return cls(os.urandom(32), os.urandom(32))

    def to_b64(self) -> list[str]:
        return [base64.b64encode(self.enc_key).decode(), base64.b64encode(self.hmac_key).decode()]

    # -- display
    @property
    def fingerprint(self) -> str:
        """A short label for this bundle, safe to show (see :func:`fingerprint`)."""
        return fingerprint(self.enc_key + self.hmac_key)

    def __repr__(self) -> str:
        return f"<KeyBundle {self.fingerprint}>"

    __str__ = __repr__

    # -- record crypto
    def hmac_hex(self, ciphertext_b64: bytes) -> str:
        return hmac.new(self.hmac_key, ciphertext_b64, hashlib.sha256).hexdigest()

    def encrypt(self, cleartext: Mapping[str, Any], iv: bytes | None = None) -> dict[str, str]:
        """Encrypt a record to its ``{"ciphertext", "IV", "hmac"}`` payload."""
        iv = os.urandom(BLOCK) if iv is None else iv
        if len(iv) != BLOCK:
            raise ValueError("IV must be 16 bytes")
        text = json.dumps(cleartext, ensure_ascii=False, separators=(",", ":"))
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (JSON from JavaScript may hold "\ud800"): escape it, as it came
            data = json.dumps(cleartext, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        return self.encrypt_bytes(data, iv)

    def encrypt_bytes(self, data: bytes, iv: bytes) -> dict[str, str]:
        n = BLOCK - len(data) % BLOCK
        enc = Cipher(algorithms.AES(self.enc_key), modes.CBC(iv)).encryptor()
        ct = base64.b64encode(enc.update(data + bytes([n]) * n) + enc.finalize())
        return {
            "ciphertext": ct.decode("ascii"),
            "IV": base64.b64encode(iv).decode(),
            "hmac": self.hmac_hex(ct),
        }

    def decrypt(self, payload: Mapping[str, Any] | str, record_id: str | None = None) -> dict[str, Any]:
        """Check the HMAC, decrypt and parse one payload. Raises a :class:`CryptoError`."""
        return _load_cleartext(self.decrypt_bytes(payload, record_id), record_id)

    def decrypt_bytes(self, payload: Mapping[str, Any] | str, record_id: str | None = None) -> bytes:
        ct_b64, iv_b64, mac = _parse_envelope(payload, record_id)
        if not hmac.compare_digest(self.hmac_hex(ct_b64), mac.lower()):
            raise HMACMismatchError("HMAC mismatch", record_id)
        ct = _b64decode(ct_b64, "ciphertext", record_id)
        iv = _b64decode(iv_b64, "IV", record_id)
        if len(iv) != BLOCK:
            raise Base64Error(f"IV must decode to 16 bytes, got {len(iv)}", record_id)
        if not ct or len(ct) % BLOCK:
            raise PaddingError("ciphertext length is not a positive multiple of 16", record_id)
        dec = Cipher(algorithms.AES(self.enc_key), modes.CBC(iv)).decryptor()
        return _unpad(dec.update(ct) + dec.finalize(), record_id)


# --------------------------------------------------------------------------- crypto/keys


@dataclass(frozen=True, repr=False)
class CollectionKeys:
    """The decrypted ``crypto/keys`` record: a default bundle and per-collection bundles."""

    default: KeyBundle
    collections: Mapping[str, KeyBundle] = field(default_factory=dict)

    @classmethod
    def from_cleartext(cls, cleartext: Mapping[str, Any]) -> CollectionKeys:
        """Parse the decrypted record; raises :class:`CleartextShapeError` if malformed."""

        def pair(value: Any, where: str) -> KeyBundle:
            if not (
                isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)
            ):
                raise CleartextShapeError(f"crypto/keys {where} must be a [enc, hmac] pair", "keys")
            try:
                return KeyBundle.from_b64(value[0], value[1])
            except (binascii.Error, ValueError):
                raise CleartextShapeError(f"crypto/keys {where} holds invalid keys", "keys") from None

        if not isinstance(cleartext, Mapping) or "default" not in cleartext:
            raise CleartextShapeError("crypto/keys has no default key pair", "keys")
        colls = cleartext.get("collections")
        colls = {} if colls is None else colls
        if not isinstance(colls, Mapping):
            raise CleartextShapeError("crypto/keys 'collections' must be an object", "keys")
        return cls(
            default=pair(cleartext["default"], "default"),
            collections={name: pair(v, f"collections.{name}") for name, v in colls.items()},
        )

    @classmethod
    def generate(cls, collections: Iterable[str] = ()) -> CollectionKeys:
        """Fresh random keys: a default, plus one per named collection."""
        return cls(KeyBundle.random(), {c: KeyBundle.random() for c in collections})

    def bundle_for(self, collection: str) -> KeyBundle:
        """The collection's own bundle if it has one, else the default."""
        return self.collections.get(collection, self.default)

    def to_cleartext(self) -> dict[str, Any]:
        return {
            "id": "keys",
            "collection": "crypto",
            "default": self.default.to_b64(),
            "collections": {name: b.to_b64() for name, b in self.collections.items()},
        }

    def fingerprints(self) -> dict[str, str]:
        """``{"default": fp, collection: fp, ...}`` for display instead of key bytes."""
        out = {"default": self.default.fingerprint}
        out.update({name: b.fingerprint for name, b in self.collections.items()})
        return out

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.fingerprints().items() if k != "default")
        return f"<CollectionKeys default={self.default.fingerprint}{', ' + extra if extra else ''}>"


# The bulk path lives in its own module; it is part of this module's public face.
from ._bulk import DecryptResult, decrypt_many, load_cleartexts  # noqa: E402

__all__ = [
    "Base64Error",
    "CleartextJSONError",
    "CleartextShapeError",
    "CollectionKeys",
    "CryptoError",
    "DecryptResult",
    "HMACMismatchError",
    "KeyBundle",
    "PaddingError",
    "PayloadShapeError",
    "decrypt_many",
    "load_cleartexts",
]
