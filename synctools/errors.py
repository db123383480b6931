"""The root of every error synctools raises on purpose.

Catch :class:`SynctoolsError` to catch anything synctools meant to tell you; anything
else is a bug. Each layer keeps its own branch, defined beside the code that raises it::

    SynctoolsError
    ├── ProtocolError (also ValueError)      synctools.protocol: bytes and rules
    │   ├── CryptoError                      a payload that does not decrypt (reason codes)
    │   ├── BSOValidationError               a record that breaks the server's rules
    │   ├── MetaGlobalError                  a meta/global that is not the protocol's shape
    │   ├── TokenError, KeyIdError, KeyBundleError
    ├── RecordShapeError (also ValueError)   synctools.engines: a record its collection rejects
    ├── NetError                             synctools.net: a server answered badly or not at all
    ├── StoreError                           synctools.store: the local store refused
    ├── SyncError                            the stepwise sync: a stage cannot run, and why
    ├── DeviceError                          synctools.device: a Firefox profile that cannot be read
    └── CommandError                         the command line: one line, exit status 1

This module imports nothing, so every layer (the embedded server included) may use it.
"""

from __future__ import annotations


class SynctoolsError(Exception):
    """Base of every error synctools raises on purpose (see the tree above)."""


class ProtocolError(SynctoolsError, ValueError):
    """Input that breaks a protocol rule. Also a ``ValueError``, as bad values are."""


class CommandError(SynctoolsError):
    """An expected failure of a command: printed as one line, exit status 1, no traceback.

    Here, not in :mod:`synctools.cli`, so a command module (and the ``serve`` command in
    particular) depends on the root of the house, not on the table of contents above it.
    """
