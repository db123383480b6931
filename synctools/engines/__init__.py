"""Per-collection engines: decrypted Sync records to typed pandas frames.

``get(name)`` returns the engine for a collection, or a :class:`GenericEngine` for any
other name (extension-storage, a future engine, a typo): never an error. Each engine
declares its columns (``engine.columns``, ``engine.dtypes()``) and builds
:class:`Frames` from a :class:`Batch`; :mod:`synctools.frames` is the friendly face.
"""

from __future__ import annotations

from typing import Any

from synctools.protocol.crypto import KeyBundle, decrypt_many

from .addons import AddonsEngine
from .addresses import AddressesEngine
from .base import COMMON, Batch, Column, Engine, Frames, RecordShapeError
from .bookmarks import BookmarkNode, BookmarksEngine, BookmarkTree
from .clients import ClientsEngine
from .creditcards import CreditCardsEngine
from .forms import FormsEngine
from .generic import GenericEngine
from .history import TRANSITIONS, HistoryEngine
from .passwords import PasswordsEngine
from .prefs import PrefsEngine
from .tabs import TabsEngine

ENGINES: dict[str, type[Engine]] = {
    cls.name: cls
    for cls in (
        BookmarksEngine,
        HistoryEngine,
        PasswordsEngine,
        TabsEngine,
        ClientsEngine,
        FormsEngine,
        PrefsEngine,
        AddonsEngine,
        AddressesEngine,
        CreditCardsEngine,
    )
}


def get(name: str) -> Engine:
    """The engine for collection ``name``; a generic engine for names we do not know."""
    cls = ENGINES.get(name)
    return cls() if cls is not None else GenericEngine(name)


def decrypt_and_parse(collection: str, bundle: KeyBundle, payloads: list[str], ids: list[str]) -> tuple[Any, list[Any]]:
    """One part of a collection decrypted and parsed by its engine (a worker process' job)."""
    return get(collection).parse_cleartexts(decrypt_many(bundle, payloads, ids, raw=True), ids)


def mask(collection: str, record: Any, reveal: bool = False) -> Any:
    """``record`` of ``collection`` with its engine's secret fields masked at any depth.

    The one masking policy: every place that shows a record to a person calls this.
    """
    return get(collection).mask_record(record, reveal=reveal)


def names() -> list[str]:
    """Collections with a dedicated engine."""
    return list(ENGINES)


__all__ = [
    "COMMON",
    "ENGINES",
    "TRANSITIONS",
    "AddonsEngine",
    "AddressesEngine",
    "Batch",
    "BookmarkNode",
    "BookmarkTree",
    "BookmarksEngine",
    "ClientsEngine",
    "Column",
    "CreditCardsEngine",
    "Engine",
    "FormsEngine",
    "Frames",
    "GenericEngine",
    "HistoryEngine",
    "PasswordsEngine",
    "PrefsEngine",
    "RecordShapeError",
    "TabsEngine",
    "decrypt_and_parse",
    "get",
    "mask",
    "names",
]
