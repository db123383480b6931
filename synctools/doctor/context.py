"""What the checks read: one downloaded sync, gathered once and cached per collection."""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from synctools.protocol.bso import BSO, ServerTime
from synctools.protocol.metaglobal import MetaGlobal

if TYPE_CHECKING:  # pragma: no cover
    from synctools.machine import Sync

SETUP = ("meta", "crypto")
DAY = 86_400.0


class Context:
    """Read-only views of a sync for the checks. ``now`` (Unix seconds) is the doctor's clock."""

    def __init__(self, sync: Sync, now: float | None = None):
        self.sync = sync
        self.now = time.time() if now is None else float(now)
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._envelopes: dict[str, dict[str, BSO]] = {}

    # ----------------------------------------------------------- setup state
    @property
    def meta(self) -> MetaGlobal | None:
        return self.sync.meta_global

    @property
    def info_collections(self) -> dict[str, ServerTime]:
        return dict(self.sync.info_collections)

    @property
    def data_collections(self) -> list[str]:
        return sorted(c for c in self.sync.info_collections if c not in SETUP)

    @property
    def downloaded(self) -> list[str]:
        """Collections whose records the sync holds (mirror or memory)."""
        if self.sync.store is None or self.sync.collection_keys is None:
            return []
        have = set(self.sync.store.mirror_collections())
        return sorted(c for c in self.data_collections if c in have)

    def engine_enabled(self, name: str) -> bool:
        meta = self.meta
        return meta is None or name not in meta.declined

    # ----------------------------------------------------------- records
    def records(self, collection: str) -> dict[str, dict[str, Any]]:
        """Decrypted live records (tombstones left out) by id."""
        if collection not in self._records:
            recs = self.sync.records(collection) if collection in self.downloaded else {}
            self._records[collection] = {rid: r for rid, r in recs.items() if not r.get("deleted")}
        return self._records[collection]

    def tombstones(self, collection: str) -> set[str]:
        recs = self.sync.records(collection) if collection in self.downloaded else {}
        return {rid for rid, r in recs.items() if r.get("deleted")}

    def envelopes(self, collection: str) -> dict[str, BSO]:
        """The server's BSOs (payload, modified, sortindex, ttl) as last downloaded."""
        if collection not in self._envelopes:
            store = self.sync.store
            mirror = store.mirror(collection) if store is not None else []
            self._envelopes[collection] = {m.bso.id: m.bso for m in mirror}
        return self._envelopes[collection]

    def modified(self, collection: str, record_id: str) -> float | None:
        """Server modified time of a record in Unix seconds."""
        env = self.envelopes(collection).get(record_id)
        if env is None or env.modified is None:
            return None
        return int(env.modified) / 100

    @cached_property
    def failed(self) -> list[tuple[str, str, str]]:
        """(collection, id, reason) of every record that did not decrypt."""
        errors = self.sync.errors()
        return [(r.collection, r.id, r.reason) for r in errors.itertuples()]

    @property
    def limits(self) -> dict[str, int]:
        cfg = self.sync.config
        return {k: v for k, v in (cfg.__dict__ if cfg is not None else {}).items() if isinstance(v, int)}

    def age_days(self, collection: str, record_id: str) -> float | None:
        t = self.modified(collection, record_id)
        return None if t is None else (self.now - t) / DAY
