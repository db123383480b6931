"""Record checks: records that do not decrypt (and why), payload sizes, ttl expiry.

An HMAC failure has two very different causes: the record was encrypted with another
key (a client that ignored a per-collection key, or used one where the default was
expected), or its bytes were altered. The doctor tells them apart by trying every key it
knows; a record that opens with another key can be re-encrypted with the right one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from synctools.protocol.crypto import CryptoError, KeyBundle

from .context import DAY, Context
from .model import Finding, Fix, Op, register

WRONG_KEY = register(
    "records.wrong-key",
    "error",
    "a record is encrypted with another key the account holds, not the one crypto/keys assigns to its collection",
)
BAD_HMAC = register(
    "records.bad-hmac",
    "error",
    "a record's HMAC does not match with any known key: it was altered, or encrypted with a key nobody holds",
)
UNDECRYPTABLE = register(
    "records.undecryptable", "error", "a record's payload is corrupt (bad base64, padding, JSON or id)"
)
NEAR_LIMIT = register(
    "records.near-size-limit",
    "warning",
    "a record's payload is close to (or over) the server's size limit for one record",
)
INVALID = register(
    "records.invalid",
    "warning",
    "a record decrypts but is not shaped like its collection's records (a field of the wrong type, say)",
)
EXPIRING = register("records.expiring", "info", "a record's ttl runs out soon: the server will stop returning it")

SIZE_MARGIN = 0.9  # warn from 90 % of the limit
EXPIRY_WINDOW_DAYS = 7


def _known_bundles(ctx: Context, collection: str) -> list[tuple[str, KeyBundle]]:
    """Every key the account holds, except the one that already failed for ``collection``."""
    keys = ctx.sync.collection_keys
    if keys is None:
        return []
    expected = keys.bundle_for(collection)
    out: list[tuple[str, KeyBundle]] = [("the default key", keys.default)]
    out += [(f"the {name} key", b) for name, b in sorted(keys.collections.items())]
    if ctx.sync.keys is not None:
        out.append(("the account's sync key (kSync, meant only for crypto/keys)", ctx.sync.keys.bundle))
    return [(label, b) for label, b in out if b != expected]


def _expected_label(ctx: Context, collection: str) -> str:
    keys = ctx.sync.collection_keys
    own = keys is not None and collection in keys.collections
    return f"the {collection} key" if own else "the default key"


def _unchecked(bundle: KeyBundle, payload: str, record_id: str) -> dict[str, Any] | None:
    """Decrypt skipping only the HMAC check; None unless the result is a record with this id."""
    try:
        obj = json.loads(payload)
        ct = obj["ciphertext"].encode("ascii")
        return bundle.decrypt({**obj, "hmac": bundle.hmac_hex(ct)}, record_id)
    except (CryptoError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _classify(ctx: Context, coll: str, rid: str, reason: str) -> tuple[str, str, dict[str, Any] | None]:
    """(outcome, key label, record): ``wrong-key`` (opens with another known key),
    ``hmac-only`` (ciphertext intact, HMAC damaged), ``unreadable`` or ``damaged``."""
    env = ctx.envelopes(coll).get(rid)
    payload = env.payload if env is not None else None
    if reason != "hmac-mismatch" or payload is None:
        return "damaged", reason, None
    for label, bundle in _known_bundles(ctx, coll):
        try:
            return "wrong-key", label, bundle.decrypt(payload, rid)
        except CryptoError:
            continue
    assert ctx.sync.collection_keys is not None
    recovered = _unchecked(ctx.sync.collection_keys.bundle_for(coll), payload, rid)
    return ("hmac-only", "", recovered) if recovered is not None else ("unreadable", "", None)


def _ids(ids: list[str], n: int = 3) -> str:
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def check_crypto(ctx: Context) -> Iterator[Finding]:
    """One finding per collection and cause (a whole collection under the wrong key is
    one problem with one fix, not thousands)."""
    if ctx.sync.collection_keys is None:
        return
    groups: dict[tuple[str, str, str], list[tuple[str, dict[str, Any] | None]]] = {}
    try:  # bookmark records whose only fault is the payload's id have a finding of their own
        from .bookmark_items import id_problems

        claimed = set(id_problems(ctx)) if "bookmarks" in ctx.downloaded else set()
    except Exception:
        claimed = set()
    for coll, rid, reason in ctx.failed:
        if coll == "bookmarks" and rid in claimed:
            continue
        ctx.current = (coll, rid)
        outcome, label, record = _classify(ctx, coll, rid, reason)
        groups.setdefault((coll, outcome, label), []).append((rid, record))
    for (coll, outcome, label), items in sorted(groups.items()):
        ids = [rid for rid, _ in items]
        n = len(ids)
        total = len(ctx.envelopes(coll))
        every = f"all {n} records" if n == total and n > 1 else f"{n} record(s) ({_ids(ids)})"
        expected = _expected_label(ctx, coll)
        if outcome == "damaged":
            yield Finding(UNDECRYPTABLE, "error", coll, ids,
                          f"{coll}: {every} cannot be read ({label}): the payload is damaged. Only a device that "
                          "still has such a record can upload it again (e.g. by editing it there).",
                          facts={"reason": label, "records": n})  # fmt: skip
        elif outcome == "wrong-key":
            ops = tuple(Op("add", coll, rid, record=rec) for rid, rec in items)
            yield Finding(
                WRONG_KEY,
                "error",
                coll,
                ids,
                f"{coll}: {every} fail the HMAC check with {expected} but open with {label}: a client that "
                "ignored crypto/keys' per-collection keys (or used one by mistake) wrote them, so every "
                "other device skips them. Re-encrypting them with the right key makes them readable everywhere.",
                Fix(f"re-upload {n} {coll} record(s) encrypted with {expected}", ops),
                facts={
                    "reason": "hmac-mismatch",
                    "encrypted_with": label.split(" (")[0],
                    "expected": expected,
                    "records": n,
                },
            )
        elif outcome == "hmac-only":
            ops = tuple(Op("add", coll, rid, record=rec) for rid, rec in items)
            yield Finding(
                BAD_HMAC,
                "error",
                coll,
                ids,
                f"{coll}: {every} fail the HMAC check with every key we know, yet with {expected} the "
                "ciphertext decrypts to a well-formed record with the right id: the HMAC itself was damaged "
                "or altered after encryption. Other devices reject it. The proposed fix uploads the "
                "recovered record with a fresh HMAC.",
                Fix(
                    f"re-upload {n} {coll} record(s), recovered without the HMAC check, with a valid HMAC",
                    ops,
                    caution="the HMAC is what proves a record is authentic: check the recovered record "
                    "in the plan (sync.plan_upload()) and commit it only if its content is what you expect; "
                    "otherwise reject it and let a device that has the record upload it again",
                ),
                facts={"reason": "hmac-mismatch", "ciphertext": "intact", "records": n},
            )
        else:
            yield Finding(BAD_HMAC, "error", coll, ids,
                          f"{coll}: {every} fail the HMAC check with every key this account holds and the ciphertext "
                          "does not decrypt to a record: altered, or encrypted with keys from before a password "
                          "reset. No device can read them; a device that has them can upload them again.",
                          facts={"reason": "hmac-mismatch", "ciphertext": "unreadable", "records": n})  # fmt: skip


def check_sizes(ctx: Context) -> Iterator[Finding]:
    limits = ctx.limits
    caps = [limits.get(k) for k in ("max_record_payload_bytes", "max_post_bytes", "max_request_bytes")]
    cap = min((c for c in caps if c and c > 0), default=None)
    if cap is None:
        return
    for coll in ctx.downloaded:
        for rid, env in ctx.envelopes(coll).items():
            size = len(env.payload.encode("utf-8")) if env.payload else 0
            if size >= SIZE_MARGIN * cap:
                over = size > cap
                yield Finding(NEAR_LIMIT, "warning", coll, [rid],
                              f"{coll}/{rid} has a {size:,}-byte payload, {size / cap:.0%} of the server's limit of "
                              f"{cap:,} bytes per record{' — it is over it' if over else ''}. Growing it further will "
                              "make uploads fail with 413 (Firefox then drops the record from that sync).",
                              facts={"payload_bytes": size, "limit": cap})  # fmt: skip


def check_ttl(ctx: Context) -> Iterator[Finding]:
    """Records whose ttl is known (servers do not return it, but a mirror may hold it)."""
    for coll in ctx.downloaded:
        for rid, env in ctx.envelopes(coll).items():
            if env.ttl is None or env.modified is None:
                continue
            left = (int(env.modified) / 100 + env.ttl - ctx.now) / DAY
            if left < EXPIRY_WINDOW_DAYS:
                state = "has expired" if left <= 0 else f"expires in {left:.1f} day(s)"
                yield Finding(EXPIRING, "info", coll, [rid],
                              f"{coll}/{rid} was written with a {env.ttl:,}-second ttl and {state}: the server "
                              "stops returning it unless a device writes it again.",
                              facts={"ttl": env.ttl, "days_left": round(left, 1)})  # fmt: skip


def check_invalid(ctx: Context) -> Iterator[Finding]:
    """Records that decrypt but break their collection's record shape, as the frames mark them."""
    for coll in ctx.downloaded:
        failed = set(ctx.sync.errors(coll)["id"])
        df = ctx.sync.frame(coll)
        bad = df[df["error"].notna() & ~df["id"].isin(list(failed))]
        if bad.empty:
            continue
        ids = [str(i) for i in bad["id"]]
        why = "; ".join(f"{rid}: {err}" for rid, err in zip(ids[:3], bad["error"][:3]))
        yield Finding(INVALID, "warning", coll, ids,
                      f"{coll}: {len(ids)} record(s) decrypt but are not shaped like {coll} records ({why}"
                      f"{'; …' if len(ids) > 3 else ''}). Firefox skips or rejects such records; the client that"
                      " wrote them is at fault. `sync.frame(...)` shows them with their error; fix or delete them"
                      " by hand (sync.edit / sync.delete) after checking what they hold.",
                      facts={"records": len(ids)})  # fmt: skip
