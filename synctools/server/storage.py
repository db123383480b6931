"""A SyncStorage 1.5 node: routes, query parameters, preconditions, batches, limits.

The contract is /work/shared/reference/storage-server.md (read from syncstorage-rs).
Error bodies are bare JSON integers (WeaveError codes): 0 unknown, 8 invalid BSO or
JSON, 17 size limit exceeded.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from ..protocol import tokens
from ..protocol.bso import (
    BSOValidationError,
    ServerTime,
    valid_bso_id,
    valid_collection_name,
    validate_bso_fields,
)
from .hawk import HawkError, NonceCache, StaleTimestamp, check_hawk, hawk_id
from .http import HTTPError, Request, Response, loads
from .storage_db import BadOffset, Item, StorageDB, json_id, now, ts_text


def _decimal_digits(text: str, max_len: int) -> bool:
    """ASCII digits only ("²".isdigit() is True, and int() then fails), of sane length."""
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


def _lines(text: str) -> list[str]:
    r"""Lines as syncstorage-rs reads an ``application/newlines`` body (Rust's
    ``str::lines``): split at "\n", a final newline ends the last line, a "\r" before a
    newline is dropped. Each line must then be a JSON object, so a blank line is an error
    there and here: a body of just "\n" is one empty line, hence 400."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def bso_json(bso_id: str, modified: int, payload_json: str, sortindex: int | None) -> str:
    """One BSO as the server sends it, built from stored text: ``payload_json`` is the
    payload already encoded as a JSON string, so reads never re-encode it (speed)."""
    tail = "}" if sortindex is None else ',"sortindex":' + str(sortindex) + "}"
    return '{"id":' + json_id(bso_id) + ',"modified":' + ts_text(modified) + ',"payload":' + payload_json + tail


DEFAULT_LIMITS: dict[str, int] = {
    "max_post_bytes": 2_621_440,
    "max_post_records": 100,
    "max_record_payload_bytes": 2_621_440,
    "max_request_bytes": 2_625_536,
    "max_total_bytes": 262_144_000,
    "max_total_records": 10_000,
    "max_quota_limit": 2_097_152_000,
}

ERR_UNKNOWN = "0"
ERR_INVALID_BSO = "8"
ERR_SIZE_LIMIT = "17"
MAX_IDS = 100

# Matched with fullmatch and DOTALL: a path ending in "%0A" keeps its newline (and
# then fails the id rules) instead of "$" quietly matching before it.
PATH_RE = re.compile(r"/1\.5/([^/]+)(/.*)?", re.DOTALL)


def error(status: int, code: str = ERR_UNKNOWN, headers: list[tuple[str, str]] | None = None) -> HTTPError:
    return HTTPError(Response(status, code, headers))


class StorageNode:
    """One storage node. ``prefix`` is where it is mounted ("" for storage-only mode)."""

    def __init__(
        self,
        name: str,
        url: str,
        db_path: str,
        secret: str,
        limits: dict[str, int],
        *,
        is_assigned: Callable[[int, str], bool] | None = None,
        is_revoked: Callable[[str], bool] | None = None,
    ):
        self.name = name
        self.url = url
        self.secret = secret
        self.limits = limits
        self.store = StorageDB(db_path)
        self.nonces = NonceCache()
        self._is_assigned = is_assigned
        self._is_revoked = is_revoked

    def close(self) -> None:
        self.store.close()

    # -- entry point --------------------------------------------------------------
    def handle(self, req: Request, path: str) -> Response:
        """Answer a request whose path below the node's prefix is ``path``."""
        try:
            resp = self._dispatch(req, path)
        except HTTPError as exc:
            resp = exc.response
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            resp = Response(503, ERR_UNKNOWN, [("Retry-After", "2")])
        if resp.get_header("X-Weave-Timestamp") is None:
            # Never before the answer's X-Last-Modified (a collection's timestamp may run
            # ahead of the clock by a few 10 ms steps): syncstorage-rs's weave.rs does the same.
            ts = now()
            lm = resp.get_header("X-Last-Modified")
            if lm is not None:
                ts = max(ts, ServerTime.parse(lm))
            resp.headers.append(("X-Weave-Timestamp", str(ts)))
        return resp

    def _dispatch(self, req: Request, path: str) -> Response:
        m = PATH_RE.fullmatch(path)
        if not m:
            raise error(404)
        uid_text, tail = m.group(1), m.group(2) or ""
        if not _decimal_digits(uid_text, 10):
            raise error(404)
        uid = int(uid_text)
        parts = tail.split("/", 3) if tail else [""]
        # parts: ['', 'storage', coll, id] / ['', 'info', what] / ['']
        if tail in ("", "/"):
            return self._route(req, uid, ("DELETE",), lambda: self.delete_user(req, uid))
        kind = parts[1]
        if kind == "info" and len(parts) == 3:
            what = parts[2]
            handler = {
                "collections": self.info_collections,
                "collection_counts": self.info_counts,
                "collection_usage": self.info_usage,
                "quota": self.info_quota,
                "configuration": self.info_configuration,
            }.get(what)
            if handler is None:
                raise error(404)
            return self._route(req, uid, ("GET",), lambda: handler(req, uid), allow_expired=what == "collections")
        if kind != "storage":
            raise error(404)
        if len(parts) == 2 or (len(parts) == 3 and parts[2] == ""):
            return self._route(req, uid, ("DELETE",), lambda: self.delete_user(req, uid))
        coll = parts[2]
        if not valid_collection_name(coll):
            raise error(400)
        if len(parts) == 3:
            return self._route(
                req,
                uid,
                ("GET", "POST", "DELETE"),
                lambda: {
                    "GET": self.get_collection,
                    "POST": self.post_collection,
                    "DELETE": self.delete_collection,
                }[req.method](req, uid, coll),
            )
        bso_id = parts[3]
        if not valid_bso_id(bso_id):
            raise error(404)
        return self._route(
            req,
            uid,
            ("GET", "PUT", "DELETE"),
            lambda: {
                "GET": self.get_item,
                "PUT": self.put_item,
                "DELETE": self.delete_item,
            }[req.method](req, uid, coll, bso_id),
        )

    def _route(
        self,
        req: Request,
        uid: int,
        methods: tuple[str, ...],
        handler: Callable[[], Response],
        allow_expired: bool = False,
    ) -> Response:
        if req.method not in methods:
            raise error(405, ERR_UNKNOWN, [("Allow", ", ".join(methods))])
        # Before auth: checking Hawk reads the body, which must not be unbounded.
        if req.content_length > self.limits["max_request_bytes"]:
            raise error(413, ERR_SIZE_LIMIT)
        self.authenticate(req, uid, allow_expired)
        return handler()

    # -- auth ---------------------------------------------------------------------
    def authenticate(self, req: Request, uid: int, allow_expired: bool) -> dict[str, Any]:
        unauthorized = error(401, ERR_UNKNOWN, [("WWW-Authenticate", "Hawk")])
        header = req.header("Authorization") or ""
        try:
            token_id = hawk_id(header) if header.startswith("Hawk ") else None
            if token_id is None:
                raise unauthorized
            data = tokens.parse_token(token_id, self.secret, allow_expired=True)
        except (HawkError, tokens.TokenError):
            raise unauthorized from None
        try:
            check_hawk(req, lambda tid: tokens.derived_secret(tid, self.secret), self.nonces)
        except StaleTimestamp as exc:
            # The Hawk answer carries the server time (signed), so the client can adjust.
            raise error(401, ERR_UNKNOWN, [("WWW-Authenticate", exc.www_authenticate)]) from None
        except HawkError:
            raise unauthorized from None
        expired = data["expires"] <= time.time() or (self._is_revoked is not None and self._is_revoked(token_id))
        if expired and not allow_expired:
            raise unauthorized
        token_uid = data.get("uid")
        if isinstance(token_uid, bool) or not isinstance(token_uid, int) or token_uid != uid:
            raise error(400)
        if self._is_assigned is not None and not self._is_assigned(uid, self.url):
            # The user moved to another node: the client must fetch a new token.
            raise unauthorized
        return data

    # -- preconditions ------------------------------------------------------------
    @staticmethod
    def _precondition_values(req: Request) -> tuple[ServerTime | None, ServerTime | None]:
        since = req.header("X-If-Modified-Since")
        unmodified = req.header("X-If-Unmodified-Since")
        if since is not None and unmodified is not None:
            raise error(400)
        try:
            return (
                ServerTime.parse(since) if since is not None else None,
                ServerTime.parse(unmodified) if unmodified is not None else None,
            )
        except ValueError:
            raise error(400) from None

    def _precondition(
        self, req: Request, resource_ts: Callable[[sqlite3.Connection], int]
    ) -> Callable[[sqlite3.Connection], None]:
        """A check to run inside the transaction: raises 304/412 per the headers."""
        since, unmodified = self._precondition_values(req)

        def check(conn: sqlite3.Connection) -> None:
            if since is None and unmodified is None:
                return
            ts = resource_ts(conn)
            headers = [("X-Last-Modified", ts_text(ts))]
            if since is not None and since >= ts:
                raise HTTPError(Response(304, b"", headers, content_type=None))
            if unmodified is not None and unmodified < ts:
                raise HTTPError(Response(412, b"", headers, content_type=None))

        return check

    # -- info ---------------------------------------------------------------------
    def _info(self, req: Request, uid: int, build: Callable[[], tuple[str, int]]) -> Response:
        """An info/* answer. ``build`` runs inside the same read transaction as the
        timestamp, so the body is never older or newer than its X-Last-Modified."""
        with self.store.db.read() as conn:
            ts = self.store.storage_ts(conn, uid)
            self._precondition(req, lambda c: ts)(conn)
            body, records = build()
        return Response(
            200,
            body,
            [("X-Last-Modified", ts_text(ts)), ("X-Weave-Records", str(records))],
        )

    def info_collections(self, req: Request, uid: int) -> Response:
        def build() -> tuple[str, int]:
            rows = self.store.info_collections(uid)
            return "{" + ",".join(f"{json.dumps(c)}:{ts_text(m)}" for c, m in rows) + "}", len(rows)

        return self._info(req, uid, build)

    def info_counts(self, req: Request, uid: int) -> Response:
        def build() -> tuple[str, int]:
            rows = self.store.collection_counts(uid)
            return json.dumps(dict(rows)), len(rows)

        return self._info(req, uid, build)

    def info_usage(self, req: Request, uid: int) -> Response:
        def build() -> tuple[str, int]:
            rows = self.store.collection_usage(uid)
            return json.dumps({c: b / 1024 for c, b in rows}), len(rows)

        return self._info(req, uid, build)

    def info_quota(self, req: Request, uid: int) -> Response:
        return self._info(req, uid, lambda: (json.dumps([self.store.usage_bytes(uid) / 1024, None]), 2))

    def info_configuration(self, req: Request, uid: int) -> Response:
        return self._info(req, uid, lambda: (json.dumps(self.limits), len(self.limits)))

    # -- collection GET -----------------------------------------------------------
    def _query(self, req: Request) -> dict[str, Any]:
        q: dict[str, Any] = {}
        ids = req.arg("ids")
        if ids is not None:
            id_list = [i for i in ids.split(",") if i != ""]
            if len(id_list) > MAX_IDS or any(not valid_bso_id(i) for i in id_list):
                raise error(400)
            q["ids"] = id_list
        for name in ("newer", "older"):
            value = req.arg(name)
            if value is not None:
                try:
                    q[name] = int(ServerTime.parse(value))
                except ValueError:
                    raise error(400) from None
        limit = req.arg("limit")
        if limit is not None:
            if not _decimal_digits(limit, 10):
                raise error(400)
            # limit=0 reads as "no limit": a page of nothing with a next offset would
            # only make a paging client spin.
            if int(limit) > 0:
                q["limit"] = int(limit)
        sort = req.arg("sort")
        if sort is not None:
            if sort not in ("newest", "oldest", "index"):
                raise error(400)
            q["sort"] = sort
        offset = req.arg("offset")
        if offset is not None and offset != "":
            q["offset"] = offset
        return q

    def get_collection(self, req: Request, uid: int, coll: str) -> Response:
        accept = (req.header("Accept") or "application/json").lower()
        if "application/newlines" in accept:
            newlines = True
        elif any(a in accept for a in ("application/json", "*/*", "application/*")):
            newlines = False
        else:
            raise error(406)
        q = self._query(req)
        if "ids" in q and not q["ids"]:
            q.pop("ids")
        full = req.arg("full") is not None
        with self.store.db.read() as conn:
            ts = self.store.collection_ts(conn, uid, coll)
            self._precondition(req, lambda c: ts)(conn)
            try:
                rows, next_offset = self.store.get_items(conn, uid, coll, **q)
            except BadOffset:
                raise error(400) from None
        if full:
            items = [bso_json(i, m, p, s) for i, m, p, s, *_ in rows]
        else:
            items = [json_id(r[0]) for r in rows]
        if newlines:
            body = "".join(item + "\n" for item in items)
            ctype = "application/newlines"
        else:
            body = "[" + ",".join(items) + "]"
            ctype = "application/json"
        headers = [("X-Last-Modified", ts_text(ts)), ("X-Weave-Records", str(len(items)))]
        if next_offset is not None:
            headers.append(("X-Weave-Next-Offset", next_offset))
        return Response(200, body, headers, content_type=ctype)

    def get_item(self, req: Request, uid: int, coll: str, bso_id: str) -> Response:
        with self.store.db.read() as conn:
            row = self.store.get_item(conn, uid, coll, bso_id)
            ts = row[1] if row else 0
            self._precondition(req, lambda c: ts)(conn)
        if row is None:
            raise error(404)
        i, m, p, s = row
        return Response(200, bso_json(i, m, p, s), [("X-Last-Modified", ts_text(m))])

    # -- writes -------------------------------------------------------------------
    def _written(self, ts: ServerTime, body: str, status: int = 200) -> Response:
        return Response(status, body, [("X-Last-Modified", str(ts)), ("X-Weave-Timestamp", str(ts))])

    def _check_item(self, coll: str, obj: dict[str, Any]) -> None:
        """Contract rules beyond field validation (raises BSOValidationError)."""
        if coll == "crypto" and isinstance(obj.get("payload"), str):
            try:
                iv = loads(obj["payload"]).get("IV")
                raw = base64.b64decode(iv, validate=True) if isinstance(iv, str) else None
            except (ValueError, AttributeError, binascii.Error):
                raw = None
            if raw is not None and raw == bytes(len(raw)):
                raise BSOValidationError("crypto payload IV is all zero bytes", "payload")

    def put_item(self, req: Request, uid: int, coll: str, bso_id: str) -> Response:
        if req.media_type not in ("application/json", "text/plain", ""):
            raise error(415)
        try:
            obj = req.json()
        except (ValueError, UnicodeDecodeError):
            raise error(400, ERR_INVALID_BSO) from None
        if not isinstance(obj, dict):
            raise error(400, ERR_INVALID_BSO)
        if "id" in obj and obj["id"] != bso_id:
            raise error(400, ERR_INVALID_BSO)
        try:
            validate_bso_fields(obj, max_payload_bytes=self.limits["max_record_payload_bytes"], require_id=False)
            self._check_item(coll, obj)
        except BSOValidationError as exc:
            raise error(
                400, ERR_SIZE_LIMIT if exc.field == "payload" and "larger" in str(exc) else ERR_INVALID_BSO
            ) from None
        item = Item.from_json(obj, bso_id)
        check = self._precondition(req, lambda c: self.store.item_ts(c, uid, coll, bso_id))
        ts = self.store.put_items(uid, coll, [item], check)
        return self._written(ts, str(ts))

    def _parse_post_body(self, req: Request) -> list[Any]:
        media = req.media_type
        if media not in ("application/json", "text/plain", "", "application/newlines"):
            raise error(415)
        try:
            text = req.body.decode("utf-8")
            if media == "application/newlines":
                objs = [loads(line) for line in _lines(text)]
            else:
                objs = loads(text)
        except ValueError:  # UnicodeDecodeError included
            raise error(400, ERR_INVALID_BSO) from None
        if not isinstance(objs, list):
            raise error(400, ERR_INVALID_BSO)
        seen: set[str] = set()
        for obj in objs:
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                raise error(400, ERR_INVALID_BSO)
            if obj["id"] in seen:
                raise error(400, ERR_INVALID_BSO)
            seen.add(obj["id"])
        return objs

    def _header_limits(self, req: Request) -> None:
        for header, limit in (
            ("X-Weave-Records", "max_post_records"),
            ("X-Weave-Bytes", "max_post_bytes"),
            ("X-Weave-Total-Records", "max_total_records"),
            ("X-Weave-Total-Bytes", "max_total_bytes"),
        ):
            value = req.header(header)
            if value is None:
                continue
            if not _decimal_digits(value, 18):
                raise error(400)
            if int(value) > self.limits[limit]:
                raise error(400, ERR_SIZE_LIMIT)

    def post_collection(self, req: Request, uid: int, coll: str) -> Response:
        self._header_limits(req)
        batch_arg = req.arg("batch")
        commit = req.arg("commit") is not None
        if commit and req.arg("commit") not in ("true", "1", ""):
            raise error(400)
        if commit and batch_arg is None:
            raise error(400)
        objs = self._parse_post_body(req)
        items: list[Item] = []
        success: list[str] = []
        failed: dict[str, str] = {}
        count = total = 0
        for obj in objs:
            try:
                validate_bso_fields(obj, max_payload_bytes=self.limits["max_record_payload_bytes"])
                self._check_item(coll, obj)
            except BSOValidationError as exc:
                if "IV is all zero" in str(exc):
                    raise error(400, ERR_INVALID_BSO) from None
                failed[obj["id"]] = str(exc)
                continue
            item = Item.from_json(obj)
            count += 1
            total += item.size()
            if count > self.limits["max_post_records"]:
                failed[item.id] = "retry bso"
                continue
            if total > self.limits["max_post_bytes"]:
                failed[item.id] = "retry bytes"
                continue
            items.append(item)
            success.append(item.id)
        check = self._precondition(req, lambda c: self.store.collection_ts(c, uid, coll))

        if batch_arg is None or (batch_arg == "true" and commit):
            ts = self.store.put_items(uid, coll, items, check)
            return self._written(ts, self._post_body(ts, success, failed))

        store = self.store
        with store.db.write() as conn:
            check(conn)
            if batch_arg == "true":
                batch = store.batch_create_in(conn, uid, coll)
            elif store.batch_valid(conn, uid, coll, batch_arg):
                batch = batch_arg
            else:
                raise error(400)
            staged_count, staged_bytes = store.batch_totals(conn, batch)
            if (
                staged_count + len(items) > self.limits["max_total_records"]
                or staged_bytes + sum(i.size() for i in items) > self.limits["max_total_bytes"]
            ):
                raise error(400, ERR_SIZE_LIMIT)
            if commit:
                ts = store.batch_commit(conn, uid, coll, batch, items)
                return self._written(ts, self._post_body(ts, success, failed))
            store.batch_append(conn, batch, items)
            coll_ts = store.collection_ts(conn, uid, coll)
        body = json.dumps({"batch": batch, "success": success, "failed": failed})
        return Response(202, body, [("X-Last-Modified", ts_text(coll_ts))])

    @staticmethod
    def _post_body(ts: ServerTime, success: list[str], failed: dict[str, str]) -> str:
        return '{"modified":' + str(ts) + ',"success":' + json.dumps(success) + ',"failed":' + json.dumps(failed) + "}"

    # -- deletes ------------------------------------------------------------------
    def delete_collection(self, req: Request, uid: int, coll: str) -> Response:
        q = self._query(req)
        check = self._precondition(req, lambda c: self.store.collection_ts(c, uid, coll))
        if q.get("ids"):
            ts = self.store.delete_items(uid, coll, q["ids"], check)
        else:
            ts = self.store.delete_collection(uid, coll, check)
        return self._written(ts, '{"modified":' + str(ts) + "}")

    def delete_item(self, req: Request, uid: int, coll: str, bso_id: str) -> Response:
        check = self._precondition(req, lambda c: self.store.item_ts(c, uid, coll, bso_id))
        ts = self.store.delete_item(uid, coll, bso_id, check)
        if ts is None:
            raise error(404)
        return self._written(ts, '{"modified":' + str(ts) + "}")

    def delete_user(self, req: Request, uid: int) -> Response:
        check = self._precondition(req, lambda c: self.store.storage_ts(c, uid))
        ts = self.store.delete_user(uid, check)
        return self._written(ts, "{}")
