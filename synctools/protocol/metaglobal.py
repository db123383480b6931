"""The ``meta/global`` record and the rules a client applies to it.

Follows application-services ``sync15/src/client/state.rs``: storage version 5; a fresh
record lists every engine Firefox knows (even ones this client does not implement, so
other devices never see them vanish); ``fixup`` adds a missing engine that is not
declined and removes one that is; ``compute_engine_states`` merges the declined lists.

Declined vs disabled: *declined* engines are listed in ``meta/global`` so every device
honours the person's choice; a *disabled* engine is one this client merely does not
sync (unsupported, or switched off locally) without telling anyone.

Nothing here applies a change: :func:`plan_changes` returns what a client would do, as
data, for a person to review.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import ProtocolError

STORAGE_VERSION = 5

#: Engines Firefox knows and the versions it writes (application-services DEFAULT_ENGINES).
DEFAULT_ENGINES: dict[str, int] = {
    "passwords": 1,
    "clients": 1,
    "addons": 1,
    "addresses": 1,
    "bookmarks": 2,
    "creditcards": 1,
    "forms": 1,
    "history": 1,
    "prefs": 2,
    "tabs": 1,
}

SYNC_ID_RE = re.compile(r"[A-Za-z0-9_-]{12}")  # fullmatch: "$" would allow a final "\n"


class MetaGlobalError(ProtocolError):
    """The meta/global payload is not the shape the protocol defines."""


def new_sync_id() -> str:
    """A fresh 12-character base64url syncID, as Firefox makes them (9 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")


def valid_sync_id(value: Any) -> bool:
    return isinstance(value, str) and SYNC_ID_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class EngineInfo:
    version: int
    sync_id: str
    # what another client wrote that we do not model: a non-integer version exactly as
    # written, unknown keys. Written back untouched, so rewriting meta/global never
    # changes another device's entry.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "syncID": self.sync_id}
        for key, value in self.raw.items():
            if key == "version":
                if type(value) is not int:  # a version we cannot read, kept as it was written
                    out["version"] = value
            elif key != "syncID":
                out[key] = value
        return out


@dataclass(frozen=True)
class MetaGlobal:
    """The decoded (never encrypted) ``meta/global`` payload."""

    sync_id: str
    storage_version: int = STORAGE_VERSION
    engines: Mapping[str, EngineInfo] = field(default_factory=dict)
    declined: frozenset[str] = frozenset()
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown top-level fields, kept

    # -- parsing
    @classmethod
    def from_payload(cls, payload: str | Mapping[str, Any]) -> MetaGlobal:
        """Parse the BSO payload (a JSON string or an already-decoded object)."""
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except (ValueError, RecursionError):  # RecursionError: nested 50,000 deep
                raise MetaGlobalError("meta/global payload is not JSON") from None
        if not isinstance(payload, Mapping):
            raise MetaGlobalError("meta/global payload is not a JSON object")
        sv = payload.get("storageVersion")
        if isinstance(sv, bool) or not isinstance(sv, int):
            raise MetaGlobalError("meta/global has no integer storageVersion")
        engines_raw = payload.get("engines")
        engines_raw = {} if engines_raw is None else engines_raw
        if not isinstance(engines_raw, Mapping):
            raise MetaGlobalError("meta/global 'engines' must be an object")
        engines: dict[str, EngineInfo] = {}
        for name, info in engines_raw.items():
            if not isinstance(info, Mapping):
                raise MetaGlobalError(f"meta/global engine {name!r} must be an object")
            version = info.get("version", 0)
            engines[name] = EngineInfo(
                version if type(version) is int else 0,
                str(info.get("syncID", "")),
                {k: v for k, v in info.items() if k != "syncID"},
            )
        declined = payload.get("declined")
        declined = [] if declined is None else declined
        if not isinstance(declined, list) or not all(isinstance(d, str) for d in declined):
            raise MetaGlobalError("meta/global 'declined' must be a list of engine names")
        known = {"syncID", "storageVersion", "engines", "declined"}
        return cls(
            sync_id=str(payload.get("syncID", "")),
            storage_version=sv,
            engines=engines,
            declined=frozenset(declined),
            extra={k: v for k, v in payload.items() if k not in known},
        )

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            {
                "syncID": self.sync_id,
                "storageVersion": self.storage_version,
                "engines": {n: e.to_json() for n, e in sorted(self.engines.items())},
                "declined": sorted(self.declined),
            }
        )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_payload(), separators=(",", ":"))

    # -- constructors
    @classmethod
    def fresh(cls, declined: Iterable[str] = ()) -> MetaGlobal:
        """A new record as a fresh start writes it: every default engine not declined."""
        declined = frozenset(declined)
        return cls(
            sync_id=new_sync_id(),
            engines={n: EngineInfo(v, new_sync_id()) for n, v in DEFAULT_ENGINES.items() if n not in declined},
            declined=declined,
        )

    # -- queries
    def problems(self) -> list[str]:
        """What is wrong with this record, in plain words (empty when it is sound)."""
        out = []
        if self.storage_version > STORAGE_VERSION:
            out.append(f"storageVersion {self.storage_version} is newer than 5: a client upgrade is required")
        elif self.storage_version < STORAGE_VERSION:
            out.append(f"storageVersion {self.storage_version} is older than 5: a fresh start is required")
        if not valid_sync_id(self.sync_id):
            out.append(f"global syncID {self.sync_id!r} is not 12 base64url characters")
        for name, info in sorted(self.engines.items()):
            raw_version = info.raw.get("version", info.version)
            if type(raw_version) is not int:
                out.append(f"engine {name}: version {raw_version!r} is not an integer (kept as written)")
            if not valid_sync_id(info.sync_id):
                out.append(f"engine {name}: syncID {info.sync_id!r} is not 12 base64url characters")
            expected = DEFAULT_ENGINES.get(name)
            if expected is not None and info.version > expected:
                out.append(f"engine {name}: version {info.version} is newer than Firefox's {expected}")
        both = sorted(set(self.engines) & self.declined)
        if both:
            out.append(f"engine(s) {both} are both listed and declined")
        return out


# --------------------------------------------------------------------------- rules


def fixup(meta: MetaGlobal) -> tuple[MetaGlobal, dict[str, str]]:
    """Add default engines that are missing and not declined; drop declined ones.

    Returns the new record and ``{engine: "added" | "removed"}`` for what changed.
    Engines this client does not know are kept untouched.
    """
    engines = dict(meta.engines)
    changed: dict[str, str] = {}
    for name, version in DEFAULT_ENGINES.items():
        have, want = name in engines, name not in meta.declined
        if have and not want:
            del engines[name]
            changed[name] = "removed"
        elif want and not have:
            engines[name] = EngineInfo(version, new_sync_id())
            changed[name] = "added"
    return (replace(meta, engines=engines) if changed else meta), changed


@dataclass(frozen=True)
class EngineStates:
    declined: frozenset[str]
    local_resets: frozenset[str]
    remote_wipes: frozenset[str]


def compute_engine_states(
    local_declined: Iterable[str],
    remote_declined: Iterable[str] | None,
    info_collections: Iterable[str] = (),
    user_changes: Mapping[str, bool] | None = None,
) -> EngineStates:
    """application-services ``compute_engine_states``: the new declined list and the
    local resets / remote wipes it implies. ``user_changes`` maps engine → enable?"""
    user_changes = user_changes or {}
    must_enable = {n for n, on in user_changes.items() if on}
    must_disable = {n for n, on in user_changes.items() if not on}
    local = set(local_declined)
    recent = set(remote_declined) if remote_declined is not None else local
    declined = (recent | must_disable) - must_enable
    return EngineStates(
        declined=frozenset(declined),
        local_resets=frozenset(declined - local),
        remote_wipes=frozenset(set(info_collections) & must_disable),
    )


#: what a client does to one engine: add it to meta/global, remove it, (un)decline it,
#: forget its local state, or delete its data on the server
EngineAction = Literal["add", "remove", "decline", "undecline", "reset-local", "wipe-remote"]
#: whether meta/global is fine, must be uploaded, needs a fresh start, or is too new for us
MetaGlobalStatus = Literal["ok", "upload", "fresh-start", "upgrade-required"]


@dataclass(frozen=True)
class EngineChange:
    engine: str
    action: EngineAction
    reason: str


@dataclass(frozen=True)
class MetaGlobalChanges:
    """What a client would do with a fetched meta/global, without doing it."""

    status: MetaGlobalStatus
    reason: str
    current: MetaGlobal | None
    proposed: MetaGlobal | None
    changes: tuple[EngineChange, ...] = ()

    @property
    def needs_upload(self) -> bool:
        return self.status in ("upload", "fresh-start")


def plan_changes(
    meta: MetaGlobal | None,
    *,
    info_collections: Iterable[str] = (),
    local_declined: Iterable[str] | None = None,
    user_changes: Mapping[str, bool] | None = None,
    local_sync_ids: Mapping[str, str] | None = None,
) -> MetaGlobalChanges:
    """Compute (never apply) what a client does with ``meta`` (``None`` = 404).

    ``local_sync_ids`` maps ``"global"`` and engine names to the syncIDs this client
    last synced with; an engine whose syncID changed on the server is reset locally.
    """
    if meta is None:
        fresh = MetaGlobal.fresh(local_declined or ())
        return MetaGlobalChanges("fresh-start", "meta/global is missing on the server", None, fresh)
    if meta.storage_version > STORAGE_VERSION:
        return MetaGlobalChanges(
            "upgrade-required",
            f"storageVersion {meta.storage_version} > 5: this client must not touch the data",
            meta,
            None,
        )
    if meta.storage_version < STORAGE_VERSION:
        return MetaGlobalChanges(
            "fresh-start",
            f"storageVersion {meta.storage_version} < 5: old format, server must be wiped",
            meta,
            MetaGlobal.fresh(meta.declined),
        )
    changes: list[EngineChange] = []
    states = compute_engine_states(
        local_declined if local_declined is not None else meta.declined,
        meta.declined,
        info_collections,
        user_changes,
    )
    proposed = meta
    if states.declined != meta.declined:
        for n in sorted(states.declined - meta.declined):
            changes.append(EngineChange(n, "decline", "declined by this client"))
        for n in sorted(meta.declined - states.declined):
            changes.append(EngineChange(n, "undecline", "enabled by this client"))
        proposed = replace(proposed, declined=states.declined)
    proposed, fixed = fixup(proposed)
    for n, what in sorted(fixed.items()):
        why = "engine missing from meta/global" if what == "added" else "engine is declined"
        changes.append(EngineChange(n, "add" if what == "added" else "remove", why))
    for n in sorted(states.local_resets):
        changes.append(EngineChange(n, "reset-local", "newly declined"))
    for n in sorted(states.remote_wipes):
        changes.append(EngineChange(n, "wipe-remote", "declined by this client and has data"))
    if local_sync_ids:
        if local_sync_ids.get("global") not in (None, meta.sync_id):
            changes.append(EngineChange("*", "reset-local", "global syncID changed: every engine resets"))
        for n, info in sorted(proposed.engines.items()):
            if local_sync_ids.get(n) not in (None, info.sync_id):
                changes.append(EngineChange(n, "reset-local", "engine syncID changed on the server"))
    upload = proposed != meta
    return MetaGlobalChanges(
        "upload" if upload else "ok",
        "meta/global must change" if upload else "meta/global is consistent",
        meta,
        proposed if upload else None,
        tuple(changes),
    )


def engine_table(meta: MetaGlobal, info_collections: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per engine: state enabled / declined / unknown-but-kept / not-in-meta."""
    info_collections = info_collections or {}
    names = set(meta.engines) | set(meta.declined) | set(DEFAULT_ENGINES)
    names |= {n for n in info_collections if n not in ("meta", "crypto")}
    rows = []
    for n in sorted(names):
        info = meta.engines.get(n)
        if n in meta.declined:
            state = "declined"
        elif info is not None:
            state = "enabled" if n in DEFAULT_ENGINES else "unknown-kept"
        else:
            state = "missing"
        rows.append(
            {
                "engine": n,
                "state": state,
                "version": info.version if info else None,
                "syncID": info.sync_id if info else None,
                "known_version": DEFAULT_ENGINES.get(n),
                "on_server": n in info_collections,
            }
        )
    return rows
