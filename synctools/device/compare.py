"""A profile's records next to the server's: what about:sync's validators report.

For bookmarks, passwords, forms and history, each record id that the two sides do not
agree on is a row:

- ``missing_on_server``: the device has it (live), the server has no record;
- ``missing_on_device``: the server has a live record, the device has nothing;
- ``deleted_on_one_side``: one side holds a tombstone, the other a live record
  (``deleted_on`` says which side deleted it);
- ``differs``: both are live and ``fields`` lists what differs: ``parent_id``,
  ``children`` (a folder's children or their order), ``url``, ``title``, ``type``, …;
- ``server_undecryptable``: the server's record does not decrypt, so nothing can be
  compared (the doctor's records checks say why).

Each row carries both versions (``device`` and ``server``, dicts in the same field names),
the server's with secrets masked by the engines' one policy. Records are compared in
Sync's own terms: bookmark roots by their Sync names, folders by the ids of their
children in order, logins without ever reading a password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from synctools import engines

from .errors import DeviceError

if TYPE_CHECKING:  # pragma: no cover
    from .profile import Profile

PROBLEMS = ("missing_on_server", "missing_on_device", "deleted_on_one_side", "differs", "server_undecryptable")
COLLECTIONS = ("bookmarks", "passwords", "forms", "history")
COLUMNS = ["id", "problem", "fields", "deleted_on", "detail", "device", "server"]
ROOTS = ("menu", "toolbar", "unfiled", "mobile")


def _blank(v: Any) -> Any:
    """Missing, NaN and "" are the same absence on both sides."""
    if v is None or v == "" or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None
    return v


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _blank(v) for k, v in r.items()} for r in df.to_dict("records")]


# ------------------------------------------------------------------ each side, in one shape
# device(profile) and server(record) give {id: (deleted, fields)}; FIELDS are compared


def _device_bookmarks(p: Profile) -> dict[str, tuple[bool, dict[str, Any]]]:
    df = p.bookmarks()
    rows = [r for r in _rows(df) if r["syncable"] is not False and r["id"] and r["id"] != "places"]
    children: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        if not r["deleted"] and r["parent_id"]:
            children.setdefault(r["parent_id"], []).append(
                (r["position"] if r["position"] is not None else -1, r["id"])
            )
    out = {}
    for r in rows:
        fields = {
            "type": r["type"],
            "title": r["title"],
            "url": r["url"],
            "parent_id": r["parent_id"],
            "keyword": r["keyword"],
            "sync_status": r["sync_status"],
            "sync_change_counter": r["sync_change_counter"],
        }
        if r["type"] == "folder":
            fields["children"] = [cid for _, cid in sorted(children.get(r["id"], []))]
        out[r["id"]] = (bool(r["deleted"]), fields)
    return out


def _server_bookmark(rec: Mapping[str, Any]) -> dict[str, Any]:
    fields = {"type": rec.get("type"), "title": rec.get("title"), "url": rec.get("bmkUri"),
              "parent_id": rec.get("parentid"), "keyword": rec.get("keyword")}  # fmt: skip
    if rec.get("type") == "folder" or "children" in rec:
        fields["children"] = list(rec.get("children") or [])
    return fields


def _device_passwords(p: Profile) -> dict[str, tuple[bool, dict[str, Any]]]:
    out = {}
    for r in _rows(p.logins()):
        if r["syncable"] is False or not r["id"]:
            continue
        out[r["id"]] = (bool(r["deleted"]), {
            "origin": r["origin"], "form_action": r["form_action"], "realm": r["realm"],
            "username_field": r["username_field"], "password_field": r["password_field"],
            "time_password_changed": _ms(r["time_password_changed"]),
            "sync_counter": r["sync_counter"], "ever_synced": r["ever_synced"],
        })  # fmt: skip
    return out


def _server_password(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {"origin": rec.get("hostname"), "form_action": rec.get("formSubmitURL"), "realm": rec.get("httpRealm"),
            "username_field": rec.get("usernameField"), "password_field": rec.get("passwordField"),
            "time_password_changed": rec.get("timePasswordChanged")}  # fmt: skip


def _device_forms(p: Profile) -> dict[str, tuple[bool, dict[str, Any]]]:
    return {
        r["id"]: (bool(r["deleted"]), {"name": r["name"], "value": r["value"]}) for r in _rows(p.forms()) if r["id"]
    }


def _server_form(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": rec.get("name"), "value": rec.get("value")}


def _device_history(p: Profile) -> dict[str, tuple[bool, dict[str, Any]]]:
    return {r["id"]: (False, {"url": r["url"], "title": r["title"], "last_visit": _us(r["last_visit"])})
            for r in _rows(p.history(limit=None)) if r["id"]}  # fmt: skip


def _server_history(rec: Mapping[str, Any]) -> dict[str, Any]:
    dates: list[int] = [
        v["date"] for v in rec.get("visits") or [] if isinstance(v, dict) and isinstance(v.get("date"), int)
    ]
    return {"url": rec.get("histUri"), "title": rec.get("title"), "last_visit": max(dates) if dates else None}


def _ms(ts: Any) -> int | None:
    return None if ts is None else int(pd.Timestamp(ts).value // 1_000_000)


def _us(ts: Any) -> int | None:
    return None if ts is None else int(pd.Timestamp(ts).value // 1_000)


SIDES: dict[
    str,
    tuple[
        Callable[[Any], dict[str, tuple[bool, dict[str, Any]]]],
        Callable[[Mapping[str, Any]], dict[str, Any]],
        tuple[str, ...],
    ],
] = {
    "bookmarks": (_device_bookmarks, _server_bookmark, ("type", "parent_id", "children", "url", "title", "keyword")),
    "passwords": (
        _device_passwords,
        _server_password,
        ("origin", "form_action", "realm", "username_field", "password_field", "time_password_changed"),
    ),
    "forms": (_device_forms, _server_form, ("name", "value")),
    "history": (_device_history, _server_history, ("url", "title", "last_visit")),
}


def _differs(collection: str, rid: str, dev: dict[str, Any], srv: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    out = []
    for f in fields:
        a, b = _blank(dev.get(f)), _blank(srv.get(f))
        if f == "children" and ("children" not in dev or "children" not in srv):
            continue
        if collection == "bookmarks" and rid in ROOTS and f in ("title", "parent_id"):
            continue  # roots: Firefox names them locally; their parent is the unsynced places root
        if collection == "history" and f == "last_visit" and (a is None or b is None):
            continue
        if a != b:
            out.append(f)
    return out


def compare(profile: Profile | str, collection: str, records: Mapping[str, Mapping[str, Any]],
            undecryptable: Iterable[str] = ()) -> pd.DataFrame:  # fmt: skip
    """``profile``'s ``collection`` against the server's decrypted ``records`` (id ->
    cleartext, tombstones ``{"deleted": true}`` included, as ``sync.records(collection)``
    returns them). ``undecryptable``: ids whose server record did not decrypt.

    Returns one row per disagreement (see the module docstring), sorted by problem and id.
    """
    from .profile import Profile

    if collection not in SIDES:
        raise DeviceError(f"cannot compare {collection!r}: synctools compares {', '.join(COLLECTIONS)}")
    if not isinstance(profile, Profile):
        profile = Profile(profile)
    device_of, server_of, fields = SIDES[collection]
    device = device_of(profile)
    bad = set(undecryptable)
    server: dict[str, tuple[bool, dict[str, Any]]] = {}
    for rid, rec in records.items():
        if collection == "bookmarks" and rid == "places":
            continue
        server[rid] = (bool(rec.get("deleted")), server_of(rec))
    rows: list[tuple[Any, ...]] = []
    for rid in sorted(set(device) | set(server) | bad):
        d, s = device.get(rid), server.get(rid)
        dv = d[1] if d else None
        sv = engines.mask(collection, s[1]) if s else None
        if rid in bad:
            rows.append(
                (
                    rid,
                    "server_undecryptable",
                    [],
                    None,
                    "the server's record does not decrypt: nothing to compare",
                    dv,
                    None,
                )
            )
        elif d is None and s is not None and not s[0]:
            rows.append(
                (
                    rid,
                    "missing_on_device",
                    [],
                    None,
                    "on the server, not in the profile: Firefox has not applied it (yet)",
                    None,
                    sv,
                )
            )
        elif s is None and d is not None and not d[0]:
            rows.append(
                (
                    rid,
                    "missing_on_server",
                    [],
                    None,
                    "in the profile, not on the server: Firefox has not uploaded it (yet)",
                    dv,
                    None,
                )
            )
        elif d is not None and s is not None and d[0] != s[0]:
            side = "device" if d[0] else "server"
            other = "server" if d[0] else "device"
            rows.append(
                (rid, "deleted_on_one_side", [], side, f"deleted on the {side}, still live on the {other}", dv, sv)
            )
        elif d is not None and s is not None and not d[0]:
            diff = _differs(collection, rid, d[1], s[1], fields)
            if diff:
                rows.append(
                    (
                        rid,
                        "differs",
                        diff,
                        None,
                        "; ".join(f"{f}: device {_show(d[1].get(f))} / server {_show(s[1].get(f))}" for f in diff),
                        dv,
                        sv,
                    )
                )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["id"] = df["id"].astype("str")
    df["problem"] = pd.Categorical(df["problem"], categories=list(PROBLEMS))
    df = df.sort_values(["problem", "id"], kind="stable").reset_index(drop=True)
    df.attrs["synctools"] = {"collection": collection, "frame": "compare", "secrets": [], "revealed": False,
                             "device": len(device), "server": len(server)}  # fmt: skip
    return df


def _show(v: Any, n: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 1] + "…"


def compare_with_sync(sync: Any, profile: Profile | str, collection: str) -> pd.DataFrame:
    """:func:`compare` with a :class:`~synctools.Sync`'s records of ``collection`` (it must
    have been downloaded: an empty answer would otherwise read as "all missing")."""
    records = sync.records(collection)
    errors = sync.errors(collection)
    download = sync.results.get("download")
    downloaded = {row["collection"] for row in getattr(download, "collections", [])}
    if not records and errors.empty and collection not in downloaded:
        raise DeviceError(f"{collection} was not downloaded: run sync.download([{collection!r}]) first, "
                          "so the comparison sees the server's records")  # fmt: skip
    return compare(profile, collection, records, undecryptable=list(errors["id"]))
