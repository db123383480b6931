"""The local store: one SQLite file per account.

It holds what a sync must remember between notebook cells and kernel restarts:

- ``mirror``: the server's records as last seen, exactly as the server sent them (the
  encrypted payload and the envelope), plus whether each decrypted and why not;
- ``staged``: the person's edits, additions and deletions waiting for review;
- ``state``: last-sync times, syncIDs, the node, the declined list — small JSON values —
  and the server's setup as last read (info/configuration, info/collections, and the
  meta/global and crypto/keys records as the server sent them: crypto/keys stays the
  server's ciphertext), so a sync can open offline (``Sync.open_offline``);
- ``snapshots``: every server record a commit replaced, so it can be put back.

Nothing secret is stored in clear. The mirror keeps the server's ciphertext, never
cleartext (cleartext is decrypted again on load, which the bulk path makes cheap).
Staged records (which may hold a password or a card number) are encrypted with a key
derived from kSync, so the file is useless without the account's keys.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import SynctoolsError
from .protocol._columns import NO_TIME, BSOColumns
from .protocol._util import hkdf_sha256
from .protocol.bso import BSO, ServerTime
from .protocol.crypto import CryptoError, KeyBundle

SCHEMA_VERSION = 1
#: bytes per SQLite page of a new store (see Store.__init__)
PAGE_SIZE = 16384
#: the WAL is copied back into the database when it holds this much
WAL_CHECKPOINT_BYTES = 40 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mirror (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    modified INTEGER NOT NULL,          -- ServerTime: hundredths of a second
    sortindex INTEGER,
    ttl INTEGER,
    payload TEXT NOT NULL,              -- as the server sent it (encrypted)
    error TEXT,                         -- why it did not decrypt/parse (no secrets)
    reason TEXT,                        -- the error's short code
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS staged (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('add', 'edit', 'delete', 'restore')),
    record TEXT NOT NULL,               -- the full new cleartext, encrypted with the store key
    base_modified INTEGER,              -- the server version the edit was made against
    sortindex INTEGER,
    ttl INTEGER,
    raw_payload INTEGER NOT NULL DEFAULT 0, -- 1: `record` is a server payload to put back as is
    staged_at REAL NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS snapshots (
    snapshot INTEGER NOT NULL,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    existed INTEGER NOT NULL,
    modified INTEGER,
    sortindex INTEGER,
    ttl INTEGER,
    payload TEXT,
    sealed TEXT,                        -- its cleartext, encrypted with the store key (NULL: never decrypted)
    PRIMARY KEY (snapshot, collection, id)
);
CREATE TABLE IF NOT EXISTS snapshot_info (
    snapshot INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    label TEXT NOT NULL,
    node TEXT
);
"""


class StoreError(SynctoolsError):
    """The local store cannot do what was asked (say, a staged record needs keys)."""


@dataclass(frozen=True)
class MirrorRecord:
    collection: str
    bso: BSO
    error: str | None = None
    reason: str | None = None


#: what a staged change does: a new record, an edit, a tombstone, or putting back a
#: version a commit replaced (byte for byte, or re-encrypted when the keys changed)
ChangeKind = Literal["add", "edit", "delete", "restore"]


@dataclass(frozen=True)
class StagedChange:
    collection: str
    id: str
    kind: ChangeKind
    record: dict[str, Any] | None  # cleartext (None for a raw restore)
    base_modified: ServerTime | None
    sortindex: int | None = None
    ttl: int | None = None
    raw_payload: str | None = None  # restore: the exact server payload to put back
    staged_at: float = 0.0


@dataclass(frozen=True)
class SnapshotRecord:
    """One server record a commit replaced: its envelope as it was (``bso`` is None when
    the record did not exist) and, when it decrypted then, its cleartext — so a restore
    can re-encrypt it under keys that changed since (a fresh start, a new node)."""

    collection: str
    id: str
    bso: BSO | None
    cleartext: dict[str, Any] | None = None


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot: int
    created_at: float
    label: str
    node: str | None
    records: int


def store_key(ksync: bytes) -> KeyBundle:
    """The key that encrypts staged records at rest, derived from kSync."""
    return KeyBundle.from_ksync(hkdf_sha256(ksync, b"synctools/local-store/v1", 64))


#: a collection name that is safe as an SQL string literal as it is
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Store:
    """One account's local state in SQLite (WAL). ``path=None`` keeps it in memory."""

    def __init__(self, path: str | Path | None = None, key: KeyBundle | None = None):
        self.path = None if path is None else Path(path)
        self._key = key
        self._lock = threading.RLock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(mode=0o600, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                ":memory:" if self.path is None else str(self.path), check_same_thread=False, isolation_level=None
            )
            if self.path is not None:
                # A new store's pages are 16 KiB, not 4: the mirror holds rows of about 600
                # bytes written in bulk, and each page costs a write to the WAL and another
                # when it is copied back (100,000 rows: 0.61 s of CPU against 0.79 s,
                # medians of 10). An existing store keeps its size (this is then a no-op).
                self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
                self._db.execute("PRAGMA journal_mode=WAL")
                # A download writes its pages in a stream of transactions: with the mirror's
                # index pages kept in a 64 MiB cache (taken only as used) and the WAL copied
                # back every 40 MB rather than 4 MB, writing 100,000 records a page of 1,000
                # at a time took 0.4 s less CPU (of 1.6 s).
                page = self._db.execute("PRAGMA page_size").fetchone()[0]
                self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page}")
            self._db.execute("PRAGMA cache_size=-65536")
            self._db.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "state" not in tables:  # never add our tables to, say, Firefox's places.sqlite
                self._db.close()
                raise StoreError(
                    f"{self.path} is another program's database (tables: {', '.join(sorted(tables)[:5])}):"
                    " give the local store a path of its own"
                )
            self._db.executescript(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(snapshots)")}
            if "sealed" not in columns:  # a store from before snapshots kept cleartexts
                self._db.execute("ALTER TABLE snapshots ADD COLUMN sealed TEXT")
            found = self.get_state("schema_version")
        except (sqlite3.Error, ValueError) as exc:  # not SQLite, or unreadable
            raise StoreError(
                f"{self.path} cannot be used as the local store ({exc}): move it aside, or give another path"
            ) from None
        if found is None:
            self.set_state("schema_version", SCHEMA_VERSION)
        elif found != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by schema {found}, this synctools reads {SCHEMA_VERSION}:"
                " move it aside and download again"
            )

    def __repr__(self) -> str:
        return f"<Store {self.path or ':memory:'}>"

    def close(self) -> None:
        self._db.close()

    def set_key(self, key: KeyBundle) -> None:
        self._key = key

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ state
    def get_state(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # ------------------------------------------------------------------ the server's setup, as last read
    def set_server_record(self, collection: str, record_id: str, bso: BSO | None) -> None:
        """Keep a setup record (meta/global, crypto/keys) exactly as the server sent it;
        ``None`` when the server had none."""
        value = None
        if bso is not None:
            value = {"payload": bso.payload, "modified": None if bso.modified is None else int(bso.modified)}
        self.set_state(f"server/{collection}/{record_id}", value)

    def server_record(self, collection: str, record_id: str) -> BSO | None:
        """A setup record kept by :meth:`set_server_record` (``None``: never read, or absent)."""
        value = self.get_state(f"server/{collection}/{record_id}")
        if not isinstance(value, dict) or not isinstance(value.get("payload"), str):
            return None
        modified = value.get("modified")
        return BSO(record_id, value["payload"], None if modified is None else ServerTime(modified))

    def last_sync(self, collection: str) -> ServerTime:
        return ServerTime(self.get_state(f"last_sync/{collection}", 0))

    def set_last_sync(self, collection: str, when: ServerTime) -> None:
        """Only ever forward: another Sync on this store may already have read further."""
        with self._lock:
            self._db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (f"last_sync/{collection}", int(when)),
            )

    def reset_collection(self, collection: str) -> None:
        """Forget what we knew of a collection (node moved, syncID changed)."""
        with self.transaction() as db:
            db.execute("DELETE FROM mirror WHERE collection = ?", (collection,))
            db.execute("DELETE FROM state WHERE key = ?", (f"last_sync/{collection}",))

    def reset_all(self) -> None:
        """Forget the whole mirror and every last-sync time; staged edits are kept."""
        with self.transaction() as db:
            db.execute("DELETE FROM mirror")
            db.execute("DELETE FROM state WHERE key LIKE 'last_sync/%'")

    # ------------------------------------------------------------------ mirror
    _UPSERT_TAIL = (
        " ON CONFLICT (collection, id) DO UPDATE SET modified = excluded.modified,"
        " sortindex = excluded.sortindex, ttl = excluded.ttl, payload = excluded.payload,"
        " error = excluded.error, reason = excluded.reason"
        " WHERE excluded.modified >= mirror.modified"
    )
    _UPSERT = (
        "INSERT INTO mirror (collection, id, modified, sortindex, ttl, payload, error, reason)"  # noqa: S608 - constants
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)" + _UPSERT_TAIL
    )
    #: rows without an error, of a collection whose name is a plain literal (_PLAIN_NAME)
    _UPSERT_PLAIN = (  # formatted only with a name that matches _PLAIN_NAME
        "INSERT INTO mirror (collection, id, modified, sortindex, ttl, payload, error, reason)"  # noqa: S608
        " VALUES ('{collection}', ?, ?, ?, ?, ?, NULL, NULL)" + _UPSERT_TAIL
    )

    def upsert_mirror(self, collection: str, records: Iterable[tuple[BSO, CryptoError | None]]) -> int:
        # Fields a server sent of the wrong type (the network layer hands them on as
        # MalformedBSO, with their error) are stored as NULL / text, never a crash.
        rows = [
            (
                collection,
                b.id if type(b.id) is str else str(b.id),
                _sql_int(b.modified) or 0,
                _sql_int(b.sortindex),
                _sql_int(b.ttl),
                b.payload if type(b.payload) is str else _text(b.payload),
                None if err is None else str(err),
                None if err is None else err.reason,
            )
            for b, err in records
        ]
        with self.transaction() as db:
            # A row never goes back to an older server version: two Syncs sharing this
            # store may write what they read in any order.
            db.executemany(self._UPSERT, rows)
        return len(rows)

    def upsert_mirror_columns(
        self, collection: str, env: BSOColumns, errors: Sequence[CryptoError | None] | None = None
    ) -> int:
        """:meth:`upsert_mirror` for records read as columns (a page), in one transaction:
        the rows are zipped from the columns, no Python object per record on the way.
        ``errors`` default to the columns' own (their malformed envelopes')."""
        n = len(env)
        if errors is None:
            errors = env.errors if env.errors is not None else [None] * n
        if len(errors) != n:
            raise ValueError("one error (or None) per record")
        mods = env.modified.clip(min=0).tolist() if (env.modified == NO_TIME).any() else env.modified.tolist()
        if any(e is not None for e in errors):
            texts: list[str | None] = [None if e is None else str(e) for e in errors]
            reasons: list[str | None] = [None if e is None else e.reason for e in errors]
        elif _PLAIN_NAME.fullmatch(collection):
            # the common case, five values a row instead of eight (binding each value holds
            # the GIL: 15-25 % of a download's mirror writes): the name as a literal, no error
            sql = self._UPSERT_PLAIN.format(collection=collection)
            with self.transaction() as db:
                db.executemany(sql, zip(env.ids, mods, env.sortindex, env.ttl, env.payloads))
            return n
        else:
            texts = reasons = [None] * n
        rows = zip(repeat(collection, n), env.ids, mods, env.sortindex, env.ttl, env.payloads, texts, reasons)
        with self.transaction() as db:
            db.executemany(self._UPSERT, rows)
        return n

    def set_mirror_errors(self, collection: str, env: BSOColumns, errors: Sequence[CryptoError | None]) -> int:
        """Record why rows of ``env``, mirrored already, failed (decryption or cleartext),
        each on the very version stored (same ``modified`` and payload: a newer version
        mirrored meanwhile keeps its own)."""
        mods = env.modified.clip(min=0).tolist()
        rows = [(str(e), e.reason, collection, env.ids[i], mods[i], env.payloads[i])
                for i, e in enumerate(errors) if e is not None]  # fmt: skip
        if rows:
            with self.transaction() as db:
                db.executemany(
                    "UPDATE mirror SET error = ?, reason = ?"
                    " WHERE collection = ? AND id = ? AND modified = ? AND payload = ?",
                    rows,
                )
        return len(rows)

    def mirror_columns(
        self,
        collection: str,
        size: int = 16384,
        envelope_error: Callable[[str, str | None, str], CryptoError | None] | None = None,
    ) -> Iterator[BSOColumns]:
        """The mirror of ``collection`` as columns, ``size`` rows at a time, in the order
        the records were first stored (a newer version keeps its record's place), which
        is the order a Sync's view holds them. Read lazily: a million rows never sit in
        memory as Python tuples all at once. ``envelope_error(id, error, reason)``, asked
        for each row stored with an error, gives the columns' ``errors`` (the network
        layer's: a record the server sent malformed stays an error after a restart)."""
        with self._lock:
            have = self._db.execute("SELECT COUNT(*) FROM mirror WHERE collection = ?", (collection,)).fetchone()[0]
            total = self._db.execute("SELECT COUNT(*) FROM mirror").fetchone()[0]
            # most of the table: one pass over it in storage order beats the index, whose
            # every row is a jump into the table (and the sort after)
            scan = "NOT INDEXED" if 4 * have >= total else ""
            cur = self._db.execute(
                f"SELECT id, modified, sortindex, ttl, payload, error, reason FROM mirror {scan}"  # noqa: S608 - a fixed fragment
                " WHERE collection = ? ORDER BY rowid",
                (collection,),
            )
        try:
            while True:
                with self._lock:
                    rows = cur.fetchmany(size)
                if not rows:
                    return
                ids, mods, sortindex, ttl, payloads, texts, reasons = (list(c) for c in zip(*rows))
                del rows
                errors = None
                if envelope_error is not None and reasons.count(None) != len(reasons):
                    errors = [None if r is None else envelope_error(i, t, r) for i, t, r in zip(ids, texts, reasons)]
                    errors = errors if any(e is not None for e in errors) else None
                yield BSOColumns(ids, payloads, np.array(mods, dtype=np.int64), sortindex, ttl, errors)
        finally:
            cur.close()

    def mirror(self, collection: str) -> list[MirrorRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, modified, sortindex, ttl, payload, error, reason FROM mirror"
                " WHERE collection = ? ORDER BY modified, id",
                (collection,),
            ).fetchall()
        return [_mirror_record(collection, r) for r in rows]

    def mirror_record(self, collection: str, record_id: str) -> MirrorRecord | None:
        with self._lock:
            r = self._db.execute(
                "SELECT id, modified, sortindex, ttl, payload, error, reason FROM mirror"
                " WHERE collection = ? AND id = ?",
                (collection, record_id),
            ).fetchone()
        if r is None:
            return None
        return _mirror_record(collection, r)

    def mirror_collections(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT collection, COUNT(*) FROM mirror GROUP BY collection").fetchall()
        return dict(rows)

    # ------------------------------------------------------------------ staged
    def _seal(self, record: Mapping[str, Any]) -> str:
        if self._key is None:
            raise StoreError("staged records are encrypted at rest: the store needs the account's keys")
        return json.dumps(self._key.encrypt(record))

    def _open(self, sealed: str, collection: str, record_id: str) -> dict[str, Any]:
        if self._key is None:
            raise StoreError("reading staged records needs the account's keys (log in or load the session)")
        try:
            return self._key.decrypt(sealed)
        except CryptoError as exc:
            raise StoreError(
                f"staged {collection}/{record_id} cannot be read with these keys (the account's keys"
                " changed?): discard it with sync.discard()"
            ) from exc

    def stage(self, change: StagedChange) -> None:
        if change.raw_payload is not None:
            sealed, raw = change.raw_payload, 1
        else:
            sealed, raw = self._seal(change.record or {"id": change.id, "deleted": True}), 0
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO staged"
                " (collection, id, kind, record, base_modified, sortindex, ttl, raw_payload, staged_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    change.collection,
                    change.id,
                    change.kind,
                    sealed,
                    None if change.base_modified is None else int(change.base_modified),
                    change.sortindex,
                    change.ttl,
                    raw,
                    change.staged_at or time.time(),
                ),
            )

    def staged(self, collection: str | None = None) -> list[StagedChange]:
        sql = "SELECT collection, id, kind, record, base_modified, sortindex, ttl, raw_payload, staged_at FROM staged"
        args: tuple[Any, ...] = ()
        if collection is not None:
            sql += " WHERE collection = ?"
            args = (collection,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY collection, staged_at, id", args).fetchall()
        out = []
        for c, rid, kind, sealed, base, si, ttl, raw, at in rows:
            out.append(
                StagedChange(
                    c,
                    rid,
                    kind,
                    None if raw else self._open(sealed, c, rid),
                    None if base is None else ServerTime(base),
                    si,
                    ttl,
                    sealed if raw else None,
                    at,
                )
            )
        return out

    def staged_index(self) -> list[tuple[str, str, str]]:
        """(collection, id, kind) of every staged change, without opening a record (it
        works when the records can no longer be read with these keys)."""
        with self._lock:
            rows = self._db.execute("SELECT collection, id, kind FROM staged ORDER BY collection, id").fetchall()
        return [(c, rid, kind) for c, rid, kind in rows]

    def unstage(self, collection: str, record_id: str | None = None, *, staged_at: float | None = None) -> int:
        """Drop staged changes; with ``staged_at``, only that version of the record."""
        with self._lock:
            if record_id is None:
                cur = self._db.execute("DELETE FROM staged WHERE collection = ?", (collection,))
            elif staged_at is None:
                cur = self._db.execute("DELETE FROM staged WHERE collection = ? AND id = ?", (collection, record_id))
            else:
                cur = self._db.execute(
                    "DELETE FROM staged WHERE collection = ? AND id = ? AND staged_at = ?",
                    (collection, record_id, staged_at),
                )
            return cur.rowcount

    # ------------------------------------------------------------------ snapshots
    def snapshot(self, label: str, node: str | None, records: Iterable[SnapshotRecord]) -> int:
        """Save the server versions a commit is about to replace; returns the snapshot id.
        Cleartexts are sealed with the store key, like staged records."""
        rows = []
        for r in records:
            b = r.bso
            rows.append((
                r.collection, r.id, 0 if b is None else 1,
                None if b is None or b.modified is None else int(b.modified),
                None if b is None else b.sortindex, None if b is None else b.ttl,
                None if b is None else b.payload,
                None if r.cleartext is None or self._key is None else self._seal(r.cleartext),
            ))  # fmt: skip
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO snapshot_info (created_at, label, node) VALUES (?, ?, ?)", (time.time(), label, node)
            )
            sid = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT OR REPLACE INTO snapshots"
                " (snapshot, collection, id, existed, modified, sortindex, ttl, payload, sealed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(sid, *row) for row in rows],
            )
        return sid

    def drop_snapshot(self, snapshot: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM snapshots WHERE snapshot = ?", (int(snapshot),))
            db.execute("DELETE FROM snapshot_info WHERE snapshot = ?", (int(snapshot),))

    def snapshots(self) -> list[SnapshotInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT i.snapshot, i.created_at, i.label, i.node, COUNT(s.id) FROM snapshot_info i"
                " LEFT JOIN snapshots s ON s.snapshot = i.snapshot GROUP BY i.snapshot ORDER BY i.snapshot"
            ).fetchall()
        return [SnapshotInfo(*r) for r in rows]

    def snapshot_records(self, snapshot: int) -> list[SnapshotRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT collection, id, existed, modified, sortindex, ttl, payload, sealed FROM snapshots"
                " WHERE snapshot = ? ORDER BY collection, id",
                (int(snapshot),),
            ).fetchall()
        if not rows and not any(s.snapshot == snapshot for s in self.snapshots()):
            raise StoreError(f"no snapshot {snapshot}: see sync.snapshots()")
        out = []
        for c, rid, existed, m, si, ttl, p, sealed in rows:
            bso = BSO(rid, p, None if m is None else ServerTime(m), si, ttl) if existed else None
            cleartext = None
            if sealed is not None and self._key is not None:
                try:
                    cleartext = self._key.decrypt(sealed)
                except CryptoError:  # sealed under other keys: the server payload is all we have
                    cleartext = None
            out.append(SnapshotRecord(c, rid, bso, cleartext))
        return out


def _mirror_record(collection: str, r: tuple[Any, ...]) -> MirrorRecord:
    rid, modified, sortindex, ttl, payload, error, reason = r
    return MirrorRecord(collection, BSO(rid, payload, ServerTime(modified), sortindex, ttl), error, reason)


_SQL_INT = 2**63


def _sql_int(value: Any) -> int | None:
    """An integer SQLite can hold, or None (a bool, a string, a float, 2**70 ...)."""
    if isinstance(value, int) and not isinstance(value, bool) and -_SQL_INT <= value < _SQL_INT:
        return int(value)
    return None


def _text(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return ""
