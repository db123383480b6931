"""Working from the local store alone, when the server cannot be reached.

Every sync that reads the server keeps what it read in the local store: the records
(the mirror) and the setup -- info/configuration and info/collections with when they
were read, and meta/global and crypto/keys exactly as the server sent them (crypto/keys
stays the server's ciphertext, decrypted again with kSync on each open).

:meth:`OfflinePart.open_offline` walks the same stages a sync walks online, each one
answered by that copy instead of the server: ``exchange_token`` (the node as last
known), ``fetch_info``, ``fetch_meta_global`` and ``fetch_crypto_keys`` (through the
very readers the online stages use) and ``download`` (the mirror decrypted), so the
state table moves exactly as it does online. Then :attr:`Core.offline` is set and every
event that needs the network, every commit and every plan that reads the server raises
:class:`OfflineError`. To go online again, make a new ``Sync``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import net
from ..protocol.bso import ServerTime
from ..results import CryptoKeysResult, DownloadResult, InfoResult, MetaGlobalResult, StageResult, TokenResult
from ..states import SETUP_COLLECTIONS, Event, StageOrderError, State, SyncError
from .core import Core, ServerSetup
from .setup import SetupPart
from .view import LocalView


class OfflineError(SyncError):
    """What was asked needs the server, and this sync works offline from the local store."""


@dataclass(frozen=True)
class Offline:
    """Why a sync is offline, and how old its view of the server is."""

    reason: str
    read_at: float | None  # Unix seconds: when the store last read the server's setup
    node: str | None

    @property
    def as_of(self) -> str:
        if self.read_at is None:
            return "an unknown time"
        return datetime.fromtimestamp(self.read_at, UTC).strftime("%Y-%m-%d %H:%M UTC")

    def describe(self) -> str:
        return f"offline ({self.reason}): the local store as of {self.as_of}, when it last read the server"

    def refuse(self, what: str) -> OfflineError:
        return OfflineError(
            f"{what} needs the server, and this sync is {self.describe()}."
            " Make a new Sync (Sync.from_session, Sync.login) when the server answers"
        )


class OfflinePart:
    """Opens a sync on the local store's copy of the server (see the module docstring)."""

    def __init__(self, core: Core, setup: SetupPart, view: LocalView) -> None:
        self.core = core
        self.setup = setup
        self.view = view

    def open_offline(self, reason: str = "asked for", collections: Iterable[str] | None = None) -> StageResult:
        core, store = self.core, self.core.store
        if self.setup.keys is None or store is None:
            raise StageOrderError(
                "open_offline() needs the account's keys and its local store: run sync.authenticate() first"
                " (a saved session that holds the keys needs no network for it)"
            )
        info = store.get_state("server/info")
        keys_bso = store.server_record("crypto", "keys")
        if not isinstance(info, dict) or keys_bso is None:
            raise SyncError(
                f"the local store holds no copy of this account's server setup ({reason}): read the server"
                " once while it answers (`synctools pull`, or sync.run(until='download')), then it works offline"
            )
        started = time.perf_counter()
        offline = Offline(reason, info.get("read_at"), info.get("node"))
        note = f"answered by the local store: {offline.describe()}"
        core.forget(None)  # nothing held from an earlier read may mix with the store's copy
        core.storage, core.token, core.offline = None, None, None

        step = core.begin(Event.EXCHANGE_TOKEN)
        token = TokenResult("exchange_token", core.state.value, decisions=[note], api_endpoint=offline.node or "")
        core.finish(Event.EXCHANGE_TOKEN, token, step)

        step = core.begin(Event.FETCH_INFO)
        try:
            config = net.InfoConfiguration.from_json(info.get("configuration") or {})
        except ValueError:
            config = net.InfoConfiguration()
        saved = info.get("collections")
        saved = saved if isinstance(saved, dict) else {}
        collections_info = {str(c): ServerTime(t) for c, t in saved.items() if isinstance(t, int) and t >= 0}
        core.setup = ServerSetup(config=config, info_collections=collections_info)
        info_result = InfoResult("fetch_info", core.state.value, decisions=[note])
        info_result.configuration = {k: v for k, v in config.__dict__.items() if k != "raw"}
        info_result.collections = dict(collections_info)
        core.finish(Event.FETCH_INFO, info_result, step)

        step = core.begin(Event.FETCH_META_GLOBAL)
        meta = MetaGlobalResult("fetch_meta_global", core.state.value, decisions=[note])
        core.finish(Event.FETCH_META_GLOBAL, meta, step,
                    self.setup.read_meta_global(store.server_record("meta", "global"), meta))  # fmt: skip
        if core.state is State.META_GLOBAL:
            step = core.begin(Event.FETCH_CRYPTO_KEYS)
            keys = CryptoKeysResult("fetch_crypto_keys", core.state.value, decisions=[note])
            core.finish(Event.FETCH_CRYPTO_KEYS, keys, step, self.setup.read_crypto_keys(keys_bso, keys))
        if core.state is State.READY:
            self._download(note, collections)
        core.offline = offline  # from here on, whatever needs the server refuses
        ran = [name for name in ("exchange_token", "fetch_info", "fetch_meta_global", "fetch_crypto_keys", "download")
               if note in getattr(core.results.get(name), "decisions", ())]  # fmt: skip
        result = StageResult("open_offline", core.state.value, warnings=[offline.describe()],
                             decisions=[f"{', '.join(ran)}: answered by the local store, no request made"])  # fmt: skip
        result.seconds = time.perf_counter() - started
        core.results["open_offline"] = result
        return result

    def _download(self, note: str, collections: Iterable[str] | None) -> None:
        """``download``, answered by the mirror: each collection decrypted as stored."""
        core = self.core
        assert core.store is not None
        step = core.begin(Event.DOWNLOAD)
        result = DownloadResult("download", core.state.value, decisions=[note])
        have = core.store.mirror_collections()
        names = [
            c for c in (list(collections) if collections is not None else sorted(have)) if c not in SETUP_COLLECTIONS
        ]
        for coll in names:
            view = self.view.view(coll)
            last = core.store.last_sync(coll)
            row: dict[str, Any] = {"collection": coll, "downloaded": 0, "failed": len(view.errors), "pages": 0,
                                   "errors": "" if view.read else "not in the local store",
                                   "total": view.total, "newer": str(last)}  # fmt: skip
            result.collections.append(row)
        core.finish(Event.DOWNLOAD, result, step)
