"""A report safe to share: findings and record SHAPES, never urls, titles, names or secrets.

Record ids are hashed with a salt made for this report (so two reports cannot be joined
and ids cannot be guessed from a dictionary of urls); every string becomes its length;
explanations are replaced by each check's fixed summary, which holds no account data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from synctools._version import __version__

from .registry import CHECKS, SEVERITIES

if TYPE_CHECKING:  # pragma: no cover
    from synctools.machine import Sync

FORMAT = "synctools-doctor-share/1"
#: facts whose string values are vocabulary of the checks, never account data
SAFE_STRINGS = {
    "encrypted_with",
    "expected",
    "reason",
    "case",
    "ciphertext",
    "engine",
    "key_for",
    "root",
    "why",
    "validity",
    "target",
    "application",
    "parent_type",
    "type",
    "device_type",
    "check",
    "error",
    "problem",
}
ID_FACTS = {"missing_parent", "new_id"}
MAX_DEPTH = 6


def shape(value: Any, depth: int = 0) -> dict[str, Any]:
    """The JSON type of ``value`` and its size; objects show their field names, arrays
    the shape of their first item. No value is kept."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int | float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string", "length": len(value)}
    if depth >= MAX_DEPTH:
        return {"type": "object" if isinstance(value, dict) else "array"}
    if isinstance(value, list):
        out: dict[str, Any] = {"type": "array", "length": len(value)}
        if value:
            out["items"] = shape(value[0], depth + 1)
        return out
    if isinstance(value, dict):
        return {"type": "object", "fields": {str(k): shape(v, depth + 1) for k, v in value.items()}}
    return {"type": type(value).__name__}


class _Hasher:
    def __init__(self) -> None:
        self.salt = os.urandom(16)

    def __call__(self, record_id: Any) -> str:
        # a malformed children list may hold numbers or lone surrogates: hash what is there
        text = record_id if isinstance(record_id, str) else repr(record_id)
        return "h:" + hashlib.sha256(self.salt + text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _facts(facts: dict[str, Any], h: _Hasher) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in facts.items():
        if isinstance(v, bool | int | float) or v is None:
            out[k] = v
        elif k in ID_FACTS and isinstance(v, str):
            out[k] = h(v)
        elif k in SAFE_STRINGS and isinstance(v, str):
            out[k] = v
        elif isinstance(v, list):
            out[k] = {"count": len(v)}
    return out


def _op(op: Any, h: _Hasher) -> dict[str, Any]:
    out: dict[str, Any] = {"action": op.action, "collection": op.collection, "id": h(op.id)}
    if op.changes:
        out["fields"] = sorted(op.changes)
    if op.append or op.remove:
        out[op.list_field] = {"add": [h(i) for i in op.append], "remove": [h(i) for i in op.remove]}
    return out


def anonymize(found: Iterable[Any], sync: Sync | None) -> dict[str, Any]:
    """A report's findings (:class:`~synctools.doctor.Finding`), and the shapes of the
    records they name as ``sync`` holds them, safe to share (see :meth:`Report.anonymized`)."""
    found = list(found)
    h = _Hasher()
    records: dict[str, dict[str, Any]] = {}
    findings = []
    for f in found:
        info = CHECKS.get(f.check)
        findings.append({
            "check": f.check,
            "severity": f.severity,
            "collection": f.collection,
            "summary": info.summary if info else "",
            "records": [h(r) for r in f.record_ids],
            "facts": _facts(f.facts, h),
            "fix": [_op(op, h) for op in f.fix.ops] if f.fix else None,
        })  # fmt: skip
        if sync is None or not f.collection:
            continue
        for rid in f.record_ids:
            records.setdefault(h(rid), _record_shape(sync, f.collection, rid))
    return {
        "format": FORMAT,
        "synctools": __version__,
        "counts": {s: sum(1 for f in found if f.severity == s) for s in SEVERITIES},
        "account": _account(sync),
        "findings": findings,
        "records": records,
    }


def _record_shape(sync: Any, collection: str, record_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"collection": collection}
    store = getattr(sync, "store", None)
    mirror = store.mirror_record(collection, record_id) if store is not None else None
    if mirror is not None:
        bso = mirror.bso
        out["envelope"] = {"payload_bytes": len(bso.payload or ""), "sortindex": bso.sortindex is not None,
                           "ttl": bso.ttl}  # fmt: skip
        if mirror.reason:
            out["error"] = mirror.reason
            try:
                out["payload"] = shape(json.loads(bso.payload))
            except (TypeError, ValueError):
                out["payload"] = {"type": "invalid-json"}
            return out
    rec = sync.records(collection).get(record_id) if collection not in ("meta", "crypto") else None
    out["record"] = shape(rec) if rec is not None else {"type": "absent"}
    return out


def _account(sync: Any) -> dict[str, Any]:
    if sync is None:
        return {}
    meta = sync.meta_global
    out: dict[str, Any] = {
        "state": sync.state.value,
        "collections": sorted(sync.info_collections),
        "limits": {k: v for k, v in (sync.config.__dict__ if sync.config else {}).items() if isinstance(v, int)},
    }
    if meta is not None:
        out["storage_version"] = meta.storage_version
        out["engines"] = {n: e.version for n, e in sorted(meta.engines.items())}
        out["declined"] = sorted(meta.declined)
    if sync.collection_keys is not None:
        out["collections_with_own_key"] = sorted(sync.collection_keys.collections)
    if sync.store is not None:
        out["records"] = sync.store.mirror_collections()
    return out
