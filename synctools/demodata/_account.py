"""Assemble the demo account: cleartext, keys, deterministic encryption, planted problems."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from synctools.protocol._util import fingerprint
from synctools.protocol.crypto import CollectionKeys, KeyBundle
from synctools.protocol.keys import SyncKeys, derive_sync_keys
from synctools.protocol.metaglobal import DEFAULT_ENGINES, EngineInfo, MetaGlobal

from . import _others
from ._bookmarks import FOLDER_SORTINDEX, build_bookmarks
from ._common import DAY_MS, EPOCH_MS, FIRST_SYNC_MS, Seeded, modified_after, sync_time_centis
from ._history import N_HISTORY, generate_history, generate_pages
from ._others import ADDRESSES_DECLINED_MS, STALE_DAYS, Row

DEFAULT_SEED = 20261126
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-sync-password"  # noqa: S105 - the public demo credential
DECLINED = ("addresses",)
#: The engine with its own key in crypto/keys (Firefox supports per-collection keys).
PER_COLLECTION_KEY = "passwords"

# Collections in the order a first sync uploads them (meta and crypto first).
COLLECTIONS = (
    "meta",
    "crypto",
    "clients",
    "tabs",
    "bookmarks",
    "history",
    "passwords",
    "forms",
    "prefs",
    "addons",
    "addresses",
    "creditcards",
)


class PlantedKind:
    """The kinds of planted problems (stable strings used in ``planted.json``)."""

    ORPHAN = "orphan-bookmark"
    CHILDREN_MISMATCH = "children-mismatch"
    BAD_HMAC = "bad-hmac"
    WRONG_KEY = "wrong-key"
    STALE_CLIENT = "stale-client"
    EXPIRED = "expired-record"
    #: not broken on the server, but Firefox itself will change them on its next sync
    MERGED_LOGINS = "firefox-merges-logins"
    DELETED_LIVEMARKS = "firefox-deletes-livemarks"

    ALL = (ORPHAN, CHILDREN_MISMATCH, BAD_HMAC, WRONG_KEY, STALE_CLIENT, EXPIRED, MERGED_LOGINS, DELETED_LIVEMARKS)


@dataclass(frozen=True)
class Planted:
    """A problem planted on purpose for a debugger (or the doctor) to find.

    ``details`` holds machine-readable facts (related record ids, the expected
    ``CryptoError.reason`` for crypto problems, ...).
    """

    kind: str
    collection: str
    record_id: str
    explanation: str
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "collection": self.collection,
            "record_id": self.record_id,
            "explanation": self.explanation,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Planted:
        return cls(
            obj["kind"],
            obj["collection"],
            obj["record_id"],
            obj["explanation"],
            dict(obj.get("details") or {}),
        )


@dataclass(repr=False)
class DemoAccount:
    """A generated account. ``password``, ``kb`` and the keys never appear in its repr."""

    seed: int | str
    email: str
    password: str
    kb: bytes
    key_rotation_timestamp: int  # ms
    epoch_ms: int  # the demo's fixed "now"
    meta_global: MetaGlobal
    collection_keys: CollectionKeys
    cleartext: dict[str, list[dict[str, Any]]]
    bsos: dict[str, list[dict[str, Any]]]
    planted: list[Planted]

    @property
    def sync_keys(self) -> SyncKeys:
        return derive_sync_keys(self.kb, self.key_rotation_timestamp)

    @property
    def kid(self) -> str:
        return self.sync_keys.kid

    def planted_of(self, kind: str) -> Planted:
        """The (single) planted problem of ``kind``."""
        for p in self.planted:
            if p.kind == kind:
                return p
        raise KeyError(f"no planted problem of kind {kind!r}; kinds are {PlantedKind.ALL}")

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}={len(v)}" for c, v in self.cleartext.items())
        return f"<DemoAccount {self.email} seed={self.seed!r} kB={fingerprint(self.kb)} {counts}>"


def _modified_json(centis: int) -> float:
    """Server timestamps are JSON numbers with two decimals."""
    return round(centis / 100, 2)


class _Encryptor:
    def __init__(self, seeded: Seeded):
        self.seeded = seeded

    def payload(self, bundle: KeyBundle, collection: str, cleartext: dict[str, Any]) -> str:
        # IV from the seed, so every run yields the same bytes.
        iv = self.seeded.derive(f"iv/{collection}/{cleartext['id']}", 16)
        return json.dumps(bundle.encrypt(cleartext, iv=iv), separators=(",", ":"))


def build_demo_account(seed: int | str = DEFAULT_SEED) -> DemoAccount:
    """Generate the demo account for ``seed``: pure, deterministic, a couple of seconds."""
    if not isinstance(seed, int | str) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int or a str, not {type(seed).__name__}")
    s = Seeded(seed)
    kb = s.derive("kB", 32)
    key_rotation_timestamp = FIRST_SYNC_MS - 3 * DAY_MS  # the account was created before it synced
    sync_keys = derive_sync_keys(kb, key_rotation_timestamp)
    keys = CollectionKeys(
        default=KeyBundle(s.derive("keys/default/enc"), s.derive("keys/default/hmac")),
        collections={
            PER_COLLECTION_KEY: KeyBundle(
                s.derive(f"keys/{PER_COLLECTION_KEY}/enc"), s.derive(f"keys/{PER_COLLECTION_KEY}/hmac")
            )
        },
    )
    meta = MetaGlobal(
        sync_id=s.sync_id("global"),
        engines={n: EngineInfo(v, s.sync_id(f"engine/{n}")) for n, v in DEFAULT_ENGINES.items() if n not in DECLINED},
        declined=frozenset(DECLINED),
    )

    # -- cleartext, one independent random stream per part
    pages = generate_pages(s.rng("pages"), N_HISTORY)
    tree = build_bookmarks(s.rng("bookmarks"), pages)
    bookmarked = {r["bmkUri"] for r in tree.records if "bmkUri" in r}
    hist, hist_mod, frecency = generate_history(s.rng("history"), pages, bookmarked)
    rows: dict[str, list[Row]] = {}
    rows["bookmarks"] = [
        Row(
            r,
            m,
            None,
            FOLDER_SORTINDEX if r["type"] in ("folder", "livemark") else frecency.get(r.get("bmkUri", ""), 0),
        )
        for r, m in zip(tree.records, tree.modified)
    ]
    rows["history"] = [Row(r, m, None, frecency[r["histUri"]]) for r, m in zip(hist, hist_mod)]
    clients, tabs, devices = _others.clients_and_tabs(s.rng("clients"))
    rows["clients"], rows["tabs"] = clients, tabs
    rows["passwords"] = _others.passwords(s.rng("passwords"))
    rows["forms"] = _others.forms(s.rng("forms"))
    rows["prefs"] = _others.prefs()
    rows["addons"] = _others.addons(s.rng("addons"))
    rows["addresses"] = _others.addresses(s.rng("addresses"))
    rows["creditcards"] = _others.creditcards(s.rng("creditcards"))

    # -- choose the records that carry crypto problems
    pick = s.rng("planted")
    bad_hmac = pick.choice(rows["history"][100:]).cleartext["id"]
    wrong_key = pick.choice(rows["passwords"]).cleartext["id"]
    stale = devices[3]

    # -- encrypt
    enc = _Encryptor(s)
    bsos: dict[str, list[dict[str, Any]]] = {}
    meta_modified = modified_after(ADDRESSES_DECLINED_MS)  # rewritten when addresses was declined
    bsos["meta"] = [{"id": "global", "payload": meta.to_json(), "modified": _modified_json(meta_modified)}]
    bsos["crypto"] = [
        {
            "id": "keys",
            "payload": enc.payload(sync_keys.bundle, "crypto", keys.to_cleartext()),
            "modified": _modified_json(sync_time_centis(0)),
        }
    ]
    for coll in COLLECTIONS[2:]:
        out = []
        for row in rows[coll]:
            rid = row.cleartext["id"]
            bundle = keys.default if (coll, rid) == ("passwords", wrong_key) else keys.bundle_for(coll)
            payload = enc.payload(bundle, coll, row.cleartext)
            if (coll, rid) == ("history", bad_hmac):
                obj = json.loads(payload)
                last = obj["hmac"][-1]
                obj["hmac"] = obj["hmac"][:-1] + ("0" if last != "0" else "1")
                payload = json.dumps(obj, separators=(",", ":"))
            bso: dict[str, Any] = {"id": rid, "payload": payload, "modified": _modified_json(row.modified)}
            if row.sortindex is not None:
                bso["sortindex"] = row.sortindex
            if row.ttl is not None:
                bso["ttl"] = row.ttl
            out.append(bso)
        bsos[coll] = out

    cleartext = {"crypto": [keys.to_cleartext()]} | {c: [r.cleartext for r in rows[c]] for c in COLLECTIONS[2:]}
    cleartext = {"meta": [{"id": "global", **meta.to_payload()}]} | cleartext

    stale_tabs = next(b for b in bsos["tabs"] if b["id"] == stale.record_id)
    planted = [
        Planted(
            PlantedKind.ORPHAN,
            "bookmarks",
            tree.orphan_id,
            f"Bookmark {tree.orphan_id} has parentid {tree.missing_parent_id!r}, a folder that does not "
            "exist on the server (deleted without a tombstone); no folder lists it in its children.",
            {"missing_parent_id": tree.missing_parent_id},
        ),
        Planted(
            PlantedKind.CHILDREN_MISMATCH,
            "bookmarks",
            tree.mismatch_folder_id,
            f"Folder {tree.mismatch_folder_id} lists {tree.mismatch_child_id} in its children, but that "
            f"bookmark's parentid is {tree.mismatch_claimed_parent_id}, which does not list it: the "
            "item was moved on another device and only the bookmark's new record reached the server. "
            "Firefox's merger trusts the folder's children, so every Firefox keeps it in "
            f"{tree.mismatch_folder_id}.",
            {"child_id": tree.mismatch_child_id, "claimed_parent_id": tree.mismatch_claimed_parent_id},
        ),
        Planted(
            PlantedKind.BAD_HMAC,
            "history",
            bad_hmac,
            "The payload's hmac was altered after encryption: the HMAC check fails with the right key "
            "although the ciphertext itself is intact.",
            {"error": "hmac-mismatch"},
        ),
        Planted(
            PlantedKind.WRONG_KEY,
            "passwords",
            wrong_key,
            f"Encrypted with the default key although crypto/keys holds a {PER_COLLECTION_KEY} key: a "
            "client that ignored per-collection keys wrote it. Its HMAC fails with the passwords key "
            "and succeeds with the default key.",
            {"error": "hmac-mismatch", "encrypted_with": "default", "expected_key": PER_COLLECTION_KEY},
        ),
        Planted(
            PlantedKind.STALE_CLIENT,
            "clients",
            stale.record_id,
            f"Device {stale.name!r} last synced {STALE_DAYS} days before the others and still has a "
            "pending wipeEngine command; it is probably gone but was never disconnected.",
            {"days_since_sync": STALE_DAYS, "last_modified": _modified_json(stale.last_sync_ms // 10)},
        ),
        Planted(
            PlantedKind.EXPIRED,
            "tabs",
            stale.record_id,
            f"The tabs record of {stale.name!r} was uploaded with a {stale_tabs['ttl']} s ttl (old Firefox "
            "releases used 7 days) and expired long ago: the server no longer returns it, although "
            "the device still appears in clients.",
            {"ttl": stale_tabs["ttl"], "modified": stale_tabs["modified"]},
        ),
    ]
    merged = firefox_login_twins(rows["passwords"])
    livemarks = [r["id"] for r in tree.records if r.get("type") == "livemark"]
    planted += [
        Planted(
            PlantedKind.MERGED_LOGINS,
            "passwords",
            merged[0][0],
            f"{len(merged)} groups of logins are one login each to Firefox: same origin, realm and username, "
            "and form actions that are equal or empty (an empty formSubmitURL matches any). A Firefox that "
            "holds one of a group and downloads another merges them into one login and keeps one password; "
            "their passwords differ, so the others are lost.",
            {"groups": merged},
        ),
        Planted(
            PlantedKind.DELETED_LIVEMARKS,
            "bookmarks",
            livemarks[0],
            f"{len(livemarks)} livemarks (live feed folders, dropped in Firefox 64): Firefox's merger treats "
            "livemarks as not syncable and deletes them from the server on its next sync.",
            {"livemarks": livemarks},
        ),
    ]
    return DemoAccount(
        seed=seed,
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        kb=kb,
        key_rotation_timestamp=key_rotation_timestamp,
        epoch_ms=EPOCH_MS,
        meta_global=meta,
        collection_keys=keys,
        cleartext=cleartext,
        bsos=bsos,
        planted=planted,
    )


def firefox_login_twins(rows: list[Row]) -> list[list[str]]:
    """Groups of logins Firefox's duplicate rule merges (LoginHelper.doLoginsMatch: origin,
    httpRealm and username equal; form actions equal or either one empty)."""
    buckets: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        r = row.cleartext
        buckets.setdefault((r.get("hostname"), r.get("httpRealm"), r.get("username") or ""), []).append(r)
    groups = []
    for logins in buckets.values():
        group: list[str] = []
        for a in logins:
            if any(a is not b and (a.get("formSubmitURL") == b.get("formSubmitURL") or "" in
                   (a.get("formSubmitURL"), b.get("formSubmitURL"))) for b in logins):  # fmt: skip
                group.append(a["id"])
        if len(group) > 1:
            groups.append(sorted(group))
    return sorted(groups)
