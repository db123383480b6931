# The compiled hot loop of the bulk decryption path (_native.c); optional, see setup.py.
from collections.abc import Sequence

def decrypt_payloads(hmac_key: bytes, enc_key: bytes, payloads: Sequence[object], /) -> list[bytes | None]: ...
