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

from ._payload import (
    BLOCK,
    Base64Error,
    CleartextJSONError,
    CleartextShapeError,
    CryptoError,
    HMACMismatchError,
    PaddingError,
    PayloadShapeError,
    _b64decode,
    _load_cleartext,
    _parse_envelope,
    _unpad,
)
from ._util import fingerprint

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
            if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)):
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
