"""Bookmarks, history and form history from a profile's SQLite files, as Sync sees them.

Bookmark ids are Sync record ids: Places' root guids become the names Sync uses
(``menu________`` -> ``menu``, ``root________`` -> ``places``; bookmarks/engines in
Firefox, ``ROOT_GUID_TO_SYNC_ID``), every other item keeps its guid, so a device row
and a server record of the same item share an ``id``. ``syncStatus`` 1 (NEW) means
the item was never uploaded; ``syncChangeCounter`` > 0 means it changed since the last
upload. Places times are PRTime (µs); the sync mirror's are ms.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from synctools.engines.history import TRANSITIONS

from . import _frame
from ._sqlite import columns, pick, reading, tables
from .errors import ProfileFileError

ROOTS = {
    "root________": "places",
    "menu________": "menu",
    "toolbar_____": "toolbar",
    "unfiled_____": "unfiled",
    "mobile______": "mobile",
    "tags________": "tags",
}
#: the oldest Places schema with the sync fields (syncStatus, syncChangeCounter): Firefox 53
MIN_SCHEMA = 36


def _sync_id(expr: str) -> str:
    cases = " ".join(f"WHEN '{g}' THEN '{s}'" for g, s in ROOTS.items())
    return f"CASE {expr} {cases} ELSE {expr} END"


BOOKMARK_SPEC = [
    ("id", "str"), ("guid", "str"), ("type", "category"), ("parent_id", "str"), ("position", "int"),
    ("title", "str"), ("url", "str"), ("keyword", "str"), ("date_added", "us"), ("last_modified", "us"),
    ("sync_status", "category"), ("sync_change_counter", "int"), ("syncable", "bool"), ("deleted", "bool"),
    ("error", "str"),
]  # fmt: skip
HISTORY_SPEC = [
    ("id", "str"), ("url", "str"), ("title", "str"), ("visit_count", "int"), ("last_visit", "us"),
    ("frecency", "int"), ("hidden", "bool"), ("typed", "bool"), ("bookmarked", "bool"), ("error", "str"),
]  # fmt: skip
VISIT_SPEC = [("id", "str"), ("url", "str"), ("date", "us"), ("type", "int"), ("transition", "category"),
              ("visit_id", "int"), ("from_visit", "int")]  # fmt: skip
FORM_SPEC = [("id", "str"), ("name", "str"), ("value", "str"), ("times_used", "int"), ("first_used", "us"),
             ("last_used", "us"), ("deleted", "bool"), ("error", "str")]  # fmt: skip
MIRROR_SPEC = [
    ("id", "str"), ("guid", "str"), ("type", "category"), ("parent_id", "str"), ("position", "int"),
    ("title", "str"), ("url", "str"), ("keyword", "str"), ("date_added", "ms"), ("server_modified", "ms"),
    ("needs_merge", "bool"), ("validity", "category"), ("deleted", "bool"),
]  # fmt: skip


def _require(con: sqlite3.Connection, path: Path, table: str, what: str) -> None:
    if table not in tables(con):
        raise ProfileFileError(path, f"has no {table} table: it is not {what}",
                               "pass the profile folder that holds Firefox's own copy")  # fmt: skip


def schema_version(con: sqlite3.Connection) -> int:
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def read_bookmarks(con: sqlite3.Connection, path: Path) -> pd.DataFrame:
    with reading(path):
        _require(con, path, "moz_bookmarks", "a Places database (places.sqlite)")
        have = columns(con, "moz_bookmarks")
        b = {
            c: (f"b.{c}" if c in have else "NULL")
            for c in ("dateAdded", "lastModified", "syncStatus", "syncChangeCounter")
        }
        sql = f"""
        SELECT {_sync_id("b.guid")}, b.guid,
          CASE b.type WHEN 1 THEN CASE WHEN h.url LIKE 'place:%' THEN 'query' ELSE 'bookmark' END
                      WHEN 2 THEN 'folder' WHEN 3 THEN 'separator' ELSE 'type ' || b.type END,
          {_sync_id("p.guid")}, b.position, b.title, h.url,
          (SELECT k.keyword FROM moz_keywords k WHERE k.place_id = b.fk LIMIT 1),
          {b["dateAdded"]}, {b["lastModified"]},
          CASE {b["syncStatus"]} WHEN 0 THEN 'unknown' WHEN 1 THEN 'new' WHEN 2 THEN 'normal' END,
          {b["syncChangeCounter"]},
          NOT (b.guid IN ('root________', 'tags________') OR coalesce(p.guid, '') = 'tags________'
               OR coalesce(gp.guid, '') = 'tags________'),
          0,
          CASE WHEN b.guid IS NULL THEN 'no guid: Places fixes this on its next maintenance'
               WHEN b.guid <> 'root________' AND p.id IS NULL
                 THEN 'its parent (moz_bookmarks id ' || b.parent || ') does not exist'
               WHEN b.type = 1 AND h.url IS NULL THEN 'a bookmark without a url (its moz_places row is missing)'
          END
        FROM moz_bookmarks b
        LEFT JOIN moz_bookmarks p ON p.id = b.parent
        LEFT JOIN moz_bookmarks gp ON gp.id = p.parent
        LEFT JOIN moz_places h ON h.id = b.fk
        ORDER BY b.parent, b.position
        """
        rows = con.execute(sql).fetchall()
        if "moz_bookmarks_deleted" in tables(con):
            rows += con.execute(
                "SELECT guid, guid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, dateRemoved, NULL, NULL, 1, 1, NULL"
                " FROM moz_bookmarks_deleted ORDER BY dateRemoved"
            ).fetchall()
    df = _frame.frame(rows, BOOKMARK_SPEC, source=str(path), kind="bookmarks")
    df.attrs["synctools"]["note"] = "last_modified of a deleted row is when it was removed (moz_bookmarks_deleted)"
    return df


def read_mirror(con: sqlite3.Connection, path: Path) -> pd.DataFrame:
    """The synced-bookmarks mirror (weave/bookmarks.sqlite): the server's tree as Firefox
    last downloaded it, which it merges with Places (SyncedBookmarksMirror.sys.mjs)."""
    with reading(path):
        _require(con, path, "items", "Firefox's synced-bookmarks mirror (weave/bookmarks.sqlite)")
        have = columns(con, "items")
        sql = f"""
        SELECT {_sync_id("i.guid")}, i.guid,
          CASE i.kind WHEN 1 THEN 'bookmark' WHEN 2 THEN 'query' WHEN 3 THEN 'folder' WHEN 4 THEN 'livemark'
                      WHEN 5 THEN 'separator' END,
          {_sync_id("s.parentGuid")}, s.position, {pick(have, ["title"], "i")}, u.url, {pick(have, ["keyword"], "i")},
          {pick(have, ["dateAdded", "serverModified", "needsMerge"], "i")},
          CASE i.validity WHEN 1 THEN 'valid' WHEN 2 THEN 'reupload' WHEN 3 THEN 'replace' END,
          {pick(have, ["isDeleted"], "i")}
        FROM items i LEFT JOIN structure s ON s.guid = i.guid LEFT JOIN urls u ON u.id = i.urlId
        ORDER BY s.parentGuid, s.position
        """
        rows = con.execute(sql).fetchall()
    return _frame.frame(rows, MIRROR_SPEC, source=str(path), kind="bookmarks")


def _us(value: Any) -> int | None:
    """A date bound (datetime, Timestamp, ISO string, or µs) to PRTime µs."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str | datetime | pd.Timestamp):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        return int(ts.value // 1000)
    raise TypeError(
        f"a date bound should be a datetime, a pandas Timestamp, an ISO string or µs, not {type(value).__name__}"
    )


def _where(since: Any, until: Any, column: str, url: str | None, url_column: str) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    if _us(since) is not None:
        parts.append(f"{column} >= ?")
        params.append(_us(since))
    if _us(until) is not None:
        parts.append(f"{column} < ?")
        params.append(_us(until))
    if url:
        parts.append(f"instr({url_column}, ?) > 0")
        params.append(url)
    return (" AND ".join(parts) or "1"), params


def _limit(limit: int | None) -> int:
    if limit is None:
        return -1
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer or None, not {limit!r}")
    return limit


def _capped(df: pd.DataFrame, limit: int, total: int | None) -> pd.DataFrame:
    df.attrs["synctools"]["limit"] = None if limit < 0 else limit
    df.attrs["synctools"]["truncated"] = limit >= 0 and len(df) == limit and (total is None or total > limit)
    return df


def read_history(con: sqlite3.Connection, path: Path, *, limit: int | None, since: Any, until: Any,
                 url: str | None, unvisited: bool) -> pd.DataFrame:  # fmt: skip
    n = _limit(limit)
    where, params = _where(since, until, "h.last_visit_date", url, "h.url")
    if not unvisited:
        where += " AND h.last_visit_date IS NOT NULL"
    with reading(path):
        _require(con, path, "moz_places", "a Places database (places.sqlite)")
        have = columns(con, "moz_places")
        sql = f"""
        SELECT h.guid, h.url, h.title, h.visit_count, h.last_visit_date, {pick(have, ["frecency"], "h")},
               h.hidden, h.typed, {"h.foreign_count > 0" if "foreign_count" in have else "NULL"},
               CASE WHEN h.guid IS NULL THEN 'no guid' WHEN h.url IS NULL THEN 'no url' END
        FROM moz_places h WHERE {where} ORDER BY h.last_visit_date DESC {"LIMIT ?" if n >= 0 else ""}
        """
        rows = con.execute(sql, [*params, n] if n >= 0 else params).fetchall()
        total = None
        if n >= 0 and len(rows) == n:
            total = con.execute(f"SELECT count(*) FROM moz_places h WHERE {where}", params).fetchone()[0]
    return _capped(_frame.frame(rows, HISTORY_SPEC, source=str(path), kind="history"), n, total)


def read_visits(con: sqlite3.Connection, path: Path, *, limit: int | None, since: Any, until: Any,
                url: str | None) -> pd.DataFrame:  # fmt: skip
    n = _limit(limit)
    where, params = _where(since, until, "v.visit_date", url, "h.url")
    with reading(path):
        _require(con, path, "moz_historyvisits", "a Places database (places.sqlite)")
        sql = f"""
        SELECT h.guid, h.url, v.visit_date, v.visit_type, v.visit_type, v.id, v.from_visit
        FROM moz_historyvisits v JOIN moz_places h ON h.id = v.place_id
        WHERE {where} ORDER BY v.visit_date DESC {"LIMIT ?" if n >= 0 else ""}
        """
        rows = con.execute(sql, [*params, n] if n >= 0 else params).fetchall()
        total = None
        if n >= 0 and len(rows) == n:
            count = f"SELECT count(*) FROM moz_historyvisits v JOIN moz_places h ON h.id = v.place_id WHERE {where}"
            total = con.execute(count, params).fetchone()[0]
    names = [
        TRANSITIONS[t - 1] if isinstance(t, int) and 1 <= t <= len(TRANSITIONS) else None for _, _, _, t, *_ in rows
    ]
    rows = [(*r[:4], name, *r[5:]) for r, name in zip(rows, names)]
    df = _frame.frame(rows, VISIT_SPEC, source=str(path), kind="history")
    df["transition"] = pd.Categorical(df["transition"], categories=list(TRANSITIONS))
    return _capped(df, n, total)


def read_forms(con: sqlite3.Connection, path: Path) -> pd.DataFrame:
    with reading(path):
        _require(con, path, "moz_formhistory", "Firefox's form history (formhistory.sqlite)")
        rows = con.execute(
            "SELECT guid, fieldname, value, timesUsed, firstUsed, lastUsed, 0,"
            " CASE WHEN guid IS NULL THEN 'no guid' END FROM moz_formhistory ORDER BY id"
        ).fetchall()
        if "moz_deleted_formhistory" in tables(con):
            rows += con.execute(
                "SELECT guid, NULL, NULL, NULL, NULL, timeDeleted, 1, NULL FROM moz_deleted_formhistory ORDER BY id"
            ).fetchall()
    return _frame.frame(rows, FORM_SPEC, source=str(path), kind="forms")
