"""Sync pings a profile holds: Glean's pending pings and the older archived ones.

Firefox records each sync for telemetry (services/sync/modules/telemetry.sys.mjs) and
sends the batch as a "sync" ping, only for accounts on Mozilla's servers:

- Firefox with Glean (all current releases): a ping waiting to be uploaded is a file in
  ``datareporting/glean/pending_pings/``: line 1 the submit path
  (``/submit/firefox-desktop/sync/1/<uuid>``), line 2 the JSON body whose
  ``metrics.object["syncs.syncs"]`` lists the syncs, an optional line 3 of upload
  metadata. Other pings wait there too; only sync pings are read.
- Older Firefox archived every ping as ``datareporting/archived/<YYYY-MM>/<ms>.<uuid>.
  sync.jsonlz4``: mozLz4 (magic ``mozLz40\\0``, the uncompressed size as 4 bytes
  little-endian, one LZ4 block) around ``{"type": "sync", "payload": {"syncs": [...]}}``.

No pings is normal (self-hosted accounts never make any). A file that does not read is
a row with its ``error``, never an exception.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from synctools.engines.base import Frames

from . import _frame

MOZLZ4_MAGIC = b"mozLz40\0"
MAX_UNCOMPRESSED = 64 * 1024 * 1024  # a sync ping is KBs; refuse to inflate a hostile size field

PING_SPEC = [
    ("id", "str"), ("ping", "str"), ("source", "category"), ("reason", "str"), ("when", "ms"), ("took", "int"),
    ("why", "str"), ("failure", "str"), ("status_sync", "str"), ("status_service", "str"), ("engines", "int"),
    ("uid", "str"), ("node_type", "str"), ("file", "str"), ("error", "str"),
]  # fmt: skip
ENGINE_SPEC = [
    ("id", "str"),
    ("when", "ms"),
    ("engine", "str"),
    ("took", "int"),
    ("status", "str"),
    ("failure", "str"),
    ("applied", "int"),
    ("failed", "int"),
    ("failed_reasons", "object"),
    ("sent", "int"),
    ("sent_failed", "int"),
    ("validation_checked", "int"),
    ("validation_problems", "object"),
    ("validation_failure", "str"),
    ("steps", "object"),
]


class PingFileError(ValueError):
    """One ping file that cannot be read (becomes that file's row ``error``)."""


def mozlz4(data: bytes) -> bytes:
    """The content of a mozLz4 file (Firefox's jsonlz4/baklz4)."""
    import lz4.block

    if not data.startswith(MOZLZ4_MAGIC):
        raise PingFileError("not a mozLz4 file (it does not start with 'mozLz40\\0')")
    if len(data) < 12:
        raise PingFileError("mozLz4 file cut off before its size field")
    (size,) = struct.unpack("<I", data[8:12])
    if size > MAX_UNCOMPRESSED:
        raise PingFileError(f"mozLz4 header claims {size:,} bytes; a ping is far smaller (damaged file)")
    try:
        out: bytes = lz4.block.decompress(data[12:], uncompressed_size=size)
    except lz4.block.LZ4BlockError as exc:
        raise PingFileError(f"the LZ4 block does not decompress ({exc}): the file is damaged or truncated") from None
    return out


def _failure(reason: Any) -> str | None:
    """A failureReason object ({"name": "httperror", "code": 503}) as one line."""
    if not isinstance(reason, dict):
        return None if reason is None else str(reason)
    name: str = reason.get("name", "?")  # JSON: Firefox writes a string here
    rest = {k: v for k, v in reason.items() if k != "name"}
    return name + (" " + json.dumps(rest, sort_keys=True) if rest else "")


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _syncs(body: Any) -> tuple[list[Any], dict[str, Any], str | None]:
    """(syncs, ping-level facts, reason) from a Glean body or an archived Telemetry ping."""
    if not isinstance(body, dict):
        raise PingFileError("the ping is not a JSON object")
    if "metrics" in body or "ping_info" in body:  # Glean
        metrics = body["metrics"] if isinstance(body.get("metrics"), dict) else {}
        objects = metrics["object"] if isinstance(metrics.get("object"), dict) else {}
        syncs = objects.get("syncs.syncs") or []
        strings: dict[str, Any] = metrics["string"] if isinstance(metrics.get("string"), dict) else {}
        facts = {"uid": strings.get("syncs.hashed_fxa_uid"), "node_type": strings.get("syncs.sync_node_type")}
        info = body["ping_info"] if isinstance(body.get("ping_info"), dict) else {}
        return syncs, facts, info.get("reason")
    payload: dict[str, Any] = body["payload"] if isinstance(body.get("payload"), dict) else body
    syncs = payload.get("syncs") or []
    return syncs, {"uid": payload.get("uid"), "node_type": payload.get("syncNodeType")}, payload.get("why")


def _rows(ping: str, source: str, file: str, body: Any, main: list[Any], engines: list[Any]) -> None:
    syncs, facts, reason = _syncs(body)
    if not isinstance(syncs, list):
        raise PingFileError("'syncs' is not a list")
    for n, s in enumerate(syncs):
        sid = f"{ping}/{n}"
        if not isinstance(s, dict):
            main.append((sid, ping, source, reason, *([None] * 9), file, f"sync #{n} is not a JSON object"))
            continue
        status: dict[str, Any] = s["status"] if isinstance(s.get("status"), dict) else {}
        engs: list[Any] = s["engines"] if isinstance(s.get("engines"), list) else []
        main.append((sid, ping, source, reason, _int(s.get("when")), _int(s.get("took")), s.get("why"),
                     _failure(s.get("failureReason")), status.get("sync"), status.get("service"), len(engs),
                     facts.get("uid"), facts.get("node_type"), file, None))  # fmt: skip
        for e in engs:
            if not isinstance(e, dict):
                continue
            inc: dict[str, Any] = e["incoming"] if isinstance(e.get("incoming"), dict) else {}
            out: list[Any] = e["outgoing"] if isinstance(e.get("outgoing"), list) else []
            val: dict[str, Any] = e["validation"] if isinstance(e.get("validation"), dict) else {}
            engines.append(
                (
                    sid,
                    _int(s.get("when")),
                    e.get("name"),
                    _int(e.get("took")),
                    e.get("status"),
                    _failure(e.get("failureReason")),
                    _int(inc.get("applied")),
                    _int(inc.get("failed")),
                    inc.get("failedReasons"),
                    sum(int(_int(o.get("sent")) or 0) for o in out if isinstance(o, dict)),
                    sum(int(_int(o.get("failed")) or 0) for o in out if isinstance(o, dict)),
                    _int(val.get("checked")),
                    val.get("problems"),
                    _failure(val.get("failureReason")),
                    e.get("steps"),
                )
            )


def read_pings(profile: Path) -> Frames:
    """``.main``: one row per sync recorded in a ping; ``.engines``: one row per engine of
    each of those syncs (incoming applied/failed, outgoing sent/failed, validation)."""
    main: list[Any] = []
    engines: list[Any] = []
    pending = profile / "datareporting" / "glean" / "pending_pings"
    for path in sorted(pending.glob("*")) if pending.is_dir() else []:
        if not path.is_file():
            continue
        try:
            lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
            if "/sync/" not in lines[0]:
                continue  # another ping (baseline, metrics, events, …)
            if len(lines) < 2 or not lines[1].strip():
                raise PingFileError("the ping has no body (line 2)")
            try:
                body = json.loads(lines[1])
            except ValueError as exc:
                raise PingFileError(f"the body (line 2) is not JSON: {exc}") from None
            _rows(path.name, "glean-pending", str(path), body, main, engines)
        except (PingFileError, OSError) as exc:
            main.append((path.name, path.name, "glean-pending", *([None] * 10), str(path), str(exc)))
    archived = profile / "datareporting" / "archived"
    for path in sorted(archived.glob("*/*.sync.jsonlz4")) if archived.is_dir() else []:
        ping = path.name.split(".")[1] if path.name.count(".") >= 3 else path.name
        try:
            try:
                body = json.loads(mozlz4(path.read_bytes()))
            except (ValueError, UnicodeDecodeError) as exc:
                if isinstance(exc, PingFileError):
                    raise
                raise PingFileError(f"the decompressed ping is not JSON: {exc}") from None
            _rows(ping, "archived", str(path), body, main, engines)
        except (PingFileError, OSError) as exc:
            main.append((ping, ping, "archived", *([None] * 10), str(path), str(exc)))
    frame = _frame.frame(main, PING_SPEC, source=str(profile), kind="pings")
    frame = frame.sort_values("when", kind="stable", na_position="first").reset_index(drop=True)
    return Frames("pings", frame, {"engines": _frame.frame(engines, ENGINE_SPEC, source=str(profile), kind="pings")})
