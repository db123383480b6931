"""A storage node's SQLite store: BSOs, collection timestamps, batches.

Payloads are kept already JSON-encoded, so a read builds its response by joining
stored strings; timestamps are integers of hundredths of a second (``ServerTime``).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..protocol.bso import ServerTime
from .db import Database
from .http import loads

FOREVER = 2**62  # expiry of records without a ttl
BATCH_LIFETIME = 2 * 3600 * 100  # centiseconds, as syncstorage-rs

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user INTEGER PRIMARY KEY,
    modified INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS collections (
    user INTEGER NOT NULL,
    collection TEXT NOT NULL,
    modified INTEGER NOT NULL,
    PRIMARY KEY (user, collection)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bso (
    user INTEGER NOT NULL,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    sortindex INTEGER,
    payload TEXT NOT NULL,          -- JSON-encoded payload string
    size INTEGER NOT NULL,          -- bytes of the raw payload (quota, usage)
    modified INTEGER NOT NULL,
    expiry INTEGER NOT NULL,
    UNIQUE (user, collection, id)
);
CREATE INDEX IF NOT EXISTS bso_modified ON bso (user, collection, modified, id);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user INTEGER NOT NULL,
    collection TEXT NOT NULL,
    expiry INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    item TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (batch, seq)
) WITHOUT ROWID;
"""

UPSERT = """
INSERT INTO bso (user, collection, id, sortindex, payload, size, modified, expiry)
VALUES (:user, :collection, :id, :sortindex, :payload, :size, :modified, :expiry)
ON CONFLICT (user, collection, id) DO UPDATE SET
    -- an expired item is invisible: writing it again starts a new item, nothing of the old survives
    sortindex = CASE WHEN :has_sortindex OR bso.expiry <= :now THEN excluded.sortindex ELSE bso.sortindex END,
    payload = CASE WHEN :has_payload OR bso.expiry <= :now THEN excluded.payload ELSE bso.payload END,
    size = CASE WHEN :has_payload OR bso.expiry <= :now THEN excluded.size ELSE bso.size END,
    modified = CASE WHEN :has_payload OR :has_sortindex OR bso.expiry <= :now THEN excluded.modified
                    ELSE bso.modified END,
    expiry = CASE WHEN :has_ttl THEN excluded.expiry
                  WHEN bso.expiry <= :now THEN :forever  -- an expired item written anew
                  ELSE bso.expiry END
"""

EMPTY_PAYLOAD = json.dumps("")

# sort name -> (key expression, direction)
SORTS = {
    "newest": ("modified", "DESC"),
    "oldest": ("modified", "ASC"),
    "index": ("IFNULL(sortindex, -9999999999)", "DESC"),
}


def now() -> ServerTime:
    return ServerTime.from_millis(int(time.time() * 1000))


def ts_text(centis: int) -> str:
    """Two-decimal JSON number text for a timestamp in centiseconds."""
    return f"{centis // 100}.{centis % 100:02d}"


def json_id(bso_id: str) -> str:
    # Ids are printable ASCII by the rules, so quoting is all they need. The one invalid
    # id an older stack let in ends in "\n" (its rules ended in "$"): escaped, never sent
    # raw, so such a row cannot make a whole listing invalid JSON. ("in" tests cost a few
    # percent here; isprintable() would cost 80%, on every id of every read.)
    if '"' in bso_id or "\\" in bso_id or "\n" in bso_id:
        return json.dumps(bso_id)
    return '"' + bso_id + '"'


class BadOffset(ValueError):
    pass


def encode_offset(key: int, bso_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, bso_id]).encode()).decode().rstrip("=")


def decode_offset(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key, bso_id = loads(raw)
        if isinstance(key, bool) or not isinstance(key, int) or not isinstance(bso_id, str):
            raise ValueError
        if not -(2**63) <= key < 2**63:  # SQLite INTEGER range
            raise ValueError
        return key, bso_id
    except (ValueError, TypeError) as exc:
        raise BadOffset(f"invalid offset {token[:40]!r}: pass X-Weave-Next-Offset as sent") from exc


@dataclass
class Item:
    """A validated incoming BSO: only the fields the client sent are set."""

    id: str
    payload: str | None = None
    sortindex: int | None = None
    has_sortindex: bool = False
    ttl: int | None = None
    has_ttl: bool = False

    @classmethod
    def from_json(cls, obj: dict[str, Any], bso_id: str | None = None) -> Item:
        return cls(
            id=bso_id if bso_id is not None else obj["id"],
            payload=obj.get("payload"),
            sortindex=obj.get("sortindex"),
            has_sortindex="sortindex" in obj,
            ttl=obj.get("ttl"),
            has_ttl="ttl" in obj,
        )

    def size(self) -> int:
        return len(self.payload.encode("utf-8")) if self.payload is not None else 0

    def to_json(self) -> str:
        obj: dict[str, Any] = {"id": self.id}
        if self.payload is not None:
            obj["payload"] = self.payload
        if self.has_sortindex:
            obj["sortindex"] = self.sortindex
        if self.has_ttl:
            obj["ttl"] = self.ttl
        return json.dumps(obj)


Check = Callable[[sqlite3.Connection], None]


class StorageDB:
    """All of one node's users. Every write runs in one transaction and gets a timestamp
    strictly greater than the user's last (``max(now, last + 0.01)``)."""

    def __init__(self, path: str):
        self.db = Database(path, SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- timestamps ---------------------------------------------------------------
    @staticmethod
    def _next_ts(conn: sqlite3.Connection, user: int) -> ServerTime:
        row = conn.execute("SELECT modified FROM users WHERE user=?", (user,)).fetchone()
        ts = now()
        if row is not None and ts <= row[0]:
            ts = ServerTime(row[0] + 1)
        conn.execute(
            "INSERT INTO users(user, modified) VALUES(?, ?) ON CONFLICT(user) DO UPDATE SET modified=excluded.modified",
            (user, int(ts)),
        )
        return ts

    @staticmethod
    def storage_ts(conn: sqlite3.Connection, user: int) -> ServerTime:
        # users.modified moves on every write, deletes included, so the user's timestamp
        # never goes back when the newest collection is deleted (syncstorage-rs keeps a
        # tombstone for the same reason).
        row = conn.execute(
            "SELECT MAX(IFNULL((SELECT MAX(modified) FROM collections WHERE user=?), 0),"
            " IFNULL((SELECT modified FROM users WHERE user=?), 0))",
            (user, user),
        ).fetchone()
        return ServerTime(row[0] or 0)

    @staticmethod
    def collection_ts(conn: sqlite3.Connection, user: int, coll: str) -> ServerTime:
        row = conn.execute("SELECT modified FROM collections WHERE user=? AND collection=?", (user, coll)).fetchone()
        return ServerTime(row[0] if row else 0)

    @staticmethod
    def item_ts(conn: sqlite3.Connection, user: int, coll: str, bso_id: str) -> ServerTime:
        row = conn.execute(
            "SELECT modified FROM bso WHERE user=? AND collection=? AND id=? AND expiry>?",
            (user, coll, bso_id, int(now())),
        ).fetchone()
        return ServerTime(row[0] if row else 0)

    @staticmethod
    def _touch(conn: sqlite3.Connection, user: int, coll: str, ts: int) -> None:
        conn.execute(
            "INSERT INTO collections(user, collection, modified) VALUES(?, ?, ?) "
            "ON CONFLICT(user, collection) DO UPDATE SET modified=excluded.modified",
            (user, coll, ts),
        )

    # -- reads --------------------------------------------------------------------
    def info_collections(self, user: int) -> list[tuple[str, int]]:
        return (
            self.db.conn()
            .execute(
                "SELECT collection, modified FROM collections WHERE user=? ORDER BY collection",
                (user,),
            )
            .fetchall()
        )

    def collection_counts(self, user: int) -> list[tuple[str, int]]:
        return (
            self.db.conn()
            .execute(
                "SELECT collection, COUNT(*) FROM bso WHERE user=? AND expiry>? "
                "GROUP BY collection ORDER BY collection",
                (user, int(now())),
            )
            .fetchall()
        )

    def collection_usage(self, user: int) -> list[tuple[str, int]]:
        return (
            self.db.conn()
            .execute(
                "SELECT collection, SUM(size) FROM bso WHERE user=? AND expiry>? "
                "GROUP BY collection ORDER BY collection",
                (user, int(now())),
            )
            .fetchall()
        )

    def get_items(
        self,
        conn: sqlite3.Connection,
        user: int,
        coll: str,
        *,
        ids: list[str] | None = None,
        newer: int | None = None,
        older: int | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: str | None = None,
    ) -> tuple[list[tuple[str, int, str, int | None]], str | None]:
        """Rows ``(id, modified, payload_json, sortindex)`` and the next offset token."""
        key, direction = SORTS[sort or "newest"]
        where = ["user=?", "collection=?", "expiry>?"]
        params: list[Any] = [user, coll, int(now())]
        if ids:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        if newer is not None:
            where.append("modified>?")
            params.append(newer)
        if older is not None:
            where.append("modified<?")
            params.append(older)
        if offset:
            okey, oid = decode_offset(offset)
            op = "<" if direction == "DESC" else ">"
            # a row value, so SQLite seeks the index to the offset instead of scanning every
            # earlier row again on each page (which made reading a collection quadratic)
            where.append(f"({key}, id) {op} (?, ?)")
            params.extend([okey, oid])
        # Only fixed SQL fragments are interpolated; every value is a bound parameter.
        sql = (
            f"SELECT id, modified, payload, sortindex, {key} FROM bso "  # noqa: S608
            f"WHERE {' AND '.join(where)} ORDER BY {key} {direction}, id {direction}"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit + 1)
        rows = conn.execute(sql, params).fetchall()
        next_offset = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_offset = encode_offset(last[4], last[0])
        return rows, next_offset

    def get_item(
        self, conn: sqlite3.Connection, user: int, coll: str, bso_id: str
    ) -> tuple[str, int, str, int | None] | None:
        row: tuple[str, int, str, int | None] | None = conn.execute(  # the SELECT's columns
            "SELECT id, modified, payload, sortindex FROM bso WHERE user=? AND collection=? AND id=? AND expiry>?",
            (user, coll, bso_id, int(now())),
        ).fetchone()
        return row

    def usage_bytes(self, user: int) -> int:
        row = (
            self.db.conn().execute("SELECT SUM(size) FROM bso WHERE user=? AND expiry>?", (user, int(now()))).fetchone()
        )
        return row[0] or 0

    # -- writes -------------------------------------------------------------------
    def _apply(self, conn: sqlite3.Connection, user: int, coll: str, items: Iterable[Item], ts: int) -> None:
        current = int(now())
        rows = []
        for item in items:
            has_payload = item.payload is not None
            rows.append(
                {
                    "user": user,
                    "collection": coll,
                    "id": item.id,
                    "sortindex": item.sortindex,
                    "payload": json.dumps(item.payload) if has_payload else EMPTY_PAYLOAD,
                    "size": item.size(),
                    "modified": ts,
                    "expiry": ts + item.ttl * 100 if item.ttl is not None else FOREVER,
                    "has_payload": has_payload,
                    "has_sortindex": item.has_sortindex,
                    "has_ttl": item.has_ttl,
                    "now": current,
                    "forever": FOREVER,
                }
            )
        conn.executemany(UPSERT, rows)
        self._touch(conn, user, coll, ts)

    def put_items(
        self,
        user: int,
        coll: str,
        items: list[Item],
        check: Check | None = None,
        modified: ServerTime | None = None,
    ) -> ServerTime:
        """Write items in one transaction; ``modified`` forces the timestamp (admin loads)."""
        with self.db.write() as conn:
            if check:
                check(conn)
            if modified is not None:
                ts = ServerTime(modified)
                conn.execute(
                    "INSERT INTO users(user, modified) VALUES(?, ?) ON CONFLICT(user) DO UPDATE "
                    "SET modified=MAX(modified, excluded.modified)",
                    (user, int(ts)),
                )
                self._apply(conn, user, coll, items, int(ts))
                cur = self.collection_ts(conn, user, coll)
                if cur < ts:
                    self._touch(conn, user, coll, int(ts))
                return self.collection_ts(conn, user, coll)
            ts = self._next_ts(conn, user)
            self._apply(conn, user, coll, items, int(ts))
            return ts

    def touch(self, user: int, coll: str) -> ServerTime:
        """A genuine concurrent write: the newest record is rewritten with a new timestamp."""
        with self.db.write() as conn:
            ts = self._next_ts(conn, user)
            conn.execute(
                "UPDATE bso SET modified=? WHERE rowid=(SELECT rowid FROM bso WHERE user=? "
                "AND collection=? ORDER BY modified DESC LIMIT 1)",
                (int(ts), user, coll),
            )
            self._touch(conn, user, coll, int(ts))
            return ts

    def delete_collection(self, user: int, coll: str, check: Check | None = None) -> ServerTime:
        with self.db.write() as conn:
            if check:
                check(conn)
            ts = self._next_ts(conn, user)
            conn.execute("DELETE FROM bso WHERE user=? AND collection=?", (user, coll))
            conn.execute("DELETE FROM collections WHERE user=? AND collection=?", (user, coll))
            return ts

    def delete_items(self, user: int, coll: str, ids: list[str], check: Check | None = None) -> ServerTime:
        with self.db.write() as conn:
            if check:
                check(conn)
            ts = self._next_ts(conn, user)
            conn.executemany(
                "DELETE FROM bso WHERE user=? AND collection=? AND id=?",
                [(user, coll, i) for i in ids],
            )
            self._touch(conn, user, coll, int(ts))
            return ts

    def delete_item(self, user: int, coll: str, bso_id: str, check: Check | None = None) -> ServerTime | None:
        """None when the item does not exist (the caller answers 404)."""
        with self.db.write() as conn:
            if check:
                check(conn)
            if self.get_item(conn, user, coll, bso_id) is None:
                return None
            ts = self._next_ts(conn, user)
            conn.execute("DELETE FROM bso WHERE user=? AND collection=? AND id=?", (user, coll, bso_id))
            self._touch(conn, user, coll, int(ts))
            return ts

    def delete_user(self, user: int, check: Check | None = None) -> ServerTime:
        with self.db.write() as conn:
            if check:
                check(conn)
            ts = self._next_ts(conn, user)
            conn.execute("DELETE FROM bso WHERE user=?", (user,))
            conn.execute("DELETE FROM collections WHERE user=?", (user,))
            conn.execute(
                "DELETE FROM batch_items WHERE batch IN (SELECT id FROM batches WHERE user=?)",
                (user,),
            )
            conn.execute("DELETE FROM batches WHERE user=?", (user,))
            return ts

    # -- batches ------------------------------------------------------------------
    def batch_create_in(self, conn: sqlite3.Connection, user: int, coll: str) -> str:
        cur = conn.execute(
            "INSERT INTO batches(user, collection, expiry) VALUES(?, ?, ?)",
            (user, coll, int(now()) + BATCH_LIFETIME),
        )
        return str(cur.lastrowid)

    def batch_valid(self, conn: sqlite3.Connection, user: int, coll: str, batch: str) -> bool:
        if not (0 < len(batch) <= 18 and batch.isascii() and batch.isdigit()):  # fits SQLite INTEGER
            return False
        row = conn.execute(
            "SELECT 1 FROM batches WHERE id=? AND user=? AND collection=? AND expiry>?",
            (int(batch), user, coll, int(now())),
        ).fetchone()
        return row is not None

    def batch_totals(self, conn: sqlite3.Connection, batch: str) -> tuple[int, int]:
        row = conn.execute(
            "SELECT COUNT(*), IFNULL(SUM(size), 0) FROM batch_items WHERE batch=?", (int(batch),)
        ).fetchone()
        return row[0], row[1]

    def batch_append(self, conn: sqlite3.Connection, batch: str, items: list[Item]) -> None:
        row = conn.execute("SELECT IFNULL(MAX(seq), -1) FROM batch_items WHERE batch=?", (int(batch),)).fetchone()
        start = row[0] + 1
        conn.executemany(
            "INSERT INTO batch_items(batch, seq, item, size) VALUES(?, ?, ?, ?)",
            [(int(batch), start + n, it.to_json(), it.size()) for n, it in enumerate(items)],
        )

    def batch_commit(self, conn: sqlite3.Connection, user: int, coll: str, batch: str, items: list[Item]) -> ServerTime:
        staged = [
            Item.from_json(json.loads(text))
            for (text,) in conn.execute("SELECT item FROM batch_items WHERE batch=? ORDER BY seq", (int(batch),))
        ]
        ts = self._next_ts(conn, user)
        self._apply(conn, user, coll, _merge(staged + items), int(ts))
        conn.execute("DELETE FROM batch_items WHERE batch=?", (int(batch),))
        conn.execute("DELETE FROM batches WHERE id=?", (int(batch),))
        return ts


def _merge(items: list[Item]) -> list[Item]:
    """Fold repeated ids in order: a later write of a field wins, unsent fields stay."""
    out: dict[str, Item] = {}
    for item in items:
        prev = out.get(item.id)
        if prev is None:
            out[item.id] = item
            continue
        out[item.id] = Item(
            id=item.id,
            payload=item.payload if item.payload is not None else prev.payload,
            sortindex=item.sortindex if item.has_sortindex else prev.sortindex,
            has_sortindex=item.has_sortindex or prev.has_sortindex,
            ttl=item.ttl if item.has_ttl else prev.ttl,
            has_ttl=item.has_ttl or prev.has_ttl,
        )
    return list(out.values())
