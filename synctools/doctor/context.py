"""What the checks read: one downloaded sync, gathered once and cached per collection."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from synctools.protocol.bso import BSO, ServerTime
from synctools.protocol.metaglobal import MetaGlobal

from .model import CHECK_FAILED, Finding

if TYPE_CHECKING:  # pragma: no cover
    from synctools.machine import Sync

SETUP = ("meta", "crypto")
DAY = 86_400.0
_ERROR_TEXT = 160


class Context:
    """Read-only views of a sync for the checks. ``now`` (Unix seconds) is the doctor's clock."""

    def __init__(self, sync: Sync, now: float | None = None, *, devices: list[dict[str, Any]] | None = None):
        self.sync = sync
        self.now = time.time() if now is None else float(now)
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._envelopes: dict[str, dict[str, BSO]] = {}
        #: analyses shared by several checks (the bookmark tree), built once
        self.cache: dict[str, Any] = {}
        #: the record a check is looking at, named if the check raises
        self.current: tuple[str, str] | None = None
        self.skipped: dict[str, str] = {}
        self._devices = devices

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

    @cached_property
    def downloaded(self) -> list[str]:
        """Collections whose records the sync holds (downloaded, or read from its store)."""
        if self.sync.store is not None and self.sync.collection_keys is not None:
            for collection in self.sync.store.mirror_collections():  # a kernel restarted: its mirror
                self.sync.records(collection)
        return sorted(c for c in self.data_collections if c in set(self.sync.downloaded))

    def engine_enabled(self, name: str) -> bool:
        meta = self.meta
        return meta is None or name not in meta.declined

    def checks(self, collection: str) -> bool:
        """Whether ``collection``'s records are here to check (downloaded, engine not declined)."""
        return collection in self.downloaded and self.engine_enabled(collection)

    # ----------------------------------------------------------- records
    def records(self, collection: str) -> dict[str, dict[str, Any]]:
        """Decrypted live records (tombstones left out) by id."""
        if collection not in self._records:
            recs = self.sync.records(collection) if collection in self.downloaded else {}
            self._records[collection] = {rid: r for rid, r in recs.items() if not r.get("deleted")}
        return self._records[collection]

    def tombstones(self, collection: str) -> set[str]:
        key = f"tombstones/{collection}"
        if key not in self.cache:
            recs = self.sync.records(collection) if collection in self.downloaded else {}
            self.cache[key] = {rid for rid, r in recs.items() if r.get("deleted")}
        return self.cache[key]  # type: ignore[no-any-return]

    def envelopes(self, collection: str) -> dict[str, BSO]:
        """The server's BSOs (payload, modified, sortindex, ttl) as last downloaded."""
        if collection not in self._envelopes:
            self._envelopes[collection] = self.sync.envelopes(collection)
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

    def failed_ids(self, collection: str) -> set[str]:
        return {rid for c, rid, _ in self.failed if c == collection}

    @property
    def limits(self) -> dict[str, int]:
        cfg = self.sync.config
        return {k: v for k, v in (cfg.__dict__ if cfg is not None else {}).items() if isinstance(v, int)}

    def age_days(self, collection: str, record_id: str) -> float | None:
        t = self.modified(collection, record_id)
        return None if t is None else (self.now - t) / DAY

    # ----------------------------------------------------------- the account
    @property
    def devices(self) -> list[dict[str, Any]] | None:
        """The account's device list (``/account/devices``), or None when it cannot be read
        (a session without a session token, a server that refuses): then the checks that
        need it are skipped, and the report says so."""
        if self._devices is None and "devices" not in self.cache:
            self.cache["devices"] = None
            session = getattr(self.sync, "session", None)
            fetch = getattr(session, "devices", None)
            if fetch is None or not getattr(session, "has_session_token", False):
                self.cache["devices_why"] = "this session has no session token to read the account's device list"
            else:
                try:
                    self.cache["devices"] = list(fetch())
                except Exception as exc:  # a network or server problem must not stop the doctor
                    self.cache["devices_why"] = f"reading the device list failed ({type(exc).__name__})"
        return self._devices if self._devices is not None else self.cache.get("devices")

    # ----------------------------------------------------------- robustness
    def per_record(self, check_id: str, collection: str, items: Iterable[tuple[str, Any]],
                   rule: Callable[[str, Any], Iterable[Finding]]) -> Iterator[Finding]:  # fmt: skip
        """Apply ``rule`` to each record on its own: one record that makes it raise becomes
        part of one ``doctor.check-failed`` finding, and every other record is still checked."""
        failures: list[tuple[str, BaseException]] = []
        for rid, rec in items:
            self.current = (collection, rid)
            try:
                yield from list(rule(rid, rec))
            except Exception as exc:
                failures.append((rid, exc))
        self.current = None
        if failures:
            yield failure(check_id, collection, failures)


def _error_text(collection: str | None, exc: BaseException) -> str:
    """The exception, as text safe to show: a record's values can be secrets, so for
    collections with secret fields only the exception's type is kept."""
    from synctools.engines import ENGINES

    engine = ENGINES.get(collection or "")
    if engine is None or engine.secret_fields:  # unknown collections may hold anything
        return type(exc).__name__
    text = str(exc).replace("\n", " ")
    text = text if len(text) <= _ERROR_TEXT else text[: _ERROR_TEXT - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure(check_id: str, collection: str | None, failures: list[tuple[str, BaseException]]) -> Finding:
    """One finding for a check that raised (on one record, or on several)."""
    rid, first = failures[0]
    where = f"record {collection}/{rid}" if collection and rid else "the account"
    more = f" (and {len(failures) - 1} other record(s))" if len(failures) > 1 else ""
    frame = traceback.extract_tb(first.__traceback__)[-1] if first.__traceback__ else None
    at = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return Finding(CHECK_FAILED, "error", collection, [r for r, _ in failures if r][:50],
                   f"check {check_id} failed on {where}{more}: {_error_text(collection, first)}{at}. The "
                   "other checks ran; this is a bug in synctools (please report it with `synctools doctor "
                   "--share`), or a record shaped in a way the check did not expect.",
                   facts={"check": check_id, "error": type(first).__name__, "records": len(failures)})  # fmt: skip
