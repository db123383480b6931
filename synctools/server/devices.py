"""Device records and device commands of the accounts service, as fxa-auth-server keeps them.

What Firefox relies on (services/fxaccounts/FxAccountsDevice.sys.mjs, FxAccountsCommands.sys.mjs)
and how fxa-auth-server answers (lib/routes/devices-and-sessions.js, lib/pushbox/db.ts):

- A device belongs to one session token; the server allocates its id. ``POST
  /account/device`` without ``id`` updates the session's own device or creates one; with an
  ``id`` it updates that device, which must be one of the account's (else errno 123, upon
  which Firefox forgets its id and registers afresh) and may not move to a session that
  already has another device (errno 124).
- Device records always carry ``pushCallback``/``pushPublicKey``/``pushAuthKey`` (``null``
  when unset) and ``pushEndpointExpired``: Firefox re-registers when ``pushCallback ===
  null``, so a missing field and ``null`` differ.
- ``GET /account/devices?filterIdleDevicesTimestamp=T`` lists only devices used after T.
- ``POST /account/devices/invoke_command`` queues a command for a device that advertised it
  in ``availableCommands`` (else errno 157); ``GET /account/device/commands?index=&limit=``
  pages through the caller's queue with pushbox's ``{index, last, messages}``. The stack
  has no push service: a queued command waits until the device polls, as on FxA for a
  device without a push subscription (which FxA also answers ``notified: true``).
- ``POST /account/device/destroy`` removes the device and signs its session out.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .accounts import AccountsService, TokenRow, fxa_error
from .accounts import request_body as _body
from .http import Request, Response, json_response

Body = dict[str, Any]

DEVICE_ID = re.compile(r"[0-9a-f]{32}")
URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]+=*")
PUSH_FIELDS = ("pushCallback", "pushPublicKey", "pushAuthKey")
REGISTER_FIELDS = {"id", "name", "type", *PUSH_FIELDS, "availableCommands", "capabilities"}
# fxa-auth-server: open-uri commands live 30 days, others as long as pushbox keeps anything.
OPEN_URI = "https://identity.mozilla.com/cmd/open-uri"
DEFAULT_TTL = {OPEN_URI: 30 * 24 * 3600}
MAX_TTL = 28 * 24 * 3600
MAX_INVOKE_TTL = 10_000_000
MAX_LIMIT = 100


def _now_ms() -> int:
    return int(time.time() * 1000)


def invalid_param(name: str, why: str) -> Exception:
    return fxa_error(400, 107, f"Invalid parameter in request body: {name} ({why})")


def unknown_device() -> Exception:
    return fxa_error(400, 123, "Unknown device")


def _check_register(body: Body) -> Body:
    """The body of ``POST /account/device`` validated as fxa-auth-server does (Joi)."""
    extra = set(body) - REGISTER_FIELDS
    if extra:
        raise invalid_param(sorted(extra)[0], "not allowed")
    given = [f for f in PUSH_FIELDS if f in body]
    if given and len(given) != len(PUSH_FIELDS):
        raise invalid_param(given[0], "pushCallback, pushPublicKey and pushAuthKey go together")
    checks: dict[str, Callable[[Any], bool]] = {
        "id": lambda v: isinstance(v, str) and DEVICE_ID.fullmatch(v) is not None,
        "name": lambda v: isinstance(v, str) and 0 < len(v) <= 255,
        "type": lambda v: isinstance(v, str) and 0 < len(v) <= 16,
        "pushCallback": lambda v: isinstance(v, str) and len(v) <= 255 and urlsplit(v).scheme == "https",
        "pushPublicKey": lambda v: isinstance(v, str) and len(v) <= 88 and URLSAFE_B64.fullmatch(v) is not None,
        "pushAuthKey": lambda v: isinstance(v, str) and len(v) <= 24 and URLSAFE_B64.fullmatch(v) is not None,
        "availableCommands": lambda v: (
            isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
        ),
        # Some Firefox versions send an empty "capabilities" list; FxA accepts and drops it.
        "capabilities": lambda v: v == [],
    }
    for name, ok in checks.items():
        if name in body and not ok(body[name]):
            raise invalid_param(name, "wrong type, format or length")
    return {k: v for k, v in body.items() if k != "capabilities"}


class Devices:
    """The routes under ``/v1/account/device*``; records live in the accounts database."""

    def __init__(self, service: AccountsService):
        self.svc = service

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("POST", "/account/device"): self.register,
            ("GET", "/account/devices"): self.list,
            ("POST", "/account/devices/notify"): self.notify,
            ("POST", "/account/device/destroy"): self.destroy,
            ("POST", "/account/devices/invoke_command"): self.invoke_command,
            ("GET", "/account/device/commands"): self.commands,
        }

    # -- records ------------------------------------------------------------------
    def records(self, uid: str) -> list[tuple[dict[str, Any], str | None]]:
        """Every device of an account as ``(record, session token id)``."""
        rows = self.svc.db.conn().execute("SELECT record, session FROM devices WHERE uid=?", (uid,))
        return [(json.loads(record), session) for record, session in rows.fetchall()]

    def _own(self, session: TokenRow) -> dict[str, Any] | None:
        return next((r for r, s in self.records(session.uid) if s == session.token_id), None)

    def _save(self, conn: sqlite3.Connection, uid: str, session: str, record: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO devices(id, uid, session, record) VALUES(?,?,?,?) ON CONFLICT(id) "
            "DO UPDATE SET record=excluded.record, session=excluded.session",
            (record["id"], uid, session, json.dumps(record)),
        )

    def touch(self, session: TokenRow) -> None:
        """A device's ``lastAccessTime`` is its session's last use of these routes."""
        with self.svc.db.write() as conn:
            row = conn.execute("SELECT id, record FROM devices WHERE session=?", (session.token_id,)).fetchone()
            if row is not None:
                record = {**json.loads(row[1]), "lastAccessTime": _now_ms()}
                conn.execute("UPDATE devices SET record=? WHERE id=?", (json.dumps(record), row[0]))

    @staticmethod
    def forget_session(conn: sqlite3.Connection, token_id: str) -> None:
        """A destroyed session takes its device and the device's queued commands with it."""
        for (device_id,) in conn.execute("SELECT id FROM devices WHERE session=?", (token_id,)).fetchall():
            conn.execute("DELETE FROM device_commands WHERE device_id=?", (device_id,))
        conn.execute("DELETE FROM devices WHERE session=?", (token_id,))

    @staticmethod
    def _public(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": record["id"],
            "name": record.get("name", ""),
            "type": record.get("type", "desktop"),
            **{f: record.get(f) for f in PUSH_FIELDS},
            "pushEndpointExpired": bool(record.get("pushEndpointExpired")),
            "availableCommands": record.get("availableCommands") or {},
        }

    # -- routes -------------------------------------------------------------------
    def register(self, req: Request) -> Response:
        session = self.svc.verified_session(req)
        body = _check_register(_body(req))
        with self.svc.db.write() as conn:
            own = self._own(session)
            if "id" in body:
                row = conn.execute(
                    "SELECT record, session FROM devices WHERE id=? AND uid=?", (body["id"], session.uid)
                ).fetchone()
                if row is None:
                    raise unknown_device()
                if own is not None and own["id"] != body["id"]:
                    raise fxa_error(400, 124, "Session already registered by another device")
                current = json.loads(row[0])
            elif own is not None:
                current = own
            else:
                current = {"id": secrets.token_hex(16), "createdAt": _now_ms(), "type": "desktop"}
            push_changed = "pushCallback" in body and body["pushCallback"] != current.get("pushCallback")
            record = {**current, **body, "lastAccessTime": _now_ms()}
            if ("id" not in body and own is None) or push_changed:
                record["pushEndpointExpired"] = False
            self._save(conn, session.uid, session.token_id, record)
        return json_response(self._public(record))

    def list(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        self.touch(session)
        idle_before = _int_arg(req, "filterIdleDevicesTimestamp", default=None)
        out = []
        for record, owner in self.records(session.uid):
            last = record.get("lastAccessTime")
            if idle_before and (last is None or last <= idle_before):
                continue
            out.append({**self._public(record), "isCurrentDevice": owner == session.token_id, "lastAccessTime": last})
        return json_response(out)

    def notify(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        body = _body(req)
        to = body.get("to")
        ids_ok = isinstance(to, list) and all(isinstance(i, str) and DEVICE_ID.fullmatch(i) for i in to)
        if to != "all" and not ids_ok:
            raise invalid_param("to", '"all" or a list of device ids')
        if not isinstance(body.get("payload"), dict):
            raise invalid_param("payload", "an object")
        self.touch(session)
        return json_response({})  # no push service: nothing to deliver, as for devices without one

    def destroy(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        device_id = _body(req).get("id")
        if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
            raise invalid_param("id", "a device id")
        with self.svc.db.write() as conn:
            row = conn.execute("SELECT session FROM devices WHERE id=? AND uid=?", (device_id, session.uid))
            found = row.fetchone()
            if found is None:
                raise unknown_device()
            conn.execute("DELETE FROM device_commands WHERE device_id=?", (device_id,))
            conn.execute("DELETE FROM devices WHERE id=?", (device_id,))
            if found[0] is not None:
                conn.execute("DELETE FROM tokens WHERE token_id=? OR parent=?", (found[0], found[0]))
        return json_response({})

    def invoke_command(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        body = _body(req)
        target, command, payload = body.get("target"), body.get("command"), body.get("payload")
        if not isinstance(target, str) or not DEVICE_ID.fullmatch(target):
            raise invalid_param("target", "a device id")
        if not isinstance(command, str) or not command:
            raise invalid_param("command", "a string")
        if not isinstance(payload, dict):
            raise invalid_param("payload", "an object")
        ttl = body.get("ttl", DEFAULT_TTL.get(command, MAX_TTL))
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= MAX_INVOKE_TTL:
            raise invalid_param("ttl", f"an integer from 0 to {MAX_INVOKE_TTL}")
        ttl = min(ttl, MAX_TTL)
        device = next((r for r, _ in self.records(session.uid) if r["id"] == target), None)
        if device is None:
            raise unknown_device()
        if command not in (device.get("availableCommands") or {}):
            raise fxa_error(400, 157, "Unavailable device command")
        own = self._own(session)
        data = {"command": command, "payload": payload}
        if own is not None:  # FxA names the sender's device, if the sender has one
            data["sender"] = own["id"]
        with self.svc.db.write() as conn:
            conn.execute(
                "INSERT INTO device_commands(uid, device_id, data, expires) VALUES(?,?,?,?)",
                (session.uid, target, json.dumps(data), int(time.time()) + ttl),
            )
        self.touch(session)
        return json_response({"enqueued": True, "notified": True})

    def commands(self, req: Request) -> Response:
        session = self.svc.authenticate(req, "sessionToken")
        index = _int_arg(req, "index", default=None)
        limit = _int_arg(req, "limit", default=MAX_LIMIT)
        if limit is None or not 0 <= limit <= MAX_LIMIT:
            raise fxa_error(400, 107, f"Invalid parameter in request query: limit (0 to {MAX_LIMIT})")
        self.touch(session)
        own = self._own(session)
        if own is None:  # FxA asks pushbox for the session's device; without one there is nothing
            return json_response({"index": 0, "last": True, "messages": []})
        # pushbox (lib/pushbox/db.ts): unexpired messages from ``index`` on (an absent or zero
        # index means from the start), oldest first; ``index`` is the last one returned.
        conn = self.svc.db.conn()
        newest = conn.execute(
            "SELECT MAX(idx) FROM device_commands WHERE uid=? AND device_id=?", (session.uid, own["id"])
        ).fetchone()[0]
        rows = conn.execute(
            "SELECT idx, data FROM device_commands WHERE uid=? AND device_id=? AND expires>=? AND idx>=? "
            "ORDER BY idx LIMIT ?",
            (session.uid, own["id"], int(time.time()), index or 0, limit),
        ).fetchall()
        last_index = rows[-1][0] if rows else 0
        messages = [{"index": idx, "data": json.loads(data)} for idx, data in rows]
        last = not rows or newest is None or last_index == newest
        return json_response({"index": last_index, "last": last, "messages": messages})


def _int_arg(req: Request, name: str, default: int | None) -> int | None:
    value = req.arg(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise fxa_error(400, 107, f"Invalid parameter in request query: {name} (an integer)") from None
