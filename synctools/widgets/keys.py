"""``CryptoKeysView``: the collection keys as fingerprints, who uses them, what fails.

Key bytes never reach a widget: only ``KeyBundle.fingerprint`` values (a short hash)
are shown. For records that failed to decrypt the view tries every key of crypto/keys
on them, so "written with the wrong key" is told apart from "altered or corrupt".
"""

from __future__ import annotations

from typing import Any

from ..protocol.crypto import CryptoError
from . import _html as h
from ._source import View, failures, html, record_counts, result_and_sync
from ._time import server_time, when_html

#: How many failed records per collection are diagnosed (each is one decrypt per key).
DIAGNOSE_LIMIT = 50

REASON_WORDS = {
    "hmac-mismatch": "HMAC mismatch: written with another key, or altered after encryption",
    "bad-base64": "payload is not base64",
    "bad-padding": "bad padding: wrong key or truncated ciphertext",
    "not-json": "decrypted bytes are not JSON",
    "bad-shape": "payload is not {ciphertext, IV, hmac}",
    "bad-cleartext": "cleartext is not a record object (or its id differs)",
}


def diagnose(sync: Any, collection: str, limit: int = DIAGNOSE_LIMIT) -> list[dict[str, Any]]:
    """For failed records of ``collection``: which key (by name) does decrypt each one."""
    if sync is None or sync.collection_keys is None or sync.store is None:
        return []
    keys = sync.collection_keys
    bundles = {"default": keys.default, **dict(keys.collections)}
    errors = sync.errors(collection)
    out = []
    for row in errors.head(limit).itertuples(index=False):
        mirror = sync.store.mirror_record(collection, row.id)
        opens_with = None
        if mirror is not None:
            for name, bundle in bundles.items():
                try:
                    bundle.decrypt(mirror.bso.payload, row.id)
                except CryptoError:  # this key does not open it: try the next
                    pass
                else:
                    opens_with = name
                    break
        expected = collection if collection in keys.collections else "default"
        if opens_with is None:
            verdict = "no key of crypto/keys opens it: altered or corrupt"
        else:
            verdict = (
                f"opens with the {opens_with!r} key, but {collection} should use {expected!r}: "
                "a client used the wrong key"
            )
        out.append({"collection": collection, "id": row.id, "reason": row.reason, "diagnosis": verdict})
    return out


class CryptoKeysView(View):
    """crypto/keys: default and per-collection keys (fingerprints only), which
    collections use which key, and how many records of each fail to decrypt."""

    def __init__(self, source: Any, *, sync: Any = None, **kwargs: Any) -> None:
        from ..results import CryptoKeysResult

        result, found = result_and_sync(source, "fetch_crypto_keys", CryptoKeysResult)
        self.result = result
        self.sync = found if found is not None else sync
        counts = record_counts(self.sync)
        failed = failures(self.sync)
        self.key_rows, self.collection_rows, tones = self._rows(counts, failed)
        self.diagnosis = [d for coll in sorted(failed) for d in diagnose(self.sync, coll)]
        when = when_html(server_time(result.modified)) if result.modified else None
        parts = [
            h.heading("crypto/keys", f"status {result.status}")
            + (f"<div style='{h.FONT}'>modified {when}</div>" if when else "")
        ]
        for warning in result.warnings:
            parts.append(h.banner(warning, "bad" if result.status != "ok" else "warn"))
        parts.append(h.heading("Keys", "fingerprints, never key bytes"))
        parts.append(h.table(self.key_rows, mono=("fingerprint",), empty="no keys (crypto/keys not decrypted)"))
        parts.append(h.heading("Collections"))
        if self.sync is None or "download" not in self.sync.results:
            parts.append(
                h.banner("Records are counted after sync.download(); pass the sync: CryptoKeysView(sync).", "info")
            )
        parts.append(h.table(self.collection_rows, tones=tones, mono=("fingerprint",), empty="no collections"))
        if self.diagnosis:
            parts.append(h.heading("Records that fail to decrypt", "each tried with every key"))
            parts.append(h.table(self.diagnosis, tones=["bad"] * len(self.diagnosis), mono=("id",)))
        self.body = html("".join(parts), "synctools-keys-body")
        super().__init__([self.body], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-cryptokeys")

    def _rows(
        self, counts: dict[str, int], failed: dict[str, dict[str, int]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str | None]]:
        fps = self.result.fingerprints
        usage = self.result.usage
        users: dict[str, list[str]] = {}
        for u in usage:
            users.setdefault("default" if u["key"] == "default" else u["collection"], []).append(u["collection"])
        key_rows = [
            {
                "key": name,
                "fingerprint": fp,
                "used by": ", ".join(users.get(name, [])) or "(no collection on the server)",
                "records": sum(counts.get(c, 0) for c in users.get(name, [])) if counts else None,
                "fail to decrypt": sum(sum(failed.get(c, {}).values()) for c in users.get(name, []))
                if counts
                else None,
            }
            for name, fp in fps.items()
        ]
        coll_rows, tones = [], []
        for u in usage:
            coll = u["collection"]
            bad = failed.get(coll, {})
            n_bad = sum(bad.values())
            coll_rows.append(
                {
                    "collection": coll,
                    "key": "own key" if u["key"] == "own" else "default",
                    "fingerprint": u["fingerprint"],
                    "records": counts.get(coll),
                    "fail to decrypt": n_bad if counts else None,
                    "why": "; ".join(f"{n} × {REASON_WORDS.get(r, r)}" for r, n in sorted(bad.items())),
                }
            )
            tones.append("bad" if n_bad else None)
        return key_rows, coll_rows, tones
