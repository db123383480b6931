"""Firefox Accounts "onepw" derivations: password stretching, token credentials, keys.

Pure functions over bytes, shared by the embedded accounts server and the tests (the
client logs in through PyFxA, which implements the same rules independently).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ..errors import ProtocolError
from ._util import hkdf_sha256

NAMESPACE = b"identity.mozilla.com/picl/v1/"
V1_ITERATIONS = 1000
V2_ITERATIONS = 650_000


class KeyBundleError(ProtocolError):
    """The ``/account/keys`` bundle failed its HMAC check or has the wrong length."""


def kw(name: str) -> bytes:
    """The HKDF info / salt string for ``name`` in the onepw namespace."""
    return NAMESPACE + name.encode("utf-8")


def quick_stretch_v1(email: str, password: str) -> bytes:
    """Key stretching v1: PBKDF2-SHA256, 1000 rounds, salt ``quickStretch:`` + email."""
    salt = kw("quickStretch:" + email)
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, V1_ITERATIONS, 32)


def stretch_v2(password: str, client_salt: str, iterations: int = V2_ITERATIONS) -> bytes:
    """Key stretching v2: PBKDF2-SHA256, 650000 rounds, salt ``quickStretchV2:`` + clientSalt.

    ``client_salt`` may be given bare (hex) or already prefixed with the namespace.
    """
    prefix = "identity.mozilla.com/picl/v1/quickStretchV2:"
    salt = client_salt if client_salt.startswith(prefix) else prefix + client_salt
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode(), iterations, 32)


def auth_pw(stretched: bytes) -> bytes:
    return hkdf_sha256(stretched, kw("authPW"), 32)


def unwrap_b_key(stretched: bytes) -> bytes:
    return hkdf_sha256(stretched, kw("unwrapBkey"), 32)


@dataclass(frozen=True, repr=False)
class TokenCredentials:
    """What a token (sessionToken, keyFetchToken, ...) expands to: Hawk id, key and extra."""

    token_id: str  # hex, sent as the Hawk id
    hmac_key: bytes  # Hawk key
    extra: bytes  # keyRequestKey for a keyFetchToken; unused for a sessionToken

    def __repr__(self) -> str:
        return f"TokenCredentials(token_id={self.token_id[:8]}…)"


def token_credentials(token: bytes, token_type: str) -> TokenCredentials:
    """``HKDF(token, tokenType, 96)`` → token id (hex), Hawk key, extra key."""
    out = hkdf_sha256(token, kw(token_type), 96)
    return TokenCredentials(out[:32].hex(), out[32:64], out[64:96])


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _resp_keys(key_request_key: bytes) -> tuple[bytes, bytes]:
    out = hkdf_sha256(key_request_key, kw("account/keys"), 96)
    return out[:32], out[32:96]


def make_keys_bundle(key_request_key: bytes, ka: bytes, wrap_kb: bytes) -> bytes:
    """Server side of ``GET /account/keys``: ``(kA ‖ wrapKB) XOR respXORkey ‖ HMAC``."""
    resp_hmac_key, resp_xor_key = _resp_keys(key_request_key)
    ciphertext = _xor(ka + wrap_kb, resp_xor_key)
    return ciphertext + hmac.new(resp_hmac_key, ciphertext, hashlib.sha256).digest()


def unwrap_keys_bundle(key_request_key: bytes, bundle: bytes) -> tuple[bytes, bytes]:
    """Client side: check the bundle's HMAC and return ``(kA, wrapKB)``."""
    if len(bundle) != 96:
        raise KeyBundleError(f"keys bundle must be 96 bytes, got {len(bundle)}")
    resp_hmac_key, resp_xor_key = _resp_keys(key_request_key)
    ciphertext, mac = bundle[:64], bundle[64:]
    expected = hmac.new(resp_hmac_key, ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise KeyBundleError("keys bundle HMAC mismatch (wrong keyFetchToken or tampered)")
    plain = _xor(ciphertext, resp_xor_key)
    return plain[:32], plain[32:]


def unwrap_kb(wrap_kb: bytes, unwrap_bkey: bytes) -> bytes:
    """``kB = wrapKB XOR unwrapBKey`` (the same XOR wraps kB on the server)."""
    return _xor(wrap_kb, unwrap_bkey)


def verify_hash(auth_pw_bytes: bytes, auth_salt: bytes) -> bytes:
    """Server-side verifier stored instead of authPW (FxA's ``verifyHash``)."""
    verify_hash_in = hkdf_sha256(auth_pw_bytes, kw("verifyHash"), 32, salt=auth_salt)
    return hashlib.sha256(verify_hash_in).digest()
