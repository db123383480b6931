"""A synthetic Firefox profile for an account synctools downloaded: for the demo and notebook 05.

``write_demo_profile(folder, sync)`` writes what a Firefox that synced ``sync``'s account
a while ago would hold, in Firefox's own file formats (places.sqlite with the Places
schema of Firefox 153, formhistory.sqlite, logins.json, prefs.js, signedInUser.json,
weave/logs, a pending sync ping), with differences planted so every comparison and
device check has something to show (:data:`PLANTED` names them). It is synthetic: real
profiles made by a real Firefox are in tests/device/fixtures and tests/firefox.

``places_schema(con)`` creates the Places tables; the benchmark fills them in bulk.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from .places import ROOTS

PLACES_SCHEMA = """
CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, rev_host LONGVARCHAR,
  visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL, typed INTEGER DEFAULT 0 NOT NULL,
  frecency INTEGER DEFAULT -1 NOT NULL, last_visit_date INTEGER, guid TEXT, foreign_count INTEGER DEFAULT 0 NOT NULL,
  url_hash INTEGER DEFAULT 0 NOT NULL, description TEXT, preview_image_url TEXT, site_name TEXT, origin_id INTEGER,
  recalc_frecency INTEGER NOT NULL DEFAULT 0, alt_frecency INTEGER, recalc_alt_frecency INTEGER NOT NULL DEFAULT 0);
CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER, visit_date INTEGER,
  visit_type INTEGER, session INTEGER, source INTEGER DEFAULT 0 NOT NULL, triggeringPlaceId INTEGER);
CREATE TABLE moz_bookmarks (id INTEGER PRIMARY KEY, type INTEGER, fk INTEGER DEFAULT NULL, parent INTEGER,
  position INTEGER, title LONGVARCHAR, keyword_id INTEGER, folder_type TEXT, dateAdded INTEGER, lastModified INTEGER,
  guid TEXT, syncStatus INTEGER NOT NULL DEFAULT 0, syncChangeCounter INTEGER NOT NULL DEFAULT 1);
CREATE TABLE moz_bookmarks_deleted (guid TEXT PRIMARY KEY, dateRemoved INTEGER NOT NULL DEFAULT 0);
CREATE TABLE moz_keywords (id INTEGER PRIMARY KEY AUTOINCREMENT, keyword TEXT UNIQUE, place_id INTEGER, post_data TEXT);
CREATE TABLE moz_meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
CREATE INDEX moz_places_guid_uniqueindex ON moz_places (guid);
CREATE INDEX moz_historyvisits_placedateindex ON moz_historyvisits (place_id, visit_date);
CREATE INDEX moz_bookmarks_guid_uniqueindex ON moz_bookmarks (guid);
CREATE INDEX moz_bookmarks_itemindex ON moz_bookmarks (fk, type);
PRAGMA user_version = 86;
"""
FORMS_SCHEMA = """
CREATE TABLE moz_formhistory (id INTEGER PRIMARY KEY, fieldname TEXT NOT NULL, value TEXT NOT NULL, timesUsed INTEGER,
  firstUsed INTEGER, lastUsed INTEGER, guid TEXT);
CREATE TABLE moz_deleted_formhistory (id INTEGER PRIMARY KEY, timeDeleted INTEGER, guid TEXT);
PRAGMA user_version = 5;
"""
PLACES_GUID = {sync: guid for guid, sync in ROOTS.items()}
#: what write_demo_profile plants, by name: the record ids are in its return value
PLANTED = (
    "bookmark added on the device, never uploaded (missing_on_server, device.never-uploaded)",
    "server bookmark the device has not applied (missing_on_device)",
    "bookmark deleted on the device, live on the server (deleted_on_one_side)",
    "bookmark renamed on the device (differs: title)",
    "login saved on the device, never uploaded (missing_on_server, device.never-uploaded)",
    "addons switched off on the device, enabled in meta/global (device.engines-disagree)",
    "a failed sync: 503 with Retry-After 3600, backoff (device.sync-failing, device.backoff)",
    "a history record Firefox refused: not a valid URL (device.records-refused)",
    "the device's clock 3 minutes ahead of the server's (device.clock-skew)",
)


def places_schema(con: sqlite3.Connection) -> None:
    con.executescript(PLACES_SCHEMA)


def _us(ms: float) -> int:
    return int(ms * 1000)


def write_demo_profile(folder: str | Path, sync: Any, *, now: float | None = None) -> dict[str, str]:
    """Write a synthetic profile of ``sync``'s account into ``folder`` (created; must be
    empty). ``sync`` must have downloaded bookmarks, passwords, forms and history.
    Returns the planted record ids by role."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: write_demo_profile writes a whole profile into an empty folder")
    now_ms = (time.time() if now is None else now) * 1000
    bookmarks = {k: v for k, v in sync.records("bookmarks").items() if not v.get("deleted")}
    planted: dict[str, str] = {}
    live = [
        r
        for r in bookmarks.values()
        if r.get("type") == "bookmark" and r.get("parentid") in bookmarks and r.get("bmkUri")
    ]
    live.sort(key=lambda r: r["id"])
    planted["missing_on_device"], planted["deleted_on_device"], planted["renamed"] = (r["id"] for r in live[:3])
    planted["new_bookmark"] = "deviceOnly01"
    _places(out / "places.sqlite", bookmarks, sync.records("history"), planted, now_ms)
    _forms(out / "formhistory.sqlite", sync.records("forms"), now_ms)
    planted["new_login"] = _logins(out / "logins.json", sync.records("passwords"), now_ms)
    history = sorted(sync.records("history"))
    planted["refused_history"] = history[0] if history else "noHistory000"
    email = getattr(sync.session, "email", None) or "demo@example.com"
    uid = getattr(sync.session, "uid", None) or uuid.uuid4().hex
    (out / "signedInUser.json").write_text(json.dumps({"version": 1, "accountData": {
        "uid": uid, "email": email, "verified": True,
        "device": {"id": uuid.uuid5(uuid.NAMESPACE_URL, email).hex, "registrationVersion": 2}}}), "utf-8")  # fmt: skip
    (out / "compatibility.ini").write_text("[Compatibility]\nLastVersion=153.8.0_20261117185949/20261117185949\n"
                                           "LastOSABI=Linux_x86_64-gcc3\n", "utf-8")  # fmt: skip
    node = sync.token.api_endpoint.rstrip("/") + "/" if sync.token else "http://127.0.0.1:8000/storage/1.5/1/"
    meta = sync.meta_global
    prefs = {
        "services.sync.username": email,
        "services.sync.client.GUID": "demoDevice01",
        "identity.fxaccounts.account.device.name": "Demo's Firefox on laptop",
        "services.sync.declinedEngines": ",".join(sorted(meta.declined)) if meta else "",
        "services.sync.engine.addons": False,
        "services.sync.engine.creditcards.available": True,
        "services.sync.lastSync": time.strftime(
            "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(now_ms / 1000 - 7200)
        ),
        "identity.sync.tokenserver.uri": getattr(sync, "token_url", ""),
    }
    (out / "prefs.js").write_text("// Mozilla User Preferences\n\n" + "".join(
        f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in sorted(prefs.items())), "utf-8")  # fmt: skip
    _logs(out / "weave" / "logs", node, planted, now_ms)
    _ping(out / "datareporting" / "glean" / "pending_pings", now_ms)
    return planted


def _places(path: Path, bookmarks: dict[str, dict[str, Any]], history: dict[str, dict[str, Any]],
            planted: dict[str, str], now_ms: float) -> None:  # fmt: skip
    added = _us(now_ms - 86_400_000 * 30)
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        places_schema(con)
        ids: dict[str, int] = {}
        rows: list[tuple[Any, ...]] = []
        urls: list[tuple[Any, ...]] = []
        kw: list[tuple[int, dict[str, Any]]] = []

        def add(
            sync_id: str, rec: dict[str, Any], parent: int | None, position: int, status: int = 2, counter: int = 0
        ) -> None:
            kind = {"bookmark": 1, "query": 1, "folder": 2, "separator": 3}.get(rec.get("type", ""), 1)
            fk = None
            if kind == 1:
                fk = len(urls) + 1
                urls.append((fk, rec.get("bmkUri"), rec.get("title"), f"u{fk:011d}"))
                kw.append((fk, rec))
            ids[sync_id] = len(rows) + 1
            title = rec.get("title") if sync_id != planted["renamed"] else "Renamed on this device"
            rows.append(
                (
                    ids[sync_id],
                    kind,
                    fk,
                    parent,
                    position,
                    title,
                    added,
                    added,
                    PLACES_GUID.get(sync_id, sync_id),
                    status,
                    1 if sync_id == planted["renamed"] else counter,
                )
            )

        add("places", {"type": "folder", "title": ""}, 0, 0)
        for n, root in enumerate(["menu", "toolbar", "tags", "unfiled", "mobile"]):
            add(root, {"type": "folder", "title": root}, 1, n)
        skip = {planted["missing_on_device"], planted["deleted_on_device"]}
        pending = [r for r in ["menu", "toolbar", "unfiled", "mobile"]]
        while pending:
            folder = pending.pop(0)
            kids = [c for c in bookmarks.get(folder, {}).get("children") or [] if c in bookmarks and c not in ids]
            kids = [c for c in kids if bookmarks[c].get("parentid") == folder and c not in skip]
            for pos, cid in enumerate(kids):
                add(cid, bookmarks[cid], ids[folder], pos)
                if bookmarks[cid].get("type") == "folder":
                    pending.append(cid)
        toolbar_kids = sum(1 for r in rows if r[3] == ids["toolbar"])
        add(
            planted["new_bookmark"],
            {
                "type": "bookmark",
                "title": "Added on this device, never uploaded",
                "bmkUri": "https://example.com/device-only",
            },
            ids["toolbar"],
            toolbar_kids,
            1,
            1,
        )
        keywords = [(rec.get("keyword"), fk) for fk, rec in kw if rec.get("keyword")]
        con.executemany("INSERT OR IGNORE INTO moz_keywords (keyword, place_id) VALUES (?, ?)", keywords)
        con.executemany(
            "INSERT INTO moz_bookmarks (id, type, fk, parent, position, title, dateAdded, lastModified, guid,"
            " syncStatus, syncChangeCounter) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        con.execute(
            "INSERT INTO moz_bookmarks_deleted VALUES (?, ?)", (planted["deleted_on_device"], _us(now_ms - 3_600_000))
        )
        for rid, rec in sorted(history.items()):
            visits = [v for v in rec.get("visits") or [] if isinstance(v, dict) and isinstance(v.get("date"), int)]
            if rec.get("deleted") or not visits or not isinstance(rec.get("histUri"), str):
                continue
            pid = len(urls) + 1
            urls.append((pid, rec["histUri"], rec.get("title"), rid, len(visits), max(v["date"] for v in visits)))
            con.executemany("INSERT INTO moz_historyvisits (place_id, visit_date, visit_type) VALUES (?,?,?)",
                            [(pid, v["date"], v.get("type", 1)) for v in visits])  # fmt: skip
        con.executemany(
            "INSERT INTO moz_places (id, url, title, guid, visit_count, last_visit_date, foreign_count)"
            " VALUES (?,?,?,?,?,?,?)",
            [(*u[:4], *(u[4:] or (0, None)), 0 if len(u) > 4 else 1) for u in urls],
        )


def _forms(path: Path, forms: dict[str, dict[str, Any]], now_ms: float) -> None:
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.executescript(FORMS_SCHEMA)
        used = _us(now_ms - 86_400_000)
        con.executemany(
            "INSERT INTO moz_formhistory (fieldname, value, timesUsed, firstUsed, lastUsed, guid) VALUES (?,?,?,?,?,?)",
            [
                (r.get("name") or "", r.get("value") or "", 1, used, used, rid)
                for rid, r in sorted(forms.items())
                if not r.get("deleted")
            ],
        )


def _logins(path: Path, passwords: dict[str, dict[str, Any]], now_ms: float) -> str:
    """logins.json as Firefox writes it; the 'encrypted' fields are placeholders (never a password)."""
    logins = []
    for n, (rid, r) in enumerate(sorted(passwords.items()), 1):
        if r.get("deleted"):
            continue
        logins.append({"id": n, "hostname": r.get("hostname"), "httpRealm": r.get("httpRealm"),
                       "formSubmitURL": r.get("formSubmitURL"), "usernameField": r.get("usernameField", ""),
                       "passwordField": r.get("passwordField", ""), "encryptedUsername": "MDIEEPgAAAAA-placeholder",
                       "encryptedPassword": "MDIEEPgAAAAA-placeholder", "guid": rid, "encType": 1,
                       "timeCreated": r.get("timeCreated"), "timeLastUsed": r.get("timeLastUsed"),
                       "timePasswordChanged": r.get("timePasswordChanged"), "timesUsed": r.get("timesUsed", 1),
                       "syncCounter": 0, "everSynced": True})  # fmt: skip
    guid = "{00000000-d3e0-4c1e-9e5a-0000000000aa}"
    logins.append(
        {
            "id": len(logins) + 1,
            "hostname": "https://new-on-device.example",
            "httpRealm": None,
            "formSubmitURL": "https://new-on-device.example",
            "usernameField": "user",
            "passwordField": "pass",
            "encryptedUsername": "MDIEEPgAAAAA-placeholder",
            "encryptedPassword": "MDIEEPgAAAAA-placeholder",
            "guid": guid,
            "encType": 1,
            "timeCreated": int(now_ms),
            "timeLastUsed": int(now_ms),
            "timePasswordChanged": int(now_ms),
            "timesUsed": 1,
            "syncCounter": 1,
            "everSynced": False,
        }
    )
    path.write_text(json.dumps({"nextId": len(logins) + 1, "logins": logins, "version": 3}), "utf-8")
    return guid


def _logs(folder: Path, node: str, planted: dict[str, str], now_ms: float) -> None:
    folder.mkdir(parents=True)
    ok, bad = int(now_ms - 7_200_000), int(now_ms - 600_000)
    token = node.split("/storage/")[0] + "/token/1.0/sync/1.5"

    def lines(t0: int, entries: list[tuple[str, str, str]]) -> str:
        return "".join(f"{t0 + i * 7}\t{logger}\t{level}\t{msg}\n" for i, (logger, level, msg) in enumerate(entries))

    success = [
        ("Sync.Service", "INFO", "Starting sync at 2026-11-30 07:00:00 in browser session demoSession1"),
        ("Sync.SyncAuthManager", "INFO", f"Getting a sync token from: {token}"),
        ("Services.Common.RESTRequest", "DEBUG", f"GET {token} 200"),
        ("Sync.SyncAuthManager", "DEBUG", f"Setting cluster to {node}"),
        ("Sync.Resource", "DEBUG", f"GET success 200 {node}info/collections"),
        (
            "Sync.Engine.Bookmarks",
            "INFO",
            "Records: 3 applied, 3 successfully, 0 failed to apply, 0 newly failed to apply, 0 reconciled.",
        ),
        ("Sync.Engine.Bookmarks", "INFO", "Uploading 0 outgoing records"),
        (
            "Sync.Engine.History",
            "INFO",
            "Records: 12 applied, 11 successfully, 1 failed to apply, 1 newly failed to apply, 0 reconciled.",
        ),
        (
            "Sync.Engine.History",
            "WARN",
            f"Failed to apply incoming record {planted['refused_history']}: TypeError: "
            "URL constructor: htp//broken is not a valid URL.",
        ),
        ("Sync.Engine.History", "INFO", "Uploading 0 outgoing records"),
        ("Sync.Synchronizer", "INFO", "Sync completed at 2026-11-30 07:00:01 after 0.84 secs."),
        ("Sync.SyncScheduler", "DEBUG", "Next sync in 3600000 ms. (why=schedule)"),
    ]
    error = [
        ("Sync.Service", "INFO", "Starting sync at 2026-11-30 08:50:00 in browser session demoSession1"),
        ("Hawk", "DEBUG", f"Clock offset vs {token.split('/token')[0]}/v1: -180000"),
        ("Sync.Resource", "DEBUG", f"GET fail 503 {node}info/collections"),
        ("Sync.Resource", "WARN", f"GET request to {node}info/collections failed with status 503"),
        ("Sync.ErrorHandler", "DEBUG", "Got Retry-After: 3600"),
        ("Sync.Status", "DEBUG", "Status.sync: success.sync => error.sync.reason.serverMaintenance"),
        ("Sync.SyncScheduler", "DEBUG", "Got backoff notification: 3600000ms"),
        ("Sync.Service", "ERROR", "Aborting sync: failed to get collections."),
        (
            "Sync.ErrorHandler",
            "ERROR",
            'Sync encountered an error: {"status":503,"url":"' + node + 'info/collections"}',
        ),
        ("Sync.SyncScheduler", "DEBUG", "Starting client-initiated backoff. Next sync in 3600000 ms."),
    ]
    (folder / f"success-sync-{ok + 100}.txt").write_text(lines(ok, success), "utf-8")
    (folder / f"error-sync-{bad + 100}.txt").write_text(lines(bad, error), "utf-8")


def _ping(folder: Path, now_ms: float) -> None:
    folder.mkdir(parents=True)
    ping = str(uuid.UUID(int=0xDE70))
    syncs = [{"when": int(now_ms - 7_200_000), "took": 840, "why": "schedule", "engines": [
                 {"name": "bookmarks-buffered", "took": 120, "incoming": {"applied": 3}},
                 {"name": "history", "took": 300, "incoming": {"applied": 12, "failed": 1,
                  "failedReasons": [{"name": "TypeError: URL constructor: is not a valid URL.", "count": 1}]}}]},
             {"when": int(now_ms - 600_000), "took": 20, "why": "schedule",
              "failureReason": {"name": "httperror", "code": 503},
              "status": {"sync": "error.sync.reason.serverMaintenance", "service": "error.sync.failed"}}]  # fmt: skip
    body = {"ping_info": {"seq": 0, "reason": "schedule"}, "client_info": {"app_display_version": "153.8.0esr"},
            "metrics": {"object": {"syncs.syncs": syncs}, "string": {"syncs.sync_node_type": "spanner"}}}  # fmt: skip
    (folder / ping).write_text(f"/submit/firefox-desktop/sync/1/{ping}\n{json.dumps(body)}\n", "utf-8")
