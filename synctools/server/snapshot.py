"""Load a snapshot (``synctools.snapshot``) or an about:sync JSON export into the embedded
stack: a new account, fresh keys, every record encrypted again, and every failure
reproduced in kind (a record under another key, an altered HMAC, a payload that does
not parse...), so the doctor finds there what it found on the original account.

Imports the protocol core only, as the whole server does.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from ..protocol._util import fingerprint
from ..protocol.bso import ServerTime
from ..protocol.crypto import CollectionKeys, CryptoError, KeyBundle
from ..protocol.keys import derive_sync_keys
from ..protocol.metaglobal import DEFAULT_ENGINES, MetaGlobal

FORMAT = "synctools-snapshot/1"  # the writer (synctools.snapshots) says the same; a test keeps them equal


class SnapshotError(ValueError):
    """The file is not a snapshot this version can load (and says why)."""


@dataclass(repr=False)
class SnapshotAccount:
    """The account a snapshot was loaded into: log in with ``email`` and ``password``."""

    email: str
    password: str
    kb: bytes
    key_rotation_timestamp: int
    records: int = 0
    source: str = FORMAT
    collections: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<SnapshotAccount {self.email} kB={fingerprint(self.kb)} records={self.records} from {self.source}>"


def read(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A snapshot as a dict: from a dict, a JSON file, or a gzip'd one; about:sync exports
    are converted."""
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        except (OSError, EOFError, ValueError) as exc:
            raise SnapshotError(f"{path} is not JSON (nor gzip'd JSON): {exc}") from None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return data
    if isinstance(data, dict) and isinstance(data.get("collections"), dict) and "infos" in data:
        return from_aboutsync(data)
    found = str(data.get("format") if isinstance(data, dict) else type(data).__name__)[:40]
    raise SnapshotError(f"not a {FORMAT} snapshot nor an about:sync export (format {found!r})")


def from_aboutsync(export: dict[str, Any]) -> dict[str, Any]:
    """about:sync's "Export to file" (``{infos, collections: {name: {response: {records}, records}}}``)
    as a snapshot: the decrypted records, with the server times its raw records carried."""
    collections: dict[str, list[dict[str, Any]]] = {}
    meta = None
    for name, coll in sorted(export.get("collections", {}).items()):
        if not isinstance(coll, dict):
            continue
        clear = [r for r in coll.get("records") or [] if isinstance(r, dict)]
        raw = ((coll.get("response") or {}).get("records")) or []
        times = {}
        for r in raw:
            data = r.get("data", r) if isinstance(r, dict) else {}
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                times[data["id"]] = data
        if name == "meta":
            meta = next((r for r in clear if r.get("storageVersion") is not None), None)
            continue
        if name == "crypto":
            continue  # keys: never carried over
        entries = []
        for rec in clear:
            rid = rec.get("id")
            if not isinstance(rid, str):
                continue
            env = times.get(rid, {})
            entry = {"id": rid, "modified": env.get("modified"), "record": rec}
            if isinstance(env.get("sortindex"), int):
                entry["sortindex"] = env["sortindex"]
            entries.append(entry)
        collections[name] = entries
    stamps = [e["modified"] for es in collections.values() for e in es if isinstance(e.get("modified"), int | float)]
    return {"format": FORMAT, "source": "about:sync", "taken_at": max(stamps, default=time.time()),
            "meta_global": meta, "own_keys": [], "limits": {}, "devices": [], "collections": collections}  # fmt: skip


def load_snapshot(admin: Any, source: str | Path | dict[str, Any], *, now: float | None = None,
                  email: str | None = None, password: str | None = None) -> SnapshotAccount:  # fmt: skip
    """Create a new account on the stack (``admin``: its admin API) holding the snapshot."""
    snap = read(source)
    email = email or f"snapshot-{secrets.token_hex(4)}@example.com"
    password = password or secrets.token_urlsafe(18)
    kb = os.urandom(32)
    now = time.time() if now is None else now
    krt = int(now * 1000) - 60_000
    admin.create_account(email, password, kb=kb, key_rotation_timestamp=krt)
    ksync = derive_sync_keys(kb, krt).bundle
    keys = CollectionKeys.generate([c for c in snap.get("own_keys") or [] if isinstance(c, str)])
    collections = {c: es for c, es in (snap.get("collections") or {}).items() if isinstance(es, list)}
    meta = snap.get("meta_global")
    if not isinstance(meta, dict):
        fresh = MetaGlobal.fresh()
        meta = fresh.to_payload()
        meta["engines"] = {n: e for n, e in meta["engines"].items() if n in collections or n in DEFAULT_ENGINES}
    shift = int((now - float(snap.get("taken_at") or now)) * 100)
    stamp = ServerTime(int(now * 100))
    admin.put_records(email, "meta", [{"id": "global", "payload": json.dumps(meta)}], modified=stamp)
    admin.put_records(email, "crypto", [{"id": "keys", "payload": json.dumps(ksync.encrypt(keys.to_cleartext()))}],
                      modified=stamp)  # fmt: skip
    limits = {k: v for k, v in (snap.get("limits") or {}).items() if isinstance(v, int) and v > 0}
    if limits and hasattr(admin, "set_config"):
        try:
            admin.set_config(**limits)
        except (TypeError, ValueError):
            pass  # a limit this server does not have
    items = []
    for coll, entries in collections.items():
        for e in entries:
            if not isinstance(e, dict) or not isinstance(e.get("id"), str):
                continue
            bso: dict[str, Any] = {"id": e["id"], "payload": _payload(e, keys.bundle_for(coll), keys, ksync)}
            for k in ("sortindex", "ttl"):
                if isinstance(e.get(k), int):
                    bso[k] = e[k]
            modified = e.get("modified")
            centis = int(modified * 100) + shift if isinstance(modified, int | float) else int(now * 100)
            items.append((min(centis, int(now * 100)), coll, bso))
    items.sort(key=lambda t: (t[0], t[1]))
    for (centis, coll), group in groupby(items, key=lambda t: (t[0], t[1])):
        admin.put_records(email, coll, [b for *_x, b in group], modified=ServerTime(centis))
    for device in snap.get("devices") or []:
        if isinstance(device, dict) and isinstance(device.get("id"), str) and hasattr(admin, "register_device"):
            admin.register_device(email, device)
    return SnapshotAccount(email, password, kb, krt, len(items), str(snap.get("source") or FORMAT),
                           {c: len(es) for c, es in collections.items()})  # fmt: skip


def _payload(entry: dict[str, Any], bundle: KeyBundle, keys: CollectionKeys, ksync: KeyBundle) -> str:
    """The payload that fails (or not) the way the original did."""
    failure = entry.get("failure")
    given = entry.get("record")
    record: dict[str, Any] = given if isinstance(given, dict) else {"id": entry["id"]}
    if failure is None:
        return json.dumps(bundle.encrypt(record))
    if failure == "wrong-key":
        key = entry.get("key")
        other = ksync if key == "ksync" else keys.default if key == "default" else keys.collections.get(str(key))
        if other is None or other == bundle:
            other = keys.default if bundle != keys.default else KeyBundle.random()
        return json.dumps(other.encrypt(record))
    if failure == "hmac":
        payload = bundle.encrypt(record)
        payload["hmac"] = payload["hmac"][:-1] + ("0" if payload["hmac"][-1] != "0" else "1")
        return json.dumps(payload)
    if failure == "unreadable":
        return json.dumps(KeyBundle.random().encrypt(record))
    if failure == "bad-cleartext":
        data = json.dumps(entry.get("cleartext"), ensure_ascii=False, separators=(",", ":")).encode()
        return json.dumps(bundle.encrypt_bytes(data, os.urandom(16)))
    if failure == "not-json":
        return json.dumps(bundle.encrypt_bytes(b"\xff\xfe not JSON", os.urandom(16)))
    if failure == "bad-padding":
        while True:  # random blocks under a valid HMAC: the last byte is not PKCS#7 padding
            ct = base64.b64encode(os.urandom(32))
            payload = {
                "ciphertext": ct.decode(),
                "IV": base64.b64encode(os.urandom(16)).decode(),
                "hmac": bundle.hmac_hex(ct),
            }
            try:
                bundle.decrypt_bytes(payload)
            except CryptoError as exc:
                if exc.reason == "bad-padding":
                    return json.dumps(payload)
    if failure == "bad-base64":
        return json.dumps({"ciphertext": "!!not base64!!", "IV": base64.b64encode(os.urandom(16)).decode(),
                           "hmac": bundle.hmac_hex(b"!!not base64!!")})  # fmt: skip
    return json.dumps({"ciphertext": 5, "IV": "", "hmac": ""})  # bad-shape, or a failure we do not know
