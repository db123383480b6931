"""Setup checks: meta/global, the engines it lists against what the server holds, crypto/keys.

These read only what the setup stages fetched, so ``synctools status`` can run them
without downloading any collection.
"""

from __future__ import annotations

from collections.abc import Iterator

from synctools.protocol.metaglobal import DEFAULT_ENGINES, STORAGE_VERSION, valid_sync_id

from .context import Context
from .model import Finding, register

META_MISSING = register(
    "setup.meta-global-missing",
    "error",
    "meta/global is missing or malformed: no client can sync until a fresh start writes a new one",
)
STORAGE_VERSION_ID = register(
    "setup.storage-version", "error", "meta/global's storageVersion is not 5, the version every current client speaks"
)
SYNC_ID = register("setup.sync-id", "error", "a syncID in meta/global is not 12 base64url characters")
META_PROBLEM = register(
    "setup.meta-global",
    "warning",
    "meta/global contradicts itself (an engine both listed and declined, or a version newer than Firefox's)",
)
DECLINED_DATA = register(
    "setup.declined-engine-data", "info", "the server holds records of an engine the person declined"
)
NOT_IN_META = register(
    "setup.engine-not-in-meta",
    "warning",
    "a collection holds data but meta/global neither lists nor declines its engine",
)
KEYS_UNDECRYPTABLE = register(
    "setup.crypto-keys-undecryptable",
    "error",
    "crypto/keys cannot be decrypted with the account's sync key (the keys changed, e.g. a password reset)",
)
KEYS_MISSING = register(
    "setup.crypto-keys-missing",
    "error",
    "crypto/keys is missing: records cannot be read or written until a fresh start",
)
KEY_UNUSED = register(
    "setup.collection-key-unused", "info", "crypto/keys holds a key for a collection that has no data and no engine"
)

_FRESH_START = (
    "A fresh start (sync.plan_fresh_start(), review it, sync.commit(plan)) deletes everything on "
    "the server and writes new meta/global and crypto/keys; each device then uploads its own data again."
)


def check_setup(ctx: Context) -> Iterator[Finding]:
    sync = ctx.sync
    mg = sync.results.get("fetch_meta_global")
    if mg is None:
        return
    meta = getattr(mg, "meta_global", None)
    if meta is None:
        yield Finding(META_MISSING, "error", "meta", ["global"],
                      "meta/global is missing or is not valid JSON of the right shape, so no device can tell which "
                      "engines are on or which syncIDs are current. " + _FRESH_START)  # fmt: skip
        return
    yield from _meta_global(ctx, meta)
    yield from _engines(ctx, meta)
    yield from _crypto_keys(ctx)


def _meta_global(ctx: Context, meta) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    if meta.storage_version != STORAGE_VERSION:
        newer = meta.storage_version > STORAGE_VERSION
        why = ("a newer client wrote it: this client (and older Firefox releases) must not write anything; "
               "upgrade, or the person may choose a fresh start, which the newer clients will then redo"
               if newer else "an ancient client wrote it: current clients need a fresh start before they sync. "
               + _FRESH_START)  # fmt: skip
        yield Finding(
            STORAGE_VERSION_ID,
            "error",
            "meta",
            ["global"],
            f"meta/global has storageVersion {meta.storage_version}, current clients speak {STORAGE_VERSION}: {why}",
            facts={"storage_version": meta.storage_version},
        )
    if not valid_sync_id(meta.sync_id):
        yield Finding(SYNC_ID, "error", "meta", ["global"],
                      f"The global syncID {meta.sync_id!r} is not 12 base64url characters; clients compare it to "
                      "decide whether to reset everything, so a malformed one makes them behave unpredictably. "
                      + _FRESH_START, facts={"engine": "*"})  # fmt: skip
    for name, info in sorted(meta.engines.items()):
        if not valid_sync_id(info.sync_id):
            yield Finding(SYNC_ID, "error", name, [],
                          f"Engine {name}'s syncID {info.sync_id!r} in meta/global is not 12 base64url characters. "
                          "Giving the engine a new syncID (Firefox does so when the person resets that engine) "
                          "makes every device reset and re-upload it; sync.fetch_meta_global() proposes the change "
                          "when this client's engine state disagrees.", facts={"engine": name})  # fmt: skip
    for problem in meta.problems():
        if "storageVersion" in problem or "syncID" in problem:
            continue  # reported above, with what to do
        yield Finding(META_PROBLEM, "warning", "meta", ["global"], f"meta/global: {problem}.")


def _engines(ctx: Context, meta) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    for coll in ctx.data_collections:
        if coll in meta.declined:
            yield Finding(DECLINED_DATA, "info", coll, [],
                          f"{coll} is declined in meta/global but the server still holds its records (desktop Firefox "
                          "leaves them when an engine is switched off). No device syncs them; they are harmless but "
                          "hold old data. Accepting the engine again would merge them back.",
                          facts={"engine": coll})  # fmt: skip
        elif coll not in meta.engines and coll in DEFAULT_ENGINES:
            yield Finding(NOT_IN_META, "warning", coll, [],
                          f"The server holds {coll} records but meta/global neither lists nor declines the engine, so "
                          "devices disagree on whether it is on. sync.fetch_meta_global() proposes adding it (as "
                          "Firefox does); review result.upload and sync.commit() it, or decline the engine with "
                          f"sync.fetch_meta_global(enable={{'{coll}': False}}).", facts={"engine": coll})  # fmt: skip


def _crypto_keys(ctx: Context) -> Iterator[Finding]:
    ck = ctx.sync.results.get("fetch_crypto_keys")
    if ck is None:
        return
    status = getattr(ck, "status", None)
    if status == "missing":
        yield Finding(KEYS_MISSING, "error", "crypto", ["keys"],
                      "crypto/keys is missing: without the collection keys no record can be read or written. "
                      + _FRESH_START)  # fmt: skip
        return
    if status == "undecryptable":
        yield Finding(KEYS_UNDECRYPTABLE, "error", "crypto", ["keys"],
                      "crypto/keys does not decrypt with this account's sync key (kSync, derived from kB). kB changes "
                      "when the password is reset without the old one (a 'forgot password' reset), so everything "
                      "uploaded before the reset was encrypted with keys nobody can derive any more. The choices: "
                      "(1) if a device still holds the data, a fresh start then syncing that device re-uploads it "
                      "under the new keys; (2) if another device already did a fresh start, download again — this "
                      "client may hold stale keys; (3) if only the server held the data, it is lost: the fresh start "
                      "only clears the unreadable records. " + _FRESH_START)  # fmt: skip
        return
    keys = ctx.sync.collection_keys
    if keys is None or ctx.meta is None:
        return
    for coll in sorted(keys.collections):
        if coll not in ctx.info_collections and coll not in ctx.meta.engines:
            yield Finding(KEY_UNUSED, "info", "crypto", ["keys"],
                          f"crypto/keys holds a key for {coll}, which has no data on the server and is no engine in "
                          "meta/global. Harmless; it is used if that collection is ever written.",
                          facts={"key_for": coll})  # fmt: skip
