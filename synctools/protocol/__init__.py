"""The pure core of the Firefox Sync protocol: bytes and rules, no I/O.

Modules:

- :mod:`~synctools.protocol.crypto` -- record payload encryption (``KeyBundle``),
  bulk decryption, ``CollectionKeys`` for ``crypto/keys``.
- :mod:`~synctools.protocol.keys` -- sync keys from kB, a scoped-key JWK or raw kSync.
- :mod:`~synctools.protocol.bso` -- the BSO envelope, its validation rules and exact
  two-decimal server timestamps (``ServerTime``).
- :mod:`~synctools.protocol.metaglobal` -- the meta/global model and engine rules.
- :mod:`~synctools.protocol.onepw` -- Firefox Accounts onepw derivations.
- :mod:`~synctools.protocol.tokens` -- tokenserver tokens, as Mozilla's tokenlib mints them.
"""

from .bso import BSO, BSOValidationError, ServerTime
from .crypto import (
    Base64Error,
    CleartextJSONError,
    CollectionKeys,
    CryptoError,
    HMACMismatchError,
    KeyBundle,
    PaddingError,
    PayloadShapeError,
    decrypt_many,
)
from .keys import SyncKeys, derive_sync_keys
from .metaglobal import EngineInfo, MetaGlobal

__all__ = [
    "BSO",
    "BSOValidationError",
    "Base64Error",
    "CleartextJSONError",
    "CollectionKeys",
    "CryptoError",
    "EngineInfo",
    "HMACMismatchError",
    "KeyBundle",
    "MetaGlobal",
    "PaddingError",
    "PayloadShapeError",
    "ServerTime",
    "SyncKeys",
    "decrypt_many",
    "derive_sync_keys",
]
