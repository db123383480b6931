"""``synctools.snapshot(sync, path)``: an anonymised copy of an account that reproduces its problems.

A snapshot keeps every record id, the tree's shape, every ``modified`` time, sortindex
and ttl, the record sizes (strings keep their length and UTF-8 width), meta/global, which
collections have their own key, the server's limits and the account's device list; every
string is replaced consistently (:mod:`synctools.scrub`). Records that fail to decrypt
keep the *kind* of failure (encrypted with another of the account's keys, an altered
HMAC, an unreadable ciphertext, a payload that is not JSON, ...), never their bytes.
``LocalStack(snapshot=path)`` and ``synctools serve --snapshot`` load it into the
embedded stack under fresh keys (:mod:`synctools.server.snapshot`), so
``synctools.doctor`` finds the same problems there. No key, password, email or token is
written.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synctools._version import __version__

from .doctor import addons, context
from .doctor.records import _classify
from .protocol.crypto import CryptoError
from .scrub import Scrubber

if TYPE_CHECKING:  # pragma: no cover
    from synctools.machine import Sync

FORMAT = "synctools-snapshot/1"
SETUP = ("meta", "crypto")


def snapshot(sync: Sync, path: str | Path | None = None, *, salt: bytes | None = None) -> dict[str, Any]:
    """Anonymise ``sync``'s account (running its stages up to download if needed) and
    write it to ``path`` (gzip when it ends in ``.gz``); returns the snapshot."""
    if sync.state.value not in ("downloaded", "merged", "planned", "committed"):
        sync.run(until="download")
    scrub = Scrubber(salt, keep_addons=addons.BUILTIN)
    ctx = context.Context(sync)
    keys = sync.collection_keys
    meta = sync.meta_global
    collections: dict[str, list[dict[str, Any]]] = {}
    for coll in ctx.downloaded:
        failed = {rid: reason for c, rid, reason in ctx.failed if c == coll}
        records = sync.records(coll)
        entries = []
        for rid, bso in sorted(ctx.envelopes(coll).items()):
            entry: dict[str, Any] = {
                "id": rid,
                "modified": int(bso.modified) / 100 if bso.modified is not None else None,
                "payload_bytes": len((bso.payload or "").encode("utf-8")),
            }
            if bso.sortindex is not None:
                entry["sortindex"] = bso.sortindex
            if bso.ttl is not None:
                entry["ttl"] = bso.ttl
            if rid in failed:
                entry.update(_failure(ctx, scrub, coll, rid, failed[rid]))
            elif rid in records:
                entry["record"] = scrub.record(records[rid])
            entries.append(entry)
        collections[coll] = entries
    devices = ctx.devices
    taken = max((int(t) / 100 for t in sync.info_collections.values()), default=time.time())
    out = {
        "format": FORMAT,
        "synctools": __version__,
        "taken_at": taken,
        "meta_global": meta.to_payload() if meta is not None else None,
        "own_keys": sorted(keys.collections) if keys is not None else [],
        "limits": ctx.limits,
        "devices": [scrub.record({k: d.get(k) for k in ("id", "name", "type") if k in d}) for d in devices or []
                    if isinstance(d, dict)],
        "collections": collections,
    }  # fmt: skip
    if path is not None:
        write(out, path)
    return out


def _failure(ctx: context.Context, scrub: Scrubber, coll: str, rid: str, reason: str) -> dict[str, Any]:
    """How a record fails, to reproduce it: which key it opens with, or what is broken."""
    outcome, label, record = _classify(ctx, coll, rid, reason)
    if outcome == "wrong-key":
        key = "ksync" if "kSync" in label else label.removeprefix("the ").split(" key")[0]
        return {"failure": "wrong-key", "key": key, "record": scrub.record(record)}
    if outcome == "hmac-only":
        return {"failure": "hmac", "record": scrub.record(record)}
    if outcome == "unreadable":
        return {"failure": "unreadable"}
    if reason == "bad-cleartext" and ctx.sync.collection_keys is not None:
        try:  # valid HMAC, valid JSON, wrong id or shape: keep the (scrubbed) JSON
            raw = ctx.sync.collection_keys.bundle_for(coll).decrypt_bytes(ctx.envelopes(coll)[rid].payload)
            return {"failure": "bad-cleartext", "cleartext": scrub.record(json.loads(raw))}
        except (CryptoError, ValueError, KeyError):
            pass
    return {"failure": reason}


def from_aboutsync(path: str | Path) -> dict[str, Any]:
    """An about:sync export, converted and anonymised as a snapshot of an account is."""
    from .server.snapshot import read

    data = read(path)
    scrub = Scrubber(keep_addons=addons.BUILTIN)
    for entries in data["collections"].values():
        for entry in entries:
            if "record" in entry:
                entry["record"] = scrub.record(entry["record"])
    return data


def write(data: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path.write_bytes(gzip.compress(text, mtime=0) if path.suffix == ".gz" else text)
    return path
